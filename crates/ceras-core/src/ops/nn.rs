//! Neural-network ops: activations, softmax, convolution, pooling, losses, normalization.

use super::*;

/// `max(x, 0)`.
pub fn relu(x: impl IntoTensor) -> Result<Tensor> {
    let x = x.into_tensor()?;
    let z = lax::zeros_like(&x)?;
    lax::binary(BinaryOp::Max, &x, &z)
}

/// Softmax along `axis` (default -1).
pub fn softmax(x: impl IntoTensor, axis: Option<i64>) -> Result<Tensor> {
    let x = x.into_tensor()?;
    let d = float_dtype(&[&x]);
    let x = lax::convert(&x, d)?;
    let ax = axis.unwrap_or(-1);
    let m = lax::stop_gradient(&max(&x, Some(&[ax]), true, None)?)?;
    let e = exp(&subtract(&x, &m)?)?;
    let s = sum(&e, Some(&[ax]), true)?;
    divide(&e, &s)
}
