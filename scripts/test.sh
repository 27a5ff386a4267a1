#!/usr/bin/env bash
# Run every test: the Rust unit and runtime tests, then the end-to-end tests
# that drive the real binary with the official SDKs. Everything is built in
# release mode (one build serves both, and Cranelift is never slow here).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
scripts/setup.sh --test
cargo build --release --bin switchyard
cargo test --release --workspace
(cd plugins && cargo test --release --workspace)
# eval-kit's JSON Schema half (the json evaluator, a workspace of its own).
(cd plugins && cargo test --release -p eval-kit --features json-schema)
# The stored fuzz corpus of every adapter target, replayed on stable Rust with
# overflow checks on (the ingress targets' corpus is replayed by the host's
# tests above).
(cd fuzz && cargo test --no-default-features --test replay)
export SWITCHYARD_BIN="$CARGO_TARGET_DIR/release/switchyard"
# The Python and JavaScript policy components (cached by content hash).
examples/policies/build.sh >/dev/null
"$SWITCHYARD_VENV/bin/python" -m pytest -q tests "$@"
