//! Float32 layer normalization over the last axis (`Fused::LayerNormLast`)
//! and its closed-form VJP (`Fused::LayerNormLastGrad`), bit-identical to the
//! decompositions in `ops::layer_normalization`: the row sums in the `Reduce`
//! kernel's order, the same divisions, `1 / sqrt`, products and sums as the
//! elementwise kernels round them, in the same order. One pass per row while
//! it is in cache, instead of ~10 primitives forward and ~12 backward, each
//! over the whole tensor.

use crate::elementwise::{CHUNK, PAR_MIN};
use crate::reduce::SumOp;
use crate::softmax::reduce_as_prim;
use rayon::prelude::*;

/// Runs `f` on each item, in parallel when `par`.
fn each<I: Send>(items: Vec<I>, par: bool, f: impl Fn(I) + Sync + Send) {
    if par {
        items.into_par_iter().for_each(f);
    } else {
        items.into_iter().for_each(f);
    }
}

/// Rows per block of parallel work.
fn rows_per_block(l: usize) -> usize {
    (CHUNK / l.max(1)).max(1)
}

/// Forward over rows of length `l`: returns `y`, the means and
/// `rsqrt(var + eps)` (one per row). `l` must be nonzero.
pub(crate) fn layer_norm_last(
    x: &[f32],
    l: usize,
    gamma: Option<&[f32]>,
    beta: Option<&[f32]>,
    eps: f64,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let rows = x.len() / l;
    let mut y = crate::pool::take::<f32>(x.len());
    let mut mean = vec![0f32; rows];
    let mut rstd = vec![0f32; rows];
    let (n, eps) = (l as f32, eps as f32);
    let whole = rows == 1;
    let per = rows_per_block(l);
    let blocks: Vec<_> = y
        .chunks_mut(per * l)
        .zip(x.chunks(per * l))
        .zip(mean.chunks_mut(per).zip(rstd.chunks_mut(per)))
        .collect();
    each(blocks, x.len() >= PAR_MIN, |((y, x), (mean, rstd))| {
        let mut sq = vec![0f32; l];
        for (((y, x), m), r) in y
            .chunks_exact_mut(l)
            .zip(x.chunks_exact(l))
            .zip(mean.iter_mut())
            .zip(rstd.iter_mut())
        {
            // moments: mean = Σx / n, var = Σ(x - mean)² / n.
            *m = reduce_as_prim::<SumOp>(x, whole) / n;
            for (s, &x) in sq.iter_mut().zip(x) {
                let c = x - *m;
                *s = c * c;
            }
            let var = reduce_as_prim::<SumOp>(&sq, whole) / n;
            *r = 1.0 / (var + eps).sqrt();
            let neg_m = -*m;
            for (j, (y, &x)) in y.iter_mut().zip(x).enumerate() {
                let inv = match gamma {
                    Some(g) => *r * g[j],
                    None => *r,
                };
                let mut res = neg_m * inv;
                if let Some(b) = beta {
                    res += b[j];
                }
                *y = x * inv + res;
            }
        }
    });
    (y, mean, rstd)
}

/// The VJP over rows of length `l` from the forward's means and
/// `rsqrt(var + eps)`: returns `dx` and, with a `gamma`, `dy·x̂`.
pub(crate) fn layer_norm_last_grad(
    x: &[f32],
    mean: &[f32],
    rstd: &[f32],
    dy: &[f32],
    gamma: Option<&[f32]>,
    l: usize,
) -> (Vec<f32>, Option<Vec<f32>>) {
    let rows = x.len() / l;
    let mut dx = crate::pool::take::<f32>(x.len());
    let mut dyx = gamma.map(|_| crate::pool::take::<f32>(x.len()));
    let n = l as f32;
    let whole = rows == 1;
    let per = rows_per_block(l);
    let dyx_blocks: Vec<Option<&mut [f32]>> = match &mut dyx {
        Some(v) => v.chunks_mut(per * l).map(Some).collect(),
        None => (0..rows.div_ceil(per)).map(|_| None).collect(),
    };
    let blocks: Vec<_> = dx
        .chunks_mut(per * l)
        .zip(dyx_blocks)
        .zip(x.chunks(per * l).zip(dy.chunks(per * l)))
        .zip(mean.chunks(per).zip(rstd.chunks(per)))
        .collect();
    each(
        blocks,
        x.len() >= PAR_MIN,
        |(((dx, mut dyx), (x, dy)), (mean, rstd))| {
            let (mut xhat, mut g, mut t) = (vec![0f32; l], vec![0f32; l], vec![0f32; l]);
            for (i, ((dx, x), dy)) in dx
                .chunks_exact_mut(l)
                .zip(x.chunks_exact(l))
                .zip(dy.chunks_exact(l))
                .enumerate()
            {
                let (m, r) = (mean[i], rstd[i]);
                for (((xh, g), &x), &dy) in xhat.iter_mut().zip(g.iter_mut()).zip(x).zip(dy) {
                    *xh = (x - m) * r;
                    *g = dy;
                }
                if let Some(gm) = gamma {
                    g.iter_mut().zip(gm).for_each(|(g, &gm)| *g *= gm);
                }
                let a = reduce_as_prim::<SumOp>(&g, whole) / n;
                for ((t, &g), &xh) in t.iter_mut().zip(&g).zip(&xhat) {
                    *t = g * xh;
                }
                let c = reduce_as_prim::<SumOp>(&t, whole) / n;
                for ((dx, &g), &xh) in dx.iter_mut().zip(&g).zip(&xhat) {
                    *dx = r * ((g - a) - xh * c);
                }
                if let Some(dyx) = dyx.as_deref_mut() {
                    let row = &mut dyx[i * l..(i + 1) * l];
                    for ((o, &dy), &xh) in row.iter_mut().zip(dy).zip(&xhat) {
                        *o = dy * xh;
                    }
                }
            }
        },
    );
    (dx, dyx)
}
