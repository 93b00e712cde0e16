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

    // A convolution of a constant image.
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
    // Only the kernel gradient: the forward value is dead (the cotangent of a
    // sum is ones) and pruned, and the image's cotangent is never formed.
    assert_eq!(count_prims(&g, "conv_general_dilated"), 1, "graph:\n{g}");
}

/// `y = x^2` whose declared gradient is `10 * upstream` (not `2x`).
fn odd_square(xs: &[Tensor]) -> Result<Vec<Tensor>> {
    autodiff::custom_gradient(xs, |xs| {
        let y = ops::square(&xs[0])?;
        let vjp: autodiff::VjpFn =
            std::rc::Rc::new(|cts| Ok(vec![Some(ops::multiply(&cts[0], 10.0)?)]));
        Ok((vec![y], vjp))
    })
}

#[test]
fn replay_keeps_custom_gradients() {
    let x = Tensor::from_vec(vec![3.0f32, -1.0], [2]).unwrap();
    let g = trace::trace(&[x.spec().clone()], odd_square).unwrap();
    assert!(
        g.nodes
            .iter()
            .any(|n| matches!(n.kind, trace::NodeKind::Custom(..))),
        "graph:\n{g}"
    );
    assert_eq!(g.num_ops(), 1, "graph:\n{g}");
    assert_eq!(
        g.call(std::slice::from_ref(&x)).unwrap()[0]
            .to_vec::<f32>()
            .unwrap(),
        vec![9.0, 1.0]
    );
    let dx = autodiff::grad(
        |v| ops::sum(&g.call(v)?[0], None, false),
        std::slice::from_ref(&x),
    )
    .unwrap();
    assert_eq!(dx[0].to_vec::<f32>().unwrap(), vec![10.0, 10.0]);
    // Tracing the gradient of the replay inlines the declared rule.
    let step = |v: &[Tensor]| autodiff::grad(|w| ops::sum(&g.call(w)?[0], None, false), v);
    let gg = trace::trace(&[x.spec().clone()], step).unwrap();
    assert_eq!(
        gg.call(&[x]).unwrap()[0].to_vec::<f32>().unwrap(),
        vec![10.0, 10.0]
    );
}

#[test]
fn unused_computation_is_pruned() {
    let specs = vec![Spec::new(vec![3], DType::F32)];
    let g = trace::trace(&specs, |xs| {
        let _unused = ops::exp(&xs[0])?;
        Ok(vec![ops::add(&xs[0], 1.0)?])
    })
    .unwrap();
    assert_eq!(count_prims(&g, "exp"), 0, "graph:\n{g}");
    assert_eq!(count_prims(&g, "add"), 1, "graph:\n{g}");
}

#[test]
fn matmul_of_a_stack_by_a_matrix_is_one_product() {
    // [batch, steps, features] @ [features, units]: no broadcast of the matrix
    // to the batch, forward or backward (the rhs gradient contracts the batch).
    let specs = vec![
        Spec::new(vec![4, 6, 3], DType::F32),
        Spec::new(vec![3, 5], DType::F32),
    ];
    let f =
        |v: &[Tensor]| autodiff::grad(|w| ops::sum(&ops::matmul(&w[0], &w[1])?, None, false), v);
    let g = trace::trace(&specs, f).unwrap();
    assert!(
        g.nodes
            .iter()
            .all(|n| n.outs.iter().all(|s| s.shape != [4, 3, 5])),
        "graph:\n{g}"
    );
    // The two gradient products (the forward value is dead and pruned).
    assert_eq!(count_prims(&g, "dot_general"), 2, "graph:\n{g}");
    let out = g.output_specs();
    assert_eq!(out[0].shape, vec![4, 6, 3]);
    assert_eq!(out[1].shape, vec![3, 5]);
    let y = trace::eval_shape(
        &[
            (vec![None, Some(6), Some(3)], DType::F32),
            (vec![Some(3), Some(5)], DType::F32),
        ],
        |v| Ok(vec![ops::matmul(&v[0], &v[1])?]),
    )
    .unwrap();
    assert_eq!(y[0].0, vec![None, Some(6), Some(5)]);
}
