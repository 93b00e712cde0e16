//! `AUC` against Python Keras 3.15.1 (`tests/golden/auc.json`, written by
//! `tools/keras_golden_auc.py`), and the stateless metric API.

use ceras::metrics::{Kind, Metric};
use ceras::{ops, Tensor};
use serde_json::Value;

fn tensor(v: &Value, shape: &[usize]) -> Tensor {
    let flat: Vec<f32> = v
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|x| match x {
            Value::Array(a) => a.iter().map(|y| y.as_f64().unwrap() as f32).collect(),
            _ => vec![x.as_f64().unwrap() as f32],
        })
        .collect();
    Tensor::from_vec(flat, shape.to_vec()).unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 + 1e-5 * b.abs()
}

#[test]
fn auc_matches_keras() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/auc.json");
    let g: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut failures = Vec::new();
    for case in g["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let cfg = &case["config"];
        let kind = Kind::Auc {
            num_thresholds: cfg["num_thresholds"].as_u64().unwrap_or(200) as usize,
            pr: cfg["curve"].as_str() == Some("PR"),
            from_logits: cfg["from_logits"].as_bool().unwrap_or(false),
        };
        let mut m = Metric::new(kind, "auc").unwrap();
        for b in case["batches"].as_array().unwrap() {
            let shape: Vec<usize> = b["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap() as usize)
                .collect();
            let y = tensor(&b["y_true"], &shape);
            let p = tensor(&b["y_pred"], &shape);
            let w =
                (!b["sample_weight"].is_null()).then(|| tensor(&b["sample_weight"], &shape[..1]));
            m.update_state(&y, &p, w.as_ref()).unwrap();
        }
        let got = m.result().unwrap();
        let want = case["result"].as_f64().unwrap();
        if !close(got, want) {
            failures.push(format!("{name}: result {got} vs Keras {want}"));
        }
        let tp = m.variables()[0].value().to_vec::<f32>().unwrap();
        let want_tp: Vec<f64> = case["true_positives"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        if tp.iter().zip(&want_tp).any(|(a, b)| !close(*a as f64, *b)) {
            failures.push(format!("{name}: true_positives differ"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn stateless_update_and_result_leave_the_metric_alone() {
    let mut m = Metric::get("binary_accuracy").unwrap();
    let y = Tensor::from_vec(vec![1.0f32, 0.0, 1.0, 1.0], [4]).unwrap();
    let p = Tensor::from_vec(vec![0.9f32, 0.2, 0.3, 0.8], [4]).unwrap();
    let zeros: Vec<Tensor> = m
        .variables()
        .iter()
        .map(|v| ops::zeros_like(v.value(), None).unwrap())
        .collect();
    let s1 = m.stateless_update_state(&zeros, &y, &p, None).unwrap();
    let s2 = m.stateless_update_state(&s1, &y, &p, None).unwrap();
    assert_eq!(m.stateless_result(&s2).unwrap().item_f64().unwrap(), 0.75);
    // The metric's own variables never moved.
    assert_eq!(m.result().unwrap(), 0.0);
    m.update_state(&y, &p, None).unwrap();
    assert_eq!(m.result().unwrap(), 0.75);
    let err = m.stateless_result(&s2[..1]).unwrap_err().to_string();
    assert!(err.contains("binary_accuracy"), "{err}");
}
