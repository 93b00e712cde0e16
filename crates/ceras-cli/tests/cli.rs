//! The `ceras` binary on Keras-written fixtures (tests/fixtures/keras of the
//! main crate): summary, predict (one and several outputs), convert round
//! trips, inspect, and errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ceras"))
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/keras")
}

/// A fresh directory under the system temp dir, removed (with its contents)
/// when the returned guard drops, so test runs leave nothing behind.
fn tmp(tag: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("ceras-cli-{tag}-"))
        .tempdir()
        .unwrap()
}

fn run(c: &mut Command) -> Output {
    c.env("KERAS_BACKEND", "cpu").output().unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn npy_f32(p: &Path) -> (Vec<usize>, Vec<f32>) {
    let t = ceras::npy::load(p).unwrap();
    (t.shape().to_vec(), t.to_vec::<f32>().unwrap())
}

fn close(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| (x - y).abs() <= 1e-5 + 1e-4 * y.abs())
}

#[test]
fn summary_and_inspect() {
    let o = run(bin().arg("summary").arg(fixtures().join("cnn.keras")));
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        out.contains("conv2d (Conv2D)") && out.contains("Total params: 1,053"),
        "{out}"
    );

    let o = run(bin().arg("inspect").arg(fixtures().join("mlp.keras")));
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        out.contains("/layers/dense/vars/0  f32  [784, 64]"),
        "{out}"
    );
    assert!(out.contains("optimizer: Adam"), "{out}");
    assert!(out.contains("/optimizer/vars/0"), "{out}");
}

#[test]
fn predict_one_and_several_outputs() {
    let d_guard = tmp("predict");
    let d = d_guard.path();
    let out = d.join("y.npy");
    let o = run(bin()
        .arg("predict")
        .arg(fixtures().join("mlp.keras"))
        .args(["--input"])
        .arg(fixtures().join("mlp.input.npy"))
        .arg("--output")
        .arg(&out)
        .args(["--batch-size", "3"]));
    assert!(o.status.success(), "{}", text(&o).1);
    let (s, got) = npy_f32(&out);
    let (s2, want) = npy_f32(&fixtures().join("mlp.output.npy"));
    assert_eq!(s, s2);
    assert!(close(&got, &want));

    let o = run(bin()
        .arg("predict")
        .arg(fixtures().join("functional.keras"))
        .arg("--input")
        .arg(fixtures().join("functional.input_0.npy"))
        .arg("--input")
        .arg(fixtures().join("functional.input_1.npy"))
        .arg("--output")
        .arg(&out));
    assert!(o.status.success(), "{}", text(&o).1);
    for i in 0..2 {
        let (_, got) = npy_f32(&d.join(format!("y_{i}.npy")));
        let (_, want) = npy_f32(&fixtures().join(format!("functional.output_{i}.npy")));
        assert!(close(&got, &want), "output {i}");
    }
}

#[test]
fn convert_round_trips() {
    let d_guard = tmp("convert");
    let d = d_guard.path();
    let st = d.join("mlp.safetensors");
    let h5 = d.join("mlp.weights.h5");
    let k = d.join("mlp.keras");
    for (a, b) in [
        (fixtures().join("mlp.keras"), st.clone()),
        (st.clone(), h5.clone()),
        (fixtures().join("mlp.keras"), k.clone()),
    ] {
        let o = run(bin().arg("convert").arg(&a).arg(&b));
        assert!(
            o.status.success(),
            "{} -> {}: {}",
            a.display(),
            b.display(),
            text(&o).1
        );
    }
    // The weights that went through safetensors and back predict Keras's numbers.
    let mut m = ceras::saving::load_model(&k).unwrap();
    use ceras::Model;
    m.load_weights(&h5).unwrap();
    let x = ceras::npy::load(fixtures().join("mlp.input.npy")).unwrap();
    let y = m.predict(&x, 32).unwrap();
    let (_, want) = npy_f32(&fixtures().join("mlp.output.npy"));
    assert!(close(&y.to_vec::<f32>().unwrap(), &want));
    // A corrupt safetensors file is an error, not a crash.
    std::fs::write(d.join("bad.safetensors"), [255u8; 16]).unwrap();
    let o = run(bin()
        .arg("convert")
        .arg(d.join("bad.safetensors"))
        .arg(d.join("x.weights.h5")));
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("header length"), "{}", text(&o).1);
}

#[test]
fn usage_errors_and_help() {
    let o = run(bin().arg("predict").arg("--help"));
    assert!(o.status.success());
    assert!(text(&o).0.contains("--batch-size"));
    let o = run(bin().arg("frobnicate"));
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("unknown command"));
    let o = run(bin().arg("summary").arg("/nonexistent/m.keras"));
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("/nonexistent/m.keras"));
    let o = run(bin()
        .arg("convert")
        .arg(fixtures().join("mlp.weights.h5"))
        .arg("/tmp/x.keras"));
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("architecture"));
}
