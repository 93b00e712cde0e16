//! Products: `dot`, `inner`, `outer`, `vdot`, `tensordot`, `einsum`, `kron`,
//! `cross`, `correlate`, `vander`.

use super::*;
use crate::dtype::DType;
use crate::error::shape_err;
use crate::shape::{norm_axes, norm_axis};

/// Dtype of a product of `ts`: Keras's result type; bool products are computed in
/// int32 and converted back.
fn product_dtype(ts: &[&Tensor]) -> (DType, DType) {
    let d = result_dtype(ts);
    (d, if d == DType::Bool { DType::I32 } else { d })
}

fn finish_product(r: Tensor, d: DType) -> Result<Tensor> {
    if d == DType::Bool {
        lax::compare(CmpOp::Ne, &r, &lax::zeros_like(&r)?)
    } else {
        lax::convert(&r, d)
    }
}

fn check_contract(op: &str, a: &Tensor, b: &Tensor, ca: &[usize], cb: &[usize]) -> Result<()> {
    for (&i, &j) in ca.iter().zip(cb) {
        if a.shape()[i] != b.shape()[j] {
            return Err(shape_err(
                op,
                format!(
                    "shapes {:?} and {:?} are not aligned: axis {i} ({}) != axis {j} ({})",
                    a.shape(),
                    b.shape(),
                    a.shape()[i],
                    b.shape()[j]
                ),
            ));
        }
    }
    Ok(())
}

/// `dot_general` with Keras dtype promotion and shape checks (no batch dims).
fn contract(op: &str, a: &Tensor, b: &Tensor, ca: &[usize], cb: &[usize]) -> Result<Tensor> {
    check_contract(op, a, b, ca, cb)?;
    let (d, cd) = product_dtype(&[a, b]);
    let r = lax::dot_general(
        &lax::convert(a, cd)?,
        &lax::convert(b, cd)?,
        ca,
        cb,
        &[],
        &[],
    )?;
    finish_product(r, d)
}

/// NumPy `dot`: scalars multiply; otherwise the last axis of `x1` is contracted
/// with `x2`'s only axis (1-D) or its second-to-last axis.
pub fn dot(x1: impl IntoTensor, x2: impl IntoTensor) -> Result<Tensor> {
    let (a, b) = (x1.into_tensor()?, x2.into_tensor()?);
    if a.ndim() == 0 || b.ndim() == 0 {
        return multiply(&a, &b);
    }
    let cb = if b.ndim() == 1 { 0 } else { b.ndim() - 2 };
    contract("dot", &a, &b, &[a.ndim() - 1], &[cb])
}

/// Inner product over the last axes of `x1` and `x2` (scalars multiply).
pub fn inner(x1: impl IntoTensor, x2: impl IntoTensor) -> Result<Tensor> {
    let (a, b) = (x1.into_tensor()?, x2.into_tensor()?);
    if a.ndim() == 0 || b.ndim() == 0 {
        return multiply(&a, &b);
    }
    contract("inner", &a, &b, &[a.ndim() - 1], &[b.ndim() - 1])
}

/// Outer product of the flattened `x1` and `x2`.
pub fn outer(x1: impl IntoTensor, x2: impl IntoTensor) -> Result<Tensor> {
    let (a, b) = (x1.into_tensor()?, x2.into_tensor()?);
    let a = lax::reshape(&a, &[a.size(), 1])?.with_weak(a.is_weak());
    let b = lax::reshape(&b, &[1, b.size()])?.with_weak(b.is_weak());
    multiply(&a, &b)
}

/// Dot product of the flattened `x1` and `x2` (which must have the same size).
pub fn vdot(x1: impl IntoTensor, x2: impl IntoTensor) -> Result<Tensor> {
    let (a, b) = (x1.into_tensor()?, x2.into_tensor()?);
    let a = lax::reshape(&a, &[a.size()])?;
    let b = lax::reshape(&b, &[b.size()])?;
    contract("vdot", &a, &b, &[0], &[0])
}

/// Axes of [`tensordot`]: the last `n` axes of `x1` with the first `n` of `x2`, or
/// explicit lists.
#[derive(Clone, Debug, PartialEq)]
pub enum TensordotAxes {
    /// Contract the last `n` axes of `x1` with the first `n` axes of `x2`.
    Count(usize),
    /// Contract `x1`'s axes `.0[i]` with `x2`'s axes `.1[i]`.
    Axes(Vec<i64>, Vec<i64>),
}

impl From<usize> for TensordotAxes {
    fn from(n: usize) -> Self {
        TensordotAxes::Count(n)
    }
}
impl From<(Vec<i64>, Vec<i64>)> for TensordotAxes {
    fn from(v: (Vec<i64>, Vec<i64>)) -> Self {
        TensordotAxes::Axes(v.0, v.1)
    }
}
impl From<(i64, i64)> for TensordotAxes {
    fn from(v: (i64, i64)) -> Self {
        TensordotAxes::Axes(vec![v.0], vec![v.1])
    }
}

/// Tensor contraction over the given axes (Keras's default `axes = 2`); the result
/// has the free axes of `x1` followed by those of `x2`.
pub fn tensordot(
    x1: impl IntoTensor,
    x2: impl IntoTensor,
    axes: impl Into<TensordotAxes>,
) -> Result<Tensor> {
    let (a, b) = (x1.into_tensor()?, x2.into_tensor()?);
    let (ca, cb) = match axes.into() {
        TensordotAxes::Count(n) => {
            if n > a.ndim() || n > b.ndim() {
                return Err(shape_err(
                    "tensordot",
                    format!(
                        "axes={n} exceeds the rank of x1 {:?} or x2 {:?}",
                        a.shape(),
                        b.shape()
                    ),
                ));
            }
            ((a.ndim() - n..a.ndim()).collect(), (0..n).collect())
        }
        TensordotAxes::Axes(la, lb) => {
            if la.len() != lb.len() {
                return Err(arg_err(
                    "tensordot",
                    format!("axes {la:?} and {lb:?} must have the same length"),
                ));
            }
            (
                norm_axes("tensordot", &la, a.ndim())?,
                norm_axes("tensordot", &lb, b.ndim())?,
            )
        }
    };
    let ca: Vec<usize> = ca;
    let cb: Vec<usize> = cb;
    contract("tensordot", &a, &b, &ca, &cb)
}

/// Kronecker product (block tensor of `x1[i] * x2`).
pub fn kron(x1: impl IntoTensor, x2: impl IntoTensor) -> Result<Tensor> {
    let (a, b) = (x1.into_tensor()?, x2.into_tensor()?);
    let nd = a.ndim().max(b.ndim());
    let pad = |t: &Tensor| -> Vec<usize> {
        let mut s = vec![1; nd - t.ndim()];
        s.extend(t.shape());
        s
    };
    let (sa, sb) = (pad(&a), pad(&b));
    let mut ia = Vec::with_capacity(2 * nd);
    let mut ib = Vec::with_capacity(2 * nd);
    for i in 0..nd {
        ia.extend([sa[i], 1]);
        ib.extend([1, sb[i]]);
    }
    let wa = a.is_weak();
    let wb = b.is_weak();
    let a = lax::reshape(&a, &ia)?.with_weak(wa);
    let b = lax::reshape(&b, &ib)?.with_weak(wb);
    let p = multiply(&a, &b)?;
    let out: Vec<usize> = (0..nd).map(|i| sa[i] * sb[i]).collect();
    lax::reshape(&p, &out)
}

/// Options of [`cross`]: the axes holding the vectors of `x1` (`axisa`), `x2`
/// (`axisb`) and the result (`axisc`), all -1 by default; `axis` overrides all three.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CrossOptions {
    /// Vector axis of `x1`.
    pub axisa: i64,
    /// Vector axis of `x2`.
    pub axisb: i64,
    /// Vector axis of the result.
    pub axisc: i64,
    /// When set, used for all three.
    pub axis: Option<i64>,
}

impl Default for CrossOptions {
    fn default() -> Self {
        CrossOptions {
            axisa: -1,
            axisb: -1,
            axisc: -1,
            axis: None,
        }
    }
}

/// Cross product of 2- or 3-element vectors (2-D × 2-D gives the scalar z component).
pub fn cross(x1: impl IntoTensor, x2: impl IntoTensor, opts: CrossOptions) -> Result<Tensor> {
    let (a, b) = (x1.into_tensor()?, x2.into_tensor()?);
    let (aa, ab, ac) = match opts.axis {
        Some(x) => (x, x, x),
        None => (opts.axisa, opts.axisb, opts.axisc),
    };
    if a.ndim() == 0 || b.ndim() == 0 {
        return Err(shape_err("cross", "inputs must be at least 1-D"));
    }
    let a = super::manip::moveaxis(&a, &[aa], &[-1])?;
    let b = super::manip::moveaxis(&b, &[ab], &[-1])?;
    let (na, nb) = (a.shape()[a.ndim() - 1], b.shape()[b.ndim() - 1]);
    if !(na == 2 || na == 3) || !(nb == 2 || nb == 3) {
        return Err(shape_err(
            "cross",
            format!("incompatible dimensions for cross product (dimension must be 2 or 3): {na} and {nb}"),
        ));
    }
    let d = result_dtype(&[&a, &b]);
    let (a, b) = (lax::convert(&a, d)?, lax::convert(&b, d)?);
    let comp = |t: &Tensor, i: usize| -> Result<Tensor> {
        let last = t.ndim() - 1;
        let n = t.shape()[last];
        let mut s = t.shape().to_vec();
        s.pop();
        if i < n {
            lax::reshape(&lax::slice_axis(t, last, i, i + 1)?, &s)
        } else {
            lax::full(&s, 0.0, t.dtype())
        }
    };
    let (a0, a1, a2) = (comp(&a, 0)?, comp(&a, 1)?, comp(&a, 2)?);
    let (b0, b1, b2) = (comp(&b, 0)?, comp(&b, 1)?, comp(&b, 2)?);
    let z = subtract(&multiply(&a0, &b1)?, &multiply(&a1, &b0)?)?;
    if na == 2 && nb == 2 {
        return Ok(z);
    }
    let x = subtract(&multiply(&a1, &b2)?, &multiply(&a2, &b1)?)?;
    let y = subtract(&multiply(&a2, &b0)?, &multiply(&a0, &b2)?)?;
    let c = stack(&[x, y, z], 0)?;
    let ax = norm_axis("cross", ac, c.ndim())?;
    super::manip::moveaxis(&c, &[0], &[ax as i64])
}

/// Cross-correlation of two 1-D tensors; `mode` is `"valid"` (Keras's default),
/// `"same"` or `"full"`. The result is floating point.
pub fn correlate(x1: impl IntoTensor, x2: impl IntoTensor, mode: &str) -> Result<Tensor> {
    let (a, v) = (x1.into_tensor()?, x2.into_tensor()?);
    if a.ndim() != 1 || v.ndim() != 1 {
        return Err(shape_err(
            "correlate",
            format!(
                "only 1-D inputs are supported, got shapes {:?} and {:?}",
                a.shape(),
                v.shape()
            ),
        ));
    }
    if a.size() == 0 || v.size() == 0 {
        return Err(shape_err("correlate", "inputs cannot be empty"));
    }
    let d = float_dtype(&[&a, &v]);
    let (mut x, mut y) = (lax::convert(&a, d)?, lax::convert(&v, d)?);
    let swapped = x.size() < y.size();
    if swapped {
        std::mem::swap(&mut x, &mut y);
    }
    let m = y.size() as i64;
    let padding = match mode {
        "valid" => (0, 0),
        "same" => (m / 2, m - m / 2 - 1),
        "full" => (m - 1, m - 1),
        _ => {
            return Err(arg_err(
                "correlate",
                format!("mode must be \"valid\", \"same\" or \"full\", got {mode:?}"),
            ))
        }
    };
    let xl = lax::reshape(&x, &[1, 1, x.size()])?;
    let yl = lax::reshape(&y, &[1, 1, y.size()])?;
    let r = lax::conv(&xl, &yl, &[1], &[padding], &[1], &[1], 1)?;
    let n = r.size();
    let r = lax::reshape(&r, &[n])?;
    if swapped {
        lax::rev(&r, &[0])
    } else {
        Ok(r)
    }
}

/// Vandermonde matrix of the 1-D `x` with `n` columns (default `len(x)`); powers
/// decrease along a row unless `increasing`.
pub fn vander(x: impl IntoTensor, n: Option<usize>, increasing: bool) -> Result<Tensor> {
    let x = x.into_tensor()?;
    if x.ndim() != 1 {
        return Err(shape_err(
            "vander",
            format!("x must be 1-D, got shape {:?}", x.shape()),
        ));
    }
    let n = n.unwrap_or(x.shape()[0]);
    let pd = if x.dtype() == DType::Bool {
        DType::I32
    } else {
        x.dtype()
    };
    let x = lax::convert(&x, pd)?;
    let mut p = lax::iota(&[n], pd, 0)?;
    if !increasing {
        p = lax::sub(&lax::full_like(&p, n as f64 - 1.0)?, &p)?;
    }
    let m = x.shape()[0];
    let xb = lax::broadcast_in_dim(&x, &[m, n], &[0])?;
    let pb = lax::broadcast_in_dim(&p, &[m, n], &[1])?;
    lax::binary(BinaryOp::Pow, &xb, &pb)
}

/// Label of an einsum axis: a letter, or an ellipsis axis (`ELL + position from the
/// right`).
type Label = u32;
const ELL: u32 = 1 << 20;

fn parse_term(term: &str, rank: Option<usize>, max_ell: usize) -> Result<Vec<Label>> {
    let err = |m: String| arg_err("einsum", m);
    let (before, after, has_ell) = match term.find("...") {
        Some(p) => (&term[..p], &term[p + 3..], true),
        None => (term, "", false),
    };
    for c in before.chars().chain(after.chars()) {
        if !c.is_ascii_alphabetic() {
            return Err(err(format!("invalid subscript {c:?} in {term:?}")));
        }
    }
    let n_letters = before.len() + after.len();
    let n_ell = if has_ell {
        match rank {
            Some(r) => r.checked_sub(n_letters).ok_or_else(|| {
                err(format!(
                    "term {term:?} has more subscripts than the operand's rank {r}"
                ))
            })?,
            None => max_ell,
        }
    } else {
        0
    };
    if let Some(r) = rank {
        if n_letters + n_ell != r {
            return Err(err(format!(
                "term {term:?} does not match an operand of rank {r}"
            )));
        }
    }
    let mut labels: Vec<Label> = before.chars().map(|c| c as u32).collect();
    labels.extend((0..n_ell).rev().map(|k| ELL + k as u32));
    labels.extend(after.chars().map(|c| c as u32));
    Ok(labels)
}

/// Einstein summation. `subscripts` like `"ij,jk->ik"`; `...` stands for
/// broadcast axes; without `->` the output has the ellipsis axes, then the
/// letters used exactly once, alphabetically. Repeated letters within one operand
/// take a diagonal; letters absent from the output are summed.
pub fn einsum(subscripts: &str, operands: &[Tensor]) -> Result<Tensor> {
    let s: String = subscripts.chars().filter(|c| !c.is_whitespace()).collect();
    let (lhs, rhs) = match s.find("->") {
        Some(p) => (&s[..p], Some(&s[p + 2..])),
        None => (s.as_str(), None),
    };
    let terms: Vec<&str> = lhs.split(',').collect();
    if terms.len() != operands.len() {
        return Err(arg_err(
            "einsum",
            format!(
                "{subscripts:?} has {} operand terms but {} operands were given",
                terms.len(),
                operands.len()
            ),
        ));
    }
    let mut labels: Vec<Vec<Label>> = Vec::new();
    for (t, x) in terms.iter().zip(operands) {
        labels.push(parse_term(t, Some(x.ndim()), 0)?);
    }
    let max_ell = labels
        .iter()
        .flat_map(|l| l.iter())
        .filter(|&&l| l >= ELL)
        .map(|&l| (l - ELL + 1) as usize)
        .max()
        .unwrap_or(0);
    let out: Vec<Label> = match rhs {
        Some(r) => {
            let o = parse_term(r, None, max_ell)?;
            for (i, l) in o.iter().enumerate() {
                if o[..i].contains(l) {
                    return Err(arg_err(
                        "einsum",
                        format!("output subscript repeated in {r:?}"),
                    ));
                }
                if *l < ELL && !labels.iter().any(|ls| ls.contains(l)) {
                    return Err(arg_err(
                        "einsum",
                        format!(
                            "output subscript {:?} does not appear in the inputs",
                            char::from_u32(*l).unwrap_or('?')
                        ),
                    ));
                }
            }
            o
        }
        None => {
            let mut o: Vec<Label> = (0..max_ell).rev().map(|k| ELL + k as u32).collect();
            let mut letters: Vec<Label> = labels
                .iter()
                .flat_map(|l| l.iter().copied())
                .filter(|&l| l < ELL)
                .collect();
            letters.sort();
            let once: Vec<Label> = letters
                .iter()
                .copied()
                .filter(|l| letters.iter().filter(|m| *m == l).count() == 1)
                .collect();
            o.extend(once);
            o
        }
    };
    // Global size of each label (size-1 axes broadcast).
    let mut sizes: std::collections::HashMap<Label, usize> = Default::default();
    for (ls, x) in labels.iter().zip(operands) {
        for (&l, &n) in ls.iter().zip(x.shape()) {
            let e = sizes.entry(l).or_insert(n);
            if *e == 1 {
                *e = n;
            } else if n != 1 && n != *e {
                return Err(shape_err(
                    "einsum",
                    format!("size of label {l} is inconsistent: {} and {n}", *e),
                ));
            }
        }
    }
    let refs: Vec<&Tensor> = operands.iter().collect();
    let (d, cd) = {
        let d = result_dtype(&refs);
        let all_i8 = !operands.is_empty()
            && operands
                .iter()
                .all(|x| x.dtype() == DType::I8 && !x.is_weak());
        let cd = if d == DType::Bool || all_i8 {
            DType::I32
        } else {
            d
        };
        (if all_i8 { DType::I32 } else { d }, cd)
    };
    // Prepare each operand: diagonals of repeated labels, broadcasting, summing
    // labels used nowhere else.
    let mut ops: Vec<(Tensor, Vec<Label>)> = Vec::new();
    for (i, (x, ls)) in operands.iter().zip(&labels).enumerate() {
        let mut t = lax::convert(x, cd)?;
        let mut ls = ls.clone();
        loop {
            let rep = (0..ls.len()).find_map(|a| {
                ((a + 1)..ls.len())
                    .find(|&b| ls[b] == ls[a])
                    .map(|b| (a, b))
            });
            let Some((a, b)) = rep else { break };
            let l = ls[a];
            t = super::manip::diagonal(&t, 0, a as i64, b as i64)?;
            ls.remove(b);
            ls.remove(a);
            ls.push(l);
        }
        let target: Vec<usize> = ls.iter().map(|l| sizes[l]).collect();
        if target.as_slice() != t.shape() {
            let dims: Vec<usize> = (0..ls.len()).collect();
            t = lax::broadcast_in_dim(&t, &target, &dims)?;
        }
        let elsewhere = |l: Label| -> bool {
            out.contains(&l)
                || labels
                    .iter()
                    .enumerate()
                    .any(|(j, o)| j != i && o.contains(&l))
        };
        let sum_axes: Vec<usize> = (0..ls.len()).filter(|&a| !elsewhere(ls[a])).collect();
        if !sum_axes.is_empty() {
            t = lax::reduce_sum(&t, &sum_axes)?;
            ls = ls
                .iter()
                .enumerate()
                .filter(|(a, _)| !sum_axes.contains(a))
                .map(|(_, &l)| l)
                .collect();
        }
        ops.push((t, ls));
    }
    let mut it = ops.into_iter();
    let (mut cur, mut cl) = it
        .next()
        .ok_or_else(|| arg_err("einsum", "need at least one operand"))?;
    let rest: Vec<(Tensor, Vec<Label>)> = it.collect();
    for (k, (t, tl)) in rest.iter().enumerate() {
        let later: Vec<Label> = rest[k + 1..]
            .iter()
            .flat_map(|(_, l)| l.iter().copied())
            .collect();
        let needed = |l: &Label| out.contains(l) || later.contains(l);
        let shared: Vec<Label> = cl.iter().copied().filter(|l| tl.contains(l)).collect();
        let mut batch: Vec<Label> = shared.iter().copied().filter(needed).collect();
        let last = k + 1 == rest.len();
        if last {
            // The output's order for the batch labels saves a transpose after.
            batch.sort_by_key(|l| out.iter().position(|m| m == l));
        }
        let contr: Vec<Label> = shared.iter().copied().filter(|l| !needed(l)).collect();
        let pos = |ls: &[Label], l: Label| ls.iter().position(|&m| m == l).expect("label present");
        let lb: Vec<usize> = batch.iter().map(|&l| pos(&cl, l)).collect();
        let rb: Vec<usize> = batch.iter().map(|&l| pos(tl, l)).collect();
        let lc: Vec<usize> = contr.iter().map(|&l| pos(&cl, l)).collect();
        let rc: Vec<usize> = contr.iter().map(|&l| pos(tl, l)).collect();
        let lfree: Vec<Label> = cl.iter().copied().filter(|l| !shared.contains(l)).collect();
        let rfree: Vec<Label> = tl.iter().copied().filter(|l| !shared.contains(l)).collect();
        // `dot_general` puts the lhs's free labels before the rhs's; when the
        // output wants them the other way round (Keras's attention scores,
        // `aecd,abcd->acbe`), swapping the operands saves transposing the result.
        let swap = last && !shared.is_empty() && {
            let as_is: Vec<Label> = batch.iter().chain(&lfree).chain(&rfree).copied().collect();
            let swapped: Vec<Label> = batch.iter().chain(&rfree).chain(&lfree).copied().collect();
            as_is != out && swapped == out
        };
        cur = if swap {
            lax::dot_general(t, &cur, &rc, &lc, &rb, &lb)?
        } else if shared.is_empty() {
            // Outer product by broadcasting.
            let mut s = cur.shape().to_vec();
            s.extend(t.shape());
            let na = cur.ndim();
            let a = lax::broadcast_in_dim(&cur, &s, &(0..na).collect::<Vec<_>>())?;
            let b = lax::broadcast_in_dim(t, &s, &(na..s.len()).collect::<Vec<_>>())?;
            lax::mul(&a, &b)?
        } else {
            lax::dot_general(&cur, t, &lc, &rc, &lb, &rb)?
        };
        cl = batch;
        if swap {
            cl.extend(rfree);
            cl.extend(lfree);
        } else {
            cl.extend(lfree);
            cl.extend(rfree);
        }
    }
    let perm: Vec<usize> = out
        .iter()
        .map(|l| {
            cl.iter()
                .position(|m| m == l)
                .ok_or_else(|| arg_err("einsum", format!("output label {l} is missing")))
        })
        .collect::<Result<_>>()?;
    if perm.len() != cl.len() {
        return Err(arg_err(
            "einsum",
            format!("cannot produce output {rhs:?} from {subscripts:?}"),
        ));
    }
    let r = lax::transpose(&cur, &perm)?;
    finish_product(r, d)
}
