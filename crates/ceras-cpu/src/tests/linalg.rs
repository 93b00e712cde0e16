//! DotGeneral and Conv against naive reference loops.

use super::*;

/// Naive dot_general in f64 on row-major data.
#[allow(clippy::too_many_arguments)]
fn naive_dot(
    x: &[f64],
    xs: &[usize],
    y: &[f64],
    ys: &[usize],
    lc: &[usize],
    rc: &[usize],
    lb: &[usize],
    rb: &[usize],
) -> Vec<f64> {
    let lf: Vec<usize> = (0..xs.len())
        .filter(|d| !lc.contains(d) && !lb.contains(d))
        .collect();
    let rf: Vec<usize> = (0..ys.len())
        .filter(|d| !rc.contains(d) && !rb.contains(d))
        .collect();
    let sizes = |s: &[usize], d: &[usize]| d.iter().map(|&i| s[i]).collect::<Vec<_>>();
    let (bs, ms, ks, ns) = (sizes(xs, lb), sizes(xs, &lf), sizes(xs, lc), sizes(ys, &rf));
    let multi = |mut i: usize, s: &[usize]| {
        let mut v = vec![0; s.len()];
        for d in (0..s.len()).rev() {
            v[d] = i % s[d];
            i /= s[d];
        }
        v
    };
    let flat = |idx: &[usize], s: &[usize]| idx.iter().zip(s).fold(0, |a, (&i, &n)| a * n + i);
    let p = |s: &[usize]| s.iter().product::<usize>();
    let mut out = Vec::new();
    for b in 0..p(&bs) {
        let bi = multi(b, &bs);
        for m in 0..p(&ms) {
            let mi = multi(m, &ms);
            for n in 0..p(&ns) {
                let ni = multi(n, &ns);
                let mut acc = 0.0;
                for k in 0..p(&ks) {
                    let ki = multi(k, &ks);
                    let mut xi = vec![0; xs.len()];
                    let mut yi = vec![0; ys.len()];
                    for (j, &d) in lb.iter().enumerate() {
                        xi[d] = bi[j];
                    }
                    for (j, &d) in rb.iter().enumerate() {
                        yi[d] = bi[j];
                    }
                    for (j, &d) in lf.iter().enumerate() {
                        xi[d] = mi[j];
                    }
                    for (j, &d) in rf.iter().enumerate() {
                        yi[d] = ni[j];
                    }
                    for (j, &d) in lc.iter().enumerate() {
                        xi[d] = ki[j];
                    }
                    for (j, &d) in rc.iter().enumerate() {
                        yi[d] = ki[j];
                    }
                    acc += x[flat(&xi, xs)] * y[flat(&yi, ys)];
                }
                out.push(acc);
            }
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn check_dot(
    xs: &[usize],
    ys: &[usize],
    lc: &[usize],
    rc: &[usize],
    lb: &[usize],
    rb: &[usize],
    dt: DType,
    tol: f64,
) {
    let nx: usize = xs.iter().product();
    let ny: usize = ys.iter().product();
    let (x, y) = if dt.is_float() {
        (rand_vec(nx, 11), rand_vec(ny, 12))
    } else {
        let r = |n, s| {
            rand_vec(n, s)
                .iter()
                .map(|v| (v * 10.0).round())
                .collect::<Vec<f64>>()
        };
        (r(nx, 11), r(ny, 12))
    };
    let xd = HostData::from_f64(dt, &x);
    let yd = HostData::from_f64(dt, &y);
    let (x, y) = (xd.to_f64_vec(), yd.to_f64_vec());
    let prim = Prim::DotGeneral {
        lhs_contract: lc.to_vec(),
        rhs_contract: rc.to_vec(),
        lhs_batch: lb.to_vec(),
        rhs_batch: rb.to_vec(),
    };
    let r = run1(prim, &[(xd, xs), (yd, ys)]);
    assert_eq!(r.dtype(), dt);
    close(
        &r.to_f64_vec(),
        &naive_dot(&x, xs, &y, ys, lc, rc, lb, rb),
        tol,
    );
}

#[test]
fn dot_general_layouts() {
    let f = DType::F32;
    check_dot(&[5, 7], &[7, 3], &[1], &[0], &[], &[], f, 1e-5);
    check_dot(&[7, 5], &[7, 3], &[0], &[0], &[], &[], f, 1e-5); // lhs transposed
    check_dot(&[5, 7], &[3, 7], &[1], &[1], &[], &[], f, 1e-5); // rhs transposed
    check_dot(&[7], &[7], &[0], &[0], &[], &[], f, 1e-5); // inner product
    check_dot(&[4, 5, 6], &[4, 6, 3], &[2], &[1], &[0], &[0], f, 1e-5); // batched
    check_dot(&[5, 4, 6], &[6, 3, 4], &[2], &[0], &[1], &[2], f, 1e-5); // batch dims in the middle / last
                                                                        // Attention's layouts: (batch, seq, heads, head_dim) with batch dims 0 and 2
                                                                        // (strided views, no copy): q·kᵀ, then probs (b, n, t, s) · v.
    check_dot(
        &[2, 5, 3, 4],
        &[2, 6, 3, 4],
        &[3],
        &[3],
        &[0, 2],
        &[0, 2],
        f,
        1e-5,
    );
    check_dot(
        &[2, 3, 5, 6],
        &[2, 6, 3, 4],
        &[3],
        &[1],
        &[0, 1],
        &[0, 2],
        f,
        1e-5,
    );
    // Batch dims listed out of memory order; two free dims that are not
    // evenly spaced (dims 0 and 2 of the lhs), which need a copy.
    check_dot(
        &[2, 5, 3, 4],
        &[3, 4, 2, 6],
        &[3],
        &[1],
        &[2, 0],
        &[0, 2],
        f,
        1e-5,
    );
    check_dot(&[3, 2, 5, 4], &[2, 4, 6], &[3], &[1], &[1], &[0], f, 1e-5);
    check_dot(
        &[2, 3, 4, 5],
        &[4, 3, 6],
        &[1, 2],
        &[1, 0],
        &[],
        &[],
        f,
        1e-5,
    ); // two contracting dims
    check_dot(&[3, 4], &[5], &[], &[], &[], &[], f, 1e-5); // outer product
    check_dot(&[0, 4], &[4, 3], &[1], &[0], &[], &[], f, 1e-5);
    check_dot(&[3, 0], &[0, 2], &[1], &[0], &[], &[], f, 1e-5); // k = 0 gives zeros
    check_dot(
        &[130, 70],
        &[70, 90],
        &[1],
        &[0],
        &[],
        &[],
        DType::F64,
        1e-12,
    );
    check_dot(&[33, 20], &[20, 17], &[1], &[0], &[], &[], DType::F16, 2e-2);
    check_dot(
        &[33, 20],
        &[20, 17],
        &[1],
        &[0],
        &[],
        &[],
        DType::BF16,
        5e-2,
    );
    check_dot(&[6, 5], &[5, 4], &[1], &[0], &[], &[], DType::I32, 0.0);
    check_dot(
        &[2, 6, 5],
        &[2, 4, 5],
        &[2],
        &[2],
        &[0],
        &[0],
        DType::I64,
        0.0,
    );
    check_dot(&[6, 5], &[5, 4], &[1], &[0], &[], &[], DType::U8, 0.0);
    // Large enough for the parallel gemm path.
    check_dot(&[200, 300], &[300, 100], &[1], &[0], &[], &[], f, 1e-4);
    // Long contractions into small results, split across threads by k (an
    // RNN kernel's / a convolution's weight gradient); odd k: unequal parts.
    check_dot(
        &[40, 300, 16],
        &[40, 300, 24],
        &[0, 1],
        &[0, 1],
        &[],
        &[],
        f,
        1e-3,
    );
    check_dot(
        &[20, 13001],
        &[13001, 17],
        &[1],
        &[0],
        &[],
        &[],
        DType::F64,
        1e-9,
    );
    // Many small batches in parallel.
    check_dot(&[300, 8, 9], &[300, 9, 10], &[2], &[1], &[0], &[0], f, 1e-5);
    let r = run1(
        Prim::DotGeneral {
            lhs_contract: vec![1],
            rhs_contract: vec![0],
            lhs_batch: vec![],
            rhs_batch: vec![],
        },
        &[
            (HostData::Bool(vec![true, false, false, false]), &[2, 2]),
            (HostData::Bool(vec![true, true, false, true]), &[2, 2]),
        ],
    );
    assert_eq!(r, HostData::Bool(vec![true, true, false, false]));
}

struct ConvCase {
    x: Vec<usize>,
    w: Vec<usize>,
    strides: Vec<usize>,
    padding: Vec<(i64, i64)>,
    ld: Vec<usize>,
    rd: Vec<usize>,
    groups: usize,
}

fn naive_conv(xv: &[f64], w: &[f64], c: &ConvCase, os: &[usize]) -> Vec<f64> {
    {
        let nd = c.x.len() - 2;
        let (n, ch, o, cg) = (c.x[0], c.x[1], c.w[0], c.w[1]);
        let og = o / c.groups;
        let sp = &c.x[2..];
        let ks = &c.w[2..];
        let qs = &os[2..];
        #[allow(clippy::needless_range_loop)]
        let multi = |mut i: usize, s: &[usize]| {
            let mut v = vec![0; s.len()];
            for d in (0..s.len()).rev() {
                v[d] = i % s[d];
                i /= s[d];
            }
            v
        };
        let p = |s: &[usize]| s.iter().product::<usize>();
        let mut out = Vec::new();
        for ni in 0..n {
            for oi in 0..o {
                let g = oi / og;
                for q in 0..p(qs) {
                    let qi = multi(q, qs);
                    let mut acc = 0.0;
                    for ci in 0..cg {
                        for k in 0..p(ks) {
                            let ki = multi(k, ks);
                            let mut xoff = 0;
                            let mut ok = true;
                            for d in 0..nd {
                                let pos = (qi[d] * c.strides[d] + ki[d] * c.rd[d]) as i64
                                    - c.padding[d].0;
                                if pos < 0
                                    || pos % c.ld[d] as i64 != 0
                                    || pos / c.ld[d] as i64 >= sp[d] as i64
                                {
                                    ok = false;
                                    break;
                                }
                                xoff = xoff * sp[d] + (pos / c.ld[d] as i64) as usize;
                            }
                            if ok {
                                let xc = (ni * ch + g * cg + ci) * p(sp);
                                let wc = (oi * cg + ci) * p(ks);
                                acc += xv[xc + xoff] * w[wc + k];
                            }
                        }
                    }
                    out.push(acc);
                }
            }
        }
        out
    }
}

fn check_conv(c: ConvCase, dt: DType, tol: f64) {
    let nx: usize = c.x.iter().product();
    let nw: usize = c.w.iter().product();
    let (xd, wd) = (
        HostData::from_f64(dt, &rand_vec(nx, 21)),
        HostData::from_f64(dt, &rand_vec(nw, 22)),
    );
    let (xd, wd) = if dt.is_int() {
        let r = |n, s| {
            rand_vec(n, s)
                .iter()
                .map(|v| (v * 5.0).round())
                .collect::<Vec<f64>>()
        };
        (
            HostData::from_f64(dt, &r(nx, 21)),
            HostData::from_f64(dt, &r(nw, 22)),
        )
    } else {
        (xd, wd)
    };
    let prim = |dims: ConvDims| Prim::Conv {
        dims,
        strides: c.strides.clone(),
        padding: c.padding.clone(),
        lhs_dilation: c.ld.clone(),
        rhs_dilation: c.rd.clone(),
        groups: c.groups,
    };
    let r = c.x.len();
    let nd = r - 2;
    let specs = [Spec::new(c.x.clone(), dt), Spec::new(c.w.clone(), dt)];
    let os = prim(ConvDims::channels_first(nd)).infer(&specs).unwrap()[0]
        .shape
        .clone();
    let want = naive_conv(&xd.to_f64_vec(), &wd.to_f64_vec(), &c, &os);
    // Every layout computes the same convolution: channels-first, channels-last
    // (Keras's `(*sp, I, O)` kernel and the I/O-swapped one the input gradient
    // uses), the kernel-gradient layout, and an arbitrary one (transposed to
    // channels-first and back).
    let cl = ConvDims::channels_last(nd);
    let mut swapped = vec![r - 1, 0];
    swapped.extend(1..r - 1);
    let mut hwio = vec![nd, nd + 1];
    hwio.extend(0..nd);
    let mut odd: Vec<usize> = (1..r).collect();
    odd.push(0);
    let mut odd_out = vec![r - 1];
    odd_out.extend(0..r - 1);
    let layouts = [
        ConvDims::channels_first(nd),
        cl.clone(),
        ConvDims {
            rhs: ConvDims::swap01(&cl.rhs),
            ..cl.clone()
        },
        ConvDims {
            lhs: swapped.clone(),
            rhs: swapped,
            out: hwio,
        },
        ConvDims {
            lhs: odd,
            rhs: (0..r).rev().collect(),
            out: odd_out,
        },
    ];
    for dims in layouts {
        // Physical axis `spec[i]` holds logical axis `i`.
        let place = |d: &HostData, logical: &[usize], spec: &[usize]| {
            let mut inv = vec![0; spec.len()];
            for (i, &a) in spec.iter().enumerate() {
                inv[a] = i;
            }
            (
                crate::layout::transpose(d, logical, &inv),
                logical_shape(logical, &inv),
            )
        };
        let (xp, xps) = place(&xd, &c.x, &dims.lhs);
        let (wp, wps) = place(&wd, &c.w, &dims.rhs);
        let (_, ops) = place(
            &HostData::F64(vec![0.0; os.iter().product()]),
            &os,
            &dims.out,
        );
        let got = run1(prim(dims.clone()), &[(xp, &xps), (wp, &wps)]);
        let got = crate::layout::transpose(&got, &ops, &dims.out);
        assert_eq!(got.len(), want.len(), "{dims:?}");
        close(&got.to_f64_vec(), &want, tol);
    }
}

#[test]
fn conv_against_naive() {
    let case =
        |x: &[usize], w: &[usize], s: &[usize], p: &[(i64, i64)], ld: &[usize], rd: &[usize], g| {
            ConvCase {
                x: x.to_vec(),
                w: w.to_vec(),
                strides: s.to_vec(),
                padding: p.to_vec(),
                ld: ld.to_vec(),
                rd: rd.to_vec(),
                groups: g,
            }
        };
    let f = DType::F32;
    // 1-D: plain, strided + padded, dilated, negative padding, transposed (lhs dilation).
    check_conv(
        case(&[2, 3, 10], &[4, 3, 3], &[1], &[(0, 0)], &[1], &[1], 1),
        f,
        1e-5,
    );
    check_conv(
        case(&[2, 3, 10], &[4, 3, 3], &[2], &[(1, 2)], &[1], &[1], 1),
        f,
        1e-5,
    );
    check_conv(
        case(&[1, 2, 12], &[3, 2, 3], &[1], &[(2, 2)], &[1], &[2], 1),
        f,
        1e-5,
    );
    check_conv(
        case(&[1, 2, 12], &[3, 2, 3], &[1], &[(-2, -1)], &[1], &[1], 1),
        f,
        1e-5,
    );
    check_conv(
        case(&[2, 2, 5], &[3, 2, 3], &[1], &[(2, 2)], &[2], &[1], 1),
        f,
        1e-5,
    );
    check_conv(
        case(&[2, 2, 5], &[3, 2, 4], &[2], &[(1, 3)], &[3], &[2], 1),
        f,
        1e-5,
    );
    // Kernels wider than the output rows (the weight-gradient shape): the
    // tap-major im2col, with padding, rhs dilation, strides, lhs dilation, groups.
    check_conv(
        case(
            &[3, 4, 9, 10],
            &[2, 4, 7, 8],
            &[1, 1],
            &[(0, 0), (0, 0)],
            &[1, 1],
            &[1, 1],
            1,
        ),
        f,
        1e-5,
    );
    check_conv(
        case(
            &[2, 4, 9, 10],
            &[4, 2, 6, 7],
            &[1, 2],
            &[(1, 2), (2, 1)],
            &[1, 1],
            &[1, 1],
            2,
        ),
        f,
        1e-5,
    );
    check_conv(
        case(
            &[2, 2, 8, 9],
            &[3, 2, 3, 5],
            &[1, 1],
            &[(1, -1), (0, 1)],
            &[1, 1],
            &[2, 2],
            1,
        ),
        f,
        1e-5,
    );
    check_conv(
        case(
            &[1, 2, 4, 4],
            &[2, 2, 5, 7],
            &[1, 1],
            &[(1, 1), (2, 2)],
            &[2, 2],
            &[1, 1],
            1,
        ),
        f,
        1e-5,
    );
    // 2-D: groups, depthwise, 1x1 fast path, stride + dilation.
    check_conv(
        case(
            &[2, 4, 7, 6],
            &[6, 2, 3, 3],
            &[1, 1],
            &[(1, 1), (1, 1)],
            &[1, 1],
            &[1, 1],
            2,
        ),
        f,
        1e-5,
    );
    check_conv(
        case(
            &[2, 3, 8, 8],
            &[3, 1, 3, 3],
            &[2, 1],
            &[(1, 0), (0, 2)],
            &[1, 1],
            &[1, 2],
            3,
        ),
        f,
        1e-5,
    );
    check_conv(
        case(
            &[2, 5, 6, 7],
            &[4, 5, 1, 1],
            &[1, 1],
            &[(0, 0), (0, 0)],
            &[1, 1],
            &[1, 1],
            1,
        ),
        f,
        1e-5,
    );
    check_conv(
        case(
            &[1, 3, 9, 9],
            &[2, 3, 3, 2],
            &[2, 3],
            &[(-1, 2), (1, -1)],
            &[2, 1],
            &[1, 2],
            1,
        ),
        f,
        1e-5,
    );
    // 3-D.
    check_conv(
        case(
            &[1, 2, 5, 4, 6],
            &[3, 2, 2, 3, 2],
            &[1, 2, 1],
            &[(1, 0), (0, 1), (1, 1)],
            &[1, 1, 2],
            &[2, 1, 1],
            1,
        ),
        f,
        1e-5,
    );
    // Other dtypes.
    check_conv(
        case(
            &[2, 4, 7, 6],
            &[6, 2, 3, 3],
            &[1, 1],
            &[(1, 1), (1, 1)],
            &[1, 1],
            &[1, 1],
            2,
        ),
        DType::F64,
        1e-12,
    );
    check_conv(
        case(
            &[2, 4, 7, 6],
            &[6, 2, 3, 3],
            &[1, 1],
            &[(1, 1), (1, 1)],
            &[1, 1],
            &[1, 1],
            2,
        ),
        DType::I32,
        0.0,
    );
    check_conv(
        case(
            &[1, 2, 5, 5],
            &[2, 2, 3, 3],
            &[1, 1],
            &[(1, 1), (1, 1)],
            &[1, 1],
            &[1, 1],
            1,
        ),
        DType::F16,
        2e-2,
    );
    check_conv(
        case(
            &[1, 2, 5, 5],
            &[2, 2, 3, 3],
            &[1, 1],
            &[(1, 1), (1, 1)],
            &[1, 1],
            &[1, 1],
            1,
        ),
        DType::BF16,
        5e-2,
    );
    // Larger: parallel over batch, and an empty output.
    check_conv(
        case(
            &[4, 8, 20, 20],
            &[16, 8, 3, 3],
            &[1, 1],
            &[(1, 1), (1, 1)],
            &[1, 1],
            &[1, 1],
            1,
        ),
        f,
        1e-4,
    );
    check_conv(
        case(&[1, 1, 2], &[1, 1, 3], &[1], &[(0, 0)], &[1], &[1], 1),
        f,
        1e-5,
    );
}
