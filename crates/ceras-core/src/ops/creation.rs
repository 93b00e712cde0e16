//! Tensor creation: `zeros`, `ones`, `full`, `arange`, `eye`, ...

use super::*;
use crate::dtype::DType;

/// A tensor of `shape` filled with `value` (dtype: given, else from the value).
pub fn full(shape: &[usize], value: impl IntoTensor, dtype: Option<DType>) -> Result<Tensor> {
    let v = value.into_tensor()?;
    let d = match dtype {
        Some(d) => d,
        None if v.is_weak() && v.dtype().is_float() => config::floatx(),
        None if v.is_weak() && v.dtype().is_int() => DType::I32,
        None => v.dtype(),
    };
    let v = lax::convert(&v, d)?;
    lax::broadcast_to(&v, shape)
}

/// Zeros (`floatx` by default).
pub fn zeros(shape: &[usize], dtype: Option<DType>) -> Result<Tensor> {
    lax::full(shape, 0.0, dtype.unwrap_or_else(config::floatx))
}
/// Ones (`floatx` by default).
pub fn ones(shape: &[usize], dtype: Option<DType>) -> Result<Tensor> {
    lax::full(shape, 1.0, dtype.unwrap_or_else(config::floatx))
}
/// Zeros with the shape (and dtype, unless given) of `x`.
pub fn zeros_like(x: impl IntoTensor, dtype: Option<DType>) -> Result<Tensor> {
    let x = x.into_tensor()?;
    lax::full(x.shape(), 0.0, dtype.unwrap_or(x.dtype()))
}
/// Ones with the shape (and dtype, unless given) of `x`.
pub fn ones_like(x: impl IntoTensor, dtype: Option<DType>) -> Result<Tensor> {
    let x = x.into_tensor()?;
    lax::full(x.shape(), 1.0, dtype.unwrap_or(x.dtype()))
}
/// `full` with the shape (and dtype, unless given) of `x`.
pub fn full_like(
    x: impl IntoTensor,
    value: impl IntoTensor,
    dtype: Option<DType>,
) -> Result<Tensor> {
    let x = x.into_tensor()?;
    full(x.shape(), value, Some(dtype.unwrap_or(x.dtype())))
}

/// Evenly spaced values in `[start, stop)` with `step`. The dtype follows Keras:
/// float if any bound is a float, else int32, unless given.
pub fn arange(
    start: f64,
    stop: Option<f64>,
    step: Option<f64>,
    dtype: Option<DType>,
) -> Result<Tensor> {
    let (start, stop) = match stop {
        Some(s) => (start, s),
        None => (0.0, start),
    };
    let step = step.unwrap_or(1.0);
    if step == 0.0 {
        return Err(arg_err("arange", "step must not be zero"));
    }
    let all_int = start.fract() == 0.0 && stop.fract() == 0.0 && step.fract() == 0.0;
    let d = dtype.unwrap_or(if all_int {
        DType::I32
    } else {
        config::floatx()
    });
    let n = ((stop - start) / step).ceil().max(0.0) as usize;
    let i = lax::iota(&[n], if d.is_float() { d } else { DType::F64 }, 0)?;
    let v = lax::add_scalar(&lax::mul_scalar(&i, step)?, start)?;
    lax::convert(&v, d)
}

/// Identity-like matrix with ones on diagonal `k`.
pub fn eye(n: usize, m: Option<usize>, k: i64, dtype: Option<DType>) -> Result<Tensor> {
    let m = m.unwrap_or(n);
    let r = lax::iota(&[n, m], DType::I64, 0)?;
    let c = lax::iota(&[n, m], DType::I64, 1)?;
    let diag = lax::compare(CmpOp::Eq, &lax::add_scalar(&r, k as f64)?, &c)?;
    lax::convert(&diag, dtype.unwrap_or_else(config::floatx))
}

/// Alias of [`eye`] for square matrices.
pub fn identity(n: usize, dtype: Option<DType>) -> Result<Tensor> {
    eye(n, None, 0, dtype)
}
