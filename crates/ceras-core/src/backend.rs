//! The `Backend` trait, backend-owned buffers, and run-time backend selection.
//!
//! A backend implements the primitives of [`Prim`] on its own storage. Backends
//! register themselves with [`inventory`] (`inventory::submit!`), so this crate
//! never names a concrete backend; the process picks one, once, on first use
//! (see [`crate::config`]).

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::prim::{Prim, Spec};
use crate::storage::HostData;
use std::any::Any;
use std::fmt::Debug;
use std::sync::{Arc, OnceLock};

/// Backend-owned storage for one tensor. Cheap to share via [`BufferRef`].
pub trait Buffer: Send + Sync + Debug + Any {
    /// Upcast for downcasting to the backend's concrete buffer type.
    fn as_any(&self) -> &dyn Any;
}

/// A shared, immutable reference to backend storage.
pub type BufferRef = Arc<dyn Buffer>;

/// One operand of a primitive: storage plus its shape and dtype.
#[derive(Clone, Copy, Debug)]
pub struct Operand<'a> {
    /// Storage.
    pub buf: &'a BufferRef,
    /// Shape.
    pub shape: &'a [usize],
    /// Dtype.
    pub dtype: DType,
}

/// Optional fused fast paths a backend may offer. Each has a primitive
/// decomposition in `ops`, used when the backend returns `None`, under tracing and
/// when gradients are recorded.
#[derive(Clone, Debug, PartialEq)]
pub enum Fused {
    /// Softmax along one axis.
    Softmax {
        /// Axis.
        axis: usize,
    },
    /// Log-softmax along one axis.
    LogSoftmax {
        /// Axis.
        axis: usize,
    },
    /// Layer normalization over the last `dims` dimensions: operands `x`, then
    /// `gamma` and `beta` when present (each of the normalized shape).
    LayerNorm {
        /// How many trailing dimensions are normalized.
        dims: usize,
        /// Added to the variance.
        epsilon: f64,
        /// Whether a scale operand follows `x`.
        gamma: bool,
        /// Whether an offset operand follows.
        beta: bool,
    },
    /// Scaled dot-product attention without mask or bias, operands `q, k, v` in
    /// Keras's `(batch, seq, heads, head_dim)` layout with equal head counts.
    Attention {
        /// Logit scale.
        scale: f64,
        /// Lower-triangular (top-left aligned) mask.
        causal: bool,
    },
    /// Layer normalization of a float32 `x` over its last axis, bit-identical to
    /// the decomposition `ops::layer_normalization` records (moments, `rsqrt`,
    /// scale and offset as the same backend runs them): operands `x`, then
    /// `gamma` and `beta` vectors when present; outputs `y`, the mean and
    /// `rsqrt(var + ε)` (each `(..., 1)`, kept for the VJP).
    LayerNormLast {
        /// Added to the variance.
        epsilon: f64,
        /// Whether a scale operand follows `x`.
        gamma: bool,
        /// Whether an offset operand follows.
        beta: bool,
    },
    /// The closed-form VJP of [`Fused::LayerNormLast`]: operands `x`, the
    /// mean, `rsqrt(var + ε)`, the cotangent `dy` and `gamma` when present;
    /// outputs `dx` and, with a gamma, `dy·x̂` (summed into gamma's cotangent by
    /// the caller), bit-identical to that decomposition in `ops`.
    LayerNormLastGrad {
        /// Whether a scale operand follows `dy`.
        gamma: bool,
    },
    /// Float32 scaled dot-product attention, bit-identical to the decomposition
    /// `ops::dot_product_attention` records without bias, mask or grouped
    /// heads (as the same backend runs it): operands `q (B, T, N, H)`,
    /// `k (B, S, N, H)`, `v (B, S, N, Hv)`; outputs the result `(B, T, N, Hv)`
    /// and the probabilities `(B, N, T, S)` (kept for the VJP). One pass per
    /// head while its `T x S` logits are in cache, no transposes.
    DotProductAttention {
        /// Logit scale.
        scale: f64,
        /// Keys after the query masked out (top-left aligned).
        causal: bool,
    },
    /// The closed-form VJP of [`Fused::DotProductAttention`]: operands `q, k,
    /// v`, the probabilities and the output's cotangent; outputs the
    /// cotangents of `q, k, v`, bit-identical to that decomposition in
    /// `ops::dot_product_attention` (`DotGeneral`s, the softmax VJP, `Mul`,
    /// `Transpose`).
    DotProductAttentionGrad {
        /// Logit scale.
        scale: f64,
        /// Keys after the query masked out (top-left aligned).
        causal: bool,
    },
    /// One Adam step (Keras's rule, without amsgrad) on equal-shape operands
    /// `var, m, v, g` and a scalar `alpha` = lr·√(1-β₂ᵗ)/(1-β₁ᵗ), all of one
    /// dtype. Outputs the new `var, m, v`, computed exactly as the decomposition
    /// rounds them: `m + (g-m)·(1-β₁)`, `v + (g·g-v)·(1-β₂)`,
    /// `var - (m'·alpha)/(√v' + ε)` — one pass instead of twelve.
    Adam {
        /// β₁.
        beta_1: f64,
        /// β₂.
        beta_2: f64,
        /// ε.
        epsilon: f64,
    },
    /// Threefry-2x32 (20 rounds) on equal-shape `uint32` operands `k0, k1, x0,
    /// x1`: outputs `y0, y1`, each element pair
    /// [`threefry2x32_block`](crate::random::threefry2x32_block)`([k0, k1], [x0, x1])`,
    /// bit-identical to the primitive decomposition in [`crate::random`].
    Threefry2x32,
    /// `max(x + b, 0)` for `x` of any rank and a bias `b` along its last axis,
    /// both of one float dtype: a layer's bias + ReLU epilogue in one pass,
    /// bit-identical to the decomposition (`Broadcast`, `Add`, `Max` with zeros).
    /// With `x` as the only operand, `max(x, 0)` (ReLU without a bias).
    BiasRelu,
    /// Softmax of a float tensor along its last axis, bit-identical to the
    /// decomposition `ops::softmax` records (`Reduce Max`, `Sub`, `Exp`,
    /// `Reduce Sum`, `Div`) as the same backend would run it; one operand.
    SoftmaxLast,
    /// The VJP of [`Fused::SoftmaxLast`]: operands `y` (its output) and the
    /// cotangent `g`, output `y * (g - sum(g * y))` along the last axis,
    /// bit-identical to that decomposition (`Mul`, `Reduce Sum`, `Sub`, `Mul`).
    SoftmaxLastGrad,
    /// An LSTM cell's gates with Keras's default activations: operands `z`
    /// `(batch, 4·units)` (the pre-activations of the gates i, f, g, o) and
    /// the cell state `c` `(batch, units)`, both of one float dtype; outputs
    /// `h = σ(o)·tanh(c')` and `c' = σ(f)·c + σ(i)·tanh(g)`, bit-identical to
    /// the decomposition in `ops::lstm_cell`.
    LstmCell,
    /// The VJP of [`Fused::LstmCell`]: operands `z`, `c`, `c'` and the
    /// cotangents of `h` and `c'`; outputs the cotangents of `z` and `c`,
    /// bit-identical to the decomposition in `ops::lstm_cell`.
    LstmCellGrad,
}

/// An execution engine for the primitives. Object-safe.
pub trait Backend: Send + Sync {
    /// The backend's name (`"cpu"`, `"torch"`, `"jax"`).
    fn name(&self) -> &'static str;
    /// Moves host data into backend storage.
    #[allow(clippy::wrong_self_convention)] // a constructor on the backend object, by design
    fn from_host(&self, data: HostData, shape: &[usize]) -> Result<BufferRef>;
    /// Copies backend storage out to the host.
    fn to_host(&self, buf: &BufferRef, shape: &[usize], dtype: DType) -> Result<HostData>;
    /// Executes one primitive. `outs` are the output specs already computed by
    /// [`Prim::infer`], so a backend need not repeat shape logic.
    fn execute(&self, prim: &Prim, inputs: &[Operand<'_>], outs: &[Spec])
        -> Result<Vec<BufferRef>>;
    /// A fused fast path, or `None` to use the primitive decomposition.
    fn fused(
        &self,
        _op: &Fused,
        _inputs: &[Operand<'_>],
        _outs: &[Spec],
    ) -> Option<Result<Vec<BufferRef>>> {
        None
    }
}

/// Checks what every [`Backend::execute`] must: the primitive's operand count
/// and at least one output spec. Backends call it first.
pub fn check_execute_args(prim: &Prim, inputs: &[Operand<'_>], outs: &[Spec]) -> Result<()> {
    let op = prim.name();
    match prim.arity() {
        Some(n) if inputs.len() != n => {
            return Err(crate::error::arg_err(
                op,
                format!("expected {n} operands, got {}", inputs.len()),
            ))
        }
        None if inputs.is_empty() => {
            return Err(crate::error::arg_err(op, "need at least one operand"))
        }
        _ => {}
    }
    if outs.is_empty() {
        return Err(crate::error::arg_err(op, "missing output spec"));
    }
    Ok(())
}

/// A backend's entry in the registry, submitted with `inventory::submit!`.
pub struct BackendRegistration {
    /// Name (`"cpu"`).
    pub name: &'static str,
    /// Constructor.
    pub make: fn() -> Result<Arc<dyn Backend>>,
}

inventory::collect!(BackendRegistration);

/// Names of the backends compiled into this binary.
pub fn available_backends() -> Vec<&'static str> {
    let mut v: Vec<_> = inventory::iter::<BackendRegistration>
        .into_iter()
        .map(|r| r.name)
        .collect();
    v.sort();
    v
}

/// Maps a Keras backend name to a ceras backend name, with the cargo feature it needs.
pub fn canonical_backend(name: &str) -> Result<(&'static str, &'static str)> {
    match name.trim().to_ascii_lowercase().as_str() {
        "cpu" | "numpy" => Ok(("cpu", "cpu")),
        "torch" | "pytorch" => Ok(("torch", "torch")),
        "jax" | "xla" => Ok(("jax", "jax")),
        "tensorflow" => Err(Error::Backend(
            "the \"tensorflow\" backend is not available in ceras; use \"cpu\", \"torch\" or \"jax\"".into(),
        )),
        other => Err(Error::Backend(format!(
            "unknown backend {other:?}; expected one of \"cpu\" (alias \"numpy\"), \"torch\", \"jax\""
        ))),
    }
}

/// Instantiates a backend by (Keras) name.
pub fn make_backend(name: &str) -> Result<Arc<dyn Backend>> {
    let (canon, feature) = canonical_backend(name)?;
    for r in inventory::iter::<BackendRegistration> {
        if r.name == canon {
            return (r.make)();
        }
    }
    Err(Error::Backend(format!(
        "backend {canon:?} is not compiled into this binary (compiled in: {:?}); \
         enable the cargo feature \"{feature}\" of the `ceras` crate",
        available_backends()
    )))
}

static BACKEND: OnceLock<Arc<dyn Backend>> = OnceLock::new();

/// Fixes the process backend (first call wins). Used by [`crate::config::set_backend`].
pub(crate) fn install(b: Arc<dyn Backend>) -> std::result::Result<(), Arc<dyn Backend>> {
    BACKEND.set(b)
}

/// True once the backend has been chosen.
pub fn is_initialized() -> bool {
    BACKEND.get().is_some()
}

/// The process backend, choosing it on first use: `config::set_backend`, else
/// `KERAS_BACKEND`, else `~/.keras/keras.json`, else `cpu`.
pub fn current() -> Result<&'static Arc<dyn Backend>> {
    if let Some(b) = BACKEND.get() {
        return Ok(b);
    }
    let name = crate::config::requested_backend();
    let b = make_backend(&name)?;
    let _ = BACKEND.set(b);
    Ok(BACKEND.get().expect("backend just set"))
}
