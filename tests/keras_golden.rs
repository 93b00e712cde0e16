//! Numerical agreement with real Keras: replays the fixtures in `tests/golden/`
//! (written by `tools/keras_golden.py` with Keras 3.15.1 on the JAX backend; CI
//! never runs Python) and checks ceras's losses, metrics, optimizers, learning-rate
//! schedules, activations, layers, regularizers, constraints and initializers
//! against them.
//!
//! Every fixture case is a named check: a family's test runs all its cases and
//! fails with the list of failing case names and what differed.
//!
//! Tolerance: float32 results must agree to `1e-5` relative plus `1e-6` absolute
//! (XLA and ceras sum in different orders and use different `exp`/`log`/`tanh`
//! approximations, a few ulps apart). Cases that need more say why where they
//! use it. Seeded random initializers use the same random bits as JAX (Threefry,
//! bit for bit) but are compared within 8 ulps of the sample's scale: XLA fuses
//! `u * (max - min) + min` into one FMA and has its own `erfinv`, so the floats
//! differ by 1–4 ulps.
//!
//! Run: `cargo test --release --test keras_golden -- --nocapture`.

use ceras::activations::Activation as Act;
use ceras::config::DataFormat;
use ceras::initializers::{compute_fans, Initializer};
use ceras::layers::{self, Layer};
use ceras::losses::{Loss, LossFn, Reduction};
use ceras::metrics::{Kind, Metric};
use ceras::ops::{self, Spatial};
use ceras::optimizers::{
    Adam, AdamW, CosineDecay, CosineDecayRestarts, ExponentialDecay, InverseTimeDecay,
    LearningRate, LearningRateSchedule, Optimizer, PiecewiseConstantDecay, PolynomialDecay,
    RmsProp, Sgd,
};
use ceras::regularizers::{Constraint, Regularizer};
use ceras::{DType, Tensor, Variable};
use serde_json::Value;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::Arc;

type Res<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

const RTOL: f64 = 1e-5;
const ATOL: f64 = 1e-6;

// ------------------------------------------------------------------ harness

fn fixture(family: &str) -> Vec<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{family}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let v: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()));
    let cases = v["cases"].as_array().expect("a `cases` array").clone();
    assert!(!cases.is_empty(), "{family}: no cases");
    cases
}

/// Runs every case of a family, each as its own check (a panic or error in one
/// case does not hide the others), and fails listing the failing cases by name.
fn run_family(family: &str, check: impl Fn(&Value) -> Res) {
    let cases = fixture(family);
    let mut failures = Vec::new();
    for case in &cases {
        let name = case["name"].as_str().expect("case name");
        let outcome = catch_unwind(AssertUnwindSafe(|| check(case)));
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failures.push(format!("  {family}/{name}: {e}")),
            Err(p) => {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "panic".into());
                failures.push(format!("  {family}/{name}: panicked: {msg}"));
            }
        }
    }
    println!(
        "{family}: {} of {} cases agree with Keras",
        cases.len() - failures.len(),
        cases.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} {family} cases disagree with Keras:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

fn err<T>(msg: impl Into<String>) -> Res<T> {
    Err(msg.into().into())
}

fn tensor(v: &Value) -> Res<Tensor> {
    let shape: Vec<usize> = v["shape"]
        .as_array()
        .ok_or("tensor without shape")?
        .iter()
        .map(|d| d.as_u64().map(|d| d as usize).ok_or("bad dim"))
        .collect::<Result<_, _>>()?;
    let data = v["data"].as_array().ok_or("tensor without data")?;
    Ok(match v["dtype"].as_str() {
        Some("float32") => {
            let d: Vec<f32> = data
                .iter()
                .map(|x| x.as_f64().map(|x| x as f32).ok_or("bad float"))
                .collect::<Result<_, _>>()?;
            Tensor::from_vec(d, shape)?
        }
        Some("int32") => {
            let d: Vec<i32> = data
                .iter()
                .map(|x| x.as_i64().map(|x| x as i32).ok_or("bad int"))
                .collect::<Result<_, _>>()?;
            Tensor::from_vec(d, shape)?
        }
        other => return err(format!("unsupported dtype {other:?}")),
    })
}

fn opt_tensor(v: &Value) -> Res<Option<Tensor>> {
    if v.is_null() {
        Ok(None)
    } else {
        tensor(v).map(Some)
    }
}

fn f64_of(v: &Value, key: &str) -> Res<f64> {
    v[key]
        .as_f64()
        .ok_or_else(|| format!("missing number `{key}`").into())
}

fn f64_or(v: &Value, key: &str, default: f64) -> f64 {
    v[key].as_f64().unwrap_or(default)
}

fn bool_or(v: &Value, key: &str, default: bool) -> bool {
    v[key].as_bool().unwrap_or(default)
}

fn ints(v: &Value) -> Res<Vec<i64>> {
    match v {
        Value::Number(n) => Ok(vec![n.as_i64().ok_or("bad int")?]),
        Value::Array(a) => a
            .iter()
            .map(|x| x.as_i64().ok_or_else(|| "bad int".into()))
            .collect(),
        _ => err(format!("expected an int or a list of ints, got {v}")),
    }
}

/// `|got - want| <= atol + rtol * |want|` element-wise, with equal shapes.
fn close_with(what: &str, got: &Tensor, want: &Tensor, rtol: f64, atol: f64) -> Res {
    if got.shape() != want.shape() {
        return err(format!(
            "{what}: shape {:?}, Keras {:?}",
            got.shape(),
            want.shape()
        ));
    }
    let (g, w) = (got.to_f64_vec()?, want.to_f64_vec()?);
    let mut worst: Option<(usize, f64)> = None;
    for (i, (a, b)) in g.iter().zip(&w).enumerate() {
        let ok = (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= atol + rtol * b.abs();
        if !ok {
            let excess = (a - b).abs() - (atol + rtol * b.abs());
            if worst.is_none_or(|(_, e)| excess > e || e.is_nan()) {
                worst = Some((i, excess));
            }
        }
    }
    match worst {
        None => Ok(()),
        Some((i, _)) => err(format!(
            "{what}: element {i} is {} (Keras {}, diff {:.3e}); ceras {:?} vs Keras {:?}",
            g[i],
            w[i],
            (g[i] - w[i]).abs(),
            short(&g),
            short(&w)
        )),
    }
}

fn close(what: &str, got: &Tensor, want: &Tensor) -> Res {
    close_with(what, got, want, RTOL, ATOL)
}

fn close_scalar(what: &str, got: f64, want: f64, rtol: f64, atol: f64) -> Res {
    if (got - want).abs() <= atol + rtol * want.abs() {
        Ok(())
    } else {
        err(format!(
            "{what}: {got} (Keras {want}, diff {:.3e})",
            (got - want).abs()
        ))
    }
}

fn short(v: &[f64]) -> Vec<f64> {
    v.iter().take(8).copied().collect()
}

// ------------------------------------------------------------------ losses

fn loss_of(case: &Value) -> Res<Loss> {
    let a = &case["args"];
    let loss = match case["loss"].as_str().unwrap_or_default() {
        "MeanSquaredError" => Loss::MeanSquaredError,
        "MeanAbsoluteError" => Loss::MeanAbsoluteError,
        "BinaryCrossentropy" => Loss::BinaryCrossentropy {
            from_logits: bool_or(a, "from_logits", false),
            label_smoothing: f64_or(a, "label_smoothing", 0.0),
        },
        "CategoricalCrossentropy" => Loss::CategoricalCrossentropy {
            from_logits: bool_or(a, "from_logits", false),
            label_smoothing: f64_or(a, "label_smoothing", 0.0),
        },
        "SparseCategoricalCrossentropy" => Loss::SparseCategoricalCrossentropy {
            from_logits: bool_or(a, "from_logits", false),
        },
        "Huber" => Loss::Huber(f64_or(a, "delta", 1.0)),
        other => return err(format!("unknown loss {other}")),
    };
    let reduction = match case["reduction"].as_str().unwrap_or_default() {
        "sum_over_batch_size" => Reduction::SumOverBatchSize,
        "sum" => Reduction::Sum,
        "none" => Reduction::None,
        "mean" => Reduction::Mean,
        "mean_with_sample_weight" => Reduction::MeanWithSampleWeight,
        other => return err(format!("unknown reduction {other}")),
    };
    Ok(loss.with_reduction(reduction))
}

#[test]
fn losses_match_keras() {
    run_family("losses", |case| {
        let loss = loss_of(case)?;
        let yt = tensor(&case["y_true"])?;
        let yp = tensor(&case["y_pred"])?;
        let sw = opt_tensor(&case["sample_weight"])?;
        let got = loss.compute(&yt, &yp, sw.as_ref())?;
        close("loss", &got, &tensor(&case["expected"])?)
    });
}

// ------------------------------------------------------------------ metrics

fn metric_of(case: &Value) -> Res<Metric> {
    let a = &case["args"];
    let kind = match case["metric"].as_str().unwrap_or_default() {
        "Mean" => Kind::Mean,
        "Accuracy" => Kind::Accuracy,
        "BinaryAccuracy" => Kind::BinaryAccuracy(f64_or(a, "threshold", 0.5)),
        "CategoricalAccuracy" => Kind::CategoricalAccuracy,
        "SparseCategoricalAccuracy" => Kind::SparseCategoricalAccuracy,
        "TopKCategoricalAccuracy" => Kind::TopKCategoricalAccuracy(f64_or(a, "k", 5.0) as usize),
        "SparseTopKCategoricalAccuracy" => {
            Kind::SparseTopKCategoricalAccuracy(f64_or(a, "k", 5.0) as usize)
        }
        "MeanSquaredError" => Kind::MeanSquaredError,
        "MeanAbsoluteError" => Kind::MeanAbsoluteError,
        "BinaryCrossentropy" => Kind::LossMetric("binary_crossentropy".into()),
        "CategoricalCrossentropy" => Kind::LossMetric("categorical_crossentropy".into()),
        "SparseCategoricalCrossentropy" => {
            Kind::LossMetric("sparse_categorical_crossentropy".into())
        }
        "Precision" => Kind::Precision(f64_or(a, "thresholds", 0.5)),
        "Recall" => Kind::Recall(f64_or(a, "thresholds", 0.5)),
        other => return err(format!("unknown metric {other}")),
    };
    Ok(Metric::new(
        kind,
        case["name"].as_str().unwrap_or("metric"),
    )?)
}

#[test]
fn metrics_match_keras() {
    run_family("metrics", |case| {
        let mut m = metric_of(case)?;
        for b in case["batches"].as_array().ok_or("no batches")? {
            let yp = tensor(&b["y_pred"])?;
            // `Mean` takes only values (`y_pred`); its `y_true` is ignored.
            let yt = opt_tensor(&b["y_true"])?.unwrap_or_else(|| yp.clone());
            let sw = opt_tensor(&b["sample_weight"])?;
            m.update_state(&yt, &yp, sw.as_ref())?;
        }
        close_scalar("result", m.result()?, f64_of(case, "expected")?, RTOL, ATOL)
    });
}

// ------------------------------------------------------------------ schedules

fn schedule_of(kind: &str, a: &Value) -> Res<Arc<dyn LearningRateSchedule>> {
    let floats = |key: &str| -> Res<Vec<f64>> {
        a[key]
            .as_array()
            .ok_or(format!("missing list `{key}`"))?
            .iter()
            .map(|x| x.as_f64().ok_or_else(|| "bad number".into()))
            .collect()
    };
    Ok(match kind {
        "ExponentialDecay" => Arc::new(ExponentialDecay {
            initial_learning_rate: f64_of(a, "initial_learning_rate")?,
            decay_steps: f64_of(a, "decay_steps")?,
            decay_rate: f64_of(a, "decay_rate")?,
            staircase: bool_or(a, "staircase", false),
        }),
        "CosineDecay" => Arc::new(CosineDecay {
            initial_learning_rate: f64_of(a, "initial_learning_rate")?,
            decay_steps: f64_of(a, "decay_steps")?,
            alpha: f64_or(a, "alpha", 0.0),
            warmup_target: a["warmup_target"].as_f64(),
            warmup_steps: f64_or(a, "warmup_steps", 0.0),
        }),
        "PiecewiseConstantDecay" => Arc::new(PiecewiseConstantDecay {
            boundaries: floats("boundaries")?,
            values: floats("values")?,
        }),
        "InverseTimeDecay" => Arc::new(InverseTimeDecay {
            initial_learning_rate: f64_of(a, "initial_learning_rate")?,
            decay_steps: f64_of(a, "decay_steps")?,
            decay_rate: f64_of(a, "decay_rate")?,
            staircase: bool_or(a, "staircase", false),
        }),
        "PolynomialDecay" => Arc::new(PolynomialDecay {
            initial_learning_rate: f64_of(a, "initial_learning_rate")?,
            decay_steps: f64_of(a, "decay_steps")?,
            end_learning_rate: f64_or(a, "end_learning_rate", 0.0001),
            power: f64_or(a, "power", 1.0),
            cycle: bool_or(a, "cycle", false),
        }),
        "CosineDecayRestarts" => Arc::new(CosineDecayRestarts {
            initial_learning_rate: f64_of(a, "initial_learning_rate")?,
            first_decay_steps: f64_of(a, "first_decay_steps")?,
            t_mul: f64_or(a, "t_mul", 2.0),
            m_mul: f64_or(a, "m_mul", 1.0),
            alpha: f64_or(a, "alpha", 0.0),
        }),
        other => return err(format!("unknown schedule {other}")),
    })
}

#[test]
fn learning_rate_schedules_match_keras() {
    run_family("schedules", |case| {
        let s = schedule_of(case["kind"].as_str().unwrap_or_default(), &case["args"])?;
        let steps = case["steps"].as_array().ok_or("no steps")?;
        let want = case["expected"].as_array().ok_or("no expected")?;
        for (st, w) in steps.iter().zip(want) {
            let st = st.as_f64().ok_or("bad step")?;
            // Keras evaluates schedules in float32, ceras in float64: the float32
            // rounding (~6e-8 relative) is well within the relative tolerance; the
            // absolute floor is scaled down because rates are small numbers.
            close_scalar(
                &format!("rate at step {st}"),
                s.rate(st),
                w.as_f64().ok_or("bad value")?,
                RTOL,
                ATOL * 1e-3,
            )?;
        }
        Ok(())
    });
}

// ------------------------------------------------------------------ optimizers

fn optimizer_of(case: &Value) -> Res<Optimizer> {
    let a = &case["args"];
    let class = case["optimizer"].as_str().unwrap_or_default();
    let lr: LearningRate = if case["schedule"].is_null() {
        let default = if class == "SGD" { 0.01 } else { 0.001 };
        LearningRate::Constant(f64_or(a, "learning_rate", default))
    } else {
        let s = &case["schedule"];
        LearningRate::Schedule(schedule_of(
            s["kind"].as_str().unwrap_or_default(),
            &s["args"],
        )?)
    };
    let mut o = match class {
        "SGD" => Sgd::new(lr),
        "Adam" => Adam::new(lr),
        "AdamW" => AdamW::new(lr),
        "RMSprop" => RmsProp::new(lr),
        other => return err(format!("unknown optimizer {other}")),
    };
    for (k, v) in a.as_object().ok_or("args must be an object")? {
        let num = || v.as_f64().ok_or(format!("`{k}` must be a number"));
        o = match k.as_str() {
            "learning_rate" => o,
            "momentum" => o.momentum(num()?),
            "nesterov" => o.nesterov(v.as_bool().unwrap_or(false)),
            "beta_1" => o.beta_1(num()?),
            "beta_2" => o.beta_2(num()?),
            "epsilon" => o.epsilon(num()?),
            "amsgrad" => o.amsgrad(v.as_bool().unwrap_or(false)),
            "rho" => o.rho(num()?),
            "centered" => o.centered(v.as_bool().unwrap_or(false)),
            "clipnorm" => o.clipnorm(num()?),
            "clipvalue" => o.clipvalue(num()?),
            "global_clipnorm" => o.global_clipnorm(num()?),
            "weight_decay" => o.weight_decay(num()?),
            other => return err(format!("unsupported optimizer argument `{other}`")),
        };
    }
    Ok(o)
}

#[test]
fn optimizers_match_keras() {
    run_family("optimizers", |case| {
        let mut opt = optimizer_of(case)?;
        let vars: Vec<Variable> = case["vars"]
            .as_array()
            .ok_or("no vars")?
            .iter()
            .enumerate()
            .map(|(i, v)| Ok(Variable::new(tensor(v)?, &format!("v{i}"), true)?))
            .collect::<Res<_>>()?;
        for step in case["grads"].as_array().ok_or("no grads")? {
            let grads: Vec<Tensor> = step
                .as_array()
                .ok_or("bad step")?
                .iter()
                .map(tensor)
                .collect::<Res<_>>()?;
            opt.apply(&grads, &vars)?;
        }
        for (i, (v, w)) in vars
            .iter()
            .zip(case["expected"].as_array().ok_or("no expected")?)
            .enumerate()
        {
            close(&format!("variable {i}"), &v.value(), &tensor(w)?)?;
        }
        let it = case["iterations"].as_i64().ok_or("no iterations")?;
        if opt.iterations()? != it {
            return err(format!("iterations {} (Keras {it})", opt.iterations()?));
        }
        Ok(())
    });
}

// ------------------------------------------------------------------ activations

#[test]
fn activations_match_keras() {
    run_family("activations", |case| {
        let x = tensor(&case["x"])?;
        let a = &case["args"];
        let name = case["activation"].as_str().unwrap_or_default();
        let no_args = a.as_object().is_none_or(|m| m.is_empty());
        let axis = || a["axis"].as_i64().unwrap_or(-1);
        let got = if no_args {
            // By name, as `Dense(activation=name)` resolves it.
            Act::from(name).apply(&x)?
        } else {
            match name {
                "threshold" => {
                    ops::threshold(&x, f64_of(a, "threshold")?, f64_of(a, "default_value")?)?
                }
                "relu" => {
                    let mut l = layers::ReLU::new()
                        .negative_slope(f64_or(a, "negative_slope", 0.0))
                        .threshold(f64_or(a, "threshold", 0.0));
                    if let Some(m) = a["max_value"].as_f64() {
                        l = l.max_value(m);
                    }
                    l.forward(&x, false)?
                }
                "elu" => ops::elu(&x, f64_of(a, "alpha")?)?,
                "celu" => ops::celu(&x, f64_of(a, "alpha")?)?,
                "gelu" => ops::gelu(&x, bool_or(a, "approximate", false))?,
                "glu" => ops::glu(&x, axis())?,
                "leaky_relu" => ops::leaky_relu(&x, f64_of(a, "negative_slope")?)?,
                "hard_shrink" => ops::hard_shrink(&x, f64_of(a, "threshold")?)?,
                "soft_shrink" => ops::soft_shrink(&x, f64_of(a, "threshold")?)?,
                "softmax" => ops::softmax(&x, axis())?,
                "log_softmax" => ops::log_softmax(&x, axis())?,
                "sparsemax" => ops::sparsemax(&x, axis())?,
                "squareplus" => ops::squareplus(&x, f64_of(a, "b")?)?,
                other => return err(format!("no parametrized form of {other}")),
            }
        };
        close("output", &got, &tensor(&case["expected"])?)
    });
}

// ------------------------------------------------------------------ layers

fn data_format(a: &Value) -> Res<Option<DataFormat>> {
    Ok(match a["data_format"].as_str() {
        Some(s) => Some(DataFormat::parse(s)?),
        None => None,
    })
}

fn layer_of(class: &str, a: &Value) -> Res<Box<dyn Layer>> {
    let int = |k: &str| -> Res<usize> {
        a[k].as_u64()
            .map(|v| v as usize)
            .ok_or_else(|| format!("missing int `{k}`").into())
    };
    let spatial = |k: &str| -> Res<Option<Spatial>> {
        Ok(if a[k].is_null() {
            None
        } else {
            Some(Spatial(ints(&a[k])?))
        })
    };
    let fmt = data_format(a)?;
    Ok(match class {
        "Dense" => {
            let mut l = layers::Dense::new(int("units")?).use_bias(bool_or(a, "use_bias", true));
            if let Some(act) = a["activation"].as_str() {
                l = l.activation(act);
            }
            Box::new(l)
        }
        "Conv1D" | "Conv2D" | "Conv3D" => {
            let rank = (class.as_bytes()[4] - b'0') as usize;
            let mut l = layers::Conv::new(rank, int("filters")?, Spatial(ints(&a["kernel_size"])?))
                .padding(a["padding"].as_str().unwrap_or("valid"))
                .groups(a["groups"].as_u64().unwrap_or(1) as usize)
                .use_bias(bool_or(a, "use_bias", true));
            if let Some(s) = spatial("strides")? {
                l = l.strides(s);
            }
            if let Some(d) = spatial("dilation_rate")? {
                l = l.dilation_rate(d);
            }
            if let Some(act) = a["activation"].as_str() {
                l = l.activation(act);
            }
            if let Some(f) = fmt {
                l = l.data_format(f);
            }
            Box::new(l)
        }
        "MaxPooling1D" | "MaxPooling2D" | "AveragePooling1D" | "AveragePooling2D" => {
            let max = class.starts_with("Max");
            let rank = if class.ends_with("1D") { 1 } else { 2 };
            let pool = Spatial(ints(&a["pool_size"])?);
            let mut l = layers::Pooling::new(rank, max, pool, class)
                .padding(a["padding"].as_str().unwrap_or("valid"));
            if let Some(s) = spatial("strides")? {
                l = l.strides(s);
            }
            if let Some(f) = fmt {
                l = l.data_format(f);
            }
            Box::new(l)
        }
        "GlobalAveragePooling1D"
        | "GlobalAveragePooling2D"
        | "GlobalMaxPooling1D"
        | "GlobalMaxPooling2D" => {
            let mut l = match class {
                "GlobalAveragePooling1D" => layers::GlobalAveragePooling1D::new(),
                "GlobalAveragePooling2D" => layers::GlobalAveragePooling2D::new(),
                "GlobalMaxPooling1D" => layers::GlobalMaxPooling1D::new(),
                _ => layers::GlobalMaxPooling2D::new(),
            }
            .keepdims(bool_or(a, "keepdims", false));
            if let Some(f) = fmt {
                l = l.data_format(f);
            }
            Box::new(l)
        }
        "BatchNormalization" => Box::new(
            layers::BatchNormalization::new()
                .axis(a["axis"].as_i64().unwrap_or(-1))
                .momentum(f64_or(a, "momentum", 0.99))
                .epsilon(f64_or(a, "epsilon", 1e-3))
                .center(bool_or(a, "center", true))
                .scale(bool_or(a, "scale", true)),
        ),
        "LayerNormalization" => {
            let axes = if a["axis"].is_null() {
                vec![-1]
            } else {
                ints(&a["axis"])?
            };
            Box::new(
                layers::LayerNormalization::new()
                    .axis(&axes)
                    .epsilon(f64_or(a, "epsilon", 1e-3))
                    .center(bool_or(a, "center", true))
                    .scale(bool_or(a, "scale", true)),
            )
        }
        "Embedding" => Box::new(layers::Embedding::new(
            int("input_dim")?,
            int("output_dim")?,
        )),
        "Rescaling" => Box::new(layers::Rescaling::new(
            f64_of(a, "scale")?,
            f64_or(a, "offset", 0.0),
        )),
        "Softmax" => {
            let axes = if a["axis"].is_null() {
                vec![-1]
            } else {
                ints(&a["axis"])?
            };
            Box::new(layers::Softmax::new(-1).axes(&axes))
        }
        "ReLU" => {
            let mut l = layers::ReLU::new()
                .negative_slope(f64_or(a, "negative_slope", 0.0))
                .threshold(f64_or(a, "threshold", 0.0));
            if let Some(m) = a["max_value"].as_f64() {
                l = l.max_value(m);
            }
            Box::new(l)
        }
        "Flatten" => {
            let mut l = layers::Flatten::new();
            if let Some(f) = fmt {
                l = l.data_format(f);
            }
            Box::new(l)
        }
        "Reshape" => Box::new(layers::Reshape::new(&ints(&a["target_shape"])?)),
        "Permute" => {
            let dims: Vec<usize> = ints(&a["dims"])?.iter().map(|&d| d as usize).collect();
            Box::new(layers::Permute::new(&dims))
        }
        "RepeatVector" => Box::new(layers::RepeatVector::new(int("n")?)),
        "Activation" => Box::new(layers::Activation::new(
            a["activation"].as_str().ok_or("no activation")?,
        )),
        "Dropout" => {
            let mut l = layers::Dropout::new(f64_of(a, "rate")?);
            if let Some(s) = a["seed"].as_u64() {
                l = l.seed(s);
            }
            if let Some(ns) = a["noise_shape"].as_array() {
                l = l.noise_shape(ns.iter().map(|d| d.as_u64().map(|d| d as usize)).collect());
            }
            Box::new(l)
        }
        other => return err(format!("unknown layer {other}")),
    })
}

#[test]
fn layers_match_keras() {
    run_family("layers", |case| {
        let class = case["layer"].as_str().unwrap_or_default();
        let mut layer = layer_of(class, &case["args"])?;
        let x = tensor(&case["x"])?;
        let shape: Vec<Option<usize>> = x.shape().iter().map(|&d| Some(d)).collect();
        layer.maybe_build(&shape)?;
        // Keras's `set_weights` order is the weight creation order, as in ceras.
        let weights = layer.weights();
        let given = case["weights"].as_array().ok_or("no weights")?;
        if weights.len() != given.len() {
            return err(format!(
                "{} weights, Keras has {}",
                weights.len(),
                given.len()
            ));
        }
        for (v, w) in weights.iter().zip(given) {
            v.assign(tensor(w)?)?;
        }
        if !bool_or(case, "trainable", true) {
            layer.set_trainable(false);
        }
        let training = bool_or(case, "training", false);
        let y = layer.forward(&x, training)?;
        close("output", &y, &tensor(&case["expected"])?)?;
        if let Some(exp) = case["expected_weights"].as_array() {
            for (v, w) in weights.iter().zip(exp) {
                close(&format!("weight {}", v.path()), &v.value(), &tensor(w)?)?;
            }
        }
        Ok(())
    });
}

// ------------------------------------------------------------------ regularizers, constraints

#[test]
fn regularizers_and_constraints_match_keras() {
    run_family("regularizers", |case| {
        let a = &case["args"];
        let w = tensor(&case["w"])?;
        let axis = || a["axis"].as_i64().unwrap_or(0);
        let got = match case["kind"].as_str().unwrap_or_default() {
            "L1" => Regularizer::L1(f64_of(a, "l1")?).penalty(&w)?,
            "L2" => Regularizer::L2(f64_of(a, "l2")?).penalty(&w)?,
            "L1L2" => Regularizer::L1L2(f64_of(a, "l1")?, f64_of(a, "l2")?).penalty(&w)?,
            "MaxNorm" => Constraint::MaxNorm {
                max_value: f64_of(a, "max_value")?,
                axis: axis(),
            }
            .apply(&w)?,
            "NonNeg" => Constraint::NonNeg.apply(&w)?,
            "UnitNorm" => Constraint::UnitNorm(axis()).apply(&w)?,
            "MinMaxNorm" => Constraint::MinMaxNorm {
                min_value: f64_of(a, "min_value")?,
                max_value: f64_of(a, "max_value")?,
                rate: f64_of(a, "rate")?,
                axis: axis(),
            }
            .apply(&w)?,
            other => return err(format!("unknown regularizer/constraint {other}")),
        };
        close("value", &got, &tensor(&case["expected"])?)
    });
}

// ------------------------------------------------------------------ initializers

/// The Keras initializer of a case, by class name through ceras's name lookup,
/// with the case's arguments and seed.
fn initializer_of(case: &Value) -> Res<Initializer> {
    let a = &case["args"];
    let class = case["initializer"].as_str().unwrap_or_default();
    let seed = a["seed"].as_u64();
    let init = match Initializer::from(class) {
        Initializer::Constant(_) => Initializer::Constant(f64_or(a, "value", 0.0)),
        Initializer::Identity(_) => Initializer::Identity(f64_or(a, "gain", 1.0)),
        Initializer::RandomNormal { .. } => Initializer::RandomNormal {
            mean: f64_or(a, "mean", 0.0),
            stddev: f64_or(a, "stddev", 0.05),
            seed,
        },
        Initializer::RandomUniform { .. } => Initializer::RandomUniform {
            minval: f64_or(a, "minval", -0.05),
            maxval: f64_or(a, "maxval", 0.05),
            seed,
        },
        Initializer::TruncatedNormal { .. } => Initializer::TruncatedNormal {
            mean: f64_or(a, "mean", 0.0),
            stddev: f64_or(a, "stddev", 0.05),
            seed,
        },
        Initializer::VarianceScaling {
            scale,
            mode,
            distribution,
            ..
        } => {
            use ceras::initializers::{Distribution, FanMode};
            let mode = match a["mode"].as_str() {
                None => mode,
                Some("fan_in") => FanMode::FanIn,
                Some("fan_out") => FanMode::FanOut,
                Some("fan_avg") => FanMode::FanAvg,
                Some(m) => return err(format!("unknown mode {m}")),
            };
            let distribution = match a["distribution"].as_str() {
                None => distribution,
                Some("truncated_normal") => Distribution::TruncatedNormal,
                Some("untruncated_normal") => Distribution::UntruncatedNormal,
                Some("uniform") => Distribution::Uniform,
                Some(d) => return err(format!("unknown distribution {d}")),
            };
            Initializer::VarianceScaling {
                scale: f64_or(a, "scale", scale),
                mode,
                distribution,
                seed,
            }
        }
        Initializer::Unknown(n) => return err(format!("ceras has no initializer {n}")),
        other => other,
    };
    Ok(init)
}

fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n;
    (m, var.sqrt())
}

#[test]
fn initializers_match_keras() {
    run_family("initializers", |case| {
        let shape: Vec<usize> = case["shape"]
            .as_array()
            .ok_or("no shape")?
            .iter()
            .map(|d| d.as_u64().unwrap_or(0) as usize)
            .collect();
        match case["check"].as_str().unwrap_or_default() {
            "fans" => {
                let (fi, fo) = compute_fans(&shape);
                let want = (f64_of(case, "fan_in")?, f64_of(case, "fan_out")?);
                if (fi, fo) != want {
                    return err(format!("fans ({fi}, {fo}), Keras {want:?}"));
                }
                Ok(())
            }
            "exact" => {
                // Deterministic initializers: bit for bit.
                let got = initializer_of(case)?.init(&shape, Some(DType::F32))?;
                close_with("values", &got, &tensor(&case["expected"])?, 0.0, 0.0)
            }
            "seeded" => {
                // Seeded random initializers: Keras on JAX draws from the Threefry
                // key [seed, 0]; ceras reproduces the random bits exactly (see
                // tests/random.rs), but not always the last float bits: XLA:CPU
                // fuses `u * (max - min) + min` (uniform) and the erfinv polynomial
                // (normals) into FMAs, which round once where ceras rounds twice.
                // So: every value within 8 float32 ulps of the sample's scale.
                let got = initializer_of(case)?.init(&shape, Some(DType::F32))?;
                let want = tensor(&case["expected"])?;
                let scale = want
                    .to_f64_vec()?
                    .iter()
                    .fold(0.0f64, |m, v| m.max(v.abs()));
                let ulp = f64::from(f32::EPSILON);
                close_with("values", &got, &want, 8.0 * ulp, 8.0 * ulp * scale)
            }
            "stats" => {
                // Unseeded draws: ceras's sample (its own global generator) and
                // Keras's must have the same moments within sampling error (5
                // standard errors of the difference of two independent samples) and
                // respect the same bounds.
                let got = initializer_of(case)?.init(&shape, Some(DType::F32))?;
                let v = got.to_f64_vec()?;
                let n = v.len() as f64;
                let (m, s) = mean_std(&v);
                let st = &case["stats"];
                let (km, ks) = (f64_of(st, "mean")?, f64_of(st, "std")?);
                close_scalar("mean", m, km, 0.0, 5.0 * ks * (2.0 / n).sqrt())?;
                close_scalar("std", s, ks, 0.0, 5.0 * ks / n.sqrt())?;
                let (lo, hi) = (f64_of(st, "min")?, f64_of(st, "max")?);
                let (gmin, gmax) = v
                    .iter()
                    .fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
                if let Some(b) = case["bounds"].as_array() {
                    let (blo, bhi) = (
                        b[0].as_f64().ok_or("bad bound")?,
                        b[1].as_f64().ok_or("bad bound")?,
                    );
                    // float32 rounding of a sample right at a bound.
                    let slack = 1e-6 * (bhi - blo);
                    if gmin < blo - slack || gmax > bhi + slack {
                        return err(format!(
                            "samples in [{gmin}, {gmax}], outside Keras's bounds [{blo}, {bhi}]"
                        ));
                    }
                    // Both samples reach close to the bounds.
                    let near = 0.02 * (bhi - blo);
                    close_scalar("min", gmin, lo, 0.0, near)?;
                    close_scalar("max", gmax, hi, 0.0, near)?;
                }
                Ok(())
            }
            other => err(format!("unknown check {other}")),
        }
    });
}
