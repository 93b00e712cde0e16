"""Golden fixtures for tests/layers_rnn_attn.rs: `LSTM` and `MultiHeadAttention`
computed by real Keras.

From scratch (CI does not need Python; the fixture is committed):

    python3 -m venv /tmp/kvenv
    /tmp/kvenv/bin/pip install keras==3.15.1 jax numpy
    KERAS_BACKEND=jax KERAS_HOME=$(mktemp -d) /tmp/kvenv/bin/python tools/keras_golden_rnn_attn.py

It writes tests/golden/rnn_attn.json:

    {"keras_version", "backend",
     "lstm": [case], "mha": [case], "init": [init case]}

A case is

    {"name", "args" (constructor arguments, Keras names),
     "inputs": [{"shape", "data"}] (LSTM: the sequence, then the initial h and c
       when given; MHA: query, value, then key when given),
     "call" (extra call arguments: training, use_causal_mask,
       "attention_mask": {"shape", "data"} (0/1), return_attention_scores),
     "weights": [{"name", "shape", "data"}] (the layer's `weights`, in order; set
       on the Keras layer before the call),
     "outputs": [{"shape", "data"}] (one, or [output, h, c] with return_state, or
       [output, scores] with return_attention_scores),
     "config" (Keras's get_config() after the call),
     "grads" (some cases: the gradient of sum(outputs[0]) with respect to the
       inputs, then every weight, by jax.grad of `stateless_call`)}

Keras 3.15.1 on JAX fails for value_dim != key_dim on its fused attention path
(taken when dropout is 0 and no scores are returned: it reshapes the output to
the query's projected shape), so those cases ask for the attention scores, which
selects the explicit einsum path; the math is the same.

Init cases record the initial weights of layers built with seeded initializers.
The `fixture_*` cases replay the LSTM and MultiHeadAttention layers of the saved
models in /work/shared/fixtures/keras (their trained weights and real inputs).
"""
import json
import os
import tempfile

os.environ.setdefault("KERAS_BACKEND", "jax")
# Importing keras writes keras.json into KERAS_HOME (default ~/.keras), which ceras
# also reads: keep it in a throwaway directory.
os.environ.setdefault("KERAS_HOME", tempfile.mkdtemp())

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

assert keras.__version__ == "3.15.1", keras.__version__
assert keras.backend.backend() == "jax"

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden", "rnn_attn.json")
FIXTURES = "/work/shared/fixtures/keras"
rng = np.random.default_rng(20260524)


def normal(shape, scale):
    return (rng.standard_normal(shape) * scale).astype("float32")


def flat(a):
    # The shortest decimal that round-trips each float32.
    return [float(str(np.float32(v))) for v in np.asarray(a, dtype="float32").reshape(-1)]


def arr(a):
    a = np.asarray(a)
    return {"shape": list(a.shape), "data": flat(a)}


def jsonable(v):
    if isinstance(v, (tuple, list)):
        return [jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: jsonable(x) for k, x in v.items()}
    if isinstance(v, np.generic):
        return v.item()
    return v


def set_weights(layer, scale):
    out = []
    for w in layer.weights:
        vals = normal(tuple(w.shape), scale)
        w.assign(vals)
        out.append({"name": w.name, "shape": list(w.shape), "data": flat(vals)})
    return out


def grads_of(layer, inputs, call_kwargs):
    tv = [jnp.asarray(v.value) for v in layer.trainable_variables]
    ntv = [jnp.asarray(v.value) for v in layer.non_trainable_variables]

    def f(tv, xs):
        y, _ = layer.stateless_call(tv, ntv, *xs, **call_kwargs)
        if isinstance(y, (list, tuple)):
            y = y[0]
        return jnp.sum(y)

    gw, gx = jax.grad(f, argnums=(0, 1))(tv, [jnp.asarray(x) for x in inputs])
    return [arr(g) for g in gx] + [arr(g) for g in gw]


# ------------------------------------------------------------------ LSTM


def lstm_case(name, args, shape, initial_state=False, training=False, grads=False, scale=0.5):
    layer = keras.layers.LSTM(**args)
    x = normal(shape, 1.0)
    layer.build(shape)
    weights = set_weights(layer, scale)
    inputs = [x]
    kwargs = {"training": training}
    if initial_state:
        h0 = normal((shape[0], args["units"]), 0.5)
        c0 = normal((shape[0], args["units"]), 0.5)
        inputs += [h0, c0]
        y = layer(x, initial_state=[h0, c0], **kwargs)
    else:
        y = layer(x, **kwargs)
    ys = list(y) if isinstance(y, (list, tuple)) else [y]
    case = {
        "name": name,
        "args": jsonable(args),
        "inputs": [arr(a) for a in inputs],
        "call": {"training": training},
        "weights": weights,
        "outputs": [arr(v) for v in ys],
        "config": jsonable(layer.get_config()),
    }
    if grads:
        assert not initial_state and not training
        case["grads"] = grads_of(layer, inputs, {})
    return case


def lstm_cases():
    return [
        lstm_case("last", dict(units=4), (2, 5, 3), grads=True),
        lstm_case("sequences", dict(units=4, return_sequences=True), (2, 5, 3), grads=True),
        lstm_case("backwards_last", dict(units=3, go_backwards=True), (2, 4, 3)),
        lstm_case("backwards_sequences", dict(units=3, go_backwards=True, return_sequences=True), (3, 4, 2)),
        lstm_case(
            "relu_hard_sigmoid",
            dict(units=4, activation="relu", recurrent_activation="hard_sigmoid", return_sequences=True),
            (2, 4, 3),
        ),
        lstm_case("no_bias_linear", dict(units=3, activation="linear", use_bias=False), (2, 4, 2)),
        lstm_case("return_state", dict(units=3, return_state=True), (2, 4, 3)),
        lstm_case(
            "return_state_sequences_backwards",
            dict(units=3, return_state=True, return_sequences=True, go_backwards=True),
            (2, 4, 3),
        ),
        lstm_case("initial_state", dict(units=3, return_sequences=True), (2, 4, 3), initial_state=True),
        lstm_case("one_step", dict(units=2), (1, 1, 3)),
        lstm_case("unroll", dict(units=3, unroll=True, return_sequences=True), (2, 3, 2)),
        lstm_case("dropout_training", dict(units=3, dropout=0.4, seed=11, return_sequences=True), (2, 4, 3), training=True),
        lstm_case("dropout_inference", dict(units=3, dropout=0.4, recurrent_dropout=0.3, seed=11), (2, 4, 3)),
        lstm_case(
            "recurrent_dropout_training",
            dict(units=3, dropout=0.25, recurrent_dropout=0.5, seed=5, return_sequences=True),
            (2, 4, 3),
            training=True,
        ),
        lstm_case(
            "recurrent_dropout_only_training",
            dict(units=3, recurrent_dropout=0.5, seed=9, return_sequences=True),
            (2, 4, 3),
            training=True,
        ),
        lstm_fixture(),
    ]


def lstm_fixture():
    model = keras.saving.load_model(os.path.join(FIXTURES, "lstm.keras"))
    tokens = np.load(os.path.join(FIXTURES, "lstm.input.npy"))
    emb = model.get_layer("embedding")
    layer = model.get_layer("lstm")
    x = np.asarray(emb(tokens))[:4]
    y = layer(x)
    return {
        "name": "fixture_lstm",
        "args": {"units": layer.units},
        "inputs": [arr(x)],
        "call": {"training": False},
        "weights": [{"name": w.name, "shape": list(w.shape), "data": flat(w.value)} for w in layer.weights],
        "outputs": [arr(y)],
        "config": jsonable(layer.get_config()),
    }


# ------------------------------------------------------------------ MultiHeadAttention


def mha_case(
    name,
    args,
    q_shape,
    v_shape,
    k_shape=None,
    training=False,
    mask_shape=None,
    causal=False,
    scores=False,
    grads=False,
):
    layer = keras.layers.MultiHeadAttention(**args)
    q = normal(q_shape, 1.0)
    v = normal(v_shape, 1.0)
    inputs = [q, v]
    if k_shape is not None:
        inputs.append(normal(k_shape, 1.0))
        layer.build(q_shape, v_shape, k_shape)
    else:
        layer.build(q_shape, v_shape)
    weights = set_weights(layer, 0.4)
    call = {"training": training}
    kwargs = {"training": training}
    if mask_shape is not None:
        mask = (rng.random(mask_shape) < 0.7).astype("float32")
        mask[..., 0] = 1.0  # no fully masked row
        kwargs["attention_mask"] = mask
        call["attention_mask"] = arr(mask)
    if causal:
        kwargs["use_causal_mask"] = True
        call["use_causal_mask"] = True
    if scores:
        kwargs["return_attention_scores"] = True
        call["return_attention_scores"] = True
    y = layer(q, v, inputs[2] if k_shape is not None else None, **kwargs)
    ys = list(y) if isinstance(y, (list, tuple)) else [y]
    case = {
        "name": name,
        "args": jsonable(args),
        "inputs": [arr(a) for a in inputs],
        "call": call,
        "weights": weights,
        "outputs": [arr(t) for t in ys],
        "config": jsonable(layer.get_config()),
    }
    if grads:
        assert not training and mask_shape is None
        gk = {k: v for k, v in kwargs.items() if k in ("use_causal_mask", "return_attention_scores")}
        case["grads"] = grads_of(layer, inputs, gk)
    return case


def mha_cases():
    return [
        mha_case("self_attention", dict(num_heads=2, key_dim=3), (2, 4, 5), (2, 4, 5), grads=True),
        mha_case(
            "cross_attention_value_dim_output_shape",
            dict(num_heads=2, key_dim=3, value_dim=2, output_shape=7),
            (2, 3, 5),
            (2, 6, 4),
            scores=True,
            grads=True,
        ),
        mha_case("separate_key", dict(num_heads=3, key_dim=2, value_dim=4), (2, 3, 5), (2, 4, 6), (2, 4, 3), scores=True),
        mha_case("no_bias", dict(num_heads=2, key_dim=4, use_bias=False), (1, 3, 4), (1, 5, 3)),
        mha_case("output_shape_2d", dict(num_heads=2, key_dim=2, output_shape=(2, 3)), (2, 3, 4), (2, 3, 4)),
        mha_case("one_head", dict(num_heads=1, key_dim=5), (2, 2, 3), (2, 3, 3)),
        mha_case("attention_mask_scores", dict(num_heads=2, key_dim=3), (2, 4, 5), (2, 5, 3), mask_shape=(2, 4, 5), scores=True),
        mha_case("causal", dict(num_heads=2, key_dim=3), (2, 4, 5), (2, 4, 5), causal=True, grads=True),
        mha_case("causal_with_mask", dict(num_heads=2, key_dim=2), (2, 4, 3), (2, 4, 3), mask_shape=(2, 4, 4), causal=True, scores=True),
        mha_case("sliding_window", dict(num_heads=2, key_dim=3, sliding_window=2), (2, 5, 4), (2, 5, 4), scores=True),
        mha_case("use_gate", dict(num_heads=2, key_dim=3, value_dim=2, use_gate=True), (2, 3, 4), (2, 4, 5), scores=True),
        mha_case("dropout_training", dict(num_heads=2, key_dim=3, dropout=0.5, seed=3), (2, 4, 5), (2, 3, 5), training=True, scores=True),
        mha_case("dropout_inference", dict(num_heads=2, key_dim=3, dropout=0.5, seed=3), (2, 4, 5), (2, 3, 5)),
        mha_case("attention_axes_1", dict(num_heads=2, key_dim=3, attention_axes=1), (2, 3, 4), (2, 3, 4)),
        mha_fixture(),
    ]


def mha_fixture():
    model = keras.saving.load_model(os.path.join(FIXTURES, "mha.keras"))
    x = np.load(os.path.join(FIXTURES, "mha.input.npy"))[:3]
    layer = model.get_layer("mha")
    y = layer(x, x)
    return {
        "name": "fixture_mha",
        "args": {"num_heads": layer.num_heads, "key_dim": layer.key_dim},
        "inputs": [arr(x), arr(x)],
        "call": {"training": False},
        "weights": [{"name": w.name, "shape": list(w.shape), "data": flat(w.value)} for w in layer.weights],
        "outputs": [arr(y)],
        "config": jsonable(layer.get_config()),
    }


# ------------------------------------------------------------------ seeded initial weights


def init_cases():
    lstm = keras.layers.LSTM(
        3,
        kernel_initializer=keras.initializers.GlorotUniform(seed=1),
        recurrent_initializer=keras.initializers.Orthogonal(seed=2),
    )
    lstm.build((2, 4, 5))
    lstm_tall = keras.layers.LSTM(
        2,
        unit_forget_bias=False,
        bias_initializer=keras.initializers.RandomNormal(seed=4),
        recurrent_initializer=keras.initializers.Orthogonal(gain=0.5, seed=3),
    )
    lstm_tall.build((1, 2, 3))
    mha = keras.layers.MultiHeadAttention(2, 3, kernel_initializer=keras.initializers.GlorotUniform(seed=6))
    mha.build((2, 4, 5), (2, 4, 5))

    def rec(name, layer, shape):
        return {
            "name": name,
            "input_shape": list(shape),
            "weights": [{"name": w.name, "shape": list(w.shape), "data": flat(w.value)} for w in layer.weights],
        }

    return [
        rec("lstm_glorot1_orthogonal2", lstm, (2, 4, 5)),
        rec("lstm_orthogonal_gain_no_forget_bias", lstm_tall, (1, 2, 3)),
        rec("mha_glorot6", mha, (2, 4, 5)),
    ]


def main():
    doc = {
        "keras_version": keras.__version__,
        "backend": "jax",
        "lstm": lstm_cases(),
        "mha": mha_cases(),
        "init": init_cases(),
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {os.path.normpath(OUT)} ({os.path.getsize(OUT)} bytes)")


if __name__ == "__main__":
    main()
