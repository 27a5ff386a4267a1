#!/usr/bin/env bash
# The benchmark loop on one machine, end to end:
#   bench three simulated models on 70% of examples/bench/tasks.jsonl
#   → table, report.html, routing.toml → the route checked and served
#   → bench the route itself against the best single model on the 30% of
#     tasks its decision never saw, and show the cost at equal quality.
#
#   examples/bench/run.sh OUTDIR
#
# Leaves OUTDIR/summary.json, OUTDIR/report.html and OUTDIR/routing.toml (the
# decision), and OUTDIR/holdout/ (the route against the best model on held-out
# tasks). Uses $SWITCHYARD_BIN, else `switchyard` on the PATH. The mocks
# listen on ports BENCH_PORT_BASE+1..+3 (default 18101-18103); the gateway on
# a free port.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:?usage: examples/bench/run.sh OUTDIR}"
bin="${SWITCHYARD_BIN:-switchyard}"
base="${BENCH_PORT_BASE:-18100}"
seed="${BENCH_SEED:-7}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# Start a process whose first stdout line is `listening on ADDR`; set $addr.
# (Not in a subshell: the EXIT trap must know every pid.)
addr=""
start() {
    local log="$1"; shift
    "$@" >"$log" 2>"$log.err" &
    pids+=("$!")
    for _ in $(seq 1 200); do
        if grep -q '^listening on ' "$log" 2>/dev/null; then
            addr="$(sed -n 's/^listening on //p' "$log" | head -1)"
            return 0
        fi
        if ! kill -0 "${pids[-1]}" 2>/dev/null; then
            echo "run.sh: $* exited:" >&2; cat "$log.err" >&2; return 1
        fi
        sleep 0.05
    done
    echo "run.sh: $* did not start" >&2; return 1
}

skills=("arith=0.50,classify=0.97,extract=0.60" "arith=0.85,classify=0.97,extract=0.97" "arith=0.97,classify=0.97,extract=0.97")
latency=(5 15 40)
for i in 0 1 2; do
    start "$out/mock-$i.log" "$bin" mock-upstream --listen "127.0.0.1:$((base + i + 1))" \
        --skill-by-task "${skills[$i]}" --seed 1 --latency-ms "${latency[$i]}"
done
sed -e "s/127.0.0.1:18101/127.0.0.1:$((base + 1))/" -e "s/127.0.0.1:18102/127.0.0.1:$((base + 2))/" \
    -e "s/127.0.0.1:18103/127.0.0.1:$((base + 3))/" "$here/config.toml" >"$out/config.toml"

echo "== bench: three models on the tasks not held out"
"$bin" bench --config "$out/config.toml" --dataset "$here/tasks.jsonl" --models small,medium,large \
    --holdout 0.3 --seed "$seed" --out "$out/build" --concurrency 16
cp "$out/build/summary.json" "$out/build/report.html" "$out/build/routing.toml" "$out/"

echo "== the routing table, appended to the config and checked"
cat "$out/routing.toml"
cat "$out/config.toml" "$out/routing.toml" >"$out/config-routed.toml"
"$bin" check --config "$out/config-routed.toml"

echo "== served: one request per task type through the route"
start "$out/gateway.log" "$bin" serve --config "$out/config-routed.toml" --listen 127.0.0.1:0
gw="$addr"
for task in arith classify extract; do
    prompt="$(grep -m1 "\"task\": \"$task\"" "$here/tasks.jsonl" | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["messages"]))')"
    curl -sS -D - -o /dev/null "http://$gw/v1/chat/completions" -H 'content-type: application/json' \
        -d "{\"model\": \"bench\", \"messages\": $prompt, \"metadata\": {\"task\": \"$task\"}}" \
        | tr -d '\r' | sed -n "s/^x-switchyard-model: /  $task -> /Ip"
done

echo "== bench: the route against the best single model, on the held-out tasks"
"$bin" bench --config "$out/config-routed.toml" --dataset "$here/tasks.jsonl" --models large --routes bench \
    --holdout 0.3 --on-holdout --seed "$seed" --out "$out/holdout" --concurrency 16
python3 - "$out/holdout/summary.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
every = next(t for t in s["task_types"] if t["task"] == "all")
rows = {r["name"]: r for r in every["targets"]}
route, large = rows["bench"], rows["large"]
print(f"held-out tasks: {every['tasks']}")
for name, r in (("route bench", route), ("large", large)):
    q = r["quality"]
    print(f"  {name:<12} quality {q['mean']:.3f} [{q['lo']:.3f}, {q['hi']:.3f}]  ${r['cost_per_1k']:.4f} per 1k requests")
print(f"  the route costs {route['cost_per_1k'] / large['cost_per_1k']:.2f}x the best single model")
PY
