"""Writes the peers section of docs/benchmarks.md and docs/benchmarks.png from
the JSON lines bench/run.sh collected (one per framework and workload).

    python bench/report.py target/bench-results/results.jsonl

The section between the `<!-- peers:begin -->` / `<!-- peers:end -->` markers
is replaced (inserted after the introduction the first time); the rest of the
file is left as it is.
"""
import datetime
import json
import os
import pathlib
import platform
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
PNG = ROOT / "docs" / "benchmarks.png"
BEGIN, END = "<!-- peers:begin -->", "<!-- peers:end -->"
WORKLOADS = {
    "mlp": "MLP 784-512-512-10, batch 128",
    "convnet": "mnist_convnet, batch 128",
    "lstm": "LSTM text classifier, batch 64",
    "transformer": "Transformer text classifier, batch 32",
    "resnet20": "ResNet-20 32×32×3, batch 64",
}
ORDER = ["ceras (cpu)", "ceras (torch)", "keras-jax", "keras-torch", "torch", "burn", "candle"]
LABEL = {
    "keras-jax": "Keras 3 / JAX",
    "keras-torch": "Keras 3 / PyTorch",
    "torch": "PyTorch (eager)",
    "burn": "burn",
    "candle": "candle",
}
# FLOPs of one training step (forward + backward ≈ 3 × forward multiply-adds × 2),
# counted from the layer shapes; only the matmul / conv work.
MLP_FLOPS = 3 * 2 * 128 * (784 * 512 + 512 * 512 + 512 * 10)


def is_ceras(fw):
    return fw.startswith("ceras")


def label(fw):
    return LABEL.get(fw, fw)


def load(path):
    rows = [json.loads(line) for line in pathlib.Path(path).read_text().splitlines() if line.strip()]
    peak = max((r.get("gflops") or 0 for r in rows if r.get("workload") == "peak"), default=0)
    peaks = {r["framework"]: r.get("gflops") for r in rows if r.get("workload") == "peak"}
    runs = [r for r in rows if r.get("workload") in WORKLOADS]
    return runs, peak, peaks


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def rustc():
    try:
        return subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "rustc ?"


def fmt_ms(v):
    return "—" if v is None else (f"{v:,.0f}" if v >= 100 else f"{v:.1f}" if v >= 10 else f"{v:.2f}")


def markdown(runs, peak, peaks):
    by = {(r["workload"], r["framework"]): r for r in runs}
    fws = [f for f in ORDER if any(r["framework"] == f for r in runs)]
    fws += sorted({r["framework"] for r in runs} - set(fws))
    versions = sorted({r["version"] for r in runs if r.get("version")})
    threads = sorted({f"{label(r['framework'])}: {r['threads']}" for r in runs if r.get("threads")})
    today = datetime.date.today().isoformat()
    out = [BEGIN, f"## Against the peers (issue #6) — {today}", ""]
    out += [
        "Regenerate with `bench/run.sh` (installs the peers on first use; the workloads and",
        "the protocol are in `bench/README.md`). Median train-step time after warm-up, one",
        "process per framework and workload, all on this machine in one run.",
        "",
        f"- Machine: {cpu_name()}, {os.cpu_count()} cores; measured peak "
        f"**{peak:.0f} GFLOP/s** (best 2048³ float32 matmul: "
        + ", ".join(f"{label(k)} {v:.0f}" for k, v in peaks.items() if v)
        + ")",
        f"- Versions: {rustc()}; " + "; ".join(versions),
        "- Threads: " + ", ".join(threads),
        "",
        "### Train step, median ms (lower is better)",
        "",
        "| workload | " + " | ".join(label(f) for f in fws) + " | ceras cpu / fastest peer | ceras torch / fastest peer |",
        "|---|" + "---|" * (len(fws) + 2),
    ]
    ratios = {}
    for wl, name in WORKLOADS.items():
        cells = [fmt_ms((by.get((wl, f)) or {}).get("step_ms")) for f in fws]
        peer = [(r["step_ms"], f) for (w, f), r in by.items() if w == wl and not is_ceras(f) and r.get("step_ms")]
        best = min(peer, default=None)
        rs = []
        for c in ("ceras (cpu)", "ceras (torch)"):
            v = (by.get((wl, c)) or {}).get("step_ms")
            if v and best:
                ratios[(wl, c)] = v / best[0]
                rs.append(f"**{v / best[0]:.2f}×** ({label(best[1])})")
            else:
                rs.append("—")
        out.append(f"| {name} | " + " | ".join(cells) + " | " + " | ".join(rs) + " |")
    out += ["", "### Predict throughput, samples/s (higher is better)", ""]
    out += ["| workload | " + " | ".join(label(f) for f in fws) + " |", "|---|" + "---|" * len(fws)]
    for wl in ("mlp", "convnet"):
        cells = []
        for f in fws:
            v = (by.get((wl, f)) or {}).get("predict_samples_per_s")
            cells.append("—" if v is None else f"{v:,.0f}")
        out.append(f"| {WORKLOADS[wl]} | " + " | ".join(cells) + " |")
    out += ["", "### Peak resident memory of the run, MB (lower is better)", ""]
    out += ["| workload | " + " | ".join(label(f) for f in fws) + " |", "|---|" + "---|" * len(fws)]
    for wl, name in WORKLOADS.items():
        cells = []
        for f in fws:
            v = (by.get((wl, f)) or {}).get("peak_rss_mb")
            cells.append("—" if v is None else f"{v:,.0f}")
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    mlp = by.get(("mlp", "ceras (cpu)"), {}).get("step_ms")
    if mlp and peak:
        g = MLP_FLOPS / (mlp / 1e3) / 1e9
        out += ["", f"MLP train step on ceras (cpu): {g:.0f} GFLOP/s = **{100 * g / peak:.0f} %** of the measured peak."]
    notes = [f"- {label(r['framework'])}, {r['workload']}: {r['note']}" for r in runs if r.get("note")]
    if notes:
        out += ["", "Notes:", ""] + notes
    out += ["", "![train step relative to the fastest framework](benchmarks.png)", "", END]
    return "\n".join(out) + "\n", fws, by


def chart(fws, by):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    wls = list(WORKLOADS)
    fig, ax = plt.subplots(figsize=(11, 4.8), dpi=110)
    width = 0.8 / max(len(fws), 1)
    colors = plt.get_cmap("tab10")
    for i, f in enumerate(fws):
        xs, ys = [], []
        for j, wl in enumerate(wls):
            v = (by.get((wl, f)) or {}).get("step_ms")
            best = min((r["step_ms"] for (w, _), r in by.items() if w == wl and r.get("step_ms")), default=None)
            if v and best:
                xs.append(j + (i - (len(fws) - 1) / 2) * width)
                ys.append(v / best)
        ax.bar(xs, ys, width, label=label(f), color=colors(i), edgecolor="black" if is_ceras(f) else None)
    ax.set_yscale("log")
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_xticks(range(len(wls)))
    ax.set_xticklabels([WORKLOADS[w].replace(", ", "\n") for w in wls])
    ax.set_ylabel("train-step time / fastest (log scale)")
    ax.set_title(f"Training step time relative to the fastest framework ({datetime.date.today().isoformat()})")
    ax.legend(ncol=4, fontsize=8, loc="upper left")
    fig.tight_layout()
    tmp = PNG.with_suffix(".png.tmp")
    fig.savefig(tmp, format="png")
    os.replace(tmp, PNG)


def main():
    runs, peak, peaks = load(sys.argv[1])
    section, fws, by = markdown(runs, peak, peaks)
    doc = DOC.read_text()
    if BEGIN in doc and END in doc:
        head, rest = doc.split(BEGIN, 1)
        tail = rest.split(END, 1)[1].lstrip("\n")
        doc = head + section + "\n" + tail
    else:
        # After the introduction: before the first "## " section.
        i = doc.find("\n## ")
        doc = doc[: i + 1] + section + "\n" + doc[i + 1 :] if i >= 0 else doc + "\n" + section
    tmp = DOC.with_suffix(".md.tmp")
    tmp.write_text(doc)
    os.replace(tmp, DOC)
    chart(fws, by)
    print(section)


if __name__ == "__main__":
    main()
