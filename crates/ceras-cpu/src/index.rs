//! Indexing and generation: `Gather`, `Scatter`, `Iota`, `Sort`.

use crate::elementwise::PAR_MIN;
use crate::layout::transpose_vec;
use crate::num::{num_dispatch, Num};
use crate::reduce::alb;
use ceras_core::error::{dtype_err, Result};
use ceras_core::prim::ScatterMode;
use ceras_core::shape::numel;
use ceras_core::{DType, Element, HostData};
use rayon::prelude::*;
use std::cmp::Ordering;

/// Integer indices as i64 (u64 above `i64::MAX` saturate, so they stay out of range).
fn indices(op: &str, idx: &HostData) -> Result<Vec<i64>> {
    match idx {
        HostData::U64(v) => Ok(v.iter().map(|&i| i.min(i64::MAX as u64) as i64).collect()),
        d if d.dtype().is_int() => Ok(d.to_i64_vec()),
        d => Err(dtype_err(
            op,
            format!("indices must be integers, got {}", d.dtype()),
        )),
    }
}

/// `Gather{axis}`: `take` along `axis` with indices clamped to `[0, n - 1]`.
pub(crate) fn gather(x: &HostData, xs: &[usize], idx: &HostData, axis: usize) -> Result<HostData> {
    fn go<T: Element>(v: &[T], (a, n, b): (usize, usize, usize), ids: &[usize]) -> Vec<T> {
        let ni = ids.len();
        let mut out = vec![T::default(); a * ni * b];
        if out.is_empty() || n == 0 {
            return out;
        }
        let row = |(r, o): (usize, &mut [T])| {
            let (ai, ii) = (r / ni, r % ni);
            let s = (ai * n + ids[ii]) * b;
            o.copy_from_slice(&v[s..s + b]);
        };
        if out.len() >= PAR_MIN {
            out.par_chunks_mut(b)
                .with_min_len((4096 / b).max(1))
                .enumerate()
                .for_each(row);
        } else {
            out.chunks_mut(b).enumerate().for_each(row);
        }
        out
    }
    let geom = alb(xs, axis);
    let hi = geom.1.max(1) as i64 - 1;
    let ids: Vec<usize> = indices("gather", idx)?
        .into_iter()
        .map(|i| i.clamp(0, hi) as usize)
        .collect();
    Ok(ceras_core::with_host_data!(x, v => Element::wrap(go(v, geom, &ids))))
}

fn scatter_t<T: Element>(
    v: &[T],
    (a, n, b): (usize, usize, usize),
    ids: &[i64],
    upd: &[T],
    f: impl Fn(T, T) -> T + Sync,
) -> Vec<T> {
    // A cached buffer (an embedding's gradient is a multi-megabyte scatter
    // into zeros every step), overwritten by the copy.
    let mut out = crate::pool::take::<T>(v.len());
    if v.len() >= PAR_MIN {
        out.par_chunks_mut(1 << 15)
            .zip(v.par_chunks(1 << 15))
            .for_each(|(o, v)| o.copy_from_slice(v));
    } else {
        out.copy_from_slice(v);
    }
    let ni = ids.len();
    if out.is_empty() || b == 0 {
        return out;
    }
    // Updates landing in rows `r0..r0 + o.len() / b` of outer block `ai`.
    let rows = |ai: usize, o: &mut [T], r0: usize| {
        let r1 = r0 + o.len() / b;
        for (ii, &i) in ids.iter().enumerate() {
            if i < r0 as i64 || i >= r1 as i64 {
                continue;
            }
            let d0 = (i as usize - r0) * b;
            let s0 = (ai * ni + ii) * b;
            for (d, &s) in o[d0..d0 + b].iter_mut().zip(&upd[s0..s0 + b]) {
                *d = f(*d, s);
            }
        }
    };
    let big = a * ni * b >= PAR_MIN;
    if a >= 2 && big {
        out.par_chunks_mut(n * b)
            .enumerate()
            .for_each(|(ai, o)| rows(ai, o, 0));
    } else if a == 1 && big && n >= 16 {
        // One outer block: tasks own disjoint ranges of output rows (each scans
        // all indices), so repeated indices still accumulate in index order.
        let per = n.div_ceil(8 * rayon::current_num_threads());
        out.par_chunks_mut(per * b)
            .enumerate()
            .for_each(|(p, o)| rows(0, o, p * per));
    } else {
        out.chunks_mut(n * b)
            .enumerate()
            .for_each(|(ai, o)| rows(ai, o, 0));
    }
    out
}

fn scatter_num<T: Num>(
    v: &[T],
    geom: (usize, usize, usize),
    ids: &[i64],
    upd: &[T],
    mode: ScatterMode,
) -> Vec<T> {
    use crate::num::Acc;
    match mode {
        ScatterMode::Set => scatter_t(v, geom, ids, upd, |_, u| u),
        ScatterMode::Add => scatter_t(v, geom, ids, upd, |d, u| {
            T::from_acc(d.to_acc().add(u.to_acc()))
        }),
    }
}

/// `Scatter{axis, mode}`: updates of the gather shape; out-of-range indices are dropped.
pub(crate) fn scatter(
    x: &HostData,
    xs: &[usize],
    idx: &HostData,
    upd: &HostData,
    axis: usize,
    mode: ScatterMode,
) -> Result<HostData> {
    let geom = alb(xs, axis);
    let ids = indices("scatter", idx)?;
    let bad = || {
        dtype_err(
            "scatter",
            format!("updates must have dtype {}, got {}", x.dtype(), upd.dtype()),
        )
    };
    num_dispatch!(x, v => {
        let u = Element::slice(upd).ok_or_else(bad)?;
        Ok(Element::wrap(scatter_num(v, geom, &ids, u, mode)))
    }, bool => {
        let (HostData::Bool(v), HostData::Bool(u)) = (x, upd) else { return Err(bad()) };
        Ok(HostData::Bool(match mode {
            ScatterMode::Set => scatter_t(v, geom, &ids, u, |_, u| u),
            ScatterMode::Add => scatter_t(v, geom, &ids, u, |d, u| d | u),
        }))
    })
}

/// `Iota{shape, dtype, dim}`.
pub(crate) fn iota(shape: &[usize], dtype: DType, dim: usize) -> HostData {
    let (_, l, b) = alb(shape, dim);
    let n = numel(shape);
    ceras_core::dispatch_dtype!(dtype, T => {
        // Each value repeated `b` times, the run of `l` values repeated per
        // outer block: no division per element.
        let mut out: Vec<T> = Vec::with_capacity(n);
        if n > 0 {
            for _ in 0..n / (l * b) {
                for i in 0..l {
                    out.extend(std::iter::repeat_n(T::from_i64(i as i64), b));
                }
            }
        }
        T::wrap(out)
    })
}

/// Total order for sorting: IEEE order with NaN greater than everything.
#[inline]
#[allow(clippy::eq_op)]
fn total<T: PartialOrd>(a: &T, b: &T) -> Ordering {
    a.partial_cmp(b).unwrap_or_else(|| (a != a).cmp(&(b != b)))
}

/// Sorts rows of length `l` in place, filling their original positions into `idx`.
fn sort_rows<T: Element>(v: &mut [T], idx: &mut [i32], l: usize, desc: bool) {
    let row = |(vr, ir): (&mut [T], &mut [i32])| {
        let mut pairs: Vec<(T, i32)> = vr.iter().enumerate().map(|(i, &x)| (x, i as i32)).collect();
        if desc {
            pairs.sort_by(|a, b| total(&b.0, &a.0));
        } else {
            pairs.sort_by(|a, b| total(&a.0, &b.0));
        }
        for ((x, i), (px, pi)) in vr.iter_mut().zip(ir.iter_mut()).zip(pairs) {
            *x = px;
            *i = pi;
        }
    };
    if v.len() >= PAR_MIN && v.len() > l {
        v.par_chunks_mut(l).zip(idx.par_chunks_mut(l)).for_each(row);
    } else {
        v.chunks_mut(l).zip(idx.chunks_mut(l)).for_each(row);
    }
}

fn sort_t<T: Element>(v: &[T], shape: &[usize], axis: usize, desc: bool) -> (Vec<T>, Vec<i32>) {
    let (_, l, b) = alb(shape, axis);
    if v.is_empty() {
        return (Vec::new(), Vec::new());
    }
    if b == 1 {
        let mut out = v.to_vec();
        let mut idx = vec![0i32; v.len()];
        sort_rows(&mut out, &mut idx, l, desc);
        return (out, idx);
    }
    // Move the axis last, sort rows, move it back.
    let r = shape.len();
    let mut perm: Vec<usize> = (0..r).filter(|&d| d != axis).collect();
    perm.push(axis);
    let tshape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
    let mut t = transpose_vec(v, shape, &perm);
    let mut ti = vec![0i32; v.len()];
    sort_rows(&mut t, &mut ti, l, desc);
    let mut inv = vec![0; r];
    for (i, &p) in perm.iter().enumerate() {
        inv[p] = i;
    }
    (
        transpose_vec(&t, &tshape, &inv),
        transpose_vec(&ti, &tshape, &inv),
    )
}

/// `Sort{axis, descending}`: stable; returns values and int32 indices. NaN sorts as
/// the greatest value (last ascending, first descending).
pub(crate) fn sort(x: &HostData, shape: &[usize], axis: usize, desc: bool) -> (HostData, HostData) {
    ceras_core::with_host_data!(x, v => {
        let (s, i) = sort_t(v, shape, axis, desc);
        (Element::wrap(s), HostData::I32(i))
    })
}
