//! Element-wise primitives: unary, binary, compare, select and cast.
//!
//! The dtype and the op are dispatched once; each (op, type) pair runs its own
//! monomorphized loop. Float math is implemented for `f32` / `f64`; `f16` / `bf16`
//! go through `f32` and round back.

use crate::num::{Float, Int, NextAfter};
use crate::special;
use ceras_core::error::{dtype_err, Result};
use ceras_core::prim::{BinaryOp, CmpOp, UnaryOp};
use ceras_core::{DType, Element, HostData};
use half::{bf16, f16};
use rayon::prelude::*;

/// Arrays at least this long are processed in parallel.
pub(crate) const PAR_MIN: usize = 1 << 16;
/// Elements per parallel task.
pub(crate) const CHUNK: usize = 1 << 15;

/// `f(x)` element-wise, in parallel for large inputs.
pub(crate) fn map<T: Copy + Sync, U: Element>(x: &[T], f: impl Fn(T) -> U + Sync) -> Vec<U> {
    if x.len() < PAR_MIN {
        return x.iter().map(|&v| f(v)).collect();
    }
    let mut out = crate::pool::take::<U>(x.len());
    out.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(o, i)| {
            for (o, &i) in o.iter_mut().zip(i) {
                *o = f(i);
            }
        });
    out
}

/// `f(x, y)` element-wise, in parallel for large inputs.
pub(crate) fn map2<T: Copy + Sync, U: Element>(
    x: &[T],
    y: &[T],
    f: impl Fn(T, T) -> U + Sync,
) -> Vec<U> {
    if x.len() < PAR_MIN {
        return x.iter().zip(y).map(|(&a, &b)| f(a, b)).collect();
    }
    let mut out = crate::pool::take::<U>(x.len());
    out.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK).zip(y.par_chunks(CHUNK)))
        .for_each(|(o, (a, b))| {
            for ((o, &a), &b) in o.iter_mut().zip(a).zip(b) {
                *o = f(a, b);
            }
        });
    out
}

fn op_name<O: std::fmt::Debug>(op: O) -> String {
    format!("{op:?}").to_lowercase()
}

fn no_dtype(op: &str, d: DType) -> ceras_core::Error {
    dtype_err(
        op,
        format!("the cpu backend does not support dtype {d} for this op"),
    )
}

// ---------------------------------------------------------------- unary

/// A unary op. `Ok(None)` means the result equals the input (share the buffer).
pub(crate) fn unary(op: UnaryOp, x: &HostData) -> Result<Option<HostData>> {
    use HostData as H;
    let name = op_name(op);
    Ok(Some(match x {
        H::F32(v) => match op {
            UnaryOp::Exp => H::F32(crate::fastmath::exp(v)),
            UnaryOp::Tanh => H::F32(crate::fastmath::tanh(v)),
            UnaryOp::Logistic => H::F32(crate::fastmath::logistic(v)),
            _ => float_unary(op, v),
        },
        H::F64(v) => float_unary(op, v),
        H::F16(v) => half_unary(op, v, f16::to_f32, f16::from_f32),
        H::BF16(v) => half_unary(op, v, bf16::to_f32, bf16::from_f32),
        H::I8(v) => return int_unary(op, v),
        H::I16(v) => return int_unary(op, v),
        H::I32(v) => return int_unary(op, v),
        H::I64(v) => return int_unary(op, v),
        H::U8(v) => return int_unary(op, v),
        H::U16(v) => return int_unary(op, v),
        H::U32(v) => return int_unary(op, v),
        H::U64(v) => return int_unary(op, v),
        H::Bool(v) => match op {
            UnaryOp::Not => H::Bool(map(v, |b| !b)),
            UnaryOp::IsNan | UnaryOp::IsInf => H::Bool(vec![false; v.len()]),
            UnaryOp::IsFinite => H::Bool(vec![true; v.len()]),
            UnaryOp::Abs
            | UnaryOp::Sign
            | UnaryOp::Floor
            | UnaryOp::Ceil
            | UnaryOp::Round
            | UnaryOp::Trunc => return Ok(None),
            _ => return Err(no_dtype(&name, DType::Bool)),
        },
    }))
}

fn half_unary<H: Element>(op: UnaryOp, v: &[H], up: fn(H) -> f32, down: fn(f32) -> H) -> HostData {
    let up_v = map(v, up);
    match float_unary(op, &up_v) {
        HostData::F32(r) => H::wrap(map(&r, down)),
        other => other,
    }
}

fn float_unary<T: Float>(op: UnaryOp, v: &[T]) -> HostData {
    use UnaryOp::*;
    // Macros, not closures over `fn` pointers, so each op gets an inlined loop.
    macro_rules! f {
        ($g:expr) => {
            T::wrap(map(v, $g))
        };
    }
    macro_rules! b {
        ($g:expr) => {
            HostData::Bool(map(v, $g))
        };
    }
    match op {
        Neg => f!(T::neg),
        Abs => f!(T::abs),
        Sign => f!(|x| if x == T::ZERO || x.is_nan() {
            x
        } else {
            x.signum()
        }),
        Exp => f!(T::exp),
        Exp2 => f!(T::exp2),
        Expm1 => f!(T::exp_m1),
        Log => f!(T::ln),
        Log1p => f!(T::ln_1p),
        Sqrt => f!(T::sqrt),
        Rsqrt => f!(|x| T::ONE.div(x.sqrt())),
        Cbrt => f!(T::cbrt),
        Sin => f!(T::sin),
        Cos => f!(T::cos),
        Tan => f!(T::tan),
        Asin => f!(T::asin),
        Acos => f!(T::acos),
        Atan => f!(T::atan),
        Sinh => f!(T::sinh),
        Cosh => f!(T::cosh),
        Tanh => f!(T::tanh),
        Asinh => f!(T::asinh),
        Acosh => f!(T::acosh),
        Atanh => f!(T::atanh),
        Floor => f!(T::floor),
        Ceil => f!(T::ceil),
        Round => f!(T::round_ties_even),
        Trunc => f!(T::trunc),
        Erf => f!(T::erf),
        Erfinv => f!(|x| T::from_f64_(special::erfinv(x.to_f64_()))),
        Lgamma => f!(T::lgamma),
        Digamma => f!(|x| T::from_f64_(special::digamma(x.to_f64_()))),
        Logistic => f!(|x| {
            if x >= T::ZERO {
                T::ONE.div(T::ONE.add(x.neg().exp()))
            } else {
                let e = x.exp();
                e.div(T::ONE.add(e))
            }
        }),
        IsNan => b!(T::is_nan),
        IsInf => b!(T::is_infinite),
        IsFinite => b!(T::is_finite),
        // Rejected by `Prim::infer`; bitwise not of a float is meaningless.
        Not => HostData::Bool(vec![]),
    }
}

fn int_unary<T: Int>(op: UnaryOp, v: &[T]) -> Result<Option<HostData>> {
    use UnaryOp::*;
    macro_rules! f {
        ($g:expr) => {
            Ok(Some(T::wrap(map(v, $g))))
        };
    }
    match op {
        Neg => f!(T::wneg),
        Abs if T::DTYPE.is_signed_int() => f!(T::wabs),
        Sign => f!(T::sign),
        Not => f!(T::not),
        IsNan | IsInf => Ok(Some(HostData::Bool(vec![false; v.len()]))),
        IsFinite => Ok(Some(HostData::Bool(vec![true; v.len()]))),
        Abs | Floor | Ceil | Round | Trunc => Ok(None),
        _ => Err(no_dtype(&op_name(op), T::DTYPE)),
    }
}

// ---------------------------------------------------------------- binary

/// A binary op on operands of equal dtype and length.
pub(crate) fn binary(op: BinaryOp, a: &HostData, b: &HostData) -> Result<HostData> {
    use HostData as H;
    let name = op_name(op);
    Ok(match (a, b) {
        (H::F32(x), H::F32(y)) => float_binary(op, x, y),
        (H::F64(x), H::F64(y)) => float_binary(op, x, y),
        (H::F16(x), H::F16(y)) => half_binary(op, x, y, f16::to_f32, f16::from_f32),
        (H::BF16(x), H::BF16(y)) => half_binary(op, x, y, bf16::to_f32, bf16::from_f32),
        (H::I8(x), H::I8(y)) => int_binary(&name, op, x, y)?,
        (H::I16(x), H::I16(y)) => int_binary(&name, op, x, y)?,
        (H::I32(x), H::I32(y)) => int_binary(&name, op, x, y)?,
        (H::I64(x), H::I64(y)) => int_binary(&name, op, x, y)?,
        (H::U8(x), H::U8(y)) => int_binary(&name, op, x, y)?,
        (H::U16(x), H::U16(y)) => int_binary(&name, op, x, y)?,
        (H::U32(x), H::U32(y)) => int_binary(&name, op, x, y)?,
        (H::U64(x), H::U64(y)) => int_binary(&name, op, x, y)?,
        (H::Bool(x), H::Bool(y)) => {
            use BinaryOp::*;
            macro_rules! f {
                ($g:expr) => {
                    H::Bool(map2(x, y, $g))
                };
            }
            match op {
                Add | Or | Max => f!(|a, b| a | b),
                Mul | And | Min => f!(|a, b| a & b),
                Xor => f!(|a, b| a ^ b),
                _ => return Err(no_dtype(&name, DType::Bool)),
            }
        }
        _ => {
            return Err(dtype_err(
                &name,
                format!(
                    "operands must have equal dtypes, got {} and {}",
                    a.dtype(),
                    b.dtype()
                ),
            ))
        }
    })
}

fn half_binary<H: Element + NextAfter>(
    op: BinaryOp,
    x: &[H],
    y: &[H],
    up: fn(H) -> f32,
    down: fn(f32) -> H,
) -> HostData {
    if op == BinaryOp::NextAfter {
        return H::wrap(map2(x, y, H::next_after));
    }
    match float_binary(op, &map(x, up), &map(y, up)) {
        HostData::F32(r) => H::wrap(map(&r, down)),
        other => other,
    }
}

fn float_binary<T: Float + NextAfter>(op: BinaryOp, x: &[T], y: &[T]) -> HostData {
    use BinaryOp::*;
    macro_rules! f {
        ($g:expr) => {
            T::wrap(map2(x, y, $g))
        };
    }
    match op {
        Add => f!(T::add),
        Sub => f!(|a, b| a.add(b.neg())),
        Mul => f!(T::mul),
        Div => f!(T::div),
        Rem => f!(T::rem),
        Pow => f!(T::powf),
        Max => f!(T::max_nan),
        Min => f!(T::min_nan),
        Atan2 => f!(T::atan2),
        NextAfter => f!(T::next_after),
        // Rejected by `Prim::infer` for floats.
        And | Or | Xor | ShiftLeft | ShiftRight => HostData::Bool(vec![]),
    }
}

fn int_binary<T: Int>(name: &str, op: BinaryOp, x: &[T], y: &[T]) -> Result<HostData> {
    use BinaryOp::*;
    macro_rules! f {
        ($g:expr) => {
            Ok(T::wrap(map2(x, y, $g)))
        };
    }
    match op {
        Add => f!(T::add),
        Sub => f!(|a, b| a.add(b.wneg())),
        Mul => f!(T::mul),
        Div => f!(T::xdiv),
        Rem => f!(T::xrem),
        Pow => f!(T::xpow),
        Max => f!(T::max_nan),
        Min => f!(T::min_nan),
        And => f!(T::and),
        Or => f!(T::or),
        Xor => f!(T::xor),
        ShiftLeft => f!(T::shl),
        ShiftRight => f!(T::shr),
        Atan2 | NextAfter => Err(no_dtype(name, T::DTYPE)),
    }
}

// ---------------------------------------------------------------- compare / select / cast

/// A comparison to bool (IEEE for floats: NaN compares unequal).
pub(crate) fn compare(op: CmpOp, a: &HostData, b: &HostData) -> Result<HostData> {
    fn cmp<T: Element>(op: CmpOp, x: &[T], y: &[T]) -> Vec<bool> {
        match op {
            CmpOp::Eq => map2(x, y, |a, b| a == b),
            CmpOp::Ne => map2(x, y, |a, b| a != b),
            CmpOp::Lt => map2(x, y, |a, b| a < b),
            CmpOp::Le => map2(x, y, |a, b| a <= b),
            CmpOp::Gt => map2(x, y, |a, b| a > b),
            CmpOp::Ge => map2(x, y, |a, b| a >= b),
        }
    }
    let out = ceras_core::with_host_data!(a, x => {
        let y = Element::slice(b).ok_or_else(|| {
            dtype_err(&op_name(op), format!("operands must have equal dtypes, got {} and {}", a.dtype(), b.dtype()))
        })?;
        cmp(op, x, y)
    });
    Ok(HostData::Bool(out))
}

/// `pred ? a : b` element-wise.
pub(crate) fn select(p: &HostData, a: &HostData, b: &HostData) -> Result<HostData> {
    fn sel<T: Element>(p: &[bool], a: &[T], b: &[T]) -> Vec<T> {
        // One pass into a cached buffer (copying `a` into a fresh vector first
        // cost a page fault per 4 KiB and a second pass).
        let run = |o: &mut [T], p: &[bool], a: &[T], b: &[T]| {
            for (o, (&p, (&a, &b))) in o.iter_mut().zip(p.iter().zip(a.iter().zip(b))) {
                *o = if p { a } else { b };
            }
        };
        let mut out = crate::pool::take::<T>(p.len());
        if p.len() < PAR_MIN {
            run(&mut out, p, a, b);
        } else {
            out.par_chunks_mut(CHUNK)
                .zip(
                    p.par_chunks(CHUNK)
                        .zip(a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK))),
                )
                .for_each(|(o, (p, (a, b)))| run(o, p, a, b));
        }
        out
    }
    let HostData::Bool(p) = p else {
        return Err(dtype_err(
            "select",
            format!("predicate must be bool, got {}", p.dtype()),
        ));
    };
    Ok(ceras_core::with_host_data!(a, x => {
        let y = Element::slice(b).ok_or_else(|| {
            dtype_err("select", format!("operands must have equal dtypes, got {} and {}", a.dtype(), b.dtype()))
        })?;
        Element::wrap(sel(p, x, y))
    }))
}

/// Converts to `to` (C-like: float→int truncates and saturates, NaN → 0; to bool is `!= 0`).
pub(crate) fn cast(x: &HostData, to: DType) -> HostData {
    fn conv<S: Element, T: Element>(v: &[S]) -> HostData {
        let via_int = (T::DTYPE.is_int()) && !S::DTYPE.is_float();
        if via_int {
            T::wrap(map(v, |s| T::from_i64(s.to_i64())))
        } else {
            T::wrap(map(v, |s| T::from_f64(s.to_f64())))
        }
    }
    // Direct half <-> f32 conversions (faster than through f64, same rounding).
    match (x, to) {
        (HostData::F32(v), DType::F16) => return HostData::F16(map(v, f16::from_f32)),
        (HostData::F32(v), DType::BF16) => return HostData::BF16(map(v, bf16::from_f32)),
        (HostData::F16(v), DType::F32) => return HostData::F32(map(v, f16::to_f32)),
        (HostData::BF16(v), DType::F32) => return HostData::F32(map(v, bf16::to_f32)),
        _ => {}
    }
    ceras_core::with_host_data!(x, v => ceras_core::dispatch_dtype!(to, T => conv::<_, T>(v)))
}
