//! Scans and statistics: `cumsum`, `cumprod`, `count_nonzero`, `average`, `ptp`,
//! the NaN-ignoring reductions (`nansum`, `nanmean`, ...), `quantile`,
//! `percentile`, `median`, `diff`, `trace`.

use super::reduction::sum_dtype;
use super::*;
use crate::dtype::DType;
use crate::error::shape_err;
use crate::shape::norm_axis;

/// Flattens when `axis` is `None`; returns the tensor and the normalized axis.
fn flat_or_axis(op: &str, x: Tensor, axis: Option<i64>) -> Result<(Tensor, usize)> {
    match axis {
        None => Ok((lax::reshape(&x, &[x.size()])?, 0)),
        Some(a) => {
            let ax = norm_axis(op, a, x.ndim())?;
            Ok((x, ax))
        }
    }
}

fn scan(op: &str, c: CumOp, x: Tensor, axis: Option<i64>, dtype: Option<DType>) -> Result<Tensor> {
    let (x, ax) = flat_or_axis(op, x, axis)?;
    let d = dtype.unwrap_or(match x.dtype() {
        DType::Bool => DType::I32,
        d => d,
    });
    let xc = lax::convert(&x, d)?;
    let c = match (d, c) {
        (DType::Bool, CumOp::Sum) => CumOp::Max,
        (DType::Bool, CumOp::Prod) => CumOp::Min,
        (_, c) => c,
    };
    lax::cumulative(c, &xc, ax, false)
}

/// Cumulative sum along `axis` (`None`: over the flattened tensor). The result keeps
/// the input dtype (bool gives int32) unless `dtype` is given.
///
/// ```
/// use ceras::{ops, Tensor};
/// let x = Tensor::from_vec(vec![1i32, 2, 3], [3]).unwrap();
/// assert_eq!(ops::cumsum(&x, None, None).unwrap().to_vec::<i32>().unwrap(), vec![1, 3, 6]);
/// ```
pub fn cumsum(x: impl IntoTensor, axis: Option<i64>, dtype: Option<DType>) -> Result<Tensor> {
    scan("cumsum", CumOp::Sum, x.into_tensor()?, axis, dtype)
}

/// Cumulative product along `axis` (`None`: over the flattened tensor).
pub fn cumprod(x: impl IntoTensor, axis: Option<i64>, dtype: Option<DType>) -> Result<Tensor> {
    scan("cumprod", CumOp::Prod, x.into_tensor()?, axis, dtype)
}

fn replace_nan(x: &Tensor, v: f64) -> Result<Tensor> {
    if !x.dtype().is_float() {
        return Ok(x.clone());
    }
    lax::select(&lax::unary(UnaryOp::IsNan, x)?, &lax::full_like(x, v)?, x)
}

/// [`cumsum`] treating NaNs as zero.
pub fn nancumsum(x: impl IntoTensor, axis: Option<i64>, dtype: Option<DType>) -> Result<Tensor> {
    let x = replace_nan(&x.into_tensor()?, 0.0)?;
    scan("nancumsum", CumOp::Sum, x, axis, dtype)
}

/// [`cumprod`] treating NaNs as one.
pub fn nancumprod(x: impl IntoTensor, axis: Option<i64>, dtype: Option<DType>) -> Result<Tensor> {
    let x = replace_nan(&x.into_tensor()?, 1.0)?;
    scan("nancumprod", CumOp::Prod, x, axis, dtype)
}

/// Number of non-zero elements over `axis` (`None`: all), as int32.
pub fn count_nonzero(x: impl IntoTensor, axis: Option<&[i64]>) -> Result<Tensor> {
    let x = x.into_tensor()?;
    let axes = axes_or_all("count_nonzero", axis, x.ndim())?;
    let nz = lax::compare(CmpOp::Ne, &x, &lax::zeros_like(&x)?)?;
    lax::reduce_sum(&lax::convert(&nz, DType::I32)?, &axes)
}

fn acc_dtype(d: DType) -> DType {
    if matches!(d, DType::F16 | DType::BF16) {
        DType::F32
    } else {
        d
    }
}

/// Weighted average over `axis` (`None`: all axes). `weights` has the shape of `x`,
/// or is 1-D along a single `axis`. The result is floating point
/// (Keras's `result_type(x, weights, float)`).
pub fn average(
    x: impl IntoTensor,
    axis: Option<&[i64]>,
    weights: Option<&Tensor>,
) -> Result<Tensor> {
    let x = x.into_tensor()?;
    let d = match weights {
        Some(w) => float_dtype(&[&x, w]),
        None => float_dtype(&[&x]),
    };
    let xf = lax::convert(&x, d)?;
    let Some(w) = weights else {
        return mean(&xf, axis, false);
    };
    let acc = acc_dtype(d);
    let xa = lax::convert(&xf, acc)?;
    let w = lax::convert(&lax::convert(w, d)?, acc)?;
    let (wb, axes) = if w.shape() == x.shape() {
        (w, axes_or_all("average", axis, x.ndim())?)
    } else {
        let ax = match axis {
            None => {
                return Err(shape_err(
                    "average",
                    format!(
                        "axis must be specified when the shapes of x {:?} and weights {:?} differ",
                        x.shape(),
                        w.shape()
                    ),
                ))
            }
            Some([a]) => norm_axis("average", *a, x.ndim())?,
            Some(a) => {
                return Err(shape_err(
                    "average",
                    format!(
                        "shape of weights {:?} must be consistent with shape of x {:?} along axis {a:?}",
                        w.shape(),
                        x.shape()
                    ),
                ))
            }
        };
        if w.ndim() != 1 || w.shape()[0] != x.shape()[ax] {
            return Err(shape_err(
                "average",
                format!(
                    "shape of weights {:?} must be consistent with shape of x {:?} along axis {ax}",
                    w.shape(),
                    x.shape()
                ),
            ));
        }
        (lax::broadcast_in_dim(&w, x.shape(), &[ax])?, vec![ax])
    };
    let num = lax::reduce_sum(&lax::mul(&xa, &wb)?, &axes)?;
    let den = lax::reduce_sum(&wb, &axes)?;
    lax::convert(&lax::div(&num, &den)?, d)
}

/// Peak to peak (`max - min`) over `axis`.
pub fn ptp(x: impl IntoTensor, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
    let x = x.into_tensor()?;
    if x.dtype() == DType::Bool {
        return Err(crate::error::dtype_err(
            "ptp",
            "boolean subtract is not supported; cast to an integer dtype first",
        ));
    }
    let hi = max(&x, axis, keepdims, None)?;
    let lo = min(&x, axis, keepdims, None)?;
    lax::sub(&hi, &lo)
}

/// Sum over `axis` treating NaNs as zero.
pub fn nansum(x: impl IntoTensor, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
    sum(replace_nan(&x.into_tensor()?, 0.0)?, axis, keepdims)
}

/// Product over `axis` treating NaNs as one.
pub fn nanprod(x: impl IntoTensor, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
    prod(replace_nan(&x.into_tensor()?, 1.0)?, axis, keepdims)
}

fn nanminmax(
    op: &str,
    x: Tensor,
    axis: Option<&[i64]>,
    keepdims: bool,
    is_max: bool,
) -> Result<Tensor> {
    if !x.dtype().is_float() {
        return if is_max {
            max(&x, axis, keepdims, None)
        } else {
            min(&x, axis, keepdims, None)
        };
    }
    let _ = axes_or_all(op, axis, x.ndim())?;
    let nan = lax::unary(UnaryOp::IsNan, &x)?;
    let fill = if is_max {
        f64::NEG_INFINITY
    } else {
        f64::INFINITY
    };
    let xr = lax::select(&nan, &lax::full_like(&x, fill)?, &x)?;
    let r = if is_max {
        max(&xr, axis, keepdims, None)?
    } else {
        min(&xr, axis, keepdims, None)?
    };
    let all_nan = all(&nan, axis, keepdims)?;
    lax::select(&all_nan, &lax::full_like(&r, f64::NAN)?, &r)
}

/// Maximum over `axis` ignoring NaNs (NaN where every element is NaN).
pub fn nanmax(x: impl IntoTensor, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
    nanminmax("nanmax", x.into_tensor()?, axis, keepdims, true)
}

/// Minimum over `axis` ignoring NaNs.
pub fn nanmin(x: impl IntoTensor, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
    nanminmax("nanmin", x.into_tensor()?, axis, keepdims, false)
}

/// Mean over `axis` ignoring NaNs; integer inputs give `floatx`.
pub fn nanmean(x: impl IntoTensor, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
    let x = x.into_tensor()?;
    if !x.dtype().is_float() {
        return mean(&x, axis, keepdims);
    }
    let d = x.dtype();
    let xa = lax::convert(&x, acc_dtype(d))?;
    let (s, n) = nan_sum_count(&xa, axis, keepdims)?;
    lax::convert(&lax::div(&s, &n)?, d)
}

/// Sum of the non-NaN elements and their count (in `x`'s dtype).
fn nan_sum_count(x: &Tensor, axis: Option<&[i64]>, keepdims: bool) -> Result<(Tensor, Tensor)> {
    let nan = lax::unary(UnaryOp::IsNan, x)?;
    let ok = lax::convert(&lax::unary(UnaryOp::Not, &nan)?, x.dtype())?;
    let s = sum(&lax::select(&nan, &lax::zeros_like(x)?, x)?, axis, keepdims)?;
    let n = sum(&ok, axis, keepdims)?;
    Ok((s, n))
}

/// Variance over `axis` ignoring NaNs (`ddof = 0`); NaN where no element is left.
pub fn nanvar(x: impl IntoTensor, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
    let x = x.into_tensor()?;
    let d = float_dtype(&[&x]);
    let xa = lax::convert(&x, acc_dtype(d))?;
    let (s, n) = nan_sum_count(&xa, axis, true)?;
    let m = lax::div(&s, &n)?;
    let nan = lax::unary(UnaryOp::IsNan, &xa)?;
    let c = subtract(&xa, &m)?;
    let c = lax::select(&nan, &lax::zeros_like(&c)?, &c)?;
    let sq = sum(&lax::mul(&c, &c)?, axis, keepdims)?;
    let n_in = sum(
        &lax::convert(&lax::unary(UnaryOp::Not, &nan)?, xa.dtype())?,
        axis,
        keepdims,
    )?;
    let empty = lax::compare(CmpOp::Le, &n_in, &lax::zeros_like(&n_in)?)?;
    let div = lax::select(&empty, &lax::full_like(&n_in, 1.0)?, &n_in)?;
    let v = lax::div(&sq, &div)?;
    let v = lax::select(&empty, &lax::full_like(&v, f64::NAN)?, &v)?;
    lax::convert(&v, d)
}

/// Standard deviation over `axis` ignoring NaNs.
pub fn nanstd(x: impl IntoTensor, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
    sqrt(nanvar(x, axis, keepdims)?)
}

fn nanarg(op: &str, x: Tensor, axis: Option<i64>, keepdims: bool, is_max: bool) -> Result<Tensor> {
    if !x.dtype().is_float() {
        return if is_max {
            argmax(&x, axis, keepdims)
        } else {
            argmin(&x, axis, keepdims)
        };
    }
    if let Some(a) = axis {
        norm_axis(op, a, x.ndim())?;
    }
    let nan = lax::unary(UnaryOp::IsNan, &x)?;
    let fill = if is_max {
        f64::NEG_INFINITY
    } else {
        f64::INFINITY
    };
    let xr = lax::select(&nan, &lax::full_like(&x, fill)?, &x)?;
    let r = if is_max {
        argmax(&xr, axis, keepdims)?
    } else {
        argmin(&xr, axis, keepdims)?
    };
    let ax: Option<Vec<i64>> = axis.map(|a| vec![a]);
    let all_nan = all(&nan, ax.as_deref(), keepdims)?;
    lax::select(&all_nan, &lax::full_like(&r, -1.0)?, &r)
}

/// Index of the maximum ignoring NaNs (int32; -1 where every element is NaN).
pub fn nanargmax(x: impl IntoTensor, axis: Option<i64>, keepdims: bool) -> Result<Tensor> {
    nanarg("nanargmax", x.into_tensor()?, axis, keepdims, true)
}

/// Index of the minimum ignoring NaNs (int32; -1 where every element is NaN).
pub fn nanargmin(x: impl IntoTensor, axis: Option<i64>, keepdims: bool) -> Result<Tensor> {
    nanarg("nanargmin", x.into_tensor()?, axis, keepdims, false)
}

/// Quantile interpolation methods (Keras's `method` argument).
fn check_method(op: &str, method: &str) -> Result<()> {
    match method {
        "linear" | "lower" | "higher" | "midpoint" | "nearest" => Ok(()),
        _ => Err(arg_err(
            op,
            format!(
                "method must be one of linear, lower, higher, midpoint, nearest; got {method:?}"
            ),
        )),
    }
}

/// Shared implementation of the quantile family (JAX's algorithm: sort, then
/// interpolate between the neighbouring order statistics).
fn quantile_impl(
    op: &str,
    x: Tensor,
    q: Tensor,
    axis: Option<&[i64]>,
    method: &str,
    keepdims: bool,
    ignore_nan: bool,
) -> Result<Tensor> {
    check_method(op, method)?;
    if q.ndim() > 1 {
        return Err(shape_err(
            op,
            format!("q must have rank <= 1, got shape {:?}", q.shape()),
        ));
    }
    let d = float_dtype(&[&x]);
    let qd = if d == DType::F64 {
        DType::F64
    } else {
        DType::F32
    };
    let x = lax::convert(&x, d)?;
    let nd = x.ndim();
    let axes = axes_or_all(op, axis, nd)?;
    let kshape: Vec<usize> = (0..nd)
        .map(|i| if axes.contains(&i) { 1 } else { x.shape()[i] })
        .collect();
    let kept: Vec<usize> = (0..nd).filter(|i| !axes.contains(i)).collect();
    let mut perm = kept.clone();
    perm.extend(&axes);
    let outer: Vec<usize> = kept.iter().map(|&i| x.shape()[i]).collect();
    let n: usize = axes.iter().map(|&i| x.shape()[i]).product();
    let mut s = outer.clone();
    s.push(n);
    let a = lax::reshape(&lax::transpose(&x, &perm)?, &s)?;
    let last = outer.len();
    let qv = lax::convert(&q, qd)?;
    let qs = qv.shape().to_vec();
    let mut out_shape = outer.clone();
    out_shape.extend(&qs);
    let qdims: Vec<usize> = (last..last + qs.len()).collect();

    let result = if n == 0 {
        lax::full(&out_shape, f64::NAN, d)?
    } else {
        let nan = lax::unary(UnaryOp::IsNan, &a)?;
        let a = if ignore_nan {
            a
        } else {
            let any_nan = lax::reduce(ReduceOp::Any, &nan, &[last])?;
            let any_nan =
                lax::broadcast_in_dim(&any_nan, a.shape(), &(0..last).collect::<Vec<_>>())?;
            lax::select(&any_nan, &lax::full_like(&a, f64::NAN)?, &a)?
        };
        let (sorted, _) = lax::sort(&a, last, false)?;
        let (lo_v, hi_v, hw) = if ignore_nan {
            let ok = lax::convert(&lax::unary(UnaryOp::Not, &nan)?, qd)?;
            let counts = lax::reduce_sum(&ok, &[last])?;
            let outer_dims: Vec<usize> = (0..last).collect();
            let cb = lax::broadcast_in_dim(&counts, &out_shape, &outer_dims)?;
            let qb = lax::broadcast_in_dim(&qv, &out_shape, &qdims)?;
            let cm1 = lax::add_scalar(&cb, -1.0)?;
            let qq = lax::mul(&qb, &cm1)?;
            let low = lax::unary(UnaryOp::Floor, &qq)?;
            let high = lax::unary(UnaryOp::Ceil, &qq)?;
            let hw = lax::sub(&qq, &low)?;
            let zero = lax::zeros_like(&qq)?;
            let clampc = |t: &Tensor| -> Result<Tensor> {
                let t = lax::binary(BinaryOp::Min, t, &cm1)?;
                lax::binary(BinaryOp::Max, &t, &zero)
            };
            let low = lax::convert(&clampc(&low)?, DType::I32)?;
            let high = lax::convert(&clampc(&high)?, DType::I32)?;
            let take = |idx: &Tensor| -> Result<Tensor> {
                let mut is = outer.clone();
                is.push(if qs.is_empty() { 1 } else { qs[0] });
                let idx = lax::reshape(idx, &is)?;
                let v = take_along_axis(&sorted, &idx, Some(last as i64))?;
                lax::reshape(&v, &out_shape)
            };
            (take(&low)?, take(&high)?, hw)
        } else {
            let qq = lax::mul_scalar(&qv, n as f64 - 1.0)?;
            let low = lax::unary(UnaryOp::Floor, &qq)?;
            let high = lax::unary(UnaryOp::Ceil, &qq)?;
            let hw = lax::sub(&qq, &low)?;
            let clampc = |t: &Tensor| -> Result<Tensor> {
                let t = lax::binary(BinaryOp::Min, t, &lax::full_like(t, n as f64 - 1.0)?)?;
                lax::binary(BinaryOp::Max, &t, &lax::zeros_like(&t)?)
            };
            let low = lax::convert(&clampc(&low)?, DType::I32)?;
            let high = lax::convert(&clampc(&high)?, DType::I32)?;
            let lo_v = lax::gather(&sorted, &low, last)?;
            let hi_v = lax::gather(&sorted, &high, last)?;
            let hw = lax::broadcast_in_dim(&hw, &out_shape, &qdims)?;
            (lo_v, hi_v, hw)
        };
        match method {
            "linear" => {
                let lw = lax::sub(&lax::full_like(&hw, 1.0)?, &hw)?;
                let r = lax::add(
                    &lax::mul(&lax::convert(&lo_v, qd)?, &lw)?,
                    &lax::mul(&lax::convert(&hi_v, qd)?, &hw)?,
                )?;
                lax::convert(&r, d)?
            }
            "lower" => lo_v,
            "higher" => hi_v,
            "nearest" => {
                let pred = lax::compare(CmpOp::Le, &hw, &lax::full_like(&hw, 0.5)?)?;
                lax::select(&pred, &lo_v, &hi_v)?
            }
            _ => lax::mul_scalar(&lax::add(&lo_v, &hi_v)?, 0.5)?,
        }
    };
    // q's dimension goes first.
    let result = if qs.is_empty() {
        result
    } else {
        let mut p = vec![last];
        p.extend(0..last);
        lax::transpose(&result, &p)?
    };
    if keepdims {
        let mut ks = qs.clone();
        ks.extend(&kshape);
        lax::reshape(&result, &ks)
    } else {
        Ok(result)
    }
}

/// `q`-th quantile(s) over `axis` (`q` in `[0, 1]`, a scalar or 1-D; a 1-D `q`
/// adds a leading output dimension). `method` is one of `"linear"`, `"lower"`,
/// `"higher"`, `"midpoint"`, `"nearest"` (Keras's default is `"linear"`).
/// NaN propagates; integer inputs give `floatx`.
pub fn quantile(
    x: impl IntoTensor,
    q: impl IntoTensor,
    axis: Option<&[i64]>,
    method: &str,
    keepdims: bool,
) -> Result<Tensor> {
    quantile_impl(
        "quantile",
        x.into_tensor()?,
        q.into_tensor()?,
        axis,
        method,
        keepdims,
        false,
    )
}

/// [`quantile`] ignoring NaNs.
pub fn nanquantile(
    x: impl IntoTensor,
    q: impl IntoTensor,
    axis: Option<&[i64]>,
    method: &str,
    keepdims: bool,
) -> Result<Tensor> {
    quantile_impl(
        "nanquantile",
        x.into_tensor()?,
        q.into_tensor()?,
        axis,
        method,
        keepdims,
        true,
    )
}

fn pct_to_q(q: Tensor, x: &Tensor) -> Result<Tensor> {
    let qd = if float_dtype(&[x]) == DType::F64 {
        DType::F64
    } else {
        DType::F32
    };
    lax::mul_scalar(&lax::convert(&q, qd)?, 0.01)
}

/// `q`-th percentile(s) over `axis` (`q` in `[0, 100]`); see [`quantile`].
pub fn percentile(
    x: impl IntoTensor,
    q: impl IntoTensor,
    axis: Option<&[i64]>,
    method: &str,
    keepdims: bool,
) -> Result<Tensor> {
    let x = x.into_tensor()?;
    let q = pct_to_q(q.into_tensor()?, &x)?;
    quantile_impl("percentile", x, q, axis, method, keepdims, false)
}

/// [`percentile`] ignoring NaNs.
pub fn nanpercentile(
    x: impl IntoTensor,
    q: impl IntoTensor,
    axis: Option<&[i64]>,
    method: &str,
    keepdims: bool,
) -> Result<Tensor> {
    let x = x.into_tensor()?;
    let q = pct_to_q(q.into_tensor()?, &x)?;
    quantile_impl("nanpercentile", x, q, axis, method, keepdims, true)
}

/// Median over `axis` (`None`: all axes); integer inputs give `floatx`.
pub fn median(x: impl IntoTensor, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
    quantile_impl(
        "median",
        x.into_tensor()?,
        lax::scalar(0.5, DType::F32)?,
        axis,
        "midpoint",
        keepdims,
        false,
    )
}

/// Median over `axis` ignoring NaNs.
pub fn nanmedian(x: impl IntoTensor, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
    quantile_impl(
        "nanmedian",
        x.into_tensor()?,
        lax::scalar(0.5, DType::F32)?,
        axis,
        "midpoint",
        keepdims,
        true,
    )
}

/// `n`-th discrete difference along `axis` (`a[1:] - a[:-1]`, repeated `n` times;
/// `!=` for bool). The dtype is kept.
pub fn diff(a: impl IntoTensor, n: usize, axis: i64) -> Result<Tensor> {
    let a = a.into_tensor()?;
    let ax = norm_axis("diff", axis, a.ndim())?;
    let mut cur = a.with_weak(false);
    for _ in 0..n {
        let len = cur.shape()[ax];
        if len == 0 {
            break;
        }
        let hi = lax::slice_axis(&cur, ax, 1, len)?;
        let lo = lax::slice_axis(&cur, ax, 0, len - 1)?;
        cur = if cur.dtype() == DType::Bool {
            lax::compare(CmpOp::Ne, &hi, &lo)?
        } else {
            lax::sub(&hi, &lo)?
        };
    }
    Ok(cur)
}

/// Sum along the diagonal at `offset` of the planes given by `axis1`, `axis2`
/// (Keras's defaults: `0, 0, 1`). Small integer and bool inputs sum in int32.
pub fn trace(x: impl IntoTensor, offset: i64, axis1: i64, axis2: i64) -> Result<Tensor> {
    let dg = diagonal(x, offset, axis1, axis2)?;
    let last = dg.ndim() - 1;
    let d = sum_dtype(dg.dtype());
    lax::reduce_sum(&lax::convert(&dg, d)?, &[last])
}

/// Integral of `y` along `axis` by the trapezoidal rule, with sample points `x`
/// (1-D, or shaped like `y`) or a constant spacing `dx` (Keras's defaults:
/// `x = None`, `dx = 1.0`, `axis = -1`). The result is floating point.
pub fn trapezoid(y: impl IntoTensor, x: Option<&Tensor>, dx: f64, axis: i64) -> Result<Tensor> {
    let y = y.into_tensor()?;
    let d = match x {
        Some(x) => float_dtype(&[&y, x]),
        None => float_dtype(&[&y]),
    };
    let ax = norm_axis("trapezoid", axis, y.ndim())?;
    let yf = super::manip::moveaxis(&lax::convert(&y, d)?, &[ax as i64], &[-1])?;
    let last = yf.ndim() - 1;
    let n = yf.shape()[last];
    if n == 0 {
        let mut s = yf.shape().to_vec();
        s.pop();
        return lax::full(&s, 0.0, d);
    }
    let hi = lax::slice_axis(&yf, last, 1, n)?;
    let lo = lax::slice_axis(&yf, last, 0, n - 1)?;
    let avg = lax::add(&hi, &lo)?;
    let prod = match x {
        None => lax::mul_scalar(&avg, dx)?,
        Some(x) => {
            let xf = lax::convert(x, d)?;
            let dxs = if xf.ndim() == 1 {
                diff(&xf, 1, 0)?
            } else {
                super::manip::moveaxis(&diff(&xf, 1, axis)?, &[axis], &[-1])?
            };
            multiply(&avg, &dxs)?
        }
    };
    let s = lax::reduce_sum(&lax::convert(&prod, acc_dtype(d))?, &[last])?;
    lax::convert(&lax::mul_scalar(&s, 0.5)?, d)
}

/// Pearson correlation coefficients of the rows of `x` (variables in rows,
/// observations in columns), clipped to `[-1, 1]`.
pub fn corrcoef(x: impl IntoTensor) -> Result<Tensor> {
    let x = x.into_tensor()?;
    if x.ndim() > 2 {
        return Err(shape_err(
            "corrcoef",
            format!("x must be at most 2-D, got shape {:?}", x.shape()),
        ));
    }
    let d = float_dtype(&[&x]);
    let m = if x.ndim() < 2 {
        lax::reshape(&x, &[1, x.size()])?
    } else {
        x.clone()
    };
    let m = lax::convert(&m, d)?;
    let obs = m.shape()[1];
    let avg = mean(&m, Some(&[1]), true)?;
    let c = lax::sub(&m, &lax::broadcast_to(&avg, m.shape())?)?;
    let cov = lax::dot_general(&c, &c, &[1], &[1], &[], &[])?;
    let cov = lax::div(&cov, &lax::full_like(&cov, obs as f64 - 1.0)?)?;
    let n = cov.shape()[0];
    let sd = lax::unary(UnaryOp::Sqrt, &super::manip::diagonal(&cov, 0, 0, 1)?)?;
    let r = lax::div(&cov, &lax::broadcast_in_dim(&sd, &[n, n], &[0])?)?;
    let r = lax::div(&r, &lax::broadcast_in_dim(&sd, &[n, n], &[1])?)?;
    let r = lax::binary(BinaryOp::Max, &r, &lax::full_like(&r, -1.0)?)?;
    let r = lax::binary(BinaryOp::Min, &r, &lax::full_like(&r, 1.0)?)?;
    if x.ndim() < 2 {
        lax::reshape(&r, &[])
    } else {
        Ok(r)
    }
}
