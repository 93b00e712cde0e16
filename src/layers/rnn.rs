//! Recurrent layers: [`LSTM`] and its cell [`LSTMCell`] (`keras.layers.LSTM`,
//! `keras.layers.LSTMCell`).
//!
//! The time loop is a Rust loop over `ops` (the eager equivalent of Keras's
//! `lax.scan`), so gradients flow through every step and the layer runs on every
//! backend.

use super::core::{base_impl, config_with};
use super::{expect_rank, fmt_shape, Layer, LayerBase, LayerRef, WeightSpec};
use crate::activations::Activation as Act;
use crate::error::{arg_err, shape_err};
use crate::initializers::Initializer;
use crate::random::{self, Seed, SeedGenerator};
use crate::regularizers::{Constraint, Regularizer};
use crate::saving::serialize as ser;
use crate::trace::PartialShape;
use crate::{ops, Result, Tensor, Variable};
use serde_json::{json, Value};

fn weight_spec(
    init: Initializer,
    reg: &Option<Regularizer>,
    cons: &Option<Constraint>,
) -> WeightSpec {
    let mut s = WeightSpec::new(init);
    s.regularizer = reg.clone();
    s.constraint = cons.clone();
    s
}

// ------------------------------------------------------------------ LSTMCell

/// Dropout masks of one call, shared by every time step (Keras's
/// `DropoutRNNCell`): one input mask when only `dropout` is set (Keras's fused
/// `implementation=2`), four per gate (i, f, c, o) for the inputs and four for the
/// recurrent state when `recurrent_dropout` is set (`implementation=1`).
struct Masks {
    input: Vec<Tensor>,
    recurrent: Vec<Tensor>,
}

/// `keras.layers.LSTMCell`: one step of an LSTM.
///
/// Weights (Keras's names, shapes and order): `kernel (features, 4 * units)`,
/// `recurrent_kernel (units, 4 * units)`, `bias (4 * units)` (when `use_bias`),
/// with the gates in the order input, forget, cell, output. With
/// `unit_forget_bias` (the default) the bias starts at `bias_initializer` values
/// with ones for the forget gate.
///
/// A step takes `[inputs (batch, features), h (batch, units), c (batch, units)]`
/// through [`Layer::call_multi`] and returns `[output, h, c]` (the output is the
/// new `h`, as Keras's `(h, [h, c])`).
///
/// ```
/// use ceras::layers::{Layer, LSTMCell};
/// use ceras::ops;
/// let mut cell = LSTMCell::new(4);
/// let x = ops::ones(&[2, 3], None).unwrap();
/// let h = ops::zeros(&[2, 4], None).unwrap();
/// let out = cell.forward_multi(&[x, h.clone(), h], false).unwrap();
/// assert_eq!(out.len(), 3);
/// assert_eq!(out[0].shape(), &[2, 4]);
/// assert_eq!(cell.kernel().unwrap().shape(), &[3, 16]);
/// ```
pub struct LSTMCell {
    base: LayerBase,
    units: usize,
    activation: Act,
    recurrent_activation: Act,
    use_bias: bool,
    kernel_initializer: Initializer,
    recurrent_initializer: Initializer,
    bias_initializer: Initializer,
    unit_forget_bias: bool,
    kernel_regularizer: Option<Regularizer>,
    recurrent_regularizer: Option<Regularizer>,
    bias_regularizer: Option<Regularizer>,
    kernel_constraint: Option<Constraint>,
    recurrent_constraint: Option<Constraint>,
    bias_constraint: Option<Constraint>,
    dropout: f64,
    recurrent_dropout: f64,
    seed: Option<u64>,
    gen: SeedGenerator,
    kernel: Option<Variable>,
    recurrent_kernel: Option<Variable>,
    bias: Option<Variable>,
}

impl LSTMCell {
    /// `LSTMCell(units)` with Keras's defaults: `tanh` activation, `sigmoid`
    /// recurrent activation, bias with `unit_forget_bias`, Glorot-uniform kernel,
    /// orthogonal recurrent kernel, no dropout. Named `lstm_cell` (the name
    /// Keras's `LSTM` gives its cell).
    pub fn new(units: usize) -> LSTMCell {
        let mut base = LayerBase::new("LSTMCell");
        base.set_name("lstm_cell");
        LSTMCell {
            base,
            units,
            activation: "tanh".into(),
            recurrent_activation: "sigmoid".into(),
            use_bias: true,
            kernel_initializer: "glorot_uniform".into(),
            recurrent_initializer: "orthogonal".into(),
            bias_initializer: "zeros".into(),
            unit_forget_bias: true,
            kernel_regularizer: None,
            recurrent_regularizer: None,
            bias_regularizer: None,
            kernel_constraint: None,
            recurrent_constraint: None,
            bias_constraint: None,
            dropout: 0.0,
            recurrent_dropout: 0.0,
            seed: None,
            gen: SeedGenerator::random(),
            kernel: None,
            recurrent_kernel: None,
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
    weight_setters!(
        recurrent_initializer,
        recurrent_regularizer,
        recurrent_constraint,
        "Recurrent kernel"
    );
    /// Activation of the gates (`"sigmoid"` by default).
    pub fn recurrent_activation(mut self, a: impl Into<Act>) -> Self {
        self.recurrent_activation = a.into();
        self
    }
    /// Whether the forget gate's bias starts at one (on top of `bias_initializer`).
    pub fn unit_forget_bias(mut self, b: bool) -> Self {
        self.unit_forget_bias = b;
        self
    }
    /// Fraction of the input units dropped in training (clipped to `[0, 1]`, as
    /// Keras does; only rates strictly between 0 and 1 drop anything).
    pub fn dropout(mut self, rate: f64) -> Self {
        self.dropout = rate.clamp(0.0, 1.0);
        self
    }
    /// Fraction of the recurrent state's units dropped in training.
    pub fn recurrent_dropout(mut self, rate: f64) -> Self {
        self.recurrent_dropout = rate.clamp(0.0, 1.0);
        self
    }
    /// Seed of the dropout masks.
    pub fn seed(mut self, s: u64) -> Self {
        self.seed = Some(s);
        self.gen = SeedGenerator::new(s);
        self
    }
    /// Number of units.
    pub fn units(&self) -> usize {
        self.units
    }
    /// The input kernel `(features, 4 * units)`, once built.
    pub fn kernel(&self) -> Option<&Variable> {
        self.kernel.as_ref()
    }
    /// The recurrent kernel `(units, 4 * units)`, once built.
    pub fn recurrent_kernel(&self) -> Option<&Variable> {
        self.recurrent_kernel.as_ref()
    }
    /// The bias `(4 * units)`, once built (`None` without `use_bias`).
    pub fn bias(&self) -> Option<&Variable> {
        self.bias.as_ref()
    }

    fn who(&self) -> String {
        format!("{} (LSTMCell)", self.base.name())
    }

    /// The kernels, or an error when the cell is not built.
    fn kernels(&self) -> Result<(Tensor, Tensor)> {
        match (&self.kernel, &self.recurrent_kernel) {
            (Some(k), Some(r)) => Ok((k.value(), r.value())),
            _ => Err(arg_err(&self.who(), "LSTMCell called before build")),
        }
    }

    /// True when a sequence can run as one [`ops::lstm_sequence`]: fused gate
    /// products, Keras's default activations, and every weight in `dt`.
    fn whole_sequence_op(&self, dt: crate::DType) -> bool {
        !self.per_gate()
            && self.default_activations()
            && dt.is_float()
            && [&self.kernel, &self.recurrent_kernel, &self.bias]
                .iter()
                .all(|v| v.as_ref().is_none_or(|v| v.value().dtype() == dt))
    }

    /// Keras's default activations (sigmoid gates, tanh), which
    /// [`ops::lstm_cell`] and [`ops::lstm_sequence`] compute.
    fn default_activations(&self) -> bool {
        let named = |a: &crate::activations::Activation, n: &str| matches!(a, crate::activations::Activation::Named(m) if m == n);
        named(&self.recurrent_activation, "sigmoid") && named(&self.activation, "tanh")
    }

    /// Keras's `implementation=1` (per-gate products): used with recurrent dropout.
    fn per_gate(&self) -> bool {
        self.recurrent_dropout != 0.0
    }

    /// Draws the dropout masks for inputs of `(batch, features)` and states of
    /// `(batch, units)`. Keys are drawn from the cell's generator whenever a rate is
    /// set (as Keras does on every call, in inference too), the masks are only
    /// built in training with a rate strictly between 0 and 1.
    fn dropout_masks(&self, batch: usize, features: usize, training: bool) -> Result<Masks> {
        let n = if self.per_gate() { 4 } else { 1 };
        let dt = self.base.dtype();
        let draw = |rate: f64, count: usize, width: usize| -> Result<Vec<Tensor>> {
            if rate <= 0.0 {
                return Ok(Vec::new());
            }
            let keys: Vec<_> = (0..count).map(|_| self.gen.next()).collect();
            if !(training && rate < 1.0) {
                return Ok(Vec::new());
            }
            let ones = ops::ones(&[batch, width], Some(dt))?;
            keys.into_iter()
                .map(|k| random::dropout(&ones, rate, None, Seed::Key(k)))
                .collect()
        };
        let input = draw(self.dropout, n, features)?;
        let recurrent = draw(self.recurrent_dropout, 4, self.units)?;
        Ok(Masks { input, recurrent })
    }

    /// The input projections of every time step, `x: (batch, time, features)`:
    /// `[x @ kernel]` (fused), or per gate `[x_g @ kernel_g + bias_g]`.
    fn project_inputs(&self, x: &Tensor, masks: &Masks) -> Result<Vec<Tensor>> {
        let (k, _) = self.kernels()?;
        let expand = |m: &Tensor| ops::expand_dims(m, &[-2]);
        if !self.per_gate() {
            let x = match masks.input.first() {
                Some(m) if x.ndim() == 3 => ops::multiply(x, expand(m)?)?,
                Some(m) => ops::multiply(x, m)?,
                None => x.clone(),
            };
            return Ok(vec![ops::matmul(&x, &k)?]);
        }
        let ks = ops::split(&k, 4usize, 1)?;
        let bs = match &self.bias {
            Some(b) => Some(ops::split(b.value(), 4usize, 0)?),
            None => None,
        };
        (0..4)
            .map(|g| {
                let xg = match masks.input.get(g) {
                    Some(m) if x.ndim() == 3 => ops::multiply(x, expand(m)?)?,
                    Some(m) => ops::multiply(x, m)?,
                    None => x.clone(),
                };
                let mut y = ops::matmul(&xg, &ks[g])?;
                if let Some(bs) = &bs {
                    y = ops::add(&y, &bs[g])?;
                }
                Ok(y)
            })
            .collect()
    }

    /// One step from the projected inputs `xp` (see `project_inputs`) and the
    /// previous state; returns the new `(h, c)`. `bias_b` is the bias already
    /// broadcast to `(batch, 4 * units)` (a sequence broadcasts it once instead
    /// of every step, and its gradient is summed over the batch once).
    fn step(
        &self,
        xp: &[Tensor],
        h: &Tensor,
        c: &Tensor,
        masks: &Masks,
        bias_b: Option<&Tensor>,
    ) -> Result<(Tensor, Tensor)> {
        let (_, r) = self.kernels()?;
        let act = &self.activation;
        let rec = &self.recurrent_activation;
        let (i, f, g, o) = if self.per_gate() {
            let rs = ops::split(&r, 4usize, 1)?;
            let pre = |k: usize| -> Result<Tensor> {
                let hk = match masks.recurrent.get(k) {
                    Some(m) => ops::multiply(h, m)?,
                    None => h.clone(),
                };
                ops::add(&xp[k], ops::matmul(&hk, &rs[k])?)
            };
            (pre(0)?, pre(1)?, pre(2)?, pre(3)?)
        } else {
            let mut z = ops::add(&xp[0], ops::matmul(h, &r)?)?;
            if let Some(b) = &self.bias {
                z = match bias_b {
                    Some(bb) => ops::add(&z, bb)?,
                    None => ops::add(&z, b.value())?,
                };
            }
            if self.default_activations() && z.dtype() == c.dtype() {
                // Keras's default activations: the gates in one op (one pass
                // forward and backward where the backend has the kernels).
                return ops::lstm_cell(&z, c);
            }
            let zs = ops::split(&z, 4usize, 1)?;
            (zs[0].clone(), zs[1].clone(), zs[2].clone(), zs[3].clone())
        };
        let i = rec.apply(&i)?;
        let f = rec.apply(&f)?;
        let c = ops::add(ops::multiply(&f, c)?, ops::multiply(&i, act.apply(&g)?)?)?;
        let o = rec.apply(&o)?;
        let h = ops::multiply(&o, act.apply(&c)?)?;
        Ok((h, c))
    }

    /// Checks a `(batch, units)` state.
    fn check_state(&self, what: &str, s: &Tensor, batch: usize) -> Result<()> {
        if s.shape() != [batch, self.units] {
            return Err(shape_err(
                &self.who(),
                format!(
                    "the initial state {what} must have shape ({batch}, {}), got {:?}",
                    self.units,
                    s.shape()
                ),
            ));
        }
        Ok(())
    }

    fn config_entries(&self) -> Value {
        json!({
            "units": self.units,
            "activation": ser::activation(&self.activation),
            "recurrent_activation": ser::activation(&self.recurrent_activation),
            "use_bias": self.use_bias,
            "unit_forget_bias": self.unit_forget_bias,
            "kernel_initializer": ser::initializer(&self.kernel_initializer),
            "recurrent_initializer": ser::initializer(&self.recurrent_initializer),
            "bias_initializer": ser::initializer(&self.bias_initializer),
            "kernel_regularizer": ser::opt_regularizer(&self.kernel_regularizer),
            "recurrent_regularizer": ser::opt_regularizer(&self.recurrent_regularizer),
            "bias_regularizer": ser::opt_regularizer(&self.bias_regularizer),
            "kernel_constraint": ser::opt_constraint(&self.kernel_constraint),
            "recurrent_constraint": ser::opt_constraint(&self.recurrent_constraint),
            "bias_constraint": ser::opt_constraint(&self.bias_constraint),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
        })
    }
}

impl Layer for LSTMCell {
    base_impl!("LSTMCell");

    fn build(&mut self, input_shape: &[Option<usize>]) -> Result<()> {
        let who = self.who();
        if self.units == 0 {
            return Err(arg_err(
                &who,
                "received an invalid value for argument `units`: expected a positive integer, got 0",
            ));
        }
        self.activation.check(&who)?;
        self.recurrent_activation.check(&who)?;
        expect_rank(
            &who,
            input_shape,
            |r| r == 2,
            "2 dimensions (batch, features)",
        )?;
        let Some(d) = input_shape[1] else {
            return Err(shape_err(
                &who,
                format!(
                    "the feature dimension of the input must be known, got shape {}",
                    fmt_shape(input_shape)
                ),
            ));
        };
        let u = self.units;
        let ks = weight_spec(
            self.kernel_initializer.clone(),
            &self.kernel_regularizer,
            &self.kernel_constraint,
        );
        self.kernel = Some(self.base.add_weight("kernel", &[d, 4 * u], ks)?);
        let rs = weight_spec(
            self.recurrent_initializer.clone(),
            &self.recurrent_regularizer,
            &self.recurrent_constraint,
        );
        self.recurrent_kernel = Some(self.base.add_weight("recurrent_kernel", &[u, 4 * u], rs)?);
        if self.use_bias {
            let init = if self.unit_forget_bias {
                let inner = self.bias_initializer.clone();
                Initializer::custom(&inner.class_name(), move |_shape, dtype| {
                    ops::concatenate(
                        &[
                            inner.init(&[u], Some(dtype))?,
                            ops::ones(&[u], Some(dtype))?,
                            inner.init(&[2 * u], Some(dtype))?,
                        ],
                        0,
                    )
                })
            } else {
                self.bias_initializer.clone()
            };
            let bs = weight_spec(init, &self.bias_regularizer, &self.bias_constraint);
            self.bias = Some(self.base.add_weight("bias", &[4 * u], bs)?);
        }
        Ok(())
    }

    fn call(&self, _x: &Tensor, _training: bool) -> Result<Tensor> {
        Err(arg_err(
            &self.who(),
            "an LSTMCell step needs the states: use call_multi(&[inputs, h, c]) (or the LSTM layer)",
        ))
    }

    fn call_multi(&self, xs: &[Tensor], training: bool) -> Result<Vec<Tensor>> {
        let who = self.who();
        let [x, h, c] = xs else {
            return Err(arg_err(
                &who,
                format!("expects 3 inputs [inputs, h, c], got {} inputs", xs.len()),
            ));
        };
        let (k, _) = self.kernels()?;
        if x.ndim() != 2 || x.shape()[1] != k.shape()[0] {
            return Err(shape_err(
                &who,
                format!(
                    "expected inputs of shape (batch, {}), got {:?}",
                    k.shape()[0],
                    x.shape()
                ),
            ));
        }
        let b = x.shape()[0];
        self.check_state("h", h, b)?;
        self.check_state("c", c, b)?;
        let masks = self.dropout_masks(b, x.shape()[1], training)?;
        let xp = self.project_inputs(x, &masks)?;
        let (h, c) = self.step(&xp, h, c, &masks, None)?;
        Ok(vec![h.clone(), h, c])
    }

    fn build_multi(&mut self, input_shapes: &[PartialShape]) -> Result<()> {
        match input_shapes.first() {
            Some(s) => self.build(s),
            None => Err(arg_err(
                &self.who(),
                "expects 3 inputs [inputs, h, c], got none",
            )),
        }
    }

    fn compute_output_shape(&self, s: &[Option<usize>]) -> Result<PartialShape> {
        Ok(vec![s.first().copied().flatten(), Some(self.units)])
    }

    fn get_config(&self) -> Value {
        config_with(self, self.config_entries())
    }
}

// ------------------------------------------------------------------ LSTM

/// `keras.layers.LSTM`: long short-term memory over `(batch, time, features)`
/// inputs.
///
/// The weights belong to the [`LSTMCell`] sublayer (named `lstm_cell`, reached with
/// [`LSTM::cell`] or [`Layer::sublayers`]); the layer itself has none, as in Keras
/// (which saves them under `lstm/cell/vars/0..2`).
///
/// Output: `(batch, units)` (the last step), or `(batch, time, units)` with
/// `return_sequences`. With `return_state`, [`Layer::call_multi`] returns
/// `[output, h, c]` (the final states) and [`Layer::call`] refuses. Initial states
/// are passed as `call_multi(&[x, h0, c0])`. With `go_backwards` the sequence is
/// read from the end and the outputs are in processing order (Keras's). Dropout
/// masks (`dropout`, `recurrent_dropout`, training only) are drawn once per call
/// and shared by all time steps; with a `seed` they equal Keras-on-JAX's.
///
/// Not supported: masking, `stateful=True` (refused at build); `unroll` is
/// accepted and changes nothing.
///
/// ```
/// use ceras::layers::{Layer, LSTM};
/// use ceras::ops;
/// let x = ops::ones(&[2, 5, 3], None).unwrap();
/// let mut lstm = LSTM::new(4).return_sequences(true);
/// let y = lstm.forward(&x, false).unwrap();
/// assert_eq!(y.shape(), &[2, 5, 4]);
/// assert_eq!(lstm.cell().recurrent_kernel().unwrap().shape(), &[4, 16]);
///
/// let mut lstm = LSTM::new(4).return_state(true);
/// let out = lstm.forward_multi(&[x], false).unwrap();
/// assert_eq!(out.len(), 3); // last output, h, c
/// ```
pub struct LSTM {
    base: LayerBase,
    cell: LSTMCell,
    return_sequences: bool,
    return_state: bool,
    go_backwards: bool,
    stateful: bool,
    unroll: bool,
    zero_output_for_mask: bool,
}

/// Builder methods of [`LSTM`] that set the cell's argument of the same name.
macro_rules! cell_setters {
    ($($(#[$doc:meta])* $name:ident($t:ty);)*) => {$(
        $(#[$doc])*
        pub fn $name(mut self, v: $t) -> Self {
            self.cell = self.cell.$name(v);
            self
        }
    )*};
}

impl LSTM {
    /// `LSTM(units)` with Keras's defaults (see [`LSTMCell::new`]); returns the last
    /// output only.
    pub fn new(units: usize) -> LSTM {
        LSTM {
            base: LayerBase::new("LSTM"),
            cell: LSTMCell::new(units),
            return_sequences: false,
            return_state: false,
            go_backwards: false,
            stateful: false,
            unroll: false,
            zero_output_for_mask: false,
        }
    }
    cell_setters! {
        /// Activation of the cell state and output (`"tanh"` by default).
        activation(impl Into<Act>);
        /// Activation of the gates (`"sigmoid"` by default).
        recurrent_activation(impl Into<Act>);
        /// Whether the cell has a bias.
        use_bias(bool);
        /// Whether the forget gate's bias starts at one.
        unit_forget_bias(bool);
        /// Kernel initializer.
        kernel_initializer(impl Into<Initializer>);
        /// Recurrent kernel initializer (`"orthogonal"` by default).
        recurrent_initializer(impl Into<Initializer>);
        /// Bias initializer.
        bias_initializer(impl Into<Initializer>);
        /// Kernel regularizer.
        kernel_regularizer(Regularizer);
        /// Recurrent kernel regularizer.
        recurrent_regularizer(Regularizer);
        /// Bias regularizer.
        bias_regularizer(Regularizer);
        /// Kernel constraint.
        kernel_constraint(Constraint);
        /// Recurrent kernel constraint.
        recurrent_constraint(Constraint);
        /// Bias constraint.
        bias_constraint(Constraint);
        /// Fraction of the input units dropped in training.
        dropout(f64);
        /// Fraction of the recurrent state's units dropped in training.
        recurrent_dropout(f64);
        /// Seed of the dropout masks.
        seed(u64);
    }
    /// Return the output of every step `(batch, time, units)` instead of the last.
    pub fn return_sequences(mut self, b: bool) -> Self {
        self.return_sequences = b;
        self
    }
    /// Also return the final states: `call_multi` gives `[output, h, c]`.
    pub fn return_state(mut self, b: bool) -> Self {
        self.return_state = b;
        self
    }
    /// Read the sequence backwards (outputs in processing order).
    pub fn go_backwards(mut self, b: bool) -> Self {
        self.go_backwards = b;
        self
    }
    /// Keras's `stateful` (carry states across batches): not supported, `true` is
    /// refused when the layer is built.
    pub fn stateful(mut self, b: bool) -> Self {
        self.stateful = b;
        self
    }
    /// Keras's `unroll`: accepted for compatibility; the loop is always a Rust loop.
    pub fn unroll(mut self, b: bool) -> Self {
        self.unroll = b;
        self
    }
    /// Keras's `zero_output_for_mask`: kept in the config (masking is not supported,
    /// so it has no effect).
    pub fn zero_output_for_mask(mut self, b: bool) -> Self {
        self.zero_output_for_mask = b;
        self
    }
    /// The cell holding the weights.
    pub fn cell(&self) -> &LSTMCell {
        &self.cell
    }
    /// The cell, mutably.
    pub fn cell_mut(&mut self) -> &mut LSTMCell {
        &mut self.cell
    }
    /// Number of units.
    pub fn units(&self) -> usize {
        self.cell.units
    }

    fn who(&self) -> String {
        format!("{} (LSTM)", self.base.name())
    }

    /// Runs the sequence; returns `[output, h, c]`.
    fn run(
        &self,
        x: &Tensor,
        init: Option<(&Tensor, &Tensor)>,
        mask: Option<&Tensor>,
        training: bool,
    ) -> Result<Vec<Tensor>> {
        let who = self.who();
        let (k, _) = self
            .cell
            .kernels()
            .map_err(|_| arg_err(&who, "LSTM called before build"))?;
        let shape: PartialShape = x.shape().iter().map(|&d| Some(d)).collect();
        expect_rank(
            &who,
            &shape,
            |r| r == 3,
            "3 dimensions (batch, timesteps, features)",
        )?;
        let (b, t, f) = (x.shape()[0], x.shape()[1], x.shape()[2]);
        if f != k.shape()[0] {
            return Err(shape_err(
                &who,
                format!(
                    "input shape {} is incompatible with the layer: expected {} features on the \
                     last axis, got {f}",
                    fmt_shape(&shape),
                    k.shape()[0]
                ),
            ));
        }
        if t == 0 {
            return Err(shape_err(
                &who,
                format!(
                    "the input needs at least one time step, got shape {}",
                    fmt_shape(&shape)
                ),
            ));
        }
        let u = self.cell.units;
        let dt = self.base.dtype();
        let (mut h, mut c) = match init {
            Some((h0, c0)) => {
                self.cell.check_state("h", h0, b)?;
                self.cell.check_state("c", c0, b)?;
                (h0.clone(), c0.clone())
            }
            None => (
                ops::zeros(&[b, u], Some(dt))?,
                ops::zeros(&[b, u], Some(dt))?,
            ),
        };
        // As Keras: no keys are drawn while only inferring shapes.
        let masks = if x.is_traced() && !training {
            Masks {
                input: Vec::new(),
                recurrent: Vec::new(),
            }
        } else {
            self.cell.dropout_masks(b, f, training)?
        };
        // Input projections of all steps at once, then one list per step.
        let proj = self.cell.project_inputs(x, &masks)?;
        if mask.is_none()
            && self.cell.whole_sequence_op(dt)
            && [&proj[0], &h, &c].iter().all(|v| v.dtype() == dt)
        {
            // Keras's default LSTM: the whole recurrence as one op (backprop
            // through time by hand, one product for the recurrent kernel's
            // gradient).
            let (_, r) = self.cell.kernels()?;
            let bias = self.cell.bias.as_ref().map(|b| b.value());
            let opts = ops::LstmSequenceOptions {
                reverse: self.go_backwards,
                return_sequences: self.return_sequences,
            };
            let (out, h, c) = ops::lstm_sequence(&proj[0], &r, bias.as_ref(), &h, &c, opts)?;
            return Ok(vec![out, h, c]);
        }
        let per_step: Vec<Vec<Tensor>> = proj
            .iter()
            .map(|p| ops::unstack(p, Some(t), 1))
            .collect::<Result<_>>()?;
        let order: Vec<usize> = if self.go_backwards {
            (0..t).rev().collect()
        } else {
            (0..t).collect()
        };
        // A (batch, timesteps) mask: masked steps keep the states, and output
        // the previous output (zeros with zero_output_for_mask), as Keras.
        let step_masks: Option<Vec<Tensor>> = match mask {
            None => None,
            Some(m) => {
                if m.shape() != [b, t] {
                    return Err(shape_err(
                        &who,
                        format!(
                            "the mask has shape {:?}; expected (batch, timesteps) = ({b}, {t})",
                            m.shape()
                        ),
                    ));
                }
                let m = ops::expand_dims(m, &[2])?;
                Some(ops::unstack(&m, Some(t), 1)?)
            }
        };
        let bias_b = match &self.cell.bias {
            Some(bias) if !self.cell.per_gate() => {
                Some(ops::broadcast_to(bias.value(), &[b, 4 * u])?)
            }
            _ => None,
        };
        let mut prev_out = ops::zeros(&[b, u], Some(dt))?;
        let mut outputs = Vec::with_capacity(if self.return_sequences { t } else { 0 });
        for s in order {
            let xp: Vec<Tensor> = per_step.iter().map(|p| p[s].clone()).collect();
            let (hn, cn) = self.cell.step(&xp, &h, &c, &masks, bias_b.as_ref())?;
            match &step_masks {
                None => {
                    h = hn;
                    c = cn;
                    prev_out = h.clone();
                }
                Some(ms) => {
                    let m = &ms[s];
                    let keep = if self.zero_output_for_mask {
                        ops::zeros_like(&hn, None)?
                    } else {
                        prev_out.clone()
                    };
                    prev_out = ops::r#where(m, &hn, &keep)?;
                    h = ops::r#where(m, &hn, &h)?;
                    c = ops::r#where(m, &cn, &c)?;
                }
            }
            if self.return_sequences {
                outputs.push(prev_out.clone());
            }
        }
        let out = if self.return_sequences {
            ops::stack(&outputs, 1)?
        } else {
            prev_out
        };
        Ok(vec![out, h, c])
    }
}

impl Layer for LSTM {
    base_impl!("LSTM");

    fn build(&mut self, input_shape: &[Option<usize>]) -> Result<()> {
        let who = self.who();
        if self.stateful {
            return Err(arg_err(
                &who,
                "stateful=True is not supported (states are not carried across calls); \
                 pass the states explicitly with call_multi(&[x, h, c]) and return_state(true)",
            ));
        }
        expect_rank(
            &who,
            input_shape,
            |r| r == 3,
            "3 dimensions (batch, timesteps, features)",
        )?;
        if input_shape[2].is_none() {
            return Err(shape_err(
                &who,
                format!(
                    "the feature dimension of the input must be known, got shape {}",
                    fmt_shape(input_shape)
                ),
            ));
        }
        if !self.cell.built() {
            // The cell computes in the layer's dtype (Keras passes `dtype` on).
            let dt = self.base.dtype();
            self.cell.base_mut().set_dtype(dt);
        }
        self.cell.maybe_build(&[input_shape[0], input_shape[2]])
    }

    fn call(&self, x: &Tensor, training: bool) -> Result<Tensor> {
        if self.return_state {
            return Err(arg_err(
                &self.who(),
                "with return_state=True the layer has 3 outputs [output, h, c]: use \
                 call_multi / forward_multi / apply_multi",
            ));
        }
        Ok(self.run(x, None, None, training)?.swap_remove(0))
    }

    fn supports_masking(&self) -> bool {
        true
    }

    fn call_masked(&self, x: &Tensor, mask: Option<&Tensor>, training: bool) -> Result<Tensor> {
        if self.return_state {
            return self.call(x, training);
        }
        Ok(self.run(x, None, mask, training)?.swap_remove(0))
    }

    fn compute_mask(&self, _x: &Tensor, mask: Option<&Tensor>) -> Result<Option<Tensor>> {
        Ok(if self.return_sequences {
            mask.cloned()
        } else {
            None
        })
    }

    fn call_multi(&self, xs: &[Tensor], training: bool) -> Result<Vec<Tensor>> {
        let mut out = match xs {
            [x] => self.run(x, None, None, training)?,
            [x, h, c] => self.run(x, Some((h, c)), None, training)?,
            _ => {
                return Err(arg_err(
                    &self.who(),
                    format!(
                        "expects 1 input (the sequence) or 3 (the sequence and the initial \
                         states h, c), got {} inputs",
                        xs.len()
                    ),
                ))
            }
        };
        if !self.return_state {
            out.truncate(1);
        }
        Ok(out)
    }

    fn build_multi(&mut self, input_shapes: &[PartialShape]) -> Result<()> {
        match input_shapes {
            [s] | [s, _, _] => self.build(s),
            _ => Err(arg_err(
                &self.who(),
                format!(
                    "expects 1 input (the sequence) or 3 (the sequence and the initial states \
                     h, c), got {} inputs",
                    input_shapes.len()
                ),
            )),
        }
    }

    fn sublayers(&self) -> Vec<LayerRef<'_>> {
        vec![(&self.cell).into()]
    }

    fn sublayers_mut(&mut self) -> Vec<&mut dyn Layer> {
        vec![&mut self.cell]
    }

    /// The output's shape (the first output's with `return_state`).
    fn compute_output_shape(&self, s: &[Option<usize>]) -> Result<PartialShape> {
        expect_rank(
            &self.who(),
            s,
            |r| r == 3,
            "3 dimensions (batch, timesteps, features)",
        )?;
        let u = Some(self.cell.units);
        Ok(if self.return_sequences {
            vec![s[0], s[1], u]
        } else {
            vec![s[0], u]
        })
    }

    fn get_config(&self) -> Value {
        let mut c = config_with(
            self,
            json!({
                "return_sequences": self.return_sequences,
                "return_state": self.return_state,
                "go_backwards": self.go_backwards,
                "stateful": self.stateful,
                "unroll": self.unroll,
                "zero_output_for_mask": self.zero_output_for_mask,
                "activity_regularizer": null,
            }),
        );
        if let (Some(m), Value::Object(e)) = (c.as_object_mut(), self.cell.config_entries()) {
            m.extend(e);
        }
        c
    }
}
