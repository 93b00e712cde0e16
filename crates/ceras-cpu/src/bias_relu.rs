//! The fused bias + ReLU epilogue (`Fused::BiasRelu`): `max(x + b, 0)` with `b`
//! along the last axis, in one pass. The decomposition materialises the
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

fn rows<T>(x: &[T], b: &[T], out: &mut [T], zero: T)
where
    T: Copy + PartialOrd + std::ops::Add<Output = T>,
{
    for (orow, xrow) in out.chunks_exact_mut(b.len()).zip(x.chunks_exact(b.len())) {
        for ((o, &x), &b) in orow.iter_mut().zip(xrow).zip(b) {
            let s = x + b;
            // `max(s, 0)` as the Max primitive computes it: NaN propagates.
            #[allow(clippy::eq_op)]
            let keep = s > zero || s != s;
            *o = if keep { s } else { zero };
        }
    }
}

fn run<T>(x: &[T], b: &[T], zero: T) -> Vec<T>
where
    T: ceras_core::Element + Copy + PartialOrd + std::ops::Add<Output = T> + Send + Sync,
{
    // Every element is written below.
    let mut out = crate::pool::take::<T>(x.len());
    let c = b.len();
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
/// both f64.
pub(crate) fn bias_relu(inputs: &[Operand<'_>]) -> Option<Result<Vec<HostData>>> {
    let [x, b] = inputs else {
        return None;
    };
    let c = *x.shape.last()?;
    if b.dtype != x.dtype || b.shape != [c] || c == 0 {
        return None;
    }
    let (xd, bd) = match (host("BiasRelu", x), host("BiasRelu", b)) {
        (Ok(x), Ok(b)) => (x, b),
        (Err(e), _) | (_, Err(e)) => return Some(Err(e)),
    };
    Some(Ok(vec![match (xd, bd) {
        (HostData::F32(x), HostData::F32(b)) => HostData::F32(run(x, b, 0.0)),
        (HostData::F64(x), HostData::F64(b)) => HostData::F64(run(x, b, 0.0)),
        _ => return None,
    }]))
}
