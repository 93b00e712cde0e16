"""Golden fixtures for tests/layers_extra.rs: EinsumDense, Conv{1,2,3}DTranspose,
DepthwiseConv{1,2}D and SeparableConv{1,2}D computed by real Keras.

From scratch (CI does not need Python; the fixtures are committed):

    python3 -m venv /tmp/kvenv
    /tmp/kvenv/bin/pip install keras==3.15.1 jax numpy
    KERAS_BACKEND=jax /tmp/kvenv/bin/python tools/keras_golden_layers_extra.py

It writes tests/golden/layers_extra/{einsum_dense,conv_transpose,depthwise_conv,
separable_conv}.json. Each file is a list of cases:

    {"name", "layer" (Keras class name), "args" (constructor arguments, Keras names),
     "input": {"shape", "data"}, "weights": [{"name", "shape", "data"}] (in Keras's
     order, set on the Keras layer before the call), "output": {"shape", "data"},
     "symbolic_output_shape" (Keras's compute_output_shape with a None batch),
     "config" (Keras's get_config())}

Inputs and weights are small dyadic rationals (k/8), so every product and sum in a
convolution or einsum is exact in float32 and the expected outputs do not depend on
the order of summation; only the `tanh` cases round.
"""
import json
import os
import tempfile

os.environ.setdefault("KERAS_BACKEND", "jax")
# Importing keras writes keras.json into KERAS_HOME (default ~/.keras), which ceras
# also reads: keep it in a throwaway directory.
os.environ.setdefault("KERAS_HOME", tempfile.mkdtemp())

import keras  # noqa: E402
import numpy as np  # noqa: E402

assert keras.__version__ == "3.15.1", keras.__version__
assert keras.backend.backend() == "jax"

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden", "layers_extra")
rng = np.random.default_rng(20260523)


def dyadic(shape, lo, hi):
    """float32 values k/8 with k in [lo, hi]."""
    return (rng.integers(lo, hi + 1, size=shape) / 8.0).astype("float32")


def flat(a):
    return [float(v) for v in np.asarray(a, dtype="float32").reshape(-1)]


def jsonable(v):
    if isinstance(v, tuple):
        return [jsonable(x) for x in v]
    if isinstance(v, list):
        return [jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: jsonable(x) for k, x in v.items()}
    return v


def case(name, cls, args, input_shape):
    layer = getattr(keras.layers, cls)(**args)
    x = dyadic(input_shape, -16, 16)
    layer.build(input_shape)
    weights = []
    for w in layer.weights:
        vals = dyadic(tuple(w.shape), -8, 8)
        w.assign(vals)
        weights.append({"name": w.name, "shape": list(w.shape), "data": flat(vals)})
    y = np.asarray(layer(x))
    sym = layer.compute_output_shape((None,) + tuple(input_shape[1:]))
    return {
        "name": name,
        "layer": cls,
        "args": jsonable(args),
        "input": {"shape": list(x.shape), "data": flat(x)},
        "weights": weights,
        "output": {"shape": list(y.shape), "data": flat(y)},
        "symbolic_output_shape": jsonable(list(sym)),
        "config": jsonable(layer.get_config()),
    }


def einsum_cases():
    E = "EinsumDense"
    return [
        case("ab_bc_ac_bias", E, dict(equation="ab,bc->ac", output_shape=4, bias_axes="c"), (3, 5)),
        case("ab_bc_ac_nobias_relu", E, dict(equation="ab,bc->ac", output_shape=4, activation="relu"), (3, 5)),
        case("ab_cb_ac_kernel_order", E, dict(equation="ab,cb->ac", output_shape=4, bias_axes="c"), (3, 5)),
        case("abc_cd_abd", E, dict(equation="abc,cd->abd", output_shape=(None, 4), bias_axes="d"), (2, 3, 5)),
        case("abc_cde_abde", E, dict(equation="abc,cde->abde", output_shape=(None, 2, 3), bias_axes="de"), (2, 3, 4)),
        case("abc_cde_abde_bias_be", E, dict(equation="abc,cde->abde", output_shape=(3, 2, 3), bias_axes="be"), (2, 3, 4)),
        case("abc_bcd_ad_two_contractions", E, dict(equation="abc,bcd->ad", output_shape=5, bias_axes="d"), (2, 3, 4)),
        case("abc_cd_abd_bias_b", E, dict(equation="abc,cd->abd", output_shape=(3, 4), bias_axes="b"), (2, 3, 5)),
        case("left_ellipsis_rank3", E, dict(equation="...b,bc->...c", output_shape=4, bias_axes="c"), (2, 3, 5)),
        case("left_ellipsis_rank4", E, dict(equation="...b,bc->...c", output_shape=4, bias_axes="c"), (2, 3, 2, 5)),
        case("right_ellipsis", E, dict(equation="abc...,cd->abd...", output_shape=(None, 4), bias_axes="d"), (2, 3, 5, 2)),
        case("abc_cd_abd_tanh", E, dict(equation="abc,cd->abd", output_shape=(None, 4), bias_axes="d", activation="tanh"), (2, 3, 5)),
    ]


def conv_transpose_cases():
    T = "Conv2DTranspose"
    cl = "channels_last"
    return [
        case("k3_s1_valid", T, dict(filters=3, kernel_size=3, data_format=cl), (2, 4, 4, 2)),
        case("k3_s2_same", T, dict(filters=3, kernel_size=3, strides=2, padding="same", data_format=cl), (2, 4, 4, 2)),
        case("k3_s2_valid", T, dict(filters=3, kernel_size=3, strides=2, padding="valid", data_format=cl), (2, 3, 4, 2)),
        case("k4_s2_same_even_kernel", T, dict(filters=2, kernel_size=4, strides=2, padding="same", data_format=cl), (1, 3, 3, 2)),
        case("k2_s3_valid_kernel_lt_stride", T, dict(filters=2, kernel_size=2, strides=3, data_format=cl), (1, 3, 2, 2)),
        case("k32_s23_same_output_padding", T, dict(filters=2, kernel_size=(3, 2), strides=(2, 3), padding="same", output_padding=(1, 2), data_format=cl), (1, 3, 3, 2)),
        case("k3_s2_valid_output_padding", T, dict(filters=2, kernel_size=3, strides=2, padding="valid", output_padding=1, data_format=cl), (1, 3, 3, 2)),
        case("k3_s2_same_output_padding0", T, dict(filters=2, kernel_size=3, strides=2, padding="same", output_padding=0, data_format=cl), (1, 3, 3, 2)),
        case("k3_dilation2_same", T, dict(filters=2, kernel_size=3, dilation_rate=2, padding="same", data_format=cl), (1, 5, 5, 2)),
        case("k3_dilation21_valid", T, dict(filters=2, kernel_size=3, dilation_rate=(2, 1), data_format=cl), (1, 3, 4, 2)),
        case("channels_first_s2_same", T, dict(filters=3, kernel_size=3, strides=2, padding="same", data_format="channels_first"), (2, 2, 3, 4)),
        case("no_bias_relu", T, dict(filters=3, kernel_size=2, strides=2, use_bias=False, activation="relu", data_format=cl), (2, 3, 3, 2)),
        case("tanh", T, dict(filters=2, kernel_size=3, strides=2, padding="same", activation="tanh", data_format=cl), (1, 3, 3, 2)),
        case("conv1d_k3_s2_same_op1", "Conv1DTranspose", dict(filters=2, kernel_size=3, strides=2, padding="same", output_padding=1, data_format=cl), (2, 5, 3)),
        case("conv1d_k3_s1_valid_cf", "Conv1DTranspose", dict(filters=2, kernel_size=3, data_format="channels_first"), (2, 3, 5)),
        case("conv3d_k2_s2_valid", "Conv3DTranspose", dict(filters=2, kernel_size=2, strides=2, data_format=cl), (1, 2, 3, 2, 2)),
    ]


def depthwise_cases():
    D = "DepthwiseConv2D"
    cl = "channels_last"
    return [
        case("k3_dm1_valid", D, dict(kernel_size=3, data_format=cl), (2, 5, 5, 3)),
        case("k3_dm2_s2_same", D, dict(kernel_size=3, depth_multiplier=2, strides=2, padding="same", data_format=cl), (2, 5, 5, 3)),
        case("k23_dilation2_valid", D, dict(kernel_size=(2, 3), dilation_rate=2, depth_multiplier=2, data_format=cl), (1, 5, 6, 2)),
        case("k2_s2_dilation2_same", D, dict(kernel_size=2, strides=2, dilation_rate=2, padding="same", data_format=cl), (1, 6, 6, 2)),
        case("channels_first_dm2", D, dict(kernel_size=3, depth_multiplier=2, data_format="channels_first"), (2, 2, 4, 5)),
        case("no_bias_relu", D, dict(kernel_size=2, use_bias=False, activation="relu", data_format=cl), (2, 4, 4, 3)),
        case("conv1d_k3_dm2_s2_same", "DepthwiseConv1D", dict(kernel_size=3, depth_multiplier=2, strides=2, padding="same", data_format=cl), (2, 7, 3)),
    ]


def separable_cases():
    S = "SeparableConv2D"
    cl = "channels_last"
    return [
        case("f4_k3_valid", S, dict(filters=4, kernel_size=3, data_format=cl), (2, 5, 5, 3)),
        case("f2_k3_dm2_s2_same", S, dict(filters=2, kernel_size=3, depth_multiplier=2, strides=2, padding="same", data_format=cl), (2, 5, 5, 3)),
        case("dilation2", S, dict(filters=3, kernel_size=2, dilation_rate=2, data_format=cl), (1, 5, 5, 2)),
        case("channels_first", S, dict(filters=3, kernel_size=3, depth_multiplier=2, padding="same", data_format="channels_first"), (2, 2, 4, 4)),
        case("no_bias_relu", S, dict(filters=2, kernel_size=2, use_bias=False, activation="relu", data_format=cl), (2, 4, 4, 3)),
        case("conv1d_f3_k3_dm2", "SeparableConv1D", dict(filters=3, kernel_size=3, depth_multiplier=2, padding="same", data_format=cl), (2, 6, 2)),
    ]


def main():
    os.makedirs(OUT, exist_ok=True)
    for fname, cases in [
        ("einsum_dense.json", einsum_cases()),
        ("conv_transpose.json", conv_transpose_cases()),
        ("depthwise_conv.json", depthwise_cases()),
        ("separable_conv.json", separable_cases()),
    ]:
        path = os.path.join(OUT, fname)
        with open(path, "w") as f:
            json.dump({"keras_version": keras.__version__, "backend": "jax", "cases": cases}, f, separators=(",", ":"))
            f.write("\n")
        print(f"wrote {os.path.normpath(path)} ({len(cases)} cases)")


if __name__ == "__main__":
    main()
