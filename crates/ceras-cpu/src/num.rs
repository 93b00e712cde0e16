//! Numeric traits the kernels are generic over, and dtype-dispatch macros.
//!
//! [`Num`] covers every non-bool element type with an accumulator type [`Acc`]
//! (`f32` for `f16` / `bf16`, the type itself otherwise). [`Float`] is the math of
//! `f32` / `f64`; [`Int`] the XLA integer semantics.

use ceras_core::Element;
use half::{bf16, f16};
use std::fmt::Debug;

/// An accumulator: the arithmetic reductions run in.
pub(crate) trait Acc: Copy + Send + Sync + PartialOrd + Debug + Default + 'static {
    const ZERO: Self;
    const ONE: Self;
    /// `-inf` or the type's minimum (identity of max).
    const LOWEST: Self;
    /// `+inf` or the type's maximum (identity of min).
    const HIGHEST: Self;
    /// Addition (wrapping for integers).
    fn add(self, o: Self) -> Self;
    /// Multiplication (wrapping for integers).
    fn mul(self, o: Self) -> Self;
    /// Maximum, NaN-propagating.
    fn max_nan(self, o: Self) -> Self;
    /// Minimum, NaN-propagating.
    fn min_nan(self, o: Self) -> Self;
}

macro_rules! acc_int {
    ($($t:ty),*) => {$(
        impl Acc for $t {
            const ZERO: Self = 0;
            const ONE: Self = 1;
            const LOWEST: Self = <$t>::MIN;
            const HIGHEST: Self = <$t>::MAX;
            #[inline(always)]
            fn add(self, o: Self) -> Self { self.wrapping_add(o) }
            #[inline(always)]
            fn mul(self, o: Self) -> Self { self.wrapping_mul(o) }
            #[inline(always)]
            fn max_nan(self, o: Self) -> Self { if self >= o { self } else { o } }
            #[inline(always)]
            fn min_nan(self, o: Self) -> Self { if self <= o { self } else { o } }
        }
    )*};
}
acc_int!(i8, i16, i32, i64, u8, u16, u32, u64);

macro_rules! acc_float {
    ($($t:ty),*) => {$(
        impl Acc for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const LOWEST: Self = <$t>::NEG_INFINITY;
            const HIGHEST: Self = <$t>::INFINITY;
            #[inline(always)]
            fn add(self, o: Self) -> Self { self + o }
            #[inline(always)]
            fn mul(self, o: Self) -> Self { self * o }
            #[inline(always)]
            #[allow(clippy::eq_op)]
            fn max_nan(self, o: Self) -> Self { if self > o || self != self { self } else { o } }
            #[inline(always)]
            #[allow(clippy::eq_op)]
            fn min_nan(self, o: Self) -> Self { if self < o || self != self { self } else { o } }
        }
    )*};
}
acc_float!(f32, f64);

/// A non-bool element type with its accumulator.
pub(crate) trait Num: Element {
    /// The accumulator type.
    type A: Acc + Element;
    /// Widens to the accumulator.
    fn to_acc(self) -> Self::A;
    /// Narrows from the accumulator (rounding for halves).
    fn from_acc(a: Self::A) -> Self;
}

macro_rules! num_self {
    ($($t:ty),*) => {$(
        impl Num for $t {
            type A = $t;
            #[inline(always)]
            fn to_acc(self) -> Self { self }
            #[inline(always)]
            fn from_acc(a: Self) -> Self { a }
        }
    )*};
}
num_self!(i8, i16, i32, i64, u8, u16, u32, u64, f32, f64);

macro_rules! num_half {
    ($($t:ty),*) => {$(
        impl Num for $t {
            type A = f32;
            #[inline(always)]
            fn to_acc(self) -> f32 { self.to_f32() }
            #[inline(always)]
            fn from_acc(a: f32) -> Self { <$t>::from_f32(a) }
        }
    )*};
}
num_half!(f16, bf16);

/// `f32` / `f64` math.
pub(crate) trait Float: Num<A = Self> + Acc {
    fn from_f64_(v: f64) -> Self;
    fn to_f64_(self) -> f64;
    fn neg(self) -> Self;
    fn div(self, o: Self) -> Self;
    fn rem(self, o: Self) -> Self;
    fn abs(self) -> Self;
    fn is_nan(self) -> bool;
    fn is_infinite(self) -> bool;
    fn is_finite(self) -> bool;
    fn signum(self) -> Self;
    fn exp(self) -> Self;
    fn exp2(self) -> Self;
    fn exp_m1(self) -> Self;
    fn ln(self) -> Self;
    fn ln_1p(self) -> Self;
    fn sqrt(self) -> Self;
    fn cbrt(self) -> Self;
    fn sin(self) -> Self;
    fn cos(self) -> Self;
    fn tan(self) -> Self;
    fn asin(self) -> Self;
    fn acos(self) -> Self;
    fn atan(self) -> Self;
    fn sinh(self) -> Self;
    fn cosh(self) -> Self;
    fn tanh(self) -> Self;
    fn asinh(self) -> Self;
    fn acosh(self) -> Self;
    fn atanh(self) -> Self;
    fn floor(self) -> Self;
    fn ceil(self) -> Self;
    fn round_ties_even(self) -> Self;
    fn trunc(self) -> Self;
    fn erf(self) -> Self;
    fn lgamma(self) -> Self;
    fn powf(self, o: Self) -> Self;
    fn atan2(self, o: Self) -> Self;
}

macro_rules! float_impl {
    ($t:ty, $erf:path, $lgamma:path) => {
        impl Float for $t {
            #[inline(always)]
            fn from_f64_(v: f64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn to_f64_(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn neg(self) -> Self {
                -self
            }
            #[inline(always)]
            fn div(self, o: Self) -> Self {
                self / o
            }
            #[inline(always)]
            fn rem(self, o: Self) -> Self {
                self % o
            }
            #[inline(always)]
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            #[inline(always)]
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
            #[inline(always)]
            fn is_infinite(self) -> bool {
                <$t>::is_infinite(self)
            }
            #[inline(always)]
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
            #[inline(always)]
            fn signum(self) -> Self {
                <$t>::signum(self)
            }
            #[inline(always)]
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            #[inline(always)]
            fn exp2(self) -> Self {
                <$t>::exp2(self)
            }
            #[inline(always)]
            fn exp_m1(self) -> Self {
                <$t>::exp_m1(self)
            }
            #[inline(always)]
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            #[inline(always)]
            fn ln_1p(self) -> Self {
                <$t>::ln_1p(self)
            }
            #[inline(always)]
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            #[inline(always)]
            fn cbrt(self) -> Self {
                <$t>::cbrt(self)
            }
            #[inline(always)]
            fn sin(self) -> Self {
                <$t>::sin(self)
            }
            #[inline(always)]
            fn cos(self) -> Self {
                <$t>::cos(self)
            }
            #[inline(always)]
            fn tan(self) -> Self {
                <$t>::tan(self)
            }
            #[inline(always)]
            fn asin(self) -> Self {
                <$t>::asin(self)
            }
            #[inline(always)]
            fn acos(self) -> Self {
                <$t>::acos(self)
            }
            #[inline(always)]
            fn atan(self) -> Self {
                <$t>::atan(self)
            }
            #[inline(always)]
            fn sinh(self) -> Self {
                <$t>::sinh(self)
            }
            #[inline(always)]
            fn cosh(self) -> Self {
                <$t>::cosh(self)
            }
            #[inline(always)]
            fn tanh(self) -> Self {
                <$t>::tanh(self)
            }
            #[inline(always)]
            fn asinh(self) -> Self {
                <$t>::asinh(self)
            }
            #[inline(always)]
            fn acosh(self) -> Self {
                <$t>::acosh(self)
            }
            #[inline(always)]
            fn atanh(self) -> Self {
                <$t>::atanh(self)
            }
            #[inline(always)]
            fn floor(self) -> Self {
                <$t>::floor(self)
            }
            #[inline(always)]
            fn ceil(self) -> Self {
                <$t>::ceil(self)
            }
            #[inline(always)]
            fn round_ties_even(self) -> Self {
                <$t>::round_ties_even(self)
            }
            #[inline(always)]
            fn trunc(self) -> Self {
                <$t>::trunc(self)
            }
            #[inline(always)]
            fn erf(self) -> Self {
                $erf(self)
            }
            #[inline(always)]
            fn lgamma(self) -> Self {
                $lgamma(self)
            }
            #[inline(always)]
            fn powf(self, o: Self) -> Self {
                <$t>::powf(self, o)
            }
            #[inline(always)]
            fn atan2(self, o: Self) -> Self {
                <$t>::atan2(self, o)
            }
        }
    };
}
float_impl!(f32, libm::erff, libm::lgammaf);
float_impl!(f64, libm::erf, libm::lgamma);

/// Integer semantics of XLA: wrapping arithmetic, no panics.
pub(crate) trait Int: Num<A = Self> + Acc + Ord {
    fn wneg(self) -> Self;
    fn wabs(self) -> Self;
    fn sign(self) -> Self;
    fn not(self) -> Self;
    /// Truncating division; `x / 0` is -1 (signed) or all ones (unsigned).
    fn xdiv(self, o: Self) -> Self;
    /// Remainder with the dividend's sign; `x % 0 = x`.
    fn xrem(self, o: Self) -> Self;
    /// Power by squaring; a negative exponent gives 0 unless the base is ±1.
    fn xpow(self, o: Self) -> Self;
    fn and(self, o: Self) -> Self;
    fn or(self, o: Self) -> Self;
    fn xor(self, o: Self) -> Self;
    /// Shift left; an amount ≥ the bit width gives 0.
    fn shl(self, o: Self) -> Self;
    /// Shift right (arithmetic for signed); an amount ≥ the bit width gives 0 or -1.
    fn shr(self, o: Self) -> Self;
}

macro_rules! int_common {
    ($t:ty) => {
        #[inline(always)]
        fn wneg(self) -> Self {
            self.wrapping_neg()
        }
        #[inline(always)]
        fn not(self) -> Self {
            !self
        }
        #[inline(always)]
        fn xrem(self, o: Self) -> Self {
            if o == 0 {
                self
            } else {
                self.wrapping_rem(o)
            }
        }
        #[inline(always)]
        fn and(self, o: Self) -> Self {
            self & o
        }
        #[inline(always)]
        fn or(self, o: Self) -> Self {
            self | o
        }
        #[inline(always)]
        fn xor(self, o: Self) -> Self {
            self ^ o
        }
        #[inline(always)]
        fn shl(self, o: Self) -> Self {
            let a = o as u64;
            if a >= <$t>::BITS as u64 {
                0
            } else {
                self << a
            }
        }
    };
}

/// Power by squaring with wrapping multiplication (`e` ≥ 0).
#[inline]
fn pow_sq<T: Acc + Copy>(mut base: T, mut e: u64) -> T {
    let mut r = T::ONE;
    while e > 0 {
        if e & 1 == 1 {
            r = r.mul(base);
        }
        e >>= 1;
        if e > 0 {
            base = base.mul(base);
        }
    }
    r
}

macro_rules! int_signed {
    ($($t:ty),*) => {$(
        impl Int for $t {
            int_common!($t);
            #[inline(always)]
            fn wabs(self) -> Self { self.wrapping_abs() }
            #[inline(always)]
            fn sign(self) -> Self { self.signum() }
            #[inline(always)]
            fn xdiv(self, o: Self) -> Self { if o == 0 { -1 } else { self.wrapping_div(o) } }
            #[inline]
            fn xpow(self, e: Self) -> Self {
                if e < 0 {
                    return match self {
                        1 => 1,
                        -1 => if e & 1 == 0 { 1 } else { -1 },
                        _ => 0,
                    };
                }
                pow_sq(self, e as u64)
            }
            #[inline(always)]
            fn shr(self, o: Self) -> Self {
                let a = o as u64;
                if a >= <$t>::BITS as u64 { self >> (<$t>::BITS - 1) } else { self >> a }
            }
        }
    )*};
}
int_signed!(i8, i16, i32, i64);

macro_rules! int_unsigned {
    ($($t:ty),*) => {$(
        impl Int for $t {
            int_common!($t);
            #[inline(always)]
            fn wabs(self) -> Self { self }
            #[inline(always)]
            fn sign(self) -> Self { self.min(1) }
            #[inline(always)]
            fn xdiv(self, o: Self) -> Self { if o == 0 { <$t>::MAX } else { self / o } }
            #[inline]
            fn xpow(self, e: Self) -> Self { pow_sq(self, e as u64) }
            #[inline(always)]
            fn shr(self, o: Self) -> Self {
                let a = o as u64;
                if a >= <$t>::BITS as u64 { 0 } else { self >> a }
            }
        }
    )*};
}
int_unsigned!(u8, u16, u32, u64);

/// `nextafter` in the type's own representation.
pub(crate) trait NextAfter: Copy + PartialOrd {
    fn next_after(self, to: Self) -> Self;
}

macro_rules! next_after {
    ($($t:ty),*) => {$(
        impl NextAfter for $t {
            #[allow(clippy::eq_op)]
            fn next_after(self, y: Self) -> Self {
                if self != self || y != y {
                    return <$t>::NAN;
                }
                if self == y {
                    return y;
                }
                let zero = <$t>::from_bits(0);
                if self == zero {
                    let tiny = <$t>::from_bits(1);
                    return if y > zero { tiny } else { -tiny };
                }
                let b = self.to_bits();
                let up = (y > self) == (self > zero);
                <$t>::from_bits(if up { b + 1 } else { b - 1 })
            }
        }
    )*};
}
next_after!(f16, bf16, f32, f64);

/// Runs `$body` with `$v` bound to the elements of a non-bool [`HostData`]
/// (`ceras_core::HostData`); bool evaluates `$on_bool`.
macro_rules! num_dispatch {
    ($data:expr, $v:ident => $body:expr, bool => $on_bool:expr) => {
        match $data {
            ceras_core::HostData::I8($v) => $body,
            ceras_core::HostData::I16($v) => $body,
            ceras_core::HostData::I32($v) => $body,
            ceras_core::HostData::I64($v) => $body,
            ceras_core::HostData::U8($v) => $body,
            ceras_core::HostData::U16($v) => $body,
            ceras_core::HostData::U32($v) => $body,
            ceras_core::HostData::U64($v) => $body,
            ceras_core::HostData::F16($v) => $body,
            ceras_core::HostData::BF16($v) => $body,
            ceras_core::HostData::F32($v) => $body,
            ceras_core::HostData::F64($v) => $body,
            ceras_core::HostData::Bool(_) => $on_bool,
        }
    };
}
pub(crate) use num_dispatch;

/// Bool data as 0 / 1 bytes.
pub(crate) fn bool_to_u8(v: &[bool]) -> Vec<u8> {
    v.iter().map(|&b| b as u8).collect()
}

/// Bytes back to bool (`!= 0`).
pub(crate) fn u8_to_bool(v: &[u8]) -> Vec<bool> {
    v.iter().map(|&b| b != 0).collect()
}
