//! `EinsumDense`: a dense layer of arbitrary dimensionality computed with `einsum`
//! (`keras.layers.EinsumDense`).

use super::core::{base_impl, config_with};
use super::{fmt_shape, Layer, LayerBase, WeightSpec};
use crate::activations::Activation as Act;
use crate::error::{arg_err, shape_err};
use crate::initializers::Initializer;
use crate::regularizers::{Constraint, Regularizer};
use crate::saving::serialize as ser;
use crate::trace::PartialShape;
use crate::{ops, Result, Tensor, Variable};
use serde_json::{json, Value};
use std::collections::HashMap;

/// The `output_shape` argument of [`EinsumDense`]: the output's shape without the
/// batch dimension and without the dimensions an ellipsis stands for; `None`
/// entries are inferred from the input. Built from an int (`64`), an array or a
/// vector of ints, or of `Option`s (`[None, Some(64)]`).
///
/// ```
/// use ceras::layers::EinsumOutputShape;
/// assert_eq!(EinsumOutputShape::from(64).0, vec![Some(64)]);
/// assert_eq!(EinsumOutputShape::from([None, Some(8)]).0, vec![None, Some(8)]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EinsumOutputShape(pub Vec<Option<i64>>);

macro_rules! output_shape_from {
    ($($t:ty),*) => {$(
        impl From<$t> for EinsumOutputShape {
            fn from(v: $t) -> Self {
                EinsumOutputShape(vec![Some(v as i64)])
            }
        }
        impl<const N: usize> From<[$t; N]> for EinsumOutputShape {
            fn from(v: [$t; N]) -> Self {
                EinsumOutputShape(v.iter().map(|&d| Some(d as i64)).collect())
            }
        }
        impl<const N: usize> From<[Option<$t>; N]> for EinsumOutputShape {
            fn from(v: [Option<$t>; N]) -> Self {
                EinsumOutputShape(v.iter().map(|d| d.map(|d| d as i64)).collect())
            }
        }
        impl From<Vec<$t>> for EinsumOutputShape {
            fn from(v: Vec<$t>) -> Self {
                EinsumOutputShape(v.iter().map(|&d| Some(d as i64)).collect())
            }
        }
        impl From<Vec<Option<$t>>> for EinsumOutputShape {
            fn from(v: Vec<Option<$t>>) -> Self {
                EinsumOutputShape(v.iter().map(|d| d.map(|d| d as i64)).collect())
            }
        }
        impl From<&[$t]> for EinsumOutputShape {
            fn from(v: &[$t]) -> Self {
                EinsumOutputShape(v.iter().map(|&d| Some(d as i64)).collect())
            }
        }
        impl From<&[Option<$t>]> for EinsumOutputShape {
            fn from(v: &[Option<$t>]) -> Self {
                EinsumOutputShape(v.iter().map(|d| d.map(|d| d as i64)).collect())
            }
        }
    )*};
}
output_shape_from!(i32, i64, usize, u32);

/// Where the equation's ellipsis is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Elide {
    None,
    Left,
    Right,
}

/// The three subscript strings of an `EinsumDense` equation.
struct Spec {
    input: Vec<char>,
    weight: Vec<char>,
    output: Vec<char>,
    elide: Elide,
}

/// Parses the forms Keras accepts: `X,Y->Z`, `...X,Y->...Z` and `X...,Y->Z...`
/// (`X` of at least two letters in the last form).
fn parse_equation(layer: &str, equation: &str) -> Result<Spec> {
    let bad = || {
        arg_err(
            layer,
            format!(
                "invalid einsum equation {equation:?}: equations must be in the form \
                 [X],[Y]->[Z], ...[X],[Y]->...[Z], or [X]...,[Y]->[Z]... (X, Y, Z: letters)"
            ),
        )
    };
    let s = equation.replace("...", "0");
    let (lhs, out) = s.split_once("->").ok_or_else(bad)?;
    let (inp, weight) = lhs.split_once(',').ok_or_else(bad)?;
    let letters = |t: &str, min: usize| -> Option<Vec<char>> {
        (t.len() >= min && t.chars().all(|c| c.is_ascii_alphabetic())).then(|| t.chars().collect())
    };
    let weight = letters(weight, 1).ok_or_else(bad)?;
    let (input, output, elide) =
        if let (Some(i), Some(o)) = (inp.strip_prefix('0'), out.strip_prefix('0')) {
            (letters(i, 1), letters(o, 1), Elide::Left)
        } else if let (Some(i), Some(o)) = (inp.strip_suffix('0'), out.strip_suffix('0')) {
            (letters(i, 2), letters(o, 1), Elide::Right)
        } else {
            (letters(inp, 1), letters(out, 1), Elide::None)
        };
    match (input, output) {
        (Some(input), Some(output)) => Ok(Spec {
            input,
            weight,
            output,
            elide,
        }),
        _ => Err(bad()),
    }
}

/// Shapes derived from the equation and the input shape.
struct Analysis {
    kernel_shape: Vec<usize>,
    bias_shape: Option<Vec<usize>>,
    output_shape: PartialShape,
    /// Kernel axes of input units (for the fan-in of variance-scaling initializers).
    input_axes: Vec<usize>,
    /// Kernel axes of output units.
    output_axes: Vec<usize>,
}

/// Keras's `_analyze_einsum_string`, with the output shape resolved from the input
/// where `output_shape` leaves it `None`.
fn analyze(
    layer: &str,
    equation: &str,
    bias_axes: Option<&str>,
    input_shape: &[Option<usize>],
    partial: &[Option<i64>],
) -> Result<Analysis> {
    let spec = parse_equation(layer, equation)?;
    let rank = input_shape.len();
    let n_in = spec.input.len();
    // Dimensions the ellipsis stands for (with the batch dimension when on the left).
    let elided = match spec.elide {
        Elide::None if rank != n_in => {
            return Err(shape_err(
                layer,
                format!(
                    "equation {equation:?} expects an input of rank {n_in}, got shape {}",
                    fmt_shape(input_shape)
                ),
            ))
        }
        Elide::None => 0,
        Elide::Left if rank <= n_in => {
            return Err(shape_err(
                layer,
                format!(
                    "equation {equation:?} expects an input of rank at least {} (the ellipsis \
                     holds the batch dimension), got shape {}",
                    n_in + 1,
                    fmt_shape(input_shape)
                ),
            ))
        }
        Elide::Right if rank < n_in => {
            return Err(shape_err(
                layer,
                format!(
                    "equation {equation:?} expects an input of rank at least {n_in}, got shape {}",
                    fmt_shape(input_shape)
                ),
            ))
        }
        _ => rank - n_in,
    };
    let n_out = spec.output.len();
    let expected_len = match spec.elide {
        Elide::Left => n_out,
        _ => n_out - 1,
    };
    if partial.len() != expected_len {
        return Err(arg_err(
            layer,
            format!(
                "`output_shape` has {} entries, but the output subscripts {:?} of equation \
                 {equation:?} need {expected_len} (the batch dimension and ellipsis dimensions \
                 excluded)",
                partial.len(),
                spec.output.iter().collect::<String>()
            ),
        ));
    }
    if let Some(bad) = partial.iter().flatten().find(|&&d| d < 0) {
        return Err(arg_err(
            layer,
            format!("`output_shape` entries must be non-negative, got {bad} in {partial:?}"),
        ));
    }
    let partial: Vec<Option<usize>> = partial.iter().map(|d| d.map(|d| d as usize)).collect();
    // Position in the input of each input subscript.
    let in_off = if spec.elide == Elide::Left { elided } else { 0 };
    let input_map: HashMap<char, usize> = spec
        .input
        .iter()
        .enumerate()
        .map(|(i, &c)| (c, i + in_off))
        .collect();
    // The size given for each output subscript (Keras's output_shape list: the
    // batch dimension first unless it is in the left ellipsis).
    let given: Vec<Option<usize>> = match spec.elide {
        Elide::Left => partial.clone(),
        _ => std::iter::once(input_shape[0])
            .chain(partial.iter().copied())
            .collect(),
    };
    let output_map: HashMap<char, usize> = spec
        .output
        .iter()
        .enumerate()
        .map(|(i, &c)| (c, i))
        .collect();
    for (&c, &i) in &input_map {
        if let (Some(&o), Some(d)) = (output_map.get(&c), input_shape[i]) {
            if let Some(g) = given[o] {
                if g != d {
                    return Err(shape_err(
                        layer,
                        format!(
                            "input shape and output shape do not match at shared dimension \
                             '{c}': the input (shape {}) has {d}, `output_shape` gives {g}",
                            fmt_shape(input_shape)
                        ),
                    ));
                }
            }
        }
    }
    for &c in &spec.output {
        if !input_map.contains_key(&c) && !spec.weight.contains(&c) {
            return Err(arg_err(
                layer,
                format!(
                    "dimension '{c}' was specified in the output {:?} but has no corresponding \
                     dimension in the input spec {:?} or the weight spec {:?}",
                    spec.output.iter().collect::<String>(),
                    spec.input.iter().collect::<String>(),
                    spec.weight.iter().collect::<String>()
                ),
            ));
        }
    }
    let size = |c: char| -> Option<usize> {
        output_map
            .get(&c)
            .and_then(|&o| given[o])
            .or_else(|| input_map.get(&c).and_then(|&i| input_shape[i]))
    };
    let mut kernel_shape = Vec::with_capacity(spec.weight.len());
    let (mut input_axes, mut output_axes) = (Vec::new(), Vec::new());
    for (i, &c) in spec.weight.iter().enumerate() {
        if output_map.contains_key(&c) {
            output_axes.push(i);
        } else if input_map.contains_key(&c) {
            input_axes.push(i);
        } else {
            return Err(arg_err(
                layer,
                format!(
                    "weight dimension '{c}' did not have a match in either the input spec {:?} \
                     or the output spec {:?}; for this layer, the weight must be fully specified",
                    spec.input.iter().collect::<String>(),
                    spec.output.iter().collect::<String>()
                ),
            ));
        }
        kernel_shape.push(size(c).ok_or_else(|| {
            shape_err(
                layer,
                format!(
                    "the size of kernel dimension '{c}' is unknown: it must be given in \
                     `output_shape` or be a known dimension of the input (input shape {})",
                    fmt_shape(input_shape)
                ),
            )
        })?);
    }
    let core: PartialShape = spec.output.iter().map(|&c| size(c)).collect();
    let output_shape: PartialShape = match spec.elide {
        Elide::None => core,
        Elide::Left => input_shape[..elided].iter().copied().chain(core).collect(),
        Elide::Right => core
            .into_iter()
            .chain(input_shape[rank - elided..].iter().copied())
            .collect(),
    };
    let bias_shape = match bias_axes {
        None => None,
        Some("") => return Err(arg_err(
            layer,
            "`bias_axes` must name at least one output dimension (use no bias_axes for no bias)",
        )),
        Some(axes) => {
            if let Some(c) = axes.chars().find(|c| !spec.output.contains(c)) {
                return Err(arg_err(
                    layer,
                    format!(
                        "bias dimension '{c}' was requested, but is not part of the output spec {:?}",
                        spec.output.iter().collect::<String>()
                    ),
                ));
            }
            let first = spec
                .output
                .iter()
                .position(|c| axes.contains(*c))
                .unwrap_or(spec.output.len());
            let mut shape = Vec::new();
            for &c in &spec.output[first..] {
                if axes.contains(c) {
                    shape.push(size(c).ok_or_else(|| {
                        shape_err(
                            layer,
                            format!(
                                "the size of bias dimension '{c}' is unknown (input shape {})",
                                fmt_shape(input_shape)
                            ),
                        )
                    })?);
                } else {
                    shape.push(1);
                }
            }
            if spec.elide == Elide::Right {
                shape.extend(std::iter::repeat_n(1, elided));
            }
            Some(shape)
        }
    };
    Ok(Analysis {
        kernel_shape,
        bias_shape,
        output_shape,
        input_axes,
        output_axes,
    })
}

/// `keras.layers.EinsumDense`: `activation(einsum(equation, inputs, kernel) + bias)`,
/// a dense layer of arbitrary dimensionality.
///
/// `equation` is `"X,Y->Z"`, `"...X,Y->...Z"` or `"X...,Y->Z..."` (letters only;
/// the input's subscripts, the kernel's, the output's). The kernel's shape is read
/// off the equation: each kernel subscript takes its size from `output_shape` or,
/// failing that, from the input. `bias_axes` names the output subscripts that get a
/// bias; the bias covers the output from the first of them on, with size 1 on the
/// subscripts not named (so it broadcasts). Weights: `kernel`, then `bias` (when
/// `bias_axes` is given). As in Keras, a variance-scaling kernel initializer (the
/// default Glorot-uniform) computes its fans from the kernel axes that match input
/// and output subscripts.
///
/// Unlike Keras 3.15, whose symbolic output shape keeps `None` where `output_shape`
/// has `None` (and lists the dimensions of a left ellipsis in reverse order),
/// [`Layer::compute_output_shape`] reports the shape the call really produces.
///
/// ```
/// use ceras::layers::{EinsumDense, Layer};
/// use ceras::ops;
/// // A Dense(64) applied to every position of a sequence.
/// let mut d = EinsumDense::new("abc,cd->abd", [None, Some(64)]).bias_axes("d");
/// let y = d.forward(&ops::ones(&[2, 32, 128], None).unwrap(), false).unwrap();
/// assert_eq!(y.shape(), &[2, 32, 64]);
/// assert_eq!(d.kernel().unwrap().shape(), &[128, 64]);
/// assert_eq!(d.bias().unwrap().shape(), &[64]);
/// ```
pub struct EinsumDense {
    base: LayerBase,
    equation: String,
    output_shape: Vec<Option<i64>>,
    activation: Act,
    bias_axes: Option<String>,
    kernel_initializer: Initializer,
    bias_initializer: Initializer,
    kernel_regularizer: Option<Regularizer>,
    bias_regularizer: Option<Regularizer>,
    kernel_constraint: Option<Constraint>,
    bias_constraint: Option<Constraint>,
    kernel: Option<Variable>,
    bias: Option<Variable>,
}

impl EinsumDense {
    /// `EinsumDense(equation, output_shape)` with Keras's defaults: no activation, no
    /// bias (`bias_axes=None`), Glorot-uniform kernel, zero bias initializer.
    pub fn new(equation: &str, output_shape: impl Into<EinsumOutputShape>) -> EinsumDense {
        EinsumDense {
            base: LayerBase::new("EinsumDense"),
            equation: equation.to_string(),
            output_shape: output_shape.into().0,
            activation: Act::default(),
            bias_axes: None,
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
    /// Activation (`"relu"`, an activation value, or a closure).
    pub fn activation(mut self, a: impl Into<Act>) -> Self {
        self.activation = a.into();
        self
    }
    /// Output subscripts that get a bias (e.g. `"d"` for `"abc,cd->abd"`).
    pub fn bias_axes(mut self, axes: &str) -> Self {
        self.bias_axes = Some(axes.to_string());
        self
    }
    weight_setters!(
        kernel_initializer,
        kernel_regularizer,
        kernel_constraint,
        "Kernel"
    );
    weight_setters!(bias_initializer, bias_regularizer, bias_constraint, "Bias");
    /// The equation.
    pub fn equation(&self) -> &str {
        &self.equation
    }
    /// The kernel, once built.
    pub fn kernel(&self) -> Option<&Variable> {
        self.kernel.as_ref()
    }
    /// The bias, once built (`None` without `bias_axes`).
    pub fn bias(&self) -> Option<&Variable> {
        self.bias.as_ref()
    }

    fn analyze(&self, input_shape: &[Option<usize>]) -> Result<Analysis> {
        analyze(
            self.base.name(),
            &self.equation,
            self.bias_axes.as_deref(),
            input_shape,
            &self.output_shape,
        )
    }

    /// The kernel initializer; a variance-scaling one gets its fans from the
    /// equation's input and output axes (Keras's `_update_kernel_initializer`).
    fn kernel_init_for(&self, a: &Analysis) -> Initializer {
        match &self.kernel_initializer {
            Initializer::VarianceScaling { .. } => {
                let fan_in: usize = a.input_axes.iter().map(|&i| a.kernel_shape[i]).product();
                let fan_out: usize = a.output_axes.iter().map(|&i| a.kernel_shape[i]).product();
                let inner = self.kernel_initializer.clone();
                Initializer::custom(&inner.class_name(), move |shape, dtype| {
                    // A 2-D (fan_in, fan_out) draw has exactly these fans.
                    let t = inner.init(&[fan_in, fan_out], Some(dtype))?;
                    let s: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
                    ops::reshape(&t, &s)
                })
            }
            other => other.clone(),
        }
    }
}

impl Layer for EinsumDense {
    base_impl!("EinsumDense");

    fn build(&mut self, input_shape: &[Option<usize>]) -> Result<()> {
        let name = self.base.name().to_string();
        self.activation.check(&name)?;
        let a = self.analyze(input_shape)?;
        let mut ks = WeightSpec::new(self.kernel_init_for(&a));
        ks.regularizer = self.kernel_regularizer.clone();
        ks.constraint = self.kernel_constraint.clone();
        self.kernel = Some(self.base.add_weight("kernel", &a.kernel_shape, ks)?);
        if let Some(bs_shape) = &a.bias_shape {
            let mut bs = WeightSpec::new(self.bias_initializer.clone());
            bs.regularizer = self.bias_regularizer.clone();
            bs.constraint = self.bias_constraint.clone();
            self.bias = Some(self.base.add_weight("bias", bs_shape, bs)?);
        }
        Ok(())
    }

    fn call(&self, x: &Tensor, _training: bool) -> Result<Tensor> {
        let name = self.base.name();
        let k = self
            .kernel
            .as_ref()
            .ok_or_else(|| arg_err(name, "EinsumDense layer called before build"))?;
        let s: PartialShape = x.shape().iter().map(|&d| Some(d)).collect();
        let a = self.analyze(&s)?;
        let kv = k.value();
        if a.kernel_shape != kv.shape() {
            return Err(shape_err(
                name,
                format!(
                    "input shape {} is incompatible with the layer: equation {:?} needs a kernel \
                     of shape {:?} for it, but the layer was built with kernel shape {:?}",
                    fmt_shape(&s),
                    self.equation,
                    a.kernel_shape,
                    kv.shape()
                ),
            ));
        }
        let mut y = ops::einsum(&self.equation, &[x.clone(), kv]).map_err(|e| {
            shape_err(
                name,
                format!(
                    "einsum {:?} failed on input shape {}: {e}",
                    self.equation,
                    fmt_shape(&s)
                ),
            )
        })?;
        if let Some(b) = &self.bias {
            y = ops::add(&y, b.value())?;
        }
        self.activation.apply(&y)
    }

    fn compute_output_shape(&self, s: &[Option<usize>]) -> Result<PartialShape> {
        Ok(self.analyze(s)?.output_shape)
    }

    fn get_config(&self) -> Value {
        config_with(
            self,
            json!({
                "output_shape": self.output_shape,
                "equation": self.equation,
                "activation": self.activation.name(),
                "bias_axes": self.bias_axes,
                "kernel_initializer": ser::initializer(&self.kernel_initializer),
                "bias_initializer": ser::initializer(&self.bias_initializer),
                "kernel_regularizer": ser::opt_regularizer(&self.kernel_regularizer),
                "bias_regularizer": ser::opt_regularizer(&self.bias_regularizer),
                "activity_regularizer": null,
                "kernel_constraint": ser::opt_constraint(&self.kernel_constraint),
                "bias_constraint": ser::opt_constraint(&self.bias_constraint),
                "quantization_config": null,
            }),
        )
    }
}
