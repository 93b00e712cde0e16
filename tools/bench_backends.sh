#!/bin/sh
# The training benchmarks (benches/training.rs) on the cpu and torch backends,
# and the same workloads in Python Keras 3 on JAX (tools/bench_keras.py), one
# after the other in one run, then one table of the medians and their ratios.
# Installs libtorch (tools/setup_torch.sh) and the Keras venv
# (tools/keras_venv.sh) when missing.
set -eu
cd "$(dirname "$0")/.."
tools/setup_torch.sh >/dev/null
out=$(mktemp -d)
cargo bench --features torch --bench training --no-run >/dev/null 2>&1
for b in cpu torch; do
    echo "== ceras, backend $b" >&2
    KERAS_BACKEND=$b cargo bench --features torch --bench training 2>/dev/null | tee "$out/$b.txt" >&2
done
if py=$(tools/keras_venv.sh 2>/dev/null | tail -1) && [ -x "$py" ]; then
    echo "== Python Keras, JAX backend" >&2
    KERAS_BACKEND=jax KERAS_HOME=$(mktemp -d) "$py" tools/bench_keras.py 2>/dev/null | tee "$out/keras.txt" >&2
fi
python3 - "$out" <<'PY'
import pathlib, re, sys
out = pathlib.Path(sys.argv[1])
def parse(name):
    p = out / name
    rows = {}
    if not p.exists():
        return rows
    for line in p.read_text().splitlines():
        m = re.match(r"(MLP 784-512-512-10|mnist_convnet)\s+train step \(batch 128\):\s+([\d.]+) ms.*predict:\s+([\d.]+) samples/s", line)
        if m:
            rows[m.group(1) + " train step (ms)"] = float(m.group(2))
            rows[m.group(1) + " predict (samples/s)"] = float(m.group(3))
        m = re.match(r"tiny Dense\(1\) step\s+train_on_batch:\s+([\d.]+) us", line)
        if m:
            rows["tiny Dense(1) train step (us)"] = float(m.group(1))
    return rows
cpu, torch, keras = parse("cpu.txt"), parse("torch.txt"), parse("keras.txt")
print("| workload | ceras cpu | ceras torch | Keras/JAX | torch / cpu |")
print("|---|---|---|---|---|")
for k in cpu:
    c, t, j = cpu.get(k), torch.get(k), keras.get(k)
    fmt = lambda v: "—" if v is None else (f"{v:,.0f}" if v >= 100 else f"{v:.2f}")
    ratio = "—" if c is None or t is None else (f"{t / c:.2f}×" if "samples" not in k else f"{c / t:.2f}× (time)")
    print(f"| {k} | {fmt(c)} | {fmt(t)} | {fmt(j)} | {ratio} |")
PY
