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
    let walk = Walk::new(shape, win, out_shape);
    // Small windows (pooling): one pass over the windows, each reading its taps.
    if walk.taps.len() <= 16 && walk.parts >= 2 {
        return reduce_window_direct::<T, O>(v, &walk);
    }
    // Large windows, or one slice: separable passes, one per windowed dim.
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

/// `ReduceWindow` as one pass: every output window folds its taps' lanes in the
/// accumulator type and writes the result once, into a cached buffer.
fn reduce_window_direct<T: Num, O: Op>(x: &[T], walk: &Walk) -> Vec<T> {
    let mut out = crate::pool::take::<T>(walk.parts * walk.osz);
    if out.is_empty() {
        return out;
    }
    let lanes = walk.lanes;
    let slice = |(pi, outs): (usize, &mut [T])| {
        let xs = &x[pi * walk.isz..(pi + 1) * walk.isz];
        let mut acc = vec![O::init::<T::A>(); lanes];
        walk.for_each_window(|w, offs| {
            acc.fill(O::init::<T::A>());
            for &o in offs {
                for (a, &v) in acc.iter_mut().zip(&xs[o..o + lanes]) {
                    *a = O::f(*a, v.to_acc());
                }
            }
            for (y, &a) in outs[w * lanes..(w + 1) * lanes].iter_mut().zip(&acc) {
                *y = T::from_acc(a);
            }
        });
    };
    if out.len() >= PAR_MIN / 4 {
        out.par_chunks_mut(walk.osz).enumerate().for_each(slice);
    } else {
        out.chunks_mut(walk.osz).enumerate().for_each(slice);
    }
    out
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

/// How a windowed op walks its operand: `parts` independent leading slices (the
/// dims with trivial windows before the first windowed one), the windowed dims,
/// and `lanes` contiguous trailing elements (trivial-window dims after the last
/// windowed one, e.g. the channels of a channels-last pooling) that every window
/// position handles at once, instead of paying the index arithmetic per element.
struct Walk {
    parts: usize,
    /// Elements of one input / output slice.
    isz: usize,
    osz: usize,
    lanes: usize,
    /// Windowed dims: input and output extents, input strides (in elements),
    /// window extents, strides and low padding.
    ish: Vec<usize>,
    osh: Vec<usize>,
    ist: Vec<isize>,
    wsh: Vec<usize>,
    st: Vec<usize>,
    lo: Vec<isize>,
    /// Window taps in row-major order (so the first maximum found is the first
    /// in the window): multi-index and offset from the window's corner.
    taps: Vec<(Vec<usize>, isize)>,
}

impl Walk {
    fn new(shape: &[usize], win: &Window<'_>, out_shape: &[usize]) -> Walk {
        let r = shape.len();
        let lead = (0..r).take_while(|&d| win.trivial(d)).count();
        let trail = (lead..r).rev().take_while(|&d| win.trivial(d)).count();
        let rr = r - lead - trail;
        let ist: Vec<isize> = istrides(&shape[lead..])[..rr].to_vec();
        let wsh = win.window[lead..lead + rr].to_vec();
        let mut taps = Vec::new();
        if !wsh.contains(&0) {
            let mut w = vec![0usize; rr];
            loop {
                let off = w.iter().zip(&ist).map(|(&i, &s)| i as isize * s).sum();
                taps.push((w.clone(), off));
                if !next_index(&mut w, &wsh) {
                    break;
                }
            }
        }
        let (st, lo) = (lead..lead + rr)
            .map(|d| (win.strides[d].max(1), win.padding[d].0 as isize))
            .unzip();
        Walk {
            parts: numel(&shape[..lead]),
            isz: numel(&shape[lead..]),
            osz: numel(&out_shape[lead..]),
            lanes: numel(&shape[lead + rr..]),
            ish: shape[lead..lead + rr].to_vec(),
            osh: out_shape[lead..lead + rr].to_vec(),
            ist,
            wsh,
            st,
            lo,
            taps,
        }
    }

    /// Calls `f(w, offsets)` for every output window `w` of one slice (row-major),
    /// with the slice offsets of its taps that lie inside the input, in tap order.
    fn for_each_window(&self, mut f: impl FnMut(usize, &[usize])) {
        let rr = self.ish.len();
        let nwin = numel(&self.osh);
        if self.lanes == 0 || nwin == 0 {
            return;
        }
        let mut oidx = vec![0usize; rr];
        let mut start = vec![0isize; rr];
        let mut offs = Vec::with_capacity(self.taps.len());
        for w in 0..nwin {
            let (mut inside, mut base) = (true, 0isize);
            for d in 0..rr {
                let s0 = (oidx[d] * self.st[d]) as isize - self.lo[d];
                start[d] = s0;
                inside &= s0 >= 0 && s0 + self.wsh[d] as isize <= self.ish[d] as isize;
                base += s0 * self.ist[d];
            }
            offs.clear();
            for (wi, off) in &self.taps {
                let outside = |d: usize| {
                    let p = start[d] + wi[d] as isize;
                    p < 0 || p >= self.ish[d] as isize
                };
                if inside || !(0..rr).any(outside) {
                    offs.push((base + off) as usize);
                }
            }
            f(w, &offs);
            next_index(&mut oidx, &self.osh);
        }
    }
}

fn sas_t<T: Num>(
    x: &[T],
    src: &[T],
    shape: &[usize],
    win: &Window<'_>,
    src_shape: &[usize],
) -> Vec<T> {
    let walk = Walk::new(shape, win, src_shape);
    let mut out = crate::pool::take::<T>(numel(shape));
    let lanes = walk.lanes;
    let slice = |(pi, outs): (usize, &mut [T])| {
        outs.fill(T::from_acc(T::A::ZERO));
        if src.is_empty() {
            return;
        }
        let xs = &x[pi * walk.isz..(pi + 1) * walk.isz];
        let ss = &src[pi * walk.osz..(pi + 1) * walk.osz];
        // Per lane: the offset and value of the best element so far.
        let mut best_o = vec![0usize; lanes];
        let mut best_v = vec![T::A::ZERO; lanes];
        walk.for_each_window(|w, offs| {
            let Some((&first, rest)) = offs.split_first() else {
                return; // only padding: nothing is selected
            };
            for (c, (bo, bv)) in best_o.iter_mut().zip(&mut best_v).enumerate() {
                *bo = first + c;
                *bv = xs[first + c].to_acc();
            }
            for &o in rest {
                let row = &xs[o..o + lanes];
                for (c, ((bo, bv), &xv)) in best_o.iter_mut().zip(&mut best_v).zip(row).enumerate()
                {
                    let v = xv.to_acc();
                    if better(v, *bv, true) {
                        *bo = o + c;
                        *bv = v;
                    }
                }
            }
            for (&o, &sv) in best_o.iter().zip(&ss[w * lanes..(w + 1) * lanes]) {
                outs[o] = T::from_acc(outs[o].to_acc().add(sv.to_acc()));
            }
        });
    };
    if walk.parts >= 2 && out.len() >= PAR_MIN / 4 {
        out.par_chunks_mut(walk.isz.max(1))
            .enumerate()
            .for_each(slice);
    } else {
        out.chunks_mut(walk.isz.max(1)).enumerate().for_each(slice);
    }
    out
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
