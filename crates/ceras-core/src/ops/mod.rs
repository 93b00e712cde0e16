//! `keras.ops`: the NumPy-compatible op namespace, with Keras's names, arguments,
//! defaults and dtype rules. Every function lowers to primitives through
//! [`crate::lax`], so it runs on every backend, is differentiable and traceable.
//!
//! Arguments that are tensors take `impl IntoTensor`: a `&Tensor`, or a Rust scalar
//! (weakly typed, like a Python scalar in Keras).
//!
//! ```
//! use ceras::{ops, Tensor};
//! let x = Tensor::from_vec(vec![1i8, 2, 3], [3]).unwrap();
//! let y = ops::add(&x, 1).unwrap();          // weak int: stays int8
//! assert_eq!(y.dtype(), ceras::DType::I8);
//! let z = ops::multiply(&x, 0.5).unwrap();   // weak float: becomes floatx
//! assert_eq!(z.dtype(), ceras::DType::F32);
//! ```

use crate::config;
use crate::dtype::{result_type_weak, DType, TypeArg};
use crate::error::{arg_err, Result};
use crate::lax;
use crate::prim::*;
use crate::shape::broadcast_shapes;
use crate::tensor::{IntoTensor, Tensor};

pub mod control;
pub mod conv;
pub mod creation;
pub mod elementwise;
pub mod indexing;
pub mod linalg;
pub mod losses;
pub mod manip;
pub mod math_ext;
pub mod nn;
pub mod pool;
pub mod products;
pub mod reduction;
pub mod search;
pub mod segment;
pub mod shape_ops;
pub mod stats;

pub use control::*;
pub use conv::*;
pub use creation::*;
pub use elementwise::*;
pub use indexing::*;
pub use linalg::*;
pub use losses::*;
pub use manip::*;
pub use math_ext::*;
pub use nn::*;
pub use pool::*;
pub use products::*;
pub use reduction::*;
pub use search::*;
pub use segment::*;
pub use shape_ops::*;
pub use stats::*;

/// Converts an argument to a tensor.
pub fn convert_to_tensor(x: impl IntoTensor) -> Result<Tensor> {
    x.into_tensor()
}

pub(crate) fn type_arg(t: &Tensor) -> TypeArg {
    if t.is_weak() {
        TypeArg::Weak(t.dtype())
    } else {
        TypeArg::Strong(t.dtype())
    }
}

/// Keras's result dtype of several tensors (weak tensors count as Python scalars).
pub fn result_dtype(ts: &[&Tensor]) -> DType {
    let args: Vec<TypeArg> = ts.iter().map(|t| type_arg(t)).collect();
    result_type_weak(&args, config::floatx()).0
}

/// Result dtype and weakness, for ops that keep weak results weak.
pub(crate) fn result_dtype_weak(ts: &[&Tensor]) -> (DType, bool) {
    let args: Vec<TypeArg> = ts.iter().map(|t| type_arg(t)).collect();
    result_type_weak(&args, config::floatx())
}

/// Result dtype with an extra weak `float` (Keras's `result_type(x.dtype, float)`).
pub(crate) fn float_dtype(ts: &[&Tensor]) -> DType {
    let mut args: Vec<TypeArg> = ts.iter().map(|t| type_arg(t)).collect();
    args.push(TypeArg::Weak(DType::F32));
    let d = result_type_weak(&args, config::floatx()).0;
    if d.is_float() {
        d
    } else {
        config::floatx()
    }
}

/// Casts `x` to `d` keeping it weak if it was.
pub(crate) fn cast_keep(x: &Tensor, d: DType) -> Result<Tensor> {
    if x.dtype() == d {
        Ok(x.clone())
    } else {
        lax::convert(x, d)
    }
}

/// Promotes two tensors to a common dtype and broadcast shape.
pub(crate) fn promote2(op: &str, a: &Tensor, b: &Tensor, dtype: DType) -> Result<(Tensor, Tensor)> {
    let shape = broadcast_shapes(op, a.shape(), b.shape())?;
    let a = lax::broadcast_to(&lax::convert(a, dtype)?, &shape)?;
    let b = lax::broadcast_to(&lax::convert(b, dtype)?, &shape)?;
    Ok((a, b))
}

/// Broadcasts several tensors to a common shape (dtype unchanged).
pub(crate) fn broadcast_all(op: &str, xs: &[&Tensor]) -> Result<Vec<Tensor>> {
    let mut shape = xs[0].shape().to_vec();
    for x in &xs[1..] {
        shape = broadcast_shapes(op, &shape, x.shape())?;
    }
    xs.iter().map(|x| lax::broadcast_to(x, &shape)).collect()
}

/// Applies a binary primitive with promotion to `dtype` and broadcasting; the result
/// is weak when both operands are weak.
pub(crate) fn binary_in(
    op: &str,
    p: BinaryOp,
    a: &Tensor,
    b: &Tensor,
    dtype: DType,
) -> Result<Tensor> {
    let weak = a.is_weak() && b.is_weak();
    let (x, y) = promote2(op, a, b, dtype)?;
    Ok(lax::binary(p, &x, &y)?.with_weak(weak))
}

/// Normalizes an optional axis list (None: all axes).
pub(crate) fn axes_or_all(op: &str, axis: Option<&[i64]>, rank: usize) -> Result<Vec<usize>> {
    match axis {
        None => Ok((0..rank).collect()),
        Some(a) => {
            let mut v = crate::shape::norm_axes(op, a, rank)?;
            v.sort();
            Ok(v)
        }
    }
}

/// Reads the values of a small integer tensor (for ops that take index tensors).
pub(crate) fn concrete_i64(op: &str, x: &Tensor) -> Result<Vec<i64>> {
    if x.is_traced() {
        return Err(arg_err(
            op,
            "needs concrete index values, got a traced tensor",
        ));
    }
    x.to_i64_vec()
}
