//! `compile_config` of `.keras` files: the optimizer, losses, loss weights and
//! metrics given to `compile`, written and read as Keras 3 does, so a loaded
//! model resumes training where it stopped.

use super::serialize::{class_and_config, envelope};
use crate::error::{arg_err, unsupported};
use crate::losses::{Loss, LossFn, Reduction};
use crate::metrics::MetricSpec;
use crate::models::{Compile, Model};
use crate::optimizers::Optimizer;
use crate::Result;
use serde_json::{json, Value};

/// A loss as Keras writes it in `compile_config`: its name when it has default
/// options (`"mse"`-style strings), else its class envelope.
pub fn loss_config(l: &Loss) -> Result<Value> {
    let reduction = |r: Reduction| match r {
        Reduction::SumOverBatchSize => "sum_over_batch_size",
        Reduction::Mean => "mean",
        Reduction::Sum => "sum",
        Reduction::MeanWithSampleWeight => "mean_with_sample_weight",
        Reduction::None => "none",
    };
    let (inner, red) = match l {
        Loss::WithReduction(inner, r) => (&**inner, *r),
        other => (other, Reduction::SumOverBatchSize),
    };
    let plain = red == Reduction::SumOverBatchSize;
    let env = |class: &str, extra: Value| {
        let mut c = json!({"name": inner.name(), "reduction": reduction(red)});
        if let (Some(m), Value::Object(e)) = (c.as_object_mut(), extra) {
            m.extend(e);
        }
        envelope("keras.losses", class, c)
    };
    Ok(match inner {
        Loss::MeanSquaredError if plain => json!("mean_squared_error"),
        Loss::MeanAbsoluteError if plain => json!("mean_absolute_error"),
        Loss::MeanSquaredError => env("MeanSquaredError", json!({})),
        Loss::MeanAbsoluteError => env("MeanAbsoluteError", json!({})),
        Loss::BinaryCrossentropy {
            from_logits: false,
            label_smoothing,
        } if plain && *label_smoothing == 0.0 => json!("binary_crossentropy"),
        Loss::BinaryCrossentropy {
            from_logits,
            label_smoothing,
        } => env(
            "BinaryCrossentropy",
            json!({"from_logits": from_logits, "label_smoothing": label_smoothing, "axis": -1}),
        ),
        Loss::CategoricalCrossentropy {
            from_logits: false,
            label_smoothing,
        } if plain && *label_smoothing == 0.0 => json!("categorical_crossentropy"),
        Loss::CategoricalCrossentropy {
            from_logits,
            label_smoothing,
        } => env(
            "CategoricalCrossentropy",
            json!({"from_logits": from_logits, "label_smoothing": label_smoothing, "axis": -1}),
        ),
        Loss::SparseCategoricalCrossentropy { from_logits: false } if plain => {
            json!("sparse_categorical_crossentropy")
        }
        Loss::SparseCategoricalCrossentropy { from_logits } => env(
            "SparseCategoricalCrossentropy",
            json!({"from_logits": from_logits, "ignore_class": null}),
        ),
        Loss::Huber(d) if plain && *d == 1.0 => json!("huber"),
        Loss::Huber(d) => env("Huber", json!({ "delta": d })),
        Loss::Custom(c) => {
            return Err(unsupported(
                "save",
                format!("the custom loss '{}' cannot be written to a config; save weights instead, or compile with a built-in loss", c.name()),
            ))
        }
        Loss::Unknown(n) => json!(n),
        // `Loss::with_reduction` never nests reductions.
        Loss::WithReduction(..) => return Err(arg_err("save", "a loss with two reductions")),
    })
}

/// A loss from a name or a Keras envelope.
pub fn loss_from_config(v: &Value) -> Result<Loss> {
    const WHO: &str = "losses.deserialize";
    let (class, cfg) = class_and_config(WHO, v)?;
    let Some(cfg) = cfg else {
        let l = Loss::from(class.as_str());
        l.check()?;
        return Ok(l);
    };
    let b = |k: &str| cfg.get(k).and_then(Value::as_bool).unwrap_or(false);
    let f = |k: &str, d: f64| cfg.get(k).and_then(Value::as_f64).unwrap_or(d);
    let loss = match class.as_str() {
        "MeanSquaredError" => Loss::MeanSquaredError,
        "MeanAbsoluteError" => Loss::MeanAbsoluteError,
        "BinaryCrossentropy" => Loss::BinaryCrossentropy {
            from_logits: b("from_logits"),
            label_smoothing: f("label_smoothing", 0.0),
        },
        "CategoricalCrossentropy" => Loss::CategoricalCrossentropy {
            from_logits: b("from_logits"),
            label_smoothing: f("label_smoothing", 0.0),
        },
        "SparseCategoricalCrossentropy" => {
            if cfg.get("ignore_class").is_some_and(|x| !x.is_null()) {
                return Err(unsupported(
                    WHO,
                    "SparseCategoricalCrossentropy with ignore_class",
                ));
            }
            Loss::SparseCategoricalCrossentropy {
                from_logits: b("from_logits"),
            }
        }
        "Huber" => Loss::Huber(f("delta", 1.0)),
        _ => {
            let l = Loss::from(class.as_str());
            l.check()?;
            l
        }
    };
    let red = match cfg.get("reduction").and_then(Value::as_str) {
        None | Some("sum_over_batch_size") => return Ok(loss),
        Some("mean") => Reduction::Mean,
        Some("sum") => Reduction::Sum,
        Some("mean_with_sample_weight") => Reduction::MeanWithSampleWeight,
        Some("none") => Reduction::None,
        Some(r) => return Err(arg_err(WHO, format!("unknown loss reduction '{r}'"))),
    };
    Ok(loss.with_reduction(red))
}

fn metric_list(v: &Value) -> Result<Vec<MetricSpec>> {
    match v {
        Value::Array(a) => a.iter().map(MetricSpec::from_config).collect(),
        Value::Null => Ok(Vec::new()),
        other => Ok(vec![MetricSpec::from_config(other)?]),
    }
}

/// The `compile_config` of a compiled model (`None` when not compiled).
pub fn compile_config<M: Model + ?Sized>(model: &M) -> Result<Option<Value>> {
    let Some((opt, loss, loss_weights, metrics, weighted)) = model.core().compile_parts()? else {
        return Ok(None);
    };
    Ok(Some(json!({
        "optimizer": opt.get_config()?,
        "loss": loss,
        "loss_weights": loss_weights,
        "metrics": metrics,
        "weighted_metrics": weighted,
        "run_eagerly": false,
        "steps_per_execution": 1,
        "jit_compile": true,
    })))
}

/// Compiles `model` from a `compile_config`.
pub fn compile_from_config<M: Model + ?Sized>(model: &mut M, cc: &Value) -> Result<()> {
    const WHO: &str = "compile_from_config";
    let opt = match cc.get("optimizer") {
        None | Some(Value::Null) => Optimizer::get("rmsprop")?,
        Some(o) => Optimizer::from_config(o)?,
    };
    let mut c = Compile::new(opt);
    match cc.get("loss") {
        None | Some(Value::Null) => {}
        Some(Value::Array(a)) => {
            c = c.losses(a.iter().map(loss_from_config).collect::<Result<Vec<_>>>()?)
        }
        Some(Value::Object(m)) if m.get("class_name").is_none() => {
            for (k, l) in m {
                if !l.is_null() {
                    c = c.loss_for(k, loss_from_config(l)?);
                }
            }
        }
        Some(l) => c = c.loss(loss_from_config(l)?),
    }
    match cc.get("loss_weights") {
        None | Some(Value::Null) => {}
        Some(Value::Array(a)) => {
            let w: Option<Vec<f64>> = a.iter().map(Value::as_f64).collect();
            c = c.loss_weights(w.ok_or_else(|| arg_err(WHO, "loss_weights must be numbers"))?);
        }
        Some(Value::Object(m)) => {
            for (k, w) in m {
                let w = w.as_f64().ok_or_else(|| {
                    arg_err(WHO, format!("loss weight of '{k}' must be a number"))
                })?;
                c = c.loss_weight_for(k, w);
            }
        }
        Some(Value::Number(n)) => c = c.loss_weights([n.as_f64().unwrap_or(1.0)]),
        Some(x) => return Err(arg_err(WHO, format!("unreadable loss_weights {x}"))),
    }
    for (key, weighted) in [("metrics", false), ("weighted_metrics", true)] {
        match cc.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::Object(m)) if m.get("class_name").is_none() => {
                for (k, v) in m {
                    let names = metric_list(v)?;
                    c = if weighted {
                        c.weighted_metrics_for(k, names)
                    } else {
                        c.metrics_for(k, names)
                    };
                }
            }
            Some(Value::Array(a)) if a.iter().any(Value::is_array) => {
                if weighted {
                    return Err(unsupported(WHO, "per-output lists of weighted_metrics"));
                }
                let per: Vec<Vec<MetricSpec>> = a.iter().map(metric_list).collect::<Result<_>>()?;
                c = c.metrics_per_output(per);
            }
            Some(v) => {
                let names = metric_list(v)?;
                c = if weighted {
                    c.weighted_metrics(names)
                } else {
                    c.metrics(names)
                };
            }
        }
    }
    model.compile_with(c)
}

/// Local time as Keras writes `date_saved` (`%Y-%m-%d@%H:%M:%S`, here in UTC).
pub fn now_string() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}@{:02}:{:02}:{:02}",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}
