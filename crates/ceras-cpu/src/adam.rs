//! The fused Adam step (`Fused::Adam`): one pass over `var, m, v, g` instead of
//! the twelve element-wise primitives of the decomposition, each with its own
//! output buffer. The arithmetic is the decomposition's, operation for
//! operation in the operands' precision, so the results are bit-identical.

use crate::elementwise::PAR_MIN;
use crate::host;
use ceras_core::backend::Operand;
use ceras_core::error::Result;
use ceras_core::{Element, HostData};
use rayon::prelude::*;

/// Float types the kernel runs on.
trait Float: Element + std::ops::Add<Output = Self> + std::ops::Sub<Output = Self> {
    fn of(x: f64) -> Self;
    fn mul(self, o: Self) -> Self;
    fn div(self, o: Self) -> Self;
    fn sqrt(self) -> Self;
}

macro_rules! float {
    ($t:ty) => {
        impl Float for $t {
            fn of(x: f64) -> Self {
                x as $t
            }
            fn mul(self, o: Self) -> Self {
                self * o
            }
            fn div(self, o: Self) -> Self {
                self / o
            }
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
        }
    };
}
float!(f32);
float!(f64);

/// Scalars of one step, in the operands' precision (as the decomposition's
/// constants are).
struct Step<T> {
    k1: T,
    k2: T,
    eps: T,
    alpha: T,
}

fn step<T: Float>(
    s: &Step<T>,
    (var, m, v, g): (&[T], &[T], &[T], &[T]),
    (ovar, om, ov): (&mut [T], &mut [T], &mut [T]),
) {
    for i in 0..var.len() {
        let nm = m[i] + (g[i] - m[i]).mul(s.k1);
        let nv = v[i] + (g[i].mul(g[i]) - v[i]).mul(s.k2);
        om[i] = nm;
        ov[i] = nv;
        ovar[i] = var[i] - nm.mul(s.alpha).div(nv.sqrt() + s.eps);
    }
}

fn run<T: Float>(xs: [&[T]; 5], b1: f64, b2: f64, eps: f64) -> [Vec<T>; 3] {
    let [var, m, v, g, alpha] = xs;
    let s = Step {
        k1: T::of(1.0 - b1),
        k2: T::of(1.0 - b2),
        eps: T::of(eps),
        alpha: alpha[0],
    };
    let n = var.len();
    // Every element of the three outputs is written below.
    let (mut ovar, mut om, mut ov) = (
        crate::pool::take::<T>(n),
        crate::pool::take::<T>(n),
        crate::pool::take::<T>(n),
    );
    if n >= PAR_MIN {
        let c = PAR_MIN / 2;
        ovar.par_chunks_mut(c)
            .zip(om.par_chunks_mut(c))
            .zip(ov.par_chunks_mut(c))
            .enumerate()
            .for_each(|(i, ((a, b), d))| {
                let r = i * c..i * c + a.len();
                let ins = (&var[r.clone()], &m[r.clone()], &v[r.clone()], &g[r]);
                step(&s, ins, (a, b, d));
            });
    } else {
        step(&s, (var, m, v, g), (&mut ovar, &mut om, &mut ov));
    }
    [ovar, om, ov]
}

/// `None` when the operands are not five of f32 or f64 with a scalar last.
pub(crate) fn fused_adam(
    inputs: &[Operand<'_>],
    b1: f64,
    b2: f64,
    eps: f64,
) -> Option<Result<Vec<HostData>>> {
    let [var, m, v, g, alpha] = inputs else {
        return None;
    };
    let n = var.shape.iter().product::<usize>();
    let same = [m, v, g]
        .iter()
        .all(|x| x.dtype == var.dtype && x.shape == var.shape);
    if !same || alpha.dtype != var.dtype || !alpha.shape.is_empty() || n == 0 {
        return None;
    }
    let data = match [var, m, v, g, alpha]
        .into_iter()
        .map(|x| host("Adam", x))
        .collect::<Result<Vec<_>>>()
    {
        Ok(d) => d,
        Err(e) => return Some(Err(e)),
    };
    use HostData as H;
    Some(Ok(match data[..] {
        [H::F32(a), H::F32(b), H::F32(c), H::F32(d), H::F32(e)] => {
            run([a, b, c, d, e], b1, b2, eps).map(H::F32).into()
        }
        [H::F64(a), H::F64(b), H::F64(c), H::F64(d), H::F64(e)] => {
            run([a, b, c, d, e], b1, b2, eps).map(H::F64).into()
        }
        _ => return None,
    }))
}
