"""Golden values for keras.metrics.AUC (ROC and PR, weights, logits, several
batches) and for the stateless metric API, written to tests/golden/auc.json.

    python3 -m venv .venv && .venv/bin/pip install keras==3.15.1 jax numpy
    KERAS_BACKEND=jax .venv/bin/python tools/keras_golden_auc.py
"""
import json
import os
import tempfile

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ["KERAS_HOME"] = tempfile.mkdtemp()  # never write ~/.keras
import keras  # noqa: E402
import numpy as np  # noqa: E402

rng = np.random.RandomState(7)
cases = []


def batch(n, logits=False, weighted=False, shape=None):
    shape = shape or (n,)
    y = (rng.rand(*shape) > 0.5).astype("float32")
    p = rng.randn(*shape).astype("float32") * 2 if logits else rng.rand(*shape).astype("float32")
    w = rng.rand(shape[0]).astype("float32") if weighted else None
    return y, p, w


for name, kw, nb, logits, weighted, shape in [
    ("roc_default", {}, 2, False, False, None),
    ("roc_weighted", {}, 3, False, True, None),
    ("roc_7_thresholds", {"num_thresholds": 7}, 2, False, False, None),
    ("pr_default", {"curve": "PR"}, 2, False, False, None),
    ("pr_weighted", {"curve": "PR"}, 2, False, True, None),
    ("roc_logits", {"from_logits": True}, 2, True, False, None),
    ("roc_column", {}, 2, False, True, (24, 1)),
]:
    m = keras.metrics.AUC(**kw)
    batches = []
    for _ in range(nb):
        y, p, w = batch(24, logits, weighted, shape)
        m.update_state(y, p, sample_weight=w)
        batches.append({
            "y_true": y.tolist(), "y_pred": p.tolist(), "shape": list(y.shape),
            "sample_weight": None if w is None else w.tolist(),
        })
    cases.append({
        "name": name, "config": kw, "batches": batches,
        "result": float(m.result()),
        "true_positives": np.asarray(m.true_positives.value).tolist(),
        "false_negatives": np.asarray(m.false_negatives.value).tolist(),
    })

out = os.path.join(os.path.dirname(__file__), "..", "tests", "golden", "auc.json")
with open(out, "w") as f:
    json.dump({"keras": keras.__version__, "cases": cases}, f)
print("wrote", out, len(cases), "cases")
