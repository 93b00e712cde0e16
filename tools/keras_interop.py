"""Loads `.keras` files written by ceras in Python Keras 3 and checks that Keras
predicts what ceras predicted.

Usage: python tools/keras_interop.py DIR

DIR holds, for each model NAME (written by tests/python_interop.rs):
  NAME.keras             the model, saved by ceras
  NAME.in_<i>.npy        inputs, in the model's input order
  NAME.out_<i>.npy       ceras's predictions, in the model's output order
  NAME.json              {"compiled": bool, "iterations": int} (optional)

Prints one line per model and exits non-zero when any model fails to load or
differs by more than atol=1e-5 + rtol=1e-4 * |expected|.
Run with KERAS_BACKEND=jax (the test sets it).
"""

import glob
import json
import os
import sys

import numpy as np


def main(d):
    import keras

    failures = 0
    names = sorted(
        os.path.basename(p)[: -len(".keras")] for p in glob.glob(os.path.join(d, "*.keras"))
    )
    if not names:
        print(f"no .keras files in {d}")
        return 1
    for name in names:
        try:
            model = keras.saving.load_model(os.path.join(d, name + ".keras"))
            ins = [
                np.load(p)
                for p in sorted(glob.glob(os.path.join(d, f"{name}.in_*.npy")))
            ]
            want = [
                np.load(p)
                for p in sorted(glob.glob(os.path.join(d, f"{name}.out_*.npy")))
            ]
            x = ins[0] if len(ins) == 1 else ins
            got = model.predict(x, verbose=0)
            if isinstance(got, dict):
                # Keras returns dict outputs by output name; ceras wrote them in
                # the config's output order.
                got = [got[k] for k in model.output_names]
            elif not isinstance(got, (list, tuple)):
                got = [got]
            if len(got) != len(want):
                raise AssertionError(f"{len(got)} outputs, expected {len(want)}")
            worst = 0.0
            for g, w in zip(got, want):
                g = np.asarray(g, dtype=np.float64)
                w = np.asarray(w, dtype=np.float64)
                if g.shape != w.shape:
                    raise AssertionError(f"shape {g.shape} != {w.shape}")
                excess = np.abs(g - w) - (1e-5 + 1e-4 * np.abs(w))
                worst = max(worst, float(np.max(np.abs(g - w))))
                if np.any(excess > 0):
                    raise AssertionError(f"max |diff| {np.max(np.abs(g - w)):.3g} over tolerance")
            meta_path = os.path.join(d, name + ".json")
            extra = ""
            if os.path.exists(meta_path):
                meta = json.load(open(meta_path))
                if meta.get("compiled"):
                    if model.optimizer is None or not model.compiled:
                        raise AssertionError("saved compiled, loaded uncompiled")
                    it = int(np.asarray(model.optimizer.iterations))
                    if it != meta["iterations"]:
                        raise AssertionError(f"optimizer iterations {it} != {meta['iterations']}")
                    extra = f", compiled, optimizer {type(model.optimizer).__name__} at iteration {it}"
            print(f"ok   {name}: {len(model.layers)} layers, max |diff| {worst:.2e}{extra}")
        except Exception as e:  # report every model, then fail
            failures += 1
            msg = str(e)
            if len(msg) > 600:
                msg = msg[:300] + " ... " + msg[-300:]
            print(f"FAIL {name}: {type(e).__name__}: {msg}")
    print(f"{len(names) - failures}/{len(names)} models load in Keras {keras.__version__} and match")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
