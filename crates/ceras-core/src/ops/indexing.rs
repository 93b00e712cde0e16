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

/// A contiguous block of `inputs` starting at `start_indices` with the given `shape`
/// (`-1`: to the end of that axis). Starts are clamped so the block fits, as
/// `lax.dynamic_slice` does. The start indices must be concrete.
pub fn slice(
    inputs: impl IntoTensor,
    start_indices: impl IntoTensor,
    shape: &[i64],
) -> Result<Tensor> {
    let x = inputs.into_tensor()?;
    let starts = concrete_i64("slice", &start_indices.into_tensor()?)?;
    let nd = x.ndim();
    if starts.len() != nd || shape.len() != nd {
        return Err(shape_err(
            "slice",
            format!(
                "start_indices {starts:?} and shape {shape:?} must have one entry per axis of a tensor of shape {:?}",
                x.shape()
            ),
        ));
    }
    let mut st = vec![0; nd];
    let mut lim = vec![0; nd];
    for i in 0..nd {
        let dim = x.shape()[i] as i64;
        let size = if shape[i] == -1 {
            dim - starts[i]
        } else {
            shape[i]
        };
        if size < 0 || size > dim {
            return Err(shape_err(
                "slice",
                format!("slice size {size} is invalid for axis {i} of size {dim}"),
            ));
        }
        let s = starts[i].clamp(0, dim - size);
        st[i] = s as usize;
        lim[i] = (s + size) as usize;
    }
    lax::slice(&x, &st, &lim, &vec![1; nd])
}

/// `inputs` with the block starting at `start_indices` replaced by `updates`
/// (cast to `inputs`' dtype). Starts are clamped so the block fits, as
/// `lax.dynamic_update_slice` does. The start indices must be concrete.
pub fn slice_update(
    inputs: impl IntoTensor,
    start_indices: impl IntoTensor,
    updates: impl IntoTensor,
) -> Result<Tensor> {
    let x = inputs.into_tensor()?;
    let starts = concrete_i64("slice_update", &start_indices.into_tensor()?)?;
    let u = lax::convert(&updates.into_tensor()?, x.dtype())?;
    let nd = x.ndim();
    if starts.len() != nd || u.ndim() != nd {
        return Err(shape_err(
            "slice_update",
            format!(
                "start_indices {starts:?} and updates of shape {:?} must match the rank of inputs {:?}",
                u.shape(),
                x.shape()
            ),
        ));
    }
    let mut lo = vec![0i64; nd];
    let mut hi = vec![0i64; nd];
    for i in 0..nd {
        let (dim, size) = (x.shape()[i] as i64, u.shape()[i] as i64);
        if size > dim {
            return Err(shape_err(
                "slice_update",
                format!(
                    "updates of shape {:?} do not fit in inputs of shape {:?}",
                    u.shape(),
                    x.shape()
                ),
            ));
        }
        let s = starts[i].clamp(0, dim - size);
        lo[i] = s;
        hi[i] = dim - s - size;
    }
    let zero = vec![0usize; nd];
    let pu = lax::pad(&u, &lax::scalar(0.0, x.dtype())?, &lo, &hi, &zero)?;
    let ones = lax::full(u.shape(), 1.0, DType::Bool)?;
    let mask = lax::pad(&ones, &lax::scalar(0.0, DType::Bool)?, &lo, &hi, &zero)?;
    lax::select(&mask, &pu, &x)
}

/// Linear indices of the index rows `indices[..., :k]` into the first `k` axes of
/// `shape` (negative indices wrap; out-of-range rows map to `prod(shape[:k])`, which
/// scatter drops). Returns `(flat indices [M], M, k)`.
fn linear_rows(op: &str, indices: &Tensor, shape: &[usize]) -> Result<(Tensor, usize, usize)> {
    if indices.ndim() == 0 {
        return Err(shape_err(op, "indices must have at least one dimension"));
    }
    let k = indices.shape()[indices.ndim() - 1];
    if k > shape.len() {
        return Err(shape_err(
            op,
            format!("index rows of length {k} are longer than the rank of shape {shape:?}"),
        ));
    }
    if indices.dtype().is_float() {
        return Err(crate::error::dtype_err(
            op,
            format!("indices must be integers, got {}", indices.dtype()),
        ));
    }
    let m = indices.size() / k.max(1);
    let idx = lax::reshape(&lax::convert(indices, DType::I64)?, &[m, k])?;
    let total: usize = shape[..k].iter().product();
    let st = strides(&shape[..k]);
    let mut lin = lax::full(&[m], 0.0, DType::I64)?;
    let mut bad = lax::full(&[m], 0.0, DType::Bool)?;
    for (j, &stride) in st.iter().enumerate() {
        let c = lax::reshape(&lax::slice_axis(&idx, 1, j, j + 1)?, &[m])?;
        let dim = shape[j] as f64;
        let zero = lax::zeros_like(&c)?;
        let neg = lax::compare(CmpOp::Lt, &c, &zero)?;
        let c = lax::select(&neg, &lax::add_scalar(&c, dim)?, &c)?;
        let oob = lax::binary(
            BinaryOp::Or,
            &lax::compare(CmpOp::Lt, &c, &zero)?,
            &lax::compare(CmpOp::Ge, &c, &lax::full_like(&c, dim)?)?,
        )?;
        bad = lax::binary(BinaryOp::Or, &bad, &oob)?;
        lin = lax::add(&lin, &lax::mul_scalar(&c, stride as f64)?)?;
    }
    let lin = lax::select(&bad, &lax::full_like(&lin, total as f64)?, &lin)?;
    Ok((lin, m, k))
}

/// A tensor of `shape` with `values` added at `indices` (zeros elsewhere;
/// duplicates accumulate). `indices` has shape `[..., k]`; each row addresses the
/// slice `shape[k:]`, and `values` has shape `indices.shape[:-1] + shape[k:]`.
pub fn scatter(
    indices: impl IntoTensor,
    values: impl IntoTensor,
    shape: &[usize],
) -> Result<Tensor> {
    let v = values.into_tensor()?;
    let zeros = lax::full(shape, 0.0, v.dtype())?;
    scatter_into("scatter", &zeros, &indices.into_tensor()?, &v, Some("add"))
}

fn scatter_into(
    op: &str,
    x: &Tensor,
    indices: &Tensor,
    updates: &Tensor,
    reduction: Option<&str>,
) -> Result<Tensor> {
    let shape = x.shape().to_vec();
    let (lin, m, k) = linear_rows(op, indices, &shape)?;
    let rows: usize = shape[..k].iter().product();
    let mut inner = vec![rows];
    inner.extend(&shape[k..]);
    let mut ushape = vec![m];
    ushape.extend(&shape[k..]);
    let u = lax::convert(updates, x.dtype())?;
    let u = if u.size() == crate::shape::numel(&ushape) {
        lax::reshape(&u, &ushape)?
    } else {
        let b = crate::shape::broadcast_shapes(op, u.shape(), &ushape)?;
        if b != ushape {
            return Err(shape_err(
                op,
                format!(
                    "updates of shape {:?} do not match the indexed shape {ushape:?}",
                    updates.shape()
                ),
            ));
        }
        lax::broadcast_to(&u, &ushape)?
    };
    let xf = lax::reshape(x, &inner)?;
    let out = match reduction {
        None => lax::scatter(&xf, &lin, &u, 0, ScatterMode::Set)?,
        Some("add") => lax::scatter(&xf, &lin, &u, 0, ScatterMode::Add)?,
        Some(r @ ("max" | "min" | "mul")) => {
            // One-hot reduction: [rows, m, ...] masks of which update hits which row.
            let mut ohs = vec![rows, m];
            ohs.extend(&shape[k..]);
            let hit = lax::compare(
                CmpOp::Eq,
                &lax::broadcast_in_dim(&lin, &ohs, &[1])?,
                &lax::iota(&ohs, DType::I64, 0)?,
            )?;
            let ub = lax::broadcast_in_dim(&u, &ohs, &(1..ohs.len()).collect::<Vec<_>>())?;
            let (fill, rop, bop) = match r {
                "max" => (
                    super::math_ext::lowest(x.dtype()),
                    ReduceOp::Max,
                    BinaryOp::Max,
                ),
                "min" => (
                    super::math_ext::highest(x.dtype()),
                    ReduceOp::Min,
                    BinaryOp::Min,
                ),
                _ => (1.0, ReduceOp::Prod, BinaryOp::Mul),
            };
            let (xb, ubc) = if x.dtype() == DType::Bool {
                (
                    lax::convert(&xf, DType::I32)?,
                    lax::convert(&ub, DType::I32)?,
                )
            } else {
                (xf.clone(), ub)
            };
            let masked = lax::select(&hit, &ubc, &lax::full_like(&ubc, fill)?)?;
            let red = lax::reduce(rop, &masked, &[1])?;
            let any_hit = lax::reduce(ReduceOp::Any, &hit, &[1])?;
            let comb = lax::binary(bop, &xb, &red)?;
            let r = lax::select(&any_hit, &comb, &xb)?;
            lax::convert(&r, x.dtype())?
        }
        Some(r) => {
            return Err(arg_err(
                op,
                format!(
                "unsupported reduction {r:?}; expected None, \"add\", \"max\", \"min\" or \"mul\""
            ),
            ))
        }
    };
    lax::reshape(&out, &shape)
}

/// `inputs` with the slices at `indices` (rows of shape `[..., k]`) replaced by
/// `updates` (`reduction = None`; with duplicates the last one wins), or combined
/// with them (`Some("add" | "max" | "min" | "mul")`).
pub fn scatter_update(
    inputs: impl IntoTensor,
    indices: impl IntoTensor,
    updates: impl IntoTensor,
    reduction: Option<&str>,
) -> Result<Tensor> {
    let x = inputs.into_tensor()?;
    scatter_into(
        "scatter_update",
        &x,
        &indices.into_tensor()?,
        &updates.into_tensor()?,
        reduction,
    )
}
