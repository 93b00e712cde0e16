//! The `torch` backend against the `cpu` backend, primitive by primitive, on the
//! same inputs (both backends are built directly, whatever the process backend).
//!
//! float32 results must agree within 1e-6 relative. Relative to what: for ops
//! that accumulate (sums, products of matrices, convolutions, pooling sums,
//! cumulative sums) the error is measured against the same op applied to the
//! absolute values of the inputs (the size of the terms summed, the usual bound
//! for a different summation order); for the rest, against the result itself.
//! Exceptions, each with its reason, are in `EXCEPTIONS` below. Integer, bool and
//! half-precision results must be identical.

#![cfg(feature = "torch")]

use ceras::backend::{make_backend, Backend, BufferRef, Operand};
use ceras::prim::*;
use ceras::{DType, HostData};
use std::sync::Arc;

/// (op name, tolerance, why): ops whose float32 results may differ by more than
/// 1e-6 relative, with the measure used instead.
const EXCEPTIONS: &[(&str, f64, &str)] = &[
    // lgamma and digamma have zeros (lgamma(1) = lgamma(2) = 0; digamma(1.4616) = 0,
    // digamma(-0.5049) = 0, ...) near which two correct implementations differ
    // relatively without bound (digamma(-0.5): 1.6e-6 relative, 6e-8 absolute):
    // these are measured against max(|result|, 1).
    ("lgamma", 1e-6, "relative to max(|y|, 1): zeros at 1 and 2"),
    (
        "digamma",
        1e-6,
        "relative to max(|y|, 1): a zero in every (-n-1, -n) and at 1.4616",
    ),
];

struct Pair {
    cpu: Arc<dyn Backend>,
    torch: Arc<dyn Backend>,
}

type In = (HostData, Vec<usize>);

/// The inputs moved into backend `b`.
fn upload(b: &Arc<dyn Backend>, ins: &[In]) -> Vec<BufferRef> {
    ins.iter()
        .map(|(d, s)| b.from_host(d.clone(), s).unwrap())
        .collect()
}

/// Operands over uploaded buffers.
fn operands<'a>(ins: &'a [In], bufs: &'a [BufferRef]) -> Vec<Operand<'a>> {
    ins.iter()
        .zip(bufs)
        .map(|((d, s), buf)| Operand {
            buf,
            shape: s,
            dtype: d.dtype(),
        })
        .collect()
}

fn run(b: &Arc<dyn Backend>, p: &Prim, ins: &[In]) -> Vec<HostData> {
    let bufs = upload(b, ins);
    let ops = operands(ins, &bufs);
    let specs: Vec<Spec> = ins
        .iter()
        .map(|(d, s)| Spec::new(s.clone(), d.dtype()))
        .collect();
    let outs = p.infer(&specs).unwrap();
    let res = b
        .execute(p, &ops, &outs)
        .unwrap_or_else(|e| panic!("{} {p:?}: {e}", b.name()));
    res.iter()
        .zip(&outs)
        .map(|(r, s)| b.to_host(r, &s.shape, s.dtype).unwrap())
        .collect()
}

/// Exact equality, with NaN equal to NaN.
fn same(a: &HostData, b: &HostData) -> bool {
    let floats = |d: &HostData| -> Option<Vec<f64>> {
        match d {
            HostData::F16(v) => Some(v.iter().map(|x| x.to_f64()).collect()),
            HostData::BF16(v) => Some(v.iter().map(|x| x.to_f64()).collect()),
            HostData::F64(v) => Some(v.clone()),
            _ => None,
        }
    };
    match (floats(a), floats(b)) {
        (Some(x), Some(y)) => {
            x.len() == y.len()
                && x.iter().zip(&y).all(|(p, q)| {
                    (p.is_nan() && q.is_nan())
                        || (p == q && p.is_sign_negative() == q.is_sign_negative())
                })
        }
        _ => a == b,
    }
}

fn abs_inputs(ins: &[In]) -> Vec<In> {
    ins.iter()
        .map(|(d, s)| match d {
            HostData::F32(v) => (
                HostData::F32(v.iter().map(|x| x.abs()).collect()),
                s.clone(),
            ),
            other => (other.clone(), s.clone()),
        })
        .collect()
}

impl Pair {
    fn new() -> Pair {
        Pair {
            cpu: make_backend("cpu").unwrap(),
            torch: make_backend("torch").unwrap(),
        }
    }

    /// Runs `p` on both backends; returns the worst relative difference (float32)
    /// and panics on any difference for other dtypes.
    fn check(&self, name: &str, p: Prim, ins: &[In], accumulates: bool) -> f64 {
        let c = run(&self.cpu, &p, ins);
        let t = run(&self.torch, &p, ins);
        let scale = if accumulates {
            Some(run(&self.cpu, &p, &abs_inputs(ins)))
        } else {
            None
        };
        let exc = EXCEPTIONS.iter().find(|e| e.0 == name);
        let tol = exc.map_or(1e-6, |e| e.1);
        let mut worst = 0.0f64;
        for (k, (cv, tv)) in c.iter().zip(&t).enumerate() {
            match (cv, tv) {
                (HostData::F32(a), HostData::F32(b)) => {
                    for (i, (&x, &y)) in a.iter().zip(b).enumerate() {
                        if x.is_nan() || y.is_nan() {
                            assert!(x.is_nan() && y.is_nan(), "{name} [{i}]: cpu {x} torch {y}");
                            continue;
                        }
                        if x == y {
                            continue;
                        }
                        let mut denom = match &scale {
                            Some(s) => match &s[k] {
                                HostData::F32(sv) => sv[i].abs() as f64,
                                _ => unreachable!(),
                            },
                            None => (x as f64).abs(),
                        };
                        if exc.is_some() {
                            denom = denom.max(1.0);
                        }
                        let rel = ((x as f64) - (y as f64)).abs() / denom.max(f64::MIN_POSITIVE);
                        assert!(
                            rel <= tol,
                            "{name} [{i}]: cpu {x:e} torch {y:e}: relative difference {rel:e} > {tol:e}"
                        );
                        worst = worst.max(rel);
                    }
                }
                (a, b) => assert!(same(a, b), "{name}: {p:?}: cpu {a:?}, torch {b:?}"),
            }
        }
        worst
    }
}

/// Deterministic pseudo-random floats in [lo, hi).
fn rand(n: usize, seed: u64, lo: f32, hi: f32) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let u = ((s >> 40) as f32) / (1u64 << 24) as f32;
            lo + (hi - lo) * u
        })
        .collect()
}

fn f32s(shape: &[usize], seed: u64, lo: f32, hi: f32) -> In {
    let n = shape.iter().product();
    (HostData::F32(rand(n, seed, lo, hi)), shape.to_vec())
}

#[test]
fn unary_ops_agree() {
    let pair = Pair::new();
    use UnaryOp::*;
    let cases: &[(UnaryOp, f32, f32)] = &[
        (Neg, -5.0, 5.0),
        (Abs, -5.0, 5.0),
        (Sign, -5.0, 5.0),
        (Exp, -20.0, 20.0),
        (Exp2, -20.0, 20.0),
        (Expm1, -3.0, 3.0),
        (Log, 1e-3, 100.0),
        (Log1p, -0.9, 10.0),
        (Sqrt, 0.0, 100.0),
        (Rsqrt, 1e-3, 100.0),
        (Cbrt, -100.0, 100.0),
        (Sin, -10.0, 10.0),
        (Cos, -10.0, 10.0),
        (Tan, -1.5, 1.5),
        (Asin, -1.0, 1.0),
        (Acos, -1.0, 1.0),
        (Atan, -10.0, 10.0),
        (Sinh, -5.0, 5.0),
        (Cosh, -5.0, 5.0),
        (Tanh, -5.0, 5.0),
        (Asinh, -10.0, 10.0),
        (Acosh, 1.0, 10.0),
        (Atanh, -0.99, 0.99),
        (Floor, -5.0, 5.0),
        (Ceil, -5.0, 5.0),
        (Round, -5.0, 5.0),
        (Trunc, -5.0, 5.0),
        (Erf, -3.0, 3.0),
        (Erfinv, -0.99, 0.99),
        (Lgamma, 0.1, 10.0),
        (Digamma, 0.1, 10.0),
        (Logistic, -20.0, 20.0),
        (IsNan, -1.0, 1.0),
        (IsInf, -1.0, 1.0),
        (IsFinite, -1.0, 1.0),
    ];
    let mut report = Vec::new();
    for (i, &(op, lo, hi)) in cases.iter().enumerate() {
        let mut x = f32s(&[257], i as u64, lo, hi);
        if let HostData::F32(v) = &mut x.0 {
            // Edge values every op must handle alike.
            v[0] = 0.0;
            v[1] = -0.0;
            v[2] = f32::NAN;
            if !matches!(op, Lgamma | Digamma) {
                v[3] = f32::INFINITY;
                v[4] = f32::NEG_INFINITY;
            }
            v[5] = 2.5; // a rounding tie
            v[6] = -0.5;
        }
        let name = format!("{op:?}").to_lowercase();
        let w = pair.check(&name, Prim::Unary(op), &[x], false);
        report.push(format!("{name} {w:.1e}"));
    }
    println!("worst relative differences: {}", report.join(", "));
}

#[test]
fn binary_compare_select_agree() {
    let pair = Pair::new();
    use BinaryOp::*;
    let s = [33, 7];
    for (i, op) in [Add, Sub, Mul, Div, Rem, Pow, Max, Min, Atan2, NextAfter]
        .into_iter()
        .enumerate()
    {
        let (lo, hi) = if op == Pow { (0.1, 3.0) } else { (-10.0, 10.0) };
        let a = f32s(&s, 100 + i as u64, lo, hi);
        let b = f32s(&s, 200 + i as u64, lo, hi);
        pair.check(&format!("{op:?}"), Prim::Binary(op), &[a, b], false);
    }
    // Integer and bool ops are exact (XLA semantics: division by zero, shifts).
    let ia: Vec<i32> = (0..64).map(|i| (i * 7919 % 201) - 100).collect();
    let ib: Vec<i32> = (0..64).map(|i| (i * 104729 % 41) - 20).collect();
    for op in [
        Add, Sub, Mul, Div, Rem, Pow, Max, Min, And, Or, Xor, ShiftLeft, ShiftRight,
    ] {
        let ins = [
            (HostData::I32(ia.clone()), vec![64]),
            (HostData::I32(ib.clone()), vec![64]),
        ];
        pair.check(&format!("{op:?} int32"), Prim::Binary(op), &ins, false);
        let ins = [
            (
                HostData::U32(ia.iter().map(|&x| x as u32).collect()),
                vec![64],
            ),
            (
                HostData::U32(ib.iter().map(|&x| x as u32).collect()),
                vec![64],
            ),
        ];
        pair.check(&format!("{op:?} uint32"), Prim::Binary(op), &ins, false);
    }
    let bools = |k: usize| {
        (
            HostData::Bool((0..16).map(|i| (i >> k) & 1 == 1).collect()),
            vec![16],
        )
    };
    for op in [Add, Mul, Max, Min, And, Or, Xor] {
        pair.check(
            &format!("{op:?} bool"),
            Prim::Binary(op),
            &[bools(0), bools(1)],
            false,
        );
    }
    for op in [
        CmpOp::Eq,
        CmpOp::Ne,
        CmpOp::Lt,
        CmpOp::Le,
        CmpOp::Gt,
        CmpOp::Ge,
    ] {
        let a = f32s(&s, 5, -2.0, 2.0);
        let mut b = f32s(&s, 6, -2.0, 2.0);
        if let (HostData::F32(av), HostData::F32(bv)) = (&a.0, &mut b.0) {
            bv[..10].copy_from_slice(&av[..10]);
            bv[10] = f32::NAN;
        }
        pair.check("compare", Prim::Compare(op), &[a, b], false);
    }
    let pred = (
        HostData::Bool((0..231).map(|i| i % 3 == 0).collect()),
        s.to_vec(),
    );
    pair.check(
        "select",
        Prim::Select,
        &[pred, f32s(&s, 7, -1.0, 1.0), f32s(&s, 8, -1.0, 1.0)],
        false,
    );
    // Half precision computes in float32 and rounds once, as the cpu backend does.
    let h = |seed| {
        let v = rand(64, seed, -4.0, 4.0);
        (
            HostData::F16(v.iter().map(|&x| half::f16::from_f32(x)).collect()),
            vec![64],
        )
    };
    let bh = |seed| {
        let v = rand(64, seed, -4.0, 4.0);
        (
            HostData::BF16(v.iter().map(|&x| half::bf16::from_f32(x)).collect()),
            vec![64],
        )
    };
    for op in [Add, Mul, Div, Max] {
        pair.check("f16", Prim::Binary(op), &[h(1), h(2)], false);
        pair.check("bf16", Prim::Binary(op), &[bh(1), bh(2)], false);
    }
    for op in [
        UnaryOp::Exp,
        UnaryOp::Tanh,
        UnaryOp::Logistic,
        UnaryOp::Sqrt,
    ] {
        pair.check("f16 unary", Prim::Unary(op), &[h(3)], false);
        pair.check("bf16 unary", Prim::Unary(op), &[bh(3)], false);
    }
}

#[test]
fn casts_agree_and_saturate() {
    let pair = Pair::new();
    let mut v = rand(40, 9, -400.0, 400.0);
    v[0] = f32::NAN;
    v[1] = f32::INFINITY;
    v[2] = f32::NEG_INFINITY;
    v[3] = 3e9;
    v[4] = -3e9;
    v[5] = -0.7;
    for to in [
        DType::Bool,
        DType::I8,
        DType::I16,
        DType::I32,
        DType::I64,
        DType::U8,
        DType::U16,
        DType::U32,
        DType::U64,
        DType::F16,
        DType::BF16,
        DType::F64,
    ] {
        pair.check(
            "cast",
            Prim::Cast(to),
            &[(HostData::F32(v.clone()), vec![40])],
            false,
        );
    }
    let ints: Vec<i64> = vec![-1, 0, 1, 255, 256, -129, i64::MAX, i64::MIN];
    for to in [
        DType::I8,
        DType::U8,
        DType::I32,
        DType::U32,
        DType::F32,
        DType::Bool,
    ] {
        pair.check(
            "cast int",
            Prim::Cast(to),
            &[(HostData::I64(ints.clone()), vec![8])],
            false,
        );
    }
}

#[test]
fn layout_ops_agree() {
    let pair = Pair::new();
    let x = f32s(&[3, 4, 5], 11, -1.0, 1.0);
    let cases = vec![
        Prim::Broadcast {
            shape: vec![2, 3, 4, 5],
            dims: vec![1, 2, 3],
        },
        Prim::Reshape(vec![12, 5]),
        Prim::Transpose(vec![2, 0, 1]),
        Prim::Slice {
            start: vec![1, 0, 1],
            limit: vec![3, 4, 5],
            strides: vec![1, 2, 3],
        },
        Prim::Reverse(vec![0, 2]),
        Prim::Cumulative {
            op: CumOp::Max,
            axis: 1,
            reverse: true,
        },
        Prim::Cumulative {
            op: CumOp::Min,
            axis: 2,
            reverse: false,
        },
        Prim::Sort {
            axis: 2,
            descending: false,
        },
        Prim::Sort {
            axis: 1,
            descending: true,
        },
        Prim::ArgReduce {
            op: ArgOp::ArgMax,
            axis: 1,
            index_dtype: DType::I32,
        },
        Prim::ArgReduce {
            op: ArgOp::ArgMin,
            axis: 2,
            index_dtype: DType::I64,
        },
        Prim::Reduce {
            op: ReduceOp::Max,
            axes: vec![0, 2],
        },
        Prim::Reduce {
            op: ReduceOp::Min,
            axes: vec![1],
        },
    ];
    for p in cases {
        pair.check("layout", p, std::slice::from_ref(&x), false);
    }
    for p in [
        Prim::Reduce {
            op: ReduceOp::Sum,
            axes: vec![0, 2],
        },
        Prim::Reduce {
            op: ReduceOp::Prod,
            axes: vec![1],
        },
        Prim::Cumulative {
            op: CumOp::Sum,
            axis: 2,
            reverse: true,
        },
        Prim::Cumulative {
            op: CumOp::Prod,
            axis: 0,
            reverse: false,
        },
    ] {
        pair.check("accumulating", p, std::slice::from_ref(&x), true);
    }
    // lax.pad with edge, negative (cropping) and interior padding.
    let pv = (HostData::F32(vec![-7.0]), vec![]);
    for (lo, hi, interior) in [
        (vec![1, 0, 2], vec![0, 2, 1], vec![0, 1, 2]),
        (vec![-1, 2, -2], vec![1, -1, 0], vec![1, 0, 1]),
        (vec![0, -4, 0], vec![0, 0, 0], vec![0, 0, 0]),
    ] {
        pair.check(
            "pad",
            Prim::Pad { lo, hi, interior },
            &[x.clone(), pv.clone()],
            false,
        );
    }
    pair.check(
        "concatenate",
        Prim::Concatenate(1),
        &[x.clone(), f32s(&[3, 2, 5], 12, -1.0, 1.0)],
        false,
    );
    pair.check(
        "iota",
        Prim::Iota {
            shape: vec![3, 4],
            dtype: DType::F32,
            dim: 1,
        },
        &[],
        false,
    );
    pair.check(
        "iota uint32",
        Prim::Iota {
            shape: vec![5],
            dtype: DType::U32,
            dim: 0,
        },
        &[],
        false,
    );
    // Bool reductions.
    let b = (
        HostData::Bool((0..60).map(|i| i % 7 == 0).collect()),
        vec![3, 4, 5],
    );
    for op in [ReduceOp::Any, ReduceOp::All] {
        pair.check(
            "bool reduce",
            Prim::Reduce { op, axes: vec![2] },
            std::slice::from_ref(&b),
            false,
        );
    }
}

#[test]
fn dot_and_conv_agree() {
    let pair = Pair::new();
    let dot = |lc: usize, rc: usize| Prim::DotGeneral {
        lhs_contract: vec![lc],
        rhs_contract: vec![rc],
        lhs_batch: vec![0],
        rhs_batch: vec![0],
    };
    pair.check(
        "dot_general",
        dot(2, 1),
        &[
            f32s(&[4, 9, 33], 20, -1.0, 1.0),
            f32s(&[4, 33, 6], 21, -1.0, 1.0),
        ],
        true,
    );
    pair.check(
        "dot_general transposed",
        dot(1, 2),
        &[
            f32s(&[4, 33, 9], 22, -1.0, 1.0),
            f32s(&[4, 6, 33], 23, -1.0, 1.0),
        ],
        true,
    );
    let conv = |strides: Vec<usize>,
                padding: Vec<(i64, i64)>,
                lhs: Vec<usize>,
                rhs: Vec<usize>,
                groups| Prim::Conv {
        dims: ConvDims::channels_first(strides.len()),
        strides,
        padding,
        lhs_dilation: lhs,
        rhs_dilation: rhs,
        groups,
    };
    // 2-D: strided, asymmetric and negative padding, input and kernel dilation, groups.
    let x = f32s(&[2, 4, 11, 10], 30, -1.0, 1.0);
    let w = f32s(&[6, 2, 3, 3], 31, -1.0, 1.0);
    for p in [
        conv(vec![1, 1], vec![(1, 1), (1, 1)], vec![1, 1], vec![1, 1], 2),
        conv(vec![2, 3], vec![(0, 2), (2, 1)], vec![1, 1], vec![1, 1], 2),
        conv(
            vec![1, 1],
            vec![(-1, 2), (1, -1)],
            vec![1, 1],
            vec![2, 1],
            2,
        ),
        conv(vec![1, 1], vec![(2, 2), (2, 3)], vec![2, 3], vec![1, 1], 2),
    ] {
        pair.check("conv", p, &[x.clone(), w.clone()], true);
    }
    // 1-D, depthwise.
    pair.check(
        "conv1d",
        conv(vec![2], vec![(2, 0)], vec![1], vec![1], 3),
        &[
            f32s(&[2, 3, 17], 32, -1.0, 1.0),
            f32s(&[3, 1, 3], 33, -1.0, 1.0),
        ],
        true,
    );
    // Integer convolution runs on the cpu kernels: identical.
    let xi = (
        HostData::I32((0..2 * 3 * 8).map(|i| i % 5 - 2).collect()),
        vec![2, 3, 8],
    );
    let wi = (
        HostData::I32((0..2 * 3 * 3).map(|i| i % 3 - 1).collect()),
        vec![2, 3, 3],
    );
    pair.check(
        "conv int",
        conv(vec![1], vec![(1, 1)], vec![1], vec![1], 1),
        &[xi, wi],
        false,
    );
}

#[test]
fn windows_and_indexing_agree() {
    let pair = Pair::new();
    let x = f32s(&[2, 3, 9, 8], 40, -1.0, 1.0);
    let rw = |op, window: Vec<usize>, strides: Vec<usize>, padding: Vec<(usize, usize)>| {
        Prim::ReduceWindow {
            op,
            window,
            strides,
            padding,
        }
    };
    // NCHW max pooling (libtorch's pooling kernel), and windows over every dim.
    for p in [
        rw(
            WindowOp::Max,
            vec![1, 1, 2, 2],
            vec![1, 1, 2, 2],
            vec![(0, 0); 4],
        ),
        rw(
            WindowOp::Max,
            vec![1, 1, 3, 3],
            vec![1, 1, 2, 1],
            vec![(0, 0), (0, 0), (1, 1), (0, 2)],
        ),
        rw(
            WindowOp::Min,
            vec![1, 2, 3, 1],
            vec![1, 1, 2, 1],
            vec![(0, 0), (1, 0), (1, 1), (0, 0)],
        ),
        rw(
            WindowOp::Max,
            vec![2, 1, 1, 3],
            vec![1, 1, 1, 2],
            vec![(0, 0); 4],
        ),
    ] {
        pair.check("reduce_window", p, std::slice::from_ref(&x), false);
    }
    pair.check(
        "reduce_window sum",
        rw(
            WindowOp::Sum,
            vec![1, 1, 3, 2],
            vec![1, 1, 2, 2],
            vec![(0, 0), (0, 0), (1, 1), (0, 1)],
        ),
        std::slice::from_ref(&x),
        true,
    );
    let sas =
        |window: Vec<usize>, strides: Vec<usize>, padding: Vec<(usize, usize)>, src: &[usize]| {
            (
                Prim::SelectAndScatterAdd {
                    window,
                    strides,
                    padding,
                },
                f32s(src, 41, -1.0, 1.0),
            )
        };
    // Ties: repeated values, where the first maximum must win.
    let mut xt = x.clone();
    if let HostData::F32(v) = &mut xt.0 {
        for (i, e) in v.iter_mut().enumerate() {
            if i % 3 == 0 {
                *e = 0.5;
            }
        }
    }
    for (p, src) in [
        sas(
            vec![1, 1, 2, 2],
            vec![1, 1, 2, 2],
            vec![(0, 0); 4],
            &[2, 3, 4, 4],
        ),
        sas(
            vec![1, 1, 3, 3],
            vec![1, 1, 2, 2],
            vec![(0, 0), (0, 0), (1, 1), (1, 1)],
            &[2, 3, 5, 4],
        ),
        sas(
            vec![1, 2, 2, 1],
            vec![1, 1, 2, 1],
            vec![(0, 0), (0, 0), (0, 1), (0, 0)],
            &[2, 2, 5, 8],
        ),
    ] {
        pair.check(
            "select_and_scatter_add",
            p.clone(),
            &[x.clone(), src.clone()],
            false,
        );
        pair.check("select_and_scatter_add ties", p, &[xt.clone(), src], false);
    }
    // Gather with clamped indices; scatter with duplicates and out-of-range indices.
    let t = f32s(&[5, 4], 42, -1.0, 1.0);
    let idx = (HostData::I32(vec![0, 4, 7, -2, 2, 2]), vec![2, 3]);
    pair.check(
        "gather",
        Prim::Gather { axis: 0 },
        &[t.clone(), idx.clone()],
        false,
    );
    pair.check(
        "gather axis 1",
        Prim::Gather { axis: 1 },
        &[t.clone(), idx.clone()],
        false,
    );
    for mode in [ScatterMode::Add, ScatterMode::Set] {
        pair.check(
            "scatter",
            Prim::Scatter { axis: 0, mode },
            &[t.clone(), idx.clone(), f32s(&[2, 3, 4], 43, -1.0, 1.0)],
            true,
        );
    }
}

#[test]
fn fused_kernels_agree_with_the_decompositions() {
    use ceras::backend::Fused;
    use ceras::{ops, Tensor};
    let pair = Pair::new();
    // The reference: the primitive decompositions (fused kernels off for `ops`).
    ceras::config::set_fused_kernels(false);
    let t = |(d, s): In| Tensor::from_host(d, s).unwrap();
    let fused = |op: Fused, ins: &[In], out: Spec| -> Vec<f32> {
        let bufs = upload(&pair.torch, ins);
        let ops = operands(ins, &bufs);
        let r = pair
            .torch
            .fused(&op, &ops, std::slice::from_ref(&out))
            .expect("torch has this fused kernel")
            .unwrap();
        match pair.torch.to_host(&r[0], &out.shape, out.dtype).unwrap() {
            HostData::F32(v) => v,
            other => panic!("{other:?}"),
        }
    };
    let close = |name: &str, a: &[f32], b: &[f32], scale: f32| {
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(
                (x - y).abs() <= 1e-6 * scale,
                "{name} [{i}]: decomposition {x} fused {y}"
            );
        }
    };
    // Layer norm over the last two axes, with scale and offset: outputs are O(|gamma| * 4).
    let x = f32s(&[3, 5, 4, 6], 50, -2.0, 3.0);
    let g = f32s(&[4, 6], 51, 0.5, 1.5);
    let b = f32s(&[4, 6], 52, -1.0, 1.0);
    let want = ops::layer_normalization(
        t(x.clone()),
        Some(&t(g.clone())),
        Some(&t(b.clone())),
        &[-2, -1],
        Some(1e-3),
    )
    .unwrap()
    .to_vec::<f32>()
    .unwrap();
    let got = fused(
        Fused::LayerNorm {
            dims: 2,
            epsilon: 1e-3,
            gamma: true,
            beta: true,
        },
        &[x.clone(), g, b],
        Spec::new(vec![3, 5, 4, 6], DType::F32),
    );
    close("layer_norm", &want, &got, 6.0);
    // Attention, plain and causal: outputs are convex combinations of v (|v| < 1).
    let (q, k, v) = (
        f32s(&[2, 7, 3, 8], 53, -1.0, 1.0),
        f32s(&[2, 9, 3, 8], 54, -1.0, 1.0),
        f32s(&[2, 9, 3, 5], 55, -1.0, 1.0),
    );
    for causal in [false, true] {
        let opts = ops::AttentionOptions::new().is_causal(causal);
        let want = ops::dot_product_attention(t(q.clone()), t(k.clone()), t(v.clone()), &opts)
            .unwrap()
            .to_vec::<f32>()
            .unwrap();
        let got = fused(
            Fused::Attention {
                scale: 1.0 / 8f64.sqrt(),
                causal,
            },
            &[q.clone(), k.clone(), v.clone()],
            Spec::new(vec![2, 7, 3, 5], DType::F32),
        );
        close("attention", &want, &got, 1.0);
    }
    ceras::config::set_fused_kernels(true);
}
