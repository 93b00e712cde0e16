//! `.keras` and `.weights.h5` files written by Python Keras 3.15.1
//! (tests/fixtures/keras, copied from ../shared/fixtures/keras by
//! tools/vendor_keras_fixtures.sh): every model ceras has the layers for loads
//! and predicts Keras's own outputs within the manifest's tolerances; ceras
//! round-trips its own files exactly; bad files give clear errors.

use ceras::models::{Data, Input, Model, Sequential};
use ceras::saving::{self, LoadOptions};
use ceras::{layers, npy, Tensor};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keras")
}

fn manifest() -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir().join("manifest.json")).unwrap()).unwrap()
}

/// A fresh directory under the system temp dir, removed (with its contents)
/// when the returned guard drops, so test runs leave nothing behind.
fn tmp(tag: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("ceras-kf-{tag}-"))
        .tempdir()
        .unwrap()
}

fn max_excess(got: &Tensor, want: &Tensor, atol: f64, rtol: f64) -> f64 {
    assert_eq!(got.shape(), want.shape());
    let g = ceras::ops::cast(got, ceras::DType::F64)
        .unwrap()
        .to_vec::<f64>()
        .unwrap();
    let w = ceras::ops::cast(want, ceras::DType::F64)
        .unwrap()
        .to_vec::<f64>()
        .unwrap();
    g.iter()
        .zip(&w)
        .map(|(a, b)| (a - b).abs() - (atol + rtol * b.abs()))
        .fold(f64::NEG_INFINITY, f64::max)
}

/// Inputs and expected outputs of a fixture, per the manifest.
fn io(name: &str) -> (Vec<Tensor>, Vec<Tensor>, f64, f64) {
    let m = &manifest()["models"][name];
    let load = |k: &str| -> Vec<Tensor> {
        m[k].as_array()
            .unwrap()
            .iter()
            .map(|e| npy::load(dir().join(e["file"].as_str().unwrap())).unwrap())
            .collect()
    };
    (
        load("inputs"),
        load("outputs"),
        m["atol"].as_f64().unwrap(),
        m["rtol"].as_f64().unwrap(),
    )
}

fn predict_all<M: Model>(m: &mut M, xs: Vec<Tensor>) -> Vec<Tensor> {
    let x = if xs.len() == 1 {
        Data::Tensor(xs.into_iter().next().unwrap())
    } else {
        Data::List(xs)
    };
    match m.predict_outputs(x, 32).unwrap() {
        Data::Tensor(t) => vec![t],
        Data::List(v) => v,
        Data::Dict(v) => v.into_iter().map(|(_, t)| t).collect(),
    }
}

fn check_fixture(name: &str) -> saving::LoadedModel {
    let mut m = saving::load_model(dir().join(format!("{name}.keras")))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let (xs, ys, atol, rtol) = io(name);
    let got = predict_all(&mut m, xs);
    assert_eq!(got.len(), ys.len(), "{name}: number of outputs");
    for (i, (g, y)) in got.iter().zip(&ys).enumerate() {
        let e = max_excess(g, y, atol, rtol);
        assert!(e <= 0.0, "{name} output {i}: exceeds tolerance by {e}");
    }
    let params = manifest()["models"][name]["num_params"].as_u64().unwrap() as usize;
    assert_eq!(m.count_params(), params, "{name}: parameter count");
    m
}

#[test]
fn keras_written_models_predict_kerass_outputs() {
    for name in ["mlp", "functional", "cnn", "lstm"] {
        let m = check_fixture(name);
        // Compiled fixtures come back compiled, with the optimizer state.
        let opt = m.compiled_optimizer().expect("compiled");
        assert!(
            opt.iterations().unwrap() > 0,
            "{name}: optimizer iterations restored"
        );
    }
}

#[test]
fn keras_written_attention_model_predicts_kerass_outputs() {
    let m = check_fixture("mha");
    assert!(
        m.compiled_optimizer().is_none(),
        "mha.keras is not compiled"
    );
}

#[test]
fn keras_written_weights_h5_load_into_a_model_built_in_rust() {
    let mut m = Sequential::new()
        .add(Input::new([784]))
        .add(layers::Dense::new(64).activation("relu"))
        .add(layers::Dense::new(10).activation("softmax"));
    m.load_weights(dir().join("mlp.weights.h5")).unwrap();
    let (xs, ys, atol, rtol) = io("mlp");
    let got = predict_all(&mut m, xs);
    assert!(max_excess(&got[0], &ys[0], atol, rtol) <= 0.0);

    // The sharded form (index + 3 shards) gives the same weights.
    let mut m2 = Sequential::new()
        .add(Input::new([784]))
        .add(layers::Dense::new(64).activation("relu"))
        .add(layers::Dense::new(10).activation("softmax"));
    m2.load_weights(dir().join("extras/mlp.weights.json"))
        .unwrap();
    let (xs, _, _, _) = io("mlp");
    let got2 = predict_all(&mut m2, xs);
    assert_eq!(
        got[0].to_vec::<f32>().unwrap(),
        got2[0].to_vec::<f32>().unwrap()
    );

    // ceras writes the sharded form too (small shards force several files).
    let sd_guard = tmp("shards");
    let sd = sd_guard.path();
    let idx = sd.join("m.weights.json");
    saving::keras::save_weights_sharded(&m2, &idx, 201_000).unwrap();
    assert!(sd.join("m_00001.weights.h5").exists());
    let mut m3 = Sequential::new()
        .add(Input::new([784]))
        .add(layers::Dense::new(64).activation("relu"))
        .add(layers::Dense::new(10).activation("softmax"));
    m3.load_weights(&idx).unwrap();
    let (xs, _, _, _) = io("mlp");
    let got3 = predict_all(&mut m3, xs);
    assert_eq!(
        got[0].to_vec::<f32>().unwrap(),
        got3[0].to_vec::<f32>().unwrap()
    );
    let e = saving::keras::save_weights_sharded(&m2, &idx, 1000)
        .unwrap_err()
        .to_string();
    assert!(e.contains("max_shard_size"), "{e}");

    // A model of another shape is refused, naming the layer and both shapes.
    let mut bad = Sequential::new()
        .add(Input::new([784]))
        .add(layers::Dense::new(32))
        .add(layers::Dense::new(10));
    let e = bad
        .load_weights(dir().join("mlp.weights.h5"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("[784, 32]") && e.contains("[784, 64]"), "{e}");
}

#[test]
fn ceras_round_trip_is_exact() {
    let d_guard = tmp("rt");
    let d = d_guard.path();
    for name in ["mlp", "functional", "cnn", "lstm", "mha"] {
        let mut m = saving::load_model(dir().join(format!("{name}.keras"))).unwrap();
        let p = d.join(format!("{name}.keras"));
        m.save(&p).unwrap();
        let mut back = saving::load_model(&p).unwrap();
        let (xs, _, _, _) = io(name);
        let a = predict_all(&mut m, xs.clone());
        let b = predict_all(&mut back, xs);
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(
                x.to_vec::<f32>().unwrap(),
                y.to_vec::<f32>().unwrap(),
                "{name}"
            );
        }
        // Every variable, optimizer state included, comes back bit for bit.
        let va = m.variables();
        let vb = back.variables();
        assert_eq!(va.len(), vb.len());
        for (x, y) in va.iter().zip(&vb) {
            assert_eq!(x.path(), y.path());
            let fx = ceras::ops::cast(x.value(), ceras::DType::F64).unwrap();
            let fy = ceras::ops::cast(y.value(), ceras::DType::F64).unwrap();
            assert_eq!(fx.to_vec::<f64>().unwrap(), fy.to_vec::<f64>().unwrap());
        }
        let (Some(oa), Some(ob)) = (m.compiled_optimizer(), back.compiled_optimizer()) else {
            assert!(back.compiled_optimizer().is_none(), "{name}");
            continue;
        };
        assert_eq!(oa.iterations().unwrap(), ob.iterations().unwrap());
        assert_eq!(oa.learning_rate().unwrap(), ob.learning_rate().unwrap());
        let ta = m.trainable_variables();
        let tb = back.trainable_variables();
        let sa = oa.keras_variables(&ta).unwrap();
        let sb = ob.keras_variables(&tb).unwrap();
        assert_eq!(sa.len(), sb.len());
        for (x, y) in sa.iter().zip(&sb) {
            let fx = ceras::ops::cast(x.value(), ceras::DType::F64).unwrap();
            let fy = ceras::ops::cast(y.value(), ceras::DType::F64).unwrap();
            assert_eq!(fx.to_vec::<f64>().unwrap(), fy.to_vec::<f64>().unwrap());
        }
    }
}

#[test]
fn training_resumes_after_loading() {
    // Train the loaded mlp one step, and a reloaded copy one step: same result.
    let d_guard = tmp("resume");
    let d = d_guard.path();
    let mut a = saving::load_model(dir().join("mlp.keras")).unwrap();
    let p = d.join("mlp.keras");
    a.save(&p).unwrap();
    let mut b = saving::load_model(&p).unwrap();
    let (xs, _, _, _) = io("mlp");
    let y = Tensor::from_vec((0..8).map(|i| i % 10).collect::<Vec<i32>>(), [8]).unwrap();
    let la = a.train_on_batch(&xs[0], &y).unwrap();
    let lb = b.train_on_batch(&xs[0], &y).unwrap();
    assert_eq!(la, lb);
    for (x, y) in a.variables().iter().zip(&b.variables()) {
        assert_eq!(
            x.value().to_vec::<f32>().unwrap(),
            y.value().to_vec::<f32>().unwrap()
        );
    }
}

#[test]
fn bad_files_give_clear_errors() {
    let d_guard = tmp("bad");
    let d = d_guard.path();
    // Not a zip.
    let p = d.join("junk.keras");
    std::fs::write(&p, b"not a zip at all").unwrap();
    let e = saving::load_model(&p).err().unwrap().to_string();
    assert!(e.contains("not a valid .keras"), "{e}");
    // Wrong extension.
    let e = saving::load_model(d.join("m.zip"))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("must end in .keras"), "{e}");
    // Random damage to real files (seeded): an error or a model, never a panic.
    let mut state = 0x9e3779b97f4a7c15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for name in ["cnn", "functional", "lstm", "mha"] {
        let orig = std::fs::read(dir().join(format!("{name}.keras"))).unwrap();
        for _ in 0..150 {
            let mut b = orig.clone();
            for _ in 0..1 + next() % 4 {
                let i = (next() % b.len() as u64) as usize;
                b[i] ^= 1 << (next() % 8);
            }
            let _ = saving::load_model_from_bytes(&b, LoadOptions::default());
        }
    }
    // Every truncation of a real file is an error, never a panic.
    let bytes = std::fs::read(dir().join("cnn.keras")).unwrap();
    for cut in (0..bytes.len()).step_by(997) {
        let p = d.join("cut.keras");
        std::fs::write(&p, &bytes[..cut]).unwrap();
        assert!(saving::load_model(&p).is_err(), "cut at {cut}");
    }
    // A zip bomb (300 MB of zeros deflated to ~300 KB) is refused before inflating.
    {
        use std::io::Write;
        let p = d.join("bomb.keras");
        let f = std::fs::File::create(&p).unwrap();
        let mut z = zip::ZipWriter::new(f);
        let o = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        z.start_file("config.json", o).unwrap();
        z.write_all(b"{}").unwrap();
        z.start_file("model.weights.h5", o).unwrap();
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..300 {
            z.write_all(&zeros).unwrap();
        }
        z.finish().unwrap();
        let e = saving::load_model(&p).err().unwrap().to_string();
        assert!(e.contains("zip bomb"), "{e}");
    }
    // Malformed JSON and a wrong model class are named.
    {
        use std::io::Write;
        for (cfg, want) in [
            (&b"{not json"[..], "not valid JSON"),
            (&b"{\"class_name\": \"MyNet\", \"config\": {}}"[..], "MyNet"),
            (&b"{\"class_name\": \"Sequential\", \"config\": {\"name\": \"s\", \"layers\": [{\"class_name\": \"Dense\", \"config\": {\"units\": -3}}]}}"[..], "'units' must be a non-negative integer"),
            // An absurd dimension is refused before anything is allocated.
            (&b"{\"class_name\": \"Sequential\", \"config\": {\"name\": \"s\", \"build_input_shape\": [null, 784], \"layers\": [{\"class_name\": \"Dense\", \"config\": {\"units\": 100000000000}}]}}"[..], "larger than any array"),
        ] {
            let p = d.join("cfg.keras");
            let f = std::fs::File::create(&p).unwrap();
            let mut z = zip::ZipWriter::new(f);
            let o = zip::write::SimpleFileOptions::default();
            z.start_file("config.json", o).unwrap();
            z.write_all(cfg).unwrap();
            z.start_file("model.weights.h5", o).unwrap();
            z.write_all(&std::fs::read(dir().join("mlp.weights.h5")).unwrap()).unwrap();
            z.finish().unwrap();
            let e = saving::load_model(&p).err().unwrap().to_string();
            assert!(e.contains(want), "{e}");
        }
    }
    // Lambda layers are refused in safe mode with a message that says how.
    let e = match saving::load_model(dir().join("variants/custom.keras")) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("custom.keras holds a Lambda and a custom layer"),
    };
    assert!(e.contains("Lambda") || e.contains("register"), "{e}");
    let opts = LoadOptions {
        safe_mode: false,
        ..LoadOptions::default()
    };
    let e = match saving::load_model_with(dir().join("variants/custom.keras"), opts) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("custom layers must be registered"),
    };
    assert!(e.contains("register"), "{e}");
}

#[test]
fn legacy_h5_models_load_and_predict() {
    // Written by Keras 3.15's legacy writer (tools/keras_legacy_h5.py).
    let leg = dir().join("legacy");
    let load = |f: &str| npy::load(leg.join(f)).unwrap();
    let mut seq = saving::load_model(leg.join("seq.h5")).unwrap();
    assert!(
        seq.compiled_optimizer().is_some(),
        "compiled from training_config"
    );
    let got = predict_all(&mut seq, vec![load("seq.input.npy")]);
    assert!(max_excess(&got[0], &load("seq.output.npy"), 1e-5, 1e-4) <= 0.0);

    let mut func = saving::load_model(leg.join("func.h5")).unwrap();
    let got = predict_all(
        &mut func,
        vec![load("func.input_0.npy"), load("func.input_1.npy")],
    );
    for (i, g) in got.iter().enumerate() {
        let want = load(&format!("func.output_{i}.npy"));
        assert!(max_excess(g, &want, 1e-5, 1e-4) <= 0.0, "output {i}");
    }
    // The weights alone load into the same architecture.
    let mut again = saving::load_model(leg.join("func.h5")).unwrap();
    for v in again.variables() {
        v.assign(ceras::ops::zeros_like(v.value(), None).unwrap())
            .unwrap();
    }
    again.load_weights(leg.join("func.h5")).unwrap();
    let got2 = predict_all(
        &mut again,
        vec![load("func.input_0.npy"), load("func.input_1.npy")],
    );
    assert_eq!(
        got[0].to_vec::<f32>().unwrap(),
        got2[0].to_vec::<f32>().unwrap()
    );
}

#[test]
fn keras2_dialect_legacy_file() {
    // A tf.keras 2.x style file: `Model` class, `batch_input_shape`, list-form
    // inbound nodes, initializers without `module`, `kernel:0` weight names.
    use ceras_hdf5 as h5;
    let cfg = r#"{"class_name": "Model", "config": {"name": "model", "layers": [
        {"name": "input_1", "class_name": "InputLayer", "config": {"batch_input_shape": [null, 3], "dtype": "float32", "sparse": false, "ragged": false, "name": "input_1"}, "inbound_nodes": []},
        {"name": "dense", "class_name": "Dense", "config": {"name": "dense", "trainable": true, "dtype": "float32", "units": 2, "activation": "relu", "use_bias": true,
          "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": null}}, "bias_initializer": {"class_name": "Zeros", "config": {}},
          "kernel_regularizer": null, "bias_regularizer": null, "activity_regularizer": null, "kernel_constraint": null, "bias_constraint": null},
         "inbound_nodes": [[["input_1", 0, 0, {}]]]}],
      "input_layers": [["input_1", 0, 0]], "output_layers": [["dense", 0, 0]]},
      "keras_version": "2.13.1", "backend": "tensorflow"}"#;
    let f32s = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let mut root = h5::Group::default();
    root.set_attr("model_config", h5::Attr::Str(cfg.into()));
    root.set_attr("keras_version", h5::Attr::Str("2.13.1".into()));
    let mw = root.group_mut_or_create("model_weights").unwrap();
    mw.set_attr(
        "layer_names",
        h5::Attr::StrList(vec!["input_1".into(), "dense".into()]),
    );
    mw.group_mut_or_create("input_1")
        .unwrap()
        .set_attr("weight_names", h5::Attr::StrList(vec![]));
    let dg = mw.group_mut_or_create("dense").unwrap();
    dg.set_attr(
        "weight_names",
        h5::Attr::StrList(vec!["dense/kernel:0".into(), "dense/bias:0".into()]),
    );
    let inner = dg.group_mut_or_create("dense").unwrap();
    inner
        .insert_dataset(
            "kernel:0",
            h5::Dataset {
                dtype: h5::Dtype::F32,
                shape: vec![3, 2],
                data: f32s(&[1.0, -1.0, 2.0, 0.5, 0.0, 1.0]),
                attrs: vec![],
            },
        )
        .unwrap();
    inner
        .insert_dataset(
            "bias:0",
            h5::Dataset {
                dtype: h5::Dtype::F32,
                shape: vec![2],
                data: f32s(&[0.5, 0.25]),
                attrs: vec![],
            },
        )
        .unwrap();
    let d_guard = tmp("keras2");
    let d = d_guard.path();
    let p = d.join("old.h5");
    std::fs::write(&p, h5::write(&root).unwrap()).unwrap();
    let mut m = saving::load_model(&p).unwrap();
    let x = Tensor::from_vec(vec![1.0f32, 1.0, 1.0], [1, 3]).unwrap();
    let y = predict_all(&mut m, vec![x]);
    // relu([1+2+0+0.5, -1+0.5+1+0.25]) = [3.5, 0.75]
    assert_eq!(y[0].to_vec::<f32>().unwrap(), vec![3.5, 0.75]);
}

#[test]
fn masks_from_embedding_reach_lstm_and_pooling_as_in_keras() {
    // tools/keras_mask_fixture.py: Embedding(mask_zero=True) → LSTMs (stacked,
    // go_backwards, zero_output_for_mask) → GlobalAveragePooling1D / Dense, with
    // padding ids at the end, the start and in the middle of sequences.
    let md = dir().join("mask");
    let ids = npy::load(md.join("input.npy")).unwrap();
    for name in ["stacked", "pooled", "functional"] {
        let mut m = saving::load_model(md.join(format!("{name}.keras"))).unwrap();
        let got = predict_all(&mut m, vec![ids.clone()]);
        let want = npy::load(md.join(format!("{name}.output.npy"))).unwrap();
        let e = max_excess(&got[0], &want, 1e-5, 1e-4);
        assert!(e <= 0.0, "{name}: exceeds tolerance by {e}");
    }
    // The padded rows really depend on the mask: ids 0 → 19 changes them.
    let mut m = saving::load_model(md.join("stacked.keras")).unwrap();
    let masked = predict_all(&mut m, vec![ids.clone()]);
    let v: Vec<i32> = ids
        .to_vec::<i32>()
        .unwrap()
        .iter()
        .map(|&i| if i == 0 { 19 } else { i })
        .collect();
    let unpadded = predict_all(&mut m, vec![Tensor::from_vec(v, [4, 6]).unwrap()]);
    let (a, b) = (
        masked[0].to_vec::<f32>().unwrap(),
        unpadded[0].to_vec::<f32>().unwrap(),
    );
    assert_ne!(a[..2], b[..2], "row 0 has padding");
    assert_eq!(a[6..], b[6..], "row 3 has none");
}

#[test]
fn typed_metrics_compile_save_and_reload() {
    use ceras::metrics::{Kind, Metric, MetricSpec};
    let mut m = Sequential::new()
        .add(Input::new([4]))
        .add(layers::Dense::new(1).activation("sigmoid"));
    let auc = Metric::new(
        Kind::Auc {
            num_thresholds: 50,
            pr: true,
            from_logits: false,
        },
        "auc_pr",
    )
    .unwrap();
    m.compile_with(
        ceras::models::Compile::new("adam")
            .loss("binary_crossentropy")
            .metrics([MetricSpec::from("mae"), auc.into()]),
    )
    .unwrap();
    let x = ceras::random::uniform(&[16, 4], -1.0, 1.0, None, 3).unwrap();
    let y = Tensor::from_vec((0..16).map(|i| (i % 2) as f32).collect::<Vec<_>>(), [16, 1]).unwrap();
    let h = m
        .fit(&x, &y)
        .epochs(1)
        .batch_size(8)
        .verbose(0)
        .run()
        .unwrap();
    assert!(
        h.history.contains_key("auc_pr") && h.history.contains_key("mae"),
        "{h:?}"
    );
    let typed = tmp("typed");
    let p = typed.path().join("m.keras");
    m.save(&p).unwrap();
    let mut back = saving::load_model(&p).unwrap();
    let logs = back.evaluate(&x, &y, 8, 0).unwrap();
    let want = m.evaluate(&x, &y, 8, 0).unwrap();
    assert_eq!(logs["auc_pr"], want["auc_pr"], "{logs:?}");
}
