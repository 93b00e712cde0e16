//! Reductions: `sum`, `mean`, `max`, `argmax`, `var`, ...

use super::*;
use crate::dtype::DType;

pub(crate) fn keep(x: &Tensor, r: Tensor, axes: &[usize], keepdims: bool) -> Result<Tensor> {
    if !keepdims {
        return Ok(r);
    }
    let shape: Vec<usize> = (0..x.ndim())
        .map(|i| if axes.contains(&i) { 1 } else { x.shape()[i] })
        .collect();
    lax::reshape(&r, &shape)
}

/// Sum dtype rule (NumPy / JAX): bool and small ints accumulate in the default int.
pub(crate) fn sum_dtype(d: DType) -> DType {
    match d {
        DType::Bool | DType::I8 | DType::I16 => DType::I32,
        DType::U8 | DType::U16 => DType::U32,
        d => d,
    }
}

/// Sum over `axis` (None: all axes).
///
/// ```
/// use ceras::{ops, Tensor};
/// let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], [2, 2]).unwrap();
/// assert_eq!(ops::sum(&x, Some(&[0]), false).unwrap().to_vec::<f32>().unwrap(), vec![4.0, 6.0]);
/// ```
pub fn sum(x: impl IntoTensor, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
    let x = x.into_tensor()?;
    let axes = axes_or_all("sum", axis, x.ndim())?;
    let xc = lax::convert(&x, sum_dtype(x.dtype()))?;
    let r = lax::reduce(ReduceOp::Sum, &xc, &axes)?;
    keep(&x, r, &axes, keepdims)
}

/// Product over `axis`.
pub fn prod(x: impl IntoTensor, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
    let x = x.into_tensor()?;
    let axes = axes_or_all("prod", axis, x.ndim())?;
    let xc = lax::convert(&x, sum_dtype(x.dtype()))?;
    let r = lax::reduce(ReduceOp::Prod, &xc, &axes)?;
    keep(&x, r, &axes, keepdims)
}

/// Mean over `axis`; integer inputs give `floatx`.
pub fn mean(x: impl IntoTensor, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
    let x = x.into_tensor()?;
    let axes = axes_or_all("mean", axis, x.ndim())?;
    let d = float_dtype(&[&x]);
    // Half-precision means accumulate in float32, as XLA does.
    let acc = if matches!(d, DType::F16 | DType::BF16) {
        DType::F32
    } else {
        d
    };
    let n: usize = axes.iter().map(|&a| x.shape()[a]).product();
    let s = lax::reduce(ReduceOp::Sum, &lax::convert(&x, acc)?, &axes)?;
    let m = lax::div(&s, &lax::full_like(&s, n as f64)?)?;
    keep(&x, lax::convert(&m, d)?, &axes, keepdims)
}

fn minmax(
    op: &str,
    r: ReduceOp,
    x: Tensor,
    axis: Option<&[i64]>,
    keepdims: bool,
    initial: Option<f64>,
) -> Result<Tensor> {
    let axes = axes_or_all(op, axis, x.ndim())?;
    if axes.iter().any(|&a| x.shape()[a] == 0) && initial.is_none() {
        return Err(arg_err(
            op,
            "zero-size array to reduction operation which has no identity",
        ));
    }
    let xc = if x.dtype() == DType::Bool {
        lax::convert(&x, DType::I32)?
    } else {
        x.clone()
    };
    let mut out = lax::reduce(r, &xc, &axes)?;
    if let Some(v) = initial {
        let init = lax::full_like(&out, v)?;
        out = lax::binary(
            if r == ReduceOp::Max {
                BinaryOp::Max
            } else {
                BinaryOp::Min
            },
            &out,
            &init,
        )?;
    }
    let out = if x.dtype() == DType::Bool {
        lax::convert(&out, DType::Bool)?
    } else {
        out
    };
    keep(&x, out, &axes, keepdims)
}

/// Maximum over `axis` (`initial` is included in the reduction when given).
pub fn max(
    x: impl IntoTensor,
    axis: Option<&[i64]>,
    keepdims: bool,
    initial: Option<f64>,
) -> Result<Tensor> {
    minmax(
        "max",
        ReduceOp::Max,
        x.into_tensor()?,
        axis,
        keepdims,
        initial,
    )
}
/// Minimum over `axis`.
pub fn min(
    x: impl IntoTensor,
    axis: Option<&[i64]>,
    keepdims: bool,
    initial: Option<f64>,
) -> Result<Tensor> {
    minmax(
        "min",
        ReduceOp::Min,
        x.into_tensor()?,
        axis,
        keepdims,
        initial,
    )
}
/// Alias of [`max`] without `initial`.
pub fn amax(x: impl IntoTensor, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
    max(x, axis, keepdims, None)
}
/// Alias of [`min`] without `initial`.
pub fn amin(x: impl IntoTensor, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
    min(x, axis, keepdims, None)
}

fn anyall(
    op: &str,
    r: ReduceOp,
    x: Tensor,
    axis: Option<&[i64]>,
    keepdims: bool,
) -> Result<Tensor> {
    let axes = axes_or_all(op, axis, x.ndim())?;
    let b = if x.dtype() == DType::Bool {
        x.clone()
    } else {
        lax::compare(CmpOp::Ne, &x, &lax::zeros_like(&x)?)?
    };
    let out = lax::reduce(r, &b, &axes)?;
    keep(&x, out, &axes, keepdims)
}
/// True if any element is truthy.
pub fn any(x: impl IntoTensor, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
    anyall("any", ReduceOp::Any, x.into_tensor()?, axis, keepdims)
}
/// True if all elements are truthy.
pub fn all(x: impl IntoTensor, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
    anyall("all", ReduceOp::All, x.into_tensor()?, axis, keepdims)
}

fn argred(op: &str, a: ArgOp, x: Tensor, axis: Option<i64>, keepdims: bool) -> Result<Tensor> {
    let x = if x.dtype() == DType::Bool {
        lax::convert(&x, DType::I32)?
    } else {
        x
    };
    match axis {
        None => {
            let flat = lax::reshape(&x, &[x.size()])?;
            let r = lax::argreduce(a, &flat, 0, DType::I32)?;
            if keepdims {
                lax::reshape(&r, &vec![1; x.ndim()])
            } else {
                Ok(r)
            }
        }
        Some(ax) => {
            let ax = crate::shape::norm_axis(op, ax, x.ndim())?;
            let r = lax::argreduce(a, &x, ax, DType::I32)?;
            keep(&x, r, &[ax], keepdims)
        }
    }
}
/// Index of the maximum (first occurrence), as int32.
pub fn argmax(x: impl IntoTensor, axis: Option<i64>, keepdims: bool) -> Result<Tensor> {
    argred("argmax", ArgOp::ArgMax, x.into_tensor()?, axis, keepdims)
}
/// Index of the minimum (first occurrence), as int32.
pub fn argmin(x: impl IntoTensor, axis: Option<i64>, keepdims: bool) -> Result<Tensor> {
    argred("argmin", ArgOp::ArgMin, x.into_tensor()?, axis, keepdims)
}

/// Variance over `axis` (population, `ddof = 0`).
pub fn var(x: impl IntoTensor, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
    let x = x.into_tensor()?;
    let d = float_dtype(&[&x]);
    let acc = if matches!(d, DType::F16 | DType::BF16) {
        DType::F32
    } else {
        d
    };
    let xf = lax::convert(&x, acc)?;
    let m = mean(&xf, axis, true)?;
    let c = subtract(&xf, &m)?;
    let v = mean(&multiply(&c, &c)?, axis, keepdims)?;
    lax::convert(&v, d)
}

/// Standard deviation over `axis`.
pub fn std(x: impl IntoTensor, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
    sqrt(var(x, axis, keepdims)?)
}

/// `log(sum(exp(x)))`, computed stably.
pub fn logsumexp(x: impl IntoTensor, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
    let x = x.into_tensor()?;
    let d = float_dtype(&[&x]);
    let x = lax::convert(&x, d)?;
    let m = max(&x, axis, true, None)?;
    let m = lax::stop_gradient(&m)?;
    let finite = isfinite(&m)?;
    let m = r#where(&finite, &m, &lax::zeros_like(&m)?)?;
    let s = sum(&exp(&subtract(&x, &m)?)?, axis, true)?;
    let r = add(&log(&s)?, &m)?;
    if keepdims {
        Ok(r)
    } else {
        let axes = axes_or_all("logsumexp", axis, x.ndim())?;
        let shape: Vec<usize> = (0..x.ndim())
            .filter(|i| !axes.contains(i))
            .map(|i| x.shape()[i])
            .collect();
        lax::reshape(&r, &shape)
    }
}
