//! Element-wise math: arithmetic, comparisons, logic, transcendental functions.

use super::*;
use crate::dtype::DType;
use crate::error::dtype_err;

macro_rules! float_unary {
    ($($(#[$m:meta])* $name:ident => $op:ident),* $(,)?) => {$(
        $(#[$m])*
        ///
        /// Integer and bool inputs are computed in `floatx` (Keras's rule).
        pub fn $name(x: impl IntoTensor) -> Result<Tensor> {
            let x = x.into_tensor()?;
            let d = float_dtype(&[&x]);
            let weak = x.is_weak();
            Ok(lax::unary(UnaryOp::$op, &lax::convert(&x, d)?)?.with_weak(weak))
        }
    )*};
}

float_unary! {
    /// `exp(x)`.
    exp => Exp,
    /// `2 ** x`.
    exp2 => Exp2,
    /// `exp(x) - 1`.
    expm1 => Expm1,
    /// Natural logarithm.
    log => Log,
    /// `log(1 + x)`.
    log1p => Log1p,
    /// Square root.
    sqrt => Sqrt,
    /// `1 / sqrt(x)`.
    rsqrt => Rsqrt,
    /// Cube root.
    cbrt => Cbrt,
    /// Sine.
    sin => Sin,
    /// Cosine.
    cos => Cos,
    /// Tangent.
    tan => Tan,
    /// Inverse sine.
    arcsin => Asin,
    /// Inverse cosine.
    arccos => Acos,
    /// Inverse tangent.
    arctan => Atan,
    /// Hyperbolic sine.
    sinh => Sinh,
    /// Hyperbolic cosine.
    cosh => Cosh,
    /// Hyperbolic tangent.
    tanh => Tanh,
    /// Inverse hyperbolic sine.
    arcsinh => Asinh,
    /// Inverse hyperbolic cosine.
    arccosh => Acosh,
    /// Inverse hyperbolic tangent.
    arctanh => Atanh,
    /// Error function.
    erf => Erf,
    /// Inverse error function.
    erfinv => Erfinv,
    /// Logistic sigmoid `1 / (1 + exp(-x))`.
    sigmoid => Logistic,
    /// `log(|Γ(x)|)`.
    lgamma => Lgamma,
    /// Digamma `ψ(x)`.
    digamma => Digamma,
}

/// `1 - erf(x)`.
pub fn erfc(x: impl IntoTensor) -> Result<Tensor> {
    let e = erf(x)?;
    subtract(1.0, &e)
}

/// `log10(x)`.
pub fn log10(x: impl IntoTensor) -> Result<Tensor> {
    let l = log(x)?;
    multiply(&l, 1.0 / std::f64::consts::LN_10)
}

/// `log2(x)`.
pub fn log2(x: impl IntoTensor) -> Result<Tensor> {
    let l = log(x)?;
    multiply(&l, 1.0 / std::f64::consts::LN_2)
}

fn round_like(x: Tensor, op: UnaryOp) -> Result<Tensor> {
    // Keras: integer inputs become floatx (int64 included); floats keep their dtype.
    let d = float_dtype(&[&x]);
    let weak = x.is_weak();
    Ok(lax::unary(op, &lax::convert(&x, d)?)?.with_weak(weak))
}

/// Floor.
pub fn floor(x: impl IntoTensor) -> Result<Tensor> {
    round_like(x.into_tensor()?, UnaryOp::Floor)
}
/// Ceiling.
pub fn ceil(x: impl IntoTensor) -> Result<Tensor> {
    round_like(x.into_tensor()?, UnaryOp::Ceil)
}
/// Truncation toward zero (integers are returned unchanged).
pub fn trunc(x: impl IntoTensor) -> Result<Tensor> {
    let x = x.into_tensor()?;
    if !x.dtype().is_float() {
        return Ok(x);
    }
    lax::unary(UnaryOp::Trunc, &x)
}

/// Round half to even to `decimals` decimal places (NumPy's `round`).
pub fn round(x: impl IntoTensor, decimals: i32) -> Result<Tensor> {
    let x = x.into_tensor()?;
    if !x.dtype().is_float() {
        if decimals >= 0 {
            return Ok(x);
        }
        // Integer rounding to tens, hundreds, ... computed in float then cast back.
        let f = lax::convert(&x, config::floatx())?;
        let r = round(&f, decimals)?;
        return lax::convert(&r, x.dtype());
    }
    if decimals == 0 {
        return lax::unary(UnaryOp::Round, &x);
    }
    let factor = 10f64.powi(decimals);
    let s = lax::mul_scalar(&x, factor)?;
    let r = lax::unary(UnaryOp::Round, &s)?;
    lax::div(&r, &lax::full_like(&r, factor)?)
}

/// `-x`.
pub fn negative(x: impl IntoTensor) -> Result<Tensor> {
    let x = x.into_tensor()?;
    if x.dtype() == DType::Bool {
        return Err(dtype_err(
            "negative",
            "the numpy boolean negative is not supported; use logical_not",
        ));
    }
    Ok(lax::neg(&x)?.with_weak(x.is_weak()))
}

/// `|x|`.
pub fn absolute(x: impl IntoTensor) -> Result<Tensor> {
    let x = x.into_tensor()?;
    if x.dtype() == DType::Bool || x.dtype().is_unsigned_int() {
        return Ok(x);
    }
    Ok(lax::unary(UnaryOp::Abs, &x)?.with_weak(x.is_weak()))
}
/// Alias of [`absolute`].
pub fn abs(x: impl IntoTensor) -> Result<Tensor> {
    absolute(x)
}
/// Alias of [`absolute`] for floats (`fabs`).
pub fn fabs(x: impl IntoTensor) -> Result<Tensor> {
    let x = x.into_tensor()?;
    let d = float_dtype(&[&x]);
    absolute(lax::convert(&x, d)?)
}

/// Sign (-1, 0, 1; NaN for NaN).
pub fn sign(x: impl IntoTensor) -> Result<Tensor> {
    let x = x.into_tensor()?;
    if x.dtype() == DType::Bool {
        return Ok(x);
    }
    Ok(lax::unary(UnaryOp::Sign, &x)?.with_weak(x.is_weak()))
}

/// `x * x`.
pub fn square(x: impl IntoTensor) -> Result<Tensor> {
    let x = x.into_tensor()?;
    let x2 = if x.dtype() == DType::Bool {
        lax::convert(&x, DType::I32)?
    } else {
        x.clone()
    };
    Ok(lax::mul(&x2, &x2)?.with_weak(x.is_weak()))
}

/// `1 / x`.
pub fn reciprocal(x: impl IntoTensor) -> Result<Tensor> {
    divide(1.0, x)
}

macro_rules! arith {
    ($($(#[$m:meta])* $name:ident => $op:ident),* $(,)?) => {$(
        $(#[$m])*
        pub fn $name(x1: impl IntoTensor, x2: impl IntoTensor) -> Result<Tensor> {
            let (a, b) = (x1.into_tensor()?, x2.into_tensor()?);
            let (d, _) = result_dtype_weak(&[&a, &b]);
            let d = if d == DType::Bool && BinaryOp::$op != BinaryOp::Add && BinaryOp::$op != BinaryOp::Mul
                && BinaryOp::$op != BinaryOp::Max && BinaryOp::$op != BinaryOp::Min { DType::I32 } else { d };
            if d == DType::Bool {
                let p = match BinaryOp::$op { BinaryOp::Add | BinaryOp::Max => BinaryOp::Or, _ => BinaryOp::And };
                return binary_in(stringify!($name), p, &a, &b, d);
            }
            binary_in(stringify!($name), BinaryOp::$op, &a, &b, d)
        }
    )*};
}

arith! {
    /// `x1 + x2` with broadcasting and Keras's type promotion.
    add => Add,
    /// `x1 - x2`.
    subtract => Sub,
    /// `x1 * x2`.
    multiply => Mul,
    /// Element-wise maximum (NaN propagates).
    maximum => Max,
    /// Element-wise minimum (NaN propagates).
    minimum => Min,
}

/// `x1 ** x2`.
pub fn power(x1: impl IntoTensor, x2: impl IntoTensor) -> Result<Tensor> {
    let (a, b) = (x1.into_tensor()?, x2.into_tensor()?);
    let (d, _) = result_dtype_weak(&[&a, &b]);
    let d = if d == DType::Bool { DType::I32 } else { d };
    binary_in("power", BinaryOp::Pow, &a, &b, d)
}

/// True division; integer inputs give floats (`floatx`).
pub fn divide(x1: impl IntoTensor, x2: impl IntoTensor) -> Result<Tensor> {
    let (a, b) = (x1.into_tensor()?, x2.into_tensor()?);
    let d = float_dtype(&[&a, &b]);
    binary_in("divide", BinaryOp::Div, &a, &b, d)
}
/// Alias of [`divide`].
pub fn true_divide(x1: impl IntoTensor, x2: impl IntoTensor) -> Result<Tensor> {
    divide(x1, x2)
}

/// Division that returns 0 where the divisor is 0.
pub fn divide_no_nan(x1: impl IntoTensor, x2: impl IntoTensor) -> Result<Tensor> {
    let (a, b) = (x1.into_tensor()?, x2.into_tensor()?);
    let d = float_dtype(&[&a, &b]);
    let (x, y) = promote2("divide_no_nan", &a, &b, d)?;
    let zero = lax::zeros_like(&y)?;
    let is0 = lax::compare(CmpOp::Eq, &y, &zero)?;
    let safe = lax::select(&is0, &lax::full_like(&y, 1.0)?, &y)?;
    lax::select(&is0, &zero, &lax::div(&x, &safe)?)
}

/// Floor division (`//`), Python semantics (rounds toward -inf).
pub fn floor_divide(x1: impl IntoTensor, x2: impl IntoTensor) -> Result<Tensor> {
    let (a, b) = (x1.into_tensor()?, x2.into_tensor()?);
    let (d, weak) = result_dtype_weak(&[&a, &b]);
    let d = if d == DType::Bool { DType::I32 } else { d };
    let (x, y) = promote2("floor_divide", &a, &b, d)?;
    let r = if d.is_float() {
        lax::unary(UnaryOp::Floor, &lax::div(&x, &y)?)?
    } else {
        let q = lax::div(&x, &y)?;
        if d.is_unsigned_int() {
            q
        } else {
            // Truncated quotient, minus one when the remainder is non-zero and the signs differ.
            let r = lax::binary(BinaryOp::Rem, &x, &y)?;
            let zero = lax::zeros_like(&x)?;
            let rnz = lax::compare(CmpOp::Ne, &r, &zero)?;
            let sx = lax::compare(CmpOp::Lt, &x, &zero)?;
            let sy = lax::compare(CmpOp::Lt, &y, &zero)?;
            let diff = lax::compare(CmpOp::Ne, &sx, &sy)?;
            let adj = lax::binary(BinaryOp::And, &rnz, &diff)?;
            lax::select(&adj, &lax::sub(&q, &lax::full_like(&q, 1.0)?)?, &q)?
        }
    };
    Ok(r.with_weak(weak))
}

/// Remainder with the sign of the divisor (Python `%`).
pub fn r#mod(x1: impl IntoTensor, x2: impl IntoTensor) -> Result<Tensor> {
    let (a, b) = (x1.into_tensor()?, x2.into_tensor()?);
    let (d, weak) = result_dtype_weak(&[&a, &b]);
    let d = if d == DType::Bool { DType::I32 } else { d };
    let (x, y) = promote2("mod", &a, &b, d)?;
    let r = lax::binary(BinaryOp::Rem, &x, &y)?;
    if d.is_unsigned_int() {
        return Ok(r.with_weak(weak));
    }
    let zero = lax::zeros_like(&x)?;
    let rnz = lax::compare(CmpOp::Ne, &r, &zero)?;
    let sr = lax::compare(CmpOp::Lt, &r, &zero)?;
    let sy = lax::compare(CmpOp::Lt, &y, &zero)?;
    let diff = lax::compare(CmpOp::Ne, &sr, &sy)?;
    let adj = lax::binary(BinaryOp::And, &rnz, &diff)?;
    Ok(lax::select(&adj, &lax::add(&r, &y)?, &r)?.with_weak(weak))
}

/// Remainder with the sign of the dividend (C `fmod`).
pub fn fmod(x1: impl IntoTensor, x2: impl IntoTensor) -> Result<Tensor> {
    let (a, b) = (x1.into_tensor()?, x2.into_tensor()?);
    let (d, _) = result_dtype_weak(&[&a, &b]);
    let d = if d == DType::Bool { DType::I32 } else { d };
    binary_in("fmod", BinaryOp::Rem, &a, &b, d)
}

/// `arctan2(x1, x2)` (angle of the point `(x2, x1)`).
pub fn arctan2(x1: impl IntoTensor, x2: impl IntoTensor) -> Result<Tensor> {
    let (a, b) = (x1.into_tensor()?, x2.into_tensor()?);
    let d = float_dtype(&[&a, &b]);
    binary_in("arctan2", BinaryOp::Atan2, &a, &b, d)
}

/// Next representable float after `x1` toward `x2`.
pub fn nextafter(x1: impl IntoTensor, x2: impl IntoTensor) -> Result<Tensor> {
    let (a, b) = (x1.into_tensor()?, x2.into_tensor()?);
    let d = float_dtype(&[&a, &b]);
    binary_in("nextafter", BinaryOp::NextAfter, &a, &b, d)
}

macro_rules! comparison {
    ($($(#[$m:meta])* $name:ident => $op:ident),* $(,)?) => {$(
        $(#[$m])*
        pub fn $name(x1: impl IntoTensor, x2: impl IntoTensor) -> Result<Tensor> {
            let (a, b) = (x1.into_tensor()?, x2.into_tensor()?);
            let d = result_dtype(&[&a, &b]);
            let (x, y) = promote2(stringify!($name), &a, &b, d)?;
            lax::compare(CmpOp::$op, &x, &y)
        }
    )*};
}

comparison! {
    /// `x1 == x2`.
    equal => Eq,
    /// `x1 != x2`.
    not_equal => Ne,
    /// `x1 < x2`.
    less => Lt,
    /// `x1 <= x2`.
    less_equal => Le,
    /// `x1 > x2`.
    greater => Gt,
    /// `x1 >= x2`.
    greater_equal => Ge,
}

fn to_bool(x: &Tensor) -> Result<Tensor> {
    if x.dtype() == DType::Bool {
        return Ok(x.with_weak(false));
    }
    lax::compare(CmpOp::Ne, x, &lax::zeros_like(x)?)
}

macro_rules! logical {
    ($($(#[$m:meta])* $name:ident => $op:ident),* $(,)?) => {$(
        $(#[$m])*
        pub fn $name(x1: impl IntoTensor, x2: impl IntoTensor) -> Result<Tensor> {
            let (a, b) = (to_bool(&x1.into_tensor()?)?, to_bool(&x2.into_tensor()?)?);
            let v = broadcast_all(stringify!($name), &[&a, &b])?;
            lax::binary(BinaryOp::$op, &v[0], &v[1])
        }
    )*};
}

logical! {
    /// Logical and (inputs are truth-tested).
    logical_and => And,
    /// Logical or.
    logical_or => Or,
    /// Logical xor.
    logical_xor => Xor,
}

/// Logical not.
pub fn logical_not(x: impl IntoTensor) -> Result<Tensor> {
    lax::unary(UnaryOp::Not, &to_bool(&x.into_tensor()?)?)
}

macro_rules! bitwise {
    ($($(#[$m:meta])* $name:ident => $op:ident),* $(,)?) => {$(
        $(#[$m])*
        pub fn $name(x: impl IntoTensor, y: impl IntoTensor) -> Result<Tensor> {
            let (a, b) = (x.into_tensor()?, y.into_tensor()?);
            let d = result_dtype(&[&a, &b]);
            if d.is_float() {
                return Err(dtype_err(stringify!($name), format!("expected integer or bool inputs, got {} and {}", a.dtype(), b.dtype())));
            }
            binary_in(stringify!($name), BinaryOp::$op, &a, &b, d)
        }
    )*};
}

bitwise! {
    /// Bitwise and.
    bitwise_and => And,
    /// Bitwise or.
    bitwise_or => Or,
    /// Bitwise xor.
    bitwise_xor => Xor,
    /// Shift left.
    bitwise_left_shift => ShiftLeft,
    /// Shift right (arithmetic for signed).
    bitwise_right_shift => ShiftRight,
}

/// Alias of [`bitwise_left_shift`].
pub fn left_shift(x: impl IntoTensor, y: impl IntoTensor) -> Result<Tensor> {
    bitwise_left_shift(x, y)
}
/// Alias of [`bitwise_right_shift`].
pub fn right_shift(x: impl IntoTensor, y: impl IntoTensor) -> Result<Tensor> {
    bitwise_right_shift(x, y)
}

/// Bitwise not (logical not for bool).
pub fn bitwise_invert(x: impl IntoTensor) -> Result<Tensor> {
    let x = x.into_tensor()?;
    if x.dtype().is_float() {
        return Err(dtype_err(
            "bitwise_invert",
            format!("expected an integer or bool input, got {}", x.dtype()),
        ));
    }
    lax::unary(UnaryOp::Not, &x)
}
/// Alias of [`bitwise_invert`].
pub fn bitwise_not(x: impl IntoTensor) -> Result<Tensor> {
    bitwise_invert(x)
}

/// True where `x` is NaN.
pub fn isnan(x: impl IntoTensor) -> Result<Tensor> {
    lax::unary(UnaryOp::IsNan, &x.into_tensor()?)
}
/// True where `x` is ±inf.
pub fn isinf(x: impl IntoTensor) -> Result<Tensor> {
    lax::unary(UnaryOp::IsInf, &x.into_tensor()?)
}
/// True where `x` is finite.
pub fn isfinite(x: impl IntoTensor) -> Result<Tensor> {
    lax::unary(UnaryOp::IsFinite, &x.into_tensor()?)
}

/// Casts `x` to `dtype`.
pub fn cast(x: impl IntoTensor, dtype: DType) -> Result<Tensor> {
    lax::convert(&x.into_tensor()?, dtype)
}

/// `where(condition, x1, x2)` with broadcasting and promotion of `x1`, `x2`.
pub fn r#where(
    condition: impl IntoTensor,
    x1: impl IntoTensor,
    x2: impl IntoTensor,
) -> Result<Tensor> {
    let c = to_bool(&condition.into_tensor()?)?;
    let (a, b) = (x1.into_tensor()?, x2.into_tensor()?);
    let d = result_dtype(&[&a, &b]);
    let (a, b) = (lax::convert(&a, d)?, lax::convert(&b, d)?);
    let v = broadcast_all("where", &[&c, &a, &b])?;
    lax::select(&v[0], &v[1], &v[2])
}

/// Clips values to `[x_min, x_max]`.
pub fn clip(x: impl IntoTensor, x_min: impl IntoTensor, x_max: impl IntoTensor) -> Result<Tensor> {
    let x = x.into_tensor()?;
    let x = if x.dtype() == DType::Bool {
        lax::convert(&x, DType::I32)?
    } else {
        x
    };
    let (lo, hi) = (x_min.into_tensor()?, x_max.into_tensor()?);
    let d = result_dtype(&[&x, &lo, &hi]);
    let m = maximum(
        &lax::convert(&x, d)?,
        cast_keep(&lo, d)?.with_weak(lo.is_weak()),
    )?;
    minimum(&m, cast_keep(&hi, d)?.with_weak(hi.is_weak()))
}
