//! `Conv` (`lax.conv_general_dilated`, layouts NC*spatial / OI*spatial / NC*spatial)
//! by im2col + GEMM, per batch element and feature group.
//!
//! For output position `q` and kernel tap `k` along a spatial dim, the dilated,
//! padded input position is `p = q·stride + k·rhs_dil - pad_lo`; it reads input
//! element `p / lhs_dil` when `p` is divisible by `lhs_dil` and in range, else 0.

use crate::elementwise::{map, PAR_MIN};
use crate::layout::istrides;
use crate::matmul::{matmul, MatRef};
use crate::num::{Acc, Num};
use ceras_core::error::{dtype_err, Result};
use ceras_core::shape::numel;
use ceras_core::HostData;
use half::bf16;
use rayon::prelude::*;

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
    xs: &[usize],
    w: &[T],
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

/// `Conv` on two operands of equal dtype.
pub(crate) fn conv(
    x: &HostData,
    xs: &[usize],
    w: &HostData,
    ws: &[usize],
    os: &[usize],
    p: &ConvParams<'_>,
) -> Result<HostData> {
    use HostData as H;
    Ok(match (x, w) {
        (H::F32(a), H::F32(b)) => H::F32(conv_t(a, xs, b, ws, os, p)),
        (H::F64(a), H::F64(b)) => H::F64(conv_t(a, xs, b, ws, os, p)),
        (H::F16(a), H::F16(b)) => H::F16(conv_t(a, xs, b, ws, os, p)),
        (H::BF16(a), H::BF16(b)) => {
            let r = conv_t(&map(a, bf16::to_f32), xs, &map(b, bf16::to_f32), ws, os, p);
            H::BF16(map(&r, bf16::from_f32))
        }
        (H::I8(a), H::I8(b)) => H::I8(conv_t(a, xs, b, ws, os, p)),
        (H::I16(a), H::I16(b)) => H::I16(conv_t(a, xs, b, ws, os, p)),
        (H::I32(a), H::I32(b)) => H::I32(conv_t(a, xs, b, ws, os, p)),
        (H::I64(a), H::I64(b)) => H::I64(conv_t(a, xs, b, ws, os, p)),
        (H::U8(a), H::U8(b)) => H::U8(conv_t(a, xs, b, ws, os, p)),
        (H::U16(a), H::U16(b)) => H::U16(conv_t(a, xs, b, ws, os, p)),
        (H::U32(a), H::U32(b)) => H::U32(conv_t(a, xs, b, ws, os, p)),
        (H::U64(a), H::U64(b)) => H::U64(conv_t(a, xs, b, ws, os, p)),
        _ => {
            return Err(dtype_err(
                "conv_general_dilated",
                format!(
                    "the cpu backend supports equal numeric dtypes, got {} and {}",
                    x.dtype(),
                    w.dtype()
                ),
            ))
        }
    })
}
