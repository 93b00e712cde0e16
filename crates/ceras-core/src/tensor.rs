//! [`Tensor`]: a cheaply clonable handle to backend storage (concrete) or to a node
//! of a graph being recorded (traced), with a dynamic shape and dtype.

use crate::backend::{self, BufferRef, Operand};
use crate::dtype::DType;
use crate::error::{arg_err, dtype_err, shape_err, Result};
use crate::prim::Spec;
use crate::shape::{numel, Shape};
use crate::storage::{Element, HostData};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

pub(crate) fn fresh_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

#[derive(Debug, Clone)]
pub(crate) enum Value {
    Concrete(BufferRef),
    Traced { trace: u64, node: usize, out: usize },
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) id: u64,
    pub(crate) spec: Spec,
    pub(crate) weak: bool,
    pub(crate) value: Value,
}

/// An n-dimensional array. Clone is an `Arc` increment.
///
/// ```
/// use ceras::Tensor;
/// let t = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], [2, 2]).unwrap();
/// assert_eq!(t.shape(), &[2, 2]);
/// assert_eq!(t.to_vec::<f32>().unwrap(), vec![1.0, 2.0, 3.0, 4.0]);
/// ```
#[derive(Clone, Debug)]
pub struct Tensor(pub(crate) Arc<Inner>);

impl Tensor {
    pub(crate) fn from_parts(spec: Spec, weak: bool, value: Value) -> Tensor {
        Tensor(Arc::new(Inner {
            id: fresh_id(),
            spec,
            weak,
            value,
        }))
    }

    /// A concrete tensor over a buffer of the process backend, for code that
    /// bridges ceras and a backend's own tensors (`ceras::torch`). The buffer must
    /// hold `shape` elements of `dtype`; backends check this when they read it.
    pub fn from_buffer(buf: BufferRef, shape: impl Into<Shape>, dtype: DType) -> Tensor {
        Tensor::from_parts(Spec::new(shape, dtype), false, Value::Concrete(buf))
    }

    /// The backend buffer of a concrete tensor (an error for a traced one).
    pub fn backend_buffer(&self) -> Result<&BufferRef> {
        self.buffer("backend_buffer")
    }

    /// Builds a concrete tensor from host data.
    pub fn from_host(data: HostData, shape: impl Into<Shape>) -> Result<Tensor> {
        let shape = shape.into();
        if numel(&shape) != data.len() {
            return Err(shape_err(
                "convert_to_tensor",
                format!(
                    "{} elements cannot have shape {shape:?} ({} elements)",
                    data.len(),
                    numel(&shape)
                ),
            ));
        }
        let dtype = data.dtype();
        let buf = backend::current()?.from_host(data, &shape)?;
        Ok(Tensor::from_parts(
            Spec { shape, dtype },
            false,
            Value::Concrete(buf),
        ))
    }

    /// Builds a tensor from a `Vec` and a shape.
    pub fn from_vec<T: Element>(v: Vec<T>, shape: impl Into<Shape>) -> Result<Tensor> {
        Tensor::from_host(T::wrap(v), shape)
    }

    /// Builds a 1-D tensor from a slice.
    pub fn from_slice<T: Element>(v: &[T]) -> Result<Tensor> {
        Tensor::from_host(T::wrap(v.to_vec()), vec![v.len()])
    }

    /// A 0-d tensor with a strong dtype.
    pub fn scalar<T: Element>(v: T) -> Result<Tensor> {
        Tensor::from_host(T::wrap(vec![v]), vec![])
    }

    /// A 0-d *weak* tensor: it behaves like a Python scalar in type promotion
    /// (`x_int8 + weak(1)` stays `int8`, `x_int8 + weak(1.0)` becomes `floatx`).
    pub fn weak_scalar<T: Element>(v: T) -> Result<Tensor> {
        let t = Tensor::scalar(v)?;
        Ok(t.with_weak(true))
    }

    /// Builds a tensor from little-endian bytes (bool as one byte per element).
    pub fn from_le_bytes(dtype: DType, shape: impl Into<Shape>, bytes: &[u8]) -> Result<Tensor> {
        Tensor::from_host(HostData::from_le_bytes(dtype, bytes)?, shape)
    }

    /// Builds a tensor of `dtype` from f64 values (Rust `as` casting).
    pub fn from_f64s(vals: &[f64], shape: impl Into<Shape>, dtype: DType) -> Result<Tensor> {
        Tensor::from_host(HostData::from_f64(dtype, vals), shape)
    }

    /// Builds a tensor from an `ndarray` array.
    pub fn from_ndarray<T: Element, D: ndarray::Dimension>(
        a: &ndarray::Array<T, D>,
    ) -> Result<Tensor> {
        let shape = a.shape().to_vec();
        let v: Vec<T> = a.iter().copied().collect();
        Tensor::from_vec(v, shape)
    }

    /// Copies the tensor into a dynamic-rank `ndarray` array (dtype must match `T`).
    pub fn to_ndarray<T: Element>(&self) -> Result<ndarray::ArrayD<T>> {
        let v = self.to_vec::<T>()?;
        ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(self.shape()), v)
            .map_err(|e| arg_err("to_ndarray", e.to_string()))
    }

    /// The unique id of this tensor value (used by autodiff).
    pub fn id(&self) -> u64 {
        self.0.id
    }
    /// Shape.
    pub fn shape(&self) -> &[usize] {
        &self.0.spec.shape
    }
    /// Shape and dtype.
    pub fn spec(&self) -> &Spec {
        &self.0.spec
    }
    /// Dtype.
    pub fn dtype(&self) -> DType {
        self.0.spec.dtype
    }
    /// Rank.
    pub fn ndim(&self) -> usize {
        self.0.spec.shape.len()
    }
    /// Number of elements.
    pub fn size(&self) -> usize {
        numel(&self.0.spec.shape)
    }
    /// True for a weakly typed (Python-scalar-like) tensor.
    pub fn is_weak(&self) -> bool {
        self.0.weak
    }
    /// True when this tensor is a node of a graph being traced (no data).
    pub fn is_traced(&self) -> bool {
        matches!(self.0.value, Value::Traced { .. })
    }

    /// The same value with the weak flag set or cleared (shares storage; new id).
    pub fn with_weak(&self, weak: bool) -> Tensor {
        if self.0.weak == weak {
            return self.clone();
        }
        Tensor(Arc::new(Inner {
            id: self.0.id,
            spec: self.0.spec.clone(),
            weak,
            value: self.0.value.clone(),
        }))
    }

    pub(crate) fn buffer(&self, op: &str) -> Result<&BufferRef> {
        match &self.0.value {
            Value::Concrete(b) => Ok(b),
            Value::Traced { .. } => Err(arg_err(
                op,
                "this op needs concrete values but received a traced (symbolic) tensor; \
                 it cannot be used inside a traced function",
            )),
        }
    }

    pub(crate) fn operand(&self, op: &str) -> Result<Operand<'_>> {
        Ok(Operand {
            buf: self.buffer(op)?,
            shape: &self.0.spec.shape,
            dtype: self.0.spec.dtype,
        })
    }

    /// Copies the data to the host.
    pub fn to_host(&self) -> Result<HostData> {
        let b = self.buffer("convert_to_numpy")?;
        backend::current()?.to_host(b, self.shape(), self.dtype())
    }

    /// Reads the elements back into a `Vec<T>`; `T` must match the dtype.
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        let h = self.to_host()?;
        let dt = h.dtype();
        T::unwrap(h).ok_or_else(|| {
            dtype_err(
                "to_vec",
                format!("tensor has dtype {dt}, requested {}", T::DTYPE),
            )
        })
    }

    /// All elements as f64 (any dtype).
    pub fn to_f64_vec(&self) -> Result<Vec<f64>> {
        Ok(self.to_host()?.to_f64_vec())
    }

    /// All elements as i64 (any dtype; floats truncate).
    pub fn to_i64_vec(&self) -> Result<Vec<i64>> {
        Ok(self.to_host()?.to_i64_vec())
    }

    /// The single element of a size-1 tensor, as `T` (dtype must match).
    pub fn item<T: Element>(&self) -> Result<T> {
        if self.size() != 1 {
            return Err(shape_err(
                "item",
                format!(
                    "expected a tensor with one element, got shape {:?}",
                    self.shape()
                ),
            ));
        }
        Ok(self.to_vec::<T>()?[0])
    }

    /// The single element of a size-1 tensor as f64 (any dtype).
    pub fn item_f64(&self) -> Result<f64> {
        if self.size() != 1 {
            return Err(shape_err(
                "item",
                format!(
                    "expected a tensor with one element, got shape {:?}",
                    self.shape()
                ),
            ));
        }
        Ok(self.to_f64_vec()?[0])
    }
}

/// Conversion of Rust values into tensors for `ops` arguments. Rust scalars
/// (`f64`, `f32`, `i64`, `i32`, `bool`, ...) become *weak* 0-d tensors, the way
/// Keras treats Python scalars; tensors pass through.
pub trait IntoTensor {
    /// Converts.
    fn into_tensor(self) -> Result<Tensor>;
}

impl IntoTensor for Tensor {
    fn into_tensor(self) -> Result<Tensor> {
        Ok(self)
    }
}
impl IntoTensor for &Tensor {
    fn into_tensor(self) -> Result<Tensor> {
        Ok(self.clone())
    }
}
impl IntoTensor for &&Tensor {
    fn into_tensor(self) -> Result<Tensor> {
        Ok((*self).clone())
    }
}
macro_rules! weak_scalar_into {
    ($($t:ty),*) => {$(
        impl IntoTensor for $t {
            fn into_tensor(self) -> Result<Tensor> {
                Tensor::weak_scalar(self)
            }
        }
    )*};
}
weak_scalar_into!(f64, f32, i64, i32, i16, i8, u8, u16, u32, u64, bool);

impl IntoTensor for Result<Tensor> {
    fn into_tensor(self) -> Result<Tensor> {
        self
    }
}

impl<T: Element> IntoTensor for Vec<T> {
    fn into_tensor(self) -> Result<Tensor> {
        let n = self.len();
        Tensor::from_vec(self, vec![n])
    }
}
impl<T: Element> IntoTensor for &[T] {
    fn into_tensor(self) -> Result<Tensor> {
        Tensor::from_slice(self)
    }
}
impl<T: Element, const N: usize> IntoTensor for [T; N] {
    fn into_tensor(self) -> Result<Tensor> {
        Tensor::from_vec(self.to_vec(), vec![N])
    }
}
impl<T: Element, const N: usize, const M: usize> IntoTensor for [[T; M]; N] {
    fn into_tensor(self) -> Result<Tensor> {
        Tensor::from_vec(self.iter().flatten().copied().collect(), vec![N, M])
    }
}
impl<T: Element, const N: usize, const M: usize, const K: usize> IntoTensor for [[[T; K]; M]; N] {
    fn into_tensor(self) -> Result<Tensor> {
        Tensor::from_vec(
            self.iter().flatten().flatten().copied().collect(),
            vec![N, M, K],
        )
    }
}
impl<T: Element, D: ndarray::Dimension> IntoTensor for &ndarray::Array<T, D> {
    fn into_tensor(self) -> Result<Tensor> {
        Tensor::from_ndarray(self)
    }
}
