//! Special functions not in `libm`: `erfinv` and `digamma` (in f64).

use std::f64::consts::PI;

/// Inverse error function, accurate to ~1e-15 relative.
///
/// Giles' single-precision approximation as the initial guess, refined by a few
/// Halley steps on `erf(y) - x` (on `erfc` near ±1, where `1 - |x|` is exact).
pub(crate) fn erfinv(x: f64) -> f64 {
    if x.is_nan() || !(-1.0..=1.0).contains(&x) {
        return f64::NAN;
    }
    if x == 1.0 {
        return f64::INFINITY;
    }
    if x == -1.0 {
        return f64::NEG_INFINITY;
    }
    if x == 0.0 {
        return x;
    }
    let a = x.abs();
    let mut w = -((1.0 - a) * (1.0 + a)).ln();
    let p = if w < 5.0 {
        w -= 2.5;
        let mut p = 2.810_226_36e-08;
        p = 3.432_739_39e-07 + p * w;
        p = -3.523_387_7e-06 + p * w;
        p = -4.391_506_54e-06 + p * w;
        p = 0.000_218_580_87 + p * w;
        p = -0.001_253_725_03 + p * w;
        p = -0.004_177_681_64 + p * w;
        p = 0.246_640_727 + p * w;
        1.501_409_41 + p * w
    } else {
        w = w.sqrt() - 3.0;
        let mut p = -0.000_200_214_257;
        p = 0.000_100_950_558 + p * w;
        p = 0.001_349_343_22 + p * w;
        p = -0.003_673_428_44 + p * w;
        p = 0.005_739_507_73 + p * w;
        p = -0.007_622_461_3 + p * w;
        p = 0.009_438_870_47 + p * w;
        p = 1.001_674_06 + p * w;
        2.832_976_82 + p * w
    };
    let mut y = p * a;
    let two_over_sqrt_pi = 2.0 / PI.sqrt();
    // Halley steps converge cubically; the guess is ~1e-7 accurate except very
    // close to ±1 (beyond single precision), where a few more steps are needed.
    for _ in 0..8 {
        // f(y) = erf(y) - a, computed without cancellation.
        let f = if a > 0.5 {
            (1.0 - a) - libm::erfc(y)
        } else {
            libm::erf(y) - a
        };
        let d = two_over_sqrt_pi * (-y * y).exp();
        if d == 0.0 {
            break;
        }
        // Halley: f'' = -2 y f'.
        let step = f / (d + y * f);
        y -= step;
        if step.abs() <= 1e-17 * y.abs() {
            break;
        }
    }
    y.copysign(x)
}

/// The digamma function ψ(x); NaN at 0 and the negative integers.
pub(crate) fn digamma(x: f64) -> f64 {
    if x.is_nan() || x == f64::NEG_INFINITY {
        return f64::NAN;
    }
    if x == f64::INFINITY {
        return x;
    }
    if x <= 0.0 && x == x.floor() {
        return f64::NAN;
    }
    let mut x = x;
    let mut res = 0.0;
    if x < 0.0 {
        // Reflection: ψ(x) = ψ(1 - x) - π / tan(π x); reduce the tan argument.
        let frac = x - x.floor();
        res -= PI / (PI * frac).tan();
        x = 1.0 - x;
    }
    while x < 10.0 {
        res -= 1.0 / x;
        x += 1.0;
    }
    let z = 1.0 / (x * x);
    let series = z
        * (1.0 / 12.0
            - z * (1.0 / 120.0
                - z * (1.0 / 252.0
                    - z * (1.0 / 240.0 - z * (1.0 / 132.0 - z * (691.0 / 32760.0 - z / 12.0))))));
    res + x.ln() - 0.5 / x - series
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erfinv_roundtrip() {
        for i in -999..=999 {
            let x = i as f64 / 1000.0;
            let y = erfinv(x);
            assert!(
                (libm::erf(y) - x).abs() <= 1e-15 * x.abs().max(1e-300),
                "{x} {y}"
            );
        }
        for &t in &[1e-3, 1e-6, 1e-10, 1e-14f64] {
            let x = 1.0 - t;
            let y = erfinv(x);
            let r = (libm::erfc(y) - (1.0 - x)).abs() / (1.0 - x);
            assert!(r < 1e-12, "{x}: {r}");
        }
        assert_eq!(erfinv(1.0), f64::INFINITY);
        assert!(erfinv(1.5).is_nan());
        assert!((erfinv(0.5) - 0.476_936_276_204_469_9).abs() < 1e-15);
        assert!((erfinv(1e-20) - 1e-20 * PI.sqrt() / 2.0).abs() < 1e-34);
    }

    #[test]
    fn digamma_values() {
        let euler = 0.577_215_664_901_532_9;
        assert!((digamma(1.0) + euler).abs() < 1e-14);
        assert!((digamma(0.5) - (-euler - 2.0 * 2f64.ln())).abs() < 1e-14);
        assert!((digamma(2.5) - 0.703_156_640_645_243_2).abs() < 1e-14);
        assert!((digamma(-0.5) - 0.036_489_973_978_576_52).abs() < 1e-13);
        assert!((digamma(100.0) - 4.600_161_852_738_087).abs() < 1e-13);
        assert!(digamma(0.0).is_nan());
        assert!(digamma(-3.0).is_nan());
    }
}
