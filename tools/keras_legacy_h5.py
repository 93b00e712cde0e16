"""Writes legacy full-model `.h5` files (the tf.keras 2 layout: `model_config`
and `training_config` attributes, `model_weights/<layer>/...` with
`weight_names`) with Python Keras 3.15's legacy writer, plus inputs and Keras's
predictions, into tests/fixtures/keras/legacy/.

Usage: KERAS_BACKEND=jax python tools/keras_legacy_h5.py
"""

import os

import keras
import numpy as np

out = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "keras", "legacy")
os.makedirs(out, exist_ok=True)
keras.utils.set_random_seed(7)
rng = np.random.RandomState(0)

# Sequential: Dense, BatchNormalization, Conv1D, pooling, compiled and trained.
seq = keras.Sequential(
    [
        keras.Input((8, 3)),
        keras.layers.Conv1D(4, 3, activation="relu", name="conv"),
        keras.layers.BatchNormalization(name="bn"),
        keras.layers.GlobalAveragePooling1D(name="gap"),
        keras.layers.Dense(5, activation="relu", name="d1"),
        keras.layers.Dense(3, activation="softmax", name="out"),
    ],
    name="legacy_seq",
)
seq.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
x = rng.randn(32, 8, 3).astype("float32")
seq.fit(x, np.arange(32) % 3, epochs=2, verbose=0)
seq.save(os.path.join(out, "seq.h5"))
xi = rng.randn(4, 8, 3).astype("float32")
np.save(os.path.join(out, "seq.input.npy"), xi)
np.save(os.path.join(out, "seq.output.npy"), seq.predict(xi, verbose=0))

# Functional: two inputs, an LSTM, a shared Dense, Concatenate, two outputs.
a = keras.Input((5, 4), name="seq_in")
b = keras.Input((6,), name="vec_in")
h = keras.layers.LSTM(7, name="lstm")(a)
shared = keras.layers.Dense(7, activation="tanh", name="shared")
c = keras.layers.Concatenate(name="cat")([shared(h), shared(keras.layers.Dense(7, name="proj")(b))])
o1 = keras.layers.Dense(2, activation="softmax", name="cls")(c)
o2 = keras.layers.Dense(1, name="reg")(c)
func = keras.Model([a, b], [o1, o2], name="legacy_func")
func.save(os.path.join(out, "func.h5"))
xa = rng.randn(3, 5, 4).astype("float32")
xb = rng.randn(3, 6).astype("float32")
np.save(os.path.join(out, "func.input_0.npy"), xa)
np.save(os.path.join(out, "func.input_1.npy"), xb)
ys = func.predict([xa, xb], verbose=0)
for i, y in enumerate(ys):
    np.save(os.path.join(out, f"func.output_{i}.npy"), y)
print("wrote", sorted(os.listdir(out)))
