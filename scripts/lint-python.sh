#!/usr/bin/env bash
# Lint and format check of the Python code (tests/ and examples/) with the
# ruff pinned in tests/requirements.txt, which scripts/setup.sh --lint (and --test)
# installs into the test venv; the rules are in ruff.toml. To fix what it
# finds: "$SWITCHYARD_VENV/bin/ruff" check --fix && "$SWITCHYARD_VENV/bin/ruff" format
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
ruff="$SWITCHYARD_VENV/bin/ruff"
if [[ ! -x "$ruff" ]]; then
    echo "lint-python: $ruff is missing: run scripts/setup.sh --lint" >&2
    exit 1
fi
"$ruff" check --no-cache tests examples
"$ruff" format --no-cache --check tests examples
