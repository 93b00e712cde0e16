//! Float32 scaled dot-product attention in one pass per head
//! (`Fused::DotProductAttention`) and its closed-form VJP
//! (`Fused::DotProductAttentionGrad`), bit-identical to the decompositions
//! `ops::dot_product_attention` records: every product is the `DotGeneral`
//! kernel's own `gemm` call on the same strided views (see
//! [`as_matrices`]) with the same threading decision ([`batch_parallel`]),
//! the softmax rows are the exact softmax kernels' rows, and scaling and
//! causal masking are the same single roundings. What goes is everything
//! between: the `(B, N, T, S)` logits, their transposes and five separate
//! passes over them; each head's `T x S` block stays in cache.

use crate::matmul::{as_matrices, batch_parallel, matmul, MatRef};
use crate::softmax::{softmax_last_grad_row, softmax_last_row};

/// The dims of one attention call: `q (b, t, n, h)`, `k (b, s, n, h)`,
/// `v (b, s, n, hv)`.
#[derive(Clone, Copy)]
pub(crate) struct Dims {
    pub b: usize,
    pub t: usize,
    pub s: usize,
    pub n: usize,
    pub h: usize,
    pub hv: usize,
}

impl Dims {
    fn q(&self) -> [usize; 4] {
        [self.b, self.t, self.n, self.h]
    }
    fn k(&self) -> [usize; 4] {
        [self.b, self.s, self.n, self.h]
    }
    fn v(&self) -> [usize; 4] {
        [self.b, self.s, self.n, self.hv]
    }
    fn out(&self) -> [usize; 4] {
        [self.b, self.t, self.n, self.hv]
    }
}

/// The logit masked out by causal attention, `-0.7 · f32::MAX` as the
/// decomposition rounds it.
fn masked_logit() -> f32 {
    (-0.7 * f32::MAX as f64) as f32
}

/// Runs `task(batch index, chunk of each output)` over the batch, in
/// parallel when `parallel`; each output is split in `b` equal chunks.
fn over_batch<const N: usize>(
    outs: [&mut [f32]; N],
    b: usize,
    parallel: bool,
    task: impl Fn(usize, [&mut [f32]; N]) + Sync,
) {
    let widths = std::array::from_fn(|k| outs[k].len() / b);
    crate::rows::by_rows(outs, widths, b, parallel, task)
}

/// Forward: returns the output `(b, t, n, hv)` and the probabilities
/// `(b, n, t, s)`. All dims must be nonzero.
pub(crate) fn attention(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    d: Dims,
    scale: f64,
    causal: bool,
) -> (Vec<f32>, Vec<f32>) {
    let Dims { b, t, s, n, h, hv } = d;
    let mut out = crate::pool::take::<f32>(b * t * n * hv);
    let mut probs = crate::pool::take::<f32>(b * n * t * s);
    // The decomposition's operands: q as (b, t, n, 1, h) by k, batch (b, head).
    let qm = as_matrices(q, &[b, t, n, 1, h], &[0, 2], &[1, 3], &[4]);
    let km = as_matrices(k, &d.k(), &[0, 2], &[3], &[1]);
    let vm = as_matrices(v, &d.v(), &[0, 2], &[1], &[3]);
    let (bp_qk, bp_pv) = (
        batch_parallel(b * n, t, s, h),
        batch_parallel(b * n, t, hv, s),
    );
    let (scale, big) = (scale as f32, masked_logit());
    let whole = b * n * t == 1;
    over_batch(
        [&mut out, &mut probs],
        b,
        bp_qk && bp_pv,
        |bi, [out, probs]| {
            let mut logits = vec![0f32; t * s];
            for hd in 0..n {
                let i = bi * n + hd;
                matmul((t, s, h), qm.mat(i), km.mat(i), &mut logits, s, !bp_qk);
                let p = &mut probs[hd * t * s..(hd + 1) * t * s];
                for (r, (lrow, prow)) in logits.chunks_mut(s).zip(p.chunks_mut(s)).enumerate() {
                    lrow.iter_mut().for_each(|x| *x *= scale);
                    if causal && r + 1 < s {
                        lrow[r + 1..].fill(big);
                    }
                    softmax_last_row(prow, lrow, whole);
                }
                let pm = MatRef {
                    data: &*p,
                    rs: s,
                    cs: 1,
                };
                matmul(
                    (t, hv, s),
                    pm,
                    vm.mat(i),
                    &mut out[hd * hv..],
                    n * hv,
                    !bp_pv,
                );
            }
        },
    );
    (out, probs)
}

/// The VJP from the probabilities `p (b, n, t, s)` and the output's
/// cotangent `g (b, t, n, hv)`: returns the cotangents of `q, k, v`.
#[allow(clippy::too_many_arguments)] // the operands of one attention VJP
pub(crate) fn attention_grad(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    p: &[f32],
    g: &[f32],
    d: Dims,
    scale: f64,
    causal: bool,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let Dims { b, t, s, n, h, hv } = d;
    let mut dq = crate::pool::take::<f32>(b * t * n * h);
    let mut dk = crate::pool::take::<f32>(b * s * n * h);
    let mut dv = crate::pool::take::<f32>(b * s * n * hv);
    // The decomposition's operands (ops::dot_product_attention's VJP).
    let (qs, ks, vs, gs) = (d.q(), d.k(), d.v(), d.out());
    let gm = as_matrices(g, &gs, &[0, 2], &[1], &[3]); // (t, hv): dp's lhs, dv's rhs
    let v_t = as_matrices(v, &vs, &[0, 2], &[3], &[1]); // dp rhs, (hv, s)
    let k_k_s = as_matrices(k, &ks, &[0, 2], &[1], &[3]); // dq rhs, (s, h)
    let q_k_t = as_matrices(q, &qs, &[0, 2], &[1], &[3]); // dk rhs, (t, h)
    let nb = b * n;
    let (bp_dp, bp_dv, bp_dq, bp_dk) = (
        batch_parallel(nb, t, s, hv),
        batch_parallel(nb, s, hv, t),
        batch_parallel(nb, t, h, s),
        batch_parallel(nb, s, h, t),
    );
    let scale = scale as f32;
    let whole = nb * t == 1;
    over_batch(
        [&mut dq, &mut dk, &mut dv],
        b,
        bp_dp && bp_dv && bp_dq && bp_dk,
        |bi, [dq, dk, dv]| {
            let mut dp = vec![0f32; t * s];
            let mut ds = vec![0f32; t * s];
            for hd in 0..n {
                let i = bi * n + hd;
                let pb = &p[i * t * s..(i + 1) * t * s];
                matmul((t, s, hv), gm.mat(i), v_t.mat(i), &mut dp, s, !bp_dp);
                // dv = pᵀ·g: p viewed (s, t).
                let pt = MatRef {
                    data: pb,
                    rs: 1,
                    cs: s,
                };
                matmul(
                    (s, hv, t),
                    pt,
                    gm.mat(i),
                    &mut dv[hd * hv..],
                    n * hv,
                    !bp_dv,
                );
                for (r, ((o, y), gr)) in ds
                    .chunks_mut(s)
                    .zip(pb.chunks(s))
                    .zip(dp.chunks(s))
                    .enumerate()
                {
                    softmax_last_grad_row(o, y, gr, whole);
                    if causal && r + 1 < s {
                        o[r + 1..].fill(0.0);
                    }
                    o.iter_mut().for_each(|x| *x *= scale);
                }
                let dsm = MatRef {
                    data: &ds[..],
                    rs: s,
                    cs: 1,
                };
                matmul(
                    (t, h, s),
                    dsm,
                    k_k_s.mat(i),
                    &mut dq[hd * h..],
                    n * h,
                    !bp_dq,
                );
                let dst = MatRef {
                    data: &ds[..],
                    rs: 1,
                    cs: s,
                };
                matmul(
                    (s, h, t),
                    dst,
                    q_k_t.mat(i),
                    &mut dk[hd * h..],
                    n * h,
                    !bp_dk,
                );
            }
        },
    );
    (dq, dk, dv)
}
