//! ceras → `.keras` file → Python Keras 3: models of every layer type ceras has
//! are saved by ceras, loaded by Keras (JAX backend) in a virtual environment
//! made by tools/keras_venv.sh, and must predict what ceras predicted
//! (tools/keras_interop.py checks).
//!
//! Needs Python 3 and PyPI. When PyPI cannot be reached the test prints why and
//! skips; any other failure (install, load, numbers) fails it.
//! `CERAS_KERAS_PYTHON=/path/to/python` uses an existing environment instead.

use ceras::layers::*;
use ceras::models::{Data, Functional, Input, Model, Sequential, SharedLayer};
use ceras::{npy, random, DType, Tensor};
use std::path::{Path, PathBuf};
use std::process::Command;

fn x(shape: &[usize], seed: u64) -> Tensor {
    random::uniform(shape, -1.0, 1.0, Some(DType::F32), random::Seed::Int(seed)).unwrap()
}

fn data_of(inputs: &[Tensor]) -> Data {
    if inputs.len() == 1 {
        Data::Tensor(inputs[0].clone())
    } else {
        Data::List(inputs.to_vec())
    }
}

fn write_case<M: Model>(dir: &Path, name: &str, m: &mut M, inputs: Vec<Tensor>) {
    m.save(dir.join(format!("{name}.keras"))).unwrap();
    let outs = match m.predict_outputs(data_of(&inputs), 32).unwrap() {
        Data::Tensor(t) => vec![t],
        Data::List(v) => v,
        Data::Dict(v) => v.into_iter().map(|(_, t)| t).collect(),
    };
    // ceras → file → ceras is exact (checked here, with or without Python).
    let mut back = ceras::saving::load_model(dir.join(format!("{name}.keras"))).unwrap();
    let again = match back.predict_outputs(data_of(&inputs), 32).unwrap() {
        Data::Tensor(t) => vec![t],
        Data::List(v) => v,
        Data::Dict(v) => v.into_iter().map(|(_, t)| t).collect(),
    };
    assert_eq!(again.len(), outs.len(), "{name}");
    for (a, b) in outs.iter().zip(&again) {
        assert_eq!(
            a.to_vec::<f32>().unwrap(),
            b.to_vec::<f32>().unwrap(),
            "{name}: reload"
        );
    }
    assert_eq!(back.count_params(), m.count_params(), "{name}");
    for (i, t) in inputs.iter().enumerate() {
        npy::save(dir.join(format!("{name}.in_{i}.npy")), t).unwrap();
    }
    for (i, t) in outs.iter().enumerate() {
        npy::save(dir.join(format!("{name}.out_{i}.npy")), t).unwrap();
    }
    let meta = match m.compiled_optimizer() {
        Some(o) => format!(
            "{{\"compiled\": true, \"iterations\": {}}}",
            o.iterations().unwrap()
        ),
        None => "{\"compiled\": false}".into(),
    };
    std::fs::write(dir.join(format!("{name}.json")), meta).unwrap();
}

/// Writes the models; returns how many.
fn write_models(dir: &Path) -> usize {
    let mut n = 0;
    // A trained, compiled MLP (optimizer state must survive).
    let mut mlp = Sequential::new()
        .add(Input::new([12]))
        .add(Dense::new(16).activation("relu"))
        .add(Dropout::new(0.2))
        .add(Dense::new(3).activation("softmax"));
    mlp.compile_with(
        ceras::models::Compile::new(ceras::optimizers::Adam::new(1e-2))
            .loss("sparse_categorical_crossentropy")
            .metrics([
                ceras::metrics::MetricSpec::from("accuracy"),
                ceras::metrics::Metric::new(
                    ceras::metrics::Kind::SparseTopKCategoricalAccuracy(2),
                    "top2",
                )
                .unwrap()
                .into(),
            ]),
    )
    .unwrap();
    let xt = x(&[64, 12], 1);
    let yt = Tensor::from_vec((0..64).map(|i| i % 3).collect::<Vec<i32>>(), [64]).unwrap();
    mlp.fit(&xt, &yt)
        .epochs(2)
        .batch_size(16)
        .verbose(0)
        .run()
        .unwrap();
    write_case(dir, "mlp_trained", &mut mlp, vec![x(&[5, 12], 2)]);
    n += 1;

    // Convolutions, pooling, normalization.
    let mut cnn = Sequential::new()
        .add(Input::new([10, 10, 3]))
        .add(Rescaling::new(0.5, 0.1))
        .add(Conv2D::new(4, 3).activation("relu").padding("same"))
        .add(BatchNormalization::new())
        .add(DepthwiseConv2D::new(3).depth_multiplier(2))
        .add(SeparableConv2D::new(5, 3).padding("same"))
        .add(MaxPooling2D::new(2))
        .add(Conv2DTranspose::new(3, 2).strides(2))
        .add(AveragePooling2D::new(2))
        .add(GlobalAveragePooling2D::new())
        .add(Dense::new(4).activation("softmax"));
    cnn.compile(
        ceras::optimizers::Sgd::new(0.05).momentum(0.9),
        "categorical_crossentropy",
        ["accuracy"],
    )
    .unwrap();
    let xc = x(&[8, 10, 10, 3], 3);
    let yc = ceras::ops::one_hot(
        Tensor::from_vec((0..8).map(|i| i % 4).collect::<Vec<i32>>(), [8]).unwrap(),
        4,
        -1,
        None,
    )
    .unwrap();
    cnn.fit(&xc, &yc)
        .epochs(1)
        .batch_size(4)
        .verbose(0)
        .run()
        .unwrap();
    write_case(dir, "cnn_trained", &mut cnn, vec![x(&[3, 10, 10, 3], 4)]);
    n += 1;

    // Sequence layers and reshaping.
    let mut seq = Sequential::new()
        .add(Input::new([6, 4]))
        .add(Conv1D::new(8, 3).padding("causal").activation("tanh"))
        .add(LayerNormalization::new())
        .add(MaxPooling1D::new(2))
        .add(Permute::new(&[2, 1]))
        .add(Reshape::new(&[24]))
        .add(RepeatVector::new(2))
        .add(GlobalMaxPooling1D::new())
        .add(ReLU::new().max_value(0.5).negative_slope(0.1))
        .add(Dense::new(3))
        .add(Softmax::new(-1));
    write_case(dir, "sequence", &mut seq, vec![x(&[4, 6, 4], 5)]);
    n += 1;

    // Embeddings (integer input), EinsumDense, Activation.
    let mut emb = Sequential::new()
        .add(Input::new([5]).dtype(DType::I32))
        .add(Embedding::new(20, 6))
        .add(EinsumDense::new("abc,cd->abd", [None, Some(4)]).bias_axes("d"))
        .add(Flatten::new())
        .add(Activation::new("gelu"))
        .add(Dense::new(2));
    let ids =
        Tensor::from_vec((0..15).map(|i| (i * 7) % 20).collect::<Vec<i32>>(), [3, 5]).unwrap();
    write_case(dir, "embedding", &mut emb, vec![ids]);
    n += 1;

    // Functional: two inputs, merges, a shared layer, two outputs.
    let a = Input::new([8]).name("left").tensor();
    let b = Input::new([8]).name("right").tensor();
    let shared = SharedLayer::new(Dense::new(6).activation("tanh").named("shared"));
    let ha = shared.apply(&a).unwrap();
    let hb = shared.apply(&b).unwrap();
    let s = Add::new().apply([&ha, &hb]).unwrap();
    let d = Subtract::new().apply([&ha, &hb]).unwrap();
    let p = Multiply::new().apply([&s, &d]).unwrap();
    let av = Average::new().apply([&s, &d]).unwrap();
    let mx = Maximum::new().apply([&p, &av]).unwrap();
    let mn = Minimum::new().apply([&p, &av]).unwrap();
    let cat = Concatenate::new().apply([&mx, &mn]).unwrap();
    let out1 = Dense::new(2)
        .activation("softmax")
        .named("cls")
        .apply(&cat)
        .unwrap();
    let out2 = Dense::new(1).named("reg").apply(&cat).unwrap();
    let mut f = Functional::named("two_tower", [&a, &b], [&out1, &out2]).unwrap();
    write_case(
        dir,
        "functional",
        &mut f,
        vec![x(&[4, 8], 6), x(&[4, 8], 7)],
    );
    n += 1;

    // Recurrent and attention layers.
    let t = Input::new([7, 5]).name("tokens").tensor();
    let h = LSTM::new(6).return_sequences(true).apply(&t).unwrap();
    let att = MultiHeadAttention::new(2, 3)
        .named("mha")
        .apply_multi([&h, &h])
        .unwrap()
        .remove(0);
    let r = Add::new().apply([&h, &att]).unwrap();
    let r = LayerNormalization::new().apply(&r).unwrap();
    let last = LSTM::new(4).go_backwards(true).apply(&r).unwrap();
    let o = Dense::new(2).apply(&last).unwrap();
    let mut rnn = Functional::named("rnn_attention", &t, &o).unwrap();
    write_case(dir, "rnn_attention", &mut rnn, vec![x(&[3, 7, 5], 8)]);
    n += 1;

    // A Sequential nested in a Functional model, and masks from an Embedding.
    let ids = Input::new([6]).dtype(DType::I32).name("ids").tensor();
    let e = Embedding::new(30, 5).mask_zero(true).apply(&ids).unwrap();
    let h = LSTM::new(4).return_sequences(true).apply(&e).unwrap();
    let pooled = GlobalAveragePooling1D::new().apply(&h).unwrap();
    let head = Sequential::new()
        .add(Dense::new(6).activation("relu"))
        .add(Dense::new(2));
    let o = head.into_layer().apply(&pooled).unwrap();
    let mut nested = Functional::named("nested_masked", &ids, &o).unwrap();
    let id_data: Vec<i32> = vec![4, 9, 0, 0, 0, 0, 0, 3, 8, 1, 2, 7, 5, 0, 6, 0, 12, 0];
    write_case(
        dir,
        "nested_masked",
        &mut nested,
        vec![Tensor::from_vec(id_data, [3, 6]).unwrap()],
    );
    n += 1;

    // Keras-written files (tests/fixtures/keras/variants) that ceras loads:
    // ceras predicts, and Keras must agree on its own file.
    let variants = repo().join("tests/fixtures/keras/variants");
    for (i, v) in [
        "seq_lazy",
        "objs",
        "nested_functional",
        "nested_functional_out",
    ]
    .into_iter()
    .enumerate()
    {
        let src = variants.join(format!("{v}.keras"));
        let mut m = ceras::saving::load_model(&src).unwrap();
        let inputs: Vec<Tensor> = m
            .input_specs()
            .iter()
            .enumerate()
            .map(|(j, (shape, dt))| {
                let s: Vec<usize> = std::iter::once(3)
                    .chain(shape[1..].iter().map(|d| d.unwrap_or(4)))
                    .collect();
                let t = x(&s, 100 + (10 * i + j) as u64);
                ceras::ops::cast(t, *dt).unwrap()
            })
            .collect();
        let name = format!("keras_{v}");
        write_case(dir, &name, &mut m, inputs);
        // Keras checks its original file against ceras's predictions.
        std::fs::copy(&src, dir.join(format!("{name}.keras"))).unwrap();
        n += 1;
    }
    n
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CERAS_KERAS_PYTHON") {
        return Some(PathBuf::from(p));
    }
    let out = Command::new("sh")
        .arg(repo().join("tools/keras_venv.sh"))
        .output()
        .expect("running tools/keras_venv.sh");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    match out.status.code() {
        Some(0) => Some(PathBuf::from(
            stdout.trim().lines().last().unwrap_or("").trim(),
        )),
        Some(3) => {
            println!(
                "SKIP python_interop: PyPI cannot be reached ({})",
                stderr.trim()
            );
            None
        }
        _ => panic!("tools/keras_venv.sh failed:\n{stdout}\n{stderr}"),
    }
}

#[test]
fn python_keras_loads_ceras_files() {
    let dir_guard = tempfile::Builder::new()
        .prefix("ceras-pyinterop-")
        .tempdir()
        .unwrap();
    let dir = dir_guard.path();
    let n = write_models(dir);
    let Some(py) = python() else {
        return;
    };
    let keras_home = dir.join("keras_home");
    let out = Command::new(&py)
        .arg(repo().join("tools/keras_interop.py"))
        .arg(dir)
        .env("KERAS_BACKEND", "jax")
        .env("KERAS_HOME", &keras_home)
        .env("JAX_PLATFORMS", "cpu")
        .env("TF_CPP_MIN_LOG_LEVEL", "3")
        .output()
        .expect("running python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "Python Keras rejected ceras's files:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(&format!("{n}/{n} models")), "{stdout}");
}
