//! Indexing: `take`, `take_along_axis`, `slice`, `scatter`, ...

use super::*;
use crate::dtype::DType;
use crate::error::shape_err;
use crate::shape::{norm_axis, strides};

/// Wraps negative indices (`i < 0` → `i + n`), as Keras does for `take`.
fn wrap_negative(idx: &Tensor, n: usize) -> Result<Tensor> {
    let idx = if idx.dtype().is_int() {
        idx.with_weak(false)
    } else {
        lax::convert(idx, DType::I32)?
    };
    if idx.dtype().is_unsigned_int() {
        return Ok(idx);
    }
    let zero = lax::zeros_like(&idx)?;
    let neg = lax::compare(CmpOp::Lt, &idx, &zero)?;
    lax::select(&neg, &lax::add_scalar(&idx, n as f64)?, &idx)
}

/// Elements of `x` at `indices` along `axis` (None: of the flattened `x`).
pub fn take(x: impl IntoTensor, indices: impl IntoTensor, axis: Option<i64>) -> Result<Tensor> {
    let x = x.into_tensor()?;
    let idx = indices.into_tensor()?;
    let (x, ax) = match axis {
        None => (lax::reshape(&x, &[x.size()])?, 0),
        Some(a) => {
            let ax = norm_axis("take", a, x.ndim())?;
            (x, ax)
        }
    };
    let idx = wrap_negative(&idx, x.shape()[ax])?;
    lax::gather(&x, &idx, ax)
}

/// Linear indices into a flattened tensor of `shape` for `idx` taken along `axis`
/// (the `take_along_axis` pattern); `idx` must broadcast against `shape` except on `axis`.
pub fn flat_index_along_axis(idx: &Tensor, shape: &[usize], axis: usize) -> Result<Tensor> {
    let st = strides(shape);
    let ishape = idx.shape().to_vec();
    let mut flat = lax::mul_scalar(&lax::convert(idx, DType::I64)?, st[axis] as f64)?;
    for (d, &s) in st.iter().enumerate() {
        if d == axis || ishape[d] == 1 && shape[d] != 1 {
            continue;
        }
        let io = lax::iota(&ishape, DType::I64, d)?;
        flat = lax::add(&flat, &lax::mul_scalar(&io, s as f64)?)?;
    }
    Ok(flat)
}

/// `take_along_axis(x, indices, axis)` (NumPy semantics, with broadcasting).
pub fn take_along_axis(
    x: impl IntoTensor,
    indices: impl IntoTensor,
    axis: Option<i64>,
) -> Result<Tensor> {
    let x = x.into_tensor()?;
    let idx = indices.into_tensor()?;
    let (x, ax) = match axis {
        None => (lax::reshape(&x, &[x.size()])?, 0),
        Some(a) => (x.clone(), norm_axis("take_along_axis", a, x.ndim())?),
    };
    if idx.ndim() != x.ndim() {
        return Err(shape_err(
            "take_along_axis",
            format!(
                "indices of rank {} do not match x of rank {}",
                idx.ndim(),
                x.ndim()
            ),
        ));
    }
    // Broadcast x and indices on every axis except `ax`.
    let mut xs = x.shape().to_vec();
    let mut is = idx.shape().to_vec();
    for d in 0..x.ndim() {
        if d == ax {
            continue;
        }
        let b = crate::shape::broadcast_shapes("take_along_axis", &[xs[d]], &[is[d]])?[0];
        xs[d] = b;
        is[d] = b;
    }
    let x = lax::broadcast_to(&x, &xs)?;
    let idx = lax::broadcast_to(&wrap_negative(&idx, xs[ax])?, &is)?;
    // Clamp, then gather from the flattened tensor.
    let n = xs[ax] as f64;
    let idx = lax::convert(&idx, DType::I64)?;
    let idx = lax::binary(BinaryOp::Max, &idx, &lax::zeros_like(&idx)?)?;
    let idx = lax::binary(
        BinaryOp::Min,
        &idx,
        &lax::full_like(&idx, (n - 1.0).max(0.0))?,
    )?;
    let flat = flat_index_along_axis(&idx, &xs, ax)?;
    let xf = lax::reshape(&x, &[x.size()])?;
    lax::gather(&xf, &flat, 0)
}
