//! Keras's serialized-object envelopes (`keras.saving.serialize_keras_object`):
//! `{"module", "class_name", "config", "registered_name"}` for initializers,
//! regularizers, constraints, activations and dtype policies, in both directions.
//!
//! Reading is lenient as Keras's is: a plain string (`"glorot_uniform"`,
//! `"GlorotUniform"`), an envelope, or a Keras 2 `{"class_name", "config"}` pair
//! are all accepted; missing config keys take Keras's defaults.
//!
//! ```
//! use ceras::initializers::Initializer;
//! use ceras::saving::serialize;
//! let v = serialize::initializer(&Initializer::from("he_normal"));
//! assert_eq!(v["class_name"], "HeNormal");
//! let back = serialize::initializer_from(&v).unwrap();
//! assert_eq!(back.class_name(), "HeNormal");
//! ```

use crate::activations::Activation;
use crate::error::{arg_err, unsupported};
use crate::initializers::{Distribution, FanMode, Initializer};
use crate::regularizers::{Constraint, Regularizer};
use crate::{DType, Result};
use serde_json::{json, Map, Value};

/// `{"module": module, "class_name": class, "config": config, "registered_name": null}`.
pub fn envelope(module: &str, class: &str, config: Value) -> Value {
    json!({"module": module, "class_name": class, "config": config, "registered_name": null})
}

/// The `(class_name, config)` of a serialized object: a string names the class
/// with an empty config; an object must have `class_name`.
pub fn class_and_config<'a>(who: &str, v: &'a Value) -> Result<(String, Option<&'a Value>)> {
    match v {
        Value::String(s) => Ok((s.clone(), None)),
        Value::Object(m) => match m.get("class_name") {
            Some(Value::String(c)) => Ok((c.clone(), m.get("config"))),
            _ => Err(arg_err(
                who,
                format!("expected a serialized Keras object with a string \"class_name\", got {v}"),
            )),
        },
        _ => Err(arg_err(
            who,
            format!("expected a name or a serialized Keras object, got {v}"),
        )),
    }
}

fn num(who: &str, cfg: Option<&Value>, key: &str, default: f64) -> Result<f64> {
    match cfg.and_then(|c| c.get(key)) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_f64()
            .ok_or_else(|| arg_err(who, format!("config key '{key}' must be a number, got {v}"))),
    }
}

fn int(who: &str, cfg: Option<&Value>, key: &str, default: i64) -> Result<i64> {
    match cfg.and_then(|c| c.get(key)) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v.as_i64().ok_or_else(|| {
            arg_err(
                who,
                format!("config key '{key}' must be an integer, got {v}"),
            )
        }),
    }
}

fn seed(who: &str, cfg: Option<&Value>) -> Result<Option<u64>> {
    match cfg.and_then(|c| c.get("seed")) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| {
            arg_err(
                who,
                format!("initializer seed must be a non-negative integer or null, got {v}"),
            )
        }),
    }
}

// ------------------------------------------------------------------ initializers

/// An initializer as Keras serializes it (module `keras.initializers`).
pub fn initializer(i: &Initializer) -> Value {
    let class = i.class_name();
    let config = match i {
        Initializer::Zeros | Initializer::Ones => json!({}),
        Initializer::Constant(v) => json!({ "value": v }),
        Initializer::RandomNormal { mean, stddev, seed } => {
            json!({"seed": seed, "mean": mean, "stddev": stddev})
        }
        Initializer::RandomUniform {
            minval,
            maxval,
            seed,
        } => json!({"seed": seed, "minval": minval, "maxval": maxval}),
        Initializer::TruncatedNormal { mean, stddev, seed } => {
            json!({"seed": seed, "mean": mean, "stddev": stddev})
        }
        Initializer::VarianceScaling {
            scale,
            mode,
            distribution,
            seed,
        } => {
            // Keras 3.15 writes `input_axes` / `output_axes` (null: the default fans).
            if class == "VarianceScaling" {
                json!({
                    "seed": seed,
                    "input_axes": null,
                    "output_axes": null,
                    "scale": scale,
                    "mode": match mode {
                        FanMode::FanIn => "fan_in",
                        FanMode::FanOut => "fan_out",
                        FanMode::FanAvg => "fan_avg",
                    },
                    "distribution": match distribution {
                        Distribution::TruncatedNormal => "truncated_normal",
                        Distribution::UntruncatedNormal => "untruncated_normal",
                        Distribution::Uniform => "uniform",
                    },
                })
            } else {
                json!({"seed": seed, "input_axes": null, "output_axes": null})
            }
        }
        Initializer::Identity(g) => json!({ "gain": g }),
        Initializer::Orthogonal { gain, seed } => json!({"seed": seed, "gain": gain}),
        Initializer::Custom(..) | Initializer::Unknown(_) => json!({}),
    };
    envelope("keras.initializers", &class, config)
}

/// Reads an initializer from a name or an envelope (Keras's `initializers.get`).
pub fn initializer_from(v: &Value) -> Result<Initializer> {
    const WHO: &str = "initializers.deserialize";
    let (class, cfg) = class_and_config(WHO, v)?;
    let key: String = class
        .chars()
        .filter(|c| *c != '_')
        .collect::<String>()
        .to_lowercase();
    let s = seed(WHO, cfg)?;
    let vs = |scale: f64, mode: FanMode, distribution: Distribution| {
        Ok(Initializer::VarianceScaling {
            scale,
            mode,
            distribution,
            seed: s,
        })
    };
    use Distribution::*;
    use FanMode::*;
    match key.as_str() {
        "zeros" | "zero" => Ok(Initializer::Zeros),
        "ones" | "one" => Ok(Initializer::Ones),
        "constant" => Ok(Initializer::Constant(num(WHO, cfg, "value", 0.0)?)),
        "randomnormal" | "normal" => Ok(Initializer::RandomNormal {
            mean: num(WHO, cfg, "mean", 0.0)?,
            stddev: num(WHO, cfg, "stddev", 0.05)?,
            seed: s,
        }),
        "randomuniform" | "uniform" => Ok(Initializer::RandomUniform {
            minval: num(WHO, cfg, "minval", -0.05)?,
            maxval: num(WHO, cfg, "maxval", 0.05)?,
            seed: s,
        }),
        "truncatednormal" => Ok(Initializer::TruncatedNormal {
            mean: num(WHO, cfg, "mean", 0.0)?,
            stddev: num(WHO, cfg, "stddev", 0.05)?,
            seed: s,
        }),
        "variancescaling" => {
            let mode = match cfg.and_then(|c| c.get("mode")).and_then(Value::as_str) {
                None | Some("fan_in") => FanIn,
                Some("fan_out") => FanOut,
                Some("fan_avg") => FanAvg,
                Some(m) => {
                    return Err(arg_err(
                        WHO,
                        format!("VarianceScaling mode must be fan_in, fan_out or fan_avg, got '{m}'"),
                    ))
                }
            };
            let dist = match cfg
                .and_then(|c| c.get("distribution"))
                .and_then(Value::as_str)
            {
                None | Some("truncated_normal") => TruncatedNormal,
                Some("untruncated_normal") => UntruncatedNormal,
                Some("uniform") => Uniform,
                Some(d) => {
                    return Err(arg_err(
                        WHO,
                        format!(
                            "VarianceScaling distribution must be truncated_normal, untruncated_normal or uniform, got '{d}'"
                        ),
                    ))
                }
            };
            vs(num(WHO, cfg, "scale", 1.0)?, mode, dist)
        }
        "glorotuniform" => vs(1.0, FanAvg, Uniform),
        "glorotnormal" => vs(1.0, FanAvg, TruncatedNormal),
        "heuniform" => vs(2.0, FanIn, Uniform),
        "henormal" => vs(2.0, FanIn, TruncatedNormal),
        "lecununiform" => vs(1.0, FanIn, Uniform),
        "lecunnormal" => vs(1.0, FanIn, TruncatedNormal),
        "identity" => Ok(Initializer::Identity(num(WHO, cfg, "gain", 1.0)?)),
        "orthogonal" => Ok(Initializer::Orthogonal {
            gain: num(WHO, cfg, "gain", 1.0)?,
            seed: s,
        }),
        _ => Err(arg_err(
            WHO,
            format!("unknown initializer class '{class}'; register a custom one or use a Keras initializer"),
        )),
    }
}

// ------------------------------------------------------------------ regularizers

/// A regularizer as Keras serializes it (module `keras.regularizers`).
pub fn regularizer(r: &Regularizer) -> Value {
    match *r {
        Regularizer::L1(a) => envelope("keras.regularizers", "L1", json!({ "l1": a })),
        Regularizer::L2(b) => envelope("keras.regularizers", "L2", json!({ "l2": b })),
        Regularizer::L1L2(a, b) => {
            envelope("keras.regularizers", "L1L2", json!({"l1": a, "l2": b}))
        }
    }
}

/// Reads a regularizer from a name or an envelope.
pub fn regularizer_from(v: &Value) -> Result<Regularizer> {
    const WHO: &str = "regularizers.deserialize";
    let (class, cfg) = class_and_config(WHO, v)?;
    if cfg.is_none() {
        return Regularizer::get(&class);
    }
    match class.to_lowercase().as_str() {
        "l1" => Ok(Regularizer::L1(num(WHO, cfg, "l1", 0.01)?)),
        "l2" => Ok(Regularizer::L2(num(WHO, cfg, "l2", 0.01)?)),
        "l1l2" | "l1_l2" => Ok(Regularizer::L1L2(
            num(WHO, cfg, "l1", 0.0)?,
            num(WHO, cfg, "l2", 0.0)?,
        )),
        _ => Err(unsupported(
            WHO,
            format!("regularizer class '{class}' (ceras has L1, L2 and L1L2)"),
        )),
    }
}

/// `null` or the serialized regularizer.
pub fn opt_regularizer(r: &Option<Regularizer>) -> Value {
    r.as_ref().map_or(Value::Null, regularizer)
}

// ------------------------------------------------------------------ constraints

/// A constraint as Keras serializes it (module `keras.constraints`).
pub fn constraint(c: &Constraint) -> Value {
    let m = "keras.constraints";
    match *c {
        Constraint::MaxNorm { max_value, axis } => {
            envelope(m, "MaxNorm", json!({"max_value": max_value, "axis": axis}))
        }
        Constraint::NonNeg => envelope(m, "NonNeg", json!({})),
        Constraint::UnitNorm(axis) => envelope(m, "UnitNorm", json!({ "axis": axis })),
        Constraint::MinMaxNorm {
            min_value,
            max_value,
            rate,
            axis,
        } => envelope(
            m,
            "MinMaxNorm",
            json!({"min_value": min_value, "max_value": max_value, "rate": rate, "axis": axis}),
        ),
    }
}

/// Reads a constraint from a name or an envelope.
pub fn constraint_from(v: &Value) -> Result<Constraint> {
    const WHO: &str = "constraints.deserialize";
    let (class, cfg) = class_and_config(WHO, v)?;
    if cfg.is_none() {
        return Constraint::get(&class);
    }
    match class.to_lowercase().replace('_', "").as_str() {
        "maxnorm" => Ok(Constraint::MaxNorm {
            max_value: num(WHO, cfg, "max_value", 2.0)?,
            axis: int(WHO, cfg, "axis", 0)?,
        }),
        "nonneg" => Ok(Constraint::NonNeg),
        "unitnorm" => Ok(Constraint::UnitNorm(int(WHO, cfg, "axis", 0)?)),
        "minmaxnorm" => Ok(Constraint::MinMaxNorm {
            min_value: num(WHO, cfg, "min_value", 0.0)?,
            max_value: num(WHO, cfg, "max_value", 1.0)?,
            rate: num(WHO, cfg, "rate", 1.0)?,
            axis: int(WHO, cfg, "axis", 0)?,
        }),
        _ => Err(unsupported(
            WHO,
            format!(
                "constraint class '{class}' (ceras has MaxNorm, NonNeg, UnitNorm and MinMaxNorm)"
            ),
        )),
    }
}

/// `null` or the serialized constraint.
pub fn opt_constraint(c: &Option<Constraint>) -> Value {
    c.as_ref().map_or(Value::Null, constraint)
}

// ------------------------------------------------------------------ activations

/// An activation as Keras writes it in layer configs: its name.
pub fn activation(a: &Activation) -> Value {
    Value::String(a.name().to_string())
}

/// Reads an activation: a name, or Keras's `{"class_name": "function", "config": name}`.
/// A custom (user) activation must have been given to the layer in code: files
/// cannot carry code.
pub fn activation_from(v: &Value) -> Result<Activation> {
    const WHO: &str = "activations.deserialize";
    let name = match v {
        Value::Null => return Ok(Activation::default()),
        Value::String(s) => s.clone(),
        Value::Object(m) => match (m.get("class_name"), m.get("config")) {
            (Some(Value::String(c)), Some(Value::String(n))) if c == "function" => n.clone(),
            (Some(Value::String(c)), _) => c.clone(),
            _ => {
                return Err(arg_err(
                    WHO,
                    format!("expected an activation name, got {v}"),
                ))
            }
        },
        _ => {
            return Err(arg_err(
                WHO,
                format!("expected an activation name, got {v}"),
            ))
        }
    };
    let a = Activation::from(name.as_str());
    a.check(WHO)?;
    Ok(a)
}

// ------------------------------------------------------------------ dtype policies

/// A dtype policy envelope (`{"module": "keras", "class_name": "DTypePolicy", ...}`).
pub fn dtype_policy(d: DType) -> Value {
    envelope("keras", "DTypePolicy", json!({"name": d.name()}))
}

/// Reads a dtype policy (`"float32"` or an envelope). Mixed policies
/// (`mixed_float16`) are refused: ceras layers compute in their variables' dtype.
pub fn dtype_policy_from(v: &Value) -> Result<DType> {
    const WHO: &str = "dtype_policies.deserialize";
    let name = match v {
        Value::String(s) => s.as_str(),
        Value::Object(m) => m
            .get("config")
            .and_then(|c| c.get("name"))
            .and_then(Value::as_str)
            .ok_or_else(|| arg_err(WHO, format!("expected a dtype policy, got {v}")))?,
        _ => return Err(arg_err(WHO, format!("expected a dtype policy, got {v}"))),
    };
    if name.starts_with("mixed_") {
        return Err(unsupported(
            WHO,
            format!(
                "mixed-precision policy '{name}': ceras layers compute in their variables' dtype"
            ),
        ));
    }
    DType::parse(name)
}

/// Removes the keys Keras adds at envelope level and returns the inner config map.
pub fn config_map<'a>(who: &str, v: &'a Value) -> Result<&'a Map<String, Value>> {
    match v.get("config") {
        Some(Value::Object(m)) => Ok(m),
        _ => Err(arg_err(
            who,
            format!(
                "expected an object with a \"config\" object, got {}",
                short(v)
            ),
        )),
    }
}

/// A JSON value shortened for error messages.
pub fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 200 {
        let mut end = 200;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &s[..end])
    } else {
        s
    }
}
