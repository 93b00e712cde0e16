//! ReduceWindow, SelectAndScatterAdd and the fused softmax.

use super::*;

fn naive_window(
    x: &[f64],
    shape: &[usize],
    win: &[usize],
    st: &[usize],
    pad: &[(usize, usize)],
    max: bool,
) -> (Vec<f64>, Vec<usize>) {
    let r = shape.len();
    let os: Vec<usize> = (0..r)
        .map(|d| ((shape[d] + pad[d].0 + pad[d].1).saturating_sub(win[d])) / st[d] + 1)
        .collect();
    let multi = |mut i: usize, s: &[usize]| {
        let mut v = vec![0; s.len()];
        for d in (0..s.len()).rev() {
            v[d] = i % s[d];
            i /= s[d];
        }
        v
    };
    let (mut out, mut arg) = (Vec::new(), Vec::new());
    for o in 0..os.iter().product() {
        let oi = multi(o, &os);
        let mut acc = if max { f64::NEG_INFINITY } else { 0.0 };
        let mut best = usize::MAX;
        for w in 0..win.iter().product() {
            let wi = multi(w, win);
            let mut off = 0;
            let mut ok = true;
            for d in 0..r {
                let p = (oi[d] * st[d] + wi[d]) as i64 - pad[d].0 as i64;
                if p < 0 || p >= shape[d] as i64 {
                    ok = false;
                    break;
                }
                off = off * shape[d] + p as usize;
            }
            if ok {
                if max {
                    if best == usize::MAX || x[off] > acc {
                        acc = x[off];
                        best = off;
                    }
                } else {
                    acc += x[off];
                }
            }
        }
        out.push(acc);
        arg.push(best);
    }
    (out, arg)
}

#[test]
fn reduce_window_and_select_scatter() {
    type Case = (Vec<usize>, Vec<usize>, Vec<usize>, Vec<(usize, usize)>);
    let cases: Vec<Case> = vec![
        (
            vec![2, 3, 7, 6],
            vec![1, 1, 2, 2],
            vec![1, 1, 2, 2],
            vec![(0, 0); 4],
        ),
        (
            vec![2, 3, 7, 6],
            vec![1, 1, 3, 3],
            vec![1, 1, 2, 1],
            vec![(0, 0), (0, 0), (1, 1), (2, 0)],
        ),
        (vec![10], vec![3], vec![2], vec![(1, 2)]),
        (
            vec![3, 4, 5],
            vec![2, 2, 2],
            vec![1, 2, 3],
            vec![(1, 0), (0, 1), (1, 1)],
        ),
        // Channels-last: trailing dims with trivial windows are lanes.
        (
            vec![2, 7, 6, 5],
            vec![1, 2, 2, 1],
            vec![1, 2, 2, 1],
            vec![(0, 0); 4],
        ),
        (
            vec![3, 5, 4, 2, 3],
            vec![2, 3, 1, 1, 1],
            vec![1, 2, 1, 1, 1],
            vec![(1, 0), (1, 1), (0, 0), (0, 0), (0, 0)],
        ),
        (vec![4, 3], vec![1, 1], vec![1, 1], vec![(0, 0); 2]),
    ];
    for (shape, win, st, pad) in cases {
        let n: usize = shape.iter().product();
        let x = rand_vec(n, 5);
        let (want_max, arg) = naive_window(&x, &shape, &win, &st, &pad, true);
        let (want_sum, _) = naive_window(&x, &shape, &win, &st, &pad, false);
        let rw = |op| {
            let p = Prim::ReduceWindow {
                op,
                window: win.clone(),
                strides: st.clone(),
                padding: pad.clone(),
            };
            run1(p, &[(HostData::F64(x.clone()), &shape)]).to_f64_vec()
        };
        close(&rw(WindowOp::Max), &want_max, 0.0);
        close(&rw(WindowOp::Sum), &want_sum, 1e-12);
        let want_min: Vec<f64> = {
            let neg: Vec<f64> = x.iter().map(|v| -v).collect();
            naive_window(&neg, &shape, &win, &st, &pad, true)
                .0
                .iter()
                .map(|v| -v)
                .collect()
        };
        close(&rw(WindowOp::Min), &want_min, 0.0);

        let src = rand_vec(want_max.len(), 6);
        let mut want = vec![0.0; n];
        for (s, &a) in src.iter().zip(&arg) {
            if a != usize::MAX {
                want[a] += s;
            }
        }
        let p = Prim::SelectAndScatterAdd {
            window: win.clone(),
            strides: st.clone(),
            padding: pad.clone(),
        };
        let os = [want_max.len()];
        let src_shape = Prim::ReduceWindow {
            op: WindowOp::Max,
            window: win.clone(),
            strides: st.clone(),
            padding: pad.clone(),
        }
        .infer(&[Spec::new(shape.clone(), DType::F64)])
        .unwrap()[0]
            .shape
            .clone();
        assert_eq!(src_shape.iter().product::<usize>(), os[0]);
        let r = run1(
            p,
            &[
                (HostData::F64(x.clone()), &shape),
                (HostData::F64(src), &src_shape),
            ],
        );
        close(&r.to_f64_vec(), &want, 1e-12);
    }
    // Padding is the identity, ties pick the first maximum.
    let p = Prim::ReduceWindow {
        op: WindowOp::Max,
        window: vec![2],
        strides: vec![1],
        padding: vec![(1, 1)],
    };
    assert_eq!(
        as_f32(&run1(p, &[(f32v(&[-5.0, -6.0]), &[2])])),
        vec![-5.0, -5.0, -6.0]
    );
    let p = Prim::SelectAndScatterAdd {
        window: vec![2],
        strides: vec![2],
        padding: vec![(0, 0)],
    };
    let r = run1(
        p,
        &[
            (HostData::I32(vec![3, 3, 1, 2]), &[4]),
            (HostData::I32(vec![10, 20]), &[2]),
        ],
    );
    assert_eq!(r, HostData::I32(vec![10, 0, 0, 20]));
    let p = Prim::ReduceWindow {
        op: WindowOp::Sum,
        window: vec![2],
        strides: vec![2],
        padding: vec![(0, 0)],
    };
    let r = run1(
        p,
        &[(HostData::Bool(vec![false, false, true, false]), &[4])],
    );
    assert_eq!(r, HostData::Bool(vec![false, true]));
}

#[test]
fn fused_softmax() {
    let x = [1.0f32, 2.0, 3.0, 1000.0, 1000.0, 1000.0];
    let b = buf(f32v(&x));
    let op = Operand {
        buf: &b,
        shape: &[2, 3],
        dtype: DType::F32,
    };
    let outs = [Spec::new(vec![2, 3], DType::F32)];
    let be = CpuBackend::new();
    let get = |f: Fused| {
        as_f32(
            &be.to_host(
                &be.fused(&f, &[op], &outs).unwrap().unwrap()[0],
                &[2, 3],
                DType::F32,
            )
            .unwrap(),
        )
    };
    let s = get(Fused::Softmax { axis: 1 });
    let e: Vec<f64> = [1.0f64, 2.0, 3.0].iter().map(|v| (v - 3.0).exp()).collect();
    let t: f64 = e.iter().sum();
    let want: Vec<f64> = e.iter().map(|v| v / t).chain([1.0 / 3.0; 3]).collect();
    close(
        &s.iter().map(|&v| v as f64).collect::<Vec<_>>(),
        &want,
        1e-6,
    );
    let l = get(Fused::LogSoftmax { axis: 1 });
    close(
        &l.iter().map(|&v| v as f64).collect::<Vec<_>>(),
        &want.iter().map(|v| v.ln()).collect::<Vec<_>>(),
        1e-6,
    );
    let s0 = get(Fused::Softmax { axis: 0 });
    let col0 = 1.0 / (1.0 + (999f64).exp());
    assert!((s0[0] as f64 - col0).abs() < 1e-6 && (s0[3] - 1.0).abs() < 1e-6);
    // Non-f32 falls back to the decomposition.
    let bi = buf(HostData::F64(vec![1.0]));
    let op = Operand {
        buf: &bi,
        shape: &[1],
        dtype: DType::F64,
    };
    assert!(be
        .fused(&Fused::Softmax { axis: 0 }, &[op], &outs)
        .is_none());
}
