"""Models with masks (Embedding(mask_zero=True) feeding LSTMs and average
pooling), saved as .keras by Python Keras 3.15 with inputs and Keras's
predictions, into tests/fixtures/keras/mask/.

Usage: KERAS_BACKEND=jax python tools/keras_mask_fixture.py
"""

import os

import keras
import numpy as np

out = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "keras", "mask")
os.makedirs(out, exist_ok=True)
keras.utils.set_random_seed(11)
ids = np.array(
    [[3, 7, 1, 0, 0, 0], [0, 0, 5, 9, 2, 4], [8, 0, 6, 0, 11, 0], [1, 2, 3, 4, 5, 6]],
    dtype="int32",
)
L = keras.layers
models = {
    "stacked": keras.Sequential(
        [
            keras.Input((6,), dtype="int32"),
            L.Embedding(20, 4, mask_zero=True),
            L.LSTM(5, return_sequences=True),
            L.LSTM(3),
            L.Dense(2),
        ]
    ),
    "pooled": keras.Sequential(
        [
            keras.Input((6,), dtype="int32"),
            L.Embedding(20, 4, mask_zero=True),
            L.LSTM(5, return_sequences=True, go_backwards=True),
            L.Dropout(0.3),
            L.GlobalAveragePooling1D(),
            L.Dense(1, activation="sigmoid"),
        ]
    ),
}
t = keras.Input((6,), dtype="int32", name="ids")
e = L.Embedding(20, 4, mask_zero=True)(t)
h = L.LSTM(4, return_sequences=True, zero_output_for_mask=True)(e)
h = L.Dense(4, activation="tanh")(h)
o = L.LSTM(2)(h)
models["functional"] = keras.Model(t, o)
for name, m in models.items():
    m.save(os.path.join(out, f"{name}.keras"))
    np.save(os.path.join(out, f"{name}.output.npy"), m.predict(ids, verbose=0))
np.save(os.path.join(out, "input.npy"), ids)
print("wrote", sorted(os.listdir(out)))
