//! Fused, numerically stable softmax / log-softmax on f32.

use crate::elementwise::PAR_MIN;
use crate::num::Acc;
use crate::reduce::alb;
use rayon::prelude::*;

/// Softmax (or log-softmax) of `v` along `axis`: `exp(x - max) / Σ exp(x - max)`.
pub(crate) fn softmax(v: &[f32], shape: &[usize], axis: usize, log: bool) -> Vec<f32> {
    let (a, l, b) = alb(shape, axis);
    let mut out = v.to_vec();
    if out.is_empty() {
        return out;
    }
    let block = |o: &mut [f32]| {
        if b == 1 {
            return row(o, log);
        }
        // o is [l, b]; per column: max, then sum of exp.
        let mut m = vec![f32::NEG_INFINITY; b];
        for row in o.chunks(b) {
            for (m, &x) in m.iter_mut().zip(row) {
                *m = m.max_nan(x);
            }
        }
        let mut s = vec![0f32; b];
        for row in o.chunks_mut(b) {
            for ((y, &m), s) in row.iter_mut().zip(&m).zip(s.iter_mut()) {
                *y -= m;
                let e = y.exp();
                *s += e;
                if !log {
                    *y = e;
                }
            }
        }
        if log {
            let ls: Vec<f32> = s.iter().map(|s| s.ln()).collect();
            for row in o.chunks_mut(b) {
                row.iter_mut().zip(&ls).for_each(|(y, l)| *y -= l);
            }
        } else {
            let inv: Vec<f32> = s.iter().map(|s| 1.0 / s).collect();
            for row in o.chunks_mut(b) {
                row.iter_mut().zip(&inv).for_each(|(y, i)| *y *= i);
            }
        }
    };
    if a >= 2 && out.len() >= PAR_MIN {
        out.par_chunks_mut(l * b).for_each(block);
    } else {
        out.chunks_mut(l * b).for_each(block);
    }
    out
}

/// Softmax of one contiguous row, in place.
fn row(o: &mut [f32], log: bool) {
    let m = o.iter().fold(f32::NEG_INFINITY, |m, &x| m.max_nan(x));
    let mut s = 0f32;
    for y in o.iter_mut() {
        *y -= m;
        let e = y.exp();
        s += e;
        if !log {
            *y = e;
        }
    }
    if log {
        let ls = s.ln();
        o.iter_mut().for_each(|y| *y -= ls);
    } else {
        let inv = 1.0 / s;
        o.iter_mut().for_each(|y| *y *= inv);
    }
}
