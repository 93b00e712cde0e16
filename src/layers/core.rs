//! Core layers: Dense, Activation, Dropout, Flatten, Reshape, Permute, RepeatVector,
//! Rescaling, ReLU, Softmax, Lambda, Embedding.

use super::{expect_rank, fmt_shape, Layer, LayerBase, WeightSpec};
use crate::activations::Activation as Act;
use crate::config::{self, DataFormat};
use crate::error::{arg_err, shape_err};
use crate::initializers::Initializer;
use crate::random::{self, SeedGenerator};
use crate::regularizers::{Constraint, Regularizer};
use crate::saving::serialize as ser;
use crate::trace::PartialShape;
use crate::{ops, DType, Result, Tensor, Variable};
use serde_json::json;
use std::sync::Arc;

macro_rules! base_impl {
    ($class:literal) => {
        fn base(&self) -> &LayerBase {
            &self.base
        }
        fn base_mut(&mut self) -> &mut LayerBase {
            &mut self.base
        }
        fn class_name(&self) -> &'static str {
            $class
        }
    };
}
pub(crate) use base_impl;

/// Merges the base config (name, trainable, dtype) with layer arguments.
pub(crate) fn config_with(l: &dyn Layer, extra: serde_json::Value) -> serde_json::Value {
    let mut c = json!({
        "name": l.name(),
        "trainable": l.trainable(),
        "dtype": crate::saving::serialize::dtype_policy(l.base().dtype()),
    });
    if let (Some(m), serde_json::Value::Object(e)) = (c.as_object_mut(), extra) {
        m.extend(e);
    }
    c
}

// ------------------------------------------------------------------ Dense

/// `keras.layers.Dense`: `activation(x @ kernel + bias)` on the last axis.
pub struct Dense {
    base: LayerBase,
    units: usize,
    activation: Act,
    use_bias: bool,
    kernel_initializer: Initializer,
    bias_initializer: Initializer,
    kernel_regularizer: Option<Regularizer>,
    bias_regularizer: Option<Regularizer>,
    kernel_constraint: Option<Constraint>,
    bias_constraint: Option<Constraint>,
    kernel: Option<Variable>,
    bias: Option<Variable>,
}

impl Dense {
    /// `Dense(units)` with Keras's defaults (no activation, bias, Glorot-uniform kernel).
    pub fn new(units: usize) -> Dense {
        Dense {
            base: LayerBase::new("Dense"),
            units,
            activation: Act::default(),
            use_bias: true,
            kernel_initializer: "glorot_uniform".into(),
            bias_initializer: "zeros".into(),
            kernel_regularizer: None,
            bias_regularizer: None,
            kernel_constraint: None,
            bias_constraint: None,
            kernel: None,
            bias: None,
        }
    }
    activation_bias_setters!();
    weight_setters!(
        kernel_initializer,
        kernel_regularizer,
        kernel_constraint,
        "Kernel"
    );
    /// The kernel, once built.
    pub fn kernel(&self) -> Option<&Variable> {
        self.kernel.as_ref()
    }
    /// The bias, once built.
    pub fn bias(&self) -> Option<&Variable> {
        self.bias.as_ref()
    }
}

impl Layer for Dense {
    base_impl!("Dense");
    fn supports_masking(&self) -> bool {
        true
    }

    fn build(&mut self, input_shape: &[Option<usize>]) -> Result<()> {
        let name = self.base.name().to_string();
        self.activation.check(&name)?;
        expect_rank(&name, input_shape, |r| r >= 1, "at least 1 dimension")?;
        let Some(d) = input_shape[input_shape.len() - 1] else {
            return Err(shape_err(
                &name,
                format!(
                    "the last dimension of the input must be known, got shape {}",
                    fmt_shape(input_shape)
                ),
            ));
        };
        let mut ks = WeightSpec::new(self.kernel_initializer.clone());
        ks.regularizer = self.kernel_regularizer.clone();
        ks.constraint = self.kernel_constraint.clone();
        self.kernel = Some(self.base.add_weight("kernel", &[d, self.units], ks)?);
        if self.use_bias {
            let mut bs = WeightSpec::new(self.bias_initializer.clone());
            bs.regularizer = self.bias_regularizer.clone();
            bs.constraint = self.bias_constraint.clone();
            self.bias = Some(self.base.add_weight("bias", &[self.units], bs)?);
        }
        Ok(())
    }

    fn call(&self, x: &Tensor, _training: bool) -> Result<Tensor> {
        let k = self
            .kernel
            .as_ref()
            .ok_or_else(|| arg_err(self.base.name(), "Dense layer called before build"))?;
        let kv = k.value();
        if x.ndim() == 0 || x.shape()[x.ndim() - 1] != kv.shape()[0] {
            return Err(shape_err(
                self.base.name(),
                format!(
                    "input shape {:?} is incompatible with the layer: expected last dimension {}",
                    x.shape(),
                    kv.shape()[0]
                ),
            ));
        }
        let y = ops::matmul(x, &kv)?;
        match &self.bias {
            Some(b) => self.activation.apply_with_bias(&y, &b.value()),
            None => self.activation.apply(&y),
        }
    }

    fn compute_output_shape(&self, s: &[Option<usize>]) -> Result<PartialShape> {
        let mut o = s.to_vec();
        if let Some(l) = o.last_mut() {
            *l = Some(self.units);
        }
        Ok(o)
    }

    fn get_config(&self) -> serde_json::Value {
        config_with(
            self,
            json!({
                "units": self.units,
                "activation": self.activation.name(),
                "use_bias": self.use_bias,
                "kernel_initializer": ser::initializer(&self.kernel_initializer),
                "bias_initializer": ser::initializer(&self.bias_initializer),
                "kernel_regularizer": ser::opt_regularizer(&self.kernel_regularizer),
                "bias_regularizer": ser::opt_regularizer(&self.bias_regularizer),
                "kernel_constraint": ser::opt_constraint(&self.kernel_constraint),
                "bias_constraint": ser::opt_constraint(&self.bias_constraint),
            }),
        )
    }
}

// ------------------------------------------------------------------ Activation

/// `keras.layers.Activation`.
pub struct Activation {
    base: LayerBase,
    activation: Act,
}

impl Activation {
    /// Applies `activation`.
    pub fn new(activation: impl Into<Act>) -> Activation {
        Activation {
            base: LayerBase::new("Activation"),
            activation: activation.into(),
        }
    }
}

impl Layer for Activation {
    base_impl!("Activation");
    fn supports_masking(&self) -> bool {
        true
    }
    fn build(&mut self, _s: &[Option<usize>]) -> Result<()> {
        self.activation.check(self.base.name())
    }
    fn call(&self, x: &Tensor, _t: bool) -> Result<Tensor> {
        self.activation.apply(x)
    }
    fn compute_output_shape(&self, s: &[Option<usize>]) -> Result<PartialShape> {
        Ok(s.to_vec())
    }
    fn get_config(&self) -> serde_json::Value {
        config_with(self, json!({"activation": self.activation.name()}))
    }
}

// ------------------------------------------------------------------ Dropout

/// `keras.layers.Dropout`: zeroes a fraction `rate` of inputs in training and
/// scales the rest by `1 / (1 - rate)`; the identity at inference.
pub struct Dropout {
    base: LayerBase,
    rate: f64,
    noise_shape: Option<Vec<Option<usize>>>,
    seed: Option<u64>,
    gen: SeedGenerator,
}

impl Dropout {
    /// `Dropout(rate)`.
    pub fn new(rate: f64) -> Dropout {
        Dropout {
            base: LayerBase::new("Dropout"),
            rate,
            noise_shape: None,
            seed: None,
            gen: SeedGenerator::random(),
        }
    }
    /// A fixed seed.
    pub fn seed(mut self, s: u64) -> Self {
        self.seed = Some(s);
        self.gen = SeedGenerator::new(s);
        self
    }
    /// Noise shape (`None` entries take the input's dimension).
    pub fn noise_shape(mut self, s: Vec<Option<usize>>) -> Self {
        self.noise_shape = Some(s);
        self
    }
}

impl Layer for Dropout {
    base_impl!("Dropout");
    fn supports_masking(&self) -> bool {
        true
    }
    fn build(&mut self, _s: &[Option<usize>]) -> Result<()> {
        if !(0.0..=1.0).contains(&self.rate) {
            return Err(arg_err(
                self.base.name(),
                format!(
                    "invalid rate {}: expected a value between 0 and 1",
                    self.rate
                ),
            ));
        }
        Ok(())
    }
    fn call(&self, x: &Tensor, training: bool) -> Result<Tensor> {
        if !training || self.rate == 0.0 {
            return Ok(x.clone());
        }
        let ns: Option<Vec<usize>> = self.noise_shape.as_ref().map(|n| {
            n.iter()
                .zip(x.shape())
                .map(|(d, &s)| d.unwrap_or(s))
                .collect()
        });
        random::dropout(x, self.rate, ns.as_deref(), &self.gen)
    }
    fn compute_output_shape(&self, s: &[Option<usize>]) -> Result<PartialShape> {
        Ok(s.to_vec())
    }
    fn get_config(&self) -> serde_json::Value {
        config_with(
            self,
            json!({"rate": self.rate, "seed": self.seed, "noise_shape": self.noise_shape}),
        )
    }
}

// ------------------------------------------------------------------ Flatten

/// `keras.layers.Flatten`: `(batch, ...)` → `(batch, prod(...))`.
pub struct Flatten {
    base: LayerBase,
    data_format: Option<DataFormat>,
}

impl Flatten {
    /// `Flatten()`.
    pub fn new() -> Flatten {
        Flatten {
            base: LayerBase::new("Flatten"),
            data_format: None,
        }
    }
    /// Data format of image inputs (channels-first inputs are flattened in
    /// channels-last order, as Keras does).
    pub fn data_format(mut self, f: DataFormat) -> Self {
        self.data_format = Some(f);
        self
    }
}

impl Default for Flatten {
    fn default() -> Self {
        Flatten::new()
    }
}

impl Layer for Flatten {
    base_impl!("Flatten");
    fn call(&self, x: &Tensor, _t: bool) -> Result<Tensor> {
        if x.ndim() == 0 {
            return Err(shape_err(self.base.name(), "expected at least 1 dimension"));
        }
        let fmt = self.data_format.unwrap_or_else(config::image_data_format);
        let x = if fmt == DataFormat::ChannelsFirst && x.ndim() > 2 {
            let mut perm: Vec<i64> = vec![0];
            perm.extend(2..x.ndim() as i64);
            perm.push(1);
            ops::transpose(x, Some(&perm))?
        } else {
            x.clone()
        };
        let b = x.shape()[0] as i64;
        if x.ndim() == 1 {
            return ops::reshape(&x, &[b, 1]);
        }
        ops::reshape(&x, &[b, -1])
    }
    fn compute_output_shape(&self, s: &[Option<usize>]) -> Result<PartialShape> {
        if s.is_empty() {
            return Err(shape_err(self.base.name(), "expected at least 1 dimension"));
        }
        let rest: Option<usize> = s[1..].iter().try_fold(1usize, |a, d| d.map(|d| a * d));
        Ok(vec![s[0], rest])
    }

    fn get_config(&self) -> serde_json::Value {
        let f = self.data_format.unwrap_or_else(config::image_data_format);
        config_with(self, json!({ "data_format": f.name() }))
    }
}

// ------------------------------------------------------------------ Reshape

/// `keras.layers.Reshape(target_shape)` (batch dim excluded; one `-1` allowed).
pub struct Reshape {
    base: LayerBase,
    target: Vec<i64>,
}

impl Reshape {
    /// `Reshape(target_shape)`.
    pub fn new(target_shape: &[i64]) -> Reshape {
        Reshape {
            base: LayerBase::new("Reshape"),
            target: target_shape.to_vec(),
        }
    }
}

impl Layer for Reshape {
    base_impl!("Reshape");
    fn call(&self, x: &Tensor, _t: bool) -> Result<Tensor> {
        let mut s = vec![x.shape().first().copied().unwrap_or(1) as i64];
        s.extend(&self.target);
        ops::reshape(x, &s).map_err(|e| {
            shape_err(
                self.base.name(),
                format!(
                    "cannot reshape input of shape {:?} to target shape {:?}: {e}",
                    x.shape(),
                    self.target
                ),
            )
        })
    }
    fn get_config(&self) -> serde_json::Value {
        config_with(self, json!({"target_shape": self.target}))
    }
}

// ------------------------------------------------------------------ Permute

/// `keras.layers.Permute(dims)`: permutes the non-batch axes (1-based, as Keras).
pub struct Permute {
    base: LayerBase,
    dims: Vec<usize>,
}

impl Permute {
    /// `Permute(dims)`, e.g. `&[2, 1]`.
    pub fn new(dims: &[usize]) -> Permute {
        Permute {
            base: LayerBase::new("Permute"),
            dims: dims.to_vec(),
        }
    }
}

impl Layer for Permute {
    base_impl!("Permute");
    fn build(&mut self, s: &[Option<usize>]) -> Result<()> {
        let mut sorted = self.dims.clone();
        sorted.sort_unstable();
        if sorted != (1..=self.dims.len()).collect::<Vec<_>>() || s.len() != self.dims.len() + 1 {
            return Err(arg_err(
                self.base.name(),
                format!(
                    "invalid permutation {:?} for input shape {}: expected a permutation of 1..={}",
                    self.dims,
                    fmt_shape(s),
                    s.len().saturating_sub(1)
                ),
            ));
        }
        Ok(())
    }
    fn call(&self, x: &Tensor, _t: bool) -> Result<Tensor> {
        let mut perm = vec![0i64];
        perm.extend(self.dims.iter().map(|&d| d as i64));
        ops::transpose(x, Some(&perm))
    }
    fn get_config(&self) -> serde_json::Value {
        config_with(self, json!({"dims": self.dims}))
    }
}

// ------------------------------------------------------------------ RepeatVector

/// `keras.layers.RepeatVector(n)`: `(batch, f)` → `(batch, n, f)`.
pub struct RepeatVector {
    base: LayerBase,
    n: usize,
}

impl RepeatVector {
    /// `RepeatVector(n)`.
    pub fn new(n: usize) -> RepeatVector {
        RepeatVector {
            base: LayerBase::new("RepeatVector"),
            n,
        }
    }
}

impl Layer for RepeatVector {
    base_impl!("RepeatVector");
    fn build(&mut self, s: &[Option<usize>]) -> Result<()> {
        expect_rank(
            self.base.name(),
            s,
            |r| r == 2,
            "2 dimensions (batch, features)",
        )
    }
    fn call(&self, x: &Tensor, _t: bool) -> Result<Tensor> {
        let e = ops::expand_dims(x, &[1])?;
        let (b, f) = (x.shape()[0], x.shape()[1]);
        ops::broadcast_to(&e, &[b, self.n, f])
    }
    fn get_config(&self) -> serde_json::Value {
        config_with(self, json!({"n": self.n}))
    }
}

// ------------------------------------------------------------------ Rescaling

/// `keras.layers.Rescaling(scale, offset=0.0)`: `x * scale + offset` in the layer dtype.
pub struct Rescaling {
    base: LayerBase,
    scale: f64,
    offset: f64,
}

impl Rescaling {
    /// `Rescaling(scale, offset)`.
    pub fn new(scale: f64, offset: f64) -> Rescaling {
        Rescaling {
            base: LayerBase::new("Rescaling"),
            scale,
            offset,
        }
    }
}

impl Layer for Rescaling {
    base_impl!("Rescaling");
    fn supports_masking(&self) -> bool {
        true
    }
    fn call(&self, x: &Tensor, _t: bool) -> Result<Tensor> {
        let x = ops::cast(x, self.base.dtype())?;
        ops::add(ops::multiply(&x, self.scale)?, self.offset)
    }
    fn compute_output_shape(&self, s: &[Option<usize>]) -> Result<PartialShape> {
        Ok(s.to_vec())
    }
    fn get_config(&self) -> serde_json::Value {
        config_with(self, json!({"scale": self.scale, "offset": self.offset}))
    }
}

// ------------------------------------------------------------------ ReLU

/// `keras.layers.ReLU(max_value=None, negative_slope=0.0, threshold=0.0)`.
pub struct ReLU {
    base: LayerBase,
    max_value: Option<f64>,
    negative_slope: f64,
    threshold: f64,
}

impl ReLU {
    /// `ReLU()`.
    pub fn new() -> ReLU {
        ReLU {
            base: LayerBase::new("ReLU"),
            max_value: None,
            negative_slope: 0.0,
            threshold: 0.0,
        }
    }
    /// Saturation value.
    pub fn max_value(mut self, v: f64) -> Self {
        self.max_value = Some(v);
        self
    }
    /// Slope below the threshold.
    pub fn negative_slope(mut self, v: f64) -> Self {
        self.negative_slope = v;
        self
    }
    /// Threshold below which values are damped.
    pub fn threshold(mut self, v: f64) -> Self {
        self.threshold = v;
        self
    }
}

impl Default for ReLU {
    fn default() -> Self {
        ReLU::new()
    }
}

/// `keras.activations.relu` with all its arguments.
pub fn relu_full(
    x: &Tensor,
    negative_slope: f64,
    max_value: Option<f64>,
    threshold: f64,
) -> Result<Tensor> {
    if negative_slope != 0.0 && max_value.is_none() && threshold == 0.0 {
        return ops::leaky_relu(x, negative_slope);
    }
    let negative_part = if negative_slope != 0.0 {
        Some(if threshold != 0.0 {
            ops::relu(ops::add(ops::negative(x)?, threshold)?)?
        } else {
            ops::relu(ops::negative(x)?)?
        })
    } else {
        None
    };
    let mut clip_max = max_value.is_some();
    let mut y = if threshold != 0.0 {
        ops::multiply(x, ops::cast(ops::greater(x, threshold)?, x.dtype())?)?
    } else if max_value == Some(6.0) {
        clip_max = false;
        ops::relu6(x)?
    } else {
        ops::relu(x)?
    };
    if let (true, Some(m)) = (clip_max, max_value) {
        y = ops::clip(&y, 0.0, m)?;
    }
    if let Some(n) = negative_part {
        y = ops::subtract(&y, ops::multiply(n, negative_slope)?)?;
    }
    Ok(y)
}

impl Layer for ReLU {
    base_impl!("ReLU");
    fn supports_masking(&self) -> bool {
        true
    }
    fn build(&mut self, _s: &[Option<usize>]) -> Result<()> {
        if self.max_value.is_some_and(|m| m < 0.0) || self.negative_slope < 0.0 {
            return Err(arg_err(
                self.base.name(),
                format!(
                    "max_value ({:?}) and negative_slope ({}) must be non-negative",
                    self.max_value, self.negative_slope
                ),
            ));
        }
        Ok(())
    }
    fn call(&self, x: &Tensor, _t: bool) -> Result<Tensor> {
        relu_full(x, self.negative_slope, self.max_value, self.threshold)
    }
    fn compute_output_shape(&self, s: &[Option<usize>]) -> Result<PartialShape> {
        Ok(s.to_vec())
    }
    fn get_config(&self) -> serde_json::Value {
        config_with(
            self,
            json!({"max_value": self.max_value, "negative_slope": self.negative_slope,
                   "threshold": self.threshold}),
        )
    }
}

// ------------------------------------------------------------------ Softmax

/// `keras.layers.Softmax(axis=-1)`.
pub struct Softmax {
    base: LayerBase,
    axis: Vec<i64>,
}

impl Softmax {
    /// `Softmax(axis)`.
    pub fn new(axis: i64) -> Softmax {
        Softmax {
            base: LayerBase::new("Softmax"),
            axis: vec![axis],
        }
    }
    /// Normalizes jointly over several axes (Keras's `Softmax(axis=(1, 2))`).
    pub fn axes(mut self, axes: &[i64]) -> Self {
        self.axis = axes.to_vec();
        self
    }
}

impl Layer for Softmax {
    base_impl!("Softmax");
    fn call(&self, x: &Tensor, _t: bool) -> Result<Tensor> {
        ops::softmax(x, self.axis.as_slice())
    }
    fn compute_output_shape(&self, s: &[Option<usize>]) -> Result<PartialShape> {
        Ok(s.to_vec())
    }
    fn get_config(&self) -> serde_json::Value {
        let axis = match self.axis.as_slice() {
            [a] => json!(a),
            many => json!(many),
        };
        config_with(self, json!({ "axis": axis }))
    }
}

// ------------------------------------------------------------------ Lambda

type LambdaFn = Arc<dyn Fn(&Tensor) -> Result<Tensor> + Send + Sync>;

/// `keras.layers.Lambda`: wraps a closure (not serializable, as in Keras).
pub struct Lambda {
    base: LayerBase,
    f: LambdaFn,
}

impl Lambda {
    /// `Lambda(f)`.
    pub fn new(f: impl Fn(&Tensor) -> Result<Tensor> + Send + Sync + 'static) -> Lambda {
        Lambda {
            base: LayerBase::new("Lambda"),
            f: Arc::new(f),
        }
    }
}

impl Layer for Lambda {
    base_impl!("Lambda");
    fn call(&self, x: &Tensor, _t: bool) -> Result<Tensor> {
        (self.f)(x)
    }
}

// ------------------------------------------------------------------ Embedding

/// `keras.layers.Embedding(input_dim, output_dim)`: integer ids → vectors.
pub struct Embedding {
    base: LayerBase,
    input_dim: usize,
    output_dim: usize,
    initializer: Initializer,
    regularizer: Option<Regularizer>,
    mask_zero: bool,
    embeddings: Option<Variable>,
}

impl Embedding {
    /// `Embedding(input_dim, output_dim)` (uniform ±0.05 initial values).
    pub fn new(input_dim: usize, output_dim: usize) -> Embedding {
        Embedding {
            base: LayerBase::new("Embedding"),
            input_dim,
            output_dim,
            initializer: "uniform".into(),
            regularizer: None,
            mask_zero: false,
            embeddings: None,
        }
    }
    /// Initializer of the table.
    pub fn embeddings_initializer(mut self, i: impl Into<Initializer>) -> Self {
        self.initializer = i.into();
        self
    }
    /// Regularizer of the table.
    pub fn embeddings_regularizer(mut self, r: Regularizer) -> Self {
        self.regularizer = Some(r);
        self
    }
    /// Id 0 is padding: the output carries a mask (`ids != 0`) that sequence
    /// layers downstream (LSTM, global average pooling) honour.
    pub fn mask_zero(mut self, m: bool) -> Self {
        self.mask_zero = m;
        self
    }
}

impl Layer for Embedding {
    base_impl!("Embedding");
    fn compute_mask(&self, x: &Tensor, _mask: Option<&Tensor>) -> Result<Option<Tensor>> {
        if self.mask_zero {
            Ok(Some(ops::not_equal(x, 0)?))
        } else {
            Ok(None)
        }
    }
    fn build(&mut self, _s: &[Option<usize>]) -> Result<()> {
        let mut spec = WeightSpec::new(self.initializer.clone());
        spec.regularizer = self.regularizer.clone();
        self.embeddings = Some(self.base.add_weight(
            "embeddings",
            &[self.input_dim, self.output_dim],
            spec,
        )?);
        Ok(())
    }
    fn forward(&mut self, x: &Tensor, training: bool) -> Result<Tensor> {
        // Integer inputs: no float autocast.
        let shape: PartialShape = x.shape().iter().map(|&d| Some(d)).collect();
        self.maybe_build(&shape)?;
        self.call(x, training)
    }
    fn call(&self, x: &Tensor, _t: bool) -> Result<Tensor> {
        let e = self
            .embeddings
            .as_ref()
            .ok_or_else(|| arg_err(self.base.name(), "Embedding called before build"))?;
        let ids = if x.dtype().is_float() || x.dtype() == DType::Bool {
            ops::cast(x, DType::I32)?
        } else {
            x.clone()
        };
        ops::take(e.value(), &ids, Some(0))
    }
    fn compute_output_shape(&self, s: &[Option<usize>]) -> Result<PartialShape> {
        let mut o = s.to_vec();
        o.push(Some(self.output_dim));
        Ok(o)
    }
    fn get_config(&self) -> serde_json::Value {
        config_with(
            self,
            json!({
                "input_dim": self.input_dim,
                "output_dim": self.output_dim,
                "embeddings_initializer": ser::initializer(&self.initializer),
                "embeddings_regularizer": ser::opt_regularizer(&self.regularizer),
                "activity_regularizer": null,
                "embeddings_constraint": null,
                "mask_zero": self.mask_zero,
            }),
        )
    }
}
