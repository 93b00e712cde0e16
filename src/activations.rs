//! `keras.activations`: every activation by its Keras name, or a closure.
//!
//! ```
//! use ceras::{activations::Activation, Tensor};
//! let relu = Activation::from("relu");
//! let y = relu.apply(&Tensor::from_vec(vec![-1.0f32, 2.0], [2]).unwrap()).unwrap();
//! assert_eq!(y.to_vec::<f32>().unwrap(), vec![0.0, 2.0]);
//! ```

use crate::error::arg_err;
use crate::{ops, Result, Tensor};
use std::sync::Arc;

/// Names accepted by [`Activation::from`] (Keras's `keras.activations` names).
pub const NAMES: &[&str] = &[
    "linear",
    "relu",
    "relu6",
    "elu",
    "selu",
    "celu",
    "gelu",
    "glu",
    "sigmoid",
    "hard_sigmoid",
    "hard_silu",
    "hard_swish",
    "silu",
    "swish",
    "tanh",
    "tanh_shrink",
    "hard_tanh",
    "hard_shrink",
    "soft_shrink",
    "softmax",
    "log_softmax",
    "softplus",
    "softsign",
    "sparse_plus",
    "sparse_sigmoid",
    "sparsemax",
    "squareplus",
    "exponential",
    "leaky_relu",
    "log_sigmoid",
    "mish",
    "threshold",
];

type Func = Arc<dyn Fn(&Tensor) -> Result<Tensor> + Send + Sync>;

/// An activation: a Keras name (`"relu"`) or a custom function.
#[derive(Clone)]
pub enum Activation {
    /// A built-in activation by its Keras name (validated when applied or checked).
    Named(String),
    /// A user function, with a name for summaries and configs.
    Custom(String, Func),
}

impl std::fmt::Debug for Activation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Activation({})", self.name())
    }
}

impl Default for Activation {
    fn default() -> Self {
        Activation::Named("linear".into())
    }
}

impl From<&str> for Activation {
    fn from(s: &str) -> Self {
        Activation::Named(s.to_string())
    }
}

impl From<String> for Activation {
    fn from(s: String) -> Self {
        Activation::Named(s)
    }
}

impl<F: Fn(&Tensor) -> Result<Tensor> + Send + Sync + 'static> From<F> for Activation {
    fn from(f: F) -> Self {
        Activation::Custom("custom".into(), Arc::new(f))
    }
}

impl Activation {
    /// A named custom activation.
    pub fn custom(
        name: &str,
        f: impl Fn(&Tensor) -> Result<Tensor> + Send + Sync + 'static,
    ) -> Activation {
        Activation::Custom(name.into(), Arc::new(f))
    }

    /// The Keras name (`"linear"` for none).
    pub fn name(&self) -> &str {
        match self {
            Activation::Named(n) => n,
            Activation::Custom(n, _) => n,
        }
    }

    /// Checks that a named activation exists (error names `who`, e.g. the layer).
    pub fn check(&self, who: &str) -> Result<()> {
        match self {
            Activation::Named(n) if !NAMES.contains(&canonical(n)) => Err(arg_err(
                who,
                format!(
                    "unknown activation '{n}'; expected one of {}",
                    NAMES.join(", ")
                ),
            )),
            _ => Ok(()),
        }
    }

    /// True for `linear` (identity).
    pub fn is_linear(&self) -> bool {
        matches!(self, Activation::Named(n) if canonical(n) == "linear")
    }

    /// Applies the activation to `x + bias`, for a `bias` along the last axis
    /// (a Dense or channels-last convolution layer's epilogue): `relu` takes the
    /// one-pass [`ops::bias_relu`], everything else `apply(x + bias)`.
    pub fn apply_with_bias(&self, x: &Tensor, bias: &Tensor) -> Result<Tensor> {
        match self {
            Activation::Named(n) if canonical(n) == "relu" => ops::bias_relu(x, bias),
            _ => self.apply(&ops::add(x, bias)?),
        }
    }

    /// Applies the activation.
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Activation::Custom(_, f) => f(x),
            Activation::Named(n) => apply_named(canonical(n), x),
        }
    }
}

fn canonical(n: &str) -> &str {
    match n {
        "None" | "none" | "" => "linear",
        other => other,
    }
}

fn apply_named(name: &str, x: &Tensor) -> Result<Tensor> {
    use ops::*;
    match name {
        "linear" => Ok(x.clone()),
        "relu" => relu(x),
        "relu6" => relu6(x),
        "elu" => elu(x, 1.0),
        "selu" => selu(x),
        "celu" => celu(x, 1.0),
        "gelu" => gelu(x, false),
        "glu" => glu(x, -1),
        "sigmoid" => sigmoid(x),
        "hard_sigmoid" => hard_sigmoid(x),
        "hard_silu" | "hard_swish" => hard_silu(x),
        "silu" | "swish" => silu(x),
        "tanh" => tanh(x),
        "tanh_shrink" => tanh_shrink(x),
        "hard_tanh" => hard_tanh(x),
        "hard_shrink" => hard_shrink(x, 0.5),
        "soft_shrink" => soft_shrink(x, 0.5),
        "softmax" => softmax(x, -1),
        "log_softmax" => log_softmax(x, -1),
        "softplus" => softplus(x),
        "softsign" => softsign(x),
        "sparse_plus" => sparse_plus(x),
        "sparse_sigmoid" => sparse_sigmoid(x),
        "sparsemax" => sparsemax(x, -1),
        "squareplus" => squareplus(x, 4.0),
        "exponential" => exp(x),
        // keras.activations.leaky_relu: negative_slope=0.2.
        "leaky_relu" => leaky_relu(x, 0.2),
        "log_sigmoid" => log_sigmoid(x),
        // mish(x) = x * tanh(softplus(x)).
        "mish" => multiply(x, tanh(softplus(x)?)?),
        // keras.activations.threshold needs explicit arguments; the name alone is
        // threshold=0, default_value=0.
        "threshold" => threshold(x, 0.0, 0.0),
        other => Err(arg_err(
            "activation",
            format!(
                "unknown activation '{other}'; expected one of {}",
                NAMES.join(", ")
            ),
        )),
    }
}
