//! Shape manipulation: `reshape`, `transpose`, `expand_dims`, `concatenate`, `stack`, ...

use super::*;
use crate::error::shape_err;
use crate::shape::{norm_axis, numel};

/// Reshape; one dimension may be `-1` (inferred).
///
/// ```
/// use ceras::{ops, Tensor};
/// let x = Tensor::from_vec(vec![0i32; 6], [2, 3]).unwrap();
/// assert_eq!(ops::reshape(&x, &[3, -1]).unwrap().shape(), &[3, 2]);
/// ```
pub fn reshape(x: impl IntoTensor, newshape: &[i64]) -> Result<Tensor> {
    let x = x.into_tensor()?;
    let shape = resolve_shape("reshape", x.shape(), newshape)?;
    lax::reshape(&x, &shape)
}

pub(crate) fn resolve_shape(op: &str, from: &[usize], newshape: &[i64]) -> Result<Vec<usize>> {
    let n = numel(from);
    let unknown: Vec<usize> = (0..newshape.len()).filter(|&i| newshape[i] == -1).collect();
    if unknown.len() > 1 || newshape.iter().any(|&d| d < -1) {
        return Err(shape_err(op, format!("invalid target shape {newshape:?}")));
    }
    let known: usize = newshape
        .iter()
        .filter(|&&d| d >= 0)
        .map(|&d| d as usize)
        .product();
    let mut out: Vec<usize> = newshape.iter().map(|&d| d.max(0) as usize).collect();
    if let Some(&u) = unknown.first() {
        if known == 0 || !n.is_multiple_of(known) {
            return Err(shape_err(
                op,
                format!("cannot reshape a tensor of shape {from:?} into shape {newshape:?}"),
            ));
        }
        out[u] = n / known;
    }
    if numel(&out) != n {
        return Err(shape_err(
            op,
            format!(
                "cannot reshape a tensor of shape {from:?} ({n} elements) into shape {newshape:?}"
            ),
        ));
    }
    Ok(out)
}

/// Permutes axes (`None`: reverse them).
pub fn transpose(x: impl IntoTensor, axes: Option<&[i64]>) -> Result<Tensor> {
    let x = x.into_tensor()?;
    let perm: Vec<usize> = match axes {
        None => (0..x.ndim()).rev().collect(),
        Some(a) => {
            if a.len() != x.ndim() {
                return Err(shape_err(
                    "transpose",
                    format!("axes {a:?} don't match a tensor of rank {}", x.ndim()),
                ));
            }
            crate::shape::norm_axes("transpose", a, x.ndim())?
        }
    };
    lax::transpose(&x, &perm)
}

/// Inserts length-1 axes at the given positions.
pub fn expand_dims(x: impl IntoTensor, axis: &[i64]) -> Result<Tensor> {
    let x = x.into_tensor()?;
    let r = x.ndim() + axis.len();
    let axes = crate::shape::norm_axes("expand_dims", axis, r)?;
    let mut shape = Vec::with_capacity(r);
    let mut it = x.shape().iter();
    for i in 0..r {
        if axes.contains(&i) {
            shape.push(1);
        } else {
            shape.push(*it.next().expect("rank matches"));
        }
    }
    lax::reshape(&x, &shape)
}

/// Removes length-1 axes (all of them, or the given ones).
pub fn squeeze(x: impl IntoTensor, axis: Option<&[i64]>) -> Result<Tensor> {
    let x = x.into_tensor()?;
    let axes = match axis {
        None => (0..x.ndim()).filter(|&i| x.shape()[i] == 1).collect(),
        Some(a) => crate::shape::norm_axes("squeeze", a, x.ndim())?,
    };
    for &a in &axes {
        if x.shape()[a] != 1 {
            return Err(shape_err("squeeze", format!("cannot select an axis to squeeze out which has size not equal to one (axis {a} of shape {:?})", x.shape())));
        }
    }
    let shape: Vec<usize> = (0..x.ndim())
        .filter(|i| !axes.contains(i))
        .map(|i| x.shape()[i])
        .collect();
    lax::reshape(&x, &shape)
}

/// Joins tensors along an existing axis, promoting dtypes.
pub fn concatenate(xs: &[Tensor], axis: i64) -> Result<Tensor> {
    if xs.is_empty() {
        return Err(arg_err("concatenate", "need at least one tensor"));
    }
    let refs: Vec<&Tensor> = xs.iter().collect();
    let d = result_dtype(&refs);
    let ax = norm_axis("concatenate", axis, xs[0].ndim())?;
    let cs: Vec<Tensor> = xs
        .iter()
        .map(|x| lax::convert(x, d))
        .collect::<Result<_>>()?;
    let refs: Vec<&Tensor> = cs.iter().collect();
    lax::concatenate(&refs, ax)
}

/// Joins tensors along a new axis.
pub fn stack(xs: &[Tensor], axis: i64) -> Result<Tensor> {
    if xs.is_empty() {
        return Err(arg_err("stack", "need at least one tensor"));
    }
    for x in &xs[1..] {
        if x.shape() != xs[0].shape() {
            return Err(shape_err(
                "stack",
                format!(
                    "all input arrays must have the same shape, got {:?} and {:?}",
                    xs[0].shape(),
                    x.shape()
                ),
            ));
        }
    }
    let e: Vec<Tensor> = xs
        .iter()
        .map(|x| expand_dims(x, &[axis]))
        .collect::<Result<_>>()?;
    let ax = norm_axis("stack", axis, xs[0].ndim() + 1)?;
    concatenate(&e, ax as i64)
}

/// Broadcasts to `shape` (NumPy rules).
pub fn broadcast_to(x: impl IntoTensor, shape: &[usize]) -> Result<Tensor> {
    let x = x.into_tensor()?;
    let b = crate::shape::broadcast_shapes("broadcast_to", x.shape(), shape)?;
    if b.as_slice() != shape {
        return Err(shape_err(
            "broadcast_to",
            format!("cannot broadcast shape {:?} to {shape:?}", x.shape()),
        ));
    }
    lax::broadcast_to(&x, shape)
}

/// Flattens to 1-D.
pub fn ravel(x: impl IntoTensor) -> Result<Tensor> {
    let x = x.into_tensor()?;
    lax::reshape(&x, &[x.size()])
}
