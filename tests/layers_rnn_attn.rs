//! `LSTM` / `LSTMCell` and `MultiHeadAttention` against real Keras 3.15.1 (JAX
//! backend): outputs (also with return_state, initial states, go_backwards,
//! seeded dropout in training, attention / causal / sliding-window masks, gates
//! and attention scores), gradients, weight names / shapes / order, seeded initial
//! weights, output shapes and `get_config` keys, replayed from
//! `tests/golden/rnn_attn.json` (written by `tools/keras_golden_rnn_attn.py`,
//! including the layers of the saved models in /work/shared/fixtures/keras); plus
//! finite-difference gradient checks, the Functional API and the errors raised for
//! bad input.

use ceras::initializers::Initializer;
use ceras::layers::{AttentionOptions, Dense, Layer, MultiHeadAttention, LSTM};
use ceras::models::{Functional, Input, Model};
use ceras::{autodiff, lax, ops, Result, StatelessScope, Tensor, Variable};
use serde_json::Value;
use std::sync::OnceLock;

// ------------------------------------------------------------------ fixtures

fn golden() -> &'static Value {
    static G: OnceLock<Value> = OnceLock::new();
    G.get_or_init(|| {
        let path = format!("{}/tests/golden/rnn_attn.json", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["keras_version"], "3.15.1");
        v
    })
}

fn cases(kind: &str) -> &'static [Value] {
    golden()[kind].as_array().unwrap()
}

fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_f64().unwrap() as f32)
        .collect()
}

fn tensor(v: &Value) -> Tensor {
    Tensor::from_vec(floats(&v["data"]), usizes(&v["shape"])).unwrap()
}

fn tensors(v: &Value) -> Vec<Tensor> {
    v.as_array().unwrap().iter().map(tensor).collect()
}

fn partial(t: &Tensor) -> Vec<Option<usize>> {
    t.shape().iter().map(|&d| Some(d)).collect()
}

/// `|ceras - keras| <= 1e-5 + 1e-4 |keras|` element by element (float32); returns
/// the largest absolute difference.
fn assert_close(what: &str, got: &Tensor, want: &Value) -> f32 {
    assert_eq!(
        got.shape(),
        usizes(&want["shape"]).as_slice(),
        "{what}: shape"
    );
    let (g, w) = (got.to_vec::<f32>().unwrap(), floats(&want["data"]));
    let mut max = 0.0f32;
    for (i, (&g, &w)) in g.iter().zip(&w).enumerate() {
        let err = (g - w).abs();
        assert!(
            err <= 1e-5 + 1e-4 * w.abs(),
            "{what}: element {i}: ceras {g} vs keras {w} (|diff| {err})"
        );
        max = max.max(err);
    }
    max
}

/// Checks weight names, shapes and order against Keras's, then assigns Keras's values.
fn set_weights(name: &str, layer: &dyn Layer, case: &Value) {
    let ws = layer.weights();
    let kw = case["weights"].as_array().unwrap();
    let got: Vec<(String, Vec<usize>)> = ws
        .iter()
        .map(|w| (w.name().to_string(), w.shape().to_vec()))
        .collect();
    let want: Vec<(String, Vec<usize>)> = kw
        .iter()
        .map(|w| (w["name"].as_str().unwrap().to_string(), usizes(&w["shape"])))
        .collect();
    assert_eq!(got, want, "{name}: weights");
    let n: usize = want.iter().map(|(_, s)| s.iter().product::<usize>()).sum();
    assert_eq!(layer.count_params(), n, "{name}: count_params");
    for (w, k) in ws.iter().zip(kw) {
        w.assign(tensor(k)).unwrap();
    }
}

/// `get_config`: Keras's keys and values (initializers: Keras's class name and
/// the seed / gain of their config).
fn check_config(name: &str, layer: &dyn Layer, case: &Value) {
    let cfg = layer.get_config();
    let kcfg = &case["config"];
    let (c, k) = (cfg.as_object().unwrap(), kcfg.as_object().unwrap());
    let mut ck: Vec<&String> = c.keys().collect();
    let mut kk: Vec<&String> = k.keys().collect();
    ck.sort();
    kk.sort();
    assert_eq!(ck, kk, "{name}: config keys");
    for (key, kv) in k {
        if key == "name" {
            continue;
        }
        let cv = &c[key];
        if key.ends_with("_initializer") {
            assert_eq!(cv["class_name"], kv["class_name"], "{name}: config {key}");
            for k in ["seed", "gain"] {
                assert_eq!(
                    cv["config"].get(k),
                    kv["config"].get(k),
                    "{name}: {key} {k}"
                );
            }
        } else if key == "output_shape" && kv.is_array() {
            assert_eq!(cv, kv, "{name}: config {key}");
        } else if let (Some(a), Some(b)) = (cv.as_f64(), kv.as_f64()) {
            assert!((a - b).abs() < 1e-12, "{name}: config {key}: {a} vs {b}");
        } else {
            assert_eq!(cv, kv, "{name}: config {key}");
        }
    }
}

/// The ceras LSTM for a case's Keras arguments.
fn make_lstm(args: &Value) -> LSTM {
    let mut l = LSTM::new(args["units"].as_u64().unwrap() as usize);
    let get = |k: &str| args.get(k).filter(|v| !v.is_null());
    let flag = |k: &str| get(k).map(|v| v.as_bool().unwrap());
    let num = |k: &str| get(k).map(|v| v.as_f64().unwrap());
    if let Some(a) = get("activation") {
        l = l.activation(a.as_str().unwrap());
    }
    if let Some(a) = get("recurrent_activation") {
        l = l.recurrent_activation(a.as_str().unwrap());
    }
    if let Some(b) = flag("use_bias") {
        l = l.use_bias(b);
    }
    if let Some(b) = flag("return_sequences") {
        l = l.return_sequences(b);
    }
    if let Some(b) = flag("return_state") {
        l = l.return_state(b);
    }
    if let Some(b) = flag("go_backwards") {
        l = l.go_backwards(b);
    }
    if let Some(b) = flag("unroll") {
        l = l.unroll(b);
    }
    if let Some(r) = num("dropout") {
        l = l.dropout(r);
    }
    if let Some(r) = num("recurrent_dropout") {
        l = l.recurrent_dropout(r);
    }
    if let Some(s) = get("seed") {
        l = l.seed(s.as_u64().unwrap());
    }
    l
}

/// The ceras MultiHeadAttention for a case's Keras arguments.
fn make_mha(args: &Value) -> MultiHeadAttention {
    let get = |k: &str| args.get(k).filter(|v| !v.is_null());
    let mut l = MultiHeadAttention::new(
        args["num_heads"].as_u64().unwrap() as usize,
        args["key_dim"].as_u64().unwrap() as usize,
    );
    if let Some(v) = get("value_dim") {
        l = l.value_dim(v.as_u64().unwrap() as usize);
    }
    if let Some(v) = get("dropout") {
        l = l.dropout(v.as_f64().unwrap());
    }
    if let Some(v) = get("use_bias") {
        l = l.use_bias(v.as_bool().unwrap());
    }
    if let Some(v) = get("use_gate") {
        l = l.use_gate(v.as_bool().unwrap());
    }
    if let Some(v) = get("output_shape") {
        l = match v {
            Value::Array(a) => l.output_shape(
                a.iter()
                    .map(|d| d.as_u64().unwrap() as usize)
                    .collect::<Vec<_>>(),
            ),
            d => l.output_shape(d.as_u64().unwrap() as usize),
        };
    }
    if let Some(v) = get("attention_axes") {
        let axes: Vec<i64> = match v {
            Value::Array(a) => a.iter().map(|d| d.as_i64().unwrap()).collect(),
            d => vec![d.as_i64().unwrap()],
        };
        l = l.attention_axes(&axes);
    }
    if let Some(v) = get("sliding_window") {
        l = l.sliding_window(v.as_u64().unwrap() as usize);
    }
    if let Some(v) = get("seed") {
        l = l.seed(v.as_u64().unwrap());
    }
    l
}

fn training(case: &Value) -> bool {
    case["call"]["training"].as_bool().unwrap_or(false)
}

fn mha_options(case: &Value, inputs: &[Tensor]) -> AttentionOptions {
    let call = &case["call"];
    AttentionOptions {
        key: inputs.get(2).cloned(),
        attention_mask: call.get("attention_mask").map(tensor),
        use_causal_mask: call["use_causal_mask"].as_bool().unwrap_or(false),
    }
}

/// The gradients of `sum(outputs[0])` with respect to `inputs` and the layer's
/// weights (bound through a `StatelessScope`).
fn grads_of(
    vars: &[Variable],
    inputs: &[Tensor],
    f: impl Fn(&[Tensor]) -> Result<Tensor>,
) -> Vec<Tensor> {
    let mut all = inputs.to_vec();
    all.extend(vars.iter().map(|v| v.value()));
    let n = inputs.len();
    autodiff::grad(
        |xs: &[Tensor]| {
            let bindings: Vec<_> = vars.iter().cloned().zip(xs[n..].iter().cloned()).collect();
            let y = StatelessScope::new(&bindings).run(|| f(&xs[..n]))?;
            let axes: Vec<usize> = (0..y.ndim()).collect();
            lax::reduce_sum(&y, &axes)
        },
        &all,
    )
    .unwrap()
}

// ------------------------------------------------------------------ LSTM vs Keras

#[test]
fn lstm_matches_keras() {
    let mut max_err = 0.0f32;
    for case in cases("lstm") {
        let name = format!("lstm:{}", case["name"].as_str().unwrap());
        let mut layer = make_lstm(&case["args"]);
        let inputs = tensors(&case["inputs"]);
        let shapes: Vec<_> = inputs.iter().map(partial).collect();
        layer
            .maybe_build_multi(&shapes)
            .unwrap_or_else(|e| panic!("{name}: build: {e}"));
        assert_eq!(layer.weights().len(), layer.cell().weights().len());
        set_weights(&name, &layer, case);
        let out = layer
            .forward_multi(&inputs, training(case))
            .unwrap_or_else(|e| panic!("{name}: forward: {e}"));
        let want = case["outputs"].as_array().unwrap();
        assert_eq!(out.len(), want.len(), "{name}: number of outputs");
        for (k, (o, w)) in out.iter().zip(want).enumerate() {
            max_err = max_err.max(assert_close(&format!("{name}: output {k}"), o, w));
        }
        // Shapes with an unknown batch and time: compute_output_shape and the
        // specs of every output.
        let mut sym = shapes[0].clone();
        sym[0] = None;
        sym[1] = None;
        let mut first = partial(&out[0]);
        first[0] = None;
        if first.len() == 3 {
            first[1] = None;
        }
        assert_eq!(
            layer.compute_output_shape(&sym).unwrap(),
            first,
            "{name}: compute_output_shape"
        );
        let mut specs_in = vec![(sym.clone(), ceras::DType::F32)];
        for s in &shapes[1..] {
            specs_in.push((vec![None, s[1]], ceras::DType::F32));
        }
        let specs = layer.compute_output_specs(&specs_in).unwrap();
        assert_eq!(specs.len(), out.len(), "{name}: number of output specs");
        for (k, ((s, _), o)) in specs.iter().zip(&out).enumerate() {
            let mut w = partial(o);
            w[0] = None;
            if k == 0 && w.len() == 3 {
                w[1] = None;
            }
            assert_eq!(s, &w, "{name}: spec {k}");
        }
        check_config(&name, &layer, case);
        if !training(case) {
            // Inference never depends on the dropout masks.
            let again = layer.forward_multi(&inputs, false).unwrap();
            assert_close(&format!("{name}: second call"), &again[0], &want[0]);
        }
    }
    eprintln!("LSTM: max |ceras - keras| = {max_err:e}");
}

#[test]
fn lstm_gradients_match_keras() {
    let mut n = 0;
    let mut max_err = 0.0f32;
    for case in cases("lstm").iter().filter(|c| c.get("grads").is_some()) {
        let name = format!("lstm grads:{}", case["name"].as_str().unwrap());
        let mut layer = make_lstm(&case["args"]);
        let inputs = tensors(&case["inputs"]);
        layer
            .maybe_build_multi(&inputs.iter().map(partial).collect::<Vec<_>>())
            .unwrap();
        set_weights(&name, &layer, case);
        let vars = layer.weights();
        let l: &dyn Layer = &layer;
        let g = grads_of(&vars, &inputs, |xs| Ok(l.call_multi(xs, false)?.remove(0)));
        let want = case["grads"].as_array().unwrap();
        assert_eq!(g.len(), want.len());
        for (k, (g, w)) in g.iter().zip(want).enumerate() {
            max_err = max_err.max(assert_close(&format!("{name}: gradient {k}"), g, w));
        }
        n += 1;
    }
    assert_eq!(n, 2);
    eprintln!("LSTM gradients: max |ceras - keras| = {max_err:e}");
}

// ------------------------------------------------------------------ MHA vs Keras

#[test]
fn multi_head_attention_matches_keras() {
    let mut max_err = 0.0f32;
    for case in cases("mha") {
        let name = format!("mha:{}", case["name"].as_str().unwrap());
        let mut layer = make_mha(&case["args"]);
        let inputs = tensors(&case["inputs"]);
        let shapes: Vec<_> = inputs.iter().map(partial).collect();
        layer
            .maybe_build_multi(&shapes)
            .unwrap_or_else(|e| panic!("{name}: build: {e}"));
        set_weights(&name, &layer, case);
        let subs: Vec<String> = layer
            .sublayers()
            .iter()
            .map(|l| l.name().to_string())
            .collect();
        let mut want_subs = vec!["query", "key"];
        if case["args"]["use_gate"] == true {
            want_subs.push("gate");
        }
        want_subs.extend(["value", "attention_output"]);
        assert_eq!(subs, want_subs, "{name}: sublayers");

        let opts = mha_options(case, &inputs);
        let (y, scores) = layer
            .forward_with(&inputs[0], &inputs[1], &opts, training(case))
            .unwrap_or_else(|e| panic!("{name}: forward: {e}"));
        let want = case["outputs"].as_array().unwrap();
        max_err = max_err.max(assert_close(&format!("{name}: output"), &y, &want[0]));
        if let Some(w) = want.get(1) {
            max_err = max_err.max(assert_close(&format!("{name}: scores"), &scores, w));
        }
        let plain = opts.attention_mask.is_none() && !opts.use_causal_mask;
        if plain && !training(case) {
            // call_multi (the Functional path) gives the same output.
            let y2 = layer.forward_multi(&inputs, false).unwrap();
            assert_close(&format!("{name}: call_multi"), &y2[0], &want[0]);
        }
        // Shapes with unknown batch and sequence lengths.
        let sym: Vec<_> = shapes
            .iter()
            .map(|s| (vec![None, None, s[2]], ceras::DType::F32))
            .collect();
        let specs = layer.compute_output_specs(&sym).unwrap();
        let mut w = partial(&y);
        w[0] = None;
        w[1] = None;
        assert_eq!(specs[0].0, w, "{name}: output spec");
        assert_eq!(
            layer.compute_output_shape(&sym[0].0).unwrap(),
            w,
            "{name}: compute_output_shape"
        );
        check_config(&name, &layer, case);
    }
    eprintln!("MultiHeadAttention: max |ceras - keras| = {max_err:e}");
}

#[test]
fn multi_head_attention_gradients_match_keras() {
    let mut n = 0;
    let mut max_err = 0.0f32;
    for case in cases("mha").iter().filter(|c| c.get("grads").is_some()) {
        let name = format!("mha grads:{}", case["name"].as_str().unwrap());
        let mut layer = make_mha(&case["args"]);
        let inputs = tensors(&case["inputs"]);
        layer
            .maybe_build_multi(&inputs.iter().map(partial).collect::<Vec<_>>())
            .unwrap();
        set_weights(&name, &layer, case);
        let vars = layer.weights();
        let causal = case["call"]["use_causal_mask"] == true;
        let l = &layer;
        let g = grads_of(&vars, &inputs, |xs| {
            let opts = AttentionOptions {
                key: xs.get(2).cloned(),
                use_causal_mask: causal,
                ..Default::default()
            };
            Ok(l.call_with(&xs[0], &xs[1], &opts, false)?.0)
        });
        let want = case["grads"].as_array().unwrap();
        assert_eq!(g.len(), want.len());
        for (k, (g, w)) in g.iter().zip(want).enumerate() {
            max_err = max_err.max(assert_close(&format!("{name}: gradient {k}"), g, w));
        }
        n += 1;
    }
    assert_eq!(n, 3);
    eprintln!("MultiHeadAttention gradients: max |ceras - keras| = {max_err:e}");
}

// ------------------------------------------------------------------ initial weights

fn init_case(name: &str) -> &'static Value {
    cases("init")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no init case {name}"))
}

/// Builds `layer` for the case's input shape and compares the weights at `which`.
fn check_init(layer: &mut dyn Layer, case: &Value, which: &[usize], multi: bool) {
    let s: Vec<Option<usize>> = usizes(&case["input_shape"]).into_iter().map(Some).collect();
    if multi {
        layer.maybe_build_multi(&[s.clone(), s]).unwrap();
    } else {
        layer.maybe_build(&s).unwrap();
    }
    let ws = layer.weights();
    let kw = case["weights"].as_array().unwrap();
    assert_eq!(ws.len(), kw.len());
    for &i in which {
        let what = format!("{}: weight {i} ({})", case["name"], ws[i].name());
        assert_close(&what, &ws[i].value(), &kw[i]);
    }
}

/// Rows (`rows <= cols`) or columns of a 2-D weight are orthogonal with norm `gain`.
fn assert_orthogonal(what: &str, w: &Tensor, gain: f32) {
    let (r, c) = (w.shape()[0], w.shape()[1]);
    let wt = ops::transpose(w, None).unwrap();
    let (g, n) = if r <= c {
        (ops::matmul(w, &wt).unwrap(), r)
    } else {
        (ops::matmul(&wt, w).unwrap(), c)
    };
    let g = g.to_vec::<f32>().unwrap();
    for i in 0..n {
        for j in 0..n {
            let want = if i == j { gain * gain } else { 0.0 };
            assert!(
                (g[i * n + j] - want).abs() < 1e-5,
                "{what}: Gram matrix [{i}, {j}] = {} (want {want})",
                g[i * n + j]
            );
        }
    }
}

#[test]
fn seeded_initial_weights_match_keras() {
    // The recurrent kernels are checked for orthogonality and gain only: the
    // crate's `Orthogonal` draws its normal sample in float64 where Keras draws it
    // in the weight's dtype, so seeded values differ from Keras's.
    let case = init_case("lstm_glorot1_orthogonal2");
    let mut l = LSTM::new(3)
        .kernel_initializer(Initializer::glorot_uniform(Some(1)))
        .recurrent_initializer(Initializer::Orthogonal {
            gain: 1.0,
            seed: Some(2),
        });
    check_init(&mut l, case, &[0, 2], false);
    let r = l.cell().recurrent_kernel().unwrap().value();
    assert_orthogonal("recurrent_kernel", &r, 1.0);
    assert_orthogonal("keras recurrent_kernel", &tensor(&case["weights"][1]), 1.0);
    // Gain, and a random bias initializer without the forget-gate ones.
    let mut l = LSTM::new(2)
        .unit_forget_bias(false)
        .bias_initializer(Initializer::RandomNormal {
            mean: 0.0,
            stddev: 0.05,
            seed: Some(4),
        })
        .recurrent_initializer(Initializer::Orthogonal {
            gain: 0.5,
            seed: Some(3),
        });
    check_init(
        &mut l,
        init_case("lstm_orthogonal_gain_no_forget_bias"),
        &[2],
        false,
    );
    let r = l.cell().recurrent_kernel().unwrap().value();
    assert_orthogonal("recurrent_kernel gain 0.5", &r, 0.5);
    let mut m =
        MultiHeadAttention::new(2, 3).kernel_initializer(Initializer::glorot_uniform(Some(6)));
    check_init(
        &mut m,
        init_case("mha_glorot6"),
        &[0, 1, 2, 3, 4, 5, 6, 7],
        true,
    );
}

#[test]
fn lstm_default_initialization() {
    let mut l = LSTM::new(3);
    l.maybe_build(&[Some(2), Some(4), Some(5)]).unwrap();
    let cell = l.cell();
    // Orthogonal recurrent kernel: (3, 12) with orthonormal rows.
    assert_orthogonal(
        "recurrent_kernel",
        &cell.recurrent_kernel().unwrap().value(),
        1.0,
    );
    // unit_forget_bias: ones for the forget gate only.
    let b = cell.bias().unwrap().value().to_vec::<f32>().unwrap();
    let mut want = vec![0.0f32; 12];
    want[3..6].fill(1.0);
    assert_eq!(b, want);
    // Glorot-uniform kernel (5, 12).
    let limit = (6.0f32 / 17.0).sqrt();
    let k = cell.kernel().unwrap().value().to_vec::<f32>().unwrap();
    assert!(k.iter().all(|v| v.abs() <= limit) && k.iter().any(|v| *v != 0.0));
    // Names: the cell is `lstm_cell`; the layer has no own weights.
    assert_eq!(l.sublayers()[0].name(), "lstm_cell");
    assert_eq!(l.sublayers()[0].class_name(), "LSTMCell");
    let names: Vec<String> = l.weights().iter().map(|w| w.path()).collect();
    assert_eq!(
        names,
        [
            "lstm_cell/kernel",
            "lstm_cell/recurrent_kernel",
            "lstm_cell/bias"
        ]
    );
    // Freezing reaches the cell.
    l.set_trainable(false);
    assert!(l.trainable_weights().is_empty());
    l.set_trainable(true);
    assert_eq!(l.trainable_weights().len(), 3);
}

// ------------------------------------------------------------------ behaviour

#[test]
fn lstm_cell_step_matches_the_layer() {
    // One LSTM step equals the cell applied to zero states; two steps chain.
    let x = uniform(&[2, 2, 3], 7);
    let mut l = LSTM::new(4).return_sequences(true).return_state(true);
    let out = l.forward_multi(std::slice::from_ref(&x), false).unwrap();
    let cell = l.cell();
    let steps = ops::unstack(&x, None, 1).unwrap();
    let z = ops::zeros(&[2, 4], None).unwrap();
    let s1 = cell
        .call_multi(&[steps[0].clone(), z.clone(), z], false)
        .unwrap();
    let s2 = cell
        .call_multi(&[steps[1].clone(), s1[1].clone(), s1[2].clone()], false)
        .unwrap();
    let seq = ops::stack(&[s1[0].clone(), s2[0].clone()], 1).unwrap();
    let close = |a: &Tensor, b: &Tensor| {
        let (a, b) = (a.to_vec::<f32>().unwrap(), b.to_vec::<f32>().unwrap());
        assert_eq!(a.len(), b.len());
        assert!(
            a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-6),
            "{a:?} vs {b:?}"
        );
    };
    close(&out[0], &seq);
    close(&out[1], &s2[1]);
    close(&out[2], &s2[2]);
}

#[test]
fn dropout_is_training_only_and_reproducible() {
    let x = uniform(&[3, 4, 5], 1);
    let run = |training: bool| {
        let mut l = LSTM::new(4)
            .dropout(0.5)
            .recurrent_dropout(0.3)
            .seed(42)
            .kernel_initializer(Initializer::glorot_uniform(Some(1)))
            .recurrent_initializer(Initializer::glorot_uniform(Some(2)));
        l.forward(&x, training).unwrap().to_vec::<f32>().unwrap()
    };
    assert_eq!(run(true), run(true));
    assert_ne!(run(true), run(false));
    let mha = |training: bool| {
        let mut m = MultiHeadAttention::new(2, 3)
            .dropout(0.5)
            .seed(3)
            .kernel_initializer(Initializer::glorot_uniform(Some(1)));
        m.forward_multi(&[x.clone(), x.clone()], training).unwrap()[0]
            .to_vec::<f32>()
            .unwrap()
    };
    assert_eq!(mha(true), mha(true));
    assert_ne!(mha(true), mha(false));
}

#[test]
fn sublayers_follow_the_layer_dtype() {
    let x = uniform(&[2, 3, 4], 5);
    let mut l = LSTM::new(2);
    l.base_mut().set_dtype(ceras::DType::F64);
    let y = l.forward(&x, false).unwrap();
    assert_eq!(y.dtype(), ceras::DType::F64);
    assert!(l
        .weights()
        .iter()
        .all(|w| w.value().dtype() == ceras::DType::F64));
    let mut m = MultiHeadAttention::new(2, 3);
    m.base_mut().set_dtype(ceras::DType::F64);
    let y = m.forward_multi(&[x.clone(), x], false).unwrap();
    assert_eq!(y[0].dtype(), ceras::DType::F64);
    assert!(m
        .weights()
        .iter()
        .all(|w| w.value().dtype() == ceras::DType::F64));
}

#[test]
fn functional_api() {
    let inp = Input::new([5, 3]).tensor();
    let seq = LSTM::new(4).return_sequences(true).apply(&inp).unwrap();
    assert_eq!(seq.shape(), &[None, Some(5), Some(4)]);
    let outs = LSTM::new(2).return_state(true).apply_multi(&seq).unwrap();
    let shapes: Vec<_> = outs.iter().map(|t| t.shape().to_vec()).collect();
    assert_eq!(shapes, vec![vec![None, Some(2)]; 3]);
    let att = MultiHeadAttention::new(2, 4).apply([&seq, &seq]).unwrap();
    assert_eq!(att.shape(), &[None, Some(5), Some(4)]);
    let y = Dense::new(1).apply(&outs[0]).unwrap();
    let mut m = Functional::new(&inp, [&y, &att]).unwrap();
    // LSTM(4): 4*4*(3+4+1); LSTM(2): 4*2*(4+2+1); MHA: 3*(4*2*4 + 2*4) + 2*4*4 + 4;
    // Dense(1): 2 + 1 (as Keras's summary of the same model).
    assert_eq!(m.count_params(), 128 + 56 + 156 + 3);
    m.predict_outputs(uniform(&[2, 5, 3], 3), 2).unwrap();
}

// ------------------------------------------------------------------ finite differences

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64) / ((1u64 << 53) as f64)
    }
    fn tensor(&mut self, shape: &[usize]) -> Tensor {
        let n: usize = shape.iter().product();
        let v: Vec<f64> = (0..n).map(|_| self.next() * 2.0 - 1.0).collect();
        Tensor::from_vec(v, shape.to_vec()).unwrap()
    }
}

fn uniform(shape: &[usize], seed: u64) -> Tensor {
    let t = Lcg(seed).tensor(shape);
    ops::cast(&t, ceras::DType::F32).unwrap()
}

/// Checks the gradients of `sum(w_k * outputs_k)` (all outputs of `call`) with
/// respect to every input and every variable in `vars` against central
/// differences, in float64 (the variables are bound to float64 values through a
/// `StatelessScope`).
fn fd_check(
    name: &str,
    vars: &[Variable],
    input_shapes: &[&[usize]],
    call: &dyn Fn(&[Tensor]) -> Result<Vec<Tensor>>,
) {
    let seed = input_shapes.iter().flat_map(|s| s.iter()).sum::<usize>() as u64;
    let mut rng = Lcg(0x5EED ^ seed);
    let mut inputs: Vec<Tensor> = input_shapes.iter().map(|s| rng.tensor(s)).collect();
    let n_in = inputs.len();
    inputs.extend(vars.iter().map(|v| rng.tensor(v.shape())));
    let f = |xs: &[Tensor]| -> Result<Vec<Tensor>> {
        let bindings: Vec<_> = vars
            .iter()
            .cloned()
            .zip(xs[n_in..].iter().cloned())
            .collect();
        StatelessScope::new(&bindings).run(|| call(&xs[..n_in]))
    };
    let y0 = f(&inputs).unwrap_or_else(|e| panic!("{name}: forward: {e}"));
    let ws: Vec<Tensor> = y0.iter().map(|y| rng.tensor(y.shape())).collect();
    let loss = |xs: &[Tensor]| -> Result<Tensor> {
        let mut total: Option<Tensor> = None;
        for (y, w) in f(xs)?.iter().zip(&ws) {
            let p = lax::mul(y, w)?;
            let all: Vec<usize> = (0..p.ndim()).collect();
            let s = lax::reduce_sum(&p, &all)?;
            total = Some(match total {
                None => s,
                Some(t) => lax::add(&t, &s)?,
            });
        }
        Ok(total.unwrap())
    };
    let grads = autodiff::grad(loss, &inputs).unwrap_or_else(|e| panic!("{name}: grad: {e}"));
    let eps = 1e-6;
    for (k, x) in inputs.iter().enumerate() {
        let what = if k < n_in {
            format!("input {k}")
        } else {
            vars[k - n_in].path()
        };
        let base = x.to_vec::<f64>().unwrap();
        let g = grads[k].to_vec::<f64>().unwrap();
        assert_eq!(g.len(), base.len(), "{name}: gradient of {what}: size");
        for i in 0..base.len() {
            let eval = |d: f64| {
                let mut v = base.clone();
                v[i] += d;
                let mut xs = inputs.clone();
                xs[k] = Tensor::from_vec(v, x.shape().to_vec()).unwrap();
                loss(&xs).unwrap().item::<f64>().unwrap()
            };
            let num = (eval(eps) - eval(-eps)) / (2.0 * eps);
            assert!(
                (num - g[i]).abs() <= 1e-5 * (1.0 + num.abs()),
                "{name}: d/d{what}[{i}]: analytic {} vs numeric {num}",
                g[i]
            );
        }
    }
}

/// `fd_check` of `layer.call_multi` (built for these input shapes first).
fn fd_check_layer(name: &str, layer: &mut dyn Layer, input_shapes: &[&[usize]]) {
    let shapes: Vec<Vec<Option<usize>>> = input_shapes
        .iter()
        .map(|s| s.iter().map(|&d| Some(d)).collect())
        .collect();
    layer.maybe_build_multi(&shapes).unwrap();
    let layer: &dyn Layer = layer;
    fd_check(name, &layer.weights(), input_shapes, &|xs| {
        layer.call_multi(xs, false)
    });
}

#[test]
fn lstm_finite_difference_gradients() {
    let mut l = LSTM::new(3).return_sequences(true);
    fd_check_layer("LSTM sequences", &mut l, &[&[2, 3, 2]]);
    let mut l = LSTM::new(2).go_backwards(true).return_state(true);
    fd_check_layer("LSTM backwards state", &mut l, &[&[2, 3, 3]]);
    let mut l = LSTM::new(2)
        .return_sequences(true)
        .activation("softsign")
        .use_bias(false);
    fd_check_layer(
        "LSTM initial state softsign",
        &mut l,
        &[&[1, 3, 2], &[1, 2], &[1, 2]],
    );
}

#[test]
fn multi_head_attention_finite_difference_gradients() {
    let mut m = MultiHeadAttention::new(2, 2).value_dim(3).output_shape(2);
    fd_check_layer("MHA cross", &mut m, &[&[2, 3, 4], &[2, 2, 3]]);
    let mut m = MultiHeadAttention::new(2, 2).use_gate(true).use_bias(false);
    fd_check_layer(
        "MHA gate key",
        &mut m,
        &[&[1, 2, 3], &[1, 3, 2], &[1, 3, 4]],
    );
    // Causal + sliding window + explicit mask, through the output and the scores.
    let mut m = MultiHeadAttention::new(1, 3).sliding_window(2);
    let s = vec![Some(1), Some(3), Some(2)];
    m.maybe_build_multi(&[s.clone(), s]).unwrap();
    let mask = Tensor::from_vec(
        vec![1.0f32, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0],
        [1, 3, 3],
    )
    .unwrap();
    let opts = AttentionOptions {
        attention_mask: Some(mask),
        use_causal_mask: true,
        ..Default::default()
    };
    fd_check(
        "MHA masked",
        &m.weights(),
        &[&[1, 3, 2], &[1, 3, 2]],
        &|xs| {
            let (y, s) = m.call_with(&xs[0], &xs[1], &opts, false)?;
            Ok(vec![y, s])
        },
    );
    // Without the scores, Keras's dot_product_attention path: the same
    // function (to rounding) and its gradients, masked or causal only.
    fd_check(
        "MHA masked, no scores",
        &m.weights(),
        &[&[1, 3, 2], &[1, 3, 2]],
        &|xs| Ok(vec![m.call_opts(&xs[0], &xs[1], &opts, false)?]),
    );
    let mut c = MultiHeadAttention::new(2, 3);
    let s = vec![Some(2), Some(4), Some(5)];
    c.maybe_build_multi(&[s.clone(), s]).unwrap();
    let causal = AttentionOptions {
        use_causal_mask: true,
        ..Default::default()
    };
    fd_check(
        "MHA causal, no scores",
        &c.weights(),
        &[&[2, 4, 5], &[2, 4, 5]],
        &|xs| Ok(vec![c.call_opts(&xs[0], &xs[1], &causal, false)?]),
    );
    for (layer, o, shape) in [(&m, &opts, [1, 3, 2]), (&c, &causal, [2, 4, 5])] {
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|i| ((i * 7 % 11) as f32) / 5.0 - 1.0).collect();
        let x = Tensor::from_vec(v, shape).unwrap();
        let a = layer
            .call_opts(&x, &x, o, false)
            .unwrap()
            .to_vec::<f32>()
            .unwrap();
        let b = layer
            .call_with(&x, &x, o, false)
            .unwrap()
            .0
            .to_vec::<f32>()
            .unwrap();
        for (a, b) in a.iter().zip(&b) {
            assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{a} vs {b}");
        }
    }
}

// ------------------------------------------------------------------ errors

fn err_of<T: std::fmt::Debug>(r: Result<T>) -> String {
    match r {
        Ok(t) => panic!("expected an error, got {t:?}"),
        Err(e) => e.to_string(),
    }
}

fn assert_mentions(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(msg.contains(p), "error {msg:?} does not mention {p:?}");
    }
}

fn ones(s: &[usize]) -> Tensor {
    ops::ones(s, None).unwrap()
}

fn shapes_of(r: Result<Vec<Tensor>>) -> Result<Vec<Vec<usize>>> {
    r.map(|v| v.iter().map(|t| t.shape().to_vec()).collect())
}

#[test]
fn lstm_errors() {
    let m = err_of(LSTM::new(3).named("l_rank").forward(&ones(&[2, 5]), false));
    assert_mentions(&m, &["l_rank", "LSTM", "3 dimensions", "(2, 5)"]);
    let mut l = LSTM::new(3).named("l_feat");
    l.forward(&ones(&[2, 4, 5]), false).unwrap();
    let m = err_of(l.forward(&ones(&[2, 4, 6]), false));
    assert_mentions(&m, &["l_feat", "(2, 4, 6)", "expected 5 features"]);
    let m = err_of(l.forward(&ones(&[2, 0, 5]), false));
    assert_mentions(&m, &["l_feat", "at least one time step"]);
    let m = err_of(shapes_of(l.forward_multi(
        &[ones(&[2, 4, 5]), ones(&[2, 4]), ones(&[2, 3])],
        false,
    )));
    assert_mentions(&m, &["lstm_cell", "initial state h", "(2, 3)", "[2, 4]"]);
    let m = err_of(shapes_of(
        l.forward_multi(&[ones(&[2, 4, 5]), ones(&[2, 3])], false),
    ));
    assert_mentions(&m, &["l_feat", "got 2 inputs"]);
    let m = err_of(
        LSTM::new(3)
            .stateful(true)
            .named("l_state")
            .forward(&ones(&[2, 4, 5]), false),
    );
    assert_mentions(&m, &["l_state", "stateful=True is not supported"]);
    let m = err_of(
        LSTM::new(3)
            .return_state(true)
            .named("l_rs")
            .forward(&ones(&[2, 4, 5]), false),
    );
    assert_mentions(&m, &["l_rs", "return_state", "call_multi"]);
    let m = err_of(
        LSTM::new(3)
            .activation("nope")
            .forward(&ones(&[2, 4, 5]), false),
    );
    assert_mentions(&m, &["lstm_cell", "unknown activation 'nope'"]);
    let m = err_of(LSTM::new(0).forward(&ones(&[2, 4, 5]), false));
    assert_mentions(&m, &["lstm_cell", "`units`"]);
    let mut cell = ceras::layers::LSTMCell::new(2);
    let m = err_of(cell.forward(&ones(&[2, 3]), false));
    assert_mentions(&m, &["lstm_cell", "call_multi(&[inputs, h, c])"]);
}

#[test]
fn multi_head_attention_errors() {
    let x = ones(&[2, 3, 4]);
    let m = err_of(
        MultiHeadAttention::new(2, 3)
            .named("m_one")
            .forward(&x, false),
    );
    assert_mentions(
        &m,
        &["m_one", "MultiHeadAttention", "2 inputs [query, value]"],
    );
    let m = err_of(shapes_of(
        MultiHeadAttention::new(2, 3)
            .named("m_rank")
            .forward_multi(&[ones(&[2, 3, 4, 5]), ones(&[2, 3, 4, 5])], false),
    ));
    assert_mentions(&m, &["m_rank", "3 dimensions", "(2, 3, 4, 5)"]);
    let m = err_of(shapes_of(
        MultiHeadAttention::new(2, 3)
            .attention_axes(&[2])
            .named("m_axes")
            .forward_multi(&[x.clone(), x.clone()], false),
    ));
    assert_mentions(&m, &["m_axes", "attention_axes=[2] is not supported"]);
    let m = err_of(shapes_of(
        MultiHeadAttention::new(2, 3)
            .named("m_vk")
            .forward_multi(&[x.clone(), ones(&[2, 5, 4]), ones(&[2, 6, 4])], false),
    ));
    assert_mentions(&m, &["m_vk", "value", "key", "(2, 5, 4)", "(2, 6, 4)"]);
    let mut l = MultiHeadAttention::new(2, 3).named("m_dim");
    l.forward_multi(&[x.clone(), x.clone()], false).unwrap();
    let m = err_of(shapes_of(
        l.forward_multi(&[ones(&[2, 3, 5]), x.clone()], false),
    ));
    assert_mentions(
        &m,
        &[
            "m_dim",
            "query shape (2, 3, 5)",
            "expected last dimension 4",
        ],
    );
    let m = err_of(shapes_of(
        l.forward_multi(&[ones(&[1, 3, 4]), x.clone()], false),
    ));
    assert_mentions(&m, &["m_dim", "same batch size"]);
    let m = err_of(shapes_of(
        MultiHeadAttention::new(0, 3)
            .named("m_heads")
            .forward_multi(&[x.clone(), x.clone()], false),
    ));
    assert_mentions(&m, &["m_heads", "`num_heads`"]);
    let m = err_of(shapes_of(
        MultiHeadAttention::new(2, 3)
            .dropout(1.5)
            .named("m_drop")
            .forward_multi(&[x.clone(), x.clone()], false),
    ));
    assert_mentions(&m, &["m_drop", "dropout"]);
    let opts = AttentionOptions {
        attention_mask: Some(ones(&[3])),
        ..Default::default()
    };
    let m = err_of(l.forward_with(&x, &x, &opts, false).map(|r| r.0));
    assert_mentions(&m, &["m_dim", "attention mask", "[3]"]);
}
