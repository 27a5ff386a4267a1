#!/usr/bin/env bash
# The lint step, run first by CI: formatting of every workspace, clippy with
# warnings as errors (the host and the plugins), rustdoc with warnings as
# errors, the host's module-cycle check, and ruff on the Python tests and
# examples. Fails on the first finding.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
scripts/setup.sh --lint

echo "lint: cargo fmt"
cargo fmt --all --check
(cd plugins && cargo fmt --all --check)
(cd plugins/evaluators/json && cargo fmt --check)
(cd fuzz && cargo fmt --all --check)

echo "lint: module tree"
python3 scripts/check-modules.py host/src

echo "lint: clippy (host)"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "lint: clippy (plugins: their unit tests on the host, the components for wasm32-wasip2)"
(cd plugins && cargo clippy --workspace --all-targets --locked -- -D warnings)
(cd plugins && cargo clippy --workspace --locked --target wasm32-wasip2 -- -D warnings)
# The json evaluator and eval-kit's JSON Schema half: a workspace of their own
# (plugins/evaluators/json/Cargo.toml says why).
(cd plugins && cargo clippy -p eval-kit --features json-schema --all-targets --locked -- -D warnings)
(cd plugins/evaluators/json && cargo clippy --all-targets --locked -- -D warnings)
(cd plugins/evaluators/json && cargo clippy --locked --target wasm32-wasip2 -- -D warnings)
echo "lint: clippy (fuzz)"
(cd fuzz && cargo clippy --all-targets --locked -- -D warnings)

echo "lint: rustdoc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet
(cd plugins && RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet)
(cd plugins && RUSTDOCFLAGS="-D warnings" cargo doc -p eval-kit --features json-schema --no-deps --locked --quiet)

echo "lint: ruff"
scripts/lint-python.sh
echo "lint: clean"
