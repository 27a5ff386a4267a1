# Shared settings of the scripts: one stable cargo target directory outside
# the clone (so CI and later runs reuse builds) and the test virtualenv.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/switchyard/target}"
export SWITCHYARD_VENV="${SWITCHYARD_VENV:-$HOME/.cache/switchyard/venv}"
export SWITCHYARD_LLAMA_VENV="${SWITCHYARD_LLAMA_VENV:-$HOME/.cache/switchyard/llama-venv}"
# npm packages of the JavaScript policy example (componentize-qjs).
export SWITCHYARD_NODE="${SWITCHYARD_NODE:-$HOME/.cache/switchyard/node}"
