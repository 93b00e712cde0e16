//! Moving `tch::Tensor`s in and out of the backend's buffers, for code that mixes
//! ceras and `tch` (ceras's `torch` module builds on these).

use crate::TorchBuffer;
use ceras_core::backend::BufferRef;
use tch::Tensor;

/// A backend buffer sharing storage with `t` (no copy). Gradients recorded by
/// libtorch's autograd on `t` flow through the ops the torch backend runs on it.
pub fn buffer_from_tensor(t: &Tensor) -> BufferRef {
    TorchBuffer::torch(t.shallow_clone())
}

/// The libtorch tensor behind a buffer of the torch backend (shared storage), or
/// `None` when the buffer belongs to another backend or holds `uint16/32/64` host data.
pub fn tensor_of_buffer(b: &BufferRef) -> Option<Tensor> {
    b.as_any().downcast_ref::<TorchBuffer>()?.tensor()
}
