//! Vectorisable `f32` `exp`, `tanh` and `logistic`.
//!
//! libm's scalar `expf` / `tanhf` calls were 12 % of an LSTM train step (its gates
//! are sigmoids and tanhs). These kernels are straight-line arithmetic (Cephes'
//! `expf` and `tanhf` polynomials, a power of two built from the exponent bits), so
//! the compiler vectorises the loops over them. Within their range they are
//! accurate to about 1 ulp (checked against libm over dense sweeps in the tests);
//! outside it (`|x| ≥ 87` for `exp` and `logistic`, `|x| ≥ 9` for `tanh`, NaN,
//! infinities) a second pass recomputes the few such elements with libm, so
//! overflow, underflow to subnormals and special values match libm exactly.

use crate::elementwise::{CHUNK, PAR_MIN};
use rayon::prelude::*;

/// `round(x)` for `|x| < 2^22`, as an `f32` and as the integer in its low bits.
#[inline(always)]
fn round_parts(x: f32) -> (f32, i32) {
    // Adding 1.5 · 2^23 rounds to an integer (ties to even) in the mantissa.
    const MAGIC: f32 = 12_582_912.0;
    let t = x + MAGIC;
    // Wrapping: a NaN lane (replaced by the fix-up pass) must not trap in debug builds.
    (
        t - MAGIC,
        (t.to_bits() as i32).wrapping_sub(MAGIC.to_bits() as i32),
    )
}

/// `exp(x)` for `|x| < 87` (Cephes `expf`): `x = n·ln 2 + r`, `exp(r)` by a
/// degree-7 polynomial, times `2^n` built from exponent bits.
#[inline(always)]
pub(crate) fn exp_core(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in two so that `n · LN2_HI` is exact.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let (n, ni) = round_parts(x * LOG2E);
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 0.5;
    let y = p * (r * r) + r + 1.0;
    // |n| ≤ 126 here, so 2^n is a normal number.
    y * f32::from_bits((ni.wrapping_add(127) as u32) << 23)
}

/// `tanh(x)` for `|x| < 9` (Cephes `tanhf`): an odd polynomial below 0.625,
/// `1 - 2 / (exp(2|x|) + 1)` with the sign of `x` above.
#[inline(always)]
fn tanh_core(x: f32) -> f32 {
    let z = x.abs();
    let s = x * x;
    let small =
        ((((-5.704_988_7e-3 * s + 2.063_909e-2) * s - 5.373_971_6e-2) * s + 1.333_144_2e-1) * s
            - 3.333_328e-1)
            * s
            * x
            + x;
    // Odd: the sign of x (also for -0.0, which the sum above turns into +0.0).
    let small = small.copysign(x);
    let large = (1.0 - 2.0 / (exp_core(2.0 * z) + 1.0)).copysign(x);
    if z < 0.625 {
        small
    } else {
        large
    }
}

/// `1 / (1 + exp(-x))` for `|x| < 87`.
#[inline(always)]
fn logistic_core(x: f32) -> f32 {
    1.0 / (1.0 + exp_core(-x))
}

/// The exact (libm) logistic, for the elements outside the fast range.
fn logistic_exact(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// `o[i] = f(x[i])`, compiled for AVX2 (8 lanes instead of SSE2's 4) when the
/// CPU has it. The lanes run the same IEEE operations either way (Rust never
/// contracts a multiply and an add into an FMA), so the values do not depend
/// on which version runs.
#[inline(always)]
pub(crate) fn map_into(o: &mut [f32], x: &[f32], f: impl Fn(f32) -> f32) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above), the one
        // requirement for calling a function compiled with that feature.
        unsafe { map_avx2(o, x, f) };
        return;
    }
    for (o, &x) in o.iter_mut().zip(x) {
        *o = f(x);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn map_avx2(o: &mut [f32], x: &[f32], f: impl Fn(f32) -> f32) {
    for (o, &x) in o.iter_mut().zip(x) {
        *o = f(x);
    }
}

/// Recomputes `o[i] = exact(x[i])` where `in_range(x[i])` fails. Blocks of 64
/// are first counted branch-free (a vectorised sum), so the per-element branch
/// runs only in the rare blocks that hold such an element.
#[inline(always)]
pub(crate) fn fix_up(
    o: &mut [f32],
    x: &[f32],
    in_range: impl Fn(f32) -> bool,
    exact: impl Fn(f32) -> f32,
) {
    for (o, x) in o.chunks_mut(64).zip(x.chunks(64)) {
        let bad: u32 = x.iter().map(|&x| u32::from(!in_range(x))).sum();
        if bad != 0 {
            for (o, &x) in o.iter_mut().zip(x) {
                if !in_range(x) {
                    *o = exact(x);
                }
            }
        }
    }
}

/// `fast` over `v`, then `exact` for the elements where `in_range` fails. Both
/// passes run over the same chunk while it is in cache, and chunks run in
/// parallel for large inputs (the fix-up is one compare per element, its
/// branch almost never taken).
fn map_fixed(
    v: &[f32],
    fast: impl Fn(f32) -> f32 + Sync,
    in_range: impl Fn(f32) -> bool + Sync,
    exact: impl Fn(f32) -> f32 + Sync,
) -> Vec<f32> {
    let chunk = |o: &mut [f32], x: &[f32]| {
        map_into(o, x, &fast);
        fix_up(o, x, &in_range, &exact);
    };
    let mut out = crate::pool::take::<f32>(v.len());
    if v.len() < PAR_MIN {
        chunk(&mut out, v);
    } else {
        out.par_chunks_mut(CHUNK)
            .zip(v.par_chunks(CHUNK))
            .for_each(|(o, x)| chunk(o, x));
    }
    out
}

/// `o[i] = tanh(x[i])`, each element the value [`tanh`] gives it.
pub(crate) fn tanh_into(o: &mut [f32], x: &[f32]) {
    map_into(o, x, |x| tanh_core(x.clamp(-9.0, 9.0)));
    fix_up(o, x, |x| x.abs() < 9.0, f32::tanh);
}

/// `o[i] = logistic(x[i])`, each element the value [`logistic`] gives it.
pub(crate) fn logistic_into(o: &mut [f32], x: &[f32]) {
    map_into(o, x, |x| logistic_core(x.clamp(-87.0, 87.0)));
    fix_up(o, x, |x| x.abs() < 87.0, logistic_exact);
}

/// Element-wise `exp`.
pub(crate) fn exp(v: &[f32]) -> Vec<f32> {
    // Out-of-range lanes get a finite placeholder; the fix-up pass replaces them.
    map_fixed(
        v,
        |x| exp_core(x.clamp(-87.0, 87.0)),
        |x| x.abs() < 87.0,
        f32::exp,
    )
}

/// Element-wise `tanh`.
pub(crate) fn tanh(v: &[f32]) -> Vec<f32> {
    map_fixed(
        v,
        |x| tanh_core(x.clamp(-9.0, 9.0)),
        |x| x.abs() < 9.0,
        f32::tanh,
    )
}

/// Element-wise logistic sigmoid.
pub(crate) fn logistic(v: &[f32]) -> Vec<f32> {
    map_fixed(
        v,
        |x| logistic_core(x.clamp(-87.0, 87.0)),
        |x| x.abs() < 87.0,
        logistic_exact,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in units in the last place between two finite floats of one sign.
    fn ulps(a: f32, b: f32) -> u32 {
        if a == b {
            return 0;
        }
        let key = |x: f32| {
            let i = x.to_bits() as i32;
            if i < 0 {
                i32::MIN - i
            } else {
                i
            }
        };
        key(a).abs_diff(key(b))
    }

    /// Dense sweeps: every 2^-10 step over [-100, 100], and log-spaced magnitudes
    /// from 1e-30 to 100 of both signs.
    fn sweep() -> Vec<f32> {
        let mut v: Vec<f32> = (-102_400..=102_400).map(|i| i as f32 / 1024.0).collect();
        for k in 0..20_000 {
            let m = 10f32.powf(-30.0 + 32.0 * k as f32 / 20_000.0);
            v.extend([m, -m]);
        }
        v
    }

    fn check(name: &str, got: &[f32], xs: &[f32], want: impl Fn(f32) -> f32, max_ulps: u32) {
        let mut worst = (0, 0.0f32);
        for (&g, &x) in got.iter().zip(xs) {
            let w = want(x);
            let u = ulps(g, w);
            if u > worst.0 {
                worst = (u, x);
            }
        }
        assert!(
            worst.0 <= max_ulps,
            "{name}: {} ulps from libm at x = {}",
            worst.0,
            worst.1
        );
    }

    #[test]
    fn close_to_libm_over_sweeps() {
        let xs = sweep();
        check("exp", &exp(&xs), &xs, f32::exp, 2);
        check("tanh", &tanh(&xs), &xs, f32::tanh, 3);
        check("logistic", &logistic(&xs), &xs, logistic_exact, 3);
    }

    #[test]
    fn avx2_and_baseline_lanes_give_the_same_bits() {
        // `map_into` may run its AVX2 copy; a plain loop is the baseline build.
        let xs: Vec<f32> = sweep().into_iter().filter(|x| x.abs() < 87.0).collect();
        let fs: [fn(f32) -> f32; 3] = [
            |x| exp_core(x.clamp(-87.0, 87.0)),
            |x| tanh_core(x.clamp(-9.0, 9.0)),
            |x| logistic_core(x.clamp(-87.0, 87.0)),
        ];
        for f in fs {
            let mut fast = vec![0f32; xs.len()];
            map_into(&mut fast, &xs, f);
            let base: Vec<f32> = xs.iter().map(|&x| std::hint::black_box(f)(x)).collect();
            let same = fast
                .iter()
                .zip(&base)
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "vectorised lanes differ from the scalar kernel");
        }
    }

    #[test]
    fn special_values_match_libm() {
        let xs = [
            0.0,
            -0.0,
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            86.9,
            87.0,
            88.7,
            89.0,
            -87.0,
            -100.0,
            -104.0,
            8.99,
            9.0,
            -9.0,
            f32::MIN_POSITIVE,
            1e-45,
            -1e-45,
        ];
        let same = |a: f32, b: f32| (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits();
        for (name, got, f) in [
            ("exp", exp(&xs), f32::exp as fn(f32) -> f32),
            ("tanh", tanh(&xs), f32::tanh),
            ("logistic", logistic(&xs), logistic_exact),
        ] {
            for (&g, &x) in got.iter().zip(&xs) {
                let w = f(x);
                assert!(
                    same(g, w) || (x.abs() < 87.0 && ulps(g, w) <= 3),
                    "{name}({x}) = {g}, libm {w}"
                );
            }
        }
        // Signed zeros survive.
        assert!(tanh(&[-0.0])[0].is_sign_negative());
        assert_eq!(exp(&[-0.0])[0], 1.0);
        assert_eq!(logistic(&[0.0])[0], 0.5);
    }
}
