//! Windowed ops: `ReduceWindow` (pooling) and `SelectAndScatterAdd` (its max gradient).
//!
//! A box-window reduction is separable, so `ReduceWindow` runs one 1-D window pass
//! per dim whose window is not trivial, accumulating in the accumulator type.

use crate::elementwise::{map, PAR_MIN};
use crate::layout::istrides;
use crate::num::{bool_to_u8, num_dispatch, u8_to_bool, Acc, Num};
use crate::reduce::{alb, better, MaxOp, MinOp, Op, SumOp};
use ceras_core::error::Result;
use ceras_core::prim::WindowOp;
use ceras_core::shape::numel;
use ceras_core::{Element, HostData};
use rayon::prelude::*;

/// Window geometry of every dim.
pub(crate) struct Window<'a> {
    pub window: &'a [usize],
    pub strides: &'a [usize],
    pub padding: &'a [(usize, usize)],
}

impl Window<'_> {
    fn trivial(&self, d: usize) -> bool {
        self.window[d] == 1 && self.strides[d] == 1 && self.padding[d] == (0, 0)
    }
}

/// One window pass over the middle dim of `[a, l, b]`, giving `[a, lout, b]`.
#[allow(clippy::too_many_arguments)]
fn window_1d<A: Acc, O: Op>(
    x: &[A],
    (a, l, b): (usize, usize, usize),
    w: usize,
    s: usize,
    lo: usize,
    lout: usize,
) -> Vec<A> {
    let mut out = vec![O::init::<A>(); a * lout * b];
    if out.is_empty() {
        return out;
    }
    let blk = |(ai, ob): (usize, &mut [A])| {
        let xb = &x[ai * l * b..(ai + 1) * l * b];
        for (o, orow) in ob.chunks_mut(b).enumerate() {
            // Window taps inside the input: p = start + j in [0, l).
            let start = (o * s) as isize - lo as isize;
            let p0 = start.max(0) as usize;
            let p1 = (start + w as isize).clamp(0, l as isize) as usize;
            if b == 1 {
                orow[0] = xb[p0.min(p1)..p1].iter().fold(orow[0], |y, &v| O::f(y, v));
                continue;
            }
            for p in p0..p1 {
                for (y, &v) in orow.iter_mut().zip(&xb[p * b..(p + 1) * b]) {
                    *y = O::f(*y, v);
                }
            }
        }
    };
    if a >= 2 && a * l * b >= PAR_MIN {
        out.par_chunks_mut(lout * b).enumerate().for_each(blk);
    } else {
        out.chunks_mut(lout * b).enumerate().for_each(blk);
    }
    out
}

fn reduce_window_t<T: Num, O: Op>(
    v: &[T],
    shape: &[usize],
    win: &Window<'_>,
    out_shape: &[usize],
) -> Vec<T> {
    let mut cur: Vec<T::A> = map(v, T::to_acc);
    let mut cs = shape.to_vec();
    for d in 0..shape.len() {
        if win.trivial(d) {
            continue;
        }
        let geom = alb(&cs, d);
        cur = window_1d::<T::A, O>(
            &cur,
            geom,
            win.window[d],
            win.strides[d].max(1),
            win.padding[d].0,
            out_shape[d],
        );
        cs[d] = out_shape[d];
    }
    map(&cur, T::from_acc)
}

fn reduce_window_num<T: Num>(
    op: WindowOp,
    v: &[T],
    shape: &[usize],
    win: &Window<'_>,
    os: &[usize],
) -> Vec<T> {
    match op {
        WindowOp::Sum => reduce_window_t::<T, SumOp>(v, shape, win, os),
        WindowOp::Max => reduce_window_t::<T, MaxOp>(v, shape, win, os),
        WindowOp::Min => reduce_window_t::<T, MinOp>(v, shape, win, os),
    }
}

/// `ReduceWindow`; padding holds the op's identity. On bool, Sum / Max are "any", Min "all".
pub(crate) fn reduce_window(
    op: WindowOp,
    x: &HostData,
    shape: &[usize],
    win: &Window<'_>,
    out_shape: &[usize],
) -> Result<HostData> {
    Ok(
        num_dispatch!(x, v => Element::wrap(reduce_window_num(op, v, shape, win, out_shape)), bool => {
            let HostData::Bool(v) = x else { unreachable!() };
            let u = bool_to_u8(v);
            let r = match op {
                WindowOp::Sum | WindowOp::Max => reduce_window_t::<u8, MaxOp>(&u, shape, win, out_shape),
                WindowOp::Min => reduce_window_t::<u8, MinOp>(&u, shape, win, out_shape),
            };
            HostData::Bool(u8_to_bool(&r))
        }),
    )
}

/// Advances a row-major multi-index; false when it wraps around.
fn next_index(idx: &mut [usize], shape: &[usize]) -> bool {
    for d in (0..idx.len()).rev() {
        idx[d] += 1;
        if idx[d] < shape[d] {
            return true;
        }
        idx[d] = 0;
    }
    false
}

fn sas_t<T: Num>(
    x: &[T],
    src: &[T],
    shape: &[usize],
    win: &Window<'_>,
    src_shape: &[usize],
) -> Vec<T> {
    let r = shape.len();
    let zero = T::A::ZERO;
    let mut out = vec![zero; numel(shape)];
    if out.is_empty() || src.is_empty() {
        return map(&out, T::from_acc);
    }
    // Leading dims with trivial windows split the problem into independent slices.
    let lead = (0..r).take_while(|&d| win.trivial(d)).count();
    // Trailing dims with trivial windows (the channels of a channels-last
    // pooling) are lanes: every window position handles `lanes` contiguous
    // elements at once, instead of paying the index arithmetic per element.
    let trail = (lead..r).rev().take_while(|&d| win.trivial(d)).count();
    let (ish, osh) = (&shape[lead..], &src_shape[lead..]);
    let (isz, osz) = (numel(ish), numel(osh));
    let ist = istrides(ish);
    let rr = ish.len() - trail;
    let lanes = numel(&ish[rr..]);
    let wsh = &win.window[lead..lead + rr];
    let (ish, osh) = (&ish[..rr], &osh[..rr]);
    // Window taps: multi-index and offset from the window's corner (row-major order,
    // so the first maximum found is the first in the window).
    let mut taps: Vec<(Vec<usize>, isize)> = Vec::new();
    if !wsh.contains(&0) {
        let mut w = vec![0usize; rr];
        loop {
            taps.push((
                w.clone(),
                w.iter().zip(&ist).map(|(&i, &s)| i as isize * s).sum(),
            ));
            if !next_index(&mut w, wsh) {
                break;
            }
        }
    }
    let (st, lo): (Vec<usize>, Vec<isize>) = (lead..lead + rr)
        .map(|d| (win.strides[d], win.padding[d].0 as isize))
        .unzip();
    let slice = |(pi, outs): (usize, &mut [T::A])| {
        let xs = &x[pi * isz..(pi + 1) * isz];
        let ss = &src[pi * osz..(pi + 1) * osz];
        let mut oidx = vec![0usize; rr];
        let mut start = vec![0isize; rr];
        // Per lane: the offset and value of the best element so far.
        let mut best_o = vec![usize::MAX; lanes];
        let mut best_v = vec![zero; lanes];
        for sv in ss.chunks(lanes) {
            let (mut inside, mut base) = (true, 0isize);
            for d in 0..rr {
                let s0 = (oidx[d] * st[d]) as isize - lo[d];
                start[d] = s0;
                inside &= s0 >= 0 && s0 + wsh[d] as isize <= ish[d] as isize;
                base += s0 * ist[d];
            }
            best_o.fill(usize::MAX);
            for (wi, off) in &taps {
                let outside = |d: usize| {
                    let p = start[d] + wi[d] as isize;
                    p < 0 || p >= ish[d] as isize
                };
                if !inside && (0..rr).any(outside) {
                    continue;
                }
                let o = (base + off) as usize;
                let row = &xs[o..o + lanes];
                for (c, &xv) in row.iter().enumerate() {
                    let v = xv.to_acc();
                    if best_o[c] == usize::MAX || better(v, best_v[c], true) {
                        best_o[c] = o + c;
                        best_v[c] = v;
                    }
                }
            }
            for (&o, &sv) in best_o.iter().zip(sv) {
                if o != usize::MAX {
                    outs[o] = outs[o].add(sv.to_acc());
                }
            }
            next_index(&mut oidx, osh);
        }
    };
    let parts = numel(&shape[..lead]);
    if parts >= 2 && out.len() >= PAR_MIN / 4 {
        out.par_chunks_mut(isz).enumerate().for_each(slice);
    } else {
        out.chunks_mut(isz).enumerate().for_each(slice);
    }
    map(&out, T::from_acc)
}

/// `SelectAndScatterAdd`: scatters each source element onto the first maximum of
/// its window (NaN counts as the maximum; padding is never selected).
pub(crate) fn select_and_scatter_add(
    x: &HostData,
    src: &HostData,
    shape: &[usize],
    win: &Window<'_>,
    src_shape: &[usize],
) -> Result<HostData> {
    let bad = || {
        ceras_core::error::dtype_err(
            "select_and_scatter_add",
            format!(
                "expected equal numeric dtypes, got {} and {}",
                x.dtype(),
                src.dtype()
            ),
        )
    };
    num_dispatch!(x, v => {
        let s = Element::slice(src).ok_or_else(bad)?;
        Ok(Element::wrap(sas_t(v, s, shape, win, src_shape)))
    }, bool => Err(bad()))
}
