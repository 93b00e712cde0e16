//! `keras.layers`: the [`Layer`] trait and the built-in layers.
//!
//! A layer is built on its first call from the input shape (its `build` creates
//! the weights with [`LayerBase::add_weight`]), then `call` computes with `ops` only,
//! so every layer runs on every backend. Weights are [`Variable`]s named
//! `layer_name/weight_name`.
//!
//! ```
//! use ceras::layers::{Dense, Layer};
//! use ceras::Tensor;
//! let mut d = Dense::new(3).activation("relu");
//! let y = d.forward(&Tensor::from_vec(vec![1.0f32; 8], [2, 4]).unwrap(), false).unwrap();
//! assert_eq!(y.shape(), &[2, 3]);
//! assert_eq!(d.weights().len(), 2);
//! assert_eq!(d.count_params(), 4 * 3 + 3);
//! ```

/// Builder methods `$init`, `$reg`, `$cons` for one weight's initializer,
/// regularizer and constraint (fields of the same names), used inside the
/// `impl` blocks of layers with weights.
macro_rules! weight_setters {
    ($init:ident, $reg:ident, $cons:ident, $what:literal) => {
        #[doc = concat!($what, " initializer.")]
        pub fn $init(mut self, i: impl Into<$crate::initializers::Initializer>) -> Self {
            self.$init = i.into();
            self
        }
        #[doc = concat!($what, " regularizer.")]
        pub fn $reg(mut self, r: $crate::regularizers::Regularizer) -> Self {
            self.$reg = Some(r);
            self
        }
        #[doc = concat!($what, " constraint.")]
        pub fn $cons(mut self, c: $crate::regularizers::Constraint) -> Self {
            self.$cons = Some(c);
            self
        }
    };
}

/// `activation`, `use_bias` and the bias weight's builder methods.
macro_rules! activation_bias_setters {
    () => {
        /// Activation (`"relu"`, an activation value, or a closure).
        pub fn activation(mut self, a: impl Into<$crate::activations::Activation>) -> Self {
            self.activation = a.into();
            self
        }
        /// Whether to add a bias.
        pub fn use_bias(mut self, b: bool) -> Self {
            self.use_bias = b;
            self
        }
        weight_setters!(bias_initializer, bias_regularizer, bias_constraint, "Bias");
    };
}

mod attention;
mod conv;
mod conv_extra;
mod core;
mod einsum_dense;
mod merge;
mod norm;
mod pooling;
mod rnn;

pub use self::attention::{AttentionOptions, MultiHeadAttention};
pub use self::conv::{Conv, Conv1D, Conv2D, Conv3D};
pub use self::conv_extra::{
    Conv1DTranspose, Conv2DTranspose, Conv3DTranspose, ConvTranspose, DepthwiseConv,
    DepthwiseConv1D, DepthwiseConv2D, SeparableConv, SeparableConv1D, SeparableConv2D,
};
pub use self::core::{
    Activation, Dense, Dropout, Embedding, Flatten, Lambda, Permute, ReLU, RepeatVector, Rescaling,
    Reshape, Softmax,
};
pub use self::einsum_dense::{EinsumDense, EinsumOutputShape};
pub use self::merge::{Add, Average, Concatenate, Maximum, Merge, Minimum, Multiply, Subtract};
pub use self::norm::{BatchNormalization, LayerNormalization};
pub use self::pooling::{
    AveragePooling1D, AveragePooling2D, GlobalAveragePooling1D, GlobalAveragePooling2D,
    GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalPooling, MaxPooling1D, MaxPooling2D, Pooling,
};
pub use self::rnn::{LSTMCell, LSTM};

use crate::error::{arg_err, shape_err};
use crate::initializers::Initializer;
use crate::regularizers::{Constraint, Regularizer};
use crate::trace::{self, PartialShape};
use crate::{config, DType, Result, Tensor, Variable};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, RwLockReadGuard};

thread_local! {
    /// While a model file is loaded: the largest number of values any weight may
    /// have (the largest array in the file), so a corrupt or hostile config
    /// cannot make `build` allocate without bound.
    static WEIGHT_LIMIT: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// Runs `f` with weights limited to `limit` values each (see `add_weight`).
pub(crate) fn with_weight_limit<T>(limit: usize, f: impl FnOnce() -> T) -> T {
    let prev = WEIGHT_LIMIT.with(|l| l.replace(Some(limit)));
    let out = f();
    WEIGHT_LIMIT.with(|l| l.set(prev));
    out
}

/// Keras's unique-name counters (`dense`, `dense_1`, …), per process.
static NAMES: Mutex<Option<HashMap<String, usize>>> = Mutex::new(None);

/// A fresh unique name from a prefix, as Keras's `auto_name` does.
pub fn unique_name(prefix: &str) -> String {
    let mut g = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    let m = g.get_or_insert_with(HashMap::new);
    let n = m.entry(prefix.to_string()).or_insert(0);
    let name = if *n == 0 {
        prefix.to_string()
    } else {
        format!("{prefix}_{n}")
    };
    *n += 1;
    name
}

/// `Conv2D` → `conv2d`, `BatchNormalization` → `batch_normalization` (Keras's rule).
pub fn snake_case(class: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = class.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev_lower = i > 0 && (chars[i - 1].is_lowercase());
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            let prev_upper = i > 0 && chars[i - 1].is_uppercase();
            if i > 0 && (prev_lower || (prev_upper && next_lower)) {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Options of [`LayerBase::add_weight`].
#[derive(Debug, Clone)]
pub struct WeightSpec {
    /// Initial values.
    pub initializer: Initializer,
    /// Penalty added to the model's loss.
    pub regularizer: Option<Regularizer>,
    /// Applied after each optimizer update.
    pub constraint: Option<Constraint>,
    /// Whether optimizers update it.
    pub trainable: bool,
    /// dtype (`None`: the layer's dtype).
    pub dtype: Option<DType>,
}

impl WeightSpec {
    /// A trainable weight with this initializer.
    pub fn new(initializer: impl Into<Initializer>) -> WeightSpec {
        WeightSpec {
            initializer: initializer.into(),
            regularizer: None,
            constraint: None,
            trainable: true,
            dtype: None,
        }
    }
}

/// State every layer has: name, weights, trainable flag, built flag, dtype.
#[derive(Debug)]
pub struct LayerBase {
    name: String,
    trainable: AtomicBool,
    built: bool,
    dtype: DType,
    weights: Vec<Variable>,
    /// Each weight's own trainable flag (its `WeightSpec`); a weight is trainable
    /// when this and the layer's flag are both set.
    weight_trainable: Vec<bool>,
    regularizers: Vec<(Variable, Regularizer)>,
    constraints: Vec<(Variable, Constraint)>,
    input_shape: Option<PartialShape>,
    /// All input shapes of a layer built for several inputs (merge layers).
    input_shapes: Option<Vec<PartialShape>>,
}

impl LayerBase {
    /// A base named after `class` (`Dense` → `dense`, `dense_1`, …).
    pub fn new(class: &str) -> LayerBase {
        LayerBase {
            name: unique_name(&snake_case(class)),
            trainable: AtomicBool::new(true),
            built: false,
            dtype: config::floatx(),
            weights: Vec::new(),
            weight_trainable: Vec::new(),
            regularizers: Vec::new(),
            constraints: Vec::new(),
            input_shape: None,
            input_shapes: None,
        }
    }

    /// The layer's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sets the dtype of the weights and computations (before the layer is built;
    /// Keras's `dtype=` argument).
    pub fn set_dtype(&mut self, dtype: DType) {
        self.dtype = dtype;
    }

    /// Renames the layer (and the paths of its weights).
    pub fn set_name(&mut self, name: &str) {
        self.name = name.to_string();
        for w in &self.weights {
            w.set_path(format!("{}/{}", self.name, w.name()));
        }
    }

    /// The dtype of the weights and computations.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Tracks an existing variable as one of this layer's weights (for layers
    /// that wrap weights made elsewhere, like [`crate::torch::TorchModuleWrapper`]).
    /// Its path becomes `layer/name`.
    pub fn track_weight(&mut self, v: Variable, trainable: bool) {
        v.set_trainable(trainable && self.trainable.load(Ordering::Relaxed));
        v.set_path(format!("{}/{}", self.name, v.name()));
        self.weight_trainable.push(trainable);
        self.weights.push(v);
    }

    /// Creates a weight named `layer/name` and tracks it.
    pub fn add_weight(
        &mut self,
        name: &str,
        shape: &[usize],
        spec: WeightSpec,
    ) -> Result<Variable> {
        let dtype = spec.dtype.unwrap_or(self.dtype);
        let numel = shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .ok_or_else(|| {
                shape_err(
                    &self.name,
                    format!("weight '{name}' of shape {shape:?} overflows"),
                )
            })?;
        if let Some(limit) = WEIGHT_LIMIT.with(|l| l.get()) {
            if numel > limit {
                return Err(shape_err(
                    &self.name,
                    format!(
                        "weight '{name}' of shape {shape:?} ({numel} values) is larger than any array in the weights file being loaded ({limit} values): the config's dimensions are wrong"
                    ),
                ));
            }
        }
        let value = spec.initializer.init(shape, Some(dtype)).map_err(|e| {
            shape_err(
                &self.name,
                format!("initializing weight '{name}' of shape {shape:?}: {e}"),
            )
        })?;
        let layer_trainable = self.trainable.load(Ordering::Relaxed);
        let v = Variable::new(value, name, spec.trainable && layer_trainable)?;
        self.weight_trainable.push(spec.trainable);
        v.set_path(format!("{}/{}", self.name, name));
        if let Some(r) = spec.regularizer {
            self.regularizers.push((v.clone(), r));
        }
        if let Some(c) = spec.constraint {
            self.constraints.push((v.clone(), c));
        }
        self.weights.push(v.clone());
        Ok(v)
    }

    /// The layer's own weights in the order Keras saves them: those created
    /// trainable (in creation order), then those created non-trainable.
    pub fn keras_ordered_weights(&self) -> Vec<Variable> {
        let pick = |t: bool| {
            self.weights
                .iter()
                .zip(&self.weight_trainable)
                .filter(move |(_, own)| **own == t)
                .map(|(w, _)| w.clone())
        };
        pick(true).chain(pick(false)).collect()
    }

    /// The regularized weights.
    pub fn regularizers(&self) -> &[(Variable, Regularizer)] {
        &self.regularizers
    }

    /// The constrained weights.
    pub fn constraints(&self) -> &[(Variable, Constraint)] {
        &self.constraints
    }

    /// Marks the layer as built (for layers whose weights exist from the start).
    pub fn mark_built(&mut self) {
        self.built = true;
    }

    /// Sets the layer's own trainable flag and its weights' (not sublayers').
    /// Weights created non-trainable (e.g. batch-norm statistics) stay so.
    pub fn set_trainable_flag(&self, t: bool) {
        self.trainable.store(t, Ordering::Relaxed);
        for (w, own) in self.weights.iter().zip(&self.weight_trainable) {
            w.set_trainable(t && *own);
        }
    }

    /// Whether the layer is trainable.
    pub fn is_trainable(&self) -> bool {
        self.trainable.load(Ordering::Relaxed)
    }

    /// The shape the layer was built for (with the batch dim).
    pub fn input_shape(&self) -> Option<&PartialShape> {
        self.input_shape.as_ref()
    }

    /// The shapes a layer with several inputs was built for.
    pub fn input_shapes(&self) -> Option<&[PartialShape]> {
        self.input_shapes.as_deref()
    }
}

/// Formats a partial shape as Keras does: `(None, 26, 26, 32)`.
pub fn fmt_shape(s: &[Option<usize>]) -> String {
    let parts: Vec<String> = s
        .iter()
        .map(|d| d.map_or("None".to_string(), |v| v.to_string()))
        .collect();
    if parts.len() == 1 {
        format!("({},)", parts[0])
    } else {
        format!("({})", parts.join(", "))
    }
}

/// A Keras layer. Implement `base`, `base_mut`, `class_name` and `call`; override
/// `build` to create weights from the input shape, and `sublayers` when the layer
/// holds other layers (their weights are then tracked automatically).
pub trait Layer: Send + Sync {
    /// The common state.
    fn base(&self) -> &LayerBase;
    /// The common state, mutably.
    fn base_mut(&mut self) -> &mut LayerBase;
    /// Keras's class name (`"Dense"`).
    fn class_name(&self) -> &'static str;

    /// Creates the weights for inputs of `input_shape` (batch dim first, maybe `None`).
    fn build(&mut self, input_shape: &[Option<usize>]) -> Result<()> {
        let _ = input_shape;
        Ok(())
    }

    /// The forward computation on a built layer.
    fn call(&self, x: &Tensor, training: bool) -> Result<Tensor>;

    /// Layers held by this one (tracked for weights, summaries and freezing).
    fn sublayers(&self) -> Vec<LayerRef<'_>> {
        Vec::new()
    }

    /// Mutable access to the held layers.
    fn sublayers_mut(&mut self) -> Vec<&mut dyn Layer> {
        Vec::new()
    }

    /// Output shape for an input shape; by default by abstract evaluation of `call`.
    fn compute_output_shape(&self, input_shape: &[Option<usize>]) -> Result<PartialShape> {
        let dtype = self.base().dtype();
        let out = trace::eval_shape(&[(input_shape.to_vec(), dtype)], |xs| {
            Ok(vec![self.call(&xs[0], false)?])
        })?;
        Ok(out.into_iter().next().map(|(s, _)| s).unwrap_or_default())
    }

    /// The forward computation for several inputs (merge layers) or several
    /// outputs (nested models). The default requires exactly one input and calls
    /// [`Layer::call`].
    fn call_multi(&self, xs: &[Tensor], training: bool) -> Result<Vec<Tensor>> {
        match xs {
            [x] => Ok(vec![self.call(x, training)?]),
            _ => Err(arg_err(
                &format!("{} ({})", self.name(), self.class_name()),
                format!("expects a single input, got {} inputs", xs.len()),
            )),
        }
    }

    /// Creates the weights for several inputs; the default requires one input and
    /// calls [`Layer::build`].
    fn build_multi(&mut self, input_shapes: &[PartialShape]) -> Result<()> {
        match input_shapes {
            [s] => self.build(s),
            _ => Err(arg_err(
                &format!("{} ({})", self.name(), self.class_name()),
                format!("expects a single input, got {} inputs", input_shapes.len()),
            )),
        }
    }

    /// Output shapes and dtypes for inputs of these shapes and dtypes, by
    /// abstract evaluation of [`Layer::call_multi`] (nothing is computed).
    fn compute_output_specs(
        &self,
        inputs: &[(PartialShape, DType)],
    ) -> Result<Vec<(PartialShape, DType)>> {
        let dt = self.base().dtype();
        let cast: Vec<(PartialShape, DType)> = inputs
            .iter()
            .map(|(s, d)| (s.clone(), if d.is_float() { dt } else { *d }))
            .collect();
        trace::eval_shape(&cast, |xs| self.call_multi(xs, false))
    }

    /// Keras's `get_config` (the constructor arguments).
    fn get_config(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name(),
            "trainable": self.trainable(),
            "dtype": crate::saving::serialize::dtype_policy(self.base().dtype()),
        })
    }

    /// Keras's `supports_masking`: the layer passes an input mask on unchanged
    /// (Dense, Dropout, normalization, activations). Layers that neither pass
    /// nor use a mask drop it.
    fn supports_masking(&self) -> bool {
        false
    }

    /// Keras's `compute_mask`: the mask of the output for input `x` with mask
    /// `mask` (e.g. `Embedding(mask_zero=True)` makes one; an LSTM returning
    /// sequences passes it on).
    fn compute_mask(&self, x: &Tensor, mask: Option<&Tensor>) -> Result<Option<Tensor>> {
        let _ = x;
        Ok(if self.supports_masking() {
            mask.cloned()
        } else {
            None
        })
    }

    /// The forward computation with the input's mask (`(batch, timesteps)`
    /// booleans). Layers that use masks (LSTM, global average pooling)
    /// override it; the default ignores the mask.
    fn call_masked(&self, x: &Tensor, mask: Option<&Tensor>, training: bool) -> Result<Tensor> {
        let _ = mask;
        self.call(x, training)
    }

    /// [`Layer::call_masked`] and [`Layer::compute_mask`] in one pass (layers
    /// whose mask needs their own computation, like a nested Sequential,
    /// override it to run once).
    fn call_and_mask(
        &self,
        x: &Tensor,
        mask: Option<&Tensor>,
        training: bool,
    ) -> Result<(Tensor, Option<Tensor>)> {
        Ok((
            self.call_masked(x, mask, training)?,
            self.compute_mask(x, mask)?,
        ))
    }

    /// [`Layer::forward`] with a mask: returns the output and its mask.
    fn forward_masked(
        &mut self,
        x: &Tensor,
        mask: Option<&Tensor>,
        training: bool,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let shape: PartialShape = x.shape().iter().map(|&d| Some(d)).collect();
        self.maybe_build(&shape)?;
        let dt = self.base().dtype();
        if x.dtype().is_float() && x.dtype() != dt {
            return self.call_and_mask(&crate::ops::cast(x, dt)?, mask, training);
        }
        self.call_and_mask(x, mask, training)
    }

    /// For a model nested as a layer: its full model envelope (Keras writes
    /// nested models whole). `None` for plain layers.
    fn model_config(&self) -> Result<Option<serde_json::Value>> {
        Ok(None)
    }

    // ------------------------------------------------------------ provided

    /// The layer's name.
    fn name(&self) -> &str {
        self.base().name()
    }

    /// True once built.
    fn built(&self) -> bool {
        self.base().built
    }

    /// Builds if needed (for `input_shape`), recording the shape.
    fn maybe_build(&mut self, input_shape: &[Option<usize>]) -> Result<()> {
        if !self.built() {
            self.build(input_shape)?;
            let b = self.base_mut();
            b.built = true;
            b.input_shape = Some(input_shape.to_vec());
        }
        Ok(())
    }

    /// Builds if needed for several inputs (see [`Layer::build_multi`]).
    fn maybe_build_multi(&mut self, input_shapes: &[PartialShape]) -> Result<()> {
        if !self.built() {
            self.build_multi(input_shapes)?;
            let b = self.base_mut();
            b.built = true;
            b.input_shape = input_shapes.first().cloned();
            b.input_shapes = Some(input_shapes.to_vec());
        }
        Ok(())
    }

    /// [`Layer::forward`] for several inputs and outputs.
    fn forward_multi(&mut self, xs: &[Tensor], training: bool) -> Result<Vec<Tensor>> {
        let shapes: Vec<PartialShape> = xs
            .iter()
            .map(|x| x.shape().iter().map(|&d| Some(d)).collect())
            .collect();
        self.maybe_build_multi(&shapes)?;
        let xs = autocast(self.base().dtype(), xs)?;
        self.call_multi(&xs, training)
    }

    /// Keras's `__call__`: builds on first use, casts float inputs to the layer's
    /// dtype, then calls.
    fn forward(&mut self, x: &Tensor, training: bool) -> Result<Tensor> {
        let shape: PartialShape = x.shape().iter().map(|&d| Some(d)).collect();
        self.maybe_build(&shape)?;
        let dt = self.base().dtype();
        if x.dtype().is_float() && x.dtype() != dt {
            let x = crate::ops::cast(x, dt)?;
            return self.call(&x, training);
        }
        self.call(x, training)
    }

    /// Renames the layer (Keras's `name=` argument): `Dense::new(1).named("out")`.
    fn named(mut self, name: &str) -> Self
    where
        Self: Sized,
    {
        self.base_mut().set_name(name);
        self
    }

    /// Calls the layer on symbolic tensors (the Functional API's `layer(x)`); the
    /// layer moves into the graph. Use [`SharedLayer`] to call one layer on
    /// several inputs.
    ///
    /// [`SharedLayer`]: crate::models::SharedLayer
    fn apply<'a>(
        self,
        inputs: impl Into<crate::models::SymInputs<'a>>,
    ) -> Result<crate::models::KerasTensor>
    where
        Self: Sized + 'static,
    {
        crate::models::SharedLayer::new(self).apply(inputs)
    }

    /// [`Layer::apply`] for layers with several outputs.
    fn apply_multi<'a>(
        self,
        inputs: impl Into<crate::models::SymInputs<'a>>,
    ) -> Result<Vec<crate::models::KerasTensor>>
    where
        Self: Sized + 'static,
    {
        crate::models::SharedLayer::new(self).apply_multi(inputs)
    }

    /// Whether the layer's weights are trainable.
    fn trainable(&self) -> bool {
        self.base().is_trainable()
    }

    /// Freezes (`false`) or unfreezes the layer and its sublayers.
    fn set_trainable(&mut self, t: bool) {
        freeze(self, t);
    }

    /// All weights: own, then sublayers'.
    fn weights(&self) -> Vec<Variable> {
        let mut w = self.base().weights.clone();
        for l in self.sublayers() {
            w.extend(l.weights());
        }
        w
    }

    /// Weights updated by optimizers.
    fn trainable_weights(&self) -> Vec<Variable> {
        self.weights()
            .into_iter()
            .filter(|w| w.trainable())
            .collect()
    }

    /// Weights not updated by optimizers (e.g. batch-norm statistics).
    fn non_trainable_weights(&self) -> Vec<Variable> {
        self.weights()
            .into_iter()
            .filter(|w| !w.trainable())
            .collect()
    }

    /// Number of scalars in all weights.
    fn count_params(&self) -> usize {
        self.weights().iter().map(|w| w.size()).sum()
    }

    /// Regularization penalties of this layer and its sublayers.
    fn losses(&self) -> Result<Vec<Tensor>> {
        let mut out = Vec::new();
        for (v, r) in self.base().regularizers() {
            out.push(r.penalty(&v.value())?);
        }
        for l in self.sublayers() {
            out.extend(l.losses()?);
        }
        Ok(out)
    }

    /// Applies weight constraints (after an optimizer step).
    fn apply_constraints(&self) -> Result<()> {
        for (v, c) in self.base().constraints() {
            v.assign(c.apply(&v.value())?)?;
        }
        for l in self.sublayers() {
            l.apply_constraints()?;
        }
        Ok(())
    }

    /// Keras's `stateless_call`: runs the layer with the given weight values and
    /// returns the output and the new non-trainable values, touching no variable.
    fn stateless_call(
        &mut self,
        trainable: &[Tensor],
        non_trainable: &[Tensor],
        x: &Tensor,
        training: bool,
    ) -> Result<(Tensor, Vec<Tensor>)> {
        let shape: PartialShape = x.shape().iter().map(|&d| Some(d)).collect();
        self.maybe_build(&shape)?;
        let (tv, ntv) = (self.trainable_weights(), self.non_trainable_weights());
        let mut vars = tv.clone();
        vars.extend(ntv.iter().cloned());
        let mut vals = trainable.to_vec();
        vals.extend(non_trainable.iter().cloned());
        let mut scope = crate::StatelessScope::checked(self.name(), &vars, &vals)?;
        let y = scope.run(|| self.forward(x, training))?;
        Ok((y, scope.values_of(&ntv)))
    }
}

/// Sets the trainable flag of a layer and, recursively, of its sublayers.
fn freeze<L: Layer + ?Sized>(l: &L, t: bool) {
    l.base().set_trainable_flag(t);
    for s in l.sublayers() {
        freeze(&*s, t);
    }
}

/// Casts float inputs to `dt` (Keras's input autocasting); others pass through.
pub(crate) fn autocast(dt: DType, xs: &[Tensor]) -> Result<Vec<Tensor>> {
    xs.iter()
        .map(|x| {
            if x.dtype().is_float() && x.dtype() != dt {
                crate::ops::cast(x, dt)
            } else {
                Ok(x.clone())
            }
        })
        .collect()
}

/// A borrowed layer: a plain reference, or a read guard on a [`SharedLayer`].
/// Models list their layers as `LayerRef`s (`(&self.dense).into()`).
///
/// [`SharedLayer`]: crate::models::SharedLayer
pub enum LayerRef<'a> {
    /// A plain reference.
    Borrowed(&'a (dyn Layer + 'a)),
    /// A lock held on a shared layer.
    Locked(RwLockReadGuard<'a, Box<dyn Layer>>),
}

impl<'a> std::ops::Deref for LayerRef<'a> {
    type Target = dyn Layer + 'a;
    fn deref(&self) -> &Self::Target {
        match self {
            LayerRef::Borrowed(l) => *l,
            LayerRef::Locked(g) => g.as_ref(),
        }
    }
}

impl<'a, L: Layer> From<&'a L> for LayerRef<'a> {
    fn from(l: &'a L) -> Self {
        LayerRef::Borrowed(l)
    }
}

impl<'a> From<&'a Box<dyn Layer>> for LayerRef<'a> {
    fn from(l: &'a Box<dyn Layer>) -> Self {
        LayerRef::Borrowed(l.as_ref())
    }
}

/// Layers held by a struct, found by `#[derive(Tracked)]` (Keras tracks layer
/// attributes automatically). Use it in `Model::layers` or `Layer::sublayers`:
///
/// ```
/// use ceras::layers::{Dense, LayerRef, Tracked};
/// #[derive(Tracked)]
/// struct Block {
///     first: Dense,
///     rest: Vec<Dense>,
///     maybe: Option<Dense>,
///     scale: f32, // not a layer: skipped
/// }
/// let b = Block { first: Dense::new(2), rest: vec![Dense::new(3), Dense::new(4)], maybe: None, scale: 1.0 };
/// let names: Vec<String> = b.tracked_layers().iter().map(|l| l.name().to_string()).collect();
/// assert_eq!(names.len(), 3);
/// ```
pub trait Tracked {
    /// The layers held by the fields, in declaration order.
    fn tracked_layers(&self) -> Vec<LayerRef<'_>>;
}

pub use ceras_derive::Tracked;

/// Support for `#[derive(Tracked)]` (not a public API): method resolution on
/// `&Probe(&field)` picks the impl for the field's type, else [`ViaOther`]
/// (no layers).
#[doc(hidden)]
pub mod __track {
    use super::{Layer, LayerRef};
    use crate::models::SharedLayer;

    /// A reference to a field under inspection.
    pub struct Probe<'a, T: ?Sized>(pub &'a T);

    /// A field that is a layer.
    pub trait ViaLayer<'a> {
        /// The field's layers.
        fn layers(&self) -> Vec<LayerRef<'a>>;
    }
    impl<'a, L: Layer> ViaLayer<'a> for Probe<'a, L> {
        fn layers(&self) -> Vec<LayerRef<'a>> {
            vec![LayerRef::Borrowed(self.0)]
        }
    }
    /// A boxed layer.
    pub trait ViaBox<'a> {
        /// The field's layers.
        fn layers(&self) -> Vec<LayerRef<'a>>;
    }
    impl<'a> ViaBox<'a> for Probe<'a, Box<dyn Layer>> {
        fn layers(&self) -> Vec<LayerRef<'a>> {
            vec![LayerRef::Borrowed(self.0.as_ref())]
        }
    }
    /// A shared layer.
    pub trait ViaShared<'a> {
        /// The field's layers.
        fn layers(&self) -> Vec<LayerRef<'a>>;
    }
    impl<'a> ViaShared<'a> for Probe<'a, SharedLayer> {
        fn layers(&self) -> Vec<LayerRef<'a>> {
            vec![LayerRef::Locked(self.0.read())]
        }
    }
    /// A list of layers.
    pub trait ViaVec<'a> {
        /// The field's layers.
        fn layers(&self) -> Vec<LayerRef<'a>>;
    }
    impl<'a, L: Layer> ViaVec<'a> for Probe<'a, Vec<L>> {
        fn layers(&self) -> Vec<LayerRef<'a>> {
            self.0.iter().map(|l| LayerRef::Borrowed(l)).collect()
        }
    }
    /// A list of boxed layers.
    pub trait ViaVecBox<'a> {
        /// The field's layers.
        fn layers(&self) -> Vec<LayerRef<'a>>;
    }
    impl<'a> ViaVecBox<'a> for Probe<'a, Vec<Box<dyn Layer>>> {
        fn layers(&self) -> Vec<LayerRef<'a>> {
            self.0
                .iter()
                .map(|l| LayerRef::Borrowed(l.as_ref()))
                .collect()
        }
    }
    /// A list of shared layers.
    pub trait ViaVecShared<'a> {
        /// The field's layers.
        fn layers(&self) -> Vec<LayerRef<'a>>;
    }
    impl<'a> ViaVecShared<'a> for Probe<'a, Vec<SharedLayer>> {
        fn layers(&self) -> Vec<LayerRef<'a>> {
            self.0.iter().map(|l| LayerRef::Locked(l.read())).collect()
        }
    }
    /// An optional layer.
    pub trait ViaOption<'a> {
        /// The field's layers.
        fn layers(&self) -> Vec<LayerRef<'a>>;
    }
    impl<'a, L: Layer> ViaOption<'a> for Probe<'a, Option<L>> {
        fn layers(&self) -> Vec<LayerRef<'a>> {
            self.0.iter().map(|l| LayerRef::Borrowed(l)).collect()
        }
    }
    /// An array of layers.
    pub trait ViaArray<'a> {
        /// The field's layers.
        fn layers(&self) -> Vec<LayerRef<'a>>;
    }
    impl<'a, L: Layer, const N: usize> ViaArray<'a> for Probe<'a, [L; N]> {
        fn layers(&self) -> Vec<LayerRef<'a>> {
            self.0.iter().map(|l| LayerRef::Borrowed(l)).collect()
        }
    }
    /// Any other field: no layers (reached through auto-ref, so only when no
    /// impl above applies).
    pub trait ViaOther<'a> {
        /// No layers.
        fn layers(&self) -> Vec<LayerRef<'a>> {
            Vec::new()
        }
    }
    impl<'a, T: ?Sized> ViaOther<'a> for &Probe<'a, T> {}
}

/// Checks a layer's input rank (error names the layer and the shape).
pub(crate) fn expect_rank(
    layer: &str,
    shape: &[Option<usize>],
    ok: impl Fn(usize) -> bool,
    expected: &str,
) -> Result<()> {
    if ok(shape.len()) {
        Ok(())
    } else {
        Err(shape_err(
            layer,
            format!(
                "expected input with {expected}, got shape {}",
                fmt_shape(shape)
            ),
        ))
    }
}
