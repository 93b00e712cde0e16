//! The fused Threefry-2x32 generator (`Fused::Threefry2x32`): one pass over the
//! four `uint32` operands instead of the ~120 element-wise primitives of the
//! decomposition (`ceras_core::random`), each with its own output buffer. Every
//! element is [`threefry2x32_block`], the host reference the decomposition is
//! tested against, so the bits are identical.

use crate::elementwise::{CHUNK, PAR_MIN};
use crate::host;
use ceras_core::backend::Operand;
use ceras_core::error::{dtype_err, Result};
use ceras_core::random::threefry2x32_block;
use ceras_core::HostData;
use rayon::prelude::*;

/// `(y0, y1)` for operands `k0, k1, x0, x1` (equal-shape `uint32`), or `None`
/// when they do not fit (the caller then runs the decomposition).
pub(crate) fn threefry2x32(inputs: &[Operand<'_>]) -> Option<Result<Vec<HostData>>> {
    if inputs.len() != 4 || inputs.iter().any(|x| x.shape != inputs[0].shape) {
        return None;
    }
    let mut v: Vec<&[u32]> = Vec::with_capacity(4);
    for x in inputs {
        match host("threefry2x32", x) {
            Ok(HostData::U32(d)) => v.push(d),
            Ok(d) => {
                return Some(Err(dtype_err(
                    "threefry2x32",
                    format!("operands must be uint32, got {}", d.dtype()),
                )))
            }
            Err(e) => return Some(Err(e)),
        }
    }
    let n = v[0].len();
    let mut y0 = crate::pool::take::<u32>(n);
    let mut y1 = crate::pool::take::<u32>(n);
    let run = |off: usize, y0: &mut [u32], y1: &mut [u32]| {
        for (i, (a, b)) in y0.iter_mut().zip(y1.iter_mut()).enumerate() {
            let j = off + i;
            [*a, *b] = threefry2x32_block([v[0][j], v[1][j]], [v[2][j], v[3][j]]);
        }
    };
    if n < PAR_MIN {
        run(0, &mut y0, &mut y1);
    } else {
        y0.par_chunks_mut(CHUNK)
            .zip(y1.par_chunks_mut(CHUNK))
            .enumerate()
            .for_each(|(c, (a, b))| run(c * CHUNK, a, b));
    }
    Some(Ok(vec![HostData::U32(y0), HostData::U32(y1)]))
}
