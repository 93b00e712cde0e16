//! Row-wise work over several outputs at once, for the fused kernels.

use rayon::prelude::*;

/// Runs `row(r, outs_r)` for each row `r < rows`, each output split in rows
/// of its own (nonzero) width; rows in parallel when `parallel`.
pub(crate) fn by_rows<const N: usize>(
    outs: [&mut [f32]; N],
    widths: [usize; N],
    rows: usize,
    parallel: bool,
    row: impl Fn(usize, [&mut [f32]; N]) + Sync,
) {
    // Collect each output's row slices, then hand row r's slices to `row`.
    let mut per_row: Vec<[&mut [f32]; N]> = Vec::with_capacity(rows);
    let mut iters: Vec<_> = outs
        .into_iter()
        .zip(widths)
        .map(|(o, w)| o.chunks_exact_mut(w))
        .collect();
    for _ in 0..rows {
        let v: Vec<&mut [f32]> = iters.iter_mut().filter_map(|it| it.next()).collect();
        match <[&mut [f32]; N]>::try_from(v) {
            Ok(a) => per_row.push(a),
            Err(_) => return,
        }
    }
    if parallel {
        per_row
            .into_par_iter()
            .enumerate()
            .for_each(|(r, o)| row(r, o));
    } else {
        per_row.into_iter().enumerate().for_each(|(r, o)| row(r, o));
    }
}
