#!/usr/bin/env bash
# Build the Python `refusal` evaluator component, cached by content hash:
# ~/.cache/switchyard/policies/refusal-py-HASH.wasm, where HASH covers the
# sources, the WIT and the componentize-py version. An existing file is
# reused, so the test suite rebuilds nothing when nothing changed. Prints
# `NAME PATH`. Tools: scripts/setup.sh --test.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/env.sh
out="${SWITCHYARD_POLICY_DIR:-$HOME/.cache/switchyard/policies}"
mkdir -p "$out"

# hash FILE... -> 16 hex digits over the names and contents, plus the WIT.
hash() { for f in wit/*.wit "$@"; do printf '%s\n' "$f"; cat "$f"; done | sha256sum | cut -c1-16; }

py=examples/evaluators/python
componentize_py="$SWITCHYARD_VENV/bin/componentize-py"
py_version=$("$componentize_py" --version)
py_wasm="$out/refusal-py-$(hash "$py"/*.py <(echo "$py_version")).wasm"
if [[ ! -f "$py_wasm" ]]; then
    start=$(date +%s)
    (cd "$py" && "$componentize_py" -d ../../../wit -w evaluator-plugin componentize app -p . -o "$py_wasm.tmp" >/dev/null)
    mv "$py_wasm.tmp" "$py_wasm"
    echo "built $py_wasm in $(( $(date +%s) - start )) s" >&2
fi

echo "refusal-py $py_wasm"
