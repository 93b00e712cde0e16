//! More element-wise NumPy math: `hypot`, `logaddexp`, `heaviside`, `sinc`, `fmax`,
//! `isclose`, `nan_to_num`, `gcd`, `ldexp`, `i0`, ... (real-valued; ceras has no
//! complex dtypes, so `real` / `conj` are identities and `imag` is zero).

use super::*;
use crate::dtype::DType;
use crate::error::dtype_err;

/// Largest finite value of a float dtype (NumPy's `finfo(d).max`); the largest
/// value of an integer dtype.
pub(crate) fn dtype_max(d: DType) -> f64 {
    match d {
        DType::F16 => 65504.0,
        DType::BF16 => 3.389_531_389_251_535_5e38,
        DType::F32 => f32::MAX as f64,
        DType::F64 => f64::MAX,
        DType::Bool => 1.0,
        DType::I8 => i8::MAX as f64,
        DType::I16 => i16::MAX as f64,
        DType::I32 => i32::MAX as f64,
        DType::I64 => i64::MAX as f64,
        DType::U8 => u8::MAX as f64,
        DType::U16 => u16::MAX as f64,
        DType::U32 => u32::MAX as f64,
        DType::U64 => u64::MAX as f64,
    }
}

/// Smallest (most negative) finite value of a dtype.
pub(crate) fn dtype_min(d: DType) -> f64 {
    match d {
        DType::Bool => 0.0,
        DType::I8 => i8::MIN as f64,
        DType::I16 => i16::MIN as f64,
        DType::I32 => i32::MIN as f64,
        DType::I64 => i64::MIN as f64,
        d if d.is_unsigned_int() => 0.0,
        d => -dtype_max(d),
    }
}

/// The identity of `max` for a dtype: `-inf` for floats, the minimum for integers.
pub(crate) fn lowest(d: DType) -> f64 {
    if d.is_float() {
        f64::NEG_INFINITY
    } else {
        dtype_min(d)
    }
}

/// The identity of `min` for a dtype: `+inf` for floats, the maximum for integers.
pub(crate) fn highest(d: DType) -> f64 {
    if d.is_float() {
        f64::INFINITY
    } else {
        dtype_max(d)
    }
}

/// Converts `x` to `d` and scales it by a constant (`x * c`).
fn scale(x: Tensor, c: f64) -> Result<Tensor> {
    let d = float_dtype(&[&x]);
    let weak = x.is_weak();
    Ok(lax::mul_scalar(&lax::convert(&x, d)?, c)?.with_weak(weak))
}

/// Degrees to radians; integer inputs give `floatx`.
pub fn deg2rad(x: impl IntoTensor) -> Result<Tensor> {
    scale(x.into_tensor()?, std::f64::consts::PI / 180.0)
}

/// Radians to degrees; integer inputs give `floatx`.
pub fn rad2deg(x: impl IntoTensor) -> Result<Tensor> {
    scale(x.into_tensor()?, 180.0 / std::f64::consts::PI)
}

/// Promotes two arguments to a common floating dtype (Keras's
/// `result_type(x1, x2, float)`) and broadcasts them.
fn float_pair(
    op: &str,
    x1: impl IntoTensor,
    x2: impl IntoTensor,
) -> Result<(Tensor, Tensor, bool)> {
    let (a, b) = (x1.into_tensor()?, x2.into_tensor()?);
    let weak = a.is_weak() && b.is_weak();
    let d = float_dtype(&[&a, &b]);
    let (a, b) = promote2(op, &a, &b, d)?;
    Ok((a, b, weak))
}

fn is_zero(x: &Tensor) -> Result<Tensor> {
    lax::compare(CmpOp::Eq, x, &lax::zeros_like(x)?)
}

/// `sqrt(x1**2 + x2**2)`, computed without undue overflow; integer inputs give floats.
pub fn hypot(x1: impl IntoTensor, x2: impl IntoTensor) -> Result<Tensor> {
    let (a, b, weak) = float_pair("hypot", x1, x2)?;
    let a = lax::unary(UnaryOp::Abs, &a)?;
    let b = lax::unary(UnaryOp::Abs, &b)?;
    let inf = lax::full_like(&a, f64::INFINITY)?;
    let any_inf = lax::binary(
        BinaryOp::Or,
        &lax::compare(CmpOp::Eq, &a, &inf)?,
        &lax::compare(CmpOp::Eq, &b, &inf)?,
    )?;
    let hi = lax::binary(BinaryOp::Max, &a, &b)?;
    let lo = lax::binary(BinaryOp::Min, &a, &b)?;
    let hi0 = is_zero(&hi)?;
    let safe = lax::select(&hi0, &lax::full_like(&hi, 1.0)?, &hi)?;
    let r = lax::div(&lo, &safe)?;
    let s = lax::unary(UnaryOp::Sqrt, &lax::add_scalar(&lax::mul(&r, &r)?, 1.0)?)?;
    let out = lax::select(&hi0, &hi, &lax::mul(&hi, &s)?)?;
    Ok(lax::select(&any_inf, &inf, &out)?.with_weak(weak))
}

fn logaddexp_impl(
    op: &str,
    x1: impl IntoTensor,
    x2: impl IntoTensor,
    base2: bool,
) -> Result<Tensor> {
    let (a, b, weak) = float_pair(op, x1, x2)?;
    let amax = lax::binary(BinaryOp::Max, &a, &b)?;
    let delta = lax::sub(&a, &b)?;
    let nad = lax::neg(&lax::unary(UnaryOp::Abs, &delta)?)?;
    let tail = if base2 {
        let e = lax::unary(UnaryOp::Exp2, &nad)?;
        lax::mul_scalar(
            &lax::unary(UnaryOp::Log1p, &e)?,
            1.0 / std::f64::consts::LN_2,
        )?
    } else {
        lax::unary(UnaryOp::Log1p, &lax::unary(UnaryOp::Exp, &nad)?)?
    };
    let out = lax::add(&amax, &tail)?;
    // Where delta is NaN (NaN inputs, or equal infinities), use x1 + x2.
    let dnan = lax::unary(UnaryOp::IsNan, &delta)?;
    Ok(lax::select(&dnan, &lax::add(&a, &b)?, &out)?.with_weak(weak))
}

/// `log(exp(x1) + exp(x2))`, computed stably.
pub fn logaddexp(x1: impl IntoTensor, x2: impl IntoTensor) -> Result<Tensor> {
    logaddexp_impl("logaddexp", x1, x2, false)
}

/// `log2(2**x1 + 2**x2)`, computed stably.
pub fn logaddexp2(x1: impl IntoTensor, x2: impl IntoTensor) -> Result<Tensor> {
    logaddexp_impl("logaddexp2", x1, x2, true)
}

/// Heaviside step: `0` where `x1 < 0`, `x2` where `x1 == 0`, `1` where `x1 > 0`.
pub fn heaviside(x1: impl IntoTensor, x2: impl IntoTensor) -> Result<Tensor> {
    let (a, b, weak) = float_pair("heaviside", x1, x2)?;
    let zero = lax::zeros_like(&a)?;
    let one = lax::full_like(&a, 1.0)?;
    let pos = lax::select(&lax::compare(CmpOp::Gt, &a, &zero)?, &one, &b)?;
    Ok(lax::select(&lax::compare(CmpOp::Lt, &a, &zero)?, &zero, &pos)?.with_weak(weak))
}

/// Normalized sinc, `sin(pi x) / (pi x)` (1 at 0); integer inputs give floats.
pub fn sinc(x: impl IntoTensor) -> Result<Tensor> {
    let x = x.into_tensor()?;
    let weak = x.is_weak();
    let d = float_dtype(&[&x]);
    let x = lax::convert(&x, d)?;
    let z = is_zero(&x)?;
    let safe = lax::select(&z, &lax::full_like(&x, 1.0)?, &x)?;
    let px = lax::mul_scalar(&safe, std::f64::consts::PI)?;
    let r = lax::div(&lax::unary(UnaryOp::Sin, &px)?, &px)?;
    Ok(lax::select(&z, &lax::full_like(&x, 1.0)?, &r)?.with_weak(weak))
}

/// True where the sign bit is set (negative numbers and `-0.0`).
pub fn signbit(x: impl IntoTensor) -> Result<Tensor> {
    let x = x.into_tensor()?;
    let d = x.dtype();
    if d == DType::Bool || d.is_unsigned_int() {
        return lax::full(x.shape(), 0.0, DType::Bool);
    }
    let zero = lax::zeros_like(&x)?;
    let neg = lax::compare(CmpOp::Lt, &x, &zero)?;
    if !d.is_float() {
        return Ok(neg);
    }
    // -0.0: equal to zero, but 1 / x is -inf.
    let inv = lax::div(&lax::full_like(&x, 1.0)?, &x)?;
    let negz = lax::binary(
        BinaryOp::And,
        &is_zero(&x)?,
        &lax::compare(CmpOp::Lt, &inv, &zero)?,
    )?;
    lax::binary(BinaryOp::Or, &neg, &negz)
}

fn fminmax(op: &str, x1: impl IntoTensor, x2: impl IntoTensor, max: bool) -> Result<Tensor> {
    let (a, b) = (x1.into_tensor()?, x2.into_tensor()?);
    let r = if max {
        maximum(&a, &b)?
    } else {
        minimum(&a, &b)?
    };
    if !r.dtype().is_float() {
        return Ok(r);
    }
    let weak = r.is_weak();
    let (a, b) = promote2(op, &a, &b, r.dtype())?;
    let r = lax::select(&lax::unary(UnaryOp::IsNan, &b)?, &a, &r)?;
    Ok(lax::select(&lax::unary(UnaryOp::IsNan, &a)?, &b, &r)?.with_weak(weak))
}

/// Element-wise maximum that ignores NaNs (NaN only where both are NaN).
pub fn fmax(x1: impl IntoTensor, x2: impl IntoTensor) -> Result<Tensor> {
    fminmax("fmax", x1, x2, true)
}

/// Element-wise minimum that ignores NaNs.
pub fn fmin(x1: impl IntoTensor, x2: impl IntoTensor) -> Result<Tensor> {
    fminmax("fmin", x1, x2, false)
}

/// `|x1 - x2| <= atol + rtol * |x2|` element-wise (infinities equal only to
/// themselves; NaNs equal only with `equal_nan`). Keras's defaults are
/// `rtol = 1e-5`, `atol = 1e-8`, `equal_nan = false`.
pub fn isclose(
    x1: impl IntoTensor,
    x2: impl IntoTensor,
    rtol: f64,
    atol: f64,
    equal_nan: bool,
) -> Result<Tensor> {
    let (a, b, _) = float_pair("isclose", x1, x2)?;
    let diff = lax::unary(UnaryOp::Abs, &lax::sub(&a, &b)?)?;
    let tol = lax::add_scalar(
        &lax::mul_scalar(&lax::unary(UnaryOp::Abs, &b)?, rtol)?,
        atol,
    )?;
    let mut out = lax::compare(CmpOp::Le, &diff, &tol)?;
    let ainf = lax::unary(UnaryOp::IsInf, &a)?;
    let binf = lax::unary(UnaryOp::IsInf, &b)?;
    let any_inf = lax::binary(BinaryOp::Or, &ainf, &binf)?;
    out = lax::binary(BinaryOp::And, &out, &lax::unary(UnaryOp::Not, &any_inf)?)?;
    let same_inf = lax::binary(
        BinaryOp::And,
        &lax::binary(BinaryOp::And, &ainf, &binf)?,
        &lax::compare(CmpOp::Eq, &a, &b)?,
    )?;
    out = lax::binary(BinaryOp::Or, &out, &same_inf)?;
    let anan = lax::unary(UnaryOp::IsNan, &a)?;
    let bnan = lax::unary(UnaryOp::IsNan, &b)?;
    out = lax::binary(
        BinaryOp::And,
        &out,
        &lax::unary(UnaryOp::Not, &lax::binary(BinaryOp::Or, &anan, &bnan)?)?,
    )?;
    if equal_nan {
        out = lax::binary(
            BinaryOp::Or,
            &out,
            &lax::binary(BinaryOp::And, &anan, &bnan)?,
        )?;
    }
    Ok(out)
}

/// True (a 0-d bool) when every element of [`isclose`] is true.
pub fn allclose(
    x1: impl IntoTensor,
    x2: impl IntoTensor,
    rtol: f64,
    atol: f64,
    equal_nan: bool,
) -> Result<Tensor> {
    let c = isclose(x1, x2, rtol, atol, equal_nan)?;
    all(&c, None, false)
}

fn isinf_signed(x: impl IntoTensor, v: f64) -> Result<Tensor> {
    let x = x.into_tensor()?;
    if !x.dtype().is_float() {
        return lax::full(x.shape(), 0.0, DType::Bool);
    }
    lax::compare(CmpOp::Eq, &x, &lax::full_like(&x, v)?)
}

/// True where `x` is `-inf`.
pub fn isneginf(x: impl IntoTensor) -> Result<Tensor> {
    isinf_signed(x, f64::NEG_INFINITY)
}

/// True where `x` is `+inf`.
pub fn isposinf(x: impl IntoTensor) -> Result<Tensor> {
    isinf_signed(x, f64::INFINITY)
}

/// True where the imaginary part is zero: always, for ceras's real dtypes.
pub fn isreal(x: impl IntoTensor) -> Result<Tensor> {
    let x = x.into_tensor()?;
    lax::full(x.shape(), 1.0, DType::Bool)
}

/// Real part: `x` itself for real dtypes.
pub fn real(x: impl IntoTensor) -> Result<Tensor> {
    x.into_tensor()
}

/// Imaginary part: zeros of `x`'s dtype for real dtypes.
pub fn imag(x: impl IntoTensor) -> Result<Tensor> {
    let x = x.into_tensor()?;
    lax::zeros_like(&x)
}

/// Complex conjugate: `x` itself for real dtypes.
pub fn conjugate(x: impl IntoTensor) -> Result<Tensor> {
    x.into_tensor()
}

/// Alias of [`conjugate`].
pub fn conj(x: impl IntoTensor) -> Result<Tensor> {
    conjugate(x)
}

/// Argument (angle) of `x`: `pi` for negative reals, `0` otherwise; in a float dtype.
pub fn angle(x: impl IntoTensor) -> Result<Tensor> {
    let x = x.into_tensor()?;
    let d = float_dtype(&[&x]);
    let x = lax::convert(&x, d)?;
    lax::binary(BinaryOp::Atan2, &lax::zeros_like(&x)?, &x)
}

/// A copy of `x` (tensors are immutable, so this is the same value).
pub fn copy(x: impl IntoTensor) -> Result<Tensor> {
    x.into_tensor()
}

/// Replaces NaN with `nan`, `+inf` with `posinf` (default: the dtype's largest
/// finite value) and `-inf` with `neginf` (default: the most negative finite value).
/// Integer and bool tensors are returned unchanged.
pub fn nan_to_num(
    x: impl IntoTensor,
    nan: f64,
    posinf: Option<f64>,
    neginf: Option<f64>,
) -> Result<Tensor> {
    let x = x.into_tensor()?;
    let d = x.dtype();
    if !d.is_float() {
        return Ok(x);
    }
    let weak = x.is_weak();
    let pinf = lax::full_like(&x, f64::INFINITY)?;
    let ninf = lax::full_like(&x, f64::NEG_INFINITY)?;
    let mut out = lax::select(
        &lax::unary(UnaryOp::IsNan, &x)?,
        &lax::full_like(&x, nan)?,
        &x,
    )?;
    out = lax::select(
        &lax::compare(CmpOp::Eq, &x, &pinf)?,
        &lax::full_like(&x, posinf.unwrap_or(dtype_max(d)))?,
        &out,
    )?;
    out = lax::select(
        &lax::compare(CmpOp::Eq, &x, &ninf)?,
        &lax::full_like(&x, neginf.unwrap_or(dtype_min(d)))?,
        &out,
    )?;
    Ok(out.with_weak(weak))
}

fn int_pair(op: &str, x1: impl IntoTensor, x2: impl IntoTensor) -> Result<(Tensor, Tensor, bool)> {
    let (a, b) = (x1.into_tensor()?, x2.into_tensor()?);
    let (d, weak) = result_dtype_weak(&[&a, &b]);
    if !d.is_int() {
        return Err(dtype_err(
            op,
            format!(
                "expected integer inputs, got {} and {}",
                a.dtype(),
                b.dtype()
            ),
        ));
    }
    let (a, b) = promote2(op, &a, &b, d)?;
    Ok((a, b, weak))
}

/// `|x|` for signed integers (identity for unsigned).
fn int_abs(x: &Tensor) -> Result<Tensor> {
    if x.dtype().is_unsigned_int() {
        Ok(x.clone())
    } else {
        lax::unary(UnaryOp::Abs, x)
    }
}

/// Greatest common divisor by Euclid's algorithm, unrolled for the worst case of
/// the dtype's bit width (with an early exit on concrete tensors).
fn gcd_impl(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let (mut a, mut b) = (int_abs(a)?, int_abs(b)?);
    // Fibonacci bound on the number of Euclid steps for values below 2^bits.
    let steps = match a.dtype().bits() {
        8 => 14,
        16 => 26,
        32 => 48,
        _ => 94,
    };
    let zero = lax::zeros_like(&a)?;
    let one = lax::full_like(&a, 1.0)?;
    for _ in 0..steps {
        let nz = lax::compare(CmpOp::Ne, &b, &zero)?;
        if !nz.is_traced() && nz.to_i64_vec()?.iter().all(|&v| v == 0) {
            break;
        }
        let safe = lax::select(&nz, &b, &one)?;
        let r = lax::binary(BinaryOp::Rem, &a, &safe)?;
        let na = lax::select(&nz, &b, &a)?;
        b = lax::select(&nz, &r, &zero)?;
        a = na;
    }
    Ok(a)
}

/// Greatest common divisor of `|x1|` and `|x2|` (integer inputs).
pub fn gcd(x1: impl IntoTensor, x2: impl IntoTensor) -> Result<Tensor> {
    let (a, b, weak) = int_pair("gcd", x1, x2)?;
    Ok(gcd_impl(&a, &b)?.with_weak(weak))
}

/// Least common multiple of `|x1|` and `|x2|` (integer inputs; 0 if either is 0).
pub fn lcm(x1: impl IntoTensor, x2: impl IntoTensor) -> Result<Tensor> {
    let (a, b, weak) = int_pair("lcm", x1, x2)?;
    let g = gcd_impl(&a, &b)?;
    let g0 = is_zero(&g)?;
    let safe = lax::select(&g0, &lax::full_like(&g, 1.0)?, &g)?;
    let q = lax::div(&int_abs(&b)?, &safe)?;
    let l = lax::mul(&int_abs(&a)?, &q)?;
    Ok(lax::select(&g0, &lax::zeros_like(&l)?, &l)?.with_weak(weak))
}

/// `x1 * 2**x2`; `x2` must be an integer tensor. The result has `x1`'s float dtype
/// (integer `x1` gives `floatx`).
pub fn ldexp(x1: impl IntoTensor, x2: impl IntoTensor) -> Result<Tensor> {
    let (a, b) = (x1.into_tensor()?, x2.into_tensor()?);
    if !b.dtype().is_int() {
        return Err(dtype_err(
            "ldexp",
            format!(
                "the exponent x2 must have an integer dtype, got {}",
                b.dtype()
            ),
        ));
    }
    let d = float_dtype(&[&a]);
    // Compute in at least float32 so that 2**x2 does not overflow early in half precision.
    let acc = if d == DType::F64 {
        DType::F64
    } else {
        DType::F32
    };
    let shape = crate::shape::broadcast_shapes("ldexp", a.shape(), b.shape())?;
    let af = lax::broadcast_to(&lax::convert(&a, acc)?, &shape)?;
    let bf = lax::broadcast_to(&lax::convert(&b, acc)?, &shape)?;
    let r = lax::mul(&af, &lax::unary(UnaryOp::Exp2, &bf)?)?;
    Ok(lax::convert(&r, d)?.with_weak(a.is_weak() && b.is_weak()))
}

/// Evaluates a Chebyshev series (Cephes `chbevl`) at `x`.
fn chbevl(x: &Tensor, coef: &[f64]) -> Result<Tensor> {
    let mut b0 = lax::full_like(x, coef[0])?;
    let mut b1 = lax::zeros_like(x)?;
    let mut b2 = lax::zeros_like(x)?;
    for &c in &coef[1..] {
        b2 = b1;
        b1 = b0;
        b0 = lax::add_scalar(&lax::sub(&lax::mul(x, &b1)?, &b2)?, c)?;
    }
    lax::mul_scalar(&lax::sub(&b0, &b2)?, 0.5)
}

#[allow(clippy::excessive_precision)]
const I0_A: [f64; 30] = [
    -4.415_341_646_479_339_4e-18,
    3.330_794_518_222_739_5e-17,
    -2.431_279_846_547_955e-16,
    1.715_391_285_555_133e-15,
    -1.168_533_287_799_345_1e-14,
    7.676_185_498_604_936e-14,
    -4.856_446_783_111_929_5e-13,
    2.955_052_663_129_64e-12,
    -1.726_826_291_441_555_7e-11,
    9.675_809_035_373_237e-11,
    -5.189_795_601_635_263e-10,
    2.659_823_724_682_386_6e-9,
    -1.300_025_009_986_248e-8,
    6.046_995_022_541_919e-8,
    -2.670_793_853_940_612e-7,
    1.117_387_539_120_103_7e-6,
    -4.416_738_358_458_75e-6,
    1.644_844_807_072_889_6e-5,
    -5.754_195_010_082_104e-5,
    1.885_028_850_958_416_6e-4,
    -5.763_755_745_385_824e-4,
    1.639_475_616_941_335_8e-3,
    -4.324_309_995_050_576e-3,
    1.054_646_039_459_499_8e-2,
    -2.373_741_480_589_946_6e-2,
    4.930_528_423_967_071e-2,
    -9.490_109_704_804_764e-2,
    1.716_209_015_222_087_8e-1,
    -3.046_826_723_431_984e-1,
    6.767_952_744_094_761e-1,
];

#[allow(clippy::excessive_precision)]
const I0_B: [f64; 25] = [
    -7.233_180_487_874_754e-18,
    -4.830_504_485_944_182e-18,
    4.461_562_828_562_27e-17,
    3.461_222_867_697_461e-17,
    -2.827_623_980_516_583_5e-16,
    -3.425_485_619_677_219e-16,
    1.772_560_133_056_526_4e-15,
    3.811_680_669_352_622_4e-15,
    -9.554_846_698_828_307e-15,
    -4.150_569_347_287_222e-14,
    1.540_086_217_521_41e-14,
    3.852_778_382_742_142_6e-13,
    7.180_124_451_383_666e-13,
    -1.794_178_531_506_806_2e-12,
    -1.321_581_184_044_771_3e-11,
    -3.149_916_527_963_241_6e-11,
    1.188_914_710_784_643_8e-11,
    4.940_602_388_224_97e-10,
    3.396_232_025_708_386_5e-9,
    2.266_668_990_498_178e-8,
    2.048_918_589_469_063_7e-7,
    2.891_370_520_834_756_7e-6,
    6.889_758_346_916_825e-5,
    3.369_116_478_255_694e-3,
    8.044_904_110_141_088e-1,
];

/// Modified Bessel function of the first kind, order 0. Integer inputs give
/// `floatx` (`float64` for `int64`); half precision is computed in float32.
pub fn i0(x: impl IntoTensor) -> Result<Tensor> {
    let x = x.into_tensor()?;
    let d = match x.dtype() {
        DType::I64 | DType::F64 => DType::F64,
        DType::F16 | DType::BF16 => x.dtype(),
        _ => config::floatx(),
    };
    let acc = if d == DType::F64 {
        DType::F64
    } else {
        DType::F32
    };
    let a = lax::unary(UnaryOp::Abs, &lax::convert(&x, acc)?)?;
    // |x| <= 8: exp(|x|) * chbevl(|x| / 2 - 2, A); else exp(|x|) * chbevl(32 / |x| - 2, B) / sqrt(|x|).
    let small = lax::compare(CmpOp::Le, &a, &lax::full_like(&a, 8.0)?)?;
    let ys = lax::add_scalar(&lax::mul_scalar(&a, 0.5)?, -2.0)?;
    let vs = chbevl(&ys, &I0_A)?;
    let safe = lax::select(&small, &lax::full_like(&a, 8.0)?, &a)?;
    let yl = lax::add_scalar(&lax::div(&lax::full_like(&a, 32.0)?, &safe)?, -2.0)?;
    let vl = lax::div(&chbevl(&yl, &I0_B)?, &lax::unary(UnaryOp::Sqrt, &safe)?)?;
    let v = lax::select(&small, &vs, &vl)?;
    let r = lax::mul(&lax::unary(UnaryOp::Exp, &a)?, &v)?;
    lax::convert(&r, d)
}

/// `i0` of one `f64` (host-side, for window functions).
pub(crate) fn i0_f64(x: f64) -> f64 {
    let cheb = |x: f64, c: &[f64]| -> f64 {
        let (mut b0, mut b1, mut b2) = (c[0], 0.0, 0.0);
        for &k in &c[1..] {
            b2 = b1;
            b1 = b0;
            b0 = x * b1 - b2 + k;
        }
        0.5 * (b0 - b2)
    };
    let a = x.abs();
    if a <= 8.0 {
        a.exp() * cheb(a / 2.0 - 2.0, &I0_A)
    } else {
        a.exp() * cheb(32.0 / a - 2.0, &I0_B) / a.sqrt()
    }
}

/// The representable value of `d` next to `v` toward zero (`v` itself for 0).
fn next_toward_zero(d: DType, v: f64) -> f64 {
    if v == 0.0 {
        return v;
    }
    if !d.is_float() {
        return v - v.signum();
    }
    // IEEE formats are sign-magnitude: decrementing the bit pattern moves toward zero.
    let mut b = crate::storage::HostData::from_f64(d, &[v]).to_le_bytes();
    let mut borrow = true;
    for byte in b.iter_mut() {
        if !borrow {
            break;
        }
        let (nb, o) = byte.overflowing_sub(1);
        *byte = nb;
        borrow = o;
    }
    crate::storage::HostData::from_le_bytes(d, &b)
        .map(|h| h.to_f64_vec()[0])
        .unwrap_or(v)
}

/// Casts to `dtype` (default `floatx`) after clipping `x` to the range the target
/// can hold, so out-of-range values saturate instead of wrapping (Keras's
/// `saturate_cast`).
pub fn saturate_cast(x: impl IntoTensor, dtype: Option<DType>) -> Result<Tensor> {
    let x = x.into_tensor()?;
    let d = dtype.unwrap_or_else(config::floatx);
    let ind = x.dtype();
    let round = |v: f64| crate::storage::HostData::from_f64(ind, &[v]).to_f64_vec()[0];
    let (omin, omax) = (dtype_min(d), dtype_max(d));
    let mut lo = round(dtype_min(ind).max(omin));
    if lo < omin {
        lo = next_toward_zero(ind, lo);
    }
    let mut hi = round(dtype_max(ind).min(omax));
    if hi > omax {
        hi = next_toward_zero(ind, hi);
    }
    let xc = if ind == DType::Bool {
        lax::convert(&x, DType::I32)?
    } else {
        x
    };
    let c = lax::binary(BinaryOp::Min, &xc, &lax::full_like(&xc, hi)?)?;
    let c = lax::binary(BinaryOp::Max, &c, &lax::full_like(&c, lo)?)?;
    lax::convert(&c, d)
}
