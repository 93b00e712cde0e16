//! Tensor creation: `zeros`, `ones`, `full`, `arange`, `eye`, ...

use super::*;
use crate::dtype::DType;

/// A tensor of `shape` filled with `value` (a scalar, or a tensor that broadcasts
/// to `shape`); the dtype is `dtype`, else `floatx` (as Keras does).
pub fn full(shape: &[usize], value: impl IntoTensor, dtype: Option<DType>) -> Result<Tensor> {
    let v = value.into_tensor()?;
    let d = dtype.unwrap_or_else(config::floatx);
    let v = lax::convert(&v, d)?;
    let b = crate::shape::broadcast_shapes("full", v.shape(), shape)?;
    if b.as_slice() != shape {
        return Err(crate::error::shape_err(
            "full",
            format!(
                "fill_value of shape {:?} cannot be broadcast to {shape:?}",
                v.shape()
            ),
        ));
    }
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

/// Options of [`linspace`] and [`geomspace`] (Keras's keyword arguments).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinspaceOptions {
    /// Include `stop` as the last sample (default true).
    pub endpoint: bool,
    /// Output dtype (default: the floating type of `start` and `stop`).
    pub dtype: Option<DType>,
    /// Axis of the samples in the output when the bounds are tensors (default 0).
    pub axis: i64,
}

impl Default for LinspaceOptions {
    fn default() -> Self {
        LinspaceOptions {
            endpoint: true,
            dtype: None,
            axis: 0,
        }
    }
}

/// Output and computation dtypes of the `*space` functions.
fn space_dtypes(start: &Tensor, stop: &Tensor, dtype: Option<DType>) -> (DType, DType) {
    let d = dtype.unwrap_or_else(|| float_dtype(&[start, stop]));
    let cd = if d.is_float() { d } else { config::floatx() };
    (d, cd)
}

fn linspace_impl(
    start: Tensor,
    stop: Tensor,
    num: usize,
    opts: &LinspaceOptions,
) -> Result<(Tensor, Tensor)> {
    let (d, cd) = space_dtypes(&start, &stop, opts.dtype);
    let start = lax::convert(&start, cd)?;
    let stop = lax::convert(&stop, cd)?;
    let bs = crate::shape::broadcast_shapes("linspace", start.shape(), stop.shape())?;
    let start = lax::broadcast_to(&start, &bs)?;
    let stop = lax::broadcast_to(&stop, &bs)?;
    let r = bs.len() as i64;
    let axis = if opts.axis < 0 {
        r + opts.axis + 1
    } else {
        opts.axis
    };
    if axis < 0 || axis > r {
        return Err(arg_err(
            "linspace",
            format!(
                "axis {} is out of bounds for an output of rank {}",
                opts.axis,
                r + 1
            ),
        ));
    }
    let axis = axis as usize;
    let mut bounds = bs.clone();
    bounds.insert(axis, 1);
    let div = if opts.endpoint {
        num.saturating_sub(1)
    } else {
        num
    };
    let (out, delta) = if num > 1 {
        let delta = lax::div(&lax::sub(&stop, &start)?, &lax::full(&bs, div as f64, cd)?)?;
        let mut ishape = vec![1; bounds.len()];
        ishape[axis] = div;
        let step = lax::div(
            &lax::iota(&[div], cd, 0)?,
            &lax::full(&[div], div as f64, cd)?,
        )?;
        let step = lax::reshape(&step, &ishape)?;
        let mut oshape = bs.clone();
        oshape.insert(axis, div);
        let all: Vec<usize> = (0..oshape.len()).collect();
        let sb = lax::broadcast_in_dim(&lax::reshape(&start, &bounds)?, &oshape, &all)?;
        let eb = lax::broadcast_in_dim(&lax::reshape(&stop, &bounds)?, &oshape, &all)?;
        let stb = lax::broadcast_in_dim(&step, &oshape, &all)?;
        let one_minus = lax::sub(&lax::full_like(&stb, 1.0)?, &stb)?;
        let mut out = lax::add(&lax::mul(&sb, &one_minus)?, &lax::mul(&eb, &stb)?)?;
        if opts.endpoint {
            out = lax::concatenate(&[&out, &lax::reshape(&stop, &bounds)?], axis)?;
        }
        (out, delta)
    } else if num == 1 {
        let delta = if opts.endpoint {
            lax::scalar(f64::NAN, cd)?
        } else {
            lax::sub(&stop, &start)?
        };
        (lax::reshape(&start, &bounds)?, delta)
    } else {
        let mut oshape = bs.clone();
        oshape.insert(axis, 0);
        (lax::full(&oshape, 0.0, cd)?, lax::scalar(f64::NAN, cd)?)
    };
    let out = if d.is_float() {
        out
    } else {
        lax::unary(UnaryOp::Floor, &out)?
    };
    Ok((lax::convert(&out, d)?, delta))
}

/// `num` evenly spaced samples from `start` to `stop` (tensors broadcast; the
/// samples go along `opts.axis`). Keras's default `num` is 50.
///
/// ```
/// use ceras::ops;
/// let x = ops::linspace(0.0, 1.0, 5, &ops::LinspaceOptions::default()).unwrap();
/// assert_eq!(x.to_vec::<f32>().unwrap(), vec![0.0, 0.25, 0.5, 0.75, 1.0]);
/// ```
pub fn linspace(
    start: impl IntoTensor,
    stop: impl IntoTensor,
    num: usize,
    opts: &LinspaceOptions,
) -> Result<Tensor> {
    Ok(linspace_impl(start.into_tensor()?, stop.into_tensor()?, num, opts)?.0)
}

/// [`linspace`] that also returns the step (Keras's `retstep=True`).
pub fn linspace_with_step(
    start: impl IntoTensor,
    stop: impl IntoTensor,
    num: usize,
    opts: &LinspaceOptions,
) -> Result<(Tensor, Tensor)> {
    linspace_impl(start.into_tensor()?, stop.into_tensor()?, num, opts)
}

/// `base ** linspace(start, stop, num)` (Keras's defaults: `num = 50`,
/// `base = 10`).
pub fn logspace(
    start: impl IntoTensor,
    stop: impl IntoTensor,
    num: usize,
    base: f64,
    opts: &LinspaceOptions,
) -> Result<Tensor> {
    let (start, stop) = (start.into_tensor()?, stop.into_tensor()?);
    let (d, cd) = space_dtypes(&start, &stop, opts.dtype);
    let lin = linspace(
        lax::convert(&start, cd)?,
        lax::convert(&stop, cd)?,
        num,
        &LinspaceOptions {
            dtype: Some(cd),
            ..*opts
        },
    )?;
    let p = lax::binary(BinaryOp::Pow, &lax::full_like(&lin, base)?, &lin)?;
    lax::convert(&p, d)
}

/// `num` samples evenly spaced on a log scale from `start` to `stop`.
pub fn geomspace(
    start: impl IntoTensor,
    stop: impl IntoTensor,
    num: usize,
    opts: &LinspaceOptions,
) -> Result<Tensor> {
    let (start, stop) = (start.into_tensor()?, stop.into_tensor()?);
    let (d, cd) = space_dtypes(&start, &stop, opts.dtype);
    let start = lax::convert(&start, cd)?;
    let stop = lax::convert(&stop, cd)?;
    let sign = lax::unary(UnaryOp::Sign, &start)?;
    let lo = log10(divide(&start, &sign)?)?;
    let hi = log10(divide(&stop, &sign)?)?;
    let ls = logspace(
        &lo,
        &hi,
        num,
        10.0,
        &LinspaceOptions {
            endpoint: opts.endpoint,
            dtype: Some(cd),
            axis: 0,
        },
    )?;
    let mut res = multiply(&sign, &ls)?;
    if opts.axis != 0 {
        let ax = crate::shape::norm_axis("geomspace", opts.axis, res.ndim())?;
        res = super::manip::moveaxis(&res, &[0], &[ax as i64])?;
    }
    lax::convert(&res, d)
}

/// An uninitialized tensor in NumPy; zeros here (`floatx` by default).
pub fn empty(shape: &[usize], dtype: Option<DType>) -> Result<Tensor> {
    zeros(shape, dtype)
}

/// [`empty`] with the shape (and dtype, unless given) of `x`.
pub fn empty_like(x: impl IntoTensor, dtype: Option<DType>) -> Result<Tensor> {
    zeros_like(x, dtype)
}

/// An `n × m` matrix with ones at and below diagonal `k` (`floatx` by default).
pub fn tri(n: usize, m: Option<usize>, k: i64, dtype: Option<DType>) -> Result<Tensor> {
    let m = m.unwrap_or(n);
    let r = lax::add_scalar(&lax::iota(&[n, m], DType::I64, 0)?, k as f64)?;
    let c = lax::iota(&[n, m], DType::I64, 1)?;
    let mask = lax::compare(CmpOp::Le, &c, &r)?;
    lax::convert(&mask, dtype.unwrap_or_else(config::floatx))
}

/// Reads a window length argument (a concrete scalar).
fn window_len(op: &str, x: impl IntoTensor) -> Result<usize> {
    let x = x.into_tensor()?;
    if x.is_traced() {
        return Err(arg_err(
            op,
            "the window length must be concrete, got a traced tensor",
        ));
    }
    let v = x.item_f64()?;
    Ok(if v.is_finite() && v > 0.0 {
        v as usize
    } else {
        0
    })
}

fn window(m: usize, f: impl Fn(f64, f64) -> f64) -> Result<Tensor> {
    let vals: Vec<f64> = if m == 1 {
        vec![1.0]
    } else {
        (0..m)
            .map(|i| f((2 * i) as f64 + 1.0 - m as f64, (m - 1) as f64))
            .collect()
    };
    Tensor::from_f64s(&vals, vec![m], config::floatx())
}

/// Bartlett (triangular) window of length `x` (a scalar), in `floatx`.
pub fn bartlett(x: impl IntoTensor) -> Result<Tensor> {
    let m = window_len("bartlett", x)?;
    window(m, |n, d| 1.0 - n.abs() / d)
}

/// Blackman window of length `x`.
pub fn blackman(x: impl IntoTensor) -> Result<Tensor> {
    let m = window_len("blackman", x)?;
    let pi = std::f64::consts::PI;
    window(m, |n, d| {
        0.42 + 0.5 * (pi * n / d).cos() + 0.08 * (2.0 * pi * n / d).cos()
    })
}

/// Hamming window of length `x`.
pub fn hamming(x: impl IntoTensor) -> Result<Tensor> {
    let m = window_len("hamming", x)?;
    window(m, |n, d| 0.54 + 0.46 * (std::f64::consts::PI * n / d).cos())
}

/// Hann window of length `x`.
pub fn hanning(x: impl IntoTensor) -> Result<Tensor> {
    let m = window_len("hanning", x)?;
    window(m, |n, d| 0.5 + 0.5 * (std::f64::consts::PI * n / d).cos())
}

/// Kaiser window of length `x` with shape parameter `beta` (both concrete scalars).
pub fn kaiser(x: impl IntoTensor, beta: impl IntoTensor) -> Result<Tensor> {
    let m = window_len("kaiser", x)?;
    let b = beta.into_tensor()?;
    if b.is_traced() {
        return Err(arg_err(
            "kaiser",
            "beta must be concrete, got a traced tensor",
        ));
    }
    let beta = b.item_f64()?;
    let i0b = super::math_ext::i0_f64(beta);
    window(m, |n, d| {
        let r = n / d;
        super::math_ext::i0_f64(beta * (1.0 - r * r).max(0.0).sqrt()) / i0b
    })
}
