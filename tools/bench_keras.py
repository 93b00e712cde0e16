"""The workloads of benches/training.rs in Python Keras 3, for a side-by-side
comparison on the same machine.

    python3 -m venv /tmp/kvenv && /tmp/kvenv/bin/pip install keras==3.15.1 jax numpy
    KERAS_BACKEND=jax /tmp/kvenv/bin/python tools/bench_keras.py

Times are medians after warm-up, as in the Rust harness; `train_on_batch` is a
compiled (jit) train step on the JAX backend.
"""
import os
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("KERAS_HOME", tempfile.mkdtemp())  # never write ~/.keras
import keras  # noqa: E402
import numpy as np  # noqa: E402


def median_time(f, warm, reps):
    for _ in range(warm):
        f()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def mlp():
    return keras.Sequential([
        keras.Input((784,)),
        keras.layers.Dense(512, activation="relu"),
        keras.layers.Dense(512, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])


def convnet():
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(32, 3, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(64, 3, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(10, activation="softmax"),
    ])


def bench_model(name, m, sample):
    m.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x = rng.random((128,) + sample, dtype=np.float32)
    y = (np.arange(128) % 10).astype("int32")
    step = median_time(lambda: m.train_on_batch(x, y), 3, 15)
    xp = rng.random((1024,) + sample, dtype=np.float32)
    pred = median_time(lambda: m.predict(xp, batch_size=128, verbose=0), 1, 7)
    print(f"{name:<22} train step (batch 128): {step * 1e3:8.2f} ms   predict: {1024 / pred:9.0f} samples/s")


def bench_overhead():
    m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
    m.compile(keras.optimizers.SGD(0.01), "mse")
    x = np.random.rand(4, 8).astype("float32")
    y = np.random.rand(4, 1).astype("float32")
    t = median_time(lambda: m.train_on_batch(x, y), 50, 501)
    print(f"tiny Dense(1) step      train_on_batch: {t * 1e6:7.1f} us")


if __name__ == "__main__":
    print(f"Python Keras {keras.__version__} ({keras.backend.backend()} backend)")
    bench_model("MLP 784-512-512-10", mlp(), (784,))
    bench_model("mnist_convnet", convnet(), (28, 28, 1))
    bench_overhead()
