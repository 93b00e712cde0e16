#!/bin/sh
# Runs the peer benchmarks (bench/README.md) in one go on this machine — ceras
# on its cpu and torch backends, Python Keras 3 on JAX and on PyTorch, plain
# PyTorch, burn and candle — then rewrites the peers section of
# docs/benchmarks.md and docs/benchmarks.png (bench/report.py).
#
#   bench/run.sh                      # everything (first run installs the peers)
#   BENCH_WORKLOADS="mlp lstm" bench/run.sh
#   BENCH_FRAMEWORKS="ceras-cpu keras-jax" bench/run.sh
#
# Raw results (one JSON line per framework and workload) and the runners'
# stderr go to target/bench-results/. Run it on an otherwise idle machine:
# threaded runtimes (PyTorch's OpenMP above all) slow down many times when
# another process competes for the cores.
set -eu
cd "$(dirname "$0")/.."
workloads="${BENCH_WORKLOADS:-mlp convnet lstm transformer resnet20}"
frameworks="${BENCH_FRAMEWORKS:-ceras-cpu ceras-torch keras-jax keras-torch torch burn candle}"
out=target/bench-results
# Seconds one runner (one framework, one workload) may take.
limit="${BENCH_TIMEOUT:-900}"
mkdir -p "$out"
results="$out/results.jsonl"
log="$out/log.txt"
: >"$results"
: >"$log"

echo "bench/run.sh: setting up (libtorch, the Python venv, the Rust peers) ..." >&2
tools/setup_torch.sh >/dev/null
py=$(bench/venv.sh | tail -1)
cargo bench --quiet --features torch --bench peers --no-run >&2
(cd bench/peers-rs && CARGO_TARGET_DIR=../../target/peers-rs cargo build --quiet --release >&2)
peers_rs=target/peers-rs/release/peers-rs

# Runs one runner; keeps its last stdout line if it is JSON, else records the failure.
record() {
    fw=$1
    wl=$2
    shift 2
    echo "== $fw $wl" >&2
    echo "== $fw $wl: $*" >>"$log"
    if line=$(timeout "$limit" "$@" 2>>"$log" | tail -n 1) && [ "${line#\{}" != "$line" ]; then
        echo "$line" >>"$results"
        echo "   $line" >&2
    else
        echo "   failed (see $log)" >&2
        printf '{"framework": "%s", "workload": "%s", "step_ms": null, "note": "runner failed or ran over %s s"}\n' \
            "$fw" "$wl" "$limit" >>"$results"
    fi
}

runner() {
    case $1 in
        ceras-cpu) echo "env KERAS_BACKEND=cpu cargo bench --quiet --features torch --bench peers --" ;;
        ceras-torch) echo "env KERAS_BACKEND=torch cargo bench --quiet --features torch --bench peers --" ;;
        keras-jax | keras-torch | torch) echo "$py bench/peers.py $1" ;;
        burn | candle) echo "$peers_rs $1" ;;
        *) echo "bench/run.sh: unknown framework $1" >&2; exit 2 ;;
    esac
}

# The machine's measured peak: the best 2048^3 float32 matmul of ceras and PyTorch.
record ceras-cpu peak $(runner ceras-cpu) peak
record torch peak "$py" - <<'PY'
import json, time, torch
n = 2048
a, b = torch.rand(n, n), torch.rand(n, n)
ts = []
for i in range(7):
    t = time.perf_counter(); torch.mm(a, b); ts.append(time.perf_counter() - t)
ts = sorted(ts[2:])
print(json.dumps({"framework": "torch", "version": f"torch {torch.__version__}", "workload": "peak",
                  "gflops": 2 * n**3 / ts[len(ts) // 2] / 1e9, "threads": torch.get_num_threads()}))
PY

for wl in $workloads; do
    for fw in $frameworks; do
        # shellcheck disable=SC2046 # the runner command is split into words on purpose
        record "$fw" "$wl" $(runner "$fw") "$wl"
    done
done

"$py" bench/report.py "$results"
