//! Data movement: broadcast, transpose, slice, pad, concatenate, reverse.
//!
//! Broadcast, transpose, slice and reverse are all one *strided copy*: output
//! element `i` (a multi-index) reads `src[offset + Σ i_d · strides_d]`.

use crate::elementwise::PAR_MIN;
use ceras_core::shape::{numel, strides};
use ceras_core::{Element, HostData};
use rayon::prelude::*;

/// Row-major strides as `isize`.
pub(crate) fn istrides(shape: &[usize]) -> Vec<isize> {
    strides(shape).into_iter().map(|s| s as isize).collect()
}

/// Drops size-1 dims and merges dims that are contiguous with each other.
fn coalesce(shape: &[usize], st: &[isize]) -> (Vec<usize>, Vec<isize>) {
    let mut sh: Vec<usize> = Vec::with_capacity(shape.len());
    let mut ss: Vec<isize> = Vec::with_capacity(shape.len());
    for (&n, &s) in shape.iter().zip(st) {
        if n == 1 {
            continue;
        }
        if let (Some(pn), Some(ps)) = (sh.last_mut(), ss.last_mut()) {
            if *ps == s * n as isize {
                *pn *= n;
                *ps = s;
                continue;
            }
        }
        sh.push(n);
        ss.push(s);
    }
    (sh, ss)
}

/// Calls `f(off_a, off_b)` for every multi-index of `shape` (row-major order),
/// with two offsets advancing by their own strides.
pub(crate) fn for_each_offset2(
    shape: &[usize],
    sa: &[isize],
    sb: &[isize],
    (mut a, mut b): (isize, isize),
    mut f: impl FnMut(isize, isize),
) {
    let r = shape.len();
    if shape.contains(&0) {
        return;
    }
    let mut idx = vec![0usize; r];
    loop {
        f(a, b);
        let mut d = r;
        loop {
            if d == 0 {
                return;
            }
            d -= 1;
            idx[d] += 1;
            a += sa[d];
            b += sb[d];
            if idx[d] < shape[d] {
                break;
            }
            a -= sa[d] * shape[d] as isize;
            b -= sb[d] * shape[d] as isize;
            idx[d] = 0;
        }
    }
}

/// A source dim (not the last) that is contiguous in the source while the last
/// dim is not: the copy is then a (batched) 2-D transpose, done in tiles.
fn tile_dim(shape: &[usize], st: &[isize]) -> Option<usize> {
    let r = shape.len();
    if r < 2 || st[r - 1].abs() == 1 || st[r - 1] == 0 || shape[r - 1] < 8 {
        return None;
    }
    (0..r - 1).find(|&j| st[j] == 1 && shape[j] >= 8)
}

const TILE: usize = 32;

/// Sequential strided copy into `dst` (row-major over `shape`).
fn copy_into<T: Copy>(dst: &mut [T], src: &[T], off: isize, shape: &[usize], st: &[isize]) {
    let r = shape.len();
    if r == 0 {
        dst[0] = src[off as usize];
        return;
    }
    let dst_st = istrides(shape);
    if let Some(j) = tile_dim(shape, st) {
        // Outer dims: all but j and the last.
        let outer: Vec<usize> = (0..r - 1).filter(|&d| d != j).collect();
        let osh: Vec<usize> = outer.iter().map(|&d| shape[d]).collect();
        let oss: Vec<isize> = outer.iter().map(|&d| st[d]).collect();
        let osd: Vec<isize> = outer.iter().map(|&d| dst_st[d]).collect();
        let (na, nb) = (shape[j], shape[r - 1]);
        let (sb, da) = (st[r - 1], dst_st[j]);
        for_each_offset2(&osh, &oss, &osd, (off, 0), |so, dof| {
            for a0 in (0..na).step_by(TILE) {
                let a1 = (a0 + TILE).min(na);
                for b0 in (0..nb).step_by(TILE) {
                    let b1 = (b0 + TILE).min(nb);
                    for a in a0..a1 {
                        let drow = (dof + a as isize * da) as usize;
                        let srow = so + a as isize;
                        for b in b0..b1 {
                            dst[drow + b] = src[(srow + b as isize * sb) as usize];
                        }
                    }
                }
            }
        });
        return;
    }
    let n = shape[r - 1];
    let s = st[r - 1];
    let mut pos = 0usize;
    for_each_offset2(
        &shape[..r - 1],
        &st[..r - 1],
        &dst_st[..r - 1],
        (off, 0),
        |o, _| {
            let row = &mut dst[pos..pos + n];
            if s == 1 {
                let o = o as usize;
                row.copy_from_slice(&src[o..o + n]);
            } else if s == 0 {
                row.fill(src[o as usize]);
            } else {
                for (k, x) in row.iter_mut().enumerate() {
                    *x = src[(o + k as isize * s) as usize];
                }
            }
            pos += n;
        },
    );
}

/// Output element at multi-index `i` is `src[offset + Σ i_d · strides_d]`.
pub(crate) fn strided_copy<T: Element>(
    src: &[T],
    off: isize,
    shape: &[usize],
    st: &[isize],
) -> Vec<T> {
    let n = numel(shape);
    if n == 0 {
        return Vec::new();
    }
    let (shape, st) = coalesce(shape, st);
    if shape.len() == 1 && st[0] == 1 {
        let o = off as usize;
        let mut out = crate::pool::take::<T>(n);
        out.copy_from_slice(&src[o..o + n]);
        return out;
    }
    // Every element is written below (a cached buffer's stale values go).
    let mut out = crate::pool::take::<T>(n);
    if n >= PAR_MIN && !shape.is_empty() && shape[0] >= 2 {
        let inner = n / shape[0];
        // Chunks of ≥ 128K elements (and ≥ 64 rows when tiling), so each task
        // works on whole tiles and the source pages it touches are reused.
        let min_rows = if tile_dim(&shape, &st) == Some(0) {
            64
        } else {
            1
        };
        let rows = (2 * PAR_MIN / inner).max(min_rows);
        out.par_chunks_mut(rows * inner)
            .enumerate()
            .for_each(|(ci, chunk)| {
                let mut sh = shape.clone();
                sh[0] = chunk.len() / inner;
                copy_into(chunk, src, off + (ci * rows) as isize * st[0], &sh, &st);
            });
    } else {
        copy_into(&mut out, src, off, &shape, &st);
    }
    out
}

/// `lax.broadcast_in_dim`.
pub(crate) fn broadcast(
    x: &HostData,
    in_shape: &[usize],
    out_shape: &[usize],
    dims: &[usize],
) -> HostData {
    let ist = istrides(in_shape);
    let mut st = vec![0isize; out_shape.len()];
    for (i, &d) in dims.iter().enumerate() {
        if in_shape[i] != 1 {
            st[d] = ist[i];
        }
    }
    ceras_core::with_host_data!(x, v => Element::wrap(strided_copy(v, 0, out_shape, &st)))
}

/// Axis permutation: output dim `i` is input dim `perm[i]`.
pub(crate) fn transpose(x: &HostData, in_shape: &[usize], perm: &[usize]) -> HostData {
    let ist = istrides(in_shape);
    let shape: Vec<usize> = perm.iter().map(|&p| in_shape[p]).collect();
    let st: Vec<isize> = perm.iter().map(|&p| ist[p]).collect();
    ceras_core::with_host_data!(x, v => Element::wrap(strided_copy(v, 0, &shape, &st)))
}

/// Typed transpose (used by matmul).
pub(crate) fn transpose_vec<T: Element>(v: &[T], in_shape: &[usize], perm: &[usize]) -> Vec<T> {
    let ist = istrides(in_shape);
    let shape: Vec<usize> = perm.iter().map(|&p| in_shape[p]).collect();
    let st: Vec<isize> = perm.iter().map(|&p| ist[p]).collect();
    strided_copy(v, 0, &shape, &st)
}

/// Strided slice.
pub(crate) fn slice(
    x: &HostData,
    in_shape: &[usize],
    start: &[usize],
    out_shape: &[usize],
    step: &[usize],
) -> HostData {
    let ist = istrides(in_shape);
    let off: isize = start.iter().zip(&ist).map(|(&s, &t)| s as isize * t).sum();
    let st: Vec<isize> = ist
        .iter()
        .zip(step)
        .map(|(&t, &s)| t * s as isize)
        .collect();
    ceras_core::with_host_data!(x, v => Element::wrap(strided_copy(v, off, out_shape, &st)))
}

/// Reverses the given axes.
pub(crate) fn reverse(x: &HostData, shape: &[usize], axes: &[usize]) -> HostData {
    let mut st = istrides(shape);
    let mut off = 0isize;
    for &a in axes {
        if shape[a] > 0 {
            off += (shape[a] as isize - 1) * st[a];
        }
        st[a] = -st[a];
    }
    ceras_core::with_host_data!(x, v => Element::wrap(strided_copy(v, off, shape, &st)))
}

/// `lax.pad` (negative `lo` / `hi` crop).
pub(crate) fn pad(
    x: &HostData,
    pv: &HostData,
    in_shape: &[usize],
    out_shape: &[usize],
    lo: &[i64],
    interior: &[usize],
) -> HostData {
    fn go<T: Element>(
        v: &[T],
        pv: T,
        is: &[usize],
        os: &[usize],
        lo: &[i64],
        interior: &[usize],
    ) -> Vec<T> {
        let mut out = vec![pv; numel(os)];
        let (ist, ost) = (istrides(is), istrides(os));
        let r = is.len();
        let (mut so, mut dof) = (0isize, 0isize);
        let mut shape = Vec::with_capacity(r);
        let (mut sst, mut dst) = (Vec::with_capacity(r), Vec::with_capacity(r));
        for d in 0..r {
            let step = interior[d] as i64 + 1;
            // Input indices i with 0 <= lo + i * step < out.
            let i0 = if lo[d] < 0 {
                (-lo[d] + step - 1) / step
            } else {
                0
            };
            let last = os[d] as i64 - 1 - lo[d];
            let i1 = if last < 0 {
                0
            } else {
                (last / step + 1).min(is[d] as i64)
            };
            if i1 <= i0 {
                return out;
            }
            shape.push((i1 - i0) as usize);
            so += i0 as isize * ist[d];
            dof += (lo[d] + i0 * step) as isize * ost[d];
            sst.push(ist[d]);
            dst.push(step as isize * ost[d]);
        }
        if r == 0 {
            out[0] = v[0];
            return out;
        }
        let (n, ss, ds) = (shape[r - 1], sst[r - 1], dst[r - 1]);
        for_each_offset2(
            &shape[..r - 1],
            &sst[..r - 1],
            &dst[..r - 1],
            (so, dof),
            |s, d| {
                if ds == 1 {
                    let (s, d) = (s as usize, d as usize);
                    out[d..d + n].copy_from_slice(&v[s..s + n]);
                } else {
                    for k in 0..n as isize {
                        out[(d + k * ds) as usize] = v[(s + k * ss) as usize];
                    }
                }
            },
        );
        out
    }
    ceras_core::with_host_data!(x, v => {
        let p = Element::slice(pv).map(|p| p[0]).unwrap_or_default();
        Element::wrap(go(v, p, in_shape, out_shape, lo, interior))
    })
}

/// Concatenation along `axis` (all parts have the dtype of the first).
pub(crate) fn concatenate(
    parts: &[(&HostData, &[usize])],
    axis: usize,
    out_len: usize,
) -> HostData {
    fn go<T: Element>(
        _first: &[T],
        parts: &[(&HostData, &[usize])],
        axis: usize,
        out_len: usize,
    ) -> Vec<T> {
        let outer: usize = parts[0].1[..axis].iter().product();
        let typed: Vec<(&[T], usize)> = parts
            .iter()
            .map(|(d, s)| (T::slice(d).unwrap_or(&[]), s[axis..].iter().product()))
            .collect();
        // A pooled buffer: a fresh one costs a page fault per 4 KiB (an RNN's
        // gradient concatenates its 200 step cotangents, 13 MB, each step).
        let mut out = crate::pool::take::<T>(out_len);
        let mut at = 0;
        for o in 0..outer {
            for &(v, inner) in &typed {
                out[at..at + inner].copy_from_slice(&v[o * inner..(o + 1) * inner]);
                at += inner;
            }
        }
        debug_assert_eq!(at, out_len);
        out
    }
    ceras_core::with_host_data!(parts[0].0, first => Element::wrap(go(first, parts, axis, out_len)))
}
