//! The Functional API: graphs of layer calls, several inputs and outputs,
//! per-output losses/metrics (log names as Python Keras 3.15 writes them),
//! shared layers, nested models, graph-build errors, and the input kinds `fit`
//! accepts.

use ceras::layers::{Add, Concatenate, Dense, Embedding, Flatten, Layer, Multiply};
use ceras::models::{Batch, Compile, Dataset, Functional, Input, IterDataset, Model, SharedLayer};
use ceras::{ops, random, DType, Result, Tensor};

fn uniform(shape: &[usize], seed: u64) -> Tensor {
    random::uniform(shape, 0.0, 1.0, Some(DType::F32), random::Seed::Int(seed)).unwrap()
}

fn labels(n: usize, k: i32) -> Tensor {
    Tensor::from_vec(
        (0..n as i32).map(|i| (i * 7 + 3) % k).collect::<Vec<_>>(),
        [n],
    )
    .unwrap()
}

/// The two-input, two-output model of `tools/` check in Python Keras:
/// Concatenate → Dense(8, relu) → {reg: Dense(1), cls: Dense(3, softmax)}.
fn two_headed() -> (Functional, [String; 2]) {
    let a = Input::new([4]).name("a").tensor();
    let b = Input::new([3]).name("b").tensor();
    let x = Concatenate::new().apply([&a, &b]).unwrap();
    let h = Dense::new(8).activation("relu").apply(&x).unwrap();
    let reg = Dense::new(1).named("reg").apply(&h).unwrap();
    let cls = Dense::new(3)
        .activation("softmax")
        .named("cls")
        .apply(&h)
        .unwrap();
    let m = Functional::new([&a, &b], [&reg, &cls]).unwrap();
    (m, ["reg".into(), "cls".into()])
}

#[test]
fn multi_input_multi_output_trains_with_keras_log_names() {
    let (mut m, _) = two_headed();
    assert_eq!(m.count_params(), 100); // as Keras's summary of the same model
    m.compile_with(
        Compile::new("adam")
            .losses(["mse", "sparse_categorical_crossentropy"])
            .metrics_per_output([vec!["mae"], vec!["accuracy"]])
            .loss_weights([1.0, 0.5]),
    )
    .unwrap();
    let (xa, xb) = (uniform(&[32, 4], 1), uniform(&[32, 3], 2));
    let (yr, yc) = (uniform(&[32, 1], 3), labels(32, 3));
    let h = m
        .fit([&xa, &xb], [&yr, &yc])
        .epochs(2)
        .batch_size(8)
        .validation_split(0.25)
        .verbose(0)
        .run()
        .unwrap();
    let keys: Vec<&String> = h.history.keys().collect();
    // Python Keras 3.15: sorted(history.history.keys()) for the same compile call.
    assert_eq!(
        keys,
        [
            "cls_accuracy",
            "cls_loss",
            "loss",
            "reg_loss",
            "reg_mae",
            "val_cls_accuracy",
            "val_cls_loss",
            "val_loss",
            "val_reg_loss",
            "val_reg_mae"
        ]
    );
    // The total is the weighted sum of the per-output losses (one batch, so the
    // running means are the batch values).
    let logs = m.evaluate([&xa, &xb], [&yr, &yc], 32, 0).unwrap();
    let want = logs["reg_loss"] + 0.5 * logs["cls_loss"];
    assert!((logs["loss"] - want).abs() < 1e-5, "{logs:?}");
    let p = m.predict_outputs([&xa, &xb], 10).unwrap();
    let shapes: Vec<Vec<usize>> = p.tensors().iter().map(|t| t.shape().to_vec()).collect();
    assert_eq!(shapes, vec![vec![32, 1], vec![32, 3]]);
}

#[test]
fn dict_inputs_and_outputs() {
    let a = Input::new([4]).name("a").tensor();
    let b = Input::new([3]).name("b").tensor();
    let x = Concatenate::new().apply([&a, &b]).unwrap();
    let r = Dense::new(1).apply(&x).unwrap();
    let c = Dense::new(3).activation("softmax").apply(&x).unwrap();
    let mut m = Functional::new([("a", &a), ("b", &b)], [("r", &r), ("c", &c)]).unwrap();
    m.compile_with(
        Compile::new("adam")
            .loss_for("r", "mse")
            .loss_for("c", "sparse_categorical_crossentropy")
            .metrics_for("c", ["accuracy"]),
    )
    .unwrap();
    let (xa, xb) = (uniform(&[16, 4], 4), uniform(&[16, 3], 5));
    // Dict inputs are matched by name, in any order.
    let h = m
        .fit(
            [("b", &xb), ("a", &xa)],
            [("c", &labels(16, 3)), ("r", &uniform(&[16, 1], 6))],
        )
        .verbose(0)
        .run()
        .unwrap();
    let keys: Vec<&String> = h.history.keys().collect();
    assert_eq!(keys, ["c_accuracy", "c_loss", "loss", "r_loss"]); // as Keras
    let out = m.predict_outputs([("a", &xa), ("b", &xb)], 8).unwrap();
    assert_eq!(out.get("c").unwrap().shape(), &[16, 3]);
    let err = m
        .predict_outputs([("a", &xa), ("z", &xb)], 8)
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing input 'b'"), "{err}");
}

#[test]
fn functional_forward_equals_the_ops() {
    let a = Input::new([3]).tensor();
    let b = Input::new([3]).tensor();
    let d = SharedLayer::new(Dense::new(2).activation("tanh"));
    let ya = d.apply(&a).unwrap();
    let yb = d.apply(&b).unwrap();
    let s = Add::new().apply([&ya, &yb]).unwrap();
    let p = Multiply::new().apply([&s, &ya]).unwrap();
    let mut m = Functional::new([&a, &b], &p).unwrap();
    assert_eq!(m.count_params(), 3 * 2 + 2); // one set of shared weights
    let (xa, xb) = (uniform(&[5, 3], 7), uniform(&[5, 3], 8));
    let got = m.predict([&xa, &xb], 2).unwrap();
    let w = d.read().weights();
    let f = |x: &Tensor| {
        ops::tanh(ops::add(ops::matmul(x, w[0].value()).unwrap(), w[1].value()).unwrap()).unwrap()
    };
    let (fa, fb) = (f(&xa), f(&xb));
    let want = ops::multiply(ops::add(&fa, &fb).unwrap(), &fa).unwrap();
    let (g, w) = (got.to_vec::<f32>().unwrap(), want.to_vec::<f32>().unwrap());
    for (x, y) in g.iter().zip(&w) {
        assert!((x - y).abs() < 1e-6, "{g:?} vs {w:?}");
    }
    // The summary marks the second call of the shared layer.
    let s = m.summary_string();
    assert!(s.contains("Connected to") && s.contains("(shared)"), "{s}");
}

#[test]
fn nested_model_shares_weights() {
    let i = Input::new([4]).tensor();
    let z = Dense::new(2).named("enc_dense").apply(&i).unwrap();
    let mut encoder = Functional::named("encoder", &i, &z).unwrap();
    let x = Input::new([4]).tensor();
    let e = encoder.as_layer().apply(&x).unwrap();
    let o = Dense::new(1).apply(&e).unwrap();
    let mut full = Functional::new(&x, &o).unwrap();
    assert_eq!(full.count_params(), 4 * 2 + 2 + 3);
    full.compile("sgd", "mse", Vec::<&str>::new()).unwrap();
    let xs = uniform(&[8, 4], 9);
    let before = encoder.predict(&xs, 8).unwrap().to_vec::<f32>().unwrap();
    full.fit(&xs, uniform(&[8, 1], 10))
        .verbose(0)
        .run()
        .unwrap();
    // Training the outer model moved the encoder's (shared) weights.
    let after = encoder.predict(&xs, 8).unwrap().to_vec::<f32>().unwrap();
    assert_ne!(before, after);
    let s = full.summary_string();
    assert!(s.contains("encoder") && s.contains("(Functional)"), "{s}");
}

#[test]
fn graph_build_errors_name_the_layer_and_shapes() {
    let a = Input::new([4]).tensor();
    let b = Input::new([3]).tensor();
    let add = Add::new();
    let name = add.name().to_string();
    let err = add.apply([&a, &b]).unwrap_err().to_string();
    assert!(err.contains(&name) && err.contains("(Add)"), "{err}");
    assert!(
        err.contains("(None, 4)") && err.contains("(None, 3)"),
        "{err}"
    );

    let flat = Dense::new(3)
        .apply(&Input::new([2, 2, 2]).tensor())
        .and_then(|t| Flatten::new().apply(&t))
        .map(|t| t.shape().to_vec());
    assert_eq!(flat.unwrap(), vec![None, Some(12)]);

    let c = Input::new([5]).tensor();
    let cat = Concatenate::new().apply([&a, &c]).unwrap();
    let err = Functional::new(&a, &cat).err().unwrap().to_string();
    assert!(err.contains("graph disconnected"), "{err}");

    let d1 = Dense::new(2).named("same").apply(&a).unwrap();
    let d2 = Dense::new(2).named("same").apply(&d1).unwrap();
    let err = Functional::new(&a, &d2).err().unwrap().to_string();
    assert!(err.contains("\"same\" is used 2 times"), "{err}");

    let emb = Embedding::new(10, 2)
        .apply(&Input::new([3]).tensor())
        .map(|t| t.dtype());
    assert_eq!(emb.unwrap(), DType::F32);

    let (mut m, _) = two_headed();
    let err = m
        .compile_with(
            Compile::new("adam")
                .loss("mse")
                .metrics(["mae", "mse", "accuracy"]),
        )
        .and_then(|_| {
            m.fit(
                [&uniform(&[4, 4], 1), &uniform(&[4, 3], 1)],
                [&uniform(&[4, 1], 1), &labels(4, 3)],
            )
            .verbose(0)
            .run()
            .map(|_| ())
        })
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("as many entries as the model has outputs"),
        "{err}"
    );
    let err = m.predict(uniform(&[4, 4], 1), 4).unwrap_err().to_string();
    assert!(err.contains("expects 2 input(s)"), "{err}");
    let err = m
        .predict([&uniform(&[4, 5], 1), &uniform(&[4, 3], 1)], 4)
        .unwrap_err()
        .to_string();
    assert!(err.contains("(None, 4)") && err.contains("[4, 5]"), "{err}");
}

#[test]
fn integer_inputs_and_none_batch() {
    let i = Input::new([5]).dtype(DType::I32).tensor();
    let e = Embedding::new(20, 3).apply(&i).unwrap();
    assert_eq!(e.shape(), &[None, Some(5), Some(3)]);
    let f = Flatten::new().apply(&e).unwrap();
    let o = Dense::new(1).apply(&f).unwrap();
    let mut m = Functional::new(&i, &o).unwrap();
    for n in [1, 7] {
        let x = Tensor::from_vec(
            (0..5 * n as i32).map(|v| v % 20).collect::<Vec<_>>(),
            [n, 5],
        )
        .unwrap();
        assert_eq!(m.predict(&x, 3).unwrap().shape(), &[n, 1]);
    }
}

#[test]
fn vec_inputs_class_weight_and_validation_freq() {
    let i = Input::new([2]).tensor();
    let o = Dense::new(2).activation("softmax").apply(&i).unwrap();
    let mut m = Functional::new(&i, &o).unwrap();
    m.compile("sgd", "sparse_categorical_crossentropy", ["accuracy"])
        .unwrap();
    let x: Vec<Vec<f32>> = (0..20)
        .map(|k| vec![k as f32 / 20.0, 1.0 - k as f32 / 20.0])
        .collect();
    let y: Vec<i32> = (0..20).map(|k| (k >= 10) as i32).collect();
    let h = m
        .fit(x.clone(), y.clone())
        .epochs(4)
        .batch_size(5)
        .validation_data(x.clone(), y.clone())
        .validation_freq(2)
        .verbose(0)
        .run()
        .unwrap();
    assert_eq!(h.history["loss"].len(), 4);
    assert_eq!(h.history["val_loss"].len(), 2); // epochs 2 and 4
                                                // class_weight scales each sample's loss by its class weight: with weight 0
                                                // for class 1 and 2 for class 0, one step on class-1-only data changes nothing.
    let w0 = m
        .trainable_variables()
        .iter()
        .map(|v| v.value().to_vec::<f32>().unwrap())
        .collect::<Vec<_>>();
    m.fit(vec![vec![0.9f32, 0.1]; 4], vec![1i32; 4])
        .class_weight([(0, 2.0), (1, 0.0)])
        .shuffle(false)
        .verbose(0)
        .run()
        .unwrap();
    let w1 = m
        .trainable_variables()
        .iter()
        .map(|v| v.value().to_vec::<f32>().unwrap())
        .collect::<Vec<_>>();
    assert_eq!(w0, w1);
    let err = m
        .fit(x, y)
        .class_weight([(0, 1.0)])
        .sample_weight(&ops::ones(&[20], Some(DType::F32)).unwrap())
        .verbose(0)
        .run()
        .unwrap_err()
        .to_string();
    assert!(err.contains("class_weight"), "{err}");
}

struct Synthetic {
    batches: usize,
    epochs_seen: usize,
}

impl Dataset for Synthetic {
    fn num_batches(&self) -> Option<usize> {
        Some(self.batches)
    }
    fn get_batch(&mut self, index: usize) -> Result<Batch> {
        let x = uniform(&[8, 2], index as u64);
        let y = ops::sum(&x, Some(&[1]), true)?;
        Batch::new(x, y)
    }
    fn on_epoch_end(&mut self) {
        self.epochs_seen += 1;
    }
}

#[test]
fn fit_on_a_dataset_and_an_iterator() {
    let i = Input::new([2]).tensor();
    let o = Dense::new(1).apply(&i).unwrap();
    let mut m = Functional::new(&i, &o).unwrap();
    m.compile(ceras::optimizers::Sgd::new(0.1), "mse", ["mae"])
        .unwrap();
    let mut ds = Synthetic {
        batches: 6,
        epochs_seen: 0,
    };
    let h = m.fit_dataset(&mut ds).epochs(30).verbose(0).run().unwrap();
    let l = &h.history["loss"];
    assert!(l[29] < l[0] * 0.2, "{l:?}");
    assert_eq!(ds.epochs_seen, 30); // on_epoch_end after every epoch
    let it = (0..3).map(|k| Batch::new(uniform(&[4, 2], k), uniform(&[4, 1], k + 100)));
    let logs = m
        .evaluate_dataset(&mut IterDataset::new(it, Some(3)), None, 0)
        .unwrap();
    assert!(logs.contains_key("mae"));
    let p = m
        .predict_dataset(
            &mut Synthetic {
                batches: 2,
                epochs_seen: 0,
            },
            None,
        )
        .unwrap();
    assert_eq!(p.tensors()[0].shape(), &[16, 1]);
    let err = m
        .fit_dataset(IterDataset::new(
            (0..2).map(|k| Batch::new(uniform(&[4, 2], k), uniform(&[4, 1], k))),
            None,
        ))
        .verbose(0)
        .run()
        .unwrap_err()
        .to_string();
    assert!(err.contains("steps_per_epoch"), "{err}");
}
