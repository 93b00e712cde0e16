//! Primitive-level conformance, written once and run against every backend compiled
//! into this binary (`ceras::backend::available_backends()`), independently of the
//! process backend.

#![allow(clippy::cloned_ref_to_slice_refs, clippy::type_complexity)] // test tables read better this way

use ceras::backend::{available_backends, make_backend, Backend, Operand};
use ceras::prim::*;
use ceras::{DType, HostData};
use std::sync::Arc;

struct Run {
    b: Arc<dyn Backend>,
}

impl Run {
    fn exec(&self, p: Prim, ins: &[(HostData, Vec<usize>)]) -> Vec<(HostData, Vec<usize>)> {
        let bufs: Vec<_> = ins
            .iter()
            .map(|(d, s)| self.b.from_host(d.clone(), s).unwrap())
            .collect();
        let ops: Vec<Operand> = ins
            .iter()
            .zip(&bufs)
            .map(|((d, s), b)| Operand {
                buf: b,
                shape: s,
                dtype: d.dtype(),
            })
            .collect();
        let specs: Vec<Spec> = ins
            .iter()
            .map(|(d, s)| Spec::new(s.clone(), d.dtype()))
            .collect();
        let outs = p.infer(&specs).unwrap();
        let res = self
            .b
            .execute(&p, &ops, &outs)
            .unwrap_or_else(|e| panic!("{} {p:?}: {e}", self.b.name()));
        res.iter()
            .zip(&outs)
            .map(|(r, s)| {
                (
                    self.b.to_host(r, &s.shape, s.dtype).unwrap(),
                    s.shape.clone(),
                )
            })
            .collect()
    }
    fn one(&self, p: Prim, ins: &[(HostData, Vec<usize>)]) -> HostData {
        self.exec(p, ins).swap_remove(0).0
    }
}

fn f32s(v: &[f32], s: &[usize]) -> (HostData, Vec<usize>) {
    (HostData::F32(v.to_vec()), s.to_vec())
}
fn i32s(v: &[i32], s: &[usize]) -> (HostData, Vec<usize>) {
    (HostData::I32(v.to_vec()), s.to_vec())
}

fn close(a: &HostData, b: &[f64]) {
    let a = a.to_f64_vec();
    assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
    for (x, y) in a.iter().zip(b) {
        assert!(
            (x.is_nan() && y.is_nan()) || (x - y).abs() <= 1e-5 * (1.0 + y.abs()),
            "{a:?} vs {b:?}"
        );
    }
}

fn each_backend(f: impl Fn(&Run)) {
    let names = available_backends();
    assert!(!names.is_empty(), "no backend compiled in");
    for n in names {
        f(&Run {
            b: make_backend(n).unwrap(),
        });
    }
}

#[test]
fn elementwise() {
    each_backend(|r| {
        let x = f32s(&[-1.5, 0.0, 2.5, f32::NAN], &[4]);
        close(
            &r.one(Prim::Unary(UnaryOp::Abs), &[x.clone()]),
            &[1.5, 0.0, 2.5, f64::NAN],
        );
        close(
            &r.one(Prim::Unary(UnaryOp::Round), &[x.clone()]),
            &[-2.0, 0.0, 2.0, f64::NAN],
        );
        close(
            &r.one(Prim::Unary(UnaryOp::Logistic), &[f32s(&[0.0], &[1])]),
            &[0.5],
        );
        assert_eq!(
            r.one(Prim::Unary(UnaryOp::IsNan), &[x.clone()]),
            HostData::Bool(vec![false, false, false, true])
        );
        // Integer division by zero and overflow never panic.
        let a = i32s(&[7, -7, i32::MIN, 5], &[4]);
        let b = i32s(&[2, 2, -1, 0], &[4]);
        let q = r.one(Prim::Binary(BinaryOp::Div), &[a.clone(), b.clone()]);
        assert_eq!(&q.to_i64_vec()[..3], &[3, -3, i32::MIN as i64]);
        let m = r.one(Prim::Binary(BinaryOp::Rem), &[a, b]);
        assert_eq!(&m.to_i64_vec()[..2], &[1, -1]);
        let y = f32s(&[1.0, f32::NAN, 3.0, 0.0], &[4]);
        close(
            &r.one(Prim::Binary(BinaryOp::Max), &[x.clone(), y.clone()]),
            &[1.0, f64::NAN, 3.0, f64::NAN],
        );
        assert_eq!(
            r.one(Prim::Compare(CmpOp::Lt), &[x.clone(), y.clone()]),
            HostData::Bool(vec![true, false, true, false])
        );
        let p = (HostData::Bool(vec![true, false, true, false]), vec![4]);
        close(
            &r.one(Prim::Select, &[p, x.clone(), y]),
            &[-1.5, f64::NAN, 2.5, 0.0],
        );
        assert_eq!(
            r.one(Prim::Cast(DType::I32), &[f32s(&[-1.7, 2.9], &[2])]),
            HostData::I32(vec![-1, 2])
        );
        assert_eq!(
            r.one(Prim::Cast(DType::Bool), &[x]),
            HostData::Bool(vec![true, false, true, true])
        );
    });
}

#[test]
fn layout() {
    each_backend(|r| {
        let x = f32s(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
        close(
            &r.one(
                Prim::Broadcast {
                    shape: vec![2, 2, 3],
                    dims: vec![1, 2],
                },
                &[x.clone()],
            ),
            &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        );
        close(
            &r.one(Prim::Transpose(vec![1, 0]), &[x.clone()]),
            &[1.0, 4.0, 2.0, 5.0, 3.0, 6.0],
        );
        close(
            &r.one(
                Prim::Slice {
                    start: vec![0, 1],
                    limit: vec![2, 3],
                    strides: vec![1, 2],
                },
                &[x.clone()],
            ),
            &[2.0, 5.0],
        );
        close(
            &r.one(Prim::Reverse(vec![1]), &[x.clone()]),
            &[3.0, 2.0, 1.0, 6.0, 5.0, 4.0],
        );
        // Interior padding, negative (cropping) low padding.
        close(
            &r.one(
                Prim::Pad {
                    lo: vec![0, -1],
                    hi: vec![1, 1],
                    interior: vec![0, 1],
                },
                &[x.clone(), f32s(&[9.0], &[])],
            ),
            &[
                9.0, 2.0, 9.0, 3.0, 9.0, 9.0, 5.0, 9.0, 6.0, 9.0, 9.0, 9.0, 9.0, 9.0, 9.0,
            ],
        );
        close(
            &r.one(
                Prim::Concatenate(1),
                &[x.clone(), f32s(&[7.0, 8.0], &[2, 1])],
            ),
            &[1.0, 2.0, 3.0, 7.0, 4.0, 5.0, 6.0, 8.0],
        );
        close(
            &r.one(Prim::Reshape(vec![3, 2]), &[x]),
            &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        );
    });
}

#[test]
fn reductions_and_scans() {
    each_backend(|r| {
        let x = f32s(&[1.0, 5.0, 3.0, 4.0, 2.0, 6.0], &[2, 3]);
        close(
            &r.one(
                Prim::Reduce {
                    op: ReduceOp::Sum,
                    axes: vec![1],
                },
                &[x.clone()],
            ),
            &[9.0, 12.0],
        );
        close(
            &r.one(
                Prim::Reduce {
                    op: ReduceOp::Max,
                    axes: vec![0],
                },
                &[x.clone()],
            ),
            &[4.0, 5.0, 6.0],
        );
        close(
            &r.one(
                Prim::Reduce {
                    op: ReduceOp::Prod,
                    axes: vec![0, 1],
                },
                &[x.clone()],
            ),
            &[720.0],
        );
        let nan = f32s(&[1.0, f32::NAN, 7.0, f32::NAN], &[4]);
        let am = r.one(
            Prim::ArgReduce {
                op: ArgOp::ArgMax,
                axis: 0,
                index_dtype: DType::I32,
            },
            &[nan],
        );
        assert_eq!(am, HostData::I32(vec![1]));
        close(
            &r.one(
                Prim::Cumulative {
                    op: CumOp::Sum,
                    axis: 1,
                    reverse: false,
                },
                &[x.clone()],
            ),
            &[1.0, 6.0, 9.0, 4.0, 6.0, 12.0],
        );
        close(
            &r.one(
                Prim::Cumulative {
                    op: CumOp::Max,
                    axis: 1,
                    reverse: true,
                },
                &[x.clone()],
            ),
            &[5.0, 5.0, 3.0, 6.0, 6.0, 6.0],
        );
        let s = r.exec(
            Prim::Sort {
                axis: 1,
                descending: false,
            },
            &[f32s(&[3.0, f32::NAN, 1.0, 3.0], &[1, 4])],
        );
        close(&s[0].0, &[1.0, 3.0, 3.0, f64::NAN]);
        assert_eq!(s[1].0, HostData::I32(vec![2, 0, 3, 1]));
        let s = r.exec(
            Prim::Sort {
                axis: 0,
                descending: true,
            },
            &[f32s(&[1.0, 3.0, 2.0, 3.0], &[4])],
        );
        close(&s[0].0, &[3.0, 3.0, 2.0, 1.0]);
        assert_eq!(s[1].0, HostData::I32(vec![1, 3, 2, 0]));
        assert_eq!(
            r.one(
                Prim::Iota {
                    shape: vec![2, 3],
                    dtype: DType::I32,
                    dim: 1
                },
                &[]
            ),
            HostData::I32(vec![0, 1, 2, 0, 1, 2])
        );
    });
}

#[test]
fn dot_general_matches_naive() {
    each_backend(|r| {
        let (b, m, k, n) = (2, 3, 4, 5);
        let a: Vec<f32> = (0..b * m * k)
            .map(|i| ((i * 7) % 11) as f32 - 5.0)
            .collect();
        let c: Vec<f32> = (0..b * k * n)
            .map(|i| ((i * 5) % 13) as f32 - 6.0)
            .collect();
        let out = r.one(
            Prim::DotGeneral {
                lhs_contract: vec![2],
                rhs_contract: vec![1],
                lhs_batch: vec![0],
                rhs_batch: vec![0],
            },
            &[f32s(&a, &[b, m, k]), f32s(&c, &[b, k, n])],
        );
        let mut want = vec![0.0f64; b * m * n];
        for bi in 0..b {
            for i in 0..m {
                for j in 0..n {
                    for l in 0..k {
                        want[(bi * m + i) * n + j] +=
                            (a[(bi * m + i) * k + l] * c[(bi * k + l) * n + j]) as f64;
                    }
                }
            }
        }
        close(&out, &want);
    });
}

/// Naive N=1 2-D convolution with padding, strides, dilations and groups.
#[allow(clippy::too_many_arguments)]
fn naive_conv(
    x: &[f32],
    xs: [usize; 3],
    k: &[f32],
    ks: [usize; 4],
    stride: [usize; 2],
    pad: [(i64, i64); 2],
    ld: [usize; 2],
    rd: [usize; 2],
    g: usize,
) -> (Vec<f64>, Vec<usize>) {
    let (c, h, w) = (xs[0], xs[1], xs[2]);
    let (o, ci, kh, kw) = (ks[0], ks[1], ks[2], ks[3]);
    let dh = ((h - 1) * ld[0] + 1) as i64 + pad[0].0 + pad[0].1;
    let dw = ((w - 1) * ld[1] + 1) as i64 + pad[1].0 + pad[1].1;
    let ekh = ((kh - 1) * rd[0] + 1) as i64;
    let ekw = ((kw - 1) * rd[1] + 1) as i64;
    let oh = ((dh - ekh) / stride[0] as i64 + 1) as usize;
    let ow = ((dw - ekw) / stride[1] as i64 + 1) as usize;
    let og = o / g;
    let mut out = vec![0.0; o * oh * ow];
    for oc in 0..o {
        let grp = oc / og;
        for y in 0..oh {
            for xx in 0..ow {
                let mut s = 0.0f64;
                for ic in 0..ci {
                    let cin = grp * ci + ic;
                    for a in 0..kh {
                        for b in 0..kw {
                            let py = (y * stride[0] + a * rd[0]) as i64 - pad[0].0;
                            let px = (xx * stride[1] + b * rd[1]) as i64 - pad[1].0;
                            if py < 0 || px < 0 || py % ld[0] as i64 != 0 || px % ld[1] as i64 != 0
                            {
                                continue;
                            }
                            let (iy, ix) =
                                ((py / ld[0] as i64) as usize, (px / ld[1] as i64) as usize);
                            if iy >= h || ix >= w {
                                continue;
                            }
                            s += (x[(cin * h + iy) * w + ix]
                                * k[((oc * ci + ic) * kh + a) * kw + b])
                                as f64;
                        }
                    }
                }
                out[(oc * oh + y) * ow + xx] = s;
            }
        }
        let _ = c;
    }
    (out, vec![1, o, oh, ow])
}

#[test]
fn conv_matches_naive() {
    each_backend(|r| {
        let cases: Vec<(
            [usize; 3],
            [usize; 4],
            [usize; 2],
            [(i64, i64); 2],
            [usize; 2],
            [usize; 2],
            usize,
        )> = vec![
            (
                [2, 6, 5],
                [3, 2, 3, 3],
                [1, 1],
                [(0, 0), (0, 0)],
                [1, 1],
                [1, 1],
                1,
            ),
            (
                [2, 7, 6],
                [4, 2, 3, 2],
                [2, 1],
                [(1, 1), (0, 1)],
                [1, 1],
                [1, 2],
                1,
            ),
            (
                [4, 5, 5],
                [4, 1, 3, 3],
                [1, 1],
                [(1, 1), (1, 1)],
                [1, 1],
                [1, 1],
                4,
            ),
            (
                [4, 5, 4],
                [6, 2, 2, 2],
                [1, 2],
                [(-1, 0), (1, 2)],
                [1, 1],
                [1, 1],
                2,
            ),
            (
                [3, 3, 4],
                [2, 3, 3, 3],
                [1, 1],
                [(2, 2), (2, 3)],
                [2, 2],
                [1, 1],
                1,
            ),
        ];
        for (xs, ks, st, pad, ld, rd, g) in cases {
            let x: Vec<f32> = (0..xs.iter().product::<usize>())
                .map(|i| ((i * 7) % 9) as f32 - 4.0)
                .collect();
            let k: Vec<f32> = (0..ks.iter().product::<usize>())
                .map(|i| ((i * 3) % 5) as f32 - 2.0)
                .collect();
            let (want, shape) = naive_conv(&x, xs, &k, ks, st, pad, ld, rd, g);
            let out = r.exec(
                Prim::Conv {
                    dims: ConvDims::channels_first(2),
                    strides: st.to_vec(),
                    padding: pad.to_vec(),
                    lhs_dilation: ld.to_vec(),
                    rhs_dilation: rd.to_vec(),
                    groups: g,
                },
                &[f32s(&x, &[1, xs[0], xs[1], xs[2]]), f32s(&k, &ks)],
            );
            assert_eq!(out[0].1, shape);
            close(&out[0].0, &want);
            // The same convolution in three other layouts: channels-last data with
            // an HWIO kernel (Keras's), with the kernel's features swapped (the
            // input gradient's), and an arbitrary permutation of every operand.
            let x4 = [1, xs[0], xs[1], xs[2]];
            let layouts = [
                ConvDims::channels_last(2),
                ConvDims {
                    rhs: vec![2, 3, 0, 1],
                    ..ConvDims::channels_last(2)
                },
                ConvDims {
                    lhs: vec![3, 1, 0, 2],
                    rhs: vec![1, 3, 2, 0],
                    out: vec![2, 0, 3, 1],
                },
            ];
            for dims in layouts {
                let (xp, xps) = place(&x, &x4, &dims.lhs);
                let (kp, kps) = place(&k, &ks, &dims.rhs);
                let out = r.exec(
                    Prim::Conv {
                        dims: dims.clone(),
                        strides: st.to_vec(),
                        padding: pad.to_vec(),
                        lhs_dilation: ld.to_vec(),
                        rhs_dilation: rd.to_vec(),
                        groups: g,
                    },
                    &[f32s(&xp, &xps), f32s(&kp, &kps)],
                );
                let (_, ops) = place(&vec![0.0; want.len()], &shape, &dims.out);
                assert_eq!(out[0].1, ops, "{dims:?}");
                let got: Vec<f32> = out[0].0.to_f64_vec().iter().map(|&v| v as f32).collect();
                let (back, _) = permute(&got, &ops, &dims.out);
                close(&HostData::F32(back), &want);
            }
        }
    });
}

/// `v` (shape `s`) with its axes permuted: output axis `i` is input axis `perm[i]`.
fn permute(v: &[f32], s: &[usize], perm: &[usize]) -> (Vec<f32>, Vec<usize>) {
    let os: Vec<usize> = perm.iter().map(|&p| s[p]).collect();
    let mut st = vec![1; s.len()];
    for i in (0..s.len().saturating_sub(1)).rev() {
        st[i] = st[i + 1] * s[i + 1];
    }
    let out = (0..v.len())
        .map(|mut i| {
            let mut off = 0;
            for d in (0..os.len()).rev() {
                off += i % os[d] * st[perm[d]];
                i /= os[d];
            }
            v[off]
        })
        .collect();
    (out, os)
}

/// A logical `[batch, feature, *spatial]`-style array laid out by a conv spec:
/// physical axis `spec[i]` holds logical axis `i`.
fn place(v: &[f32], logical: &[usize], spec: &[usize]) -> (Vec<f32>, Vec<usize>) {
    let mut inv = vec![0; spec.len()];
    for (i, &a) in spec.iter().enumerate() {
        inv[a] = i;
    }
    permute(v, logical, &inv)
}

#[test]
fn windows_and_indexing() {
    each_backend(|r| {
        let x = f32s(&[1.0, 5.0, 2.0, 4.0, 3.0, 0.0], &[1, 6]);
        let geo = (vec![1, 2], vec![1, 2], vec![(0, 0), (0, 0)]);
        close(
            &r.one(
                Prim::ReduceWindow {
                    op: WindowOp::Max,
                    window: geo.0.clone(),
                    strides: geo.1.clone(),
                    padding: geo.2.clone(),
                },
                &[x.clone()],
            ),
            &[5.0, 4.0, 3.0],
        );
        close(
            &r.one(
                Prim::ReduceWindow {
                    op: WindowOp::Sum,
                    window: vec![1, 3],
                    strides: vec![1, 1],
                    padding: vec![(0, 0), (1, 1)],
                },
                &[x.clone()],
            ),
            &[6.0, 8.0, 11.0, 9.0, 7.0, 3.0],
        );
        close(
            &r.one(
                Prim::SelectAndScatterAdd {
                    window: geo.0,
                    strides: geo.1,
                    padding: geo.2,
                },
                &[x.clone(), f32s(&[10.0, 20.0, 30.0], &[1, 3])],
            ),
            &[0.0, 10.0, 0.0, 20.0, 30.0, 0.0],
        );
        // Gather clamps out-of-range indices.
        let t = f32s(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2]);
        close(
            &r.one(
                Prim::Gather { axis: 0 },
                &[t.clone(), i32s(&[2, 0, 9], &[3])],
            ),
            &[5.0, 6.0, 1.0, 2.0, 5.0, 6.0],
        );
        // Scatter-add accumulates duplicates and drops out-of-range indices.
        close(
            &r.one(
                Prim::Scatter {
                    axis: 1,
                    mode: ScatterMode::Add,
                },
                &[t.clone(), i32s(&[1, 1, 5], &[3]), f32s(&[1.0; 9], &[3, 3])],
            ),
            &[1.0, 4.0, 3.0, 6.0, 5.0, 8.0],
        );
        close(
            &r.one(
                Prim::Scatter {
                    axis: 0,
                    mode: ScatterMode::Set,
                },
                &[t, i32s(&[1], &[1]), f32s(&[0.0, 0.0], &[1, 2])],
            ),
            &[1.0, 2.0, 0.0, 0.0, 5.0, 6.0],
        );
    });
}

#[test]
fn half_precision_roundtrip() {
    each_backend(|r| {
        let h = (
            HostData::F16(vec![half::f16::from_f32(1.5), half::f16::from_f32(-2.0)]),
            vec![2],
        );
        let y = r.one(Prim::Binary(BinaryOp::Mul), &[h.clone(), h]);
        close(&y, &[2.25, 4.0]);
        let b = (HostData::BF16(vec![half::bf16::from_f32(3.0)]), vec![1]);
        close(&r.one(Prim::Unary(UnaryOp::Sqrt), &[b]), &[1.734375]);
    });
}
