//! Reduce, ArgReduce and Cumulative.

use super::*;

fn reduce(op: ReduceOp, x: HostData, shape: &[usize], axes: &[usize]) -> HostData {
    run1(
        Prim::Reduce {
            op,
            axes: axes.to_vec(),
        },
        &[(x, shape)],
    )
}

#[test]
fn reduce_sum_accuracy_f32() {
    for &n in &[4096usize, 100_000, 1_000_000] {
        let v: Vec<f32> = rand_vec(n, 7).iter().map(|&x| (x + 1.2) as f32).collect();
        let exact: f64 = v.iter().map(|&x| x as f64).sum();
        let r = as_f32(&reduce(ReduceOp::Sum, f32v(&v), &[n], &[0]))[0] as f64;
        assert!(((r - exact) / exact).abs() < 1e-6, "n={n}: {r} vs {exact}");
    }
    // Column sums (leading axis) are pairwise too.
    let (r, c) = (4096, 3);
    let v: Vec<f32> = rand_vec(r * c, 8)
        .iter()
        .map(|&x| (x + 1.2) as f32)
        .collect();
    let got = as_f32(&reduce(ReduceOp::Sum, f32v(&v), &[r, c], &[0]));
    for j in 0..c {
        let exact: f64 = (0..r).map(|i| v[i * c + j] as f64).sum();
        assert!(((got[j] as f64 - exact) / exact).abs() < 1e-6);
    }
}

#[test]
fn reduce_axes_layouts() {
    // [2, 3, 4] against a naive reference for every axis subset.
    let shape = [2usize, 3, 4];
    let x: Vec<f64> = (0..24).map(|i| (i * 7 % 11) as f64).collect();
    for mask in 0..8u32 {
        let axes: Vec<usize> = (0..3).filter(|d| mask & (1 << d) != 0).collect();
        let kept: Vec<usize> = (0..3).filter(|d| !axes.contains(d)).collect();
        let oshape: Vec<usize> = kept.iter().map(|&d| shape[d]).collect();
        let on: usize = oshape.iter().product();
        let mut want_sum = vec![0.0; on];
        let mut want_max = vec![f64::NEG_INFINITY; on];
        for i in 0..2 {
            for j in 0..3 {
                for k in 0..4 {
                    let idx = [i, j, k];
                    let mut o = 0;
                    for &d in &kept {
                        o = o * shape[d] + idx[d];
                    }
                    let v = x[(i * 3 + j) * 4 + k];
                    want_sum[o] += v;
                    want_max[o] = want_max[o].max(v);
                }
            }
        }
        let s = reduce(ReduceOp::Sum, HostData::F64(x.clone()), &shape, &axes);
        assert_eq!(as_f64(&s), want_sum, "axes {axes:?}");
        let m = reduce(ReduceOp::Max, HostData::F64(x.clone()), &shape, &axes);
        assert_eq!(as_f64(&m), want_max, "axes {axes:?}");
        let xi: Vec<i32> = x.iter().map(|&v| v as i32).collect();
        let s = reduce(ReduceOp::Sum, HostData::I32(xi), &shape, &axes);
        assert_eq!(as_f64(&s), want_sum, "axes {axes:?}");
    }
    // A large non-adjacent reduction takes the transpose path.
    let shape = [40usize, 50, 60];
    let x: Vec<f64> = rand_vec(40 * 50 * 60, 3);
    let s = as_f64(&reduce(
        ReduceOp::Sum,
        HostData::F64(x.clone()),
        &shape,
        &[0, 2],
    ));
    for j in 0..50 {
        let w: f64 = (0..40)
            .flat_map(|i| (0..60).map(move |k| (i, k)))
            .map(|(i, k)| x[(i * 50 + j) * 60 + k])
            .sum();
        assert!((s[j] - w).abs() < 1e-10);
    }
}

#[test]
fn reduce_edge_cases() {
    let nan = f32::NAN;
    let r = reduce(ReduceOp::Max, f32v(&[1.0, nan, 3.0]), &[3], &[0]);
    assert!(as_f32(&r)[0].is_nan());
    let r = reduce(
        ReduceOp::Min,
        f32v(&[1.0, 2.0, 3.0, nan, 1.0, 0.0]),
        &[2, 3],
        &[1],
    );
    same_bits(&as_f32(&r), &[1.0, nan]);
    assert_eq!(
        as_f32(&reduce(ReduceOp::Max, f32v(&[]), &[0], &[0])),
        vec![f32::NEG_INFINITY]
    );
    assert_eq!(
        as_f32(&reduce(ReduceOp::Min, f32v(&[]), &[2, 0], &[1])),
        vec![f32::INFINITY; 2]
    );
    assert_eq!(
        reduce(ReduceOp::Max, HostData::I32(vec![]), &[0], &[0]),
        HostData::I32(vec![i32::MIN])
    );
    assert_eq!(
        reduce(ReduceOp::Min, HostData::U8(vec![]), &[0], &[0]),
        HostData::U8(vec![u8::MAX])
    );
    assert_eq!(
        reduce(ReduceOp::Sum, f32v(&[]), &[0, 3], &[0]),
        f32v(&[0.0; 3])
    );
    assert_eq!(
        reduce(ReduceOp::Prod, f32v(&[]), &[0, 3], &[0, 1]),
        f32v(&[1.0])
    );
    assert_eq!(reduce(ReduceOp::Sum, f32v(&[]), &[0, 3], &[1]), f32v(&[]));
    assert_eq!(
        reduce(ReduceOp::Sum, HostData::I8(vec![100, 100]), &[2], &[0]),
        HostData::I8(vec![-56])
    );
    assert_eq!(
        reduce(ReduceOp::Prod, HostData::I64(vec![2, 3, 4]), &[3], &[0]),
        HostData::I64(vec![24])
    );
    assert_eq!(
        reduce(ReduceOp::Sum, f32v(&[1.0, 2.0]), &[2], &[]),
        f32v(&[1.0, 2.0])
    );
    let b = HostData::Bool(vec![true, false, false, false]);
    assert_eq!(
        reduce(ReduceOp::Any, b.clone(), &[2, 2], &[1]),
        HostData::Bool(vec![true, false])
    );
    assert_eq!(
        reduce(ReduceOp::All, b.clone(), &[2, 2], &[0]),
        HostData::Bool(vec![false, false])
    );
    assert_eq!(
        reduce(ReduceOp::All, HostData::Bool(vec![]), &[0], &[0]),
        HostData::Bool(vec![true])
    );
    let h: Vec<f16> = (0..3000).map(|_| f16::from_f32(0.1)).collect();
    let r = reduce(ReduceOp::Sum, HostData::F16(h), &[3000], &[0]);
    assert_eq!(
        r,
        HostData::F16(vec![f16::from_f32(3000.0 * f16::from_f32(0.1).to_f32())])
    );
}

#[test]
fn argreduce() {
    let nan = f32::NAN;
    let am = |op, x: &[f32], shape: &[usize], axis, dt| {
        run1(
            Prim::ArgReduce {
                op,
                axis,
                index_dtype: dt,
            },
            &[(f32v(x), shape)],
        )
    };
    assert_eq!(
        am(ArgOp::ArgMax, &[1.0, 3.0, 3.0, 2.0], &[4], 0, DType::I32),
        HostData::I32(vec![1])
    );
    assert_eq!(
        am(ArgOp::ArgMin, &[1.0, 0.0, 0.0, 2.0], &[4], 0, DType::I64),
        HostData::I64(vec![1])
    );
    assert_eq!(
        am(ArgOp::ArgMax, &[1.0, nan, 5.0, nan], &[4], 0, DType::I32),
        HostData::I32(vec![1])
    );
    assert_eq!(
        am(ArgOp::ArgMin, &[1.0, 0.0, nan, nan], &[4], 0, DType::I32),
        HostData::I32(vec![2])
    );
    // [2, 3], axis 0 and 1.
    let x = [1.0, 5.0, 2.0, 4.0, 0.0, 2.0];
    assert_eq!(
        am(ArgOp::ArgMax, &x, &[2, 3], 0, DType::I32),
        HostData::I32(vec![1, 0, 0])
    );
    assert_eq!(
        am(ArgOp::ArgMax, &x, &[2, 3], 1, DType::I32),
        HostData::I32(vec![1, 0])
    );
    let r = run1(
        Prim::ArgReduce {
            op: ArgOp::ArgMin,
            axis: 0,
            index_dtype: DType::I32,
        },
        &[(HostData::U8(vec![3, 1, 1]), &[3])],
    );
    assert_eq!(r, HostData::I32(vec![1]));
}

#[test]
fn cumulative() {
    let c = |op, x: HostData, shape: &[usize], axis, reverse| {
        run1(Prim::Cumulative { op, axis, reverse }, &[(x, shape)])
    };
    assert_eq!(
        c(CumOp::Sum, f32v(&[1.0, 2.0, 3.0]), &[3], 0, false),
        f32v(&[1.0, 3.0, 6.0])
    );
    assert_eq!(
        c(CumOp::Sum, f32v(&[1.0, 2.0, 3.0]), &[3], 0, true),
        f32v(&[6.0, 5.0, 3.0])
    );
    assert_eq!(
        c(
            CumOp::Prod,
            HostData::I32(vec![1, 2, 3, 4, 5, 6]),
            &[2, 3],
            0,
            false
        ),
        HostData::I32(vec![1, 2, 3, 4, 10, 18])
    );
    assert_eq!(
        c(
            CumOp::Max,
            HostData::I32(vec![1, 3, 2, 4, 0, 6]),
            &[2, 3],
            1,
            false
        ),
        HostData::I32(vec![1, 3, 3, 4, 4, 6])
    );
    let r = c(CumOp::Min, f32v(&[3.0, f32::NAN, 1.0]), &[3], 0, false);
    same_bits(&as_f32(&r), &[3.0, f32::NAN, f32::NAN]);
    assert_eq!(
        c(
            CumOp::Sum,
            HostData::Bool(vec![false, true, false]),
            &[3],
            0,
            false
        ),
        HostData::Bool(vec![false, true, true])
    );
}
