//! The LSTM cell's gate arithmetic in one pass (`Fused::LstmCell` and its VJP
//! `Fused::LstmCellGrad`), bit-identical to the decompositions in
//! `ops::lstm_cell`: the same `Logistic` / `Tanh` values per element (the
//! `fastmath` kernels, libm outside their range) and the same multiplications
//! and additions in the same order. The decomposition splits `z` into four
//! gates and runs ~10 primitives forward and ~25 backward per time step, each
//! with its own small output buffer; here each batch row is one pass in cache.

use crate::elementwise::PAR_MIN;
use crate::fastmath::{logistic_into, tanh_into};

/// Gate activations of one row: `[i, f, tanh(g), o]`, each of `u` values.
fn gates(z: &[f32], u: usize, act: &mut [f32]) {
    logistic_into(&mut act[..2 * u], &z[..2 * u]);
    tanh_into(&mut act[2 * u..3 * u], &z[2 * u..3 * u]);
    logistic_into(&mut act[3 * u..], &z[3 * u..]);
}

/// [`crate::rows::by_rows`], in parallel for large batches.
fn by_rows<const N: usize>(
    outs: [&mut [f32]; N],
    widths: [usize; N],
    rows: usize,
    row: impl Fn(usize, [&mut [f32]; N]) + Sync,
) {
    let work: usize = widths.iter().sum::<usize>() * rows;
    crate::rows::by_rows(outs, widths, rows, work >= PAR_MIN, row)
}

/// Forward: `z (rows, 4u)`, `c (rows, u)` → `h`, `c'` with `c' = f·c + i·tanh(g)`,
/// `h = o·tanh(c')`.
pub(crate) fn lstm_cell(z: &[f32], c: &[f32], u: usize) -> (Vec<f32>, Vec<f32>) {
    let rows = c.len() / u.max(1);
    let mut h = vec![0f32; c.len()];
    let mut cn = vec![0f32; c.len()];
    if u == 0 || rows == 0 {
        return (h, cn);
    }
    by_rows([&mut h, &mut cn], [u, u], rows, |r, [h, cn]| {
        let mut act = vec![0f32; 5 * u];
        let (a, tc) = act.split_at_mut(4 * u);
        gates(&z[r * 4 * u..(r + 1) * 4 * u], u, a);
        let cp = &c[r * u..(r + 1) * u];
        for j in 0..u {
            cn[j] = a[u + j] * cp[j] + a[j] * a[2 * u + j];
        }
        tanh_into(tc, cn);
        for j in 0..u {
            h[j] = a[3 * u + j] * tc[j];
        }
    });
    (h, cn)
}

/// VJP: from `z`, `c` (the previous state), `c'` (the new one) and the
/// cotangents `gh`, `gc` of `h` and `c'`, the cotangents `dz (rows, 4u)` and
/// `dc (rows, u)`.
pub(crate) fn lstm_cell_grad(
    z: &[f32],
    c: &[f32],
    cn: &[f32],
    gh: &[f32],
    gc: &[f32],
    u: usize,
) -> (Vec<f32>, Vec<f32>) {
    let rows = c.len() / u.max(1);
    let mut dz = vec![0f32; z.len()];
    let mut dc = vec![0f32; c.len()];
    if u == 0 || rows == 0 {
        return (dz, dc);
    }
    by_rows([&mut dz, &mut dc], [4 * u, u], rows, |r, [dz, dcp]| {
        let mut act = vec![0f32; 5 * u];
        let (a, tc) = act.split_at_mut(4 * u);
        gates(&z[r * 4 * u..(r + 1) * 4 * u], u, a);
        let s = r * u..(r + 1) * u;
        tanh_into(tc, &cn[s.clone()]);
        let (cp, gh, gc) = (&c[s.clone()], &gh[s.clone()], &gc[s]);
        for j in 0..u {
            let (i, f, tg, o, t) = (a[j], a[u + j], a[2 * u + j], a[3 * u + j], tc[j]);
            let d_o = gh[j] * t;
            let d_c = gc[j] + (gh[j] * o) * (1.0 - t * t);
            let d_i = d_c * tg;
            let d_g = d_c * i;
            let d_f = d_c * cp[j];
            dcp[j] = d_c * f;
            dz[j] = d_i * (i * (1.0 - i));
            dz[u + j] = d_f * (f * (1.0 - f));
            dz[2 * u + j] = d_g * (1.0 - tg * tg);
            dz[3 * u + j] = d_o * (o * (1.0 - o));
        }
    });
    (dz, dc)
}
