//! The fused bias + ReLU epilogue (`Fused::BiasRelu`): `max(x + b, 0)` with `b`
//! along the last axis, or `max(x, 0)` without `b`, in one pass. The decomposition materialises the
//! broadcast bias, adds, materialises a zero tensor and takes the maximum: four
//! passes over the activation, each with its own output buffer. The arithmetic
//! is the decomposition's (one rounding for the add, `max` propagating NaN), so
//! the results are bit-identical.

use crate::elementwise::{CHUNK, PAR_MIN};
use crate::host;
use ceras_core::backend::Operand;
use ceras_core::error::Result;
use ceras_core::HostData;
use rayon::prelude::*;

/// `max(x + b, 0)` row by row, or `max(x, 0)` when `b` is empty.
fn rows<T>(x: &[T], b: &[T], out: &mut [T], zero: T)
where
    T: Copy + PartialOrd + std::ops::Add<Output = T>,
{
    // `max(s, 0)` as the Max primitive computes it: NaN propagates.
    #[allow(clippy::eq_op)]
    let relu = |s: T| if s > zero || s != s { s } else { zero };
    if b.is_empty() {
        for (o, &x) in out.iter_mut().zip(x) {
            *o = relu(x);
        }
        return;
    }
    for (orow, xrow) in out.chunks_exact_mut(b.len()).zip(x.chunks_exact(b.len())) {
        for ((o, &x), &b) in orow.iter_mut().zip(xrow).zip(b) {
            *o = relu(x + b);
        }
    }
}

fn run<T>(x: &[T], b: &[T], zero: T) -> Vec<T>
where
    T: ceras_core::Element + Copy + PartialOrd + std::ops::Add<Output = T> + Send + Sync,
{
    // Every element is written below.
    let mut out = crate::pool::take::<T>(x.len());
    let c = b.len().max(1);
    if x.len() >= PAR_MIN {
        let chunk = (CHUNK / c).max(1) * c;
        out.par_chunks_mut(chunk)
            .zip(x.par_chunks(chunk))
            .for_each(|(o, x)| rows(x, b, o, zero));
    } else {
        rows(x, b, &mut out, zero);
    }
    out
}

/// `None` unless the operands are `x` and a bias of its last dim, both f32 or
/// both f64, or `x` alone (then `max(x, 0)`).
pub(crate) fn bias_relu(inputs: &[Operand<'_>]) -> Option<Result<Vec<HostData>>> {
    let (x, b) = match inputs {
        [x] => (x, None),
        [x, b] => (x, Some(b)),
        _ => return None,
    };
    if let Some(b) = b {
        let c = *x.shape.last()?;
        if b.dtype != x.dtype || b.shape != [c] || c == 0 {
            return None;
        }
    }
    let xd = match host("BiasRelu", x) {
        Ok(d) => d,
        Err(e) => return Some(Err(e)),
    };
    let bd = match b.map(|b| host("BiasRelu", b)).transpose() {
        Ok(d) => d,
        Err(e) => return Some(Err(e)),
    };
    Some(Ok(vec![match (xd, bd) {
        (HostData::F32(x), None) => HostData::F32(run(x, &[], 0.0)),
        (HostData::F64(x), None) => HostData::F64(run(x, &[], 0.0)),
        (HostData::F32(x), Some(HostData::F32(b))) => HostData::F32(run(x, b, 0.0)),
        (HostData::F64(x), Some(HostData::F64(b))) => HostData::F64(run(x, b, 0.0)),
        _ => return None,
    }]))
}
