#!/usr/bin/env bash
# Build the Python and JavaScript task-router policy components, cached by
# content hash: ~/.cache/switchyard/policies/task-router-{py,js}-HASH.wasm,
# where HASH covers the sources, the WIT and the tool versions. An existing
# file is reused, so the test suite rebuilds nothing when nothing changed.
# Prints `NAME PATH` per component. Tools: scripts/setup.sh --test.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/env.sh
out="${SWITCHYARD_POLICY_DIR:-$HOME/.cache/switchyard/policies}"
mkdir -p "$out"

# hash FILE... -> 16 hex digits over the names and contents, plus the WIT.
hash() { for f in wit/*.wit "$@"; do printf '%s\n' "$f"; cat "$f"; done | sha256sum | cut -c1-16; }

py=examples/policies/python
componentize_py="$SWITCHYARD_VENV/bin/componentize-py"
py_version=$("$componentize_py" --version)
py_wasm="$out/task-router-py-$(hash "$py"/*.py <(echo "$py_version")).wasm"
if [[ ! -f "$py_wasm" ]]; then
    start=$(date +%s)
    (cd "$py" && "$componentize_py" -d ../../../wit -w policy-plugin componentize app -p . -o "$py_wasm.tmp" >/dev/null)
    mv "$py_wasm.tmp" "$py_wasm"
    echo "built $py_wasm in $(( $(date +%s) - start )) s" >&2
fi

js=examples/policies/javascript
js_version=$(cat "$SWITCHYARD_NODE/node_modules/componentize-qjs/package.json" 2>/dev/null | sha256sum)
js_wasm="$out/task-router-js-$(hash "$js"/*.js "$js"/build.mjs "$js"/package.json <(echo "$js_version")).wasm"
if [[ ! -f "$js_wasm" ]]; then
    start=$(date +%s)
    NODE_PATH="$SWITCHYARD_NODE/node_modules" node "$js/build.mjs" "$js_wasm.tmp" >/dev/null
    mv "$js_wasm.tmp" "$js_wasm"
    echo "built $js_wasm in $(( $(date +%s) - start )) s" >&2
fi

echo "task-router-py $py_wasm"
echo "task-router-js $js_wasm"
