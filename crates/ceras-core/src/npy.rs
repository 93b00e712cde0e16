//! `.npy` / `.npz` reading and writing (filled in below).
