//! More shape manipulation: `moveaxis`, `swapaxes`, `flip`, `rot90`, `roll`,
//! `tile`, `repeat`, the `split` / `stack` families, `append`, `pad`, `diag`,
//! `diagonal`, `tril` / `triu`, `meshgrid`, `unstack`, `array`, `view`, ...

use super::*;
use crate::dtype::DType;
use crate::error::{dtype_err, shape_err};
use crate::shape::{norm_axes, norm_axis};

/// Moves axes `source` to positions `destination` (the other axes keep their order).
pub fn moveaxis(x: impl IntoTensor, source: &[i64], destination: &[i64]) -> Result<Tensor> {
    let x = x.into_tensor()?;
    let nd = x.ndim();
    if source.len() != destination.len() {
        return Err(arg_err(
            "moveaxis",
            format!(
                "source {source:?} and destination {destination:?} must have the same number of elements"
            ),
        ));
    }
    let src = norm_axes("moveaxis", source, nd)?;
    let dst = norm_axes("moveaxis", destination, nd)?;
    lax::transpose(&x, &moveaxis_perm(nd, &src, &dst))
}

/// The permutation that moves axes `src` to `dst`.
pub(crate) fn moveaxis_perm(nd: usize, src: &[usize], dst: &[usize]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..nd).filter(|i| !src.contains(i)).collect();
    let mut pairs: Vec<(usize, usize)> = dst.iter().copied().zip(src.iter().copied()).collect();
    pairs.sort();
    for (d, s) in pairs {
        order.insert(d, s);
    }
    order
}

/// Interchanges two axes.
pub fn swapaxes(x: impl IntoTensor, axis1: i64, axis2: i64) -> Result<Tensor> {
    let x = x.into_tensor()?;
    let a = norm_axis("swapaxes", axis1, x.ndim())?;
    let b = norm_axis("swapaxes", axis2, x.ndim())?;
    let mut perm: Vec<usize> = (0..x.ndim()).collect();
    perm.swap(a, b);
    lax::transpose(&x, &perm)
}

/// Reverses the order of elements along `axis` (`None`: every axis).
pub fn flip(x: impl IntoTensor, axis: Option<&[i64]>) -> Result<Tensor> {
    let x = x.into_tensor()?;
    let axes = axes_or_all("flip", axis, x.ndim())?;
    lax::rev(&x, &axes)
}

/// Flips along axis 1 (left / right); needs rank >= 2.
pub fn fliplr(x: impl IntoTensor) -> Result<Tensor> {
    let x = x.into_tensor()?;
    if x.ndim() < 2 {
        return Err(shape_err(
            "fliplr",
            format!("input must be at least 2-D, got shape {:?}", x.shape()),
        ));
    }
    lax::rev(&x, &[1])
}

/// Flips along axis 0 (up / down); needs rank >= 1.
pub fn flipud(x: impl IntoTensor) -> Result<Tensor> {
    let x = x.into_tensor()?;
    if x.ndim() < 1 {
        return Err(shape_err(
            "flipud",
            "input must be at least 1-D, got a scalar",
        ));
    }
    lax::rev(&x, &[0])
}

/// Rotates by 90 degrees `k` times in the plane of `axes` (from the first axis
/// toward the second; Keras's defaults: `k = 1`, `axes = (0, 1)`).
pub fn rot90(array: impl IntoTensor, k: i64, axes: (i64, i64)) -> Result<Tensor> {
    let m = array.into_tensor()?;
    if m.ndim() < 2 {
        return Err(shape_err(
            "rot90",
            format!(
                "input must have at least 2 dimensions, got shape {:?}",
                m.shape()
            ),
        ));
    }
    let a1 = norm_axis("rot90", axes.0, m.ndim())?;
    let a2 = norm_axis("rot90", axes.1, m.ndim())?;
    if a1 == a2 {
        return Err(arg_err(
            "rot90",
            format!("axes must be two different dimensions, got {axes:?}"),
        ));
    }
    let mut perm: Vec<usize> = (0..m.ndim()).collect();
    perm.swap(a1, a2);
    match k.rem_euclid(4) {
        0 => Ok(m),
        2 => lax::rev(&m, &[a1, a2]),
        1 => lax::transpose(&lax::rev(&m, &[a2])?, &perm),
        _ => lax::rev(&lax::transpose(&m, &perm)?, &[a2]),
    }
}

fn roll_axis(x: &Tensor, shift: i64, ax: usize) -> Result<Tensor> {
    let n = x.shape()[ax];
    if n == 0 {
        return Ok(x.clone());
    }
    let s = shift.rem_euclid(n as i64) as usize;
    if s == 0 {
        return Ok(x.clone());
    }
    let a = lax::slice_axis(x, ax, n - s, n)?;
    let b = lax::slice_axis(x, ax, 0, n - s)?;
    lax::concatenate(&[&a, &b], ax)
}

/// Rolls elements by `shift` along `axis` (`None`: the flattened tensor, restored
/// afterwards). `shift` and `axis` broadcast against each other.
pub fn roll(x: impl IntoTensor, shift: &[i64], axis: Option<&[i64]>) -> Result<Tensor> {
    let x = x.into_tensor()?;
    match axis {
        None => {
            if shift.len() != 1 {
                return Err(arg_err(
                    "roll",
                    format!("with axis=None, shift must be a single integer, got {shift:?}"),
                ));
            }
            let flat = lax::reshape(&x, &[x.size()])?;
            lax::reshape(&roll_axis(&flat, shift[0], 0)?, x.shape())
        }
        Some(axes) => {
            let n = shift.len().max(axes.len());
            if !(shift.len() == n || shift.len() == 1) || !(axes.len() == n || axes.len() == 1) {
                return Err(arg_err(
                    "roll",
                    format!("shift {shift:?} and axis {axes:?} cannot be broadcast together"),
                ));
            }
            let mut out = x;
            for i in 0..n {
                let s = shift[if shift.len() == 1 { 0 } else { i }];
                let a = axes[if axes.len() == 1 { 0 } else { i }];
                let ax = norm_axis("roll", a, out.ndim())?;
                out = roll_axis(&out, s, ax)?;
            }
            Ok(out)
        }
    }
}

/// Repeats the whole tensor `repeats[i]` times along each axis (NumPy `tile`:
/// shorter `repeats` are padded with leading 1s, a lower-rank `x` gets leading axes).
pub fn tile(x: impl IntoTensor, repeats: &[i64]) -> Result<Tensor> {
    let x = x.into_tensor()?;
    if repeats.iter().any(|&r| r < 0) {
        return Err(arg_err(
            "tile",
            format!("repeats must be non-negative, got {repeats:?}"),
        ));
    }
    let nd = x.ndim().max(repeats.len());
    let mut reps = vec![1usize; nd - repeats.len()];
    reps.extend(repeats.iter().map(|&r| r as usize));
    let mut shape = vec![1usize; nd - x.ndim()];
    shape.extend(x.shape());
    let x = lax::reshape(&x, &shape)?;
    let mut bshape = Vec::with_capacity(2 * nd);
    let mut dims = Vec::with_capacity(nd);
    for i in 0..nd {
        bshape.push(reps[i]);
        bshape.push(shape[i]);
        dims.push(2 * i + 1);
    }
    let b = lax::broadcast_in_dim(&x, &bshape, &dims)?;
    let out: Vec<usize> = (0..nd).map(|i| reps[i] * shape[i]).collect();
    lax::reshape(&b, &out)
}

/// Repeats each element `repeats` times along `axis` (`None`: flatten first).
/// `repeats` is an integer or a 1-D integer tensor with one count per element;
/// its values must be concrete (the output shape depends on them).
pub fn repeat(x: impl IntoTensor, repeats: impl IntoTensor, axis: Option<i64>) -> Result<Tensor> {
    let x = x.into_tensor()?;
    let r = repeats.into_tensor()?;
    if r.ndim() > 1 {
        return Err(shape_err(
            "repeat",
            format!(
                "repeats must be an integer or 1-D, got shape {:?}",
                r.shape()
            ),
        ));
    }
    let r = concrete_i64("repeat", &r)?;
    if r.iter().any(|&v| v < 0) {
        return Err(arg_err(
            "repeat",
            format!("repeats must be non-negative, got {r:?}"),
        ));
    }
    let (x, ax) = match axis {
        None => (lax::reshape(&x, &[x.size()])?, 0),
        Some(a) => {
            let ax = norm_axis("repeat", a, x.ndim())?;
            (x, ax)
        }
    };
    let n = x.shape()[ax];
    if r.len() == 1 {
        let k = r[0] as usize;
        let mut s1 = x.shape()[..=ax].to_vec();
        s1.push(1);
        s1.extend(&x.shape()[ax + 1..]);
        let mut sb = s1.clone();
        sb[ax + 1] = k;
        let dims: Vec<usize> = (0..s1.len()).collect();
        let b = lax::broadcast_in_dim(&lax::reshape(&x, &s1)?, &sb, &dims)?;
        let mut out = x.shape().to_vec();
        out[ax] = n * k;
        return lax::reshape(&b, &out);
    }
    if r.len() != n {
        return Err(shape_err(
            "repeat",
            format!(
                "{} repeats cannot be applied to an axis of size {n}",
                r.len()
            ),
        ));
    }
    let idx: Vec<i64> = r
        .iter()
        .enumerate()
        .flat_map(|(i, &c)| std::iter::repeat_n(i as i64, c as usize))
        .collect();
    let len = idx.len();
    let it = Tensor::from_host(
        crate::storage::HostData::from_i64(DType::I32, &idx),
        vec![len],
    )?;
    lax::gather(&x, &it, ax)
}

/// How to split a tensor: into `Sections(n)` (nearly) equal parts, or at the
/// given `Indices` along the axis.
#[derive(Clone, Debug, PartialEq)]
pub enum IndicesOrSections {
    /// Number of parts.
    Sections(usize),
    /// Split points (negative values count from the end).
    Indices(Vec<i64>),
}

impl From<usize> for IndicesOrSections {
    fn from(n: usize) -> Self {
        IndicesOrSections::Sections(n)
    }
}
impl From<Vec<i64>> for IndicesOrSections {
    fn from(v: Vec<i64>) -> Self {
        IndicesOrSections::Indices(v)
    }
}
impl From<&[i64]> for IndicesOrSections {
    fn from(v: &[i64]) -> Self {
        IndicesOrSections::Indices(v.to_vec())
    }
}
impl<const N: usize> From<[i64; N]> for IndicesOrSections {
    fn from(v: [i64; N]) -> Self {
        IndicesOrSections::Indices(v.to_vec())
    }
}

fn split_impl(
    op: &str,
    x: &Tensor,
    ios: IndicesOrSections,
    ax: usize,
    exact: bool,
) -> Result<Vec<Tensor>> {
    let n = x.shape()[ax];
    let bounds: Vec<(usize, usize)> = match ios {
        IndicesOrSections::Sections(k) => {
            if k == 0 {
                return Err(arg_err(op, "number of sections must be larger than 0"));
            }
            if exact && !n.is_multiple_of(k) {
                return Err(arg_err(
                    op,
                    format!("array split does not result in an equal division: {n} elements into {k} sections"),
                ));
            }
            let (each, extra) = (n / k, n % k);
            let mut start = 0;
            (0..k)
                .map(|i| {
                    let len = each + usize::from(i < extra);
                    let b = (start, start + len);
                    start += len;
                    b
                })
                .collect()
        }
        IndicesOrSections::Indices(v) => {
            let norm = |i: i64| -> usize {
                let i = if i < 0 { i + n as i64 } else { i };
                i.clamp(0, n as i64) as usize
            };
            let mut pts = vec![0usize];
            pts.extend(v.iter().map(|&i| norm(i)));
            pts.push(n);
            pts.windows(2).map(|w| (w[0], w[1].max(w[0]))).collect()
        }
    };
    pieces(x, ax, &bounds)
}

/// The slices `[s, e)` of `x` along `ax`, for bounds that tile the axis in
/// order (split, unstack). Differentiated as one node whose gradient is the
/// concatenation of the pieces' cotangents: slicing each piece on its own would
/// give each a full-size zero-padded gradient, and summing `n` of those costs
/// `n` times the input (quadratic in an RNN's sequence length).
pub(crate) fn pieces(x: &Tensor, ax: usize, bounds: &[(usize, usize)]) -> Result<Vec<Tensor>> {
    if bounds.len() < 2 {
        return bounds
            .iter()
            .map(|&(s, e)| lax::slice_axis(x, ax, s, e))
            .collect();
    }
    crate::autodiff::custom_gradient(std::slice::from_ref(x), |xs| {
        let outs = bounds
            .iter()
            .map(|&(s, e)| lax::slice_axis(&xs[0], ax, s, e))
            .collect::<Result<Vec<_>>>()?;
        let vjp: crate::autodiff::VjpFn = std::rc::Rc::new(move |cts: &[Tensor]| {
            let refs: Vec<&Tensor> = cts.iter().collect();
            Ok(vec![Some(lax::concatenate(&refs, ax)?)])
        });
        Ok((outs, vjp))
    })
}

/// Splits into equal sections (error if they are not equal) or at indices along `axis`.
pub fn split(
    x: impl IntoTensor,
    indices_or_sections: impl Into<IndicesOrSections>,
    axis: i64,
) -> Result<Vec<Tensor>> {
    let x = x.into_tensor()?;
    let ax = norm_axis("split", axis, x.ndim())?;
    split_impl("split", &x, indices_or_sections.into(), ax, true)
}

/// Like [`split`], but sections may be unequal (the first ones get one more element).
pub fn array_split(
    x: impl IntoTensor,
    indices_or_sections: impl Into<IndicesOrSections>,
    axis: i64,
) -> Result<Vec<Tensor>> {
    let x = x.into_tensor()?;
    let ax = norm_axis("array_split", axis, x.ndim())?;
    split_impl("array_split", &x, indices_or_sections.into(), ax, false)
}

/// Splits horizontally: along axis 1 (axis 0 for 1-D tensors).
pub fn hsplit(
    x: impl IntoTensor,
    indices_or_sections: impl Into<IndicesOrSections>,
) -> Result<Vec<Tensor>> {
    let x = x.into_tensor()?;
    if x.ndim() == 0 {
        return Err(shape_err(
            "hsplit",
            "hsplit only works on tensors of 1 or more dimensions",
        ));
    }
    let ax = if x.ndim() == 1 { 0 } else { 1 };
    split_impl("hsplit", &x, indices_or_sections.into(), ax, true)
}

/// Splits vertically (along axis 0); needs rank >= 2.
pub fn vsplit(
    x: impl IntoTensor,
    indices_or_sections: impl Into<IndicesOrSections>,
) -> Result<Vec<Tensor>> {
    let x = x.into_tensor()?;
    if x.ndim() < 2 {
        return Err(shape_err(
            "vsplit",
            "vsplit only works on tensors of 2 or more dimensions",
        ));
    }
    split_impl("vsplit", &x, indices_or_sections.into(), 0, true)
}

/// Splits along the depth (axis 2); needs rank >= 3.
pub fn dsplit(
    x: impl IntoTensor,
    indices_or_sections: impl Into<IndicesOrSections>,
) -> Result<Vec<Tensor>> {
    let x = x.into_tensor()?;
    if x.ndim() < 3 {
        return Err(shape_err(
            "dsplit",
            "dsplit only works on tensors of 3 or more dimensions",
        ));
    }
    split_impl("dsplit", &x, indices_or_sections.into(), 2, true)
}

fn atleast(x: &Tensor, n: usize) -> Result<Tensor> {
    let s = x.shape();
    let shape: Vec<usize> = match (n, s.len()) {
        (_, r) if r >= n => return Ok(x.clone()),
        (_, 0) => vec![1; n],
        (2, 1) => vec![1, s[0]],
        (3, 1) => vec![1, s[0], 1],
        (3, 2) => vec![s[0], s[1], 1],
        _ => s.to_vec(),
    };
    lax::reshape(x, &shape)
}

fn need_some(op: &str, xs: &[Tensor]) -> Result<()> {
    if xs.is_empty() {
        return Err(arg_err(op, "need at least one tensor"));
    }
    Ok(())
}

/// Stacks horizontally: concatenation along axis 1 (axis 0 for 1-D tensors).
pub fn hstack(xs: &[Tensor]) -> Result<Tensor> {
    need_some("hstack", xs)?;
    let v: Vec<Tensor> = xs.iter().map(|x| atleast(x, 1)).collect::<Result<_>>()?;
    let ax = if v[0].ndim() == 1 { 0 } else { 1 };
    concatenate(&v, ax)
}

/// Stacks vertically: 1-D tensors become rows, then concatenation along axis 0.
pub fn vstack(xs: &[Tensor]) -> Result<Tensor> {
    need_some("vstack", xs)?;
    let v: Vec<Tensor> = xs.iter().map(|x| atleast(x, 2)).collect::<Result<_>>()?;
    concatenate(&v, 0)
}

/// Stacks along the third axis (tensors are first made at least 3-D).
pub fn dstack(xs: &[Tensor]) -> Result<Tensor> {
    need_some("dstack", xs)?;
    let v: Vec<Tensor> = xs.iter().map(|x| atleast(x, 3)).collect::<Result<_>>()?;
    concatenate(&v, 2)
}

/// Stacks 1-D tensors as columns (2-D tensors as they are) along axis 1.
pub fn column_stack(xs: &[Tensor]) -> Result<Tensor> {
    need_some("column_stack", xs)?;
    let v: Vec<Tensor> = xs
        .iter()
        .map(|x| match x.ndim() {
            0 => lax::reshape(x, &[1, 1]),
            1 => lax::reshape(x, &[x.shape()[0], 1]),
            _ => Ok(x.clone()),
        })
        .collect::<Result<_>>()?;
    concatenate(&v, 1)
}

/// Appends `x2` to `x1` along `axis` (`None`: both are flattened first).
pub fn append(x1: impl IntoTensor, x2: impl IntoTensor, axis: Option<i64>) -> Result<Tensor> {
    let (a, b) = (x1.into_tensor()?, x2.into_tensor()?);
    match axis {
        None => {
            let a = lax::reshape(&a, &[a.size()])?;
            let b = lax::reshape(&b, &[b.size()])?;
            concatenate(&[a, b], 0)
        }
        Some(ax) => concatenate(&[a, b], ax),
    }
}

fn pad_axis_stat(x: &Tensor, ax: usize, before: usize, after: usize, mode: &str) -> Result<Tensor> {
    let stat = match mode {
        "maximum" => max(x, Some(&[ax as i64]), true, None)?,
        "minimum" => min(x, Some(&[ax as i64]), true, None)?,
        "mean" | "median" => {
            let m = if mode == "mean" {
                mean(x, Some(&[ax as i64]), true)?
            } else {
                median(x, Some(&[ax as i64]), true)?
            };
            let m = if x.dtype().is_float() {
                m
            } else {
                lax::unary(UnaryOp::Round, &m)?
            };
            lax::convert(&m, x.dtype())?
        }
        _ => unreachable!("checked by pad"),
    };
    let mut parts = Vec::new();
    let bcast = |k: usize| -> Result<Tensor> {
        let mut s = x.shape().to_vec();
        s[ax] = k;
        let dims: Vec<usize> = (0..s.len()).collect();
        lax::broadcast_in_dim(&stat, &s, &dims)
    };
    if before > 0 {
        parts.push(bcast(before)?);
    }
    parts.push(x.clone());
    if after > 0 {
        parts.push(bcast(after)?);
    }
    let refs: Vec<&Tensor> = parts.iter().collect();
    lax::concatenate(&refs, ax)
}

fn pad_axis_edge(x: &Tensor, ax: usize, before: usize, after: usize) -> Result<Tensor> {
    let n = x.shape()[ax];
    let dims: Vec<usize> = (0..x.ndim()).collect();
    let mut parts = Vec::new();
    let edge = |s: usize, k: usize| -> Result<Tensor> {
        let e = lax::slice_axis(x, ax, s, s + 1)?;
        let mut sh = x.shape().to_vec();
        sh[ax] = k;
        lax::broadcast_in_dim(&e, &sh, &dims)
    };
    if before > 0 {
        parts.push(edge(0, before)?);
    }
    parts.push(x.clone());
    if after > 0 {
        parts.push(edge(n - 1, after)?);
    }
    let refs: Vec<&Tensor> = parts.iter().collect();
    lax::concatenate(&refs, ax)
}

fn pad_axis_wrap(x: &Tensor, ax: usize, before: usize, after: usize) -> Result<Tensor> {
    let n = x.shape()[ax];
    let total = before + n + after;
    let o = (n - before % n) % n;
    let k = (o + total).div_ceil(n);
    let copies: Vec<&Tensor> = std::iter::repeat_n(x, k).collect();
    let t = lax::concatenate(&copies, ax)?;
    lax::slice_axis(&t, ax, o, o + total)
}

fn pad_axis_reflect(
    x: &Tensor,
    ax: usize,
    before: usize,
    after: usize,
    symmetric: bool,
) -> Result<Tensor> {
    let n = x.shape()[ax];
    if !symmetric && n == 1 {
        return pad_axis_edge(x, ax, before, after);
    }
    let offset = usize::from(!symmetric);
    let mut arr = x.clone();
    let mut left = before;
    while left > 0 {
        let cur = left.min(n - offset);
        left -= cur;
        let piece = lax::rev(&lax::slice_axis(&arr, ax, offset, offset + cur)?, &[ax])?;
        arr = lax::concatenate(&[&piece, &arr], ax)?;
    }
    let mut right = after;
    while right > 0 {
        let cur = right.min(n - offset);
        right -= cur;
        let len = arr.shape()[ax];
        let piece = lax::rev(
            &lax::slice_axis(&arr, ax, len - cur - offset, len - offset)?,
            &[ax],
        )?;
        arr = lax::concatenate(&[&arr, &piece], ax)?;
    }
    Ok(arr)
}

/// Pads `x` with `pad_width[i] = (before, after)` elements on each axis (a single
/// pair applies to every axis). `mode` is one of `"constant"` (with
/// `constant_values`, default 0), `"edge"`, `"reflect"`, `"symmetric"`, `"wrap"`,
/// `"maximum"`, `"minimum"`, `"mean"`, `"median"`, `"empty"` (zeros).
/// `constant_values` with another mode is an error, as in Keras.
///
/// ```
/// use ceras::{ops, Tensor};
/// let x = Tensor::from_vec(vec![1i32, 2, 3], [3]).unwrap();
/// let y = ops::pad(&x, &[(2, 1)], "reflect", None).unwrap();
/// assert_eq!(y.to_vec::<i32>().unwrap(), vec![3, 2, 1, 2, 3, 2]);
/// ```
pub fn pad(
    x: impl IntoTensor,
    pad_width: &[(usize, usize)],
    mode: &str,
    constant_values: Option<f64>,
) -> Result<Tensor> {
    let x = x.into_tensor()?;
    let nd = x.ndim();
    let widths: Vec<(usize, usize)> = match pad_width.len() {
        1 => vec![pad_width[0]; nd],
        l if l == nd => pad_width.to_vec(),
        _ => {
            return Err(shape_err(
                "pad",
                format!(
                    "pad_width {pad_width:?} must have one (before, after) pair or one per axis of a tensor of rank {nd}"
                ),
            ))
        }
    };
    if constant_values.is_some() && mode != "constant" {
        return Err(arg_err(
            "pad",
            format!(
                "constant_values can only be provided when mode == \"constant\", got mode {mode:?}"
            ),
        ));
    }
    match mode {
        "constant" | "empty" => {
            let v = lax::scalar(constant_values.unwrap_or(0.0), x.dtype())?;
            let lo: Vec<i64> = widths.iter().map(|w| w.0 as i64).collect();
            let hi: Vec<i64> = widths.iter().map(|w| w.1 as i64).collect();
            if lo.iter().chain(&hi).all(|&p| p == 0) {
                return Ok(x);
            }
            Ok(lax::pad(&x, &v, &lo, &hi, &vec![0; nd])?.with_weak(x.is_weak()))
        }
        "edge" | "reflect" | "symmetric" | "wrap" | "maximum" | "minimum" | "mean" | "median" => {
            let mut out = x.clone();
            for (ax, &(b, a)) in widths.iter().enumerate() {
                if b == 0 && a == 0 {
                    continue;
                }
                if out.shape()[ax] == 0 {
                    return Err(arg_err(
                        "pad",
                        format!("can't extend empty axis {ax} using mode {mode:?}"),
                    ));
                }
                out = match mode {
                    "edge" => pad_axis_edge(&out, ax, b, a)?,
                    "wrap" => pad_axis_wrap(&out, ax, b, a)?,
                    "reflect" => pad_axis_reflect(&out, ax, b, a, false)?,
                    "symmetric" => pad_axis_reflect(&out, ax, b, a, true)?,
                    m => pad_axis_stat(&out, ax, b, a, m)?,
                };
            }
            Ok(out)
        }
        _ => Err(arg_err(
            "pad",
            format!(
                "unsupported mode {mode:?}; expected one of constant, edge, reflect, symmetric, wrap, maximum, minimum, mean, median, empty"
            ),
        )),
    }
}

/// The diagonal at `offset` of the planes `(axis1, axis2)`, as the last axis of the
/// result (Keras's defaults: `offset = 0`, `axis1 = 0`, `axis2 = 1`).
pub fn diagonal(x: impl IntoTensor, offset: i64, axis1: i64, axis2: i64) -> Result<Tensor> {
    let x = x.into_tensor()?;
    let nd = x.ndim();
    if nd < 2 {
        return Err(shape_err(
            "diagonal",
            format!("input must be at least 2-D, got shape {:?}", x.shape()),
        ));
    }
    let a1 = norm_axis("diagonal", axis1, nd)?;
    let a2 = norm_axis("diagonal", axis2, nd)?;
    if a1 == a2 {
        return Err(arg_err(
            "diagonal",
            format!("axis1 and axis2 cannot be the same, got axis1={axis1}, axis2={axis2}"),
        ));
    }
    let mut perm: Vec<usize> = (0..nd).filter(|&i| i != a1 && i != a2).collect();
    perm.push(a1);
    perm.push(a2);
    let xt = lax::transpose(&x, &perm)?;
    let (n, m) = (x.shape()[a1] as i64, x.shape()[a2] as i64);
    let len = if offset >= 0 {
        n.min(m - offset)
    } else {
        (n + offset).min(m)
    }
    .max(0) as usize;
    let mut s: Vec<usize> = xt.shape()[..nd - 2].to_vec();
    s.push((n * m) as usize);
    let flat = lax::reshape(&xt, &s)?;
    let last = nd - 2;
    if len == 0 {
        return lax::slice_axis(&flat, last, 0, 0);
    }
    let start = if offset >= 0 { offset } else { -offset * m } as usize;
    let stride = (m + 1) as usize;
    let mut st = vec![0; nd - 1];
    let mut lim = s.clone();
    let mut strides = vec![1; nd - 1];
    st[last] = start;
    lim[last] = start + (len - 1) * stride + 1;
    strides[last] = stride;
    lax::slice(&flat, &st, &lim, &strides)
}

/// For a 1-D `x`, a 2-D tensor with `x` on diagonal `k`; for a 2-D `x`, its
/// diagonal `k`.
pub fn diag(x: impl IntoTensor, k: i64) -> Result<Tensor> {
    let x = x.into_tensor()?;
    match x.ndim() {
        1 => {
            let n = x.shape()[0];
            let big = n + k.unsigned_abs() as usize;
            if n == 0 {
                return lax::full(&[big, big], 0.0, x.dtype());
            }
            let lo = if k >= 0 {
                k as usize
            } else {
                k.unsigned_abs() as usize * big
            };
            let used = lo + n + (n - 1) * big;
            let hi = (big * big) as i64 - used as i64;
            let v = lax::scalar(0.0, x.dtype())?;
            let p = lax::pad(&x, &v, &[lo as i64], &[hi], &[big])?;
            lax::reshape(&p, &[big, big])
        }
        2 => diagonal(x, k, 0, 1),
        _ => Err(shape_err(
            "diag",
            format!("input must be 1-D or 2-D, got shape {:?}", x.shape()),
        )),
    }
}

/// A 2-D tensor with the flattened `x` on diagonal `k`.
pub fn diagflat(x: impl IntoTensor, k: i64) -> Result<Tensor> {
    let x = x.into_tensor()?;
    diag(lax::reshape(&x, &[x.size()])?, k)
}

fn tri_mask(op: &str, x: &Tensor, k: i64, lower: bool) -> Result<Tensor> {
    let nd = x.ndim();
    if nd < 2 {
        return Err(shape_err(
            op,
            format!("input must be at least 2-D, got shape {:?}", x.shape()),
        ));
    }
    let (r, c) = (x.shape()[nd - 2], x.shape()[nd - 1]);
    let rows = lax::add_scalar(&lax::iota(&[r, c], DType::I64, 0)?, k as f64)?;
    let cols = lax::iota(&[r, c], DType::I64, 1)?;
    let m = lax::compare(if lower { CmpOp::Le } else { CmpOp::Ge }, &cols, &rows)?;
    let m = lax::broadcast_to(&m, x.shape())?;
    lax::select(&m, x, &lax::zeros_like(x)?)
}

/// Lower triangle of the last two axes (elements above diagonal `k` zeroed).
pub fn tril(x: impl IntoTensor, k: i64) -> Result<Tensor> {
    tri_mask("tril", &x.into_tensor()?, k, true)
}

/// Upper triangle of the last two axes (elements below diagonal `k` zeroed).
pub fn triu(x: impl IntoTensor, k: i64) -> Result<Tensor> {
    tri_mask("triu", &x.into_tensor()?, k, false)
}

/// Coordinate grids from 1-D coordinate vectors; `indexing` is `"xy"` (Cartesian,
/// Keras's default: the first two output axes are swapped) or `"ij"` (matrix).
pub fn meshgrid(xs: &[Tensor], indexing: &str) -> Result<Vec<Tensor>> {
    if indexing != "xy" && indexing != "ij" {
        return Err(arg_err(
            "meshgrid",
            format!("indexing must be \"xy\" or \"ij\", got {indexing:?}"),
        ));
    }
    let n = xs.len();
    let flat: Vec<Tensor> = xs
        .iter()
        .map(|x| lax::reshape(x, &[x.size()]))
        .collect::<Result<_>>()?;
    let mut shape: Vec<usize> = flat.iter().map(|x| x.shape()[0]).collect();
    let xy = indexing == "xy" && n >= 2;
    if xy {
        shape.swap(0, 1);
    }
    flat.iter()
        .enumerate()
        .map(|(i, x)| {
            let d = match (xy, i) {
                (true, 0) => 1,
                (true, 1) => 0,
                _ => i,
            };
            lax::broadcast_in_dim(x, &shape, &[d])
        })
        .collect()
}

/// Number of elements.
pub fn size(x: impl IntoTensor) -> Result<usize> {
    Ok(x.into_tensor()?.size())
}

/// Rank.
pub fn ndim(x: impl IntoTensor) -> Result<usize> {
    Ok(x.into_tensor()?.ndim())
}

/// Shape.
pub fn shape(x: impl IntoTensor) -> Result<Vec<usize>> {
    Ok(x.into_tensor()?.shape().to_vec())
}

/// Splits along `axis` into its slices (`num`, when given, must equal the axis size).
pub fn unstack(x: impl IntoTensor, num: Option<usize>, axis: i64) -> Result<Vec<Tensor>> {
    let x = x.into_tensor()?;
    let ax = norm_axis("unstack", axis, x.ndim())?;
    let n = x.shape()[ax];
    if let Some(k) = num {
        if k != n {
            return Err(shape_err(
                "unstack",
                format!("num={k} does not match the size {n} of axis {axis}"),
            ));
        }
    }
    let mut s = x.shape().to_vec();
    s.remove(ax);
    let bounds: Vec<(usize, usize)> = (0..n).map(|i| (i, i + 1)).collect();
    pieces(&x, ax, &bounds)?
        .iter()
        .map(|p| lax::reshape(p, &s))
        .collect()
}

/// A (strongly typed) tensor from `x`: Rust scalars take their default dtype
/// (int32, `floatx`, bool), then `dtype` converts when given.
pub fn array(x: impl IntoTensor, dtype: Option<DType>) -> Result<Tensor> {
    let x = x.into_tensor()?;
    let d = dtype.unwrap_or_else(|| result_dtype(&[&x]));
    lax::convert(&x, d)
}

/// Reinterprets the bytes of `x` as `dtype` (NumPy `view`). With a different item
/// size the last axis is rescaled. Needs a concrete tensor (it is not traceable).
pub fn view(x: impl IntoTensor, dtype: Option<DType>) -> Result<Tensor> {
    let x = x.into_tensor()?;
    let Some(d) = dtype else {
        return Ok(x);
    };
    if d == x.dtype() {
        return Ok(x);
    }
    let (old, new) = (x.dtype().size_of(), d.size_of());
    let mut shape = x.shape().to_vec();
    if old != new {
        let Some(last) = shape.last_mut() else {
            return Err(shape_err(
                "view",
                format!("view of a 0-d tensor is only supported if the item size is unchanged ({} to {d})", x.dtype()),
            ));
        };
        if (*last * old) % new != 0 {
            return Err(shape_err(
                "view",
                format!(
                    "the last axis ({} elements of {}) is not a multiple of the item size of {d}",
                    *last,
                    x.dtype()
                ),
            ));
        }
        *last = *last * old / new;
    }
    if x.is_traced() {
        return Err(dtype_err(
            "view",
            "needs a concrete tensor, got a traced one",
        ));
    }
    let bytes = x.to_host()?.to_le_bytes();
    Tensor::from_le_bytes(d, shape, &bytes)
}
