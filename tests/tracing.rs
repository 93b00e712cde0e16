//! Tracing: abstract evaluation with unknown dimensions, and recorded graphs that
//! replay to exactly the eager results (also under autodiff).

use ceras::prim::Spec;
use ceras::{autodiff, ops, trace, DType, Result, Tensor};

fn model(xs: &[Tensor]) -> Result<Vec<Tensor>> {
    let h = ops::matmul(&xs[0], &xs[1])?;
    let h = ops::relu(&ops::add(&h, 0.1)?)?;
    let s = ops::softmax(&h, Some(-1))?;
    let m = ops::sum(&ops::multiply(&s, &h)?, Some(&[1]), false)?;
    Ok(vec![s, m])
}

fn inputs() -> Vec<Tensor> {
    let x: Vec<f32> = (0..12).map(|i| (i as f32 * 0.37).sin()).collect();
    let w: Vec<f32> = (0..20).map(|i| (i as f32 * 0.11).cos()).collect();
    vec![
        Tensor::from_vec(x, [3, 4]).unwrap(),
        Tensor::from_vec(w, [4, 5]).unwrap(),
    ]
}

#[test]
fn replay_equals_eager_bitwise() {
    let xs = inputs();
    let eager = model(&xs).unwrap();
    let specs: Vec<Spec> = xs.iter().map(|x| x.spec().clone()).collect();
    let g = trace::trace(&specs, model).unwrap();
    assert!(g.num_ops() > 5, "graph:\n{g}");
    let replay = g.call(&xs).unwrap();
    for (a, b) in eager.iter().zip(&replay) {
        assert_eq!(a.shape(), b.shape());
        assert_eq!(a.to_vec::<f32>().unwrap(), b.to_vec::<f32>().unwrap());
    }
}

#[test]
fn replay_is_differentiable() {
    let xs = inputs();
    let specs: Vec<Spec> = xs.iter().map(|x| x.spec().clone()).collect();
    let g = trace::trace(&specs, model).unwrap();
    let eager = autodiff::grad(|v| ops::sum(&model(v)?[1], None, false), &xs).unwrap();
    let replay = autodiff::grad(|v| ops::sum(&g.call(v)?[1], None, false), &xs).unwrap();
    for (a, b) in eager.iter().zip(&replay) {
        assert_eq!(a.to_vec::<f32>().unwrap(), b.to_vec::<f32>().unwrap());
    }
}

#[test]
fn gradient_can_be_traced() {
    let xs = inputs();
    let specs: Vec<Spec> = xs.iter().map(|x| x.spec().clone()).collect();
    let step = |v: &[Tensor]| autodiff::grad(|w| ops::sum(&model(w)?[1], None, false), v);
    let g = trace::trace(&specs, step).unwrap();
    let eager = step(&xs).unwrap();
    let replay = g.call(&xs).unwrap();
    for (a, b) in eager.iter().zip(&replay) {
        assert_eq!(a.to_vec::<f32>().unwrap(), b.to_vec::<f32>().unwrap());
    }
}

#[test]
fn eval_shape_with_unknown_batch() {
    let out = trace::eval_shape(
        &[
            (vec![None, Some(4)], DType::F32),
            (vec![Some(4), Some(5)], DType::F32),
        ],
        model,
    )
    .unwrap();
    assert_eq!(out[0], (vec![None, Some(5)], DType::F32));
    assert_eq!(out[1], (vec![None], DType::F32));
}

#[test]
fn eval_shape_reports_shape_errors() {
    let err = trace::eval_shape(
        &[
            (vec![None, Some(4)], DType::F32),
            (vec![Some(3), Some(5)], DType::F32),
        ],
        model,
    )
    .unwrap_err();
    assert!(err.to_string().contains("matmul"), "{err}");
}

#[test]
fn traced_tensor_cannot_be_read() {
    let specs = vec![Spec::new(vec![2], DType::F32)];
    let err = trace::trace(&specs, |xs| {
        xs[0].to_vec::<f32>()?;
        Ok(vec![])
    })
    .unwrap_err();
    assert!(err.to_string().contains("traced"), "{err}");
}

/// How many nodes of `g` run a primitive called `name`.
fn count_prims(g: &trace::Graph, name: &str) -> usize {
    g.nodes
        .iter()
        .filter(|n| matches!(&n.kind, trace::NodeKind::Op(p, _) if p.name() == name))
        .count()
}

#[test]
fn gradients_of_constants_are_not_computed() {
    // d/dw of sum(relu(x @ w)) with x a constant: one product forward and one
    // for dw; the cotangent of x (another full product) is never formed.
    let xs = inputs();
    let specs: Vec<Spec> = xs.iter().map(|x| x.spec().clone()).collect();
    let step = |v: &[Tensor]| {
        let x = v[0].clone();
        autodiff::grad(
            move |w| ops::sum(&ops::relu(&ops::matmul(&x, &w[0])?)?, None, false),
            &v[1..],
        )
    };
    let g = trace::trace(&specs, step).unwrap();
    assert_eq!(count_prims(&g, "dot_general"), 2, "graph:\n{g}");
    // The same gradient as when x's cotangent is computed too.
    let both = autodiff::grad(
        |v| ops::sum(&ops::relu(&ops::matmul(&v[0], &v[1])?)?, None, false),
        &xs,
    )
    .unwrap();
    let only_w = g.call(&xs).unwrap();
    assert_eq!(
        only_w[0].to_vec::<f32>().unwrap(),
        both[1].to_vec::<f32>().unwrap()
    );

    // A convolution of a constant image: forward and kernel gradient only.
    let img = Tensor::from_vec(
        (0..2 * 6 * 6 * 3).map(|i| i as f32 * 0.01).collect(),
        [2, 6, 6, 3],
    )
    .unwrap();
    let k = Tensor::from_vec(
        (0..3 * 3 * 3 * 4).map(|i| i as f32 * 0.02).collect(),
        [3, 3, 3, 4],
    )
    .unwrap();
    let conv_step = |v: &[Tensor]| {
        let x = v[0].clone();
        autodiff::grad(
            move |k| ops::sum(&ops::conv(&x, &k[0], &Default::default())?, None, false),
            &v[1..],
        )
    };
    let specs = vec![img.spec().clone(), k.spec().clone()];
    let g = trace::trace(&specs, conv_step).unwrap();
    assert_eq!(count_prims(&g, "conv_general_dilated"), 2, "graph:\n{g}");
}
