#!/usr/bin/env bash
# Installs what building and testing need; every step is a no-op when done.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

# The environment may disable rustup's auto-install, so the toolchain's
# components and the plugin target are installed explicitly.
rustup toolchain install "$(sed -n 's/^channel = "\(.*\)"/\1/p' rust-toolchain.toml)" \
    --profile minimal --component rustfmt,clippy >/dev/null
rustup target add wasm32-wasip2 >/dev/null

if [[ "${1:-}" == "--test" ]]; then
    if [[ ! -x "$SWITCHYARD_VENV/bin/python" ]]; then
        python3 -m venv "$SWITCHYARD_VENV"
    fi
    "$SWITCHYARD_VENV/bin/pip" install --quiet --disable-pip-version-check -r tests/requirements.txt
fi
