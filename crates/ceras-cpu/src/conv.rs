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
    let mut out = vec![zero; n * o * qsz];
    let kdim = cg * ksz;
    if out.is_empty() || kdim == 0 {
        return out;
    }
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
    let (sst, kst, qst) = (istrides(sp), istrides(ks), istrides(qs));
    let qc = (COL_BUDGET / kdim).clamp(1, qsz);
    for q0 in (0..qsz).step_by(qc) {
        let ql = qc.min(qsz - q0);
        // offs[kk * ql + j]: input offset (within a channel) for tap kk and position q0 + j.
        let offs: Vec<isize> = if identity {
            Vec::new()
        } else {
            let mut offs = vec![0isize; ksz * ql];
            for kk in 0..ksz {
                for j in 0..ql {
                    let q = (q0 + j) as isize;
                    let mut off = 0isize;
                    for d in 0..nd {
                        let kd = (kk as isize / kst[d]) as usize % ks[d];
                        let qd = (q / qst[d]) as usize % qs[d];
                        let i = tables[d][kd * qs[d] + qd];
                        if i < 0 {
                            off = -1;
                            break;
                        }
                        off += i * sst[d];
                    }
                    offs[kk * ql + j] = off;
                }
            }
            offs
        };
        let batch = |(ni, out_n): (usize, &mut [T])| {
            let mut col = if identity {
                Vec::new()
            } else {
                vec![zero; kdim * ql]
            };
            for gi in 0..g {
                let xb = &x[(ni * c + gi * cg) * ssz..(ni * c + (gi + 1) * cg) * ssz];
                let cm = if identity {
                    MatRef {
                        data: &xb[q0..],
                        rs: ssz,
                        cs: 1,
                    }
                } else {
                    for ci in 0..cg {
                        let xc = &xb[ci * ssz..(ci + 1) * ssz];
                        for kk in 0..ksz {
                            let row = &mut col[(ci * ksz + kk) * ql..(ci * ksz + kk + 1) * ql];
                            for (r, &of) in row.iter_mut().zip(&offs[kk * ql..(kk + 1) * ql]) {
                                *r = if of >= 0 { xc[of as usize] } else { zero };
                            }
                        }
                    }
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
