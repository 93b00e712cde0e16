//! Backend plumbing, unary, binary, compare, select and cast.

use super::*;

#[test]
fn registration_and_host_roundtrip() {
    assert!(ceras_core::backend::available_backends().contains(&"cpu"));
    let be = ceras_core::backend::make_backend("numpy").unwrap();
    assert_eq!(be.name(), "cpu");
    let b = be.from_host(HostData::I32(vec![1, 2, 3]), &[3]).unwrap();
    assert_eq!(
        be.to_host(&b, &[3], DType::I32).unwrap(),
        HostData::I32(vec![1, 2, 3])
    );
    assert!(be.from_host(HostData::I32(vec![1, 2]), &[3]).is_err());
    assert!(be.to_host(&b, &[3], DType::F32).is_err());
}

#[test]
fn errors_not_panics() {
    let x = (f32v(&[1.0]), &[1][..]);
    assert!(run(Prim::StopGradient, std::slice::from_ref(&x)).is_err());
    // Operand count mismatch straight to the backend.
    let b = buf(f32v(&[1.0]));
    let op = Operand {
        buf: &b,
        shape: &[1],
        dtype: DType::F32,
    };
    let out = [Spec::new(vec![1], DType::F32)];
    assert!(CpuBackend
        .execute(&Prim::Binary(BinaryOp::Add), &[op], &out)
        .is_err());
    // Declared dtype differs from the buffer.
    let op = Operand {
        buf: &b,
        shape: &[1],
        dtype: DType::I32,
    };
    assert!(CpuBackend
        .execute(&Prim::Unary(UnaryOp::Neg), &[op], &out)
        .is_err());
    // Unsupported dtype combinations are errors.
    let bb = (HostData::Bool(vec![true]), &[1][..]);
    assert!(run(Prim::Binary(BinaryOp::Div), &[bb.clone(), bb.clone()]).is_err());
    assert!(run(Prim::Unary(UnaryOp::Neg), std::slice::from_ref(&bb)).is_err());
    let w = (HostData::Bool(vec![true]), &[1, 1, 1][..]);
    assert!(run(
        Prim::Conv {
            dims: ConvDims::channels_first(1),
            strides: vec![1],
            padding: vec![(0, 0)],
            lhs_dilation: vec![1],
            rhs_dilation: vec![1],
            groups: 1
        },
        &[w.clone(), w]
    )
    .is_err());
}

#[test]
fn unary_float() {
    let u = |op, v: &[f32]| as_f32(&run1(Prim::Unary(op), &[(f32v(v), &[v.len()])]));
    let nan = f32::NAN;
    same_bits(
        &u(UnaryOp::Sign, &[-2.0, 0.0, 3.0, nan]),
        &[-1.0, 0.0, 1.0, nan],
    );
    same_bits(
        &u(UnaryOp::Round, &[0.5, 1.5, 2.5, -0.5, -1.5, 2.6]),
        &[0.0, 2.0, 2.0, -0.0, -2.0, 3.0],
    );
    same_bits(&u(UnaryOp::Abs, &[-2.0, 3.0]), &[2.0, 3.0]);
    same_bits(&u(UnaryOp::Neg, &[-2.0, 3.0]), &[2.0, -3.0]);
    same_bits(&u(UnaryOp::Floor, &[-1.5, 1.5]), &[-2.0, 1.0]);
    same_bits(&u(UnaryOp::Ceil, &[-1.5, 1.5]), &[-1.0, 2.0]);
    same_bits(&u(UnaryOp::Trunc, &[-1.5, 1.5]), &[-1.0, 1.0]);
    same_bits(&u(UnaryOp::Rsqrt, &[4.0]), &[0.5]);
    same_bits(
        &u(UnaryOp::Logistic, &[-1000.0, 0.0, 1000.0]),
        &[0.0, 0.5, 1.0],
    );
    let l = u(UnaryOp::Logistic, &[-100.0]);
    assert!(l[0] > 0.0 && l[0] == (-100f32).exp(), "{l:?}");
    close(
        &u(UnaryOp::Erf, &[0.5, -1.0])
            .iter()
            .map(|&x| x as f64)
            .collect::<Vec<_>>(),
        &[0.520_499_877_813_046_5, -0.842_700_792_949_714_9],
        1e-7,
    );
    close(
        &u(UnaryOp::Lgamma, &[0.5, 10.0])
            .iter()
            .map(|&x| x as f64)
            .collect::<Vec<_>>(),
        &[0.572_364_942_924_700_1, 12.801_827_480_081_469],
        1e-6,
    );
    let d = u(UnaryOp::Digamma, &[1.0, 0.0, -2.0]);
    assert!((d[0] + 0.577_215_7).abs() < 1e-6 && d[1].is_nan() && d[2].is_nan());
    let e = u(UnaryOp::Erfinv, &[0.5, 1.0, -1.0, 2.0]);
    assert!(
        (e[0] - 0.476_936_28).abs() < 1e-7
            && e[1] == f32::INFINITY
            && e[2] == f32::NEG_INFINITY
            && e[3].is_nan()
    );
    let b = run1(
        Prim::Unary(UnaryOp::IsNan),
        &[(f32v(&[nan, 1.0, f32::INFINITY]), &[3])],
    );
    assert_eq!(b, HostData::Bool(vec![true, false, false]));
    let b = run1(
        Prim::Unary(UnaryOp::IsInf),
        &[(f32v(&[nan, 1.0, f32::NEG_INFINITY]), &[3])],
    );
    assert_eq!(b, HostData::Bool(vec![false, false, true]));
    let b = run1(
        Prim::Unary(UnaryOp::IsFinite),
        &[(f32v(&[nan, 1.0, f32::INFINITY]), &[3])],
    );
    assert_eq!(b, HostData::Bool(vec![false, true, false]));
    // f64 Erfinv at full precision.
    let r = run1(
        Prim::Unary(UnaryOp::Erfinv),
        &[(HostData::F64(vec![0.5, -0.999_999]), &[2])],
    );
    close(
        &as_f64(&r),
        &[0.476_936_276_204_469_9, -3.458_910_737_275_499],
        1e-14,
    );
}

#[test]
fn unary_half_and_large() {
    let x: Vec<f16> = [0.5f32, 1.0, -2.0, 3.5]
        .iter()
        .map(|&v| f16::from_f32(v))
        .collect();
    let r = run1(
        Prim::Unary(UnaryOp::Exp),
        &[(HostData::F16(x.clone()), &[4])],
    );
    let want: Vec<f16> = x.iter().map(|v| f16::from_f32(v.to_f32().exp())).collect();
    assert_eq!(r, HostData::F16(want));
    let r = run1(
        Prim::Unary(UnaryOp::IsNan),
        &[(HostData::BF16(vec![bf16::NAN, bf16::ONE]), &[2])],
    );
    assert_eq!(r, HostData::Bool(vec![true, false]));
    // The large (parallel) path gives the same bits as small (sequential) pieces,
    // and f32 tanh (a vectorised kernel, `fastmath.rs`) stays within 3e-7 of libm.
    let n = 200_000;
    let v: Vec<f32> = rand_vec(n, 1).iter().map(|&x| x as f32 * 10.0).collect();
    let r = as_f32(&run1(Prim::Unary(UnaryOp::Tanh), &[(f32v(&v), &[n])]));
    let pieces: Vec<f32> = v
        .chunks(1000)
        .flat_map(|c| as_f32(&run1(Prim::Unary(UnaryOp::Tanh), &[(f32v(c), &[c.len()])])))
        .collect();
    same_bits(&r, &pieces);
    let libm: Vec<f64> = v.iter().map(|x| x.tanh() as f64).collect();
    let got: Vec<f64> = r.iter().map(|&x| x as f64).collect();
    close(&got, &libm, 3e-7);
}

#[test]
fn unary_int_and_bool() {
    let r = run1(
        Prim::Unary(UnaryOp::Neg),
        &[(HostData::I8(vec![-128, 5]), &[2])],
    );
    assert_eq!(r, HostData::I8(vec![-128, -5]));
    let r = run1(
        Prim::Unary(UnaryOp::Abs),
        &[(HostData::I8(vec![-128, -5]), &[2])],
    );
    assert_eq!(r, HostData::I8(vec![-128, 5]));
    let r = run1(
        Prim::Unary(UnaryOp::Neg),
        &[(HostData::U8(vec![1, 0]), &[2])],
    );
    assert_eq!(r, HostData::U8(vec![255, 0]));
    let r = run1(
        Prim::Unary(UnaryOp::Sign),
        &[(HostData::I32(vec![-7, 0, 9]), &[3])],
    );
    assert_eq!(r, HostData::I32(vec![-1, 0, 1]));
    let r = run1(
        Prim::Unary(UnaryOp::Sign),
        &[(HostData::U16(vec![0, 9]), &[2])],
    );
    assert_eq!(r, HostData::U16(vec![0, 1]));
    let r = run1(
        Prim::Unary(UnaryOp::Not),
        &[(HostData::I32(vec![0, -1]), &[2])],
    );
    assert_eq!(r, HostData::I32(vec![-1, 0]));
    let r = run1(
        Prim::Unary(UnaryOp::Not),
        &[(HostData::Bool(vec![true, false]), &[2])],
    );
    assert_eq!(r, HostData::Bool(vec![false, true]));
    let r = run1(
        Prim::Unary(UnaryOp::IsFinite),
        &[(HostData::I64(vec![3]), &[1])],
    );
    assert_eq!(r, HostData::Bool(vec![true]));
    let r = run1(
        Prim::Unary(UnaryOp::Round),
        &[(HostData::I64(vec![3]), &[1])],
    );
    assert_eq!(r, HostData::I64(vec![3]));
}

fn bin(op: BinaryOp, a: HostData, b: HostData) -> HostData {
    let n = a.len();
    run1(Prim::Binary(op), &[(a, &[n]), (b, &[n])])
}

#[test]
fn binary_int_semantics() {
    use BinaryOp::*;
    use HostData::*;
    assert_eq!(
        bin(
            Div,
            I32(vec![7, -7, 5, i32::MIN, 0]),
            I32(vec![2, 2, 0, -1, 0])
        ),
        I32(vec![3, -3, -1, i32::MIN, -1])
    );
    assert_eq!(bin(Div, U8(vec![5, 7]), U8(vec![0, 2])), U8(vec![255, 3]));
    assert_eq!(
        bin(Rem, I32(vec![7, -7, 5, i32::MIN]), I32(vec![3, 3, 0, -1])),
        I32(vec![1, -1, 5, 0])
    );
    assert_eq!(bin(Rem, U16(vec![7, 5]), U16(vec![3, 0])), U16(vec![1, 5]));
    assert_eq!(
        bin(
            Pow,
            I32(vec![2, 2, 1, -1, -1, 3, 0, 3]),
            I32(vec![10, -1, -5, -3, -2, 0, 0, 40])
        ),
        I32(vec![1024, 0, 1, -1, 1, 1, 1, 3i32.wrapping_pow(40)])
    );
    assert_eq!(bin(Pow, U8(vec![2, 3]), U8(vec![9, 4])), U8(vec![0, 81]));
    assert_eq!(
        bin(Add, I8(vec![127, -128]), I8(vec![1, -1])),
        I8(vec![-128, 127])
    );
    assert_eq!(bin(Sub, U8(vec![0]), U8(vec![1])), U8(vec![255]));
    assert_eq!(
        bin(Mul, I16(vec![300]), I16(vec![300])),
        I16(vec![300i16.wrapping_mul(300)])
    );
    assert_eq!(
        bin(ShiftLeft, I8(vec![1, 1, 1, -1]), I8(vec![3, 8, -1, 7])),
        I8(vec![8, 0, 0, -128])
    );
    assert_eq!(
        bin(
            ShiftRight,
            I8(vec![-128, -128, 64, -1]),
            I8(vec![1, 100, 8, -3])
        ),
        I8(vec![-64, -1, 0, -1])
    );
    assert_eq!(
        bin(ShiftRight, U8(vec![128, 128]), U8(vec![7, 8])),
        U8(vec![1, 0])
    );
    assert_eq!(bin(And, I32(vec![6]), I32(vec![3])), I32(vec![2]));
    assert_eq!(bin(Or, I32(vec![6]), I32(vec![3])), I32(vec![7]));
    assert_eq!(bin(Xor, I32(vec![6]), I32(vec![3])), I32(vec![5]));
    assert_eq!(bin(Max, I64(vec![-3, 4]), I64(vec![2, 1])), I64(vec![2, 4]));
    assert_eq!(
        bin(Min, U64(vec![u64::MAX, 4]), U64(vec![2, 1])),
        U64(vec![2, 1])
    );
    assert_eq!(
        bin(
            Xor,
            Bool(vec![true, true, false]),
            Bool(vec![true, false, false])
        ),
        Bool(vec![false, true, false])
    );
    assert_eq!(
        bin(Add, Bool(vec![true, false]), Bool(vec![false, false])),
        Bool(vec![true, false])
    );
    assert!(run(
        Prim::Binary(Atan2),
        &[(I32(vec![1]), &[1]), (I32(vec![1]), &[1])]
    )
    .is_err());
}

#[test]
fn binary_float_semantics() {
    use BinaryOp::*;
    let nan = f32::NAN;
    let f = |op, a: &[f32], b: &[f32]| as_f32(&bin(op, f32v(a), f32v(b)));
    same_bits(
        &f(Max, &[1.0, nan, 2.0], &[nan, 1.0, 3.0]),
        &[nan, nan, 3.0],
    );
    same_bits(
        &f(Min, &[1.0, nan, 2.0], &[nan, 1.0, 3.0]),
        &[nan, nan, 2.0],
    );
    same_bits(
        &f(Rem, &[-7.0, 7.0, 5.5], &[3.0, -3.0, 2.0]),
        &[-1.0, 1.0, 1.5],
    );
    same_bits(
        &f(Div, &[1.0, -1.0, 0.0], &[0.0, 0.0, 0.0]),
        &[f32::INFINITY, f32::NEG_INFINITY, nan],
    );
    same_bits(&f(Pow, &[2.0, nan], &[3.0, 0.0]), &[8.0, 1.0]);
    same_bits(&f(Sub, &[2.0], &[3.0]), &[-1.0]);
    same_bits(&f(Atan2, &[1.0], &[1.0]), &[std::f32::consts::FRAC_PI_4]);
    same_bits(
        &f(NextAfter, &[1.0, 0.0, 1.0, nan], &[2.0, -1.0, 1.0, 0.0]),
        &[1.000_000_1, -f32::from_bits(1), 1.0, nan],
    );
    let h = |v: f32| f16::from_f32(v);
    let r = bin(
        NextAfter,
        HostData::F16(vec![h(1.0), h(1.0)]),
        HostData::F16(vec![h(2.0), h(0.0)]),
    );
    assert_eq!(
        r,
        HostData::F16(vec![h(1.0 + 1.0 / 1024.0), h(1.0 - 1.0 / 2048.0)])
    );
    let b = |v: f32| bf16::from_f32(v);
    let r = bin(
        Add,
        HostData::BF16(vec![b(1.0)]),
        HostData::BF16(vec![b(2.0)]),
    );
    assert_eq!(r, HostData::BF16(vec![b(3.0)]));
    let r = bin(Mul, HostData::F64(vec![1.5]), HostData::F64(vec![-2.0]));
    assert_eq!(r, HostData::F64(vec![-3.0]));
}

#[test]
fn compare_select_cast() {
    let nan = f32::NAN;
    let a = f32v(&[1.0, nan, 3.0]);
    let b = f32v(&[1.0, nan, 2.0]);
    let c = |op| run1(Prim::Compare(op), &[(a.clone(), &[3]), (b.clone(), &[3])]);
    assert_eq!(c(CmpOp::Eq), HostData::Bool(vec![true, false, false]));
    assert_eq!(c(CmpOp::Ne), HostData::Bool(vec![false, true, true]));
    assert_eq!(c(CmpOp::Gt), HostData::Bool(vec![false, false, true]));
    assert_eq!(c(CmpOp::Le), HostData::Bool(vec![true, false, false]));
    let r = run1(
        Prim::Compare(CmpOp::Lt),
        &[
            (HostData::U8(vec![1, 5]), &[2]),
            (HostData::U8(vec![2, 2]), &[2]),
        ],
    );
    assert_eq!(r, HostData::Bool(vec![true, false]));
    let r = run1(
        Prim::Select,
        &[
            (HostData::Bool(vec![true, false]), &[2]),
            (HostData::I32(vec![1, 2]), &[2]),
            (HostData::I32(vec![3, 4]), &[2]),
        ],
    );
    assert_eq!(r, HostData::I32(vec![1, 4]));

    let cast = |x: HostData, d| {
        let n = x.len();
        run1(Prim::Cast(d), &[(x, &[n])])
    };
    assert_eq!(
        cast(f32v(&[1.7, -1.7, nan, 1e10, -1e10]), DType::I32),
        HostData::I32(vec![1, -1, 0, i32::MAX, i32::MIN])
    );
    assert_eq!(
        cast(f32v(&[-1.0, 300.0]), DType::U8),
        HostData::U8(vec![0, 255])
    );
    assert_eq!(
        cast(HostData::I32(vec![300, -1]), DType::U8),
        HostData::U8(vec![44, 255])
    );
    assert_eq!(
        cast(HostData::U64(vec![u64::MAX]), DType::I64),
        HostData::I64(vec![-1])
    );
    assert_eq!(
        cast(f32v(&[nan, 0.0, -0.0, 2.0]), DType::Bool),
        HostData::Bool(vec![true, false, false, true])
    );
    assert_eq!(
        cast(HostData::Bool(vec![true, false]), DType::F32),
        f32v(&[1.0, 0.0])
    );
    assert_eq!(
        cast(HostData::I32(vec![0, 7]), DType::Bool),
        HostData::Bool(vec![false, true])
    );
    assert_eq!(
        cast(f32v(&[1.0 + 1.0 / 2048.0, 65520.0]), DType::F16),
        HostData::F16(vec![f16::from_f32(1.0), f16::INFINITY])
    );
    assert_eq!(
        cast(HostData::F16(vec![f16::from_f32(0.5)]), DType::F64),
        HostData::F64(vec![0.5])
    );
    assert_eq!(
        cast(HostData::I64(vec![1 << 40]), DType::F32),
        f32v(&[(1u64 << 40) as f32])
    );
}
