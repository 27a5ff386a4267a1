"""The `refusal` evaluator as a Python component (world `evaluator-plugin`
of wit/), the twin of the embedded Rust one. The rules live in refusal.py;
this file only reads the answer through the host's eval-input and answers.

Build: examples/evaluators/build.sh (or, by hand, from this directory:
`componentize-py -d ../../../wit -w evaluator-plugin componentize app -o refusal-py.wasm`).
"""

from componentize_py_types import Err

import wit_world
from refusal import ConfigError, evaluate
from wit_world.exports import evaluator
from wit_world.imports import host, types

_REASONS = {
    types.FinishReason_Stop: "stop",
    types.FinishReason_Length: "length",
    types.FinishReason_ToolCalls: "tool_calls",
    types.FinishReason_ContentFilter: "content_filter",
}


def _finish_reason(r) -> str | None:
    if r is None:
        return None
    if isinstance(r, types.FinishReason_Other):
        return r.value
    return _REASONS[type(r)]


class Evaluator(wit_world.exports.Evaluator):
    def evaluate(self, input):
        try:
            s = evaluate(
                host.config_json(),
                input.answer(),
                len(input.tool_calls()) > 0,
                _finish_reason(input.finish_reason()),
            )
        except ConfigError as e:
            raise Err(str(e)) from None
        return [evaluator.Score(name=s.name, value=s.value, label=s.label, explanation=s.explanation)]
