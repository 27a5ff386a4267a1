#!/usr/bin/env bash
# Switchyard beside nginx, on 127.0.0.1, in one command: starts
# `switchyard mock-upstream`, nginx as a pass-through proxy to it (1 and 2
# workers, upstream keepalive; its own prefix and config in a temp dir, never
# the system's) and `switchyard serve` in front of it (a model: adapter only;
# a route: `ordered` policy + adapter), measures them in one interleaved run
# and prints a markdown table, then one for embeddings (the upstream direct
# and a model) from the same rounds (scripts/perf.py does the measuring).
#
#   scripts/perf.sh            the full run (~6 minutes with the defaults)
#   scripts/perf.sh --smoke    everything, briefly (about 10 s of load)
#
# Settings (environment):
#   PERF_SECS         seconds of each load measurement (default 5; smoke 1)
#   PERF_ROUNDS       interleaved rounds, the table shows medians (default 3; smoke 1)
#   PERF_CONCURRENCY  wrk connections, one measurement each (default "1 16 64 256"; smoke "1 64")
#   PERF_SOAK_S       seconds of load on the gateway before a last RSS reading (default: no soak)
#   PERF_RELOADS      hot reloads of the gateway, with its RSS after 10 and after all (default: none; smoke 20)
#   SWITCHYARD_BIN    the binary (default $CARGO_TARGET_DIR/release/switchyard)
#   PERF_BASELINE_BIN another build, measured in the same run as rows
#                     "baseline, model/route" (before/after a change)
#   PERF_DEBUG        set: keep the temp dir (configs, logs) and say where it is
#
# Needs nginx and wrk (Debian: apt-get install nginx-light wrk, or
# scripts/setup.sh --test) and python3. There are no timing assertions: it
# fails only when a target cannot be started or answers with errors.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

command_line="scripts/perf.sh"
case "${1:-}" in
    "") ;;
    --smoke)
        command_line="scripts/perf.sh --smoke"
        : "${PERF_SECS:=1}" "${PERF_ROUNDS:=1}" "${PERF_CONCURRENCY:=1 64}" "${PERF_RELOADS:=20}"
        ;;
    -h | --help) usage; exit 0 ;;
    *) echo "perf.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
esac
export PERF_SECS="${PERF_SECS:-5}"
export PERF_ROUNDS="${PERF_ROUNDS:-3}"
export PERF_CONCURRENCY="${PERF_CONCURRENCY:-1 16 64 256}"
export PERF_SOAK_S="${PERF_SOAK_S:-0}"
export PERF_RELOADS="${PERF_RELOADS:-0}"
export SWITCHYARD_BIN="${SWITCHYARD_BIN:-$CARGO_TARGET_DIR/release/switchyard}"
export PERF_COMMAND="$command_line"

for knob in PERF_SECS PERF_ROUNDS PERF_SOAK_S PERF_RELOADS; do
    if [[ ! "${!knob}" =~ ^[0-9]+$ ]]; then
        echo "perf.sh: $knob must be a whole number of seconds/rounds, not '${!knob}'" >&2
        exit 2
    fi
done
if [[ "$PERF_SECS" -lt 1 || "$PERF_ROUNDS" -lt 1 ]]; then
    echo "perf.sh: PERF_SECS and PERF_ROUNDS must be at least 1" >&2
    exit 2
fi
if [[ ! "$PERF_CONCURRENCY" =~ ^[[:space:]]*[1-9][0-9]*([[:space:]]+[1-9][0-9]*)*[[:space:]]*$ ]]; then
    echo "perf.sh: PERF_CONCURRENCY must be connection counts separated by spaces, not '$PERF_CONCURRENCY'" >&2
    exit 2
fi

if [[ ! -x "$SWITCHYARD_BIN" ]]; then
    echo "perf.sh: no switchyard binary at $SWITCHYARD_BIN: build it (cargo build --release --bin switchyard) or set SWITCHYARD_BIN" >&2
    exit 1
fi
# Debian installs nginx in /usr/sbin, which a user's PATH may lack.
PERF_NGINX="$(PATH="$PATH:/usr/sbin:/sbin" command -v nginx || true)"
PERF_WRK="$(command -v wrk || true)"
PYTHON="$(command -v python3 || true)"
missing=()
[[ -n "$PERF_NGINX" ]] || missing+=(nginx-light)
[[ -n "$PERF_WRK" ]] || missing+=(wrk)
[[ -n "$PYTHON" ]] || missing+=(python3)
if [[ ${#missing[@]} -gt 0 ]]; then
    echo "perf.sh: missing ${missing[*]}: install with 'apt-get install -y -qq ${missing[*]}' (or run scripts/setup.sh --test as root)" >&2
    exit 1
fi
export PERF_NGINX PERF_WRK

# Scratch dir: configs, logs, nginx prefixes, component caches. nginx's
# workers drop root to `nobody`, so it must be traversable.
PERF_TMP="$(mktemp -d "${TMPDIR:-/tmp}/switchyard-perf.XXXXXX")"
chmod 755 "$PERF_TMP"
export PERF_TMP
export PERF_PIDS="$PERF_TMP/pids"
: > "$PERF_PIDS"
helper=""

# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
    local pid pids=()
    if [[ -n "$helper" ]] && kill -0 "$helper" 2>/dev/null; then
        kill -TERM "$helper" 2>/dev/null || true
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            kill -0 "$helper" 2>/dev/null || break
            sleep 0.5
        done
        kill -KILL "$helper" 2>/dev/null || true
    fi
    # What the helper started and did not stop (it keeps this list current).
    if [[ -s "$PERF_PIDS" ]]; then
        mapfile -t pids < "$PERF_PIDS"
        for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
        sleep 1
        for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    fi
    if [[ -n "${PERF_DEBUG:-}" ]]; then
        echo "perf.sh: configs and logs kept in $PERF_TMP" >&2
    else
        rm -rf "$PERF_TMP"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# In the background, so that a signal to this script runs the cleanup at once.
"$PYTHON" scripts/perf.py &
helper=$!
status=0
wait "$helper" || status=$?
helper=""
exit "$status"
