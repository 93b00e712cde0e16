//! Thin, strict wrappers over the primitives (like `jax.lax`): operands must already
//! agree in shape and dtype. `ops` builds NumPy semantics on top of these; VJP rules
//! are written with them.

use crate::dispatch::{apply, apply1};
use crate::dtype::DType;
use crate::error::Result;
use crate::prim::*;
use crate::shape::Shape;
use crate::storage::HostData;
use crate::tensor::Tensor;

/// Unary primitive.
pub fn unary(op: UnaryOp, x: &Tensor) -> Result<Tensor> {
    apply1(&Prim::Unary(op), &[x])
}
/// Binary primitive.
pub fn binary(op: BinaryOp, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    apply1(&Prim::Binary(op), &[a, b])
}
/// Comparison primitive.
pub fn compare(op: CmpOp, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    apply1(&Prim::Compare(op), &[a, b])
}
/// `select(pred, on_true, on_false)`.
pub fn select(p: &Tensor, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    apply1(&Prim::Select, &[p, a, b])
}
/// Dtype conversion (no-op when the dtype already matches).
pub fn convert(x: &Tensor, d: DType) -> Result<Tensor> {
    if x.dtype() == d {
        return Ok(x.with_weak(false));
    }
    apply1(&Prim::Cast(d), &[x])
}
/// `broadcast_in_dim`.
pub fn broadcast_in_dim(x: &Tensor, shape: &[usize], dims: &[usize]) -> Result<Tensor> {
    if x.shape() == shape {
        return Ok(x.clone());
    }
    apply1(
        &Prim::Broadcast {
            shape: shape.to_vec(),
            dims: dims.to_vec(),
        },
        &[x],
    )
}
/// NumPy-style broadcast of `x` to `shape` (trailing alignment).
pub fn broadcast_to(x: &Tensor, shape: &[usize]) -> Result<Tensor> {
    let off = shape.len().saturating_sub(x.ndim());
    let dims: Vec<usize> = (0..x.ndim()).map(|i| i + off).collect();
    broadcast_in_dim(x, shape, &dims)
}
/// Reshape (no-op when equal).
pub fn reshape(x: &Tensor, shape: &[usize]) -> Result<Tensor> {
    if x.shape() == shape {
        return Ok(x.clone());
    }
    apply1(&Prim::Reshape(shape.to_vec()), &[x])
}
/// Transpose (no-op for the identity permutation).
pub fn transpose(x: &Tensor, perm: &[usize]) -> Result<Tensor> {
    if perm.iter().enumerate().all(|(i, &p)| i == p) && perm.len() == x.ndim() {
        return Ok(x.clone());
    }
    apply1(&Prim::Transpose(perm.to_vec()), &[x])
}
/// Strided slice.
pub fn slice(x: &Tensor, start: &[usize], limit: &[usize], strides: &[usize]) -> Result<Tensor> {
    if start.iter().all(|&s| s == 0) && limit == x.shape() && strides.iter().all(|&s| s == 1) {
        return Ok(x.clone());
    }
    apply1(
        &Prim::Slice {
            start: start.to_vec(),
            limit: limit.to_vec(),
            strides: strides.to_vec(),
        },
        &[x],
    )
}
/// Slice of one axis `[start, limit)`.
pub fn slice_axis(x: &Tensor, axis: usize, start: usize, limit: usize) -> Result<Tensor> {
    let mut s = vec![0; x.ndim()];
    let mut l = x.shape().to_vec();
    s[axis] = start;
    l[axis] = limit;
    slice(x, &s, &l, &vec![1; x.ndim()])
}
/// `lax.pad` with a scalar value.
pub fn pad(
    x: &Tensor,
    value: &Tensor,
    lo: &[i64],
    hi: &[i64],
    interior: &[usize],
) -> Result<Tensor> {
    apply1(
        &Prim::Pad {
            lo: lo.to_vec(),
            hi: hi.to_vec(),
            interior: interior.to_vec(),
        },
        &[x, value],
    )
}
/// Concatenate along an axis.
pub fn concatenate(xs: &[&Tensor], axis: usize) -> Result<Tensor> {
    if xs.len() == 1 {
        return Ok(xs[0].clone());
    }
    apply1(&Prim::Concatenate(axis), xs)
}
/// Reverse axes.
pub fn rev(x: &Tensor, axes: &[usize]) -> Result<Tensor> {
    if axes.is_empty() {
        return Ok(x.clone());
    }
    apply1(&Prim::Reverse(axes.to_vec()), &[x])
}
/// Reduce axes away.
pub fn reduce(op: ReduceOp, x: &Tensor, axes: &[usize]) -> Result<Tensor> {
    if axes.is_empty() {
        return Ok(x.clone());
    }
    apply1(
        &Prim::Reduce {
            op,
            axes: axes.to_vec(),
        },
        &[x],
    )
}
/// Sum over axes.
pub fn reduce_sum(x: &Tensor, axes: &[usize]) -> Result<Tensor> {
    reduce(ReduceOp::Sum, x, axes)
}
/// Arg-reduction.
pub fn argreduce(op: ArgOp, x: &Tensor, axis: usize, index_dtype: DType) -> Result<Tensor> {
    apply1(
        &Prim::ArgReduce {
            op,
            axis,
            index_dtype,
        },
        &[x],
    )
}
/// `dot_general`.
pub fn dot_general(
    a: &Tensor,
    b: &Tensor,
    lhs_contract: &[usize],
    rhs_contract: &[usize],
    lhs_batch: &[usize],
    rhs_batch: &[usize],
) -> Result<Tensor> {
    apply1(
        &Prim::DotGeneral {
            lhs_contract: lhs_contract.to_vec(),
            rhs_contract: rhs_contract.to_vec(),
            lhs_batch: lhs_batch.to_vec(),
            rhs_batch: rhs_batch.to_vec(),
        },
        &[a, b],
    )
}
/// General convolution (layouts `[N, C, *sp]`, `[O, I, *sp]`).
#[allow(clippy::too_many_arguments)]
pub fn conv(
    x: &Tensor,
    k: &Tensor,
    strides: &[usize],
    padding: &[(i64, i64)],
    lhs_dilation: &[usize],
    rhs_dilation: &[usize],
    groups: usize,
) -> Result<Tensor> {
    let dims = ConvDims::channels_first(x.ndim().saturating_sub(2));
    conv_general(
        x,
        k,
        &dims,
        strides,
        padding,
        lhs_dilation,
        rhs_dilation,
        groups,
    )
}
/// `lax.conv_general_dilated` with dimension numbers (see [`ConvDims`]).
#[allow(clippy::too_many_arguments)]
pub fn conv_general(
    x: &Tensor,
    k: &Tensor,
    dims: &ConvDims,
    strides: &[usize],
    padding: &[(i64, i64)],
    lhs_dilation: &[usize],
    rhs_dilation: &[usize],
    groups: usize,
) -> Result<Tensor> {
    apply1(
        &Prim::Conv {
            dims: dims.clone(),
            strides: strides.to_vec(),
            padding: padding.to_vec(),
            lhs_dilation: lhs_dilation.to_vec(),
            rhs_dilation: rhs_dilation.to_vec(),
            groups,
        },
        &[x, k],
    )
}
/// Windowed reduction.
pub fn reduce_window(
    op: WindowOp,
    x: &Tensor,
    window: &[usize],
    strides: &[usize],
    padding: &[(usize, usize)],
) -> Result<Tensor> {
    apply1(
        &Prim::ReduceWindow {
            op,
            window: window.to_vec(),
            strides: strides.to_vec(),
            padding: padding.to_vec(),
        },
        &[x],
    )
}
/// Max-pool gradient routing.
pub fn select_and_scatter_add(
    operand: &Tensor,
    source: &Tensor,
    window: &[usize],
    strides: &[usize],
    padding: &[(usize, usize)],
) -> Result<Tensor> {
    apply1(
        &Prim::SelectAndScatterAdd {
            window: window.to_vec(),
            strides: strides.to_vec(),
            padding: padding.to_vec(),
        },
        &[operand, source],
    )
}
/// `take` along an axis.
pub fn gather(x: &Tensor, idx: &Tensor, axis: usize) -> Result<Tensor> {
    apply1(&Prim::Gather { axis }, &[x, idx])
}
/// Scatter along an axis.
pub fn scatter(
    x: &Tensor,
    idx: &Tensor,
    upd: &Tensor,
    axis: usize,
    mode: ScatterMode,
) -> Result<Tensor> {
    apply1(&Prim::Scatter { axis, mode }, &[x, idx, upd])
}
/// `iota`.
pub fn iota(shape: &[usize], dtype: DType, dim: usize) -> Result<Tensor> {
    apply1(
        &Prim::Iota {
            shape: shape.to_vec(),
            dtype,
            dim,
        },
        &[],
    )
}
/// Stable sort: (values, int32 indices).
pub fn sort(x: &Tensor, axis: usize, descending: bool) -> Result<(Tensor, Tensor)> {
    let mut v = apply(&Prim::Sort { axis, descending }, &[x])?;
    let i = v.pop().expect("sort has two outputs");
    Ok((v.pop().expect("sort has two outputs"), i))
}
/// Cumulative reduction.
pub fn cumulative(op: CumOp, x: &Tensor, axis: usize, reverse: bool) -> Result<Tensor> {
    apply1(&Prim::Cumulative { op, axis, reverse }, &[x])
}
/// `stop_gradient`.
pub fn stop_gradient(x: &Tensor) -> Result<Tensor> {
    apply1(&Prim::StopGradient, &[x])
}

/// A 0-d constant of `dtype`.
pub fn scalar(v: f64, dtype: DType) -> Result<Tensor> {
    Tensor::from_host(HostData::from_f64(dtype, &[v]), Shape::new())
}
/// A constant of `dtype` broadcast to `shape`.
pub fn full(shape: &[usize], v: f64, dtype: DType) -> Result<Tensor> {
    broadcast_in_dim(&scalar(v, dtype)?, shape, &[])
}
/// `full` with the shape and dtype of `x`.
pub fn full_like(x: &Tensor, v: f64) -> Result<Tensor> {
    full(x.shape(), v, x.dtype())
}
/// Zeros like `x`.
pub fn zeros_like(x: &Tensor) -> Result<Tensor> {
    full_like(x, 0.0)
}

/// `a + b`.
pub fn add(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    binary(BinaryOp::Add, a, b)
}
/// `a - b`.
pub fn sub(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    binary(BinaryOp::Sub, a, b)
}
/// `a * b`.
pub fn mul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    binary(BinaryOp::Mul, a, b)
}
/// `a / b`.
pub fn div(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    binary(BinaryOp::Div, a, b)
}
/// `-x`.
pub fn neg(x: &Tensor) -> Result<Tensor> {
    unary(UnaryOp::Neg, x)
}
/// `x * c` for a constant `c`.
pub fn mul_scalar(x: &Tensor, c: f64) -> Result<Tensor> {
    mul(x, &full_like(x, c)?)
}
/// `x + c` for a constant `c`.
pub fn add_scalar(x: &Tensor, c: f64) -> Result<Tensor> {
    add(x, &full_like(x, c)?)
}

/// Sums `g` down to `shape` (the inverse of NumPy broadcasting).
pub fn unbroadcast(g: &Tensor, shape: &[usize]) -> Result<Tensor> {
    if g.shape() == shape {
        return Ok(g.clone());
    }
    let off = g.ndim() - shape.len();
    let mut axes: Vec<usize> = (0..off).collect();
    for (i, &d) in shape.iter().enumerate() {
        if d == 1 && g.shape()[i + off] != 1 {
            axes.push(i + off);
        }
    }
    let s = reduce_sum(g, &axes)?;
    reshape(&s, shape)
}
