"""Writes the NumPy-made golden files for the .npy / .npz tests (tests/npy.rs).

    python3 -m venv /tmp/npvenv && /tmp/npvenv/bin/pip install numpy
    /tmp/npvenv/bin/python tools/npy_golden.py

Output goes to crates/ceras-core/tests/data/ (committed; CI does not need Python).
Values: element i of every array is `i` converted to the dtype (bool: i % 2 == 1),
so the Rust test can rebuild the expected tensors.
"""
import os

import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "crates", "ceras-core", "tests", "data")
os.makedirs(OUT, exist_ok=True)


def ramp(dtype, shape):
    n = int(np.prod(shape))
    if np.dtype(dtype) == np.bool_:
        return (np.arange(n) % 2 == 1).reshape(shape)
    return np.arange(n).astype(dtype).reshape(shape)


def path(name):
    return os.path.join(OUT, name)


# The byte-for-byte comparison case.
np.save(path("f32_2x3.npy"), ramp("<f4", (2, 3)))
# 0-d, empty, big-endian, Fortran order.
np.save(path("f64_scalar.npy"), np.array(3.5))
np.save(path("i64_empty_0x3.npy"), np.zeros((0, 3), "<i8"))
np.save(path("i32_be_2x2.npy"), ramp(">i4", (2, 2)))
np.save(path("f64_be_3.npy"), ramp(">f8", (3,)))
np.save(path("f8_fortran_2x3x2.npy"), np.asfortranarray(ramp("<f8", (2, 3, 2))))
# Format versions 2.0 and 3.0.
for v in [(2, 0), (3, 0)]:
    with open(path(f"u16_v{v[0]}.npy"), "wb") as f:
        np.lib.format.write_array(f, ramp("<u2", (4,)), version=v)
# One archive with every dtype, stored and compressed.
dtypes = ["?", "i1", "u1", "<i2", "<u2", "<i4", "<u4", "<i8", "<u8", "<f2", "<f4", "<f8"]
arrays = {np.dtype(d).name: ramp(d, (2, 2)) for d in dtypes}
np.savez(path("all_dtypes.npz"), **arrays)
np.savez_compressed(path("all_dtypes_compressed.npz"), **arrays)
for name in sorted(os.listdir(OUT)):
    print(name, os.path.getsize(path(name)))
