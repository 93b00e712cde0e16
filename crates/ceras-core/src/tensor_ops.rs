//! Operator overloads and methods on [`Tensor`] for the common ops.
//!
//! Operators (`&a + &b`, `a * 2.0`) **panic** on invalid input (mismatched shapes,
//! unsupported dtypes) with the same message the `ops` function would return; use
//! the `ops` functions or the methods below (which return `Result`) when the input
//! is not known to be valid.

use crate::dtype::DType;
use crate::error::Result;
use crate::ops;
use crate::tensor::{IntoTensor, Tensor};
use std::ops::{Add, Div, Mul, Neg, Sub};

macro_rules! binop {
    ($trait:ident, $method:ident, $f:path) => {
        impl<R: IntoTensor> $trait<R> for &Tensor {
            type Output = Tensor;
            fn $method(self, rhs: R) -> Tensor {
                $f(self, rhs).unwrap_or_else(|e| panic!("{e}"))
            }
        }
        impl<R: IntoTensor> $trait<R> for Tensor {
            type Output = Tensor;
            fn $method(self, rhs: R) -> Tensor {
                $f(&self, rhs).unwrap_or_else(|e| panic!("{e}"))
            }
        }
    };
}

binop!(Add, add, ops::add);
binop!(Sub, sub, ops::subtract);
binop!(Mul, mul, ops::multiply);
binop!(Div, div, ops::divide);

impl Neg for &Tensor {
    type Output = Tensor;
    fn neg(self) -> Tensor {
        ops::negative(self).unwrap_or_else(|e| panic!("{e}"))
    }
}
impl Neg for Tensor {
    type Output = Tensor;
    fn neg(self) -> Tensor {
        ops::negative(&self).unwrap_or_else(|e| panic!("{e}"))
    }
}

impl Tensor {
    /// `ops::cast`.
    pub fn cast(&self, dtype: DType) -> Result<Tensor> {
        ops::cast(self, dtype)
    }
    /// `ops::reshape` (one dim may be -1).
    pub fn reshape(&self, shape: &[i64]) -> Result<Tensor> {
        ops::reshape(self, shape)
    }
    /// `ops::transpose` (None reverses the axes).
    pub fn transpose(&self, axes: Option<&[i64]>) -> Result<Tensor> {
        ops::transpose(self, axes)
    }
    /// `ops::matmul`.
    pub fn matmul(&self, other: impl IntoTensor) -> Result<Tensor> {
        ops::matmul(self, other)
    }
    /// `ops::sum`.
    pub fn sum(&self, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
        ops::sum(self, axis, keepdims)
    }
    /// `ops::mean`.
    pub fn mean(&self, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
        ops::mean(self, axis, keepdims)
    }
    /// `ops::max`.
    pub fn max(&self, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
        ops::max(self, axis, keepdims, None)
    }
    /// `ops::min`.
    pub fn min(&self, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
        ops::min(self, axis, keepdims, None)
    }
    /// `ops::argmax`.
    pub fn argmax(&self, axis: Option<i64>) -> Result<Tensor> {
        ops::argmax(self, axis, false)
    }
    /// `ops::exp`.
    pub fn exp(&self) -> Result<Tensor> {
        ops::exp(self)
    }
    /// `ops::log`.
    pub fn log(&self) -> Result<Tensor> {
        ops::log(self)
    }
    /// `ops::sqrt`.
    pub fn sqrt(&self) -> Result<Tensor> {
        ops::sqrt(self)
    }
    /// `ops::square`.
    pub fn square(&self) -> Result<Tensor> {
        ops::square(self)
    }
    /// `ops::abs`.
    pub fn abs(&self) -> Result<Tensor> {
        ops::abs(self)
    }
    /// `ops::tanh`.
    pub fn tanh(&self) -> Result<Tensor> {
        ops::tanh(self)
    }
    /// `ops::relu`.
    pub fn relu(&self) -> Result<Tensor> {
        ops::relu(self)
    }
    /// `ops::sigmoid`.
    pub fn sigmoid(&self) -> Result<Tensor> {
        ops::sigmoid(self)
    }
    /// `ops::softmax` along `axis`.
    pub fn softmax(&self, axis: i64) -> Result<Tensor> {
        ops::softmax(self, Some(axis))
    }
    /// `ops::expand_dims`.
    pub fn expand_dims(&self, axis: i64) -> Result<Tensor> {
        ops::expand_dims(self, &[axis])
    }
    /// `ops::squeeze`.
    pub fn squeeze(&self, axis: Option<&[i64]>) -> Result<Tensor> {
        ops::squeeze(self, axis)
    }
    /// `ops::stop_gradient`.
    pub fn stop_gradient(&self) -> Result<Tensor> {
        ops::stop_gradient(self)
    }
}
