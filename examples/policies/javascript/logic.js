// The decision of the `task-router` policy over plain values: a port of
// plugins/policies/task-router/src/logic.rs (the reference) with the same config
// format, plans, labels and config errors naming the key. No component
// imports here, so Node runs it too (tests/test_policies_languages.py).
//
// The config JSON is read with a small parser that keeps integers apart from
// floats (`1` is a count, `1.0` is not, as in serde_json), objects are read
// in sorted key order like serde_json's map.

import { compileRust, RegexError } from "./rust-regex.js";

export const CONDITIONS = ["metadata", "regex", "min_tokens", "max_tokens", "has_tools", "has_images", "wants_json", "stream"];
const U64_MAX = (1n << 64n) - 1n;
const I64_MIN = -(1n << 63n);

export class ConfigError extends Error {}

const err = (key, msg) => new ConfigError(`task-router: \`${key}\` ${msg}`);

// JSON values: null, booleans, strings, arrays, Map objects, and numbers as
// {int: BigInt} or {float: Number}.
class Json {
  constructor(text) {
    this.s = text;
    this.i = 0;
  }
  fail(what) {
    throw new SyntaxError(`${what} at character ${this.i}`);
  }
  ws() {
    while (/^[ \t\n\r]$/.test(this.s[this.i] ?? "")) this.i++;
  }
  value() {
    this.ws();
    const c = this.s[this.i];
    if (c === "{") {
      this.i++;
      const m = new Map();
      this.ws();
      if (this.s[this.i] === "}") {
        this.i++;
        return m;
      }
      for (;;) {
        this.ws();
        if (this.s[this.i] !== '"') this.fail("expected a key");
        const k = this.string();
        this.ws();
        if (this.s[this.i++] !== ":") this.fail("expected `:`");
        m.set(k, this.value());
        this.ws();
        const d = this.s[this.i++];
        if (d === "}") return m;
        if (d !== ",") this.fail("expected `,` or `}`");
      }
    }
    if (c === "[") {
      this.i++;
      const a = [];
      this.ws();
      if (this.s[this.i] === "]") {
        this.i++;
        return a;
      }
      for (;;) {
        a.push(this.value());
        this.ws();
        const d = this.s[this.i++];
        if (d === "]") return a;
        if (d !== ",") this.fail("expected `,` or `]`");
      }
    }
    if (c === '"') return this.string();
    for (const [word, v] of [["true", true], ["false", false], ["null", null]]) {
      if (this.s.startsWith(word, this.i)) {
        this.i += word.length;
        return v;
      }
    }
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(this.s.slice(this.i));
    if (!m || !m[0]) this.fail("expected a value");
    this.i += m[0].length;
    if (!m[2] && !m[3]) {
      const n = BigInt(m[0]);
      if (n >= I64_MIN && n <= U64_MAX && m[0] !== "-0") return { int: n };
    }
    return { float: Number(m[0]) };
  }
  string() {
    const m = /^"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/.exec(this.s.slice(this.i));
    if (!m) this.fail("invalid string");
    this.i += m[0].length;
    return JSON.parse(m[0]);
  }
  parse() {
    const v = this.value();
    this.ws();
    if (this.i !== this.s.length) this.fail("trailing characters");
    return v;
  }
}

const cmp = (a, b) => {
  // Code point order, as Rust compares strings.
  const x = Array.from(a, (c) => c.codePointAt(0));
  const y = Array.from(b, (c) => c.codePointAt(0));
  for (let k = 0; k < Math.min(x.length, y.length); k++) if (x[k] !== y[k]) return x[k] - y[k];
  return x.length - y.length;
};
const sortedKeys = (m) => [...m.keys()].sort(cmp);
const isObject = (v) => v instanceof Map;
const isInt = (v) => v !== null && typeof v === "object" && "int" in v;
const isNumber = (v) => v !== null && typeof v === "object" && ("int" in v || "float" in v);

// A float as serde_json writes it (ryu's shortest form).
export function formatFloat(x) {
  if (!Number.isFinite(x)) return "null";
  let r = String(Math.abs(x));
  const sign = x < 0 || Object.is(x, -0) ? "-" : "";
  const [mant, exp = "0"] = r.split("e");
  const [whole, frac = ""] = mant.split(".");
  const all = whole + frac;
  const stripped = all.replace(/^0+/, "");
  const point = whole.length + Number(exp) - (all.length - stripped.length);
  const digits = stripped.replace(/0+$/, "");
  if (!digits) return sign + "0.0";
  const n = digits.length;
  if (point - n >= 0 && point <= 16) return sign + digits + "0".repeat(point - n) + ".0";
  if (point > 0 && point <= 16) return sign + digits.slice(0, point) + "." + digits.slice(point);
  if (point > -5 && point <= 0) return sign + "0." + "0".repeat(-point) + digits;
  return `${sign}${digits[0]}${n > 1 ? "." + digits.slice(1) : ""}e${point - 1}`;
}

function toJson(v) {
  if (v === null) return "null";
  if (v === true) return "true";
  if (v === false) return "false";
  if (typeof v === "string") return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(toJson).join(",")}]`;
  if (isObject(v)) return `{${sortedKeys(v).map((k) => `${JSON.stringify(k)}:${toJson(v.get(k))}`).join(",")}}`;
  if (isInt(v)) return v.int.toString();
  return formatFloat(v.float);
}

// UTF-8 length without TextEncoder (QuickJS has none).
function utf8Length(s) {
  let n = 0;
  for (const ch of s) {
    const c = ch.codePointAt(0);
    n += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
  }
  return n;
}

export function shown(v) {
  const s = toJson(v);
  if (utf8Length(s) > 60) return Array.from(s).slice(0, 60).join("") + "…";
  return s;
}

function parseCondition(key, name, v) {
  switch (name) {
    case "metadata": {
      if (!isObject(v)) throw err(key, `must be a table of key = value, got ${shown(v)}`);
      const pairs = [];
      for (const k of sortedKeys(v)) {
        const val = v.get(k);
        if (typeof val !== "string") throw err(`${key}.${k}`, `must be a string, got ${shown(val)}`);
        pairs.push([k, val]);
      }
      return { kind: name, value: pairs };
    }
    case "regex": {
      if (typeof v !== "string") throw err(key, `must be a regular expression string, got ${shown(v)}`);
      try {
        return { kind: name, value: compileRust(v) };
      } catch (e) {
        if (e instanceof RegexError) throw err(key, `is not a valid regular expression: ${e.message}`);
        throw e;
      }
    }
    case "min_tokens":
    case "max_tokens":
      if (!isInt(v) || v.int < 0n) throw err(key, `must be a non-negative integer, got ${shown(v)}`);
      return { kind: name, value: Number(v.int) };
    case "has_tools":
    case "has_images":
    case "wants_json":
    case "stream":
      if (typeof v !== "boolean") throw err(key, `must be true or false, got ${shown(v)}`);
      return { kind: name, value: v };
  }
  throw err(key, `is not a condition (expected one of ${CONDITIONS.join(", ")})`);
}

const FLAG = { has_tools: "hasTools", has_images: "hasImages", wants_json: "wantsJson", stream: "stream" };

function holds(c, r) {
  switch (c.kind) {
    case "metadata":
      return c.value.every(([k, v]) => r.metadata.some(([rk, rv]) => rk === k && rv === v));
    case "regex":
      return r.lastUser !== null && r.lastUser !== undefined && c.value.test(r.lastUser);
    case "min_tokens":
      return r.tokenEstimate >= c.value;
    case "max_tokens":
      return r.tokenEstimate <= c.value;
    default:
      return r[FLAG[c.kind]] === c.value;
  }
}

function parseRule(i, v, tiers) {
  const key = `rules[${i}]`;
  if (!isObject(v)) throw err(key, `must be a table with \`if\` and \`tier\`, got ${shown(v)}`);
  for (const k of sortedKeys(v)) {
    if (k !== "if" && k !== "tier") throw err(`${key}.${k}`, "is not a rule key (expected `if` and `tier`)");
  }
  if (!v.has("tier")) throw err(`${key}.tier`, "is missing");
  const tier = v.get("tier");
  if (typeof tier !== "string") throw err(`${key}.tier`, `must be a tier name, got ${shown(tier)}`);
  if (!tiers.has(tier)) throw err(`${key}.tier`, `names no tier: \`${tier}\` is not in \`tiers\``);
  if (!v.has("if")) throw err(`${key}.if`, "is missing");
  const conds = v.get("if");
  if (!isObject(conds)) throw err(`${key}.if`, `must be a table of conditions, got ${shown(conds)}`);
  return { conditions: sortedKeys(conds).map((n) => parseCondition(`${key}.if.${n}`, n, conds.get(n))), tier };
}

function parseTiers(obj) {
  if (!obj.has("tiers")) throw err("tiers", "is missing");
  const v = obj.get("tiers");
  if (!isObject(v)) throw err("tiers", `must be a table of tier name = [models], got ${shown(v)}`);
  const out = new Map();
  for (const name of sortedKeys(v)) {
    const models = v.get(name);
    const key = `tiers.${name}`;
    if (!Array.isArray(models)) throw err(key, `must be a list of model names, got ${shown(models)}`);
    models.forEach((m, i) => {
      if (typeof m !== "string") throw err(`${key}[${i}]`, `must be a model name, got ${shown(m)}`);
    });
    out.set(name, models);
  }
  return out;
}

// Parse and validate the route's policy_config (JSON text, or null when the
// route has none). Throws ConfigError naming the key.
export function parseConfig(text) {
  let value = null;
  if (text !== null && text !== undefined) {
    try {
      value = new Json(text).parse();
    } catch (e) {
      throw new ConfigError(`task-router: policy_config is not valid JSON: ${e.message}`);
    }
  }
  if (value === null) throw new ConfigError("task-router: policy_config needs `tiers` and `default`");
  if (!isObject(value)) throw new ConfigError(`task-router: policy_config must be a table, got ${shown(value)}`);
  for (const k of sortedKeys(value)) {
    if (!["tiers", "default", "rules"].includes(k)) {
      throw err(k, "is not a key of the policy config (expected `tiers`, `default`, `rules`)");
    }
  }
  const tiers = parseTiers(value);
  if (!value.has("default")) throw err("default", "is missing");
  const def = value.get("default");
  if (typeof def !== "string") throw err("default", `must be a tier name, got ${shown(def)}`);
  if (!tiers.has(def)) throw err("default", `names no tier: \`${def}\` is not in \`tiers\``);
  const rulesV = value.has("rules") ? value.get("rules") : null;
  let rules = [];
  if (Array.isArray(rulesV)) rules = rulesV.map((r, i) => parseRule(i, r, tiers));
  else if (rulesV !== null) throw err("rules", `must be a list of rules, got ${shown(rulesV)}`);
  const any = (kind) => rules.some((r) => r.conditions.some((c) => c.kind === kind));
  return { tiers, default: def, rules, readsText: any("regex"), readsMetadata: any("metadata") };
}

// The plan: the tier's models (those among the candidates, in the tier's
// order), then the other candidates in route order; open breakers last.
// request: {lastUser, tokenEstimate, hasTools, hasImages, wantsJson, stream,
// metadata: [[k, v]]}; candidates: [{model, open}].
export function decide(config, request, candidates) {
  let rule = "default";
  let tier = config.default;
  for (let i = 0; i < config.rules.length; i++) {
    if (config.rules[i].conditions.every((c) => holds(c, request))) {
      rule = String(i);
      tier = config.rules[i].tier;
      break;
    }
  }
  const order = [];
  for (const model of config.tiers.get(tier) ?? []) {
    candidates.forEach((c, i) => {
      if (c.model === model && !order.includes(i)) order.push(i);
    });
  }
  candidates.forEach((_, i) => {
    if (!order.includes(i)) order.push(i);
  });
  const healthy = order.filter((i) => !candidates[i].open);
  const open = order.filter((i) => candidates[i].open);
  const labels = [["policy", "task-router"], ["tier", tier], ["rule", rule]];
  if (open.length) labels.push(["breaker-open", open.map((i) => candidates[i].model).join(",")]);
  return { order: [...healthy, ...open], labels };
}
