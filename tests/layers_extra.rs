//! `EinsumDense`, `Conv{1,2,3}DTranspose`, `DepthwiseConv{1,2}D` and
//! `SeparableConv{1,2}D` against real Keras 3.15.1 (JAX backend): forward outputs,
//! weight names / shapes / order, output shapes and `get_config`, replayed from the
//! fixtures in `tests/golden/layers_extra/` (written by
//! `tools/keras_golden_layers_extra.py`); plus finite-difference gradient checks and
//! the errors raised for bad input.

use ceras::config::DataFormat;
use ceras::layers::{Conv1DTranspose, Conv2DTranspose, Conv3DTranspose};
use ceras::layers::{
    ConvTranspose, DepthwiseConv, DepthwiseConv2D, EinsumDense, EinsumOutputShape, Layer,
    SeparableConv, SeparableConv2D,
};
use ceras::ops::Spatial;
use ceras::{autodiff, lax, Result, StatelessScope, Tensor};
use serde_json::Value;

// ------------------------------------------------------------------ fixtures

fn load(file: &str) -> Vec<Value> {
    let path = format!(
        "{}/tests/golden/layers_extra/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["keras_version"], "3.15.1");
    v["cases"].as_array().unwrap().clone()
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

fn spatial(v: &Value) -> Spatial {
    match v {
        Value::Array(a) => Spatial(a.iter().map(|d| d.as_i64().unwrap()).collect()),
        d => Spatial(vec![d.as_i64().unwrap()]),
    }
}

fn data_format(args: &Value) -> DataFormat {
    DataFormat::parse(args["data_format"].as_str().unwrap()).unwrap()
}

/// The ceras layer for a fixture case, built with the same arguments.
fn make_layer(case: &Value) -> Box<dyn Layer> {
    let a = &case["args"];
    let class = case["layer"].as_str().unwrap();
    let get = |k: &str| a.get(k).filter(|v| !v.is_null());
    let rank = |prefix: &str| -> usize { class[prefix.len()..prefix.len() + 1].parse().unwrap() };
    macro_rules! conv_common {
        ($l:expr) => {{
            let mut l = $l.data_format(data_format(a));
            if let Some(s) = get("strides") {
                l = l.strides(spatial(s));
            }
            if let Some(p) = get("padding") {
                l = l.padding(p.as_str().unwrap());
            }
            if let Some(d) = get("dilation_rate") {
                l = l.dilation_rate(spatial(d));
            }
            if let Some(b) = get("use_bias") {
                l = l.use_bias(b.as_bool().unwrap());
            }
            if let Some(act) = get("activation") {
                l = l.activation(act.as_str().unwrap());
            }
            l
        }};
    }
    match class {
        "EinsumDense" => {
            let shape = match &a["output_shape"] {
                Value::Array(v) => {
                    EinsumOutputShape(v.iter().map(|d| d.as_i64()).collect::<Vec<_>>())
                }
                d => EinsumOutputShape(vec![d.as_i64()]),
            };
            let mut l = EinsumDense::new(a["equation"].as_str().unwrap(), shape);
            if let Some(b) = get("bias_axes") {
                l = l.bias_axes(b.as_str().unwrap());
            }
            if let Some(act) = get("activation") {
                l = l.activation(act.as_str().unwrap());
            }
            Box::new(l)
        }
        c if c.ends_with("Transpose") => {
            let mut l = conv_common!(ConvTranspose::new(
                rank("Conv"),
                a["filters"].as_u64().unwrap() as usize,
                spatial(&a["kernel_size"]),
            ));
            if let Some(p) = get("output_padding") {
                l = l.output_padding(spatial(p));
            }
            Box::new(l)
        }
        c if c.starts_with("DepthwiseConv") => {
            let mut l = conv_common!(DepthwiseConv::new(
                rank("DepthwiseConv"),
                spatial(&a["kernel_size"])
            ));
            if let Some(m) = get("depth_multiplier") {
                l = l.depth_multiplier(m.as_u64().unwrap() as usize);
            }
            Box::new(l)
        }
        c if c.starts_with("SeparableConv") => {
            let mut l = conv_common!(SeparableConv::new(
                rank("SeparableConv"),
                a["filters"].as_u64().unwrap() as usize,
                spatial(&a["kernel_size"]),
            ));
            if let Some(m) = get("depth_multiplier") {
                l = l.depth_multiplier(m.as_u64().unwrap() as usize);
            }
            Box::new(l)
        }
        other => panic!("unknown layer {other}"),
    }
}

/// numpy's `allclose(rtol=1e-5, atol=1e-6)`, element by element.
fn assert_close(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g - w).abs();
        assert!(
            err <= 1e-6 + 1e-5 * w.abs(),
            "{what}: element {i}: ceras {g} vs keras {w} (|diff| {err})"
        );
    }
}

/// Replays every case of a fixture file.
fn replay(file: &str) {
    let cases = load(file);
    assert!(!cases.is_empty());
    for case in &cases {
        let name = format!("{file}:{}", case["name"].as_str().unwrap());
        let mut layer = make_layer(case);
        assert_eq!(
            layer.class_name(),
            case["layer"].as_str().unwrap(),
            "{name}"
        );
        let x = tensor(&case["input"]);

        // Weights: names, shapes and order as in Keras.
        let shape: Vec<Option<usize>> = x.shape().iter().map(|&d| Some(d)).collect();
        layer
            .maybe_build(&shape)
            .unwrap_or_else(|e| panic!("{name}: build: {e}"));
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
        let n_params: usize = want.iter().map(|(_, s)| s.iter().product::<usize>()).sum();
        assert_eq!(layer.count_params(), n_params, "{name}: count_params");
        for (w, k) in ws.iter().zip(kw) {
            w.assign(tensor(k)).unwrap();
        }

        // Forward output.
        let y = layer
            .forward(&x, false)
            .unwrap_or_else(|e| panic!("{name}: forward: {e}"));
        assert_eq!(
            y.shape(),
            usizes(&case["output"]["shape"]).as_slice(),
            "{name}: output shape"
        );
        assert_close(
            &name,
            &y.to_vec::<f32>().unwrap(),
            &floats(&case["output"]["data"]),
        );

        // Output shape with an unknown batch dimension: the shape the call produced
        // (Keras's symbolic shape may have `None` where ceras knows the size).
        let mut sym = shape.clone();
        sym[0] = None;
        let mut want_sym: Vec<Option<usize>> = y.shape().iter().map(|&d| Some(d)).collect();
        want_sym[0] = None;
        assert_eq!(
            layer.compute_output_shape(&sym).unwrap(),
            want_sym,
            "{name}: compute_output_shape"
        );
        for (k, d) in case["symbolic_output_shape"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
        {
            // Keras lists a left ellipsis's dimensions in reverse order; every other
            // known size must agree.
            if let (Some(d), false) = (d.as_u64(), case["name"] == "left_ellipsis_rank4") {
                assert_eq!(want_sym[k], Some(d as usize), "{name}: symbolic dim {k}");
            }
        }

        // get_config: Keras's keys and argument values (the base `name` and `dtype`
        // entries aside).
        let mut cfg = layer.get_config();
        let mut kcfg = case["config"].clone();
        for c in [&mut cfg, &mut kcfg] {
            let m = c.as_object_mut().unwrap();
            m.remove("name");
            m.remove("dtype");
        }
        assert_eq!(cfg, kcfg, "{name}: get_config");
    }
}

#[test]
fn einsum_dense_matches_keras() {
    replay("einsum_dense.json");
}

#[test]
fn conv_transpose_matches_keras() {
    replay("conv_transpose.json");
}

#[test]
fn depthwise_conv_matches_keras() {
    replay("depthwise_conv.json");
}

#[test]
fn separable_conv_matches_keras() {
    replay("separable_conv.json");
}

// ------------------------------------------------------------------ shapes

/// Kernel, bias and output shapes of Keras's own `einsum_dense_test.py` cases.
#[test]
fn einsum_dense_shapes_of_keras_test_suite() {
    type Case<'a> = (
        &'a str,
        Option<&'a str>,
        &'a [usize],
        &'a [i64],
        &'a [usize],
        Option<&'a [usize]>,
        &'a [usize],
    );
    let cases: &[Case] = &[
        ("ab,b->a", None, &[2, 32], &[], &[32], None, &[2]),
        (
            "ab,bc->ac",
            None,
            &[2, 32],
            &[64],
            &[32, 64],
            None,
            &[2, 64],
        ),
        (
            "abc,cde->abde",
            None,
            &[2, 1, 2],
            &[1, 3, 4],
            &[2, 3, 4],
            None,
            &[2, 1, 3, 4],
        ),
        (
            "abc,cde->abde",
            Some("e"),
            &[2, 1, 2],
            &[1, 3, 4],
            &[2, 3, 4],
            Some(&[4]),
            &[2, 1, 3, 4],
        ),
        (
            "abc,cde->abde",
            Some("d"),
            &[2, 1, 2],
            &[1, 3, 4],
            &[2, 3, 4],
            Some(&[3, 1]),
            &[2, 1, 3, 4],
        ),
        (
            "abc,cde->abde",
            Some("be"),
            &[2, 7, 2],
            &[7, 3, 4],
            &[2, 3, 4],
            Some(&[7, 1, 4]),
            &[2, 7, 3, 4],
        ),
        (
            "BFNH,NHD->BFD",
            None,
            &[2, 1, 2, 3],
            &[1, 4],
            &[2, 3, 4],
            None,
            &[2, 1, 4],
        ),
        (
            "abc,cd->abd",
            None,
            &[2, 1, 2],
            &[1, 4],
            &[2, 4],
            None,
            &[2, 1, 4],
        ),
        ("i,d->id", None, &[2], &[2], &[2], None, &[2, 2]),
        (
            "ibd,nd->ibn",
            None,
            &[2, 2, 1],
            &[2, 2],
            &[2, 1],
            None,
            &[2, 2, 2],
        ),
        (
            "...b,bc->...c",
            None,
            &[2, 32],
            &[64],
            &[32, 64],
            None,
            &[2, 64],
        ),
        (
            "...bc,bc->...b",
            None,
            &[2, 32, 64],
            &[32],
            &[32, 64],
            None,
            &[2, 32],
        ),
        (
            "...b,bc->...c",
            None,
            &[2, 3, 32],
            &[64],
            &[32, 64],
            None,
            &[2, 3, 64],
        ),
        (
            "...c,cde->...de",
            None,
            &[2, 1, 2],
            &[3, 4],
            &[2, 3, 4],
            None,
            &[2, 1, 3, 4],
        ),
        (
            "...c,cde->...de",
            Some("e"),
            &[2, 1, 2],
            &[3, 4],
            &[2, 3, 4],
            Some(&[4]),
            &[2, 1, 3, 4],
        ),
        (
            "...c,cde->...de",
            Some("d"),
            &[2, 1, 2],
            &[3, 4],
            &[2, 3, 4],
            Some(&[3, 1]),
            &[2, 1, 3, 4],
        ),
        (
            "...c,cde->...de",
            Some("de"),
            &[2, 1, 2],
            &[3, 4],
            &[2, 3, 4],
            Some(&[3, 4]),
            &[2, 1, 3, 4],
        ),
        (
            "bc...,cd->bd...",
            None,
            &[2, 1, 2, 3],
            &[4],
            &[1, 4],
            None,
            &[2, 4, 2, 3],
        ),
        (
            "bc...,cde->bde...",
            None,
            &[2, 1, 2],
            &[3, 4],
            &[1, 3, 4],
            None,
            &[2, 3, 4, 2],
        ),
        (
            "bc...,cde->bde...",
            Some("d"),
            &[2, 1, 2],
            &[3, 4],
            &[1, 3, 4],
            Some(&[3, 1, 1]),
            &[2, 3, 4, 2],
        ),
        (
            "bc...,cde->bde...",
            Some("e"),
            &[2, 1, 2],
            &[3, 4],
            &[1, 3, 4],
            Some(&[4, 1]),
            &[2, 3, 4, 2],
        ),
        (
            "bc...,cde->bde...",
            Some("de"),
            &[2, 1, 2],
            &[3, 4],
            &[1, 3, 4],
            Some(&[3, 4, 1]),
            &[2, 3, 4, 2],
        ),
    ];
    for &(eq, bias, input, out, kernel, bias_shape, y_shape) in cases {
        let mut l = EinsumDense::new(eq, out.to_vec());
        if let Some(b) = bias {
            l = l.bias_axes(b);
        }
        let x = ceras::ops::ones(input, None).unwrap();
        let y = l.forward(&x, false).unwrap_or_else(|e| panic!("{eq}: {e}"));
        assert_eq!(y.shape(), y_shape, "{eq} {bias:?}: output");
        assert_eq!(l.kernel().unwrap().shape(), kernel, "{eq} {bias:?}: kernel");
        assert_eq!(
            l.bias().map(|b| b.shape().to_vec()),
            bias_shape.map(|s| s.to_vec()),
            "{eq} {bias:?}: bias"
        );
        let mut s: Vec<Option<usize>> = input.iter().map(|&d| Some(d)).collect();
        s[0] = None;
        let mut want: Vec<Option<usize>> = y_shape.iter().map(|&d| Some(d)).collect();
        want[0] = None;
        assert_eq!(l.compute_output_shape(&s).unwrap(), want, "{eq}: symbolic");
    }
}

#[test]
fn einsum_dense_glorot_fans_follow_the_equation() {
    // Kernel (64, 2, 3): fans from the equation are (64, 6) -> limit sqrt(6 / 70);
    // the conv-style fans of a 3-D shape would be (128, 192) -> limit sqrt(6 / 320).
    ceras::random::set_seed(3);
    let mut l = EinsumDense::new("abc,cde->abde", [None, Some(2), Some(3)]);
    l.forward(&ceras::ops::ones(&[1, 2, 64], None).unwrap(), false)
        .unwrap();
    let k = l.kernel().unwrap().value().to_vec::<f32>().unwrap();
    let max = k.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let (limit, conv_limit) = ((6.0f32 / 70.0).sqrt(), (6.0f32 / 320.0).sqrt());
    assert!(max <= limit, "max |w| {max} > {limit}");
    assert!(
        max > 1.5 * conv_limit,
        "max |w| {max}: fans were not taken from the equation"
    );
}

#[test]
fn output_shapes_with_unknown_dims() {
    let l = Conv2DTranspose::new(5, 3)
        .strides(2)
        .padding("same")
        .data_format(DataFormat::ChannelsLast);
    assert_eq!(
        l.compute_output_shape(&[None, None, Some(4), Some(2)])
            .unwrap(),
        vec![None, None, Some(8), Some(5)]
    );
    let l = Conv3DTranspose::new(2, 2)
        .strides(2)
        .data_format(DataFormat::ChannelsFirst);
    assert_eq!(
        l.compute_output_shape(&[None, Some(3), Some(2), None, Some(1)])
            .unwrap(),
        vec![None, Some(2), Some(4), None, Some(2)]
    );
    let l = Conv1DTranspose::new(4, 3)
        .strides(2)
        .output_padding(1)
        .data_format(DataFormat::ChannelsLast);
    assert_eq!(
        l.compute_output_shape(&[Some(7), Some(5), Some(3)])
            .unwrap(),
        vec![Some(7), Some(12), Some(4)]
    );
    let l = DepthwiseConv2D::new(3)
        .depth_multiplier(3)
        .data_format(DataFormat::ChannelsLast);
    assert_eq!(
        l.compute_output_shape(&[None, Some(7), None, Some(2)])
            .unwrap(),
        vec![None, Some(5), None, Some(6)]
    );
    let l = SeparableConv2D::new(8, 3)
        .strides(2)
        .padding("same")
        .data_format(DataFormat::ChannelsFirst);
    assert_eq!(
        l.compute_output_shape(&[None, Some(3), Some(7), Some(8)])
            .unwrap(),
        vec![None, Some(8), Some(4), Some(4)]
    );
    let l = EinsumDense::new("abc,cd->abd", [None, Some(16)]);
    assert_eq!(
        l.compute_output_shape(&[None, None, Some(8)]).unwrap(),
        vec![None, None, Some(16)]
    );
}

// ------------------------------------------------------------------ gradients

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

/// Checks the gradients of `sum(layer(x) * w)` with respect to the input and every
/// weight against central differences, in float64 (the layer's variables are bound
/// to float64 values through a `StatelessScope`).
fn grad_check(name: &str, layer: &mut dyn Layer, x_shape: &[usize]) {
    let shape: Vec<Option<usize>> = x_shape.iter().map(|&d| Some(d)).collect();
    layer.maybe_build(&shape).unwrap();
    let vars = layer.weights();
    let mut rng = Lcg(0x5EED ^ x_shape.iter().sum::<usize>() as u64);
    let mut inputs = vec![rng.tensor(x_shape)];
    inputs.extend(vars.iter().map(|v| rng.tensor(v.shape())));
    let layer: &dyn Layer = layer;
    let f = |xs: &[Tensor]| -> Result<Tensor> {
        let bindings: Vec<_> = vars.iter().cloned().zip(xs[1..].iter().cloned()).collect();
        StatelessScope::new(&bindings).run(|| layer.call(&xs[0], false))
    };
    let y0 = f(&inputs).unwrap_or_else(|e| panic!("{name}: forward: {e}"));
    let w = rng.tensor(y0.shape());
    let loss = |xs: &[Tensor]| -> Result<Tensor> {
        let p = lax::mul(&f(xs)?, &w)?;
        let all: Vec<usize> = (0..p.ndim()).collect();
        lax::reduce_sum(&p, &all)
    };
    let grads = autodiff::grad(loss, &inputs).unwrap_or_else(|e| panic!("{name}: grad: {e}"));
    let eps = 1e-6;
    for (k, x) in inputs.iter().enumerate() {
        let what = if k == 0 {
            "input".to_string()
        } else {
            vars[k - 1].name().to_string()
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

#[test]
fn einsum_dense_gradients() {
    let mut l = EinsumDense::new("abc,cde->abde", [None, Some(2), Some(3)])
        .bias_axes("be")
        .activation("tanh");
    grad_check("EinsumDense abc,cde->abde", &mut l, &[2, 3, 4]);
    let mut l = EinsumDense::new("...b,bc->...c", 3).bias_axes("c");
    grad_check("EinsumDense ...b,bc->...c", &mut l, &[2, 2, 4]);
}

#[test]
fn conv_transpose_gradients() {
    let cl = DataFormat::ChannelsLast;
    let mut l = Conv2DTranspose::new(2, 3)
        .strides(2)
        .padding("same")
        .activation("tanh")
        .data_format(cl);
    grad_check("Conv2DTranspose s2 same", &mut l, &[1, 3, 3, 2]);
    let mut l = Conv2DTranspose::new(2, [3, 2])
        .strides([2, 3])
        .output_padding([1, 0])
        .data_format(DataFormat::ChannelsFirst);
    grad_check(
        "Conv2DTranspose valid output_padding cf",
        &mut l,
        &[1, 2, 2, 3],
    );
    let mut l = Conv1DTranspose::new(2, 3).dilation_rate(2).data_format(cl);
    grad_check("Conv1DTranspose dilation", &mut l, &[2, 4, 2]);
}

#[test]
fn depthwise_conv_gradients() {
    let mut l = DepthwiseConv2D::new(3)
        .depth_multiplier(2)
        .strides(2)
        .padding("same")
        .activation("tanh")
        .data_format(DataFormat::ChannelsLast);
    grad_check("DepthwiseConv2D", &mut l, &[1, 5, 4, 2]);
    let mut l = DepthwiseConv2D::new(2)
        .dilation_rate(2)
        .data_format(DataFormat::ChannelsFirst);
    grad_check("DepthwiseConv2D dilation cf", &mut l, &[1, 2, 4, 4]);
}

#[test]
fn separable_conv_gradients() {
    let mut l = SeparableConv2D::new(3, 3)
        .depth_multiplier(2)
        .padding("same")
        .activation("tanh")
        .data_format(DataFormat::ChannelsLast);
    grad_check("SeparableConv2D", &mut l, &[1, 4, 4, 2]);
}

// ------------------------------------------------------------------ errors

fn err_of(r: Result<Tensor>) -> String {
    match r {
        Ok(t) => panic!("expected an error, got a tensor of shape {:?}", t.shape()),
        Err(e) => e.to_string(),
    }
}

fn assert_mentions(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(msg.contains(p), "error {msg:?} does not mention {p:?}");
    }
}

fn ones(s: &[usize]) -> Tensor {
    ceras::ops::ones(s, None).unwrap()
}

#[test]
fn einsum_dense_errors() {
    let x = ones(&[2, 3, 5]);
    let m = err_of(
        EinsumDense::new("ab->c", 4)
            .named("ed_eq")
            .forward(&x, false),
    );
    assert_mentions(&m, &["ed_eq", "invalid einsum equation", "\"ab->c\""]);
    let m = err_of(
        EinsumDense::new("ab,bc", 4)
            .named("ed_eq2")
            .forward(&x, false),
    );
    assert_mentions(&m, &["ed_eq2", "invalid einsum equation"]);
    let m = err_of(
        EinsumDense::new("abc,cd->abd", [None, Some(4)])
            .named("ed_rank")
            .forward(&ones(&[2, 5]), false),
    );
    assert_mentions(&m, &["ed_rank", "rank 3", "(2, 5)"]);
    let m = err_of(
        EinsumDense::new("abc,cd->abd", [7, 4])
            .named("ed_mismatch")
            .forward(&x, false),
    );
    assert_mentions(&m, &["ed_mismatch", "do not match", "'b'", "(2, 3, 5)"]);
    let m = err_of(
        EinsumDense::new("abc,cd->abd", [None, Some(4)])
            .bias_axes("x")
            .named("ed_bias")
            .forward(&x, false),
    );
    assert_mentions(&m, &["ed_bias", "bias dimension 'x'", "\"abd\""]);
    let m = err_of(
        EinsumDense::new("abc,cd->abd", 4)
            .named("ed_len")
            .forward(&x, false),
    );
    assert_mentions(&m, &["ed_len", "`output_shape` has 1 entries", "need 2"]);
    let m = err_of(
        EinsumDense::new("abc,cd->abd", [None, Some(4)])
            .bias_axes("")
            .named("ed_bias_empty")
            .forward(&x, false),
    );
    assert_mentions(&m, &["ed_bias_empty", "`bias_axes`"]);
    let m = err_of(
        EinsumDense::new("abc,cx->abd", [None, Some(4)])
            .named("ed_out")
            .forward(&x, false),
    );
    assert_mentions(&m, &["ed_out", "dimension 'd'"]);
    let m = err_of(
        EinsumDense::new("abc,cdz->abd", [None, Some(4)])
            .named("ed_w")
            .forward(&x, false),
    );
    assert_mentions(&m, &["ed_w", "weight dimension 'z'"]);
    let m = err_of(
        EinsumDense::new("...b,bc->...c", 4)
            .named("ed_ell")
            .forward(&ones(&[5]), false),
    );
    assert_mentions(&m, &["ed_ell", "rank at least 2", "(5,)"]);
    // Built for (2, 3, 5), then called with another contraction size.
    let mut l = EinsumDense::new("abc,cd->abd", [None, Some(4)]).named("ed_after");
    l.forward(&x, false).unwrap();
    let m = err_of(l.forward(&ones(&[2, 3, 6]), false));
    assert_mentions(&m, &["ed_after", "(2, 3, 6)", "[5, 4]", "[6, 4]"]);
    let m = err_of(l.forward(&ones(&[2, 5]), false));
    assert_mentions(&m, &["ed_after", "(2, 5)", "rank 3"]);
}

#[test]
fn conv_extra_errors() {
    let cl = DataFormat::ChannelsLast;
    let x = ones(&[1, 4, 4, 2]);
    let m = err_of(
        Conv2DTranspose::new(3, 3)
            .named("ct_rank")
            .data_format(cl)
            .forward(&ones(&[1, 4, 2]), false),
    );
    assert_mentions(&m, &["ct_rank", "4 dimensions", "(1, 4, 2)"]);
    let mut l = Conv2DTranspose::new(3, 3).named("ct_ch").data_format(cl);
    l.forward(&x, false).unwrap();
    let m = err_of(l.forward(&ones(&[1, 4, 4, 5]), false));
    assert_mentions(&m, &["ct_ch", "(1, 4, 4, 5)", "expected 2 input channels"]);
    let m = err_of(
        Conv2DTranspose::new(3, 3)
            .strides(2)
            .output_padding(2)
            .named("ct_op")
            .data_format(cl)
            .forward(&x, false),
    );
    assert_mentions(&m, &["ct_op", "output_padding", "strictly less than"]);
    let m = err_of(
        Conv2DTranspose::new(3, 3)
            .strides(2)
            .dilation_rate(2)
            .named("ct_sd")
            .data_format(cl)
            .forward(&x, false),
    );
    assert_mentions(&m, &["ct_sd", "dilation_rate > 1"]);
    let m = err_of(
        Conv2DTranspose::new(0, 3)
            .named("ct_f0")
            .data_format(cl)
            .forward(&x, false),
    );
    assert_mentions(&m, &["ct_f0", "filters"]);
    let m = err_of(
        Conv2DTranspose::new(3, [3, 3, 3])
            .named("ct_ks")
            .data_format(cl)
            .forward(&x, false),
    );
    assert_mentions(&m, &["ct_ks", "kernel_size"]);
    let m = err_of(
        Conv2DTranspose::new(3, 3)
            .padding("full")
            .named("ct_pad")
            .data_format(cl)
            .forward(&x, false),
    );
    assert_mentions(&m, &["ct_pad", "padding", "full"]);

    let m = err_of(
        DepthwiseConv2D::new(3)
            .named("dw_small")
            .data_format(cl)
            .forward(&ones(&[1, 2, 2, 2]), false),
    );
    assert_mentions(&m, &["dw_small", "zero or negative", "(1, 2, 2, 2)"]);
    let m = err_of(
        DepthwiseConv2D::new(3)
            .depth_multiplier(0)
            .named("dw_m0")
            .data_format(cl)
            .forward(&x, false),
    );
    assert_mentions(&m, &["dw_m0", "depth_multiplier"]);
    let mut l = DepthwiseConv2D::new(3).named("dw_ch").data_format(cl);
    l.forward(&x, false).unwrap();
    let m = err_of(l.forward(&ones(&[1, 4, 4, 3]), false));
    assert_mentions(&m, &["dw_ch", "expected 2 input channels", "(1, 4, 4, 3)"]);
    let m = err_of(l.forward(&ones(&[4, 4, 2]), false));
    assert_mentions(&m, &["dw_ch", "4 dimensions", "(4, 4, 2)"]);

    let m = err_of(
        SeparableConv2D::new(0, 3)
            .named("sep_f0")
            .data_format(cl)
            .forward(&x, false),
    );
    assert_mentions(&m, &["sep_f0", "filters"]);
    let m = err_of(
        SeparableConv2D::new(2, 3)
            .strides(0)
            .named("sep_s0")
            .data_format(cl)
            .forward(&x, false),
    );
    assert_mentions(&m, &["sep_s0", "strides"]);
    let m = err_of(
        SeparableConv2D::new(2, 3)
            .activation("nope")
            .named("sep_act")
            .data_format(cl)
            .forward(&x, false),
    );
    assert_mentions(&m, &["sep_act", "nope"]);
    let mut l = SeparableConv2D::new(2, 3)
        .named("sep_ch")
        .data_format(DataFormat::ChannelsFirst);
    l.forward(&ones(&[1, 2, 4, 4]), false).unwrap();
    let m = err_of(l.forward(&ones(&[1, 3, 4, 4]), false));
    assert_mentions(
        &m,
        &["sep_ch", "expected 2 input channels", "channels_first"],
    );

    // compute_output_shape reports bad ranks too.
    let l = SeparableConv2D::new(2, 3).named("sep_cos").data_format(cl);
    let e = l
        .compute_output_shape(&[None, Some(4), Some(2)])
        .unwrap_err()
        .to_string();
    assert_mentions(&e, &["sep_cos", "4 dimensions", "(None, 4, 2)"]);
}

#[test]
fn configs_carry_regularizers_constraints_and_initializers() {
    use ceras::initializers::Initializer;
    use ceras::regularizers::{Constraint, Regularizer};
    let l = Conv2DTranspose::new(4, 3)
        .kernel_regularizer(Regularizer::L2(0.01))
        .bias_constraint(Constraint::NonNeg)
        .kernel_initializer("he_normal")
        .output_padding(0)
        .data_format(DataFormat::ChannelsLast);
    let c = l.get_config();
    assert_eq!(c["kernel_regularizer"]["class_name"], "L2");
    assert_eq!(c["kernel_regularizer"]["config"]["l2"], 0.01);
    assert_eq!(c["bias_constraint"]["class_name"], "NonNeg");
    assert_eq!(c["kernel_initializer"]["class_name"], "HeNormal");
    assert_eq!(c["output_padding"], serde_json::json!([0, 0]));
    assert_eq!(c["kernel_size"], serde_json::json!([3, 3]));
    let l = SeparableConv2D::new(2, 3).pointwise_initializer(Initializer::Constant(0.5));
    let c = l.get_config();
    assert_eq!(c["pointwise_initializer"]["class_name"], "Constant");
    assert_eq!(c["pointwise_initializer"]["config"]["value"], 0.5);
    let l = EinsumDense::new("ab,bc->ac", 4).kernel_constraint(Constraint::MaxNorm {
        max_value: 2.0,
        axis: 0,
    });
    let c = l.get_config();
    assert_eq!(c["kernel_constraint"]["class_name"], "MaxNorm");
    assert_eq!(c["output_shape"], serde_json::json!([4]));
    assert_eq!(c["bias_axes"], Value::Null);
}
