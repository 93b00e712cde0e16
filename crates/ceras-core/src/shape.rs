//! Shapes, axes and broadcasting.

use crate::error::{arg_err, shape_err, Result};

/// A tensor shape: dimension sizes, outermost first. Rank is dynamic.
pub type Shape = Vec<usize>;

/// Number of elements of a shape (1 for a scalar).
pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// Row-major (C order) strides, in elements.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// Normalizes a possibly negative axis against `rank`.
///
/// ```
/// assert_eq!(ceras_core::shape::norm_axis("sum", -1, 3).unwrap(), 2);
/// assert!(ceras_core::shape::norm_axis("sum", 3, 3).is_err());
/// ```
pub fn norm_axis(op: &str, axis: i64, rank: usize) -> Result<usize> {
    let r = rank as i64;
    if axis < -r || axis >= r {
        return Err(arg_err(
            op,
            format!("axis {axis} is out of bounds for a tensor of rank {rank}"),
        ));
    }
    Ok(if axis < 0 {
        (axis + r) as usize
    } else {
        axis as usize
    })
}

/// Normalizes a list of axes; rejects duplicates.
pub fn norm_axes(op: &str, axes: &[i64], rank: usize) -> Result<Vec<usize>> {
    let mut out = Vec::with_capacity(axes.len());
    for &a in axes {
        let n = norm_axis(op, a, rank)?;
        if out.contains(&n) {
            return Err(arg_err(op, format!("repeated axis {a} in {axes:?}")));
        }
        out.push(n);
    }
    Ok(out)
}

/// NumPy broadcasting of two shapes.
///
/// ```
/// let s = ceras_core::shape::broadcast_shapes("add", &[3, 1], &[4]).unwrap();
/// assert_eq!(s, vec![3, 4]);
/// ```
pub fn broadcast_shapes(op: &str, a: &[usize], b: &[usize]) -> Result<Shape> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let da = if i + a.len() >= n {
            a[i + a.len() - n]
        } else {
            1
        };
        let db = if i + b.len() >= n {
            b[i + b.len() - n]
        } else {
            1
        };
        out[i] = if da == db {
            da
        } else if da == 1 {
            db
        } else if db == 1 {
            da
        } else {
            return Err(shape_err(
                op,
                format!("operands could not be broadcast together with shapes {a:?} and {b:?}"),
            ));
        };
    }
    Ok(out)
}
