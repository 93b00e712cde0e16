//! Layers, models and training (issue #3): training on real digits, optimizer
//! update rules, the stateless API, summaries and error messages.

use ceras::layers::{BatchNormalization, Conv2D, Dense, Dropout, Flatten, Layer, MaxPooling2D};
use ceras::models::{Input, Model, Sequential};
use ceras::optimizers::{Adam, RmsProp, Sgd};
use ceras::{datasets, ops, DType, Tensor, Variable};

fn t(v: &[f32], s: &[usize]) -> Tensor {
    Tensor::from_vec(v.to_vec(), s.to_vec()).unwrap()
}

#[test]
fn mlp_trains_on_real_mnist_digits() {
    ceras::random::set_seed(7);
    let ((xtr, ytr), (xte, yte)) =
        datasets::mnist::load_from(&datasets::mnist::bundled_path()).unwrap();
    let prep = |x: &Tensor, n: usize| {
        let idx = Tensor::from_vec((0..n as i32).collect::<Vec<_>>(), [n]).unwrap();
        let x = ops::take(x, &idx, Some(0)).unwrap();
        ops::divide(
            ops::reshape(ops::cast(&x, DType::F32).unwrap(), &[n as i64, 784]).unwrap(),
            255.0,
        )
        .unwrap()
    };
    let first = |y: &Tensor, n: usize| {
        let idx = Tensor::from_vec((0..n as i32).collect::<Vec<_>>(), [n]).unwrap();
        ops::take(y, &idx, Some(0)).unwrap()
    };
    let (x, y) = (prep(&xtr, 3000), first(&ytr, 3000));
    let (xt, yt) = (prep(&xte, 1000), first(&yte, 1000));
    let mut model = Sequential::new()
        .add(Input::new([784]))
        .add(Dense::new(64).activation("relu"))
        .add(Dense::new(10).activation("softmax"));
    model
        .compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
        .unwrap();
    let h = model
        .fit(&x, &y)
        .epochs(5)
        .batch_size(64)
        .verbose(0)
        .run()
        .unwrap();
    let losses = &h.history["loss"];
    assert!(losses[4] < losses[0], "loss must fall: {losses:?}");
    let logs = model.evaluate(&xt, &yt, 128, 0).unwrap();
    assert!(
        logs["accuracy"] > 0.88,
        "test accuracy {}",
        logs["accuracy"]
    );
    let p = model.predict(&xt, 100).unwrap();
    assert_eq!(p.shape(), &[1000, 10]);
}

#[test]
fn convnet_summary_matches_keras_example() {
    // Keras's mnist_convnet example reports "Total params: 34,826".
    let model = Sequential::new()
        .add(Input::new([28, 28, 1]))
        .add(Conv2D::new(32, [3, 3]).activation("relu"))
        .add(MaxPooling2D::new([2, 2]))
        .add(Conv2D::new(64, [3, 3]).activation("relu"))
        .add(MaxPooling2D::new([2, 2]))
        .add(Flatten::new())
        .add(Dropout::new(0.5))
        .add(Dense::new(10).activation("softmax"));
    assert_eq!(model.count_params(), 34_826);
    let s = model.summary_string();
    assert!(s.contains("(None, 5, 5, 64)"), "{s}");
    assert!(s.contains("Total params: 34,826 (136.04 KB)"), "{s}");
}

/// Keras's Adam rule (keras/src/optimizers/adam.py) computed by hand; the
/// variable is float64 so the comparison can be tight.
#[test]
fn adam_follows_the_keras_update_rule() {
    let w = Variable::new(
        Tensor::from_vec(vec![1.0f64, -2.0], [2]).unwrap(),
        "w",
        true,
    )
    .unwrap();
    let mut opt = Adam::new(0.1);
    let grads = [[0.5f64, -1.0], [0.25, 2.0]];
    let (b1, b2, eps, lr) = (0.9f64, 0.999f64, 1e-7f64, 0.1f64);
    let (mut m, mut v, mut x) = ([0.0f64; 2], [0.0f64; 2], [1.0f64, -2.0]);
    for (step, g) in grads.iter().enumerate() {
        opt.apply(
            &[Tensor::from_vec(g.to_vec(), [2]).unwrap()],
            std::slice::from_ref(&w),
        )
        .unwrap();
        let s = (step + 1) as f64;
        let alpha = lr * (1.0 - b2.powf(s)).sqrt() / (1.0 - b1.powf(s));
        for i in 0..2 {
            m[i] += (g[i] - m[i]) * (1.0 - b1);
            v[i] += (g[i] * g[i] - v[i]) * (1.0 - b2);
            x[i] -= m[i] * alpha / (v[i].sqrt() + eps);
        }
    }
    let got = w.value().to_vec::<f64>().unwrap();
    for i in 0..2 {
        assert!((got[i] - x[i]).abs() < 1e-12, "{got:?} vs {x:?}");
    }
    assert_eq!(opt.iterations().unwrap(), 2);
}

#[test]
fn sgd_nesterov_and_rmsprop_follow_keras() {
    // SGD(lr=0.1, momentum=0.9, nesterov=True): m = -g*lr + m*mu; x += -g*lr + m*mu.
    let w = Variable::new(t(&[1.0], &[1]), "w", true).unwrap();
    let mut opt = Sgd::new(0.1).momentum(0.9).nesterov(true);
    let (mut m, mut x) = (0.0f64, 1.0f64);
    for g in [1.0f64, 0.5] {
        opt.apply(&[t(&[g as f32], &[1])], std::slice::from_ref(&w))
            .unwrap();
        m = -g * 0.1 + m * 0.9;
        x += -g * 0.1 + m * 0.9;
    }
    assert!((w.value().to_vec::<f32>().unwrap()[0] as f64 - x).abs() < 1e-6);

    // RMSprop(lr=0.01): v = rho v + (1-rho) g²; x -= lr g / sqrt(v + eps).
    let w = Variable::new(t(&[1.0], &[1]), "w", true).unwrap();
    let mut opt = RmsProp::new(0.01);
    let (mut v, mut x) = (0.0f64, 1.0f64);
    for g in [1.0f64, -2.0] {
        opt.apply(&[t(&[g as f32], &[1])], std::slice::from_ref(&w))
            .unwrap();
        v = 0.9 * v + 0.1 * g * g;
        x -= 0.01 * g / (v + 1e-7).sqrt();
    }
    assert!((w.value().to_vec::<f32>().unwrap()[0] as f64 - x).abs() < 1e-6);
}

#[test]
fn clipnorm_scales_gradients() {
    let w = Variable::new(t(&[0.0, 0.0], &[2]), "w", true).unwrap();
    let mut opt = Sgd::new(1.0).clipnorm(1.0);
    opt.apply(&[t(&[3.0, 4.0], &[2])], std::slice::from_ref(&w))
        .unwrap();
    let got = w.value().to_vec::<f32>().unwrap();
    assert!(
        (got[0] + 0.6).abs() < 1e-6 && (got[1] + 0.8).abs() < 1e-6,
        "{got:?}"
    );
}

#[test]
fn stateless_call_leaves_variables_alone() {
    let mut model = Sequential::new()
        .add(Input::new([3]))
        .add(Dense::new(2))
        .add(BatchNormalization::new());
    let x = t(&[1.0, 2.0, 3.0, -1.0, 0.5, 2.0], &[2, 3]);
    let tv = model.trainable_variables();
    let ntv = model.non_trainable_variables();
    assert_eq!(ntv.len(), 2); // moving mean and variance
    let before: Vec<Vec<f32>> = ntv.iter().map(|v| v.value().to_vec().unwrap()).collect();
    let tvals: Vec<Tensor> = tv
        .iter()
        .map(|v| ops::multiply(v.value(), 2.0).unwrap())
        .collect();
    let nvals: Vec<Tensor> = ntv.iter().map(|v| v.value()).collect();
    let (y, new_nt) = model.stateless_call(&tvals, &nvals, &x, true).unwrap();
    assert_eq!(y.shape(), &[2, 2]);
    let after: Vec<Vec<f32>> = ntv.iter().map(|v| v.value().to_vec().unwrap()).collect();
    assert_eq!(before, after, "variables must not change");
    // The returned moving mean moved toward the batch mean (momentum 0.99).
    assert_ne!(new_nt[0].to_vec::<f32>().unwrap(), before[0]);
    // With the stored values, stateless_call equals call.
    let tvals: Vec<Tensor> = tv.iter().map(|v| v.value()).collect();
    let (y1, _) = model.stateless_call(&tvals, &nvals, &x, false).unwrap();
    let y2 = model.call(&x, false).unwrap();
    assert_eq!(y1.to_vec::<f32>().unwrap(), y2.to_vec::<f32>().unwrap());
}

#[test]
fn layer_errors_name_the_layer_and_shapes() {
    let mut d = Dense::new(4).named("head");
    d.forward(&t(&[1.0; 6], &[2, 3]), false).unwrap();
    let e = d
        .forward(&t(&[1.0; 10], &[2, 5]), false)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("head") && e.contains("[2, 5]") && e.contains('3'),
        "{e}"
    );

    let mut bad = Dense::new(2).activation("relux");
    let e = bad
        .forward(&t(&[1.0; 2], &[1, 2]), false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("relux") && e.contains("relu"), "{e}");

    let mut model = Sequential::new().add(Input::new([3])).add(Dense::new(1));
    let e = model
        .fit(t(&[1.0; 3], &[1, 3]), t(&[1.0], &[1, 1]))
        .run()
        .unwrap_err()
        .to_string();
    assert!(e.contains("compile"), "{e}");
    model.compile("sgd", "mse", Vec::<String>::new()).unwrap();
    let e = model
        .call(&t(&[1.0; 4], &[1, 4]), false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("[1, 4]") && e.contains("(None, 3)"), "{e}");
    let e = model
        .compile("adamm", "mse", Vec::<String>::new())
        .unwrap_err()
        .to_string();
    assert!(e.contains("adamm"), "{e}");
}

#[test]
fn batch_norm_updates_moving_statistics_in_training_only() {
    let mut bn = BatchNormalization::new().momentum(0.5);
    let x = t(&[1.0, 3.0], &[2, 1]);
    bn.forward(&x, false).unwrap();
    let mm = bn.weights()[2].clone();
    assert_eq!(mm.value().to_vec::<f32>().unwrap(), vec![0.0]);
    bn.forward(&x, true).unwrap();
    // moving_mean = 0 * 0.5 + 2 * 0.5
    assert_eq!(mm.value().to_vec::<f32>().unwrap(), vec![1.0]);
}
