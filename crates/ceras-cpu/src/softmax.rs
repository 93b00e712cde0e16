//! Fused, numerically stable softmax / log-softmax on f32: the opt-in kernels
//! (`Fused::Softmax`, `Fused::LogSoftmax`, rounding as they like) and the exact
//! last-axis ones (`Fused::SoftmaxLast`, `Fused::SoftmaxLastGrad`, bit-identical
//! to the decomposition, always on).

use crate::elementwise::{CHUNK, PAR_MIN};
use crate::fastmath::{exp_core, fix_up, map_into};
use crate::num::Acc;
use crate::reduce::{alb, reduce_row, reduce_row_par, MaxOp, Op, SumOp};
use rayon::prelude::*;

/// Softmax (or log-softmax) of `v` along `axis`: `exp(x - max) / Σ exp(x - max)`.
pub(crate) fn softmax(v: &[f32], shape: &[usize], axis: usize, log: bool) -> Vec<f32> {
    let (a, l, b) = alb(shape, axis);
    let mut out = v.to_vec();
    if out.is_empty() {
        return out;
    }
    let block = |o: &mut [f32]| {
        if b == 1 {
            return row(o, log);
        }
        // o is [l, b]; per column: max, then sum of exp.
        let mut m = vec![f32::NEG_INFINITY; b];
        for row in o.chunks(b) {
            for (m, &x) in m.iter_mut().zip(row) {
                *m = m.max_nan(x);
            }
        }
        let mut s = vec![0f32; b];
        for row in o.chunks_mut(b) {
            for ((y, &m), s) in row.iter_mut().zip(&m).zip(s.iter_mut()) {
                *y -= m;
                let e = y.exp();
                *s += e;
                if !log {
                    *y = e;
                }
            }
        }
        if log {
            let ls: Vec<f32> = s.iter().map(|s| s.ln()).collect();
            for row in o.chunks_mut(b) {
                row.iter_mut().zip(&ls).for_each(|(y, l)| *y -= l);
            }
        } else {
            let inv: Vec<f32> = s.iter().map(|s| 1.0 / s).collect();
            for row in o.chunks_mut(b) {
                row.iter_mut().zip(&inv).for_each(|(y, i)| *y *= i);
            }
        }
    };
    if a >= 2 && out.len() >= PAR_MIN {
        out.par_chunks_mut(l * b).for_each(block);
    } else {
        out.chunks_mut(l * b).for_each(block);
    }
    out
}

/// Softmax of one contiguous row, in place.
fn row(o: &mut [f32], log: bool) {
    let m = o.iter().fold(f32::NEG_INFINITY, |m, &x| m.max_nan(x));
    let mut s = 0f32;
    for y in o.iter_mut() {
        *y -= m;
        let e = y.exp();
        s += e;
        if !log {
            *y = e;
        }
    }
    if log {
        let ls = s.ln();
        o.iter_mut().for_each(|y| *y -= ls);
    } else {
        let inv = 1.0 / s;
        o.iter_mut().for_each(|y| *y *= inv);
    }
}

/// `Reduce` of one softmax row as the `Reduce` primitive computes it: a row of
/// one element is its own result, a tensor that is one long row is reduced in
/// parallel chunks, other rows pairwise.
pub(crate) fn reduce_as_prim<O: Op>(v: &[f32], whole: bool) -> f32 {
    match v.len() {
        1 => v[0],
        _ if whole => reduce_row_par::<f32, O>(v),
        _ => reduce_row::<f32, O>(v),
    }
}

/// Runs `row(out_row, rows of each input)` over the rows of length `l`, in
/// parallel over blocks of rows for large inputs.
fn by_rows(
    out: &mut [f32],
    ins: [&[f32]; 2],
    l: usize,
    row: impl Fn(&mut [f32], &[f32], &[f32]) + Sync,
) {
    let block = |o: &mut [f32], a: &[f32], b: &[f32]| {
        for ((o, a), b) in o
            .chunks_exact_mut(l)
            .zip(a.chunks_exact(l))
            .zip(b.chunks_exact(l))
        {
            row(o, a, b);
        }
    };
    if out.len() >= PAR_MIN && out.len() > l {
        let n = (CHUNK / l).max(1) * l;
        out.par_chunks_mut(n)
            .zip(ins[0].par_chunks(n))
            .zip(ins[1].par_chunks(n))
            .for_each(|((o, a), b)| block(o, a, b));
    } else {
        block(out, ins[0], ins[1]);
    }
}

/// Softmax of `x` along its last axis (rows of length `l`), bit-identical to the
/// primitive decomposition `ops::softmax` records — `Reduce Max`, `Sub`, `Exp`,
/// `Reduce Sum`, `Div` — as this backend runs it: the reductions in the
/// `Reduce` kernel's order, `exp` as the `Exp` kernel computes each element
/// (the fast polynomial, libm outside its range). One pass over each row
/// while it is in cache, instead of five passes and five buffers.
pub(crate) fn softmax_last(x: &[f32], l: usize) -> Vec<f32> {
    let mut out = crate::pool::take::<f32>(x.len());
    if x.is_empty() || l == 0 {
        return out;
    }
    let whole = x.len() == l;
    by_rows(&mut out, [x, x], l, |o, x, _| softmax_last_row(o, x, whole));
    out
}

/// One row of [`softmax_last`]: `o = softmax(x)`, with `whole` when the tensor
/// is this one row (the `Reduce` kernel then sums in parallel chunks).
pub(crate) fn softmax_last_row(o: &mut [f32], x: &[f32], whole: bool) {
    let m = reduce_as_prim::<MaxOp>(x, whole);
    map_into(o, x, |x| exp_core((x - m).clamp(-87.0, 87.0)));
    // libm where the fast polynomial is out of range, as the Exp kernel does.
    fix_up(o, x, |x| (x - m).abs() < 87.0, |x| (x - m).exp());
    let s = reduce_as_prim::<SumOp>(o, whole);
    for o in o.iter_mut() {
        *o /= s;
    }
}

/// The VJP of [`softmax_last`]: `y * (g - sum(g * y))` along rows of length
/// `l`, bit-identical to that decomposition (`Mul`, `Reduce Sum`, `Sub`, `Mul`).
pub(crate) fn softmax_last_grad(y: &[f32], g: &[f32], l: usize) -> Vec<f32> {
    let mut out = crate::pool::take::<f32>(y.len());
    if y.is_empty() || l == 0 {
        return out;
    }
    let whole = y.len() == l;
    by_rows(&mut out, [y, g], l, |o, y, g| {
        softmax_last_grad_row(o, y, g, whole)
    });
    out
}

/// One row of [`softmax_last_grad`] (`whole` as for [`softmax_last_row`]).
pub(crate) fn softmax_last_grad_row(o: &mut [f32], y: &[f32], g: &[f32], whole: bool) {
    for ((o, &y), &g) in o.iter_mut().zip(y).zip(g) {
        *o = g * y;
    }
    let s = reduce_as_prim::<SumOp>(o, whole);
    for ((o, &y), &g) in o.iter_mut().zip(y).zip(g) {
        *o = y * (g - s);
    }
}
