#!/usr/bin/env bash
# A short fuzz run of every target (default 20 s each) over the corpus kept in
# fuzz/corpus: new exploration from the stored inputs. Not part of
# scripts/test.sh or CI (those replay the stored inputs on stable Rust, without
# fuzzing): it needs nightly and cargo-fuzz, and the ingress targets link the
# whole host (a cold build takes tens of minutes; see fuzz/README.md).
#
#   scripts/fuzz-smoke.sh              # adapter targets only (cheap to build)
#   scripts/fuzz-smoke.sh --ingress    # the ingress targets as well
#   FUZZ_SECONDS=60 scripts/fuzz-smoke.sh
#
# New corpus entries are written to a scratch directory, never into the
# repository: the stored corpus changes only on purpose (cargo fuzz cmin).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${FUZZ_SECONDS:-20}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/switchyard/target-fuzz}"
command -v cargo-fuzz >/dev/null || cargo +nightly install cargo-fuzz --locked

targets=(adapter_openai adapter_azure_openai adapter_anthropic adapter_gemini adapter_bedrock)
features=()
if [[ "${1:-}" == "--ingress" ]]; then
    targets+=(ingress_openai ingress_anthropic config)
    features=(--features ingress)
fi

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
cargo +nightly fuzz build -O -a "${features[@]}"
for t in "${targets[@]}"; do
    mkdir -p "$scratch/$t"
    echo "== $t (${seconds}s)"
    status=0
    cargo +nightly fuzz run -O -a "${features[@]}" "$t" "$scratch/$t" "corpus/$t" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 \
        >"$scratch/$t.log" 2>&1 || status=$?
    grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|thread .* panicked|SUMMARY)' "$scratch/$t.log" || true
    if [[ $status -ne 0 ]]; then
        tail -n 40 "$scratch/$t.log" >&2
        echo "fuzz-smoke: $t failed; the input is in fuzz/artifacts/$t" >&2
        exit 1
    fi
done
