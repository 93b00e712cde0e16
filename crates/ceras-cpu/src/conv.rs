//! `Conv` (`lax.conv_general_dilated`) by im2col + GEMM. Channels-first layouts
//! (`NC*sp` / `OI*sp`) run per batch element and feature group; channels-last data
//! (Keras's default) runs as one GEMM over the whole batch, its im2col copying
//! contiguous runs of channels, and so does its kernel gradient.
//!
//! For output position `q` and kernel tap `k` along a spatial dim, the dilated,
//! padded input position is `p = q·stride + k·rhs_dil - pad_lo`; it reads input
//! element `p / lhs_dil` when `p` is divisible by `lhs_dil` and in range, else 0.

use crate::elementwise::{map, PAR_MIN};
use crate::layout::{istrides, transpose, transpose_vec};
use crate::matmul::{matmul, matmul_into, MatRef};
use crate::num::{Acc, Num};
use ceras_core::error::{dtype_err, Result};
use ceras_core::prim::{is_identity, logical_shape, ConvDims};
use ceras_core::shape::numel;
use ceras_core::HostData;
use half::bf16;
use rayon::prelude::*;
use std::borrow::Cow;

/// Static parameters of a convolution.
pub(crate) struct ConvParams<'a> {
    pub strides: &'a [usize],
    pub padding: &'a [(i64, i64)],
    pub lhs_dilation: &'a [usize],
    pub rhs_dilation: &'a [usize],
    pub groups: usize,
}

/// Elements of one im2col buffer at most (the output positions are chunked).
const COL_BUDGET: usize = 1 << 22;

/// How one kernel tap fills an output row along the last spatial dim.
struct Run {
    /// Valid output positions `qa..qb` read input `i0 + (q - qa)` (when contiguous).
    qa: usize,
    qb: usize,
    i0: isize,
    contiguous: bool,
}

impl Run {
    fn new(tab: &[isize]) -> Run {
        let qa = tab.iter().position(|&i| i >= 0).unwrap_or(tab.len());
        let qb = tab.iter().rposition(|&i| i >= 0).map_or(qa, |p| p + 1);
        let i0 = tab.get(qa).copied().unwrap_or(0);
        let contiguous = (qa..qb).all(|q| tab[q] == i0 + (q - qa) as isize);
        Run {
            qa,
            qb,
            i0,
            contiguous,
        }
    }

    /// Fills `seg` (one output row) from channel data `xc` starting at `base`.
    fn fill<T: Copy>(&self, seg: &mut [T], xc: &[T], base: isize, tab: &[isize], zero: T) {
        if base < 0 {
            seg.fill(zero);
        } else if self.contiguous {
            let s = (base + self.i0) as usize;
            seg[..self.qa].fill(zero);
            seg[self.qa..self.qb].copy_from_slice(&xc[s..s + self.qb - self.qa]);
            seg[self.qb..].fill(zero);
        } else {
            for (y, &i) in seg.iter_mut().zip(tab) {
                *y = if i >= 0 {
                    xc[(base + i) as usize]
                } else {
                    zero
                };
            }
        }
    }
}

/// For one spatial dim: `table[k * Q + q]` is the input index read, or -1.
fn tap_table(
    size: usize,
    k: usize,
    q: usize,
    stride: usize,
    pad_lo: i64,
    ld: usize,
    rd: usize,
) -> Vec<isize> {
    let mut t = vec![-1isize; k * q];
    for kk in 0..k {
        for qq in 0..q {
            let p = (qq * stride + kk * rd) as i64 - pad_lo;
            if p >= 0 && p % ld as i64 == 0 {
                let i = (p / ld as i64) as usize;
                if i < size {
                    t[kk * q + qq] = i as isize;
                }
            }
        }
    }
    t
}

fn conv_t<T: Num>(
    x: &[T],
    w: &[T],
    xs: &[usize],
    ws: &[usize],
    os: &[usize],
    p: &ConvParams<'_>,
) -> Vec<T> {
    let nd = xs.len() - 2;
    let (n, c, o, cg, g) = (xs[0], xs[1], ws[0], ws[1], p.groups);
    let og = o / g;
    let (sp, ks, qs) = (&xs[2..], &ws[2..], &os[2..]);
    let (ssz, ksz, qsz) = (numel(sp), numel(ks), numel(qs));
    let zero = T::from_acc(T::A::ZERO);
    let kdim = cg * ksz;
    if n * o * qsz == 0 || kdim == 0 {
        return vec![zero; n * o * qsz];
    }
    // Every element is overwritten by its product below.
    let mut out = crate::pool::take::<T>(n * o * qsz);
    let identity = (0..nd).all(|d| {
        ks[d] == 1
            && p.strides[d] == 1
            && p.padding[d] == (0, 0)
            && p.lhs_dilation[d] == 1
            && sp[d] == qs[d]
    });
    let tables: Vec<Vec<isize>> = (0..nd)
        .map(|d| {
            let (lo, ld, rd) = (p.padding[d].0, p.lhs_dilation[d], p.rhs_dilation[d]);
            tap_table(sp[d], ks[d], qs[d], p.strides[d], lo, ld, rd)
        })
        .collect();
    // im2col works on whole output rows (the last spatial dim, `qr` positions) and
    // kernel rows (`kr` taps): the outer dims give a base offset per (kernel outer
    // index, output row), the last dim a run plan per tap.
    let (qr, kr) = (qs[nd - 1], ks[nd - 1]);
    let (qo, ko) = (qsz / qr.max(1), ksz / kr.max(1));
    let last = &tables[nd - 1];
    let plans: Vec<Run> = (0..kr)
        .map(|k| Run::new(&last[k * qr..(k + 1) * qr]))
        .collect();
    // Per output position of the row: the input index each tap reads, as a run.
    let tap_major = kr > qr;
    let tap_plans: Vec<(Vec<isize>, Run)> = if tap_major {
        (0..qr)
            .map(|q| {
                let tab: Vec<isize> = (0..kr).map(|k| last[k * qr + q]).collect();
                let plan = Run::new(&tab);
                (tab, plan)
            })
            .collect()
    } else {
        Vec::new()
    };
    let (sst, kst, qst) = (
        istrides(&sp[..nd - 1]),
        istrides(&ks[..nd - 1]),
        istrides(&qs[..nd - 1]),
    );
    let rows_per = (COL_BUDGET / (kdim * qr)).clamp(1, qo);
    for r0 in (0..qo).step_by(rows_per) {
        let rows = rows_per.min(qo - r0);
        let (q0, ql) = (r0 * qr, rows * qr);
        // bases[kk_outer * rows + r]: channel offset of the row's start, or -1 (all padding).
        let mut bases = vec![0isize; if identity { 0 } else { ko * rows }];
        for (n, b) in bases.iter_mut().enumerate() {
            let (ki, r) = (n / rows, r0 + n % rows);
            for d in 0..nd - 1 {
                let kd = ki / kst[d] as usize % ks[d];
                let qd = r / qst[d] as usize % qs[d];
                let i = tables[d][kd * qs[d] + qd];
                if i < 0 {
                    *b = -1;
                    break;
                }
                *b += i * sst[d] * sp[nd - 1] as isize;
            }
        }
        let fill = |col: &mut [T], xb: &[T]| {
            for ci in 0..cg {
                let xc = &xb[ci * ssz..(ci + 1) * ssz];
                for kk in 0..ksz {
                    let (ki, kl) = (kk / kr, kk % kr);
                    let row = &mut col[(ci * ksz + kk) * ql..(ci * ksz + kk + 1) * ql];
                    for (seg, &base) in row.chunks_mut(qr).zip(&bases[ki * rows..(ki + 1) * rows]) {
                        plans[kl].fill(seg, xc, base, &last[kl * qr..(kl + 1) * qr], zero);
                    }
                }
            }
        };
        // Tap-major im2col (`col[q][c, k]`): for kernels wider than the output
        // rows — the weight gradient, a convolution whose "kernel" is the output
        // gradient — the input run read by consecutive taps is contiguous, while
        // runs along the output row would be a few elements long.
        let fill_taps = |col: &mut [T], xb: &[T]| {
            for (qi, row) in col.chunks_mut(kdim).enumerate() {
                let (r, ql_) = (qi / qr, qi % qr);
                let (tab, plan) = &tap_plans[ql_];
                for ci in 0..cg {
                    let xc = &xb[ci * ssz..(ci + 1) * ssz];
                    for ki in 0..ko {
                        let seg = &mut row[ci * ksz + ki * kr..ci * ksz + (ki + 1) * kr];
                        plan.fill(seg, xc, bases[ki * rows + r], tab, zero);
                    }
                }
            }
        };
        let batch = |(ni, out_n): (usize, &mut [T])| {
            // Both im2col fills write every element of the buffer.
            let mut col = if identity {
                Vec::new()
            } else {
                crate::pool::take::<T>(kdim * ql)
            };
            for gi in 0..g {
                let xb = &x[(ni * c + gi * cg) * ssz..(ni * c + (gi + 1) * cg) * ssz];
                let cm = if identity {
                    MatRef {
                        data: &xb[q0..],
                        rs: ssz,
                        cs: 1,
                    }
                } else if tap_major {
                    fill_taps(&mut col, xb);
                    MatRef {
                        data: &col[..],
                        rs: 1,
                        cs: kdim,
                    }
                } else {
                    fill(&mut col, xb);
                    MatRef {
                        data: &col[..],
                        rs: ql,
                        cs: 1,
                    }
                };
                let wm = MatRef {
                    data: &w[gi * og * kdim..(gi + 1) * og * kdim],
                    rs: kdim,
                    cs: 1,
                };
                matmul(
                    (og, ql, kdim),
                    wm,
                    cm,
                    &mut out_n[gi * og * qsz + q0..],
                    qsz,
                    true,
                );
            }
            crate::pool::give(T::wrap(col));
        };
        if n > 1 && n * o * ql * kdim >= PAR_MIN {
            out.par_chunks_mut(o * qsz).enumerate().for_each(batch);
        } else {
            out.chunks_mut(o * qsz).enumerate().for_each(batch);
        }
    }
    out
}

/// Runs `$f(lhs, rhs, args..)` on the typed data of two operands of equal dtype
/// (`bf16` through `f32`), giving `Result<HostData>`.
macro_rules! typed {
    ($f:ident, $x:expr, $w:expr $(, $arg:expr)*) => {{
        use HostData as H;
        match ($x, $w) {
            (H::F32(a), H::F32(b)) => Ok(H::F32($f(a, b $(, $arg)*))),
            (H::F64(a), H::F64(b)) => Ok(H::F64($f(a, b $(, $arg)*))),
            (H::F16(a), H::F16(b)) => Ok(H::F16($f(a, b $(, $arg)*))),
            (H::BF16(a), H::BF16(b)) => {
                let r = $f(&map(a, bf16::to_f32), &map(b, bf16::to_f32) $(, $arg)*);
                Ok(H::BF16(map(&r, bf16::from_f32)))
            }
            (H::I8(a), H::I8(b)) => Ok(H::I8($f(a, b $(, $arg)*))),
            (H::I16(a), H::I16(b)) => Ok(H::I16($f(a, b $(, $arg)*))),
            (H::I32(a), H::I32(b)) => Ok(H::I32($f(a, b $(, $arg)*))),
            (H::I64(a), H::I64(b)) => Ok(H::I64($f(a, b $(, $arg)*))),
            (H::U8(a), H::U8(b)) => Ok(H::U8($f(a, b $(, $arg)*))),
            (H::U16(a), H::U16(b)) => Ok(H::U16($f(a, b $(, $arg)*))),
            (H::U32(a), H::U32(b)) => Ok(H::U32($f(a, b $(, $arg)*))),
            (H::U64(a), H::U64(b)) => Ok(H::U64($f(a, b $(, $arg)*))),
            (a, b) => Err(dtype_err(
                "conv_general_dilated",
                format!(
                    "the cpu backend supports equal numeric dtypes, got {} and {}",
                    a.dtype(),
                    b.dtype()
                ),
            )),
        }
    }};
}

/// `Conv` on two operands of equal dtype, in the layouts `dims` gives.
///
/// Three layouts run in place: channels-first (`NC*sp`, `OI*sp`), channels-last data
/// with any kernel layout (the kernel, small, is copied to `*sp,I,O` if needed), and
/// the channels-last kernel gradient (lhs and rhs `N*spC` read with batch and
/// feature swapped, result `*sp,I,O`). Other layouts are transposed to
/// channels-first and back.
pub(crate) fn conv(
    x: &HostData,
    xs: &[usize],
    w: &HostData,
    ws: &[usize],
    os: &[usize],
    p: &ConvParams<'_>,
    dims: &ConvDims,
) -> Result<HostData> {
    let r = xs.len();
    let nd = r - 2;
    if dims.is_channels_first() {
        return typed!(conv_t, x, w, xs, ws, os, p);
    }
    let mut nhwc = vec![0, r - 1];
    nhwc.extend(1..r - 1);
    if p.groups == 1 && dims.lhs == nhwc && dims.out == nhwc {
        let mut perm = dims.rhs[2..].to_vec();
        perm.extend([dims.rhs[1], dims.rhs[0]]);
        let (wk, wks) = if is_identity(&perm) {
            (Cow::Borrowed(w), ws.to_vec())
        } else {
            (
                Cow::Owned(transpose(w, ws, &perm)),
                logical_shape(ws, &perm),
            )
        };
        if p.lhs_dilation.iter().any(|&d| d > 1) && p.strides.iter().all(|&s| s == 1) {
            return typed!(conv_last_scatter, x, &*wk, xs, &wks, os, p);
        }
        return typed!(conv_last, x, &*wk, xs, &wks, os, p);
    }
    let mut swapped = vec![r - 1, 0];
    swapped.extend(1..r - 1);
    let mut hwio = vec![nd, nd + 1];
    hwio.extend(0..nd);
    if p.groups == 1 && dims.lhs == swapped && dims.rhs == swapped && dims.out == hwio {
        return typed!(conv_last_filter_grad, x, w, xs, ws, os, p);
    }
    let (xcs, wcs, ocs) = (
        logical_shape(xs, &dims.lhs),
        logical_shape(ws, &dims.rhs),
        logical_shape(os, &dims.out),
    );
    fn to_first<'a>(d: &'a HostData, sh: &[usize], spec: &[usize]) -> Cow<'a, HostData> {
        if is_identity(spec) {
            Cow::Borrowed(d)
        } else {
            Cow::Owned(transpose(d, sh, spec))
        }
    }
    let (xc, wc) = (to_first(x, xs, &dims.lhs), to_first(w, ws, &dims.rhs));
    let yc = typed!(conv_t, &*xc, &*wc, &xcs, &wcs, &ocs, p)?;
    if is_identity(&dims.out) {
        return Ok(yc);
    }
    let mut inv = vec![0; r];
    for (i, &a) in dims.out.iter().enumerate() {
        inv[a] = i;
    }
    Ok(transpose(&yc, &ocs, &inv))
}

/// The geometry of a channels-last convolution as im2col sees it: input
/// `[n, *sp, c]`, kernel taps `*ks`, output positions `*qs`. Tap `t` of output `q`
/// along a spatial dim reads input `(q·stride + t·rhs_dil - pad_lo) / lhs_dil`
/// when that is integral and in range, else zero.
struct Geometry<'a> {
    n: usize,
    sp: &'a [usize],
    c: usize,
    ks: &'a [usize],
    qs: &'a [usize],
    strides: &'a [usize],
    pad_lo: Vec<i64>,
    lhs_dil: &'a [usize],
    rhs_dil: &'a [usize],
}

impl<'a> Geometry<'a> {
    /// Input `xs` = `[n, *sp, c]`, taps `ks`, outputs `qs`; padding and input
    /// dilation from `p`, window strides and tap dilation as given.
    fn new(
        xs: &'a [usize],
        ks: &'a [usize],
        qs: &'a [usize],
        strides: &'a [usize],
        p: &ConvParams<'a>,
        rhs_dil: &'a [usize],
    ) -> Geometry<'a> {
        let nd = xs.len() - 2;
        Geometry {
            n: xs[0],
            sp: &xs[1..=nd],
            c: xs[nd + 1],
            ks,
            qs,
            strides,
            pad_lo: p.padding.iter().map(|&(lo, _)| lo).collect(),
            lhs_dil: p.lhs_dilation,
            rhs_dil,
        }
    }

    /// Columns of the im2col matrix: `(tap, channel)`.
    fn kdim(&self) -> usize {
        numel(self.ks) * self.c
    }

    /// Rows of the im2col matrix: `(batch, output position)`.
    fn rows(&self) -> usize {
        self.n * numel(self.qs)
    }

    /// A 1×1, stride-1, unpadded convolution: the input itself is the im2col matrix.
    fn identity(&self) -> bool {
        (0..self.sp.len()).all(|d| {
            self.ks[d] == 1
                && self.strides[d] == 1
                && self.pad_lo[d] == 0
                && self.lhs_dil[d] == 1
                && self.sp[d] == self.qs[d]
        })
    }

    /// Fills `col` (`col.len() / kdim` rows from row `r0`) with the im2col matrix
    /// `col[(b, q), (t, ci)] = x[b, pos(q, t), ci]`: one contiguous run of channels
    /// per tap, and along the last spatial dim one run of `taps × c` elements when
    /// consecutive taps read consecutive positions.
    fn im2col<T: Copy + Send + Sync>(&self, x: &[T], r0: usize, col: &mut [T], zero: T) {
        let nd = self.sp.len();
        let (c, kdim) = (self.c, self.kdim());
        let (ssz, qsz) = (numel(self.sp), numel(self.qs));
        let tables: Vec<Vec<isize>> = (0..nd)
            .map(|d| {
                let (lo, ld, rd) = (self.pad_lo[d], self.lhs_dil[d], self.rhs_dil[d]);
                tap_table(
                    self.sp[d],
                    self.ks[d],
                    self.qs[d],
                    self.strides[d],
                    lo,
                    ld,
                    rd,
                )
            })
            .collect();
        let (qr, kr) = (self.qs[nd - 1], self.ks[nd - 1]);
        let ko = numel(&self.ks[..nd - 1]);
        let last = &tables[nd - 1];
        // Per output position along the last dim: the input index each tap reads.
        let plans: Vec<(Vec<isize>, Run)> = (0..qr)
            .map(|q| {
                let tab: Vec<isize> = (0..kr).map(|k| last[k * qr + q]).collect();
                let run = Run::new(&tab);
                (tab, run)
            })
            .collect();
        let (sst, kst, qst) = (
            istrides(self.sp),
            istrides(&self.ks[..nd - 1]),
            istrides(&self.qs[..nd - 1]),
        );
        // For each outer (all but last dim) output position and outer tap: the
        // input position offset of its row start, or -1 when it lies in padding.
        let qo_n = qsz / qr.max(1);
        let outer: Vec<isize> = (0..qo_n * ko)
            .map(|j| {
                let (qo, ki) = (j / ko, j % ko);
                let mut base = 0isize;
                for d in 0..nd - 1 {
                    let kd = ki / kst[d] as usize % self.ks[d];
                    let qd = qo / qst[d] as usize % self.qs[d];
                    let i = tables[d][kd * self.qs[d] + qd];
                    if i < 0 {
                        return -1;
                    }
                    base += i * sst[d];
                }
                base
            })
            .collect();
        // Rows `row0..` into `blk`, walking (batch, outer position, last position)
        // without divisions.
        let fill_rows = |row0: usize, blk: &mut [T]| {
            let (mut b, q) = (row0 / qsz, row0 % qsz);
            let (mut qo, mut ql) = (q / qr, q % qr);
            for dst in blk.chunks_mut(kdim) {
                let xb = &x[b * ssz * c..(b + 1) * ssz * c];
                let (tab, run) = &plans[ql];
                let bases = &outer[qo * ko..(qo + 1) * ko];
                for (seg, &base) in dst.chunks_mut(kr * c).zip(bases) {
                    if base < 0 {
                        seg.fill(zero);
                    } else if run.contiguous {
                        let s = (base + run.i0) as usize * c;
                        seg[..run.qa * c].fill(zero);
                        seg[run.qa * c..run.qb * c]
                            .copy_from_slice(&xb[s..s + (run.qb - run.qa) * c]);
                        seg[run.qb * c..].fill(zero);
                    } else {
                        for (dk, &i) in seg.chunks_mut(c).zip(tab) {
                            if i < 0 {
                                dk.fill(zero);
                            } else {
                                let s = (base + i) as usize * c;
                                dk.copy_from_slice(&xb[s..s + c]);
                            }
                        }
                    }
                }
                ql += 1;
                if ql == qr {
                    ql = 0;
                    qo += 1;
                    if qo == qo_n {
                        qo = 0;
                        b += 1;
                    }
                }
            }
        };
        const BLOCK: usize = 64;
        if col.len() >= PAR_MIN {
            col.par_chunks_mut(BLOCK * kdim)
                .enumerate()
                .for_each(|(bi, blk)| fill_rows(r0 + bi * BLOCK, blk));
        } else {
            fill_rows(r0, col);
        }
    }

    /// Calls `f(r0, rows, col)` for consecutive chunks of the im2col matrix
    /// (`col` is `rows × kdim`, row-major, from row `r0`), each within the
    /// scratch budget. A 1×1 unit convolution's matrix is `x` itself, one chunk.
    fn for_each_chunk<T: Num>(&self, x: &[T], mut f: impl FnMut(usize, usize, &[T])) {
        let (rows, kdim) = (self.rows(), self.kdim());
        if self.identity() {
            return f(0, rows, x);
        }
        let per = (COL_BUDGET / kdim).clamp(1, rows);
        for r0 in (0..rows).step_by(per) {
            let rc = per.min(rows - r0);
            // `im2col` writes every element.
            let mut col = crate::pool::take::<T>(rc * kdim);
            self.im2col(x, r0, &mut col, T::from_acc(T::A::ZERO));
            f(r0, rc, &col);
            crate::pool::give(T::wrap(col));
        }
    }
}

/// Channels-last convolution: `x` is `[n, *sp, c]`, `w` is `[*ks, c, o]`, the
/// result `[n, *qs, o]`. One GEMM `[(b, q), (t, ci)] × [(t, ci), o]` per chunk of
/// rows, the whole batch at once.
fn conv_last<T: Num>(
    x: &[T],
    w: &[T],
    xs: &[usize],
    ws: &[usize],
    os: &[usize],
    p: &ConvParams<'_>,
) -> Vec<T> {
    let nd = xs.len() - 2;
    let geo = Geometry::new(xs, &ws[..nd], &os[1..=nd], p.strides, p, p.rhs_dilation);
    let o = ws[nd + 1];
    let (rows, kdim) = (geo.rows(), geo.kdim());
    if rows * o == 0 || kdim == 0 {
        return vec![T::from_acc(T::A::ZERO); rows * o];
    }
    // `matmul` overwrites every element.
    let mut out = crate::pool::take::<T>(rows * o);
    let wm = MatRef {
        data: w,
        rs: o,
        cs: 1,
    };
    geo.for_each_chunk(x, |r0, rc, col| {
        let cm = MatRef {
            data: col,
            rs: kdim,
            cs: 1,
        };
        matmul((rc, o, kdim), cm, wm, &mut out[r0 * o..], o, true);
    });
    out
}

/// Channels-last convolution of an input dilated by `lhs_dilation`, with unit
/// strides: the input gradient of a strided convolution, or a transposed
/// convolution. Instead of convolving the dilated input (mostly zeros: 3/4 of the
/// work at stride 2), each input row multiplies the whole kernel once
/// (`[(b, i), c] × [c, (t, o)]`) and each tap's product row is added at the output
/// position it lands on, `pad_lo + i·lhs_dil - t·rhs_dil` per dim (col2im).
fn conv_last_scatter<T: Num>(
    x: &[T],
    w: &[T],
    xs: &[usize],
    ws: &[usize],
    os: &[usize],
    p: &ConvParams<'_>,
) -> Vec<T> {
    let nd = xs.len() - 2;
    let (n, sp, c) = (xs[0], &xs[1..=nd], xs[nd + 1]);
    let (ks, o, qs) = (&ws[..nd], ws[nd + 1], &os[1..=nd]);
    let (ssz, ksz, qsz) = (numel(sp), numel(ks), numel(qs));
    let zero = T::from_acc(T::A::ZERO);
    // Accumulated into, so it starts at zero.
    let mut out = vec![zero; n * qsz * o];
    if out.is_empty() || ssz == 0 || ksz == 0 || c == 0 {
        return out;
    }
    // The kernel as one `[c, (t, o)]` matrix (kernels are small).
    let wt = transpose_vec(w, &[ksz, c, o], &[1, 0, 2]);
    let wm = MatRef {
        data: &wt[..],
        rs: ksz * o,
        cs: 1,
    };
    // tables[d][i * ks[d] + k]: the output position input `i` reaches through tap
    // `k` along dim `d`, or -1.
    let tables: Vec<Vec<isize>> = (0..nd)
        .map(|d| {
            let mut t = vec![-1isize; sp[d] * ks[d]];
            for i in 0..sp[d] {
                for k in 0..ks[d] {
                    let q = p.padding[d].0 + (i * p.lhs_dilation[d]) as i64
                        - (k * p.rhs_dilation[d]) as i64;
                    if q >= 0 && (q as usize) < qs[d] {
                        t[i * ks[d] + k] = q as isize;
                    }
                }
            }
            t
        })
        .collect();
    let (sst, kst, qst) = (istrides(sp), istrides(ks), istrides(qs));
    let tap_idx: Vec<Vec<usize>> = (0..ksz)
        .map(|k| (0..nd).map(|d| k / kst[d] as usize % ks[d]).collect())
        .collect();
    let rows_per = (COL_BUDGET / (ksz * o)).clamp(1, ssz);
    let per_batch = |b: usize, ob: &mut [T], parallel: bool| {
        let mut prod = crate::pool::take::<T>(rows_per * ksz * o);
        let mut idx = vec![0usize; nd];
        for r0 in (0..ssz).step_by(rows_per) {
            let rc = rows_per.min(ssz - r0);
            let xm = MatRef {
                data: &x[(b * ssz + r0) * c..],
                rs: c,
                cs: 1,
            };
            matmul((rc, ksz * o, c), xm, wm, &mut prod, ksz * o, parallel);
            for (ri, prow) in prod[..rc * ksz * o].chunks(ksz * o).enumerate() {
                let i = r0 + ri;
                for (d, v) in idx.iter_mut().enumerate() {
                    *v = i / sst[d] as usize % sp[d];
                }
                'taps: for (k, ti) in tap_idx.iter().enumerate() {
                    let mut q = 0usize;
                    for d in 0..nd {
                        let pos = tables[d][idx[d] * ks[d] + ti[d]];
                        if pos < 0 {
                            continue 'taps;
                        }
                        q += pos as usize * qst[d] as usize;
                    }
                    let dst = &mut ob[q * o..(q + 1) * o];
                    for (d, &v) in dst.iter_mut().zip(&prow[k * o..(k + 1) * o]) {
                        *d = T::from_acc(d.to_acc().add(v.to_acc()));
                    }
                }
            }
        }
        crate::pool::give(T::wrap(prod));
    };
    if n > 1 && n * ssz * ksz * o * c >= PAR_MIN {
        out.par_chunks_mut(qsz * o)
            .enumerate()
            .for_each(|(b, ob)| per_batch(b, ob, false));
    } else {
        out.chunks_mut(qsz * o)
            .enumerate()
            .for_each(|(b, ob)| per_batch(b, ob, true));
    }
    out
}

/// The kernel gradient of a channels-last convolution, as the `Conv` that
/// `lax`'s transpose rule builds: lhs is the forward input `[n, *sp, c]` read
/// as `[c (batch), n (feature), *sp]`, rhs the output gradient `[n, *qs, o]` read
/// as `[o, n, *qs]`, the result `[*ks, c, o]`. The forward geometry comes back
/// with strides and kernel dilation exchanged, and the result is
/// `im2col(x)ᵀ × g`, accumulated over chunks of rows.
fn conv_last_filter_grad<T: Num>(
    x: &[T],
    g: &[T],
    xs: &[usize],
    gs: &[usize],
    os: &[usize],
    p: &ConvParams<'_>,
) -> Vec<T> {
    let nd = xs.len() - 2;
    let geo = Geometry::new(xs, &os[..nd], &gs[1..=nd], p.rhs_dilation, p, p.strides);
    let o = gs[nd + 1];
    let (rows, kdim) = (geo.rows(), geo.kdim());
    if rows == 0 || kdim * o == 0 {
        return vec![T::from_acc(T::A::ZERO); kdim * o];
    }
    // The first product overwrites every element.
    let mut out = crate::pool::take::<T>(kdim * o);
    geo.for_each_chunk(x, |r0, rc, col| {
        let cm = MatRef {
            data: col,
            rs: 1,
            cs: kdim,
        };
        let gm = MatRef {
            data: &g[r0 * o..],
            rs: o,
            cs: 1,
        };
        matmul_into((kdim, o, rc), cm, gm, &mut out, o, true, r0 > 0);
    });
    out
}
