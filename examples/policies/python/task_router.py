"""The decision of the `task-router` policy over plain Python values, a port
of `plugins/policies/task-router/src/logic.rs` (the reference): the same config
format, the same plans and labels, the same config errors naming the key
(`task-router: `rules[1].if.regex` …`). No component imports here, so it
also runs under a native Python (see tests/test_policies_languages.py).

The config is the route's `policy_config` as JSON. Like serde_json's map, a
JSON object is read in sorted key order, so when a config has several
errors the same one is reported first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from rust_regex import RegexError, compile_rust

CONDITIONS = ("metadata", "regex", "min_tokens", "max_tokens", "has_tools", "has_images", "wants_json", "stream")
U64_MAX = (1 << 64) - 1
I64_MIN = -(1 << 63)


class ConfigError(Exception):
    """An invalid policy config; the message names the key."""


def _err(key: str, msg: str) -> ConfigError:
    return ConfigError(f"task-router: `{key}` {msg}")


def _float(x: float) -> str:
    """A float as serde_json writes it (ryu's shortest form)."""
    if x != x or x in (float("inf"), float("-inf")):
        return "null"
    r = repr(x)
    sign = ""
    if r.startswith("-"):
        sign, r = "-", r[1:]
    mant, _, exp = r.partition("e")
    e = int(exp) if exp else 0
    whole, _, frac = mant.partition(".")
    digits = (whole + frac).lstrip("0")
    # value = 0.digits * 10^point
    point = len(whole) + e - (len(whole + frac) - len((whole + frac).lstrip("0")))
    digits = digits.rstrip("0")
    if not digits:
        return sign + "0.0"
    n = len(digits)
    if point - n >= 0 and point <= 16:
        return sign + digits + "0" * (point - n) + ".0"
    if 0 < point <= 16:
        return sign + digits[:point] + "." + digits[point:]
    if -5 < point <= 0:
        return sign + "0." + "0" * (-point) + digits
    exp10 = point - 1
    m = digits[0] + ("." + digits[1:] if n > 1 else "")
    return f"{sign}{m}e{exp10}"


def _json(v: object) -> str:
    """Compact JSON with sorted keys, as serde_json writes a `Value`."""
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        if I64_MIN <= v <= U64_MAX:
            return str(v)
        return _float(float(v))
    if isinstance(v, float):
        return _float(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ",".join(_json(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + _json(v[k]) for k in sorted(v)) + "}"
    raise TypeError(type(v))


def shown(v: object) -> str:
    s = _json(v)
    if len(s.encode()) > 60:
        return s[:60] + "…"
    return s


def _as_u64(v: object) -> int | None:
    if type(v) is int and 0 <= v <= U64_MAX:
        return v
    return None


@dataclass
class Request:
    last_user: str | None = None
    token_estimate: int = 0
    has_tools: bool = False
    has_images: bool = False
    wants_json: bool = False
    stream: bool = False
    metadata: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Candidate:
    model: str
    open: bool = False


@dataclass
class Plan:
    order: list[int]
    labels: list[tuple[str, str]]


class Condition:
    __slots__ = ("kind", "value")

    def __init__(self, kind: str, value: object):
        self.kind = kind
        self.value = value

    def holds(self, r: Request) -> bool:
        k, v = self.kind, self.value
        if k == "metadata":
            return all(any(rk == mk and rv == mv for rk, rv in r.metadata) for mk, mv in v)  # type: ignore[union-attr]
        if k == "regex":
            return r.last_user is not None and v.is_match(r.last_user)  # type: ignore[union-attr]
        if k == "min_tokens":
            return r.token_estimate >= v  # type: ignore[operator]
        if k == "max_tokens":
            return r.token_estimate <= v  # type: ignore[operator]
        return getattr(r, k) == v


@dataclass
class Rule:
    conditions: list[Condition]
    tier: str


def _parse_condition(key: str, name: str, v: object) -> Condition:
    if name == "metadata":
        if not isinstance(v, dict):
            raise _err(key, f"must be a table of key = value, got {shown(v)}")
        pairs = []
        for k in sorted(v):
            val = v[k]
            if not isinstance(val, str):
                raise _err(f"{key}.{k}", f"must be a string, got {shown(val)}")
            pairs.append((k, val))
        return Condition(name, pairs)
    if name == "regex":
        if not isinstance(v, str):
            raise _err(key, f"must be a regular expression string, got {shown(v)}")
        try:
            return Condition(name, compile_rust(v))
        except RegexError as e:
            raise _err(key, f"is not a valid regular expression: {e}") from None
    if name in ("min_tokens", "max_tokens"):
        n = _as_u64(v)
        if n is None:
            raise _err(key, f"must be a non-negative integer, got {shown(v)}")
        return Condition(name, n)
    if name in ("has_tools", "has_images", "wants_json", "stream"):
        if not isinstance(v, bool):
            raise _err(key, f"must be true or false, got {shown(v)}")
        return Condition(name, v)
    raise _err(key, f"is not a condition (expected one of {', '.join(CONDITIONS)})")


def _parse_rule(i: int, v: object, tiers: dict[str, list[str]]) -> Rule:
    key = f"rules[{i}]"
    if not isinstance(v, dict):
        raise _err(key, f"must be a table with `if` and `tier`, got {shown(v)}")
    for k in sorted(v):
        if k not in ("if", "tier"):
            raise _err(f"{key}.{k}", "is not a rule key (expected `if` and `tier`)")
    if "tier" not in v:
        raise _err(f"{key}.tier", "is missing")
    tier = v["tier"]
    if not isinstance(tier, str):
        raise _err(f"{key}.tier", f"must be a tier name, got {shown(tier)}")
    if tier not in tiers:
        raise _err(f"{key}.tier", f"names no tier: `{tier}` is not in `tiers`")
    if "if" not in v:
        raise _err(f"{key}.if", "is missing")
    conds = v["if"]
    if not isinstance(conds, dict):
        raise _err(f"{key}.if", f"must be a table of conditions, got {shown(conds)}")
    return Rule([_parse_condition(f"{key}.if.{name}", name, conds[name]) for name in sorted(conds)], tier)


def _parse_tiers(v: object, present: bool) -> dict[str, list[str]]:
    if not present:
        raise _err("tiers", "is missing")
    if not isinstance(v, dict):
        raise _err("tiers", f"must be a table of tier name = [models], got {shown(v)}")
    out: dict[str, list[str]] = {}
    for name in sorted(v):
        models = v[name]
        key = f"tiers.{name}"
        if not isinstance(models, list):
            raise _err(key, f"must be a list of model names, got {shown(models)}")
        names = []
        for i, m in enumerate(models):
            if not isinstance(m, str):
                raise _err(f"{key}[{i}]", f"must be a model name, got {shown(m)}")
            names.append(m)
        out[name] = names
    return out


@dataclass
class Config:
    tiers: dict[str, list[str]]
    default: str
    rules: list[Rule]

    @staticmethod
    def parse(text: str | None) -> Config:
        """Parse and validate the route's `policy_config` (JSON text, None
        when the route has none). Raises ConfigError naming the key."""
        if text is None:
            value: object = None
        else:
            try:
                value = json.loads(text)
            except ValueError as e:
                raise ConfigError(f"task-router: policy_config is not valid JSON: {e}") from None
        if value is None:
            raise ConfigError("task-router: policy_config needs `tiers` and `default`")
        if not isinstance(value, dict):
            raise ConfigError(f"task-router: policy_config must be a table, got {shown(value)}")
        for k in sorted(value):
            if k not in ("tiers", "default", "rules"):
                raise _err(k, "is not a key of the policy config (expected `tiers`, `default`, `rules`)")
        tiers = _parse_tiers(value.get("tiers"), "tiers" in value)
        if "default" not in value:
            raise _err("default", "is missing")
        default = value["default"]
        if not isinstance(default, str):
            raise _err("default", f"must be a tier name, got {shown(default)}")
        if default not in tiers:
            raise _err("default", f"names no tier: `{default}` is not in `tiers`")
        rules_v = value.get("rules")
        if rules_v is None:
            rules: list[Rule] = []
        elif isinstance(rules_v, list):
            rules = [_parse_rule(i, r, tiers) for i, r in enumerate(rules_v)]
        else:
            raise _err("rules", f"must be a list of rules, got {shown(rules_v)}")
        return Config(tiers, default, rules)

    def reads_text(self) -> bool:
        return any(c.kind == "regex" for r in self.rules for c in r.conditions)

    def reads_metadata(self) -> bool:
        return any(c.kind == "metadata" for r in self.rules for c in r.conditions)

    def matching_rule(self, request: Request) -> tuple[int, str] | None:
        for i, r in enumerate(self.rules):
            if all(c.holds(request) for c in r.conditions):
                return i, r.tier
        return None


def decide(config: Config, request: Request, candidates: list[Candidate]) -> Plan:
    """The tier's models (those among the candidates, in the tier's order),
    then the other candidates in route order; open breakers last."""
    m = config.matching_rule(request)
    if m is None:
        rule, tier = "default", config.default
    else:
        rule, tier = str(m[0]), m[1]
    order: list[int] = []
    for model in config.tiers.get(tier, []):
        for i, c in enumerate(candidates):
            if c.model == model and i not in order:
                order.append(i)
    for i in range(len(candidates)):
        if i not in order:
            order.append(i)
    healthy = [i for i in order if not candidates[i].open]
    open_ = [i for i in order if candidates[i].open]
    labels = [("policy", "task-router"), ("tier", tier), ("rule", rule)]
    if open_:
        labels.append(("breaker-open", ",".join(candidates[i].model for i in open_)))
    return Plan(healthy + open_, labels)
