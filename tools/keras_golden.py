"""Golden fixtures for tests/keras_golden.rs: what real Keras computes.

Run it with Keras 3.15.1 on the JAX backend (CI never runs Python: the fixtures it
writes under tests/golden/ are committed):

    python3 -m venv .venv && .venv/bin/pip install keras==3.15.1 jax numpy && \
        KERAS_BACKEND=jax .venv/bin/python tools/keras_golden.py

It (re)writes one JSON file per family in tests/golden/: losses, metrics,
optimizers, schedules, activations, layers, regularizers (with constraints) and
initializers. Every case has a unique `name` that the Rust test reports. Inputs
come from `numpy.random.RandomState` with fixed seeds and are float32 (labels and
ids int32); floats are written as the shortest decimal of the float64 value of
each float32, so Rust reads back the exact float32.

A tensor is `{"shape": [...], "dtype": "float32" | "int32", "data": [flat, row-major]}`.
"""
import json
import os
import tempfile

os.environ.setdefault("KERAS_BACKEND", "jax")
# Importing keras writes keras.json into KERAS_HOME (default ~/.keras), which ceras
# also reads: keep it in a throwaway directory.
os.environ.setdefault("KERAS_HOME", tempfile.mkdtemp())

import numpy as np  # noqa: E402
import keras  # noqa: E402
from keras import ops  # noqa: E402
from keras.src.initializers.random_initializers import compute_fans  # noqa: E402

assert keras.backend.backend() == "jax", "run with KERAS_BACKEND=jax"

OUT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden"))


def T(a, dtype=None):
    """A tensor as JSON (float32 unless the array is integer)."""
    a = np.asarray(a)
    if dtype is None:
        dtype = "int32" if np.issubdtype(a.dtype, np.integer) else "float32"
    a = a.astype(dtype)
    if dtype == "int32":
        data = [int(v) for v in a.ravel()]
    else:
        data = [float(v) for v in a.ravel()]
    return {"shape": list(a.shape), "dtype": dtype, "data": data}


def N(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def rng(seed):
    return np.random.RandomState(seed)


def f32(a):
    return np.asarray(a, dtype=np.float32)


def write(name, cases):
    names = [c["name"] for c in cases]
    assert len(names) == len(set(names)), f"duplicate case names in {name}"
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, f"{name}.json")
    with open(path, "w") as f:
        json.dump({"keras_version": keras.__version__, "cases": cases}, f, separators=(",", ":"))
        f.write("\n")
    print(f"{path}: {len(cases)} cases, {os.path.getsize(path)} bytes")


# ----------------------------------------------------------------------------- losses


def gen_losses():
    cases = []
    r = rng(1)
    b, d = 4, 3

    def probs(shape):
        return f32(r.uniform(0.02, 0.98, shape))

    def onehot(n, k):
        idx = r.randint(0, k, n)
        return f32(np.eye(k)[idx]), idx.astype(np.int32)

    def add(name, loss_cls, kwargs, y_true, y_pred, sw=None, reduction="sum_over_batch_size"):
        loss = loss_cls(reduction=reduction, **kwargs)
        out = loss(y_true, y_pred, sample_weight=sw)
        cls_name = loss_cls.__name__
        cases.append(
            {
                "name": name,
                "loss": cls_name,
                "args": kwargs,
                "reduction": "none" if reduction is None else reduction,
                "y_true": T(y_true),
                "y_pred": T(y_pred),
                "sample_weight": None if sw is None else T(sw),
                "expected": T(N(out)),
            }
        )

    L = keras.losses
    reds = ["sum_over_batch_size", "sum", "none", "mean", "mean_with_sample_weight"]
    # Regression losses.
    yt, yp = f32(r.normal(size=(b, d))), f32(r.normal(size=(b, d)))
    sw = f32(r.uniform(0.0, 2.0, b))
    for cls, short in [(L.MeanSquaredError, "mse"), (L.MeanAbsoluteError, "mae")]:
        for red in reds:
            add(f"{short}_{red}", cls, {}, yt, yp, reduction=red)
            add(f"{short}_{red}_sw", cls, {}, yt, yp, sw=sw, reduction=red)
        add(f"{short}_sw_col", cls, {}, yt, yp, sw=sw.reshape(b, 1), reduction="sum")
    # y_true (b,) against y_pred (b, 1): Keras expands y_true, the loss is per sample.
    yt1, yp1 = f32(r.normal(size=(b,))), f32(r.normal(size=(b, 1)))
    for red in ["none", "sum_over_batch_size"]:
        add(f"mse_rank1_true_{red}", L.MeanSquaredError, {}, yt1, yp1, reduction=red)
        add(f"mae_rank1_true_{red}_sw", L.MeanAbsoluteError, {}, yt1, yp1, sw=sw, reduction=red)
    add("mse_rank1_pred_none", L.MeanSquaredError, {}, yp1, yt1, reduction=None)
    # 3-D inputs: per-(sample, step) losses.
    y3t, y3p = f32(r.normal(size=(2, 3, 4))), f32(r.normal(size=(2, 3, 4)))
    add("mse_3d_none", L.MeanSquaredError, {}, y3t, y3p, reduction=None)
    add("mse_3d_sw_col", L.MeanSquaredError, {}, y3t, y3p, sw=f32([[0.5], [2.0]]))
    add("mse_3d_sw_2d", L.MeanSquaredError, {}, y3t, y3p, sw=f32(r.uniform(0, 1, (2, 3))))
    add("mse_sw_scalar", L.MeanSquaredError, {}, yt, yp, sw=f32(0.5))
    add("mse_sw_zero_mean_with_sample_weight", L.MeanSquaredError, {}, yt, yp, sw=f32(np.zeros(b)),
        reduction="mean_with_sample_weight")
    add("mae_sw_some_zero", L.MeanAbsoluteError, {}, yt, yp, sw=f32([0.0, 1.0, 0.0, 2.0]))
    # Huber.
    yt, yp = f32(r.normal(size=(b, d)) * 2), f32(r.normal(size=(b, d)) * 2)
    for delta in [1.0, 0.5, 2.5]:
        for red in ["sum_over_batch_size", "sum", "none"]:
            add(f"huber_d{delta}_{red}", L.Huber, {"delta": delta}, yt, yp, reduction=red)
        add(f"huber_d{delta}_sw", L.Huber, {"delta": delta}, yt, yp, sw=sw)
    # Binary cross-entropy.
    ytb = f32(r.randint(0, 2, (b, d)))
    ypb = probs((b, d))
    logits = f32(r.normal(size=(b, d)) * 3)
    for ls in [0.0, 0.1]:
        for red in ["sum_over_batch_size", "sum", "none"]:
            add(f"bce_probs_ls{ls}_{red}", L.BinaryCrossentropy, {"label_smoothing": ls}, ytb, ypb, reduction=red)
            add(
                f"bce_logits_ls{ls}_{red}",
                L.BinaryCrossentropy,
                {"from_logits": True, "label_smoothing": ls},
                ytb,
                logits,
                reduction=red,
            )
        add(f"bce_probs_ls{ls}_sw", L.BinaryCrossentropy, {"label_smoothing": ls}, ytb, ypb, sw=sw)
        add(f"bce_logits_ls{ls}_sw", L.BinaryCrossentropy, {"from_logits": True, "label_smoothing": ls}, ytb, logits, sw=sw)
    sat = f32([[0.0, 1.0, 0.5], [1.0, 0.0, 1e-9], [0.3, 0.999999, 0.7], [0.1, 0.2, 0.9]])
    add("bce_probs_saturated_none", L.BinaryCrossentropy, {}, ytb, sat, reduction=None)
    add("bce_soft_labels", L.BinaryCrossentropy, {}, probs((b, d)), ypb)
    add("bce_rank1_true", L.BinaryCrossentropy, {}, f32(r.randint(0, 2, b)), probs((b, 1)), reduction=None)
    # Categorical cross-entropy.
    k = 5
    ytc, idx = onehot(b, k)
    raw = f32(r.uniform(0.05, 1.0, (b, k)))
    ypc = f32(raw / raw.sum(-1, keepdims=True))
    unnorm = f32(r.uniform(0.05, 1.0, (b, k)))
    lg = f32(r.normal(size=(b, k)) * 2)
    for ls in [0.0, 0.2]:
        for red in ["sum_over_batch_size", "sum", "none"]:
            add(f"cce_probs_ls{ls}_{red}", L.CategoricalCrossentropy, {"label_smoothing": ls}, ytc, ypc, reduction=red)
            add(
                f"cce_logits_ls{ls}_{red}",
                L.CategoricalCrossentropy,
                {"from_logits": True, "label_smoothing": ls},
                ytc,
                lg,
                reduction=red,
            )
        add(f"cce_probs_ls{ls}_sw", L.CategoricalCrossentropy, {"label_smoothing": ls}, ytc, ypc, sw=sw)
        add(f"cce_logits_ls{ls}_sw", L.CategoricalCrossentropy, {"from_logits": True, "label_smoothing": ls}, ytc, lg, sw=sw)
    add("cce_unnormalized_probs", L.CategoricalCrossentropy, {}, ytc, unnorm, reduction=None)
    add("cce_probs_3d_none", L.CategoricalCrossentropy, {}, np.eye(k, dtype=np.float32)[r.randint(0, k, (2, 3))],
        f32(r.dirichlet(np.ones(k), (2, 3))), reduction=None)
    # Sparse categorical cross-entropy.
    for red in ["sum_over_batch_size", "sum", "none"]:
        add(f"scce_probs_{red}", L.SparseCategoricalCrossentropy, {}, idx, ypc, reduction=red)
        add(f"scce_logits_{red}", L.SparseCategoricalCrossentropy, {"from_logits": True}, idx, lg, reduction=red)
    add("scce_probs_sw", L.SparseCategoricalCrossentropy, {}, idx, ypc, sw=sw)
    add("scce_logits_sw", L.SparseCategoricalCrossentropy, {"from_logits": True}, idx, lg, sw=sw)
    add("scce_labels_col_none", L.SparseCategoricalCrossentropy, {"from_logits": True}, idx.reshape(b, 1), lg, reduction=None)
    add("scce_labels_col_sw", L.SparseCategoricalCrossentropy, {}, idx.reshape(b, 1), ypc, sw=sw)
    add("scce_3d_logits_none", L.SparseCategoricalCrossentropy, {"from_logits": True},
        r.randint(0, k, (2, 3)).astype(np.int32), f32(r.normal(size=(2, 3, k))), reduction=None)
    write("losses", cases)


# ----------------------------------------------------------------------------- metrics


def gen_metrics():
    cases = []
    r = rng(2)
    M = keras.metrics

    def run(name, metric, kind, args, batches):
        out = []
        for bt in batches:
            sw = bt.get("sample_weight")
            if kind == "Mean":
                metric.update_state(bt["y_pred"], sample_weight=sw)
            else:
                metric.update_state(bt["y_true"], bt["y_pred"], sample_weight=sw)
            out.append(
                {
                    "y_true": None if kind == "Mean" else T(bt["y_true"]),
                    "y_pred": T(bt["y_pred"]),
                    "sample_weight": None if sw is None else T(sw),
                }
            )
        cases.append({"name": name, "metric": kind, "args": args, "batches": out, "expected": float(N(metric.result()))})

    def sw(n):
        return f32(r.uniform(0.0, 2.0, n))

    # Binary accuracy.
    def bin_batch(n, shape_true, with_sw=False, w_shape=None):
        b = {"y_true": f32(r.randint(0, 2, shape_true)), "y_pred": f32(r.uniform(0, 1, shape_true))}
        if with_sw:
            b["sample_weight"] = sw(w_shape or n)
        return b

    for thr in [0.5, 0.7]:
        run(f"binary_accuracy_t{thr}", M.BinaryAccuracy(threshold=thr), "BinaryAccuracy", {"threshold": thr},
            [bin_batch(6, (6, 1)), bin_batch(5, (5, 1))])
        run(f"binary_accuracy_t{thr}_sw", M.BinaryAccuracy(threshold=thr), "BinaryAccuracy", {"threshold": thr},
            [bin_batch(6, (6, 1), True), bin_batch(5, (5, 1), True), bin_batch(4, (4, 1))])
    run("binary_accuracy_multilabel_sw", M.BinaryAccuracy(), "BinaryAccuracy", {"threshold": 0.5},
        [bin_batch(4, (4, 3), True), bin_batch(3, (3, 3), True)])
    run("binary_accuracy_rank1_true", M.BinaryAccuracy(), "BinaryAccuracy", {"threshold": 0.5},
        [{"y_true": f32(r.randint(0, 2, 5)), "y_pred": f32(r.uniform(0, 1, (5, 1))), "sample_weight": sw(5)}])
    # Exact-match accuracy.
    run("accuracy", M.Accuracy(), "Accuracy", {},
        [{"y_true": f32(r.randint(0, 3, (6, 1))), "y_pred": f32(r.randint(0, 3, (6, 1)))},
         {"y_true": f32(r.randint(0, 3, (4, 1))), "y_pred": f32(r.randint(0, 3, (4, 1))), "sample_weight": sw(4)}])
    # Categorical families.
    k = 5

    def cat_batch(n, with_sw=False, sparse=False, col=False):
        idx = r.randint(0, k, n)
        y = idx.astype(np.int32).reshape(n, 1) if col else (idx.astype(np.int32) if sparse else f32(np.eye(k)[idx]))
        b = {"y_true": y, "y_pred": f32(r.uniform(0, 1, (n, k)))}
        if with_sw:
            b["sample_weight"] = sw(n)
        return b

    run("categorical_accuracy", M.CategoricalAccuracy(), "CategoricalAccuracy", {}, [cat_batch(6), cat_batch(5)])
    run("categorical_accuracy_sw", M.CategoricalAccuracy(), "CategoricalAccuracy", {},
        [cat_batch(6, True), cat_batch(5, True), cat_batch(3)])
    run("sparse_categorical_accuracy", M.SparseCategoricalAccuracy(), "SparseCategoricalAccuracy", {},
        [cat_batch(6, sparse=True), cat_batch(5, sparse=True)])
    run("sparse_categorical_accuracy_sw", M.SparseCategoricalAccuracy(), "SparseCategoricalAccuracy", {},
        [cat_batch(6, True, sparse=True), cat_batch(5, True, sparse=True)])
    run("sparse_categorical_accuracy_col_sw", M.SparseCategoricalAccuracy(), "SparseCategoricalAccuracy", {},
        [cat_batch(6, True, col=True), cat_batch(4, col=True)])
    for kk in [1, 2, 3]:
        run(f"top_k_categorical_accuracy_k{kk}", M.TopKCategoricalAccuracy(k=kk), "TopKCategoricalAccuracy", {"k": kk},
            [cat_batch(6), cat_batch(5, True)])
        run(f"sparse_top_k_categorical_accuracy_k{kk}", M.SparseTopKCategoricalAccuracy(k=kk),
            "SparseTopKCategoricalAccuracy", {"k": kk}, [cat_batch(6, sparse=True), cat_batch(5, True, sparse=True)])
    run("sparse_top_k_categorical_accuracy_col", M.SparseTopKCategoricalAccuracy(k=2),
        "SparseTopKCategoricalAccuracy", {"k": 2}, [cat_batch(6, True, col=True), cat_batch(4, col=True)])
    # Ties: Keras ranks a target by how many scores are strictly greater.
    ties = f32([[0.3, 0.3, 0.3, 0.1], [0.5, 0.2, 0.5, 0.2], [0.1, 0.4, 0.4, 0.1]])
    tie_t = np.array([2, 2, 1], dtype=np.int32)
    run("top_k_categorical_accuracy_ties", M.TopKCategoricalAccuracy(k=1), "TopKCategoricalAccuracy", {"k": 1},
        [{"y_true": f32(np.eye(4)[tie_t]), "y_pred": ties}])
    run("sparse_top_k_categorical_accuracy_ties", M.SparseTopKCategoricalAccuracy(k=2),
        "SparseTopKCategoricalAccuracy", {"k": 2}, [{"y_true": tie_t, "y_pred": f32(ties[:, ::-1].copy())}])
    # Mean.
    run("mean", M.Mean(), "Mean", {}, [{"y_pred": f32(r.normal(size=5))}, {"y_pred": f32(r.normal(size=3))}])
    run("mean_sw", M.Mean(), "Mean", {},
        [{"y_pred": f32(r.normal(size=5)), "sample_weight": sw(5)}, {"y_pred": f32(r.normal(size=3)), "sample_weight": sw(3)}])
    run("mean_2d_values_1d_sw", M.Mean(), "Mean", {},
        [{"y_pred": f32(r.normal(size=(4, 3))), "sample_weight": sw(4)}, {"y_pred": f32(r.normal(size=(2, 3)))}])
    run("mean_2d_values_2d_sw", M.Mean(), "Mean", {},
        [{"y_pred": f32(r.normal(size=(4, 3))), "sample_weight": sw((4, 3))}, {"y_pred": f32(r.normal(size=(2, 3)))}])
    run("mean_scalar", M.Mean(), "Mean", {}, [{"y_pred": f32(2.5)}, {"y_pred": f32(-1.0), "sample_weight": f32(3.0)}])

    # Regression metrics.
    def reg_batch(n, d, with_sw=False):
        b = {"y_true": f32(r.normal(size=(n, d))), "y_pred": f32(r.normal(size=(n, d)))}
        if with_sw:
            b["sample_weight"] = sw(n)
        return b

    for cls, kind in [(M.MeanSquaredError, "MeanSquaredError"), (M.MeanAbsoluteError, "MeanAbsoluteError")]:
        short = "mse" if kind == "MeanSquaredError" else "mae"
        run(f"{short}_metric", cls(), kind, {}, [reg_batch(4, 3), reg_batch(3, 3)])
        run(f"{short}_metric_sw", cls(), kind, {}, [reg_batch(4, 3, True), reg_batch(3, 3, True), reg_batch(2, 3)])
    # Losses as metrics.
    run("binary_crossentropy_metric", M.BinaryCrossentropy(), "BinaryCrossentropy", {},
        [bin_batch(4, (4, 2), True), bin_batch(3, (3, 2))])
    run("categorical_crossentropy_metric", M.CategoricalCrossentropy(), "CategoricalCrossentropy", {},
        [cat_batch(4, True), cat_batch(3)])
    run("sparse_categorical_crossentropy_metric", M.SparseCategoricalCrossentropy(), "SparseCategoricalCrossentropy",
        {}, [cat_batch(4, True, sparse=True), cat_batch(3, sparse=True)])

    # Precision / recall.
    def pr_batch(n, with_sw=False, shape=None):
        shape = shape or (n, 1)
        b = {"y_true": f32(r.randint(0, 2, shape)), "y_pred": f32(r.uniform(0, 1, shape))}
        if with_sw:
            b["sample_weight"] = sw(n)
        return b

    for cls, kind in [(M.Precision, "Precision"), (M.Recall, "Recall")]:
        short = kind.lower()
        run(short, cls(), kind, {"thresholds": 0.5}, [pr_batch(8), pr_batch(6)])
        run(f"{short}_sw", cls(), kind, {"thresholds": 0.5}, [pr_batch(8, True), pr_batch(6, True), pr_batch(4)])
        run(f"{short}_t0.3", cls(thresholds=0.3), kind, {"thresholds": 0.3}, [pr_batch(8), pr_batch(6, True)])
        run(f"{short}_multilabel_sw", cls(), kind, {"thresholds": 0.5},
            [pr_batch(4, True, (4, 3)), pr_batch(3, False, (3, 3))])
        run(f"{short}_no_predicted_or_true_positives", cls(), kind, {"thresholds": 0.5},
            [{"y_true": f32([[0], [0], [0]]), "y_pred": f32([[0.1], [0.2], [0.3]])}])
        run(f"{short}_soft_labels", cls(), kind, {"thresholds": 0.5},
            [{"y_true": f32([[0.2], [0.0], [0.7], [1.0]]), "y_pred": f32([[0.6], [0.9], [0.3], [0.8]])}])
        run(f"{short}_rank1", cls(), kind, {"thresholds": 0.5},
            [{"y_true": f32(r.randint(0, 2, 7)), "y_pred": f32(r.uniform(0, 1, 7)), "sample_weight": sw(7)}])
    write("metrics", cases)


# ----------------------------------------------------------------------------- optimizers

S = keras.optimizers.schedules


def make_schedule(spec):
    kind, args = spec["kind"], dict(spec["args"])
    return getattr(S, kind)(**args)


def gen_optimizers():
    cases = []
    r = rng(3)
    O = keras.optimizers
    shapes = [(3, 4), (4,)]
    init = [f32(r.normal(size=s)) for s in shapes]

    def add(name, cls, args, steps=4, schedule=None, grad_scale=1.0):
        kw = dict(args)
        if schedule is not None:
            kw["learning_rate"] = make_schedule(schedule)
        opt = getattr(O, cls)(**kw)
        vs = [keras.Variable(v) for v in init]
        grads = []
        for _ in range(steps):
            g = [f32(r.normal(size=s) * grad_scale) for s in shapes]
            grads.append([T(x) for x in g])
            opt.apply([ops.convert_to_tensor(x) for x in g], vs)
        cases.append(
            {
                "name": name,
                "optimizer": cls,
                "args": args,
                "schedule": schedule,
                "vars": [T(v) for v in init],
                "grads": grads,
                "expected": [T(N(v)) for v in vs],
                "iterations": int(N(opt.iterations)),
            }
        )

    add("sgd_plain", "SGD", {"learning_rate": 0.1})
    add("sgd_momentum", "SGD", {"learning_rate": 0.05, "momentum": 0.9})
    add("sgd_nesterov", "SGD", {"learning_rate": 0.05, "momentum": 0.9, "nesterov": True})
    add("sgd_momentum_clipvalue", "SGD", {"learning_rate": 0.1, "momentum": 0.5, "clipvalue": 0.5})
    add("sgd_clipnorm", "SGD", {"learning_rate": 0.1, "clipnorm": 1.0})
    add("sgd_global_clipnorm", "SGD", {"learning_rate": 0.1, "global_clipnorm": 1.5})
    add("sgd_weight_decay", "SGD", {"learning_rate": 0.1, "weight_decay": 0.05})
    add("sgd_nesterov_weight_decay_clipnorm", "SGD",
        {"learning_rate": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 0.1, "clipnorm": 0.7})
    add("adam_plain", "Adam", {"learning_rate": 0.01}, steps=5)
    add("adam_betas_epsilon", "Adam", {"learning_rate": 0.02, "beta_1": 0.8, "beta_2": 0.95, "epsilon": 1e-3})
    add("adam_amsgrad", "Adam", {"learning_rate": 0.01, "amsgrad": True}, steps=5)
    add("adam_clipnorm", "Adam", {"learning_rate": 0.01, "clipnorm": 1.0})
    add("adam_clipvalue", "Adam", {"learning_rate": 0.01, "clipvalue": 0.3})
    add("adam_global_clipnorm", "Adam", {"learning_rate": 0.01, "global_clipnorm": 1.0})
    add("adam_amsgrad_weight_decay", "Adam", {"learning_rate": 0.01, "amsgrad": True, "weight_decay": 0.1})
    add("adamw_default_decay", "AdamW", {"learning_rate": 0.01}, steps=5)
    add("adamw_decay_clipvalue", "AdamW", {"learning_rate": 0.01, "weight_decay": 0.2, "clipvalue": 0.5})
    add("adamw_amsgrad_global_clipnorm", "AdamW",
        {"learning_rate": 0.005, "weight_decay": 0.05, "amsgrad": True, "global_clipnorm": 2.0})
    add("rmsprop_plain", "RMSprop", {"learning_rate": 0.01}, steps=5)
    add("rmsprop_rho_epsilon", "RMSprop", {"learning_rate": 0.01, "rho": 0.7, "epsilon": 1e-4})
    add("rmsprop_momentum", "RMSprop", {"learning_rate": 0.01, "momentum": 0.5})
    add("rmsprop_centered", "RMSprop", {"learning_rate": 0.01, "centered": True})
    add("rmsprop_centered_momentum_clipnorm", "RMSprop",
        {"learning_rate": 0.01, "momentum": 0.9, "centered": True, "clipnorm": 0.5})
    add("rmsprop_weight_decay_global_clipnorm", "RMSprop",
        {"learning_rate": 0.01, "weight_decay": 0.1, "global_clipnorm": 1.0})
    add("sgd_exponential_decay", "SGD", {"momentum": 0.9}, steps=5,
        schedule={"kind": "ExponentialDecay", "args": {"initial_learning_rate": 0.1, "decay_steps": 2, "decay_rate": 0.5}})
    add("adam_cosine_decay_warmup", "Adam", {}, steps=5,
        schedule={"kind": "CosineDecay",
                  "args": {"initial_learning_rate": 0.0, "decay_steps": 3, "alpha": 0.1, "warmup_target": 0.02,
                           "warmup_steps": 2}})
    add("adamw_piecewise", "AdamW", {"weight_decay": 0.1}, steps=5,
        schedule={"kind": "PiecewiseConstantDecay", "args": {"boundaries": [1, 3], "values": [0.02, 0.01, 0.005]}})
    write("optimizers", cases)


def gen_schedules():
    cases = []
    steps = [0, 1, 2, 3, 5, 7, 10, 11, 15, 20, 25, 30, 100]

    def add(name, kind, args):
        s = getattr(S, kind)(**args)
        cases.append(
            {"name": name, "kind": kind, "args": args, "steps": steps,
             "expected": [float(N(s(ops.convert_to_tensor(st, dtype="int32")))) for st in steps]}
        )

    add("exponential_decay", "ExponentialDecay",
        {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.9})
    add("exponential_decay_staircase", "ExponentialDecay",
        {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.9, "staircase": True})
    add("exponential_decay_growth", "ExponentialDecay",
        {"initial_learning_rate": 0.01, "decay_steps": 4, "decay_rate": 1.5, "staircase": True})
    add("cosine_decay", "CosineDecay", {"initial_learning_rate": 0.1, "decay_steps": 20})
    add("cosine_decay_alpha", "CosineDecay", {"initial_learning_rate": 0.1, "decay_steps": 20, "alpha": 0.1})
    add("cosine_decay_warmup", "CosineDecay",
        {"initial_learning_rate": 0.0, "decay_steps": 20, "alpha": 0.05, "warmup_target": 0.2, "warmup_steps": 5})
    add("cosine_decay_warmup_from_nonzero", "CosineDecay",
        {"initial_learning_rate": 0.01, "decay_steps": 10, "warmup_target": 0.1, "warmup_steps": 10})
    add("piecewise_constant", "PiecewiseConstantDecay", {"boundaries": [5, 10, 20], "values": [1.0, 0.5, 0.1, 0.01]})
    add("piecewise_constant_one_boundary", "PiecewiseConstantDecay", {"boundaries": [3], "values": [0.3, 0.03]})
    add("inverse_time_decay", "InverseTimeDecay", {"initial_learning_rate": 0.1, "decay_steps": 5, "decay_rate": 0.5})
    add("inverse_time_decay_staircase", "InverseTimeDecay",
        {"initial_learning_rate": 0.1, "decay_steps": 5, "decay_rate": 0.5, "staircase": True})
    add("polynomial_decay", "PolynomialDecay",
        {"initial_learning_rate": 0.1, "decay_steps": 20, "end_learning_rate": 0.001})
    add("polynomial_decay_power_cycle", "PolynomialDecay",
        {"initial_learning_rate": 0.1, "decay_steps": 7, "end_learning_rate": 0.01, "power": 2.0, "cycle": True})
    add("cosine_decay_restarts", "CosineDecayRestarts", {"initial_learning_rate": 0.1, "first_decay_steps": 4})
    add("cosine_decay_restarts_args", "CosineDecayRestarts",
        {"initial_learning_rate": 0.1, "first_decay_steps": 3, "t_mul": 1.5, "m_mul": 0.8, "alpha": 0.1})
    write("schedules", cases)


# ----------------------------------------------------------------------------- activations


def gen_activations():
    cases = []
    r = rng(4)
    special = [-6.0, -3.0, -2.5, -1.0, -0.5, -1e-3, 0.0, 1e-3, 0.5, 1.0, 2.5, 3.0, 6.0, 10.0, -10.0, 0.25]
    x = f32(np.concatenate([special, r.normal(size=16) * 3])).reshape(4, 8)
    A = keras.activations
    names = sorted(
        n for n in dir(A)
        if not n.startswith("_") and n not in ("get", "serialize", "deserialize") and callable(getattr(A, n))
    )
    for n in names:
        if n == "threshold":  # keras.activations.threshold has no defaults
            continue
        cases.append({"name": n, "activation": n, "args": {}, "x": T(x), "expected": T(N(getattr(A, n)(x)))})
    variants = [
        ("threshold", {"threshold": 0.5, "default_value": -1.0}),
        ("threshold", {"threshold": -1.0, "default_value": 0.0}),
        ("relu", {"negative_slope": 0.1}),
        ("relu", {"max_value": 2.0}),
        ("relu", {"max_value": 6.0}),
        ("relu", {"threshold": 0.5}),
        ("relu", {"negative_slope": 0.1, "max_value": 3.0, "threshold": 0.5}),
        ("elu", {"alpha": 0.5}),
        ("celu", {"alpha": 2.0}),
        ("gelu", {"approximate": True}),
        ("glu", {"axis": 0}),
        ("leaky_relu", {"negative_slope": 0.05}),
        ("hard_shrink", {"threshold": 1.0}),
        ("soft_shrink", {"threshold": 1.0}),
        ("softmax", {"axis": 0}),
        ("log_softmax", {"axis": 0}),
        ("sparsemax", {"axis": 0}),
        ("squareplus", {"b": 1.0}),
    ]
    for n, args in variants:
        name = n + "_" + "_".join(f"{k}{v}" for k, v in args.items())
        cases.append({"name": name, "activation": n, "args": args, "x": T(x), "expected": T(N(getattr(A, n)(x, **args)))})
    write("activations", cases)


# ----------------------------------------------------------------------------- layers


def gen_layers():
    cases = []
    r = rng(5)
    Ly = keras.layers

    def add(name, layer, cls, args, x, training=False, weights=None, check_weights=False, trainable=True):
        layer.build(x.shape)
        if weights is None:
            weights = [f32(r.normal(size=w.shape) * 0.5) for w in layer.weights]
        if weights:
            layer.set_weights(weights)
        layer.trainable = trainable
        y = layer(x, training=training)
        c = {
            "name": name,
            "layer": cls,
            "args": args,
            "x": T(x),
            "weights": [T(w) for w in weights],
            "training": training,
            "trainable": trainable,
            "expected": T(N(y)),
        }
        if check_weights:
            c["expected_weights"] = [T(N(w)) for w in layer.weights]
        cases.append(c)

    def mk(cls, args, name, x, **kw):
        layer = getattr(Ly, cls)(**args)
        add(name, layer, cls, args, x, **kw)

    xn = lambda *s: f32(r.normal(size=s))  # noqa: E731
    # Dense.
    mk("Dense", {"units": 3}, "dense", xn(2, 4))
    mk("Dense", {"units": 5, "activation": "tanh"}, "dense_tanh", xn(3, 4))
    mk("Dense", {"units": 2, "use_bias": False}, "dense_no_bias", xn(2, 4))
    mk("Dense", {"units": 3, "activation": "relu"}, "dense_3d_input", xn(2, 3, 4))
    # Convolutions.
    mk("Conv1D", {"filters": 3, "kernel_size": 3}, "conv1d_valid", xn(2, 7, 2))
    mk("Conv1D", {"filters": 2, "kernel_size": 3, "padding": "same"}, "conv1d_same", xn(2, 7, 3))
    mk("Conv1D", {"filters": 2, "kernel_size": 2, "strides": 2, "padding": "same"}, "conv1d_same_strides2", xn(1, 7, 3))
    mk("Conv1D", {"filters": 3, "kernel_size": 3, "strides": 2}, "conv1d_valid_strides2", xn(2, 8, 2))
    mk("Conv1D", {"filters": 2, "kernel_size": 3, "dilation_rate": 2}, "conv1d_dilation2", xn(2, 9, 2))
    mk("Conv1D", {"filters": 2, "kernel_size": 3, "dilation_rate": 2, "padding": "same"}, "conv1d_dilation2_same",
       xn(1, 8, 2))
    mk("Conv1D", {"filters": 4, "kernel_size": 2, "groups": 2}, "conv1d_groups2", xn(2, 5, 4))
    mk("Conv1D", {"filters": 2, "kernel_size": 3, "padding": "causal"}, "conv1d_causal", xn(2, 6, 2))
    mk("Conv1D", {"filters": 2, "kernel_size": 2, "padding": "causal", "dilation_rate": 2}, "conv1d_causal_dilation2",
       xn(1, 7, 3))
    mk("Conv1D", {"filters": 3, "kernel_size": 3, "padding": "causal", "strides": 2}, "conv1d_causal_strides2",
       xn(1, 7, 2))
    mk("Conv1D", {"filters": 2, "kernel_size": 3, "padding": "causal", "data_format": "channels_first"},
       "conv1d_causal_channels_first", xn(1, 2, 5))
    mk("Conv1D", {"filters": 3, "kernel_size": 3, "activation": "relu", "use_bias": False}, "conv1d_relu_no_bias",
       xn(2, 6, 2))
    mk("Conv2D", {"filters": 3, "kernel_size": 3}, "conv2d_valid", xn(2, 5, 6, 2))
    mk("Conv2D", {"filters": 2, "kernel_size": 3, "padding": "same"}, "conv2d_same", xn(1, 5, 5, 3))
    mk("Conv2D", {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same"}, "conv2d_same_strides2",
       xn(1, 6, 7, 2))
    mk("Conv2D", {"filters": 2, "kernel_size": [2, 3], "strides": [1, 2]}, "conv2d_rect_kernel_strides",
       xn(2, 5, 7, 2))
    mk("Conv2D", {"filters": 2, "kernel_size": 2, "dilation_rate": 2}, "conv2d_dilation2", xn(1, 6, 6, 2))
    mk("Conv2D", {"filters": 2, "kernel_size": 3, "dilation_rate": [2, 1], "padding": "same"},
       "conv2d_dilation21_same", xn(1, 6, 5, 2))
    mk("Conv2D", {"filters": 6, "kernel_size": 2, "groups": 3}, "conv2d_groups3", xn(2, 4, 4, 3))
    mk("Conv2D", {"filters": 4, "kernel_size": 3, "groups": 2, "padding": "same", "strides": 2},
       "conv2d_groups2_same_strides2", xn(1, 5, 5, 4))
    mk("Conv2D", {"filters": 2, "kernel_size": 3, "data_format": "channels_first"}, "conv2d_channels_first",
       xn(2, 3, 5, 5))
    mk("Conv3D", {"filters": 2, "kernel_size": 2}, "conv3d_valid", xn(1, 4, 4, 3, 2))
    mk("Conv3D", {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same"}, "conv3d_same_strides2",
       xn(1, 5, 4, 4, 2))
    mk("Conv3D", {"filters": 2, "kernel_size": 2, "dilation_rate": 2}, "conv3d_dilation2", xn(1, 5, 5, 5, 1))
    mk("Conv3D", {"filters": 4, "kernel_size": 2, "groups": 2}, "conv3d_groups2", xn(1, 3, 3, 3, 4))
    mk("Conv3D", {"filters": 2, "kernel_size": [2, 1, 2], "data_format": "channels_first"},
       "conv3d_channels_first", xn(1, 2, 3, 3, 3))
    mk("Conv1D", {"filters": 2, "kernel_size": 2, "data_format": "channels_first", "strides": 2},
       "conv1d_channels_first_strides2", xn(2, 3, 7))
    # Pooling.
    for cls in ["MaxPooling1D", "AveragePooling1D"]:
        s = cls[:3].lower()
        mk(cls, {"pool_size": 2}, f"{s}pool1d_valid", xn(2, 7, 3))
        mk(cls, {"pool_size": 3, "strides": 2, "padding": "same"}, f"{s}pool1d_same_strides2", xn(2, 8, 2))
        mk(cls, {"pool_size": 2, "padding": "same"}, f"{s}pool1d_same", xn(1, 7, 2))
        mk(cls, {"pool_size": 3, "strides": 1}, f"{s}pool1d_strides1", xn(1, 6, 2))
        mk(cls, {"pool_size": 2, "padding": "same", "data_format": "channels_first"}, f"{s}pool1d_channels_first",
           xn(1, 2, 5))
    for cls in ["MaxPooling2D", "AveragePooling2D"]:
        s = cls[:3].lower()
        mk(cls, {"pool_size": 2}, f"{s}pool2d_valid", xn(2, 5, 6, 2))
        mk(cls, {"pool_size": 3, "strides": 2, "padding": "same"}, f"{s}pool2d_same_strides2", xn(1, 7, 6, 2))
        mk(cls, {"pool_size": [2, 3], "padding": "same"}, f"{s}pool2d_rect_same", xn(1, 5, 7, 1))
        mk(cls, {"pool_size": 2, "strides": 1}, f"{s}pool2d_strides1", xn(1, 4, 4, 2))
        mk(cls, {"pool_size": 2, "data_format": "channels_first"}, f"{s}pool2d_channels_first", xn(1, 2, 4, 5))
    for cls in ["GlobalAveragePooling1D", "GlobalMaxPooling1D"]:
        mk(cls, {}, cls.lower(), xn(2, 5, 3))
        mk(cls, {"keepdims": True}, cls.lower() + "_keepdims", xn(2, 5, 3))
        mk(cls, {"data_format": "channels_first"}, cls.lower() + "_channels_first", xn(2, 3, 5))
    for cls in ["GlobalAveragePooling2D", "GlobalMaxPooling2D"]:
        mk(cls, {}, cls.lower(), xn(2, 4, 5, 3))
        mk(cls, {"keepdims": True}, cls.lower() + "_keepdims", xn(2, 4, 5, 3))
        mk(cls, {"data_format": "channels_first"}, cls.lower() + "_channels_first", xn(2, 3, 4, 5))

    # Normalization (BatchNormalization weights: gamma, beta, moving_mean, moving_variance).
    def bn_weights(d):
        return [f32(r.uniform(0.5, 1.5, d)), f32(r.normal(size=d) * 0.3), f32(r.normal(size=d) * 0.5),
                f32(r.uniform(0.5, 2.0, d))]

    x = xn(6, 3) * 2 + 1
    for training in [True, False]:
        tag = "training" if training else "inference"
        mk("BatchNormalization", {}, f"batchnorm_2d_{tag}", x, training=training, weights=bn_weights(3),
           check_weights=True)
        mk("BatchNormalization", {"momentum": 0.9, "epsilon": 0.01}, f"batchnorm_4d_{tag}", xn(2, 3, 3, 2) + 0.5,
           training=training, weights=bn_weights(2), check_weights=True)
        mk("BatchNormalization", {"axis": 1}, f"batchnorm_axis1_{tag}", xn(3, 4, 2), training=training,
           weights=bn_weights(4), check_weights=True)
        mk("BatchNormalization", {"center": False, "scale": False, "momentum": 0.5}, f"batchnorm_no_affine_{tag}",
           xn(5, 3), training=training, weights=bn_weights(3)[2:], check_weights=True)
    # A frozen BatchNormalization runs in inference mode even when training.
    mk("BatchNormalization", {}, "batchnorm_frozen_training", xn(5, 3) * 2 + 1, training=True,
       weights=bn_weights(3), check_weights=True, trainable=False)
    mk("LayerNormalization", {}, "layernorm", xn(3, 5) * 3 + 1,
       weights=[f32(r.uniform(0.5, 1.5, 5)), f32(r.normal(size=5))])
    mk("LayerNormalization", {"axis": [1, 2], "epsilon": 0.1}, "layernorm_axes12", xn(2, 3, 4),
       weights=[f32(r.uniform(0.5, 1.5, (3, 4))), f32(r.normal(size=(3, 4)))])
    mk("LayerNormalization", {"axis": 1, "center": False}, "layernorm_axis1_no_center", xn(2, 3, 4),
       weights=[f32(r.uniform(0.5, 1.5, 3))])
    # Embedding.
    mk("Embedding", {"input_dim": 6, "output_dim": 4}, "embedding", r.randint(0, 6, (2, 3)).astype(np.int32))
    # Shape and element-wise layers.
    mk("Rescaling", {"scale": 0.5, "offset": 0.25}, "rescaling", xn(2, 3))
    mk("Rescaling", {"scale": 1.0 / 255}, "rescaling_1_255", f32(r.randint(0, 256, (2, 4))))
    mk("Rescaling", {"scale": 1.0 / 127.5, "offset": -1.0}, "rescaling_int_input",
       r.randint(0, 256, (2, 4)).astype(np.int32))
    mk("Softmax", {}, "softmax", xn(2, 5) * 2)
    mk("Softmax", {"axis": 1}, "softmax_axis1", xn(2, 3, 4))
    mk("Softmax", {"axis": [1, 2]}, "softmax_axes12", xn(2, 3, 4))
    xr = f32(np.concatenate([[-2.0, -0.5, 0.0, 0.5, 1.0, 2.0, 6.0, 7.0], r.normal(size=8) * 4])).reshape(2, 8)
    mk("ReLU", {}, "relu", xr)
    mk("ReLU", {"max_value": 6.0}, "relu_max6", xr)
    mk("ReLU", {"max_value": 2.5}, "relu_max2.5", xr)
    mk("ReLU", {"negative_slope": 0.1}, "relu_negative_slope", xr)
    mk("ReLU", {"threshold": 0.5}, "relu_threshold", xr)
    mk("ReLU", {"max_value": 3.0, "negative_slope": 0.2, "threshold": 1.0}, "relu_all_args", xr)
    mk("Flatten", {}, "flatten", xn(2, 3, 2, 2))
    mk("Flatten", {"data_format": "channels_first"}, "flatten_channels_first", xn(2, 3, 2, 2))
    mk("Reshape", {"target_shape": [3, -1]}, "reshape", xn(2, 6, 2))
    mk("Permute", {"dims": [2, 1]}, "permute", xn(2, 3, 4))
    mk("Permute", {"dims": [3, 1, 2]}, "permute_3", xn(2, 2, 3, 4))
    mk("RepeatVector", {"n": 3}, "repeat_vector", xn(2, 4))
    mk("Activation", {"activation": "gelu"}, "activation_gelu", xn(2, 5))
    mk("Activation", {"activation": "softmax"}, "activation_softmax", xn(2, 5))
    mk("Dropout", {"rate": 0.5}, "dropout_inference", xn(2, 5))
    # Seeded dropout in training: the keep mask comes from the Threefry bits of the
    # layer's SeedGenerator(seed) (first key [seed, 0]).
    mk("Dropout", {"rate": 0.3, "seed": 5}, "dropout_training_seed", xn(4, 6), training=True)
    mk("Dropout", {"rate": 0.5, "seed": 9, "noise_shape": [None, 1, 3]}, "dropout_training_noise_shape",
       xn(2, 4, 3), training=True)
    write("layers", cases)


# ----------------------------------------------------------------------------- regularizers, constraints


def gen_regularizers():
    cases = []
    r = rng(6)
    w = f32(r.normal(size=(3, 4)))
    R = keras.regularizers
    C = keras.constraints

    def add(name, kind, args, obj, w):
        cases.append({"name": name, "kind": kind, "args": args, "w": T(w), "expected": T(N(obj(w)))})

    add("l1", "L1", {"l1": 0.01}, R.L1(0.01), w)
    add("l2", "L2", {"l2": 0.02}, R.L2(0.02), w)
    add("l1l2", "L1L2", {"l1": 0.01, "l2": 0.02}, R.L1L2(l1=0.01, l2=0.02), w)
    add("l1l2_l1_only", "L1L2", {"l1": 0.3, "l2": 0.0}, R.L1L2(l1=0.3), w)
    add("l2_conv_kernel", "L2", {"l2": 0.5}, R.L2(0.5), f32(r.normal(size=(2, 2, 3, 2))))
    # Constraints: column norms of w straddle the bounds.
    wc = f32(r.normal(size=(3, 5)) * np.array([0.2, 0.5, 1.0, 2.0, 0.0], dtype=np.float32))
    add("max_norm_axis0", "MaxNorm", {"max_value": 1.0, "axis": 0}, C.MaxNorm(max_value=1.0, axis=0), wc)
    add("max_norm_axis1", "MaxNorm", {"max_value": 1.5, "axis": 1}, C.MaxNorm(max_value=1.5, axis=1), wc)
    add("max_norm_default", "MaxNorm", {"max_value": 2.0, "axis": 0}, C.MaxNorm(), wc)
    add("non_neg", "NonNeg", {}, C.NonNeg(), wc)
    add("unit_norm_axis0", "UnitNorm", {"axis": 0}, C.UnitNorm(axis=0), wc)
    add("unit_norm_axis1", "UnitNorm", {"axis": 1}, C.UnitNorm(axis=1), wc)
    add("min_max_norm", "MinMaxNorm", {"min_value": 0.5, "max_value": 1.0, "rate": 1.0, "axis": 0},
        C.MinMaxNorm(min_value=0.5, max_value=1.0), wc)
    add("min_max_norm_rate", "MinMaxNorm", {"min_value": 0.4, "max_value": 1.2, "rate": 0.7, "axis": 1},
        C.MinMaxNorm(min_value=0.4, max_value=1.2, rate=0.7, axis=1), wc)
    add("max_norm_conv_kernel", "MaxNorm", {"max_value": 1.0, "axis": 2}, C.MaxNorm(max_value=1.0, axis=2),
        f32(r.normal(size=(2, 2, 3, 2))))
    write("regularizers", cases)


# ----------------------------------------------------------------------------- initializers


def gen_initializers():
    cases = []
    I = keras.initializers

    def exact(name, cls, args, shape, check="exact"):
        init = getattr(I, cls)(**args)
        cases.append({"name": name, "check": check, "initializer": cls, "args": args, "shape": list(shape),
                      "expected": T(N(init(shape, dtype="float32")))})

    exact("zeros", "Zeros", {}, (3, 4))
    exact("ones", "Ones", {}, (2, 3, 2))
    exact("constant", "Constant", {"value": 0.7}, (4, 2))
    exact("identity_square", "Identity", {}, (3, 3))
    exact("identity_rect_gain", "Identity", {"gain": 2.0}, (3, 5))
    exact("identity_tall", "Identity", {"gain": 0.5}, (4, 2))
    # Seeded random initializers: Keras on JAX draws from the Threefry key [seed, 0],
    # whose bits ceras reproduces exactly; the floats agree to a few ulps only (XLA
    # fuses multiply-adds into FMAs: the uniform's `u * (max - min) + min` and the
    # erfinv polynomial of the normals).
    seeded = [
        ("RandomNormal", {"mean": 1.0, "stddev": 2.0, "seed": 42}, (5, 4)),
        ("RandomUniform", {"minval": -1.0, "maxval": 2.0, "seed": 7}, (5, 4)),
        ("TruncatedNormal", {"mean": 0.5, "stddev": 0.1, "seed": 3}, (6, 3)),
        ("GlorotUniform", {"seed": 1}, (4, 6)),
        ("GlorotNormal", {"seed": 2}, (3, 3, 2, 4)),
        ("HeUniform", {"seed": 11}, (3, 3, 2, 4)),
        ("HeNormal", {"seed": 12}, (8, 5)),
        ("LecunUniform", {"seed": 13}, (8, 5)),
        ("LecunNormal", {"seed": 14}, (2, 4, 3)),
        ("VarianceScaling", {"scale": 2.0, "mode": "fan_out", "distribution": "untruncated_normal", "seed": 15},
         (4, 6)),
        ("VarianceScaling", {"scale": 0.5, "mode": "fan_avg", "distribution": "uniform", "seed": 16}, (3, 2, 5)),
        ("VarianceScaling", {"scale": 3.0, "mode": "fan_in", "distribution": "truncated_normal", "seed": 17}, (7,)),
    ]
    for i, (cls, args, shape) in enumerate(seeded):
        exact(f"seeded_{cls.lower()}_{i}", cls, args, shape, check="seeded")
    # Statistics of unseeded draws (big shape): ceras's own sample is compared with Keras's.
    # Unseeded initializers draw from Keras's global generator: fix it so that the
    # fixture is reproducible.
    keras.utils.set_random_seed(1234)
    stats = [
        ("RandomNormal", {"mean": 0.3, "stddev": 0.7}, (200, 150)),
        ("RandomUniform", {"minval": -0.2, "maxval": 0.6}, (200, 150)),
        ("TruncatedNormal", {"mean": -0.1, "stddev": 0.4}, (200, 150)),
        ("GlorotUniform", {}, (200, 150)),
        ("GlorotNormal", {}, (200, 150)),
        ("HeUniform", {}, (3, 3, 40, 64)),
        ("HeNormal", {}, (3, 3, 40, 64)),
        ("LecunUniform", {}, (300, 100)),
        ("LecunNormal", {}, (300, 100)),
        ("VarianceScaling", {"scale": 2.0, "mode": "fan_out", "distribution": "untruncated_normal"}, (100, 300)),
    ]
    def bounds(init, shape):
        """The support of a bounded initializer (None for an untruncated normal)."""
        if isinstance(init, I.RandomUniform):
            return [init.minval, init.maxval]
        if isinstance(init, I.TruncatedNormal):
            return [init.mean - 2 * init.stddev, init.mean + 2 * init.stddev]
        if isinstance(init, I.VarianceScaling):
            fan_in, fan_out = compute_fans(shape)
            fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[init.mode]
            scale = init.scale / max(1.0, fan)
            if init.distribution == "uniform":
                lim = float(np.sqrt(3.0 * scale))
            elif init.distribution == "truncated_normal":
                lim = float(2 * np.sqrt(scale) / 0.87962566103423978)
            else:
                return None
            return [-lim, lim]
        return None

    for cls, args, shape in stats:
        init = getattr(I, cls)(**args)
        v = N(init(shape, dtype="float32")).astype(np.float64)
        cases.append({"name": f"stats_{cls.lower()}_{'_'.join(map(str, shape))}", "check": "stats",
                      "initializer": cls, "args": args, "shape": list(shape), "bounds": bounds(init, shape),
                      "stats": {"mean": float(v.mean()), "std": float(v.std()), "min": float(v.min()),
                                "max": float(v.max())}})
    for shape in [(), (5,), (3, 4), (3, 3, 2, 4), (2, 3, 4, 5, 6)]:
        fi, fo = compute_fans(shape)
        cases.append({"name": f"fans_{'x'.join(map(str, shape)) or 'scalar'}", "check": "fans",
                      "shape": list(shape), "fan_in": fi, "fan_out": fo})
    write("initializers", cases)


if __name__ == "__main__":
    gen_losses()
    gen_metrics()
    gen_optimizers()
    gen_schedules()
    gen_activations()
    gen_layers()
    gen_regularizers()
    gen_initializers()
