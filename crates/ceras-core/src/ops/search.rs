//! Sorting, searching and set operations: `sort`, `argsort`, `argpartition`,
//! `top_k`, `in_top_k`, `searchsorted`, `digitize`, `nonzero`, `bincount`,
//! `isin`, `unique`, `unravel_index`, `select`.

use super::*;
use crate::dtype::DType;
use crate::error::{dtype_err, shape_err};
use crate::shape::norm_axis;
use crate::storage::HostData;

fn flat_or(op: &str, x: Tensor, axis: Option<i64>) -> Result<(Tensor, usize)> {
    match axis {
        None => Ok((lax::reshape(&x, &[x.size()])?, 0)),
        Some(a) => {
            if x.ndim() == 0 {
                return Ok((lax::reshape(&x, &[1])?, 0));
            }
            let ax = norm_axis(op, a, x.ndim())?;
            Ok((x, ax))
        }
    }
}

/// Sorted copy along `axis` (`None`: of the flattened tensor). NaNs go last.
pub fn sort(x: impl IntoTensor, axis: Option<i64>) -> Result<Tensor> {
    let x = x.into_tensor()?;
    if x.ndim() == 0 && axis.is_some() {
        return Ok(x);
    }
    let (x, ax) = flat_or("sort", x, axis)?;
    Ok(lax::sort(&x, ax, false)?.0)
}

/// Indices (int32) that sort `x` along `axis` (`None`: flattened); stable.
pub fn argsort(x: impl IntoTensor, axis: Option<i64>) -> Result<Tensor> {
    let (x, ax) = flat_or("argsort", x.into_tensor()?, axis)?;
    Ok(lax::sort(&x, ax, false)?.1)
}

/// The `k` largest entries along the last axis and their int32 indices, largest
/// first (ties: lower index first). Keras's `sorted` has no effect on the order.
pub fn top_k(x: impl IntoTensor, k: usize, sorted: bool) -> Result<(Tensor, Tensor)> {
    let _ = sorted;
    let x = x.into_tensor()?;
    if x.ndim() == 0 {
        return Err(shape_err("top_k", "input must have at least one dimension"));
    }
    let last = x.ndim() - 1;
    let n = x.shape()[last];
    if k > n {
        return Err(arg_err(
            "top_k",
            format!("k={k} is larger than the last dimension {n}"),
        ));
    }
    let (v, i) = lax::sort(&x, last, true)?;
    Ok((
        lax::slice_axis(&v, last, 0, k)?,
        lax::slice_axis(&i, last, 0, k)?,
    ))
}

/// True where `targets[i]` is among the `k` largest `predictions[i, :]` (ties
/// count in the target's favour; NaN predictions at the target never are).
pub fn in_top_k(
    targets: impl IntoTensor,
    predictions: impl IntoTensor,
    k: usize,
) -> Result<Tensor> {
    let t = targets.into_tensor()?;
    let p = predictions.into_tensor()?;
    if p.ndim() != t.ndim() + 1 {
        return Err(shape_err(
            "in_top_k",
            format!(
                "predictions of shape {:?} must have one more axis than targets of shape {:?}",
                p.shape(),
                t.shape()
            ),
        ));
    }
    let last = p.ndim() - 1;
    let idx = expand_dims(&t, &[-1])?;
    let at = take_along_axis(&p, &idx, Some(-1))?;
    let at = if at.dtype().is_float() {
        lax::select(
            &lax::unary(UnaryOp::IsNan, &at)?,
            &lax::full_like(&at, f64::NEG_INFINITY)?,
            &at,
        )?
    } else {
        at
    };
    let gt = greater(&p, &at)?;
    let rank = lax::reduce_sum(&lax::convert(&gt, DType::I32)?, &[last])?;
    lax::compare(CmpOp::Lt, &rank, &lax::full_like(&rank, k as f64)?)
}

/// Indices (int32) that partially sort `x` along `axis` (`None`: flattened): the
/// `kth` entry is in its sorted position, smaller ones before it (in ascending
/// order), the others after it (in index order), as JAX does.
pub fn argpartition(x: impl IntoTensor, kth: i64, axis: Option<i64>) -> Result<Tensor> {
    let (x, ax) = flat_or("argpartition", x.into_tensor()?, axis)?;
    let nd = x.ndim();
    let n = x.shape()[ax];
    let k = norm_axis("argpartition", kth, n)? + 1;
    let mut perm: Vec<usize> = (0..nd).collect();
    perm.swap(ax, nd - 1);
    let xt = lax::transpose(&x, &perm)?;
    let last = nd - 1;
    let order = lax::sort(&xt, last, false)?.1;
    let bottom = lax::slice_axis(&order, last, 0, k)?;
    // Positions not in `bottom`, in index order.
    let mut s = xt.shape().to_vec();
    s.push(k);
    let mut bs = xt.shape().to_vec();
    bs.insert(last, k);
    // hit[..., i, j] = bottom[..., j] == i
    let bdims: Vec<usize> = (0..last).chain([last + 1]).collect();
    let bb = lax::broadcast_in_dim(&bottom, &s, &bdims)?;
    let io = lax::iota(&s, DType::I32, last)?;
    let hit = lax::reduce(
        ReduceOp::Any,
        &lax::compare(CmpOp::Eq, &bb, &io)?,
        &[last + 1],
    )?;
    let keep = lax::convert(&lax::unary(UnaryOp::Not, &hit)?, DType::I32)?;
    let rest = lax::sort(&keep, last, true)?.1;
    let top = lax::slice_axis(&rest, last, 0, n - k)?;
    let out = lax::concatenate(&[&bottom, &top], last)?;
    lax::transpose(&out, &perm)
}

/// Insertion indices (int32) of `values` into the 1-D ascending `sorted_sequence`;
/// `side` is `"left"` (first suitable position) or `"right"` (last).
pub fn searchsorted(
    sorted_sequence: impl IntoTensor,
    values: impl IntoTensor,
    side: &str,
) -> Result<Tensor> {
    let a = sorted_sequence.into_tensor()?;
    let v = values.into_tensor()?;
    if a.ndim() != 1 {
        return Err(shape_err(
            "searchsorted",
            format!(
                "only 1-D sorted sequences are supported, got shape {:?}",
                a.shape()
            ),
        ));
    }
    let op = match side {
        "left" => CmpOp::Lt,
        "right" => CmpOp::Le,
        _ => {
            return Err(arg_err(
                "searchsorted",
                format!("side must be \"left\" or \"right\", got {side:?}"),
            ))
        }
    };
    let d = result_dtype(&[&a, &v]);
    let (a, v) = (lax::convert(&a, d)?, lax::convert(&v, d)?);
    let mut s = v.shape().to_vec();
    s.push(a.shape()[0]);
    let nd = v.ndim();
    let ab = lax::broadcast_in_dim(&a, &s, &[nd])?;
    let vb = lax::broadcast_in_dim(&v, &s, &(0..nd).collect::<Vec<_>>())?;
    let c = lax::compare(op, &ab, &vb)?;
    lax::reduce_sum(&lax::convert(&c, DType::I32)?, &[nd])
}

/// Index (int32) of the bin of `bins` (1-D, monotonic) each element of `x` falls
/// in (NumPy `digitize` with `right = False`).
pub fn digitize(x: impl IntoTensor, bins: impl IntoTensor) -> Result<Tensor> {
    let x = x.into_tensor()?;
    let b = bins.into_tensor()?;
    if b.ndim() != 1 {
        return Err(shape_err(
            "digitize",
            format!("bins must be 1-D, got shape {:?}", b.shape()),
        ));
    }
    let n = b.shape()[0];
    if n == 0 {
        return lax::full(x.shape(), 0.0, DType::I32);
    }
    let (xs, bs) = if b.dtype() == DType::Bool || x.dtype() == DType::Bool {
        (lax::convert(&x, DType::I32)?, lax::convert(&b, DType::I32)?)
    } else {
        (x.clone(), b.clone())
    };
    let inc = searchsorted(&bs, &xs, "right")?;
    let rev = lax::rev(&bs, &[0])?;
    let dec = lax::sub(
        &lax::full_like(&inc, n as f64)?,
        &searchsorted(&rev, &xs, "left")?,
    )?;
    let first = lax::reshape(&lax::slice_axis(&bs, 0, 0, 1)?, &[])?;
    let lastv = lax::reshape(&lax::slice_axis(&bs, 0, n - 1, n)?, &[])?;
    let is_inc = lax::compare(CmpOp::Ge, &lastv, &first)?;
    let is_inc = lax::broadcast_to(&is_inc, inc.shape())?;
    lax::select(&is_inc, &inc, &dec)
}

/// Indices (int32, one tensor per axis) of the non-zero elements, in row-major
/// order (also what Keras's one-argument `where(condition)` returns). Needs a
/// concrete tensor (the output size depends on the values).
pub fn nonzero(x: impl IntoTensor) -> Result<Vec<Tensor>> {
    let x = x.into_tensor()?;
    if x.ndim() == 0 {
        return Err(shape_err(
            "nonzero",
            "calling nonzero on a 0-d tensor is not allowed",
        ));
    }
    if x.is_traced() {
        return Err(arg_err(
            "nonzero",
            "needs a concrete tensor (data-dependent output shape), got a traced one",
        ));
    }
    let vals = x.to_f64_vec()?;
    let st = crate::shape::strides(x.shape());
    let hits: Vec<usize> = vals
        .iter()
        .enumerate()
        .filter(|(_, v)| **v != 0.0)
        .map(|(i, _)| i)
        .collect();
    (0..x.ndim())
        .map(|d| {
            let c: Vec<i64> = hits
                .iter()
                .map(|&i| ((i / st[d]) % x.shape()[d]) as i64)
                .collect();
            Tensor::from_host(HostData::from_i64(DType::I32, &c), vec![c.len()])
        })
        .collect()
}

/// Counts of each value of the non-negative integer tensor `x` (1-D, or 2-D: one
/// count row per row), weighted by `weights` when given; the length is
/// `max(max(x) + 1, minlength)`. Negative values count in bin 0 (as JAX clips
/// them). Needs concrete values. The dtype is int32, or that of `weights`.
pub fn bincount(x: impl IntoTensor, weights: Option<&Tensor>, minlength: usize) -> Result<Tensor> {
    let x = x.into_tensor()?;
    if !x.dtype().is_int() {
        return Err(dtype_err(
            "bincount",
            format!("x must have an integer dtype, got {}", x.dtype()),
        ));
    }
    if x.ndim() == 0 || x.ndim() > 2 {
        return Err(shape_err(
            "bincount",
            format!("x must be 1-D or 2-D, got shape {:?}", x.shape()),
        ));
    }
    if let Some(w) = weights {
        if w.shape() != x.shape() {
            return Err(shape_err(
                "bincount",
                format!(
                    "weights of shape {:?} must match x of shape {:?}",
                    w.shape(),
                    x.shape()
                ),
            ));
        }
    }
    let vals = concrete_i64("bincount", &x)?;
    let len = (vals.iter().copied().max().unwrap_or(-1) + 1).max(minlength as i64) as usize;
    let w = match weights {
        Some(w) => w.with_weak(false),
        None => lax::full(x.shape(), 1.0, DType::I32)?,
    };
    let rows = if x.ndim() == 2 { x.shape()[0] } else { 1 };
    let cols = x.size() / rows.max(1);
    let idx: Vec<i64> = vals
        .iter()
        .enumerate()
        .map(|(i, &v)| (i / cols.max(1)) as i64 * len as i64 + v.max(0))
        .collect();
    let it = Tensor::from_host(HostData::from_i64(DType::I64, &idx), vec![idx.len()])?;
    let zeros = lax::full(&[rows * len], 0.0, w.dtype())?;
    let wf = lax::reshape(&w, &[w.size()])?;
    let out = if w.dtype() == DType::Bool {
        lax::scatter(&zeros, &it, &wf, 0, ScatterMode::Set)?
    } else {
        lax::scatter(&zeros, &it, &wf, 0, ScatterMode::Add)?
    };
    if x.ndim() == 2 {
        lax::reshape(&out, &[rows, len])
    } else {
        Ok(out)
    }
}

/// True where an element of `x1` occurs in `x2` (negated with `invert`).
/// `assume_unique` is accepted for Keras compatibility and has no effect.
pub fn isin(
    x1: impl IntoTensor,
    x2: impl IntoTensor,
    assume_unique: bool,
    invert: bool,
) -> Result<Tensor> {
    let _ = assume_unique;
    let (a, b) = (x1.into_tensor()?, x2.into_tensor()?);
    let d = result_dtype(&[&a, &b]);
    let a = lax::convert(&a, d)?;
    let b = lax::convert(&b, d)?;
    let b = lax::reshape(&b, &[b.size()])?;
    let nd = a.ndim();
    let mut s = a.shape().to_vec();
    s.push(b.shape()[0]);
    let ab = lax::broadcast_in_dim(&a, &s, &(0..nd).collect::<Vec<_>>())?;
    let bb = lax::broadcast_in_dim(&b, &s, &[nd])?;
    let hit = lax::reduce(ReduceOp::Any, &lax::compare(CmpOp::Eq, &ab, &bb)?, &[nd])?;
    if invert {
        lax::unary(UnaryOp::Not, &hit)
    } else {
        Ok(hit)
    }
}

/// Options of [`unique`] (Keras's keyword arguments).
#[derive(Clone, Debug, PartialEq)]
pub struct UniqueOptions {
    /// Keras's `sorted` (default true); the result is always sorted.
    pub sorted: bool,
    /// Also return the index of the first occurrence of each unique value.
    pub return_index: bool,
    /// Also return, for each input element (row), the index of its unique value.
    pub return_inverse: bool,
    /// Also return the number of occurrences of each unique value.
    pub return_counts: bool,
    /// Unique slices along this axis instead of unique elements of the flattened input.
    pub axis: Option<i64>,
    /// Pad (or truncate) the result to this many unique values.
    pub size: Option<usize>,
    /// Padding value for `values` when `size` is larger (default: the smallest unique value).
    pub fill_value: Option<f64>,
}

impl Default for UniqueOptions {
    fn default() -> Self {
        UniqueOptions {
            sorted: true,
            return_index: false,
            return_inverse: false,
            return_counts: false,
            axis: None,
            size: None,
            fill_value: None,
        }
    }
}

/// Result of [`unique`]: the optional parts are present when requested.
#[derive(Clone, Debug)]
pub struct Unique {
    /// Sorted unique values (or slices along `axis`).
    pub values: Tensor,
    /// First-occurrence indices (int32).
    pub indices: Option<Tensor>,
    /// Inverse indices (int32): input shape for `axis = None`, else 1-D.
    pub inverse: Option<Tensor>,
    /// Counts (int32).
    pub counts: Option<Tensor>,
}

/// Sorted unique elements of `x` (or unique slices along `opts.axis`), with
/// optional first indices, inverse indices and counts. Needs a concrete tensor.
pub fn unique(x: impl IntoTensor, opts: &UniqueOptions) -> Result<Unique> {
    let x = x.into_tensor()?;
    if x.is_traced() {
        return Err(arg_err(
            "unique",
            "needs a concrete tensor (data-dependent output shape), got a traced one",
        ));
    }
    let (arr, ax) = match opts.axis {
        None => (lax::reshape(&x, &[x.size()])?, 0),
        Some(a) => {
            let ax = norm_axis("unique", a, x.ndim())?;
            (x.clone(), ax)
        }
    };
    // Rows to compare: moveaxis(arr, ax, 0) flattened to [n, rest].
    let n = arr.shape()[ax];
    let moved = super::manip::moveaxis(&arr, &[ax as i64], &[0])?;
    let rest = moved.size().checked_div(n).unwrap_or(0);
    let host = moved.to_host()?;
    let keys: Vec<Vec<f64>>;
    let ikeys: Vec<Vec<i64>>;
    let float = x.dtype().is_float();
    if float {
        let v = host.to_f64_vec();
        keys = (0..n)
            .map(|i| v[i * rest..(i + 1) * rest].to_vec())
            .collect();
        ikeys = Vec::new();
    } else {
        let v = host.to_i64_vec();
        ikeys = (0..n)
            .map(|i| v[i * rest..(i + 1) * rest].to_vec())
            .collect();
        keys = Vec::new();
    }
    let cmp = |a: usize, b: usize| -> std::cmp::Ordering {
        if float {
            keys[a]
                .iter()
                .zip(&keys[b])
                .map(|(x, y)| x.total_cmp(y))
                .find(|o| o.is_ne())
                .unwrap_or(std::cmp::Ordering::Equal)
        } else {
            ikeys[a].cmp(&ikeys[b])
        }
    };
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| cmp(a, b).then(a.cmp(&b)));
    let mut first: Vec<usize> = Vec::new();
    let mut counts: Vec<i64> = Vec::new();
    let mut inverse = vec![0i64; n];
    // NaNs never compare equal (Keras calls JAX with `equal_nan=False`).
    let has_nan = |i: usize| float && keys[i].iter().any(|v| v.is_nan());
    for (pos, &i) in order.iter().enumerate() {
        if pos == 0 || has_nan(i) || cmp(order[pos - 1], i).is_ne() {
            first.push(i);
            counts.push(0);
        }
        *counts.last_mut().expect("pushed") += 1;
        inverse[i] = (first.len() - 1) as i64;
    }
    let u = first.len();
    let size = opts.size.unwrap_or(u);
    let mut fi: Vec<i64> = first.iter().map(|&i| i as i64).collect();
    fi.truncate(size);
    counts.truncate(size);
    let pad_first = fi.first().copied().unwrap_or(0);
    let real = fi.len();
    while fi.len() < size {
        fi.push(pad_first);
        counts.push(0);
    }
    let i32t = |v: &[i64]| Tensor::from_host(HostData::from_i64(DType::I32, v), vec![v.len()]);
    let idx_t = i32t(&fi)?;
    let mut values = lax::gather(&arr, &idx_t, ax)?;
    if real < size {
        let mut vs = values.shape().to_vec();
        vs[ax] = size;
        let mask_idx: Vec<i64> = (0..size as i64).collect();
        let m = lax::compare(
            CmpOp::Lt,
            &i32t(&mask_idx)?,
            &lax::full(&[size], real as f64, DType::I32)?,
        )?;
        let m = lax::broadcast_in_dim(&m, &vs, &[ax])?;
        let fill = match opts.fill_value {
            Some(f) => lax::full(&vs, f, x.dtype())?,
            None if real > 0 => {
                let f = lax::slice_axis(&values, ax, 0, 1)?;
                lax::broadcast_in_dim(&f, &vs, &(0..vs.len()).collect::<Vec<_>>())?
            }
            None => lax::full(&vs, 0.0, x.dtype())?,
        };
        values = lax::select(&m, &values, &fill)?;
    }
    let inverse_t = {
        let t = i32t(&inverse)?;
        if opts.axis.is_none() {
            lax::reshape(&t, x.shape())?
        } else {
            t
        }
    };
    Ok(Unique {
        values,
        indices: opts.return_index.then_some(idx_t),
        inverse: if opts.return_inverse {
            Some(inverse_t)
        } else {
            None
        },
        counts: if opts.return_counts {
            Some(i32t(&counts)?)
        } else {
            None
        },
    })
}

/// Converts flat indices into a tuple of coordinate tensors for `shape` (the
/// index dtype is kept; negative indices wrap, out-of-range ones are clipped).
pub fn unravel_index(indices: impl IntoTensor, shape: &[usize]) -> Result<Vec<Tensor>> {
    let idx = indices.into_tensor()?;
    let d = if idx.is_weak() {
        DType::I32
    } else {
        idx.dtype()
    };
    if !d.is_int() {
        return Err(dtype_err(
            "unravel_index",
            format!("indices must be integers, got {}", idx.dtype()),
        ));
    }
    let total: usize = shape.iter().product();
    let t = total as f64;
    let c = lax::convert(&idx, DType::I64)?;
    let c = lax::binary(BinaryOp::Max, &c, &lax::full_like(&c, -t)?)?;
    let c = lax::binary(BinaryOp::Min, &c, &lax::full_like(&c, (t - 1.0).max(0.0))?)?;
    let neg = lax::compare(CmpOp::Lt, &c, &lax::zeros_like(&c)?)?;
    let mut c = lax::select(&neg, &lax::add_scalar(&c, t)?, &c)?;
    let mut out = Vec::with_capacity(shape.len());
    for &s in shape.iter().rev() {
        let sz = lax::full_like(&c, s.max(1) as f64)?;
        out.push(lax::convert(&lax::binary(BinaryOp::Rem, &c, &sz)?, d)?);
        c = lax::div(&c, &sz)?;
    }
    out.reverse();
    Ok(out)
}

/// Element-wise choice from `choicelist` by the first true condition of
/// `condlist` (`default` where none holds).
pub fn select(
    condlist: &[Tensor],
    choicelist: &[Tensor],
    default: impl IntoTensor,
) -> Result<Tensor> {
    if condlist.len() != choicelist.len() {
        return Err(arg_err(
            "select",
            format!(
                "condlist and choicelist must have the same length, got {} and {}",
                condlist.len(),
                choicelist.len()
            ),
        ));
    }
    if condlist.is_empty() {
        return Err(arg_err("select", "condlist must not be empty"));
    }
    let def = default.into_tensor()?;
    let mut all: Vec<&Tensor> = choicelist.iter().collect();
    all.push(&def);
    let d = result_dtype(&all);
    let mut out = lax::convert(&def, d)?;
    for (c, v) in condlist.iter().zip(choicelist).rev() {
        if c.dtype() != DType::Bool {
            return Err(dtype_err(
                "select",
                format!("conditions must be bool tensors, got {}", c.dtype()),
            ));
        }
        out = r#where(c, &lax::convert(v, d)?, &out)?;
    }
    Ok(out)
}
