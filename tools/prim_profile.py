#!/usr/bin/env python3
"""Sums a CERAS_PROFILE_PRIMS log by primitive.

    CERAS_PROFILE_PRIMS=1 BENCH_WARM=1 BENCH_REPS=1 KERAS_BACKEND=cpu \
        target/release/deps/peers-* convnet 2> prims.log
    python3 tools/prim_profile.py prims.log [--min-elems 100000] [--top 40]

Each log line is `prim<TAB>primitive<TAB>output elements<TAB>ms<TAB>input shapes`.
Primitives with fewer output elements than --min-elems are pooled per kind.
When the log holds `mark` lines (the bench writes one before each timed call),
only the lines after the last mark are summed: one timed step, without model
building, warm-up or the other timed calls.
"""
import argparse
import collections

ap = argparse.ArgumentParser()
ap.add_argument("log")
ap.add_argument("--min-elems", type=int, default=100_000)
ap.add_argument("--top", type=int, default=40)
a = ap.parse_args()

agg = collections.defaultdict(lambda: [0, 0.0, 0])
total = 0.0
lines = open(a.log).read().splitlines()
marks = [i for i, l in enumerate(lines) if l.startswith("mark\t")]
if marks:
    lines = lines[marks[-1] + 1 :]
for line in lines:
    f = line.split("\t")
    if len(f) != 5 or f[0] != "prim":
        continue
    name, elems, ms = f[1], int(f[2]), float(f[3])
    kind = name.split("{")[0].split("(")[0].strip()
    key = name[:48] if elems >= a.min_elems else f"{kind} (< {a.min_elems} elements)"
    e = agg[key]
    e[0] += 1
    e[1] += ms
    e[2] += elems
    total += ms
print(f"{total:9.1f} ms in all")
print(f"{'ms':>9} {'share':>6} {'calls':>6} {'elems/call':>11}  primitive")
for k, (n, ms, el) in sorted(agg.items(), key=lambda kv: -kv[1][1])[: a.top]:
    print(f"{ms:9.1f} {100 * ms / max(total, 1e-9):5.1f}% {n:6d} {el / n:11.0f}  {k}")
