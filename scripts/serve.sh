#!/usr/bin/env bash
# Build and run the gateway; arguments go to `switchyard serve`
# (none: the embedded default on 127.0.0.1:7777).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
scripts/setup.sh
cargo build --release --bin switchyard
exec "$CARGO_TARGET_DIR/release/switchyard" serve "$@"
