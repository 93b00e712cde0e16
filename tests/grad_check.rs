//! Finite-difference checks of every primitive's VJP rule (float64, central
//! differences), written against `lax` so each test isolates one primitive.

#![allow(clippy::cloned_ref_to_slice_refs)] // test tables read better this way

use ceras::lax;
use ceras::prim::*;
use ceras::{autodiff, Result, Tensor};

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64) / ((1u64 << 53) as f64)
    }
    fn tensor(&mut self, shape: &[usize], lo: f64, hi: f64) -> Tensor {
        let n: usize = shape.iter().product();
        let v: Vec<f64> = (0..n).map(|_| lo + (hi - lo) * self.next()).collect();
        Tensor::from_vec(v, shape.to_vec()).unwrap()
    }
}

/// Checks d/dx sum(f(x) * w) against central differences for every input element.
fn check<F>(name: &str, f: F, inputs: &[Tensor])
where
    F: Fn(&[Tensor]) -> Result<Tensor>,
{
    let mut rng = Lcg(0xC0FFEE);
    let y0 = f(inputs).unwrap_or_else(|e| panic!("{name}: forward failed: {e}"));
    let w = rng.tensor(y0.shape(), 0.5, 1.5);
    let loss = |xs: &[Tensor]| -> Result<Tensor> {
        let y = f(xs)?;
        let p = lax::mul(&y, &w)?;
        let all: Vec<usize> = (0..p.ndim()).collect();
        lax::reduce_sum(&p, &all)
    };
    let grads = autodiff::grad(loss, inputs).unwrap_or_else(|e| panic!("{name}: grad failed: {e}"));
    let eps = 1e-6;
    for (k, x) in inputs.iter().enumerate() {
        let base = x.to_vec::<f64>().unwrap();
        let g = grads[k].to_vec::<f64>().unwrap();
        assert_eq!(
            g.len(),
            base.len(),
            "{name}: gradient {k} has the wrong size"
        );
        for i in 0..base.len() {
            let eval = |d: f64| {
                let mut v = base.clone();
                v[i] += d;
                let mut xs = inputs.to_vec();
                xs[k] = Tensor::from_vec(v, x.shape().to_vec()).unwrap();
                loss(&xs).unwrap().item::<f64>().unwrap()
            };
            let num = (eval(eps) - eval(-eps)) / (2.0 * eps);
            let tol = 1e-5 * (1.0 + num.abs());
            assert!(
                (num - g[i]).abs() <= tol,
                "{name}: input {k} element {i}: analytic {} vs numeric {num}",
                g[i]
            );
        }
    }
}

#[test]
fn unary_primitives() {
    let mut r = Lcg(1);
    use UnaryOp::*;
    let cases: Vec<(UnaryOp, f64, f64)> = vec![
        (Neg, -2.0, 2.0),
        (Abs, 0.1, 2.0),
        (Exp, -2.0, 2.0),
        (Exp2, -2.0, 2.0),
        (Expm1, -2.0, 2.0),
        (Log, 0.2, 3.0),
        (Log1p, -0.5, 3.0),
        (Sqrt, 0.2, 3.0),
        (Rsqrt, 0.2, 3.0),
        (Cbrt, 0.2, 3.0),
        (Sin, -3.0, 3.0),
        (Cos, -3.0, 3.0),
        (Tan, -1.0, 1.0),
        (Asin, -0.9, 0.9),
        (Acos, -0.9, 0.9),
        (Atan, -3.0, 3.0),
        (Sinh, -2.0, 2.0),
        (Cosh, -2.0, 2.0),
        (Tanh, -2.0, 2.0),
        (Asinh, -2.0, 2.0),
        (Acosh, 1.2, 3.0),
        (Atanh, -0.9, 0.9),
        (Erf, -2.0, 2.0),
        (Erfinv, -0.9, 0.9),
        (Lgamma, 0.3, 5.0),
        (Digamma, 0.3, 5.0),
        (Logistic, -3.0, 3.0),
        (Floor, 0.1, 0.9),
        (Round, 0.1, 0.4),
    ];
    for (op, lo, hi) in cases {
        let x = r.tensor(&[2, 3], lo, hi);
        check(&format!("{op:?}"), |xs| lax::unary(op, &xs[0]), &[x]);
    }
}

#[test]
fn binary_primitives() {
    let mut r = Lcg(2);
    use BinaryOp::*;
    for op in [Add, Sub, Mul, Div, Pow, Max, Min, Atan2, Rem] {
        let a = r.tensor(&[2, 3], 0.5, 2.0);
        let b = r.tensor(&[2, 3], 0.5, 2.0);
        check(
            &format!("{op:?}"),
            |xs| lax::binary(op, &xs[0], &xs[1]),
            &[a, b],
        );
    }
}

#[test]
fn select_and_cast() {
    let mut r = Lcg(3);
    let a = r.tensor(&[6], -1.0, 1.0);
    let b = r.tensor(&[6], -1.0, 1.0);
    let p = Tensor::from_vec(vec![true, false, true, true, false, false], [6]).unwrap();
    check(
        "select",
        |xs| lax::select(&p, &xs[0], &xs[1]),
        &[a.clone(), b],
    );
    // Cast: the cotangent is cast back (checked exactly; float32 rounding makes
    // finite differences meaningless here).
    let g = autodiff::grad(
        |xs| {
            let y = lax::convert(&xs[0], ceras::DType::F32)?;
            let y = lax::mul(&y, &lax::full(&[6], 3.0, ceras::DType::F32)?)?;
            lax::reduce_sum(&y, &[0])
        },
        &[a],
    )
    .unwrap();
    assert_eq!(g[0].dtype(), ceras::DType::F64);
    assert_eq!(g[0].to_vec::<f64>().unwrap(), vec![3.0; 6]);
}

#[test]
fn layout_primitives() {
    let mut r = Lcg(4);
    let x = r.tensor(&[2, 1, 3], -1.0, 1.0);
    check(
        "broadcast",
        |xs| lax::broadcast_in_dim(&xs[0], &[4, 2, 5, 3], &[1, 2, 3]),
        &[x.clone()],
    );
    check("reshape", |xs| lax::reshape(&xs[0], &[3, 2]), &[x.clone()]);
    check(
        "transpose",
        |xs| lax::transpose(&xs[0], &[2, 0, 1]),
        &[x.clone()],
    );
    let y = r.tensor(&[5, 6], -1.0, 1.0);
    check(
        "slice",
        |xs| lax::slice(&xs[0], &[1, 0], &[5, 5], &[2, 3]),
        &[y.clone()],
    );
    check("rev", |xs| lax::rev(&xs[0], &[0, 1]), &[y.clone()]);
    let pv = r.tensor(&[], -1.0, 1.0);
    check(
        "pad",
        |xs| lax::pad(&xs[0], &xs[1], &[1, -1], &[2, 0], &[1, 0]),
        &[y.clone(), pv],
    );
    let z = r.tensor(&[5, 2], -1.0, 1.0);
    check(
        "concatenate",
        |xs| lax::concatenate(&[&xs[0], &xs[1]], 1),
        &[y, z],
    );
}

/// `split` / `unstack` differentiate as one node whose VJP concatenates the
/// pieces' cotangents (zeros for pieces the loss does not use).
#[test]
fn split_and_unstack() {
    use ceras::ops;
    let mut r = Lcg(11);
    let x = r.tensor(&[3, 4, 2], -1.0, 1.0);
    check(
        "split: pieces recombined with different weights, one unused",
        |xs| {
            let p = ops::split(&xs[0], 2usize, 1)?;
            let q = ops::array_split(&xs[0], 3usize, 0)?;
            let a = lax::reshape(&lax::mul(&p[0], &p[1])?, &[12])?;
            let b = lax::reshape(&lax::sub(&q[0], &q[2])?, &[8])?;
            lax::concatenate(&[&a, &b], 0)
        },
        &[x.clone()],
    );
    check(
        "unstack: an RNN-like loop over steps, the last step unused",
        |xs| {
            let steps = ops::unstack(&xs[0], None, 1)?;
            let mut h = lax::mul(&steps[0], &steps[0])?;
            for s in &steps[1..3] {
                h = lax::add(&lax::mul(&h, s)?, s)?;
            }
            Ok(h)
        },
        &[x],
    );
}

#[test]
fn reductions() {
    let mut r = Lcg(5);
    let x = r.tensor(&[3, 4, 2], 0.5, 2.0);
    for op in [ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min, ReduceOp::Prod] {
        check(
            &format!("reduce {op:?}"),
            |xs| lax::reduce(op, &xs[0], &[0, 2]),
            &[x.clone()],
        );
    }
    // Product with a zero: the zero-safe rule must still be exact.
    let z = Tensor::from_vec(vec![0.0f64, 2.0, 3.0, 1.5, 0.0, 4.0], [2, 3]).unwrap();
    check(
        "reduce prod with zeros",
        |xs| lax::reduce(ReduceOp::Prod, &xs[0], &[1]),
        &[z],
    );
    for op in [CumOp::Sum, CumOp::Prod] {
        for rev in [false, true] {
            check(
                &format!("cumulative {op:?} rev={rev}"),
                |xs| lax::cumulative(op, &xs[0], 1, rev),
                &[x.clone()],
            );
        }
    }
}

#[test]
fn dot_general() {
    let mut r = Lcg(6);
    let a = r.tensor(&[2, 3, 4, 5], -1.0, 1.0);
    let b = r.tensor(&[2, 5, 3, 6], -1.0, 1.0);
    // batch (0,0); contract lhs (1,3) with rhs (2,1).
    check(
        "dot_general",
        |xs| lax::dot_general(&xs[0], &xs[1], &[1, 3], &[2, 1], &[0], &[0]),
        &[a, b],
    );
    let m = r.tensor(&[3, 4], -1.0, 1.0);
    let n = r.tensor(&[4, 2], -1.0, 1.0);
    check(
        "matmul",
        |xs| lax::dot_general(&xs[0], &xs[1], &[1], &[0], &[], &[]),
        &[m, n],
    );
    // ops::matmul of a stack by one matrix: one product, no batch dims.
    let s = r.tensor(&[2, 3, 4], -1.0, 1.0);
    let w = r.tensor(&[4, 5], -1.0, 1.0);
    check(
        "matmul stack @ matrix",
        |xs| ceras::ops::matmul(&xs[0], &xs[1]),
        &[s.clone(), w.clone()],
    );
    let v1 = r.tensor(&[4], -1.0, 1.0);
    check(
        "matmul stack @ vector",
        |xs| ceras::ops::matmul(&xs[0], &xs[1]),
        &[s, v1],
    );
    // Keras's attention einsums (the scores' contraction swaps its operands).
    let k = r.tensor(&[2, 4, 3, 5], -1.0, 1.0);
    let q = r.tensor(&[2, 6, 3, 5], -1.0, 1.0);
    check(
        "einsum scores",
        |xs| ceras::ops::einsum("aecd,abcd->acbe", &[xs[0].clone(), xs[1].clone()]),
        &[k, q],
    );
    let p = r.tensor(&[2, 3, 6, 4], -1.0, 1.0);
    let v = r.tensor(&[2, 4, 3, 5], -1.0, 1.0);
    check(
        "einsum combine",
        |xs| ceras::ops::einsum("acbe,aecd->abcd", &[xs[0].clone(), xs[1].clone()]),
        &[p, v],
    );
}

#[test]
fn convolution() {
    let mut r = Lcg(7);
    // 2-D, stride 2, padding, rhs dilation.
    let x = r.tensor(&[2, 2, 7, 6], -1.0, 1.0);
    let k = r.tensor(&[3, 2, 3, 2], -1.0, 1.0);
    check(
        "conv strided dilated",
        |xs| {
            lax::conv(
                &xs[0],
                &xs[1],
                &[2, 1],
                &[(1, 1), (0, 1)],
                &[1, 1],
                &[1, 2],
                1,
            )
        },
        &[x.clone(), k],
    );
    // Grouped (depthwise-like): 4 channels, 2 groups.
    let x = r.tensor(&[1, 4, 5, 5], -1.0, 1.0);
    let k = r.tensor(&[6, 2, 2, 3], -1.0, 1.0);
    check(
        "conv grouped",
        |xs| {
            lax::conv(
                &xs[0],
                &xs[1],
                &[1, 2],
                &[(0, 0), (1, 0)],
                &[1, 1],
                &[1, 1],
                2,
            )
        },
        &[x, k],
    );
    // Transposed (lhs dilation), 1-D.
    let x = r.tensor(&[2, 3, 4], -1.0, 1.0);
    let k = r.tensor(&[2, 3, 3], -1.0, 1.0);
    check(
        "conv lhs-dilated",
        |xs| lax::conv(&xs[0], &xs[1], &[1], &[(2, 2)], &[2], &[1], 1),
        &[x, k],
    );
}

#[test]
fn windows() {
    let mut r = Lcg(8);
    let x = r.tensor(&[1, 5, 6, 2], -1.0, 1.0);
    let w = [1, 2, 3, 1];
    let s = [1, 2, 2, 1];
    let p = [(0, 0), (1, 0), (1, 1), (0, 0)];
    for op in [WindowOp::Sum, WindowOp::Max, WindowOp::Min] {
        check(
            &format!("reduce_window {op:?}"),
            |xs| lax::reduce_window(op, &xs[0], &w, &s, &p),
            &[x.clone()],
        );
    }
}

#[test]
fn gather_scatter_sort() {
    let mut r = Lcg(9);
    let x = r.tensor(&[4, 3], -1.0, 1.0);
    let idx = Tensor::from_vec(vec![3i32, 0, 0, 2], [2, 2]).unwrap();
    check("gather", |xs| lax::gather(&xs[0], &idx, 0), &[x.clone()]);
    let upd = r.tensor(&[4, 2, 2], -1.0, 1.0);
    let idx1 = Tensor::from_vec(vec![2i32, 0, 1, 1], [2, 2]).unwrap();
    check(
        "scatter add",
        |xs| lax::scatter(&xs[0], &idx1, &xs[1], 1, ScatterMode::Add),
        &[lax::reshape(&x, &[4, 3]).unwrap(), upd],
    );
    let updset = r.tensor(&[4, 3], -1.0, 1.0);
    let idxset = Tensor::from_vec(vec![2i32, 0, 1], [3]).unwrap();
    check(
        "scatter set",
        |xs| lax::scatter(&xs[0], &idxset, &xs[1], 1, ScatterMode::Set),
        &[x.clone(), updset],
    );
    check(
        "sort",
        |xs| Ok(lax::sort(&xs[0], 1, false)?.0),
        &[x.clone()],
    );
    check(
        "sort descending",
        |xs| Ok(lax::sort(&xs[0], 0, true)?.0),
        &[x],
    );
}

#[test]
fn higher_order() {
    // d2/dx2 of x^3 = 6x, through a gradient of a gradient.
    let x = Tensor::from_vec(vec![0.5f64, -1.5, 2.0], [3]).unwrap();
    let g2 = autodiff::grad(
        |xs| {
            let g = autodiff::grad(
                |ys| {
                    let c = lax::mul(&lax::mul(&ys[0], &ys[0])?, &ys[0])?;
                    lax::reduce_sum(&c, &[0])
                },
                &[xs[0].clone()],
            )?;
            lax::reduce_sum(&g[0], &[0])
        },
        &[x],
    )
    .unwrap();
    assert_eq!(g2[0].to_vec::<f64>().unwrap(), vec![3.0, -9.0, 12.0]);
}

#[test]
fn stop_gradient_blocks() {
    let x = Tensor::from_vec(vec![2.0f64], [1]).unwrap();
    let g = autodiff::grad(
        |xs| lax::reduce_sum(&lax::mul(&xs[0], &lax::stop_gradient(&xs[0])?)?, &[0]),
        &[x],
    )
    .unwrap();
    assert_eq!(g[0].to_vec::<f64>().unwrap(), vec![2.0]);
}
