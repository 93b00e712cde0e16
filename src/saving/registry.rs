//! Layers from their Keras configs (`from_config`), and the registry that lets
//! users add their own classes with one line.
//!
//! Built-in layers are found by Keras's `class_name`; custom layers by their
//! `registered_name` (`"package>ClassName"`, what `@keras.saving.register_keras_serializable`
//! writes) or, failing that, their class name.
//!
//! ```
//! use ceras::layers::{Dense, Layer};
//! use ceras::saving::registry::{self, Config};
//!
//! // A custom layer that is a renamed Dense, registered under Keras's name.
//! registry::register_layer("my_pkg>Wide", |c: &Config| {
//!     Ok(Box::new(Dense::new(c.usize("units")?.unwrap_or(8))))
//! });
//! let cfg = serde_json::json!({"module": "my_pkg", "class_name": "Wide",
//!     "registered_name": "my_pkg>Wide", "config": {"name": "w", "units": 3}});
//! let layer = registry::layer_from_config(&cfg).unwrap();
//! assert_eq!(layer.name(), "w");
//! ```

use super::serialize::{self as ser, short};
use crate::activations::Activation as Act;
use crate::config::DataFormat;
use crate::error::{arg_err, unsupported};
use crate::initializers::Initializer;
use crate::layers::*;
use crate::ops::Spatial;
use crate::regularizers::{Constraint, Regularizer};
use crate::{DType, Result};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// A function building a layer from its config.
pub type LayerFactory = Arc<dyn Fn(&Config) -> Result<Box<dyn Layer>> + Send + Sync>;

static CUSTOM: RwLock<Option<HashMap<String, LayerFactory>>> = RwLock::new(None);

/// Registers a custom layer class under `name` (its Keras `registered_name`,
/// e.g. `"my_pkg>MyLayer"`, or its class name). The factory receives the
/// layer's config; the common keys (`name`, `trainable`, `dtype`) are applied
/// after it returns.
pub fn register_layer(
    name: &str,
    factory: impl Fn(&Config) -> Result<Box<dyn Layer>> + Send + Sync + 'static,
) {
    let mut g = CUSTOM.write().unwrap_or_else(|e| e.into_inner());
    g.get_or_insert_with(HashMap::new)
        .insert(name.to_string(), Arc::new(factory));
}

fn custom(name: &str) -> Option<LayerFactory> {
    let g = CUSTOM.read().unwrap_or_else(|e| e.into_inner());
    g.as_ref().and_then(|m| m.get(name).cloned())
}

/// A layer's config with typed accessors whose errors name the layer, its class,
/// the key, what was found and what was expected.
pub struct Config<'a> {
    class: String,
    name: String,
    map: &'a Map<String, Value>,
}

impl<'a> Config<'a> {
    /// Wraps the `config` object of a layer of class `class`.
    pub fn new(class: &str, map: &'a Map<String, Value>) -> Config<'a> {
        let name = map
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string();
        Config {
            class: class.to_string(),
            name,
            map,
        }
    }

    /// The raw map.
    pub fn map(&self) -> &Map<String, Value> {
        self.map
    }

    /// The layer's class name.
    pub fn class(&self) -> &str {
        &self.class
    }

    /// An error about key `key`.
    pub fn err(&self, key: &str, expected: &str) -> crate::Error {
        let got = self
            .map
            .get(key)
            .map(short)
            .unwrap_or_else(|| "nothing".into());
        arg_err(
            &format!("layer '{}' ({}) config", self.name, self.class),
            format!("'{key}' must be {expected}, got {got}"),
        )
    }

    /// The value of `key`, `None` when missing or `null`.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        match self.map.get(key) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    /// A required value.
    pub fn req<T>(&self, key: &str, v: Result<Option<T>>) -> Result<T> {
        v?.ok_or_else(|| self.err(key, "present (it has no default)"))
    }

    /// A non-negative integer.
    pub fn usize(&self, key: &str) -> Result<Option<usize>> {
        self.get(key)
            .map(|v| {
                v.as_u64()
                    .and_then(|u| usize::try_from(u).ok())
                    .ok_or_else(|| self.err(key, "a non-negative integer"))
            })
            .transpose()
    }

    /// A non-negative 64-bit integer (seeds).
    pub fn u64(&self, key: &str) -> Result<Option<u64>> {
        self.get(key)
            .map(|v| {
                v.as_u64()
                    .ok_or_else(|| self.err(key, "a non-negative integer"))
            })
            .transpose()
    }

    /// An integer.
    pub fn i64(&self, key: &str) -> Result<Option<i64>> {
        self.get(key)
            .map(|v| v.as_i64().ok_or_else(|| self.err(key, "an integer")))
            .transpose()
    }

    /// A number.
    pub fn f64(&self, key: &str) -> Result<Option<f64>> {
        self.get(key)
            .map(|v| v.as_f64().ok_or_else(|| self.err(key, "a number")))
            .transpose()
    }

    /// A boolean.
    pub fn bool(&self, key: &str) -> Result<Option<bool>> {
        self.get(key)
            .map(|v| v.as_bool().ok_or_else(|| self.err(key, "true or false")))
            .transpose()
    }

    /// A string.
    pub fn str(&self, key: &str) -> Result<Option<&'a str>> {
        self.get(key)
            .map(|v| v.as_str().ok_or_else(|| self.err(key, "a string")))
            .transpose()
    }

    /// An integer or a list of integers.
    pub fn i64s(&self, key: &str) -> Result<Option<Vec<i64>>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        if let Some(i) = v.as_i64() {
            return Ok(Some(vec![i]));
        }
        v.as_array()
            .and_then(|a| a.iter().map(Value::as_i64).collect::<Option<Vec<_>>>())
            .map(Some)
            .ok_or_else(|| self.err(key, "an integer or a list of integers"))
    }

    /// A list of integers or `null`s (a shape).
    pub fn shape(&self, key: &str) -> Result<Option<Vec<Option<usize>>>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let bad = || self.err(key, "a list of non-negative integers or nulls");
        let a = v.as_array().ok_or_else(bad)?;
        a.iter()
            .map(|d| match d {
                Value::Null => Ok(None),
                d => d
                    .as_u64()
                    .and_then(|u| usize::try_from(u).ok())
                    .map(Some)
                    .ok_or_else(bad),
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    /// A spatial argument (`3` or `[3, 3]`) of non-negative integers.
    pub fn spatial(&self, key: &str) -> Result<Option<Spatial>> {
        match self.i64s(key)? {
            Some(v) if v.iter().all(|&d| d >= 0) => Ok(Some(Spatial(v))),
            Some(_) => Err(self.err(key, "non-negative integers")),
            None => Ok(None),
        }
    }

    /// A data format.
    pub fn data_format(&self) -> Result<Option<DataFormat>> {
        self.str("data_format")?
            .map(|s| {
                DataFormat::parse(s)
                    .map_err(|_| self.err("data_format", "channels_last or channels_first"))
            })
            .transpose()
    }

    /// An activation.
    pub fn activation(&self, key: &str) -> Result<Option<Act>> {
        self.get(key)
            .map(|v| ser::activation_from(v).map_err(|e| self.wrap(key, e)))
            .transpose()
    }

    /// An initializer.
    pub fn initializer(&self, key: &str) -> Result<Option<Initializer>> {
        self.get(key)
            .map(|v| ser::initializer_from(v).map_err(|e| self.wrap(key, e)))
            .transpose()
    }

    /// A regularizer.
    pub fn regularizer(&self, key: &str) -> Result<Option<Regularizer>> {
        self.get(key)
            .map(|v| ser::regularizer_from(v).map_err(|e| self.wrap(key, e)))
            .transpose()
    }

    /// A constraint.
    pub fn constraint(&self, key: &str) -> Result<Option<Constraint>> {
        self.get(key)
            .map(|v| ser::constraint_from(v).map_err(|e| self.wrap(key, e)))
            .transpose()
    }

    fn wrap(&self, key: &str, e: crate::Error) -> crate::Error {
        arg_err(
            &format!("layer '{}' ({}) config", self.name, self.class),
            format!("'{key}': {e}"),
        )
    }

    /// Refuses a key whose value ceras cannot honour (rather than silently
    /// computing something else).
    pub fn refuse_if(&self, key: &str, bad: bool, why: &str) -> Result<()> {
        if bad {
            Err(unsupported(
                &format!("layer '{}' ({}) config", self.name, self.class),
                format!(
                    "'{key}' = {}: {why}",
                    self.map.get(key).map(short).unwrap_or_default()
                ),
            ))
        } else {
            Ok(())
        }
    }
}

/// Applies `Option` builder arguments: `set!(layer, cfg.f64("x")?, momentum)`.
macro_rules! set {
    ($l:ident, $v:expr, $m:ident) => {
        if let Some(v) = $v {
            $l = $l.$m(v);
        }
    };
}

/// Initializer, regularizer and constraint of one weight (`kernel`, `bias`, …).
macro_rules! weight_args {
    ($l:ident, $c:ident, $w:literal, $init:ident, $reg:ident, $cons:ident) => {
        set!($l, $c.initializer(concat!($w, "_initializer"))?, $init);
        set!($l, $c.regularizer(concat!($w, "_regularizer"))?, $reg);
        set!($l, $c.constraint(concat!($w, "_constraint"))?, $cons);
    };
}

/// `activation`, `use_bias`, and the kernel's and bias's arguments.
macro_rules! dense_like_args {
    ($l:ident, $c:ident) => {
        set!($l, $c.activation("activation")?, activation);
        set!($l, $c.bool("use_bias")?, use_bias);
        weight_args!(
            $l,
            $c,
            "kernel",
            kernel_initializer,
            kernel_regularizer,
            kernel_constraint
        );
        weight_args!(
            $l,
            $c,
            "bias",
            bias_initializer,
            bias_regularizer,
            bias_constraint
        );
    };
}

/// `strides`, `padding`, `data_format`, `dilation_rate` of convolutions.
macro_rules! conv_args {
    ($l:ident, $c:ident) => {
        set!($l, $c.spatial("strides")?, strides);
        set!($l, $c.str("padding")?, padding);
        set!($l, $c.data_format()?, data_format);
        set!($l, $c.spatial("dilation_rate")?, dilation_rate);
    };
}

fn no_activity_regularizer(c: &Config) -> Result<()> {
    c.refuse_if(
        "activity_regularizer",
        c.get("activity_regularizer").is_some(),
        "activity regularizers are not supported yet",
    )
}

fn no_quantization(c: &Config) -> Result<()> {
    c.refuse_if(
        "quantization_config",
        c.get("quantization_config").is_some(),
        "quantized layers are not supported",
    )?;
    c.refuse_if(
        "lora_rank",
        c.get("lora_rank").is_some(),
        "LoRA layers are not supported",
    )
}

fn built_in(c: &Config) -> Result<Option<Box<dyn Layer>>> {
    let class = c.class.as_str();
    let conv_rank = |prefix: &str| -> Option<usize> {
        class
            .strip_prefix(prefix)
            .and_then(|r| r.strip_suffix('D'))
            .and_then(|r| r.parse().ok())
    };
    let layer: Box<dyn Layer> = match class {
        "Dense" => {
            no_quantization(c)?;
            no_activity_regularizer(c)?;
            let mut l = Dense::new(c.req("units", c.usize("units"))?);
            dense_like_args!(l, c);
            Box::new(l)
        }
        "EinsumDense" => {
            no_quantization(c)?;
            no_activity_regularizer(c)?;
            let eq = c.req("equation", c.str("equation"))?;
            let os = c.get("output_shape").ok_or_else(|| c.err("output_shape", "present"))?;
            let shape: Vec<Option<i64>> = match os {
                Value::Number(n) => vec![n.as_i64()],
                Value::Array(a) => a.iter().map(Value::as_i64).collect(),
                _ => return Err(c.err("output_shape", "an integer or a list")),
            };
            let mut l = EinsumDense::new(eq, shape);
            set!(l, c.activation("activation")?, activation);
            set!(l, c.str("bias_axes")?, bias_axes);
            weight_args!(l, c, "kernel", kernel_initializer, kernel_regularizer, kernel_constraint);
            weight_args!(l, c, "bias", bias_initializer, bias_regularizer, bias_constraint);
            Box::new(l)
        }
        "Activation" => Box::new(Activation::new(
            c.activation("activation")?.unwrap_or_default(),
        )),
        "Dropout" => {
            let mut l = Dropout::new(c.req("rate", c.f64("rate"))?);
            set!(l, c.u64("seed")?, seed);
            set!(l, c.shape("noise_shape")?, noise_shape);
            Box::new(l)
        }
        "Flatten" => {
            let mut l = Flatten::new();
            set!(l, c.data_format()?, data_format);
            Box::new(l)
        }
        "Reshape" => Box::new(Reshape::new(&c.req("target_shape", c.i64s("target_shape"))?)),
        "Permute" => {
            let dims = c.req("dims", c.i64s("dims"))?;
            let dims: Vec<usize> = dims
                .iter()
                .map(|&d| usize::try_from(d).map_err(|_| c.err("dims", "positive integers")))
                .collect::<Result<_>>()?;
            Box::new(Permute::new(&dims))
        }
        "RepeatVector" => Box::new(RepeatVector::new(c.req("n", c.usize("n"))?)),
        "Rescaling" => Box::new(Rescaling::new(
            c.req("scale", c.f64("scale"))?,
            c.f64("offset")?.unwrap_or(0.0),
        )),
        "ReLU" => {
            let mut l = ReLU::new();
            set!(l, c.f64("max_value")?, max_value);
            set!(l, c.f64("negative_slope")?, negative_slope);
            set!(l, c.f64("threshold")?, threshold);
            Box::new(l)
        }
        "Softmax" => {
            let axes = c.i64s("axis")?.unwrap_or_else(|| vec![-1]);
            Box::new(Softmax::new(-1).axes(&axes))
        }
        "Embedding" => {
            no_quantization(c)?;
            no_activity_regularizer(c)?;
            let mut l = Embedding::new(
                c.req("input_dim", c.usize("input_dim"))?,
                c.req("output_dim", c.usize("output_dim"))?,
            );
            set!(l, c.initializer("embeddings_initializer")?, embeddings_initializer);
            set!(l, c.regularizer("embeddings_regularizer")?, embeddings_regularizer);
            set!(l, c.bool("mask_zero")?, mask_zero);
            c.refuse_if(
                "embeddings_constraint",
                c.get("embeddings_constraint").is_some(),
                "Embedding constraints are not supported yet",
            )?;
            Box::new(l)
        }
        "Lambda" => {
            return Err(unsupported(
                &format!("layer '{}' (Lambda) config", c.name),
                "a Lambda layer holds Python code, which ceras cannot run; rebuild the model in Rust with Lambda::new(closure), or register a Rust layer under this name with saving::registry::register_layer",
            ))
        }
        "Conv1D" | "Conv2D" | "Conv3D" => {
            no_activity_regularizer(c)?;
            let r = conv_rank("Conv").unwrap_or(2);
            let mut l = Conv::new(
                r,
                c.req("filters", c.usize("filters"))?,
                c.req("kernel_size", c.spatial("kernel_size"))?,
            );
            conv_args!(l, c);
            set!(l, c.usize("groups")?, groups);
            dense_like_args!(l, c);
            Box::new(l)
        }
        "Conv1DTranspose" | "Conv2DTranspose" | "Conv3DTranspose" => {
            no_activity_regularizer(c)?;
            let r = class[4..5].parse().unwrap_or(2);
            let mut l = ConvTranspose::new(
                r,
                c.req("filters", c.usize("filters"))?,
                c.req("kernel_size", c.spatial("kernel_size"))?,
            );
            conv_args!(l, c);
            set!(l, c.spatial("output_padding")?, output_padding);
            dense_like_args!(l, c);
            Box::new(l)
        }
        "DepthwiseConv1D" | "DepthwiseConv2D" => {
            no_activity_regularizer(c)?;
            let r = conv_rank("DepthwiseConv").unwrap_or(2);
            let mut l = DepthwiseConv::new(r, c.req("kernel_size", c.spatial("kernel_size"))?);
            conv_args!(l, c);
            set!(l, c.usize("depth_multiplier")?, depth_multiplier);
            set!(l, c.activation("activation")?, activation);
            set!(l, c.bool("use_bias")?, use_bias);
            weight_args!(l, c, "depthwise", depthwise_initializer, depthwise_regularizer, depthwise_constraint);
            weight_args!(l, c, "bias", bias_initializer, bias_regularizer, bias_constraint);
            Box::new(l)
        }
        "SeparableConv1D" | "SeparableConv2D" => {
            no_activity_regularizer(c)?;
            let r = conv_rank("SeparableConv").unwrap_or(2);
            let mut l = SeparableConv::new(
                r,
                c.req("filters", c.usize("filters"))?,
                c.req("kernel_size", c.spatial("kernel_size"))?,
            );
            conv_args!(l, c);
            set!(l, c.usize("depth_multiplier")?, depth_multiplier);
            set!(l, c.activation("activation")?, activation);
            set!(l, c.bool("use_bias")?, use_bias);
            weight_args!(l, c, "depthwise", depthwise_initializer, depthwise_regularizer, depthwise_constraint);
            weight_args!(l, c, "pointwise", pointwise_initializer, pointwise_regularizer, pointwise_constraint);
            weight_args!(l, c, "bias", bias_initializer, bias_regularizer, bias_constraint);
            Box::new(l)
        }
        "MaxPooling1D" | "MaxPooling2D" | "MaxPooling3D" | "AveragePooling1D"
        | "AveragePooling2D" | "AveragePooling3D" => {
            let max = class.starts_with("Max");
            let r = class[class.len() - 2..class.len() - 1].parse().unwrap_or(2);
            let pool = c.spatial("pool_size")?.unwrap_or_else(|| Spatial(vec![2]));
            let mut l = Pooling::new(r, max, pool, class);
            set!(l, c.spatial("strides")?, strides);
            set!(l, c.str("padding")?, padding);
            set!(l, c.data_format()?, data_format);
            Box::new(l)
        }
        "GlobalAveragePooling1D" => global(GlobalAveragePooling1D::new(), c)?,
        "GlobalAveragePooling2D" => global(GlobalAveragePooling2D::new(), c)?,
        "GlobalMaxPooling1D" => global(GlobalMaxPooling1D::new(), c)?,
        "GlobalMaxPooling2D" => global(GlobalMaxPooling2D::new(), c)?,
        "BatchNormalization" => {
            c.refuse_if("renorm", c.bool("renorm")?.unwrap_or(false), "batch renormalization is not supported")?;
            let mut l = BatchNormalization::new();
            if let Some(a) = c.i64s("axis")? {
                match a.as_slice() {
                    [a] => l = l.axis(*a),
                    _ => return Err(c.err("axis", "a single axis")),
                }
            }
            set!(l, c.f64("momentum")?, momentum);
            set!(l, c.f64("epsilon")?, epsilon);
            set!(l, c.bool("center")?, center);
            set!(l, c.bool("scale")?, scale);
            weight_args!(l, c, "beta", beta_initializer, beta_regularizer, beta_constraint);
            weight_args!(l, c, "gamma", gamma_initializer, gamma_regularizer, gamma_constraint);
            set!(l, c.initializer("moving_mean_initializer")?, moving_mean_initializer);
            set!(l, c.initializer("moving_variance_initializer")?, moving_variance_initializer);
            Box::new(l)
        }
        "LayerNormalization" => {
            c.refuse_if(
                "rms_scaling",
                c.bool("rms_scaling")?.unwrap_or(false),
                "RMS scaling is not supported yet",
            )?;
            let mut l = LayerNormalization::new();
            if let Some(a) = c.i64s("axis")? {
                l = l.axis(&a);
            }
            set!(l, c.f64("epsilon")?, epsilon);
            set!(l, c.bool("center")?, center);
            set!(l, c.bool("scale")?, scale);
            weight_args!(l, c, "beta", beta_initializer, beta_regularizer, beta_constraint);
            weight_args!(l, c, "gamma", gamma_initializer, gamma_regularizer, gamma_constraint);
            Box::new(l)
        }
        "LSTM" => {
            no_activity_regularizer(c)?;
            let mut l = LSTM::new(c.req("units", c.usize("units"))?);
            set!(l, c.activation("activation")?, activation);
            set!(l, c.activation("recurrent_activation")?, recurrent_activation);
            set!(l, c.bool("use_bias")?, use_bias);
            set!(l, c.bool("unit_forget_bias")?, unit_forget_bias);
            weight_args!(l, c, "kernel", kernel_initializer, kernel_regularizer, kernel_constraint);
            weight_args!(l, c, "recurrent", recurrent_initializer, recurrent_regularizer, recurrent_constraint);
            weight_args!(l, c, "bias", bias_initializer, bias_regularizer, bias_constraint);
            set!(l, c.f64("dropout")?, dropout);
            set!(l, c.f64("recurrent_dropout")?, recurrent_dropout);
            set!(l, c.u64("seed")?, seed);
            set!(l, c.bool("return_sequences")?, return_sequences);
            set!(l, c.bool("return_state")?, return_state);
            set!(l, c.bool("go_backwards")?, go_backwards);
            set!(l, c.bool("stateful")?, stateful);
            set!(l, c.bool("unroll")?, unroll);
            set!(l, c.bool("zero_output_for_mask")?, zero_output_for_mask);
            Box::new(l)
        }
        "MultiHeadAttention" => {
            no_activity_regularizer(c)?;
            let mut l = MultiHeadAttention::new(
                c.req("num_heads", c.usize("num_heads"))?,
                c.req("key_dim", c.usize("key_dim"))?,
            );
            set!(l, c.usize("value_dim")?, value_dim);
            set!(l, c.f64("dropout")?, dropout);
            set!(l, c.bool("use_bias")?, use_bias);
            set!(l, c.bool("use_gate")?, use_gate);
            set!(l, c.usize("sliding_window")?, sliding_window);
            if let Some(os) = c.get("output_shape") {
                let shape: Vec<Option<i64>> = match os {
                    Value::Number(n) => vec![n.as_i64()],
                    Value::Array(a) => a.iter().map(Value::as_i64).collect(),
                    _ => return Err(c.err("output_shape", "an integer or a list")),
                };
                l = l.output_shape(shape);
            }
            if let Some(a) = c.i64s("attention_axes")? {
                l = l.attention_axes(&a);
            }
            weight_args!(l, c, "kernel", kernel_initializer, kernel_regularizer, kernel_constraint);
            weight_args!(l, c, "bias", bias_initializer, bias_regularizer, bias_constraint);
            set!(l, c.u64("seed")?, seed);
            Box::new(l)
        }
        "Add" => Box::new(Add::new()),
        "Subtract" => Box::new(Subtract::new()),
        "Multiply" => Box::new(Multiply::new()),
        "Average" => Box::new(Average::new()),
        "Maximum" => Box::new(Maximum::new()),
        "Minimum" => Box::new(Minimum::new()),
        "Concatenate" => Box::new(Concatenate::new().axis(c.i64("axis")?.unwrap_or(-1))),
        _ => return Ok(None),
    };
    Ok(Some(layer))
}

fn global(mut l: GlobalPooling, c: &Config) -> Result<Box<dyn Layer>> {
    set!(l, c.data_format()?, data_format);
    set!(l, c.bool("keepdims")?, keepdims);
    Ok(Box::new(l))
}

/// Builds a layer (not yet built: weights are created on first call) from its
/// serialized envelope `{"class_name", "config", "registered_name", …}`.
/// Custom classes are looked up by `registered_name`, then `class_name`, among
/// those registered with [`register_layer`].
pub fn layer_from_config(envelope: &Value) -> Result<Box<dyn Layer>> {
    const WHO: &str = "layers.deserialize";
    let (class, _) = ser::class_and_config(WHO, envelope)?;
    let empty = Map::new();
    let map = match envelope.get("config") {
        Some(Value::Object(m)) => m,
        None | Some(Value::Null) => &empty,
        Some(v) => {
            return Err(arg_err(
                WHO,
                format!(
                    "layer '{class}': \"config\" must be an object, got {}",
                    short(v)
                ),
            ))
        }
    };
    let c = Config::new(&class, map);
    let registered = envelope.get("registered_name").and_then(Value::as_str);
    let factory = registered.and_then(custom).or_else(|| custom(&class));
    let mut layer = match factory {
        Some(f) => f(&c)?,
        None => built_in(&c)?.ok_or_else(|| {
            unsupported(
                WHO,
                format!(
                    "unknown layer class '{class}'{}; if it is a custom layer, implement it in Rust and register it with ceras::saving::registry::register_layer(\"{}\", …)",
                    registered.map(|r| format!(" (registered as '{r}')")).unwrap_or_default(),
                    registered.unwrap_or(&class)
                ),
            )
        })?,
    };
    apply_common(layer.as_mut(), &c)?;
    Ok(layer)
}

/// The common keys of every layer config: `name`, `trainable`, `dtype`.
pub fn apply_common(layer: &mut dyn Layer, c: &Config) -> Result<()> {
    if let Some(n) = c.str("name")? {
        layer.base_mut().set_name(n);
    }
    if let Some(d) = c.get("dtype") {
        let dt: DType = ser::dtype_policy_from(d).map_err(|e| c.wrap("dtype", e))?;
        layer.base_mut().set_dtype(dt);
    }
    if let Some(t) = c.bool("trainable")? {
        layer.set_trainable(t);
    }
    Ok(())
}
