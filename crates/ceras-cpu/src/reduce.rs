//! Reductions: `Reduce`, `ArgReduce` and `Cumulative`.
//!
//! Every reduction is brought to the form `[A, R, B]` (reduce the middle), either
//! directly when the reduced axes are adjacent, or after a transpose. Sums are
//! pairwise (8 lanes per 128-element leaf) so f32 matches NumPy closely.

use crate::elementwise::PAR_MIN;
use crate::layout::transpose_vec;
use crate::num::{bool_to_u8, num_dispatch, u8_to_bool, Acc, Num};
use ceras_core::error::{dtype_err, Result};
use ceras_core::prim::{ArgOp, CumOp, ReduceOp};
use ceras_core::{DType, Element, HostData};
use rayon::prelude::*;

/// A binary associative op over accumulators, with its identity.
pub(crate) trait Op: Copy + Send + Sync + 'static {
    fn init<A: Acc>() -> A;
    fn f<A: Acc>(a: A, b: A) -> A;
}

macro_rules! op {
    ($name:ident, $init:ident, $f:ident) => {
        #[derive(Clone, Copy)]
        pub(crate) struct $name;
        impl Op for $name {
            #[inline(always)]
            fn init<A: Acc>() -> A {
                A::$init
            }
            #[inline(always)]
            fn f<A: Acc>(a: A, b: A) -> A {
                a.$f(b)
            }
        }
    };
}
op!(SumOp, ZERO, add);
op!(ProdOp, ONE, mul);
op!(MaxOp, LOWEST, max_nan);
op!(MinOp, HIGHEST, min_nan);

/// Reduction of a contiguous slice: 8 lanes, pairwise above 128 elements.
pub(crate) fn reduce_row<T: Num, O: Op>(x: &[T]) -> T::A {
    if x.len() <= 128 {
        let mut acc = [O::init::<T::A>(); 8];
        let mut chunks = x.chunks_exact(8);
        for c in &mut chunks {
            for k in 0..8 {
                acc[k] = O::f(acc[k], c[k].to_acc());
            }
        }
        for (k, &v) in chunks.remainder().iter().enumerate() {
            acc[k] = O::f(acc[k], v.to_acc());
        }
        let a = O::f(O::f(acc[0], acc[1]), O::f(acc[2], acc[3]));
        let b = O::f(O::f(acc[4], acc[5]), O::f(acc[6], acc[7]));
        return O::f(a, b);
    }
    let h = (x.len() / 2).div_ceil(8) * 8;
    O::f(reduce_row::<T, O>(&x[..h]), reduce_row::<T, O>(&x[h..]))
}

/// Row reduction, parallel for long rows.
pub(crate) fn reduce_row_par<T: Num, O: Op>(x: &[T]) -> T::A {
    if x.len() < PAR_MIN {
        return reduce_row::<T, O>(x);
    }
    x.par_chunks(1 << 14)
        .map(reduce_row::<T, O>)
        .reduce(O::init, O::f)
}

/// Reduces `r` rows (row `i` at `x[i * ld ..][..b]`) into `b` accumulators, pairwise.
fn reduce_cols<T: Num, O: Op>(x: &[T], r: usize, ld: usize, b: usize) -> Vec<T::A> {
    if r <= 16 {
        let mut acc = vec![O::init::<T::A>(); b];
        for i in 0..r {
            for (a, &v) in acc.iter_mut().zip(&x[i * ld..i * ld + b]) {
                *a = O::f(*a, v.to_acc());
            }
        }
        return acc;
    }
    let h = r / 2;
    let mut a = reduce_cols::<T, O>(x, h, ld, b);
    let c = reduce_cols::<T, O>(&x[h * ld..], r - h, ld, b);
    for (a, c) in a.iter_mut().zip(c) {
        *a = O::f(*a, c);
    }
    a
}

/// `[A, R, B] -> [A, B]`.
fn reduce_arb<T: Num, O: Op>(x: &[T], a: usize, r: usize, b: usize) -> Vec<T> {
    let big = a * r * b >= PAR_MIN;
    if b == 1 {
        if a == 1 {
            return vec![T::from_acc(reduce_row_par::<T, O>(x))];
        }
        let row = |i: usize| T::from_acc(reduce_row::<T, O>(&x[i * r..(i + 1) * r]));
        return if big {
            (0..a).into_par_iter().map(row).collect()
        } else {
            (0..a).map(row).collect()
        };
    }
    let block = |i: usize| -> Vec<T> {
        let xs = &x[i * r * b..(i + 1) * r * b];
        if big && a < 4 && b >= 256 {
            // Few outer blocks: split the columns across threads.
            let cw = 256.max(b / 16);
            let parts: Vec<Vec<T::A>> = (0..b.div_ceil(cw))
                .into_par_iter()
                .map(|c| {
                    let c0 = c * cw;
                    reduce_cols::<T, O>(&xs[c0..], r, b, cw.min(b - c0))
                })
                .collect();
            parts.into_iter().flatten().map(T::from_acc).collect()
        } else {
            reduce_cols::<T, O>(xs, r, b, b)
                .into_iter()
                .map(T::from_acc)
                .collect()
        }
    };
    if big && a >= 4 {
        (0..a).into_par_iter().flat_map_iter(block).collect()
    } else {
        (0..a).flat_map(block).collect()
    }
}

/// Brings `axes` of `shape` to `[A, R, B]` form; returns `(A, R, B)` and the
/// permutation to apply first, if the reduced axes are not adjacent.
fn arb_form(shape: &[usize], axes: &[usize]) -> ((usize, usize, usize), Option<Vec<usize>>) {
    let red = |d: usize| axes.contains(&d);
    // Dims of size 1 never matter.
    let dims: Vec<usize> = (0..shape.len()).filter(|&d| shape[d] != 1).collect();
    let first = dims.iter().position(|&d| red(d));
    let last = dims.iter().rposition(|&d| red(d));
    let r: usize = axes.iter().map(|&d| shape[d]).product();
    let kept: usize = (0..shape.len())
        .filter(|&d| !red(d))
        .map(|d| shape[d])
        .product();
    match (first, last) {
        (Some(f), Some(l)) if dims[f..=l].iter().all(|&d| red(d)) => {
            let a: usize = dims[..f].iter().map(|&d| shape[d]).product();
            let b: usize = dims[l + 1..].iter().map(|&d| shape[d]).product();
            ((a, r, b), None)
        }
        (None, _) | (_, None) => ((kept, 1, 1), None),
        _ => {
            let mut perm: Vec<usize> = (0..shape.len()).filter(|&d| !red(d)).collect();
            perm.extend(axes.iter().copied());
            ((kept, r, 1), Some(perm))
        }
    }
}

fn reduce_t<T: Num, O: Op>(v: &[T], shape: &[usize], axes: &[usize]) -> Vec<T> {
    let ((a, r, b), perm) = arb_form(shape, axes);
    if a * b == 0 {
        return Vec::new();
    }
    if r == 0 {
        return vec![T::from_acc(O::init()); a * b];
    }
    match perm {
        Some(p) => reduce_arb::<T, O>(&transpose_vec(v, shape, &p), a, r, b),
        None if r == 1 => v.to_vec(),
        None => reduce_arb::<T, O>(v, a, r, b),
    }
}

fn reduce_num<T: Num>(op: ReduceOp, v: &[T], shape: &[usize], axes: &[usize]) -> Vec<T> {
    match op {
        ReduceOp::Sum | ReduceOp::Any => reduce_t::<T, SumOp>(v, shape, axes),
        ReduceOp::Prod | ReduceOp::All => reduce_t::<T, ProdOp>(v, shape, axes),
        ReduceOp::Max => reduce_t::<T, MaxOp>(v, shape, axes),
        ReduceOp::Min => reduce_t::<T, MinOp>(v, shape, axes),
    }
}

/// `Reduce{op, axes}`. On bool, Sum / Max / Any are "any" and Prod / Min / All "all".
pub(crate) fn reduce(
    op: ReduceOp,
    x: &HostData,
    shape: &[usize],
    axes: &[usize],
) -> Result<HostData> {
    Ok(
        num_dispatch!(x, v => Element::wrap(reduce_num(op, v, shape, axes)), bool => {
            let HostData::Bool(v) = x else { unreachable!() };
            let u = bool_to_u8(v);
            let r = match op {
                ReduceOp::Sum | ReduceOp::Max | ReduceOp::Any => reduce_t::<u8, MaxOp>(&u, shape, axes),
                ReduceOp::Prod | ReduceOp::Min | ReduceOp::All => reduce_t::<u8, MinOp>(&u, shape, axes),
            };
            HostData::Bool(u8_to_bool(&r))
        }),
    )
}

/// `[A, L, B]` sizes around `axis`.
pub(crate) fn alb(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    (
        shape[..axis].iter().product(),
        shape[axis],
        shape[axis + 1..].iter().product(),
    )
}

/// True when `x` should replace the current best `b` (first occurrence wins; NaN is extreme).
#[inline(always)]
#[allow(clippy::eq_op)]
pub(crate) fn better<T: PartialOrd>(x: T, b: T, max: bool) -> bool {
    if b != b {
        return false;
    }
    if x != x {
        return true;
    }
    if max {
        x > b
    } else {
        x < b
    }
}

fn argreduce_t<T: Element>(v: &[T], shape: &[usize], axis: usize, max: bool) -> Vec<i64> {
    let (a, l, b) = alb(shape, axis);
    let mut out = vec![0i64; a * b];
    if l == 0 {
        return out;
    }
    if b == 1 {
        let row = |(i, o): (usize, &mut i64)| {
            let xs = &v[i * l..(i + 1) * l];
            let mut best = xs[0];
            for (k, &x) in xs.iter().enumerate().skip(1) {
                if better(x, best, max) {
                    best = x;
                    *o = k as i64;
                }
            }
        };
        if a * l >= PAR_MIN {
            out.par_iter_mut()
                .enumerate()
                .with_min_len(64)
                .for_each(row);
        } else {
            out.iter_mut().enumerate().for_each(row);
        }
        return out;
    }
    let block = |(i, o): (usize, &mut [i64])| {
        let xs = &v[i * l * b..(i + 1) * l * b];
        let mut best: Vec<T> = xs[..b].to_vec();
        for k in 1..l {
            let row = &xs[k * b..(k + 1) * b];
            for ((bv, bi), &x) in best.iter_mut().zip(o.iter_mut()).zip(row) {
                if better(x, *bv, max) {
                    *bv = x;
                    *bi = k as i64;
                }
            }
        }
    };
    if b == 0 {
        return out;
    }
    if a * l * b >= PAR_MIN {
        out.par_chunks_mut(b).enumerate().for_each(block);
    } else {
        out.chunks_mut(b).enumerate().for_each(block);
    }
    out
}

/// `ArgReduce{op, axis, index_dtype}`.
pub(crate) fn argreduce(
    op: ArgOp,
    x: &HostData,
    shape: &[usize],
    axis: usize,
    index_dtype: DType,
) -> Result<HostData> {
    if !index_dtype.is_int() {
        return Err(dtype_err(
            "argmax",
            format!("index dtype must be an integer type, got {index_dtype}"),
        ));
    }
    let max = op == ArgOp::ArgMax;
    let idx = ceras_core::with_host_data!(x, v => argreduce_t(v, shape, axis, max));
    Ok(HostData::from_i64(index_dtype, &idx))
}

fn cumulative_t<T: Num, O: Op>(v: &[T], shape: &[usize], axis: usize, reverse: bool) -> Vec<T> {
    let (a, l, b) = alb(shape, axis);
    let mut out = v.to_vec();
    if out.is_empty() {
        return out;
    }
    let block = |o: &mut [T]| {
        if b == 1 {
            let mut acc = O::init::<T::A>();
            let mut step = |y: &mut T| {
                acc = O::f(acc, y.to_acc());
                *y = T::from_acc(acc);
            };
            if reverse {
                o.iter_mut().rev().for_each(&mut step);
            } else {
                o.iter_mut().for_each(&mut step);
            }
            return;
        }
        let mut acc = vec![O::init::<T::A>(); b];
        for k in 0..l {
            let k = if reverse { l - 1 - k } else { k };
            for (ac, y) in acc.iter_mut().zip(&mut o[k * b..(k + 1) * b]) {
                *ac = O::f(*ac, y.to_acc());
                *y = T::from_acc(*ac);
            }
        }
    };
    if a >= 2 && a * l * b >= PAR_MIN {
        out.par_chunks_mut(l * b).for_each(block);
    } else {
        out.chunks_mut(l * b).for_each(block);
    }
    out
}

fn cumulative_num<T: Num>(
    op: CumOp,
    v: &[T],
    shape: &[usize],
    axis: usize,
    reverse: bool,
) -> Vec<T> {
    match op {
        CumOp::Sum => cumulative_t::<T, SumOp>(v, shape, axis, reverse),
        CumOp::Prod => cumulative_t::<T, ProdOp>(v, shape, axis, reverse),
        CumOp::Max => cumulative_t::<T, MaxOp>(v, shape, axis, reverse),
        CumOp::Min => cumulative_t::<T, MinOp>(v, shape, axis, reverse),
    }
}

/// `Cumulative{op, axis, reverse}` (inclusive). On bool, Sum / Max are "any", Prod / Min "all".
pub(crate) fn cumulative(
    op: CumOp,
    x: &HostData,
    shape: &[usize],
    axis: usize,
    reverse: bool,
) -> Result<HostData> {
    Ok(
        num_dispatch!(x, v => Element::wrap(cumulative_num(op, v, shape, axis, reverse)), bool => {
            let HostData::Bool(v) = x else { unreachable!() };
            let u = bool_to_u8(v);
            let r = match op {
                CumOp::Sum | CumOp::Max => cumulative_t::<u8, MaxOp>(&u, shape, axis, reverse),
                CumOp::Prod | CumOp::Min => cumulative_t::<u8, MinOp>(&u, shape, axis, reverse),
            };
            HostData::Bool(u8_to_bool(&r))
        }),
    )
}
