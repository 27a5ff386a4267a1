"""The `task-router` routing policy as a Python component (world
`policy-plugin` of wit/). The decision lives in task_router.py; this file
only reads the request through the host's request view and answers.

Build: examples/policies/build.sh (or, by hand, from this directory:
`componentize-py -d ../../../wit -w policy-plugin componentize app -o task-router-py.wasm`).
"""

from componentize_py_types import Err

import wit_world
from task_router import Candidate, Config, ConfigError, Request, decide
from wit_world.exports import policy
from wit_world.imports import host

# The host may keep an instance warm for many decisions of one route: parse
# the route's config (and compile its regexes) once per instance.
_parsed: tuple[str | None, Config] | None = None


def _config() -> Config:
    global _parsed
    text = host.config_json()
    if _parsed is None or _parsed[0] != text:
        _parsed = (text, Config.parse(text))
    return _parsed[1]


class Policy(wit_world.exports.Policy):
    def observe(self, outcome):
        pass

    def route(self, req, candidates):
        try:
            config = _config()
        except ConfigError as e:
            raise Err(str(e)) from None
        request = Request(
            last_user=req.last_user_message() if config.reads_text() else None,
            token_estimate=req.token_estimate(),
            has_tools=req.has_tools(),
            has_images=req.has_images(),
            wants_json=req.wants_json(),
            stream=req.stream(),
            metadata=req.metadata() if config.reads_metadata() else [],
        )
        cands = [Candidate(c.model, c.stats.breaker == policy.BreakerState.OPEN) for c in candidates]
        plan = decide(config, request, cands)
        return policy.Decision(
            attempts=[
                policy.Attempt(candidate=i, timeout_ms=None, max_tokens=None, temperature=None) for i in plan.order
            ],
            labels=plan.labels,
        )
