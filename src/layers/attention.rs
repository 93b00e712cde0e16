//! `MultiHeadAttention` (`keras.layers.MultiHeadAttention`).

use super::core::{base_impl, config_with};
use super::einsum_dense::{EinsumDense, EinsumOutputShape};
use super::{fmt_shape, Layer, LayerBase, LayerRef};
use crate::error::{arg_err, shape_err};
use crate::initializers::Initializer;
use crate::random::{self, SeedGenerator};
use crate::regularizers::{Constraint, Regularizer};
use crate::saving::serialize as ser;
use crate::trace::PartialShape;
use crate::{ops, DType, Result, Tensor};
use serde_json::{json, Value};

/// Keras's `_build_proj_equation(free_dims, bound_dims, output_dims)`: the einsum
/// equation of a projection and its bias axes.
fn proj_equation(free: usize, bound: usize, out: usize) -> (String, String) {
    let letter = |i: usize| (b'a' + i as u8) as char;
    let free_s: String = (0..free).map(letter).collect();
    let bound_s: String = (free..free + bound).map(letter).collect();
    let out_s: String = (free + bound..free + bound + out).map(letter).collect();
    (
        format!("{free_s}{bound_s},{bound_s}{out_s}->{free_s}{out_s}"),
        out_s,
    )
}

/// Score equation for rank-4 projections attending over axis 1 (Keras's
/// `_build_attention_equation(4, (1,))`): `(B, S, N, H), (B, T, N, H) -> (B, N, T, S)`.
const DOT_PRODUCT_EQUATION: &str = "aecd,abcd->acbe";
/// `(B, N, T, S), (B, S, N, H) -> (B, T, N, H)`.
const COMBINE_EQUATION: &str = "acbe,aecd->abcd";

/// Per-call options of [`MultiHeadAttention::call_with`] (Keras's call arguments
/// beyond `query` and `value`).
#[derive(Clone, Default)]
pub struct AttentionOptions {
    /// The key (defaults to the value).
    pub key: Option<Tensor>,
    /// Which keys each query may attend to: `(batch, T, S)` (or broadcastable to
    /// it), nonzero / `true` = attend.
    pub attention_mask: Option<Tensor>,
    /// Mask out future positions (query `i` attends to keys `j <= i`).
    pub use_causal_mask: bool,
}

/// `keras.layers.MultiHeadAttention`: multi-head scaled dot-product attention
/// with learned projections.
///
/// Call with `call_multi(&[query, value])` or `call_multi(&[query, value, key])`
/// (the key defaults to the value); for self-attention pass the same tensor twice.
/// Inputs are `(batch, T, dim)` for the query and `(batch, S, dim')` for the value
/// and key; the output is `(batch, T, query_dim)`, or `(batch, T, *output_shape)`.
/// Attention masks, causal masks and the attention scores are available through
/// [`MultiHeadAttention::call_with`].
///
/// The projections are [`EinsumDense`] sublayers built as Keras builds them, in
/// Keras's weight order: `query` (kernel `(dim, heads, key_dim)`, bias
/// `(heads, key_dim)`, equation `"abc,cde->abde"`), `key`, `gate` (with `use_gate`),
/// `value` (`value_dim` instead of `key_dim`) and `attention_output` (kernel
/// `(heads, value_dim, out)`, bias `(out,)`, equation `"abcd,cde->abe"`). The query
/// is scaled by `1/sqrt(key_dim)`, the softmax runs over the keys, and in training
/// dropout (seeded like Keras-on-JAX's `Dropout` layer) is applied to the attention
/// probabilities.
///
/// Only the default `attention_axes` (axis 1 of rank-3 inputs) is supported; other
/// axes and other ranks are refused with an error.
///
/// ```
/// use ceras::layers::{Layer, MultiHeadAttention};
/// use ceras::ops;
/// let mut mha = MultiHeadAttention::new(2, 8);
/// let q = ops::ones(&[2, 3, 16], None).unwrap();
/// let v = ops::ones(&[2, 5, 4], None).unwrap();
/// let y = mha.forward_multi(&[q, v], false).unwrap();
/// assert_eq!(y[0].shape(), &[2, 3, 16]);
/// assert_eq!(mha.query_dense().unwrap().kernel().unwrap().shape(), &[16, 2, 8]);
/// assert_eq!(mha.weights().len(), 8);
/// ```
pub struct MultiHeadAttention {
    base: LayerBase,
    num_heads: usize,
    key_dim: usize,
    value_dim: Option<usize>,
    dropout: f64,
    use_bias: bool,
    output_shape: Option<Vec<Option<i64>>>,
    attention_axes: Option<Vec<i64>>,
    built_axes: Option<Vec<usize>>,
    sliding_window: Option<usize>,
    use_gate: bool,
    kernel_initializer: Initializer,
    bias_initializer: Initializer,
    kernel_regularizer: Option<Regularizer>,
    bias_regularizer: Option<Regularizer>,
    kernel_constraint: Option<Constraint>,
    bias_constraint: Option<Constraint>,
    seed: Option<u64>,
    gen: SeedGenerator,
    query_dense: Option<EinsumDense>,
    key_dense: Option<EinsumDense>,
    gate_dense: Option<EinsumDense>,
    value_dense: Option<EinsumDense>,
    output_dense: Option<EinsumDense>,
}

impl MultiHeadAttention {
    /// `MultiHeadAttention(num_heads, key_dim)` with Keras's defaults:
    /// `value_dim = key_dim`, no dropout, biases, output of the query's size,
    /// Glorot-uniform kernels, zero biases.
    pub fn new(num_heads: usize, key_dim: usize) -> MultiHeadAttention {
        MultiHeadAttention {
            base: LayerBase::new("MultiHeadAttention"),
            num_heads,
            key_dim,
            value_dim: None,
            dropout: 0.0,
            use_bias: true,
            output_shape: None,
            attention_axes: None,
            built_axes: None,
            sliding_window: None,
            use_gate: false,
            kernel_initializer: "glorot_uniform".into(),
            bias_initializer: "zeros".into(),
            kernel_regularizer: None,
            bias_regularizer: None,
            kernel_constraint: None,
            bias_constraint: None,
            seed: None,
            gen: SeedGenerator::random(),
            query_dense: None,
            key_dense: None,
            gate_dense: None,
            value_dense: None,
            output_dense: None,
        }
    }
    /// Size of each value head (default: `key_dim`).
    pub fn value_dim(mut self, d: usize) -> Self {
        self.value_dim = Some(d);
        self
    }
    /// Dropout rate on the attention probabilities (training only).
    pub fn dropout(mut self, rate: f64) -> Self {
        self.dropout = rate;
        self
    }
    /// Whether the projections have biases.
    pub fn use_bias(mut self, b: bool) -> Self {
        self.use_bias = b;
        self
    }
    /// Output dims after the batch and query-sequence dims (default: the query's
    /// last dim); an int or a list, as Keras's `output_shape`.
    pub fn output_shape(mut self, s: impl Into<EinsumOutputShape>) -> Self {
        self.output_shape = Some(s.into().0);
        self
    }
    /// Axes attention is applied over (Keras's `attention_axes`; only `[1]` or
    /// `[-2]`, the default, are supported).
    pub fn attention_axes(mut self, axes: &[i64]) -> Self {
        self.attention_axes = Some(axes.to_vec());
        self
    }
    /// Each query attends only to keys less than `w` positions away.
    pub fn sliding_window(mut self, w: usize) -> Self {
        self.sliding_window = Some(w);
        self
    }
    /// Gate the attention output with `sigmoid(query projection)` per head.
    pub fn use_gate(mut self, b: bool) -> Self {
        self.use_gate = b;
        self
    }
    weight_setters!(
        kernel_initializer,
        kernel_regularizer,
        kernel_constraint,
        "Kernel (of every projection)"
    );
    weight_setters!(
        bias_initializer,
        bias_regularizer,
        bias_constraint,
        "Bias (of every projection)"
    );
    /// Seed of the attention dropout.
    pub fn seed(mut self, s: u64) -> Self {
        self.seed = Some(s);
        self.gen = SeedGenerator::new(s);
        self
    }
    /// Number of heads.
    pub fn num_heads(&self) -> usize {
        self.num_heads
    }
    /// Size of each query/key head.
    pub fn key_dim(&self) -> usize {
        self.key_dim
    }
    /// Size of each value head.
    pub fn get_value_dim(&self) -> usize {
        self.value_dim.unwrap_or(self.key_dim)
    }
    /// The query projection (`query`), once built.
    pub fn query_dense(&self) -> Option<&EinsumDense> {
        self.query_dense.as_ref()
    }
    /// The key projection (`key`), once built.
    pub fn key_dense(&self) -> Option<&EinsumDense> {
        self.key_dense.as_ref()
    }
    /// The value projection (`value`), once built.
    pub fn value_dense(&self) -> Option<&EinsumDense> {
        self.value_dense.as_ref()
    }
    /// The gate projection (`gate`), once built with `use_gate`.
    pub fn gate_dense(&self) -> Option<&EinsumDense> {
        self.gate_dense.as_ref()
    }
    /// The output projection (`attention_output`), once built.
    pub fn output_dense(&self) -> Option<&EinsumDense> {
        self.output_dense.as_ref()
    }

    fn who(&self) -> String {
        format!("{} (MultiHeadAttention)", self.base.name())
    }

    /// An `EinsumDense` projection with the layer's initializers, regularizers and
    /// constraints (Keras's `_get_common_kwargs_for_sublayer`).
    fn projection(
        &self,
        equation: &str,
        shape: Vec<Option<usize>>,
        bias_axes: &str,
        name: &str,
    ) -> EinsumDense {
        let mut d = EinsumDense::new(equation, shape)
            .kernel_initializer(self.kernel_initializer.clone())
            .bias_initializer(self.bias_initializer.clone());
        if self.use_bias {
            d = d.bias_axes(bias_axes);
        }
        if let Some(r) = &self.kernel_regularizer {
            d = d.kernel_regularizer(r.clone());
        }
        if let Some(r) = &self.bias_regularizer {
            d = d.bias_regularizer(r.clone());
        }
        if let Some(c) = &self.kernel_constraint {
            d = d.kernel_constraint(c.clone());
        }
        if let Some(c) = &self.bias_constraint {
            d = d.bias_constraint(c.clone());
        }
        let mut d = d.named(name);
        d.base_mut().set_dtype(self.base.dtype());
        d
    }

    /// Checks the constructor arguments (Keras checks them in `__init__`).
    fn check_args(&self) -> Result<()> {
        let who = self.who();
        let positive = |what: &str, v: usize| -> Result<()> {
            if v == 0 {
                return Err(arg_err(
                    &who,
                    format!("received an invalid value for argument `{what}`: expected a positive integer, got 0"),
                ));
            }
            Ok(())
        };
        positive("num_heads", self.num_heads)?;
        positive("key_dim", self.key_dim)?;
        positive("value_dim", self.get_value_dim())?;
        if let Some(w) = self.sliding_window {
            positive("sliding_window", w)?;
        }
        if !(0.0..=1.0).contains(&self.dropout) {
            return Err(arg_err(
                &who,
                format!(
                    "invalid dropout rate {}: expected a value between 0 and 1",
                    self.dropout
                ),
            ));
        }
        self.output_dims()?;
        Ok(())
    }

    /// `output_shape` as sizes (an error unless every entry is positive).
    fn output_dims(&self) -> Result<Option<Vec<usize>>> {
        let Some(s) = &self.output_shape else {
            return Ok(None);
        };
        if s.is_empty() || s.iter().any(|d| !matches!(d, Some(d) if *d > 0)) {
            return Err(arg_err(
                &self.who(),
                format!("invalid `output_shape` {s:?}: expected positive sizes"),
            ));
        }
        Ok(Some(s.iter().flatten().map(|&d| d as usize).collect()))
    }

    /// The attention axes for rank-3 inputs (only `[1]` is supported).
    fn resolve_axes(&self) -> Result<Vec<usize>> {
        match &self.attention_axes {
            None => Ok(vec![1]),
            // Keras normalizes negative axes against the rank of the projections
            // (input rank + 1): `(rank - 1) + axis`.
            Some(a) => {
                let r: Vec<i64> = a.iter().map(|&x| if x >= 0 { x } else { 3 + x }).collect();
                if r == [1] {
                    Ok(vec![1])
                } else {
                    Err(arg_err(
                        &self.who(),
                        format!(
                            "attention_axes={a:?} is not supported: only attention over axis 1 \
                             (the sequence axis of (batch, sequence, features) inputs) is implemented"
                        ),
                    ))
                }
            }
        }
    }

    /// Checks that an input is `(batch, sequence, features)`.
    fn check_rank3(&self, what: &str, s: &[Option<usize>]) -> Result<()> {
        if s.len() != 3 {
            return Err(shape_err(
                &self.who(),
                format!(
                    "the {what} must have 3 dimensions (batch, sequence, features), got shape {} \
                     (only attention over axis 1 of rank-3 inputs is supported)",
                    fmt_shape(s)
                ),
            ));
        }
        if s[2].is_none() {
            return Err(shape_err(
                &self.who(),
                format!(
                    "the last dimension of the {what} must be known, got shape {}",
                    fmt_shape(s)
                ),
            ));
        }
        Ok(())
    }

    fn check_value_key(&self, value: &[Option<usize>], key: &[Option<usize>]) -> Result<()> {
        if value.len() >= 2 && key.len() >= 2 && value[1..value.len() - 1] != key[1..key.len() - 1]
        {
            return Err(shape_err(
                &self.who(),
                format!(
                    "all dimensions of `value` and `key`, except the last one, must be equal; got \
                     value shape {} and key shape {}",
                    fmt_shape(value),
                    fmt_shape(key)
                ),
            ));
        }
        Ok(())
    }

    /// Builds for these shapes (Keras's `build(query_shape, value_shape, key_shape)`).
    fn build_for(
        &mut self,
        query: &[Option<usize>],
        value: &[Option<usize>],
        key: &[Option<usize>],
    ) -> Result<()> {
        self.check_args()?;
        self.check_value_key(value, key)?;
        self.check_rank3("query", query)?;
        self.check_rank3("value", value)?;
        self.check_rank3("key", key)?;
        let axes = self.resolve_axes()?;
        let (n, k, v) = (self.num_heads, self.key_dim, self.get_value_dim());
        let (eq, bias) = proj_equation(2, 1, 2);
        let mut qd = self.projection(&eq, vec![None, Some(n), Some(k)], &bias, "query");
        qd.maybe_build(query)?;
        let mut kd = self.projection(&eq, vec![None, Some(n), Some(k)], &bias, "key");
        kd.maybe_build(key)?;
        let gd = if self.use_gate {
            let mut g = self
                .projection(&eq, vec![None, Some(n), Some(v)], &bias, "gate")
                .activation("sigmoid");
            g.maybe_build(query)?;
            Some(g)
        } else {
            None
        };
        let mut vd = self.projection(&eq, vec![None, Some(n), Some(v)], &bias, "value");
        vd.maybe_build(value)?;
        let out: Vec<usize> = match self.output_dims()? {
            Some(s) => s,
            None => vec![query[2].unwrap_or_default()],
        };
        let (oeq, obias) = proj_equation(2, 2, out.len());
        let oshape: Vec<Option<usize>> = std::iter::once(None)
            .chain(out.iter().map(|&d| Some(d)))
            .collect();
        let mut od = self.projection(&oeq, oshape, &obias, "attention_output");
        od.maybe_build(&[query[0], query[1], Some(n), Some(v)])?;
        self.query_dense = Some(qd);
        self.key_dense = Some(kd);
        self.gate_dense = gd;
        self.value_dense = Some(vd);
        self.output_dense = Some(od);
        self.built_axes = Some(axes);
        Ok(())
    }

    /// Keras's `call(query, value, key, attention_mask, use_causal_mask,
    /// return_attention_scores=True)` on a built layer: returns the output and the
    /// attention scores `(batch, heads, T, S)` (before dropout).
    ///
    /// ```
    /// use ceras::layers::{AttentionOptions, Layer, MultiHeadAttention};
    /// use ceras::ops;
    /// let mut mha = MultiHeadAttention::new(2, 4);
    /// let x = ops::ones(&[1, 3, 6], None).unwrap();
    /// mha.forward_multi(&[x.clone(), x.clone()], false).unwrap(); // builds
    /// let opts = AttentionOptions { use_causal_mask: true, ..Default::default() };
    /// let (y, scores) = mha.call_with(&x, &x, &opts, false).unwrap();
    /// assert_eq!(y.shape(), &[1, 3, 6]);
    /// assert_eq!(scores.shape(), &[1, 2, 3, 3]);
    /// // The first query sees only the first key.
    /// assert_eq!(scores.to_vec::<f32>().unwrap()[..3], [1.0, 0.0, 0.0]);
    /// ```
    pub fn call_with(
        &self,
        query: &Tensor,
        value: &Tensor,
        opts: &AttentionOptions,
        training: bool,
    ) -> Result<(Tensor, Tensor)> {
        let (out, scores) = self.attend(query, value, opts, training, true)?;
        let scores = scores
            .ok_or_else(|| arg_err(&self.who(), "internal: attention scores were not computed"))?;
        Ok((out, scores))
    }

    /// Keras's `call(query, value, key, attention_mask, use_causal_mask)` with
    /// `return_attention_scores=False` on a built layer: the output only. Without
    /// attention dropout this is `ops::dot_product_attention` (as in Keras),
    /// which rounds slightly differently from [`MultiHeadAttention::call_with`]'s
    /// einsum path.
    ///
    /// ```
    /// use ceras::layers::{AttentionOptions, Layer, MultiHeadAttention};
    /// use ceras::ops;
    /// let mut mha = MultiHeadAttention::new(2, 4);
    /// let x = ops::ones(&[1, 3, 6], None).unwrap();
    /// mha.forward_multi(&[x.clone(), x.clone()], false).unwrap(); // builds
    /// let opts = AttentionOptions { use_causal_mask: true, ..Default::default() };
    /// assert_eq!(mha.call_opts(&x, &x, &opts, false).unwrap().shape(), &[1, 3, 6]);
    /// ```
    pub fn call_opts(
        &self,
        query: &Tensor,
        value: &Tensor,
        opts: &AttentionOptions,
        training: bool,
    ) -> Result<Tensor> {
        Ok(self.attend(query, value, opts, training, false)?.0)
    }

    /// Keras's `call` → `_compute_attention`: without attention dropout and
    /// unless the scores are wanted, `ops::dot_product_attention` (as Keras
    /// does: its rounding, and the backend's fused kernel); else the einsum
    /// path with the query scaled first, returning the scores too.
    fn attend(
        &self,
        query: &Tensor,
        value: &Tensor,
        opts: &AttentionOptions,
        training: bool,
        want_scores: bool,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let who = self.who();
        let (Some(qd), Some(kd), Some(vd), Some(od)) = (
            &self.query_dense,
            &self.key_dense,
            &self.value_dense,
            &self.output_dense,
        ) else {
            return Err(arg_err(&who, "MultiHeadAttention called before build"));
        };
        let key = opts.key.as_ref().unwrap_or(value);
        let shape = |t: &Tensor| -> PartialShape { t.shape().iter().map(|&d| Some(d)).collect() };
        let (qs, vs, ks) = (shape(query), shape(value), shape(key));
        self.check_value_key(&vs, &ks)?;
        self.check_rank3("query", &qs)?;
        self.check_rank3("value", &vs)?;
        self.check_rank3("key", &ks)?;
        let dims = |d: &EinsumDense| d.kernel().map(|k| k.shape()[0]).unwrap_or_default();
        for (what, s, d) in [("query", &qs, qd), ("value", &vs, vd), ("key", &ks, kd)] {
            if s[2] != Some(dims(d)) {
                return Err(shape_err(
                    &who,
                    format!(
                        "{what} shape {} is incompatible with the layer: expected last dimension {}",
                        fmt_shape(s),
                        dims(d)
                    ),
                ));
            }
        }
        if query.shape()[0] != value.shape()[0] || key.shape()[0] != value.shape()[0] {
            return Err(shape_err(
                &who,
                format!(
                    "query, value and key must have the same batch size, got shapes {}, {} and {}",
                    fmt_shape(&qs),
                    fmt_shape(&vs),
                    fmt_shape(&ks)
                ),
            ));
        }
        let gate = match &self.gate_dense {
            Some(g) => Some(g.call(query, false)?),
            None => None,
        };
        let q = qd.call(query, training)?;
        let k = kd.call(key, training)?;
        let v = vd.call(value, training)?;
        let (t, s) = (query.shape()[1], value.shape()[1]);
        let scale = 1.0 / (self.key_dim as f64).sqrt();
        if !(self.dropout > 0.0 || want_scores) {
            // A causal mask alone goes as `is_causal` (Keras: the backend's
            // causal kernel); the same logits are masked either way.
            let only_causal = opts.use_causal_mask
                && opts.attention_mask.is_none()
                && self.sliding_window.is_none();
            let mut o = ops::AttentionOptions::new()
                .scale(scale)
                .is_causal(only_causal);
            if !only_causal {
                if let Some(m) = self.attention_mask(opts, t, s)? {
                    o = o.mask(&m);
                }
            }
            let mut out = ops::dot_product_attention(&q, &k, &v, &o)?;
            if let Some(g) = gate {
                out = ops::multiply(&out, &g)?;
            }
            return Ok((od.call(&out, training)?, None));
        }
        let q = ops::multiply(&q, scale)?;
        let scores = ops::einsum(DOT_PRODUCT_EQUATION, &[k, q])?;
        let mask = self.attention_mask(opts, t, s)?;
        let probs = match &mask {
            None => ops::softmax(&scores, -1)?,
            Some(m) => {
                // keras.layers.Softmax with a mask.
                let x = ops::r#where(m, &scores, -1e9)?;
                let p = ops::softmax(&x, -1)?;
                ops::r#where(m, &p, 0.0)?
            }
        };
        let dropped = if training && self.dropout > 0.0 {
            random::dropout(&probs, self.dropout, None, &self.gen)?
        } else {
            probs.clone()
        };
        let mut out = ops::einsum(COMBINE_EQUATION, &[dropped, v])?;
        if let Some(g) = gate {
            out = ops::multiply(&out, &g)?;
        }
        Ok((od.call(&out, training)?, Some(probs)))
    }

    /// [`MultiHeadAttention::call_with`], building the layer first if needed.
    pub fn forward_with(
        &mut self,
        query: &Tensor,
        value: &Tensor,
        opts: &AttentionOptions,
        training: bool,
    ) -> Result<(Tensor, Tensor)> {
        let shape = |t: &Tensor| -> PartialShape { t.shape().iter().map(|&d| Some(d)).collect() };
        let mut shapes = vec![shape(query), shape(value)];
        if let Some(k) = &opts.key {
            shapes.push(shape(k));
        }
        self.maybe_build_multi(&shapes)?;
        let dt = self.base.dtype();
        let cast = |t: &Tensor| -> Result<Tensor> {
            if t.dtype().is_float() && t.dtype() != dt {
                ops::cast(t, dt)
            } else {
                Ok(t.clone())
            }
        };
        let opts = AttentionOptions {
            key: opts.key.as_ref().map(cast).transpose()?,
            ..opts.clone()
        };
        self.call_with(&cast(query)?, &cast(value)?, &opts, training)
    }

    /// The combined boolean mask `(batch or 1, T, S)` expanded to the scores' rank,
    /// or `None` (Keras's `_compute_attention_mask` and `_masked_softmax`).
    fn attention_mask(
        &self,
        opts: &AttentionOptions,
        t: usize,
        s: usize,
    ) -> Result<Option<Tensor>> {
        let mut auto: Option<Tensor> = None;
        let mut and = |m: Tensor| -> Result<()> {
            auto = Some(match auto.take() {
                None => m,
                Some(a) => ops::logical_and(&a, &m)?,
            });
            Ok(())
        };
        let band = |keep: &dyn Fn(usize, usize) -> bool| -> Result<Tensor> {
            let v: Vec<bool> = (0..t * s).map(|i| keep(i / s, i % s)).collect();
            Tensor::from_vec(v, [1, t, s])
        };
        if opts.use_causal_mask {
            and(band(&|i, j| i >= j)?)?;
        }
        if let Some(w) = self.sliding_window {
            and(band(&|i, j| i.abs_diff(j) < w)?)?;
        }
        let user = match &opts.attention_mask {
            Some(m) => {
                if m.ndim() > 3 || m.ndim() < 2 {
                    return Err(shape_err(
                        &self.who(),
                        format!(
                            "the attention mask must be (batch, T, S) = (batch, {t}, {s}) or \
                             broadcastable to it, got shape {:?}",
                            m.shape()
                        ),
                    ));
                }
                Some(ops::cast(m, DType::Bool)?)
            }
            None => None,
        };
        let mut mask = match (user, auto) {
            (None, None) => return Ok(None),
            (Some(u), None) => u,
            (None, Some(a)) => a,
            (Some(u), Some(a)) => ops::logical_and(&u, &a)?,
        };
        while mask.ndim() < 4 {
            mask = ops::expand_dims(&mask, &[-3])?;
        }
        Ok(Some(mask))
    }
}

impl Layer for MultiHeadAttention {
    base_impl!("MultiHeadAttention");

    /// Builds for self-attention on inputs of this shape.
    fn build(&mut self, input_shape: &[Option<usize>]) -> Result<()> {
        self.build_for(input_shape, input_shape, input_shape)
    }

    fn build_multi(&mut self, input_shapes: &[PartialShape]) -> Result<()> {
        match input_shapes {
            [q, v] => self.build_for(q, v, v),
            [q, v, k] => self.build_for(q, v, k),
            _ => Err(arg_err(
                &self.who(),
                format!(
                    "expects 2 inputs [query, value] or 3 [query, value, key], got {} inputs",
                    input_shapes.len()
                ),
            )),
        }
    }

    fn call(&self, _x: &Tensor, _training: bool) -> Result<Tensor> {
        Err(arg_err(
            &self.who(),
            "expects 2 inputs [query, value] or 3 [query, value, key]: use call_multi / \
             forward_multi / apply_multi (for self-attention pass the same tensor twice)",
        ))
    }

    fn call_multi(&self, xs: &[Tensor], training: bool) -> Result<Vec<Tensor>> {
        let (q, v, key) = match xs {
            [q, v] => (q, v, None),
            [q, v, k] => (q, v, Some(k.clone())),
            _ => {
                return Err(arg_err(
                    &self.who(),
                    format!(
                        "expects 2 inputs [query, value] or 3 [query, value, key], got {} inputs",
                        xs.len()
                    ),
                ))
            }
        };
        let opts = AttentionOptions {
            key,
            ..Default::default()
        };
        Ok(vec![self.attend(q, v, &opts, training, false)?.0])
    }

    fn sublayers(&self) -> Vec<LayerRef<'_>> {
        [
            &self.query_dense,
            &self.key_dense,
            &self.gate_dense,
            &self.value_dense,
            &self.output_dense,
        ]
        .into_iter()
        .flatten()
        .map(LayerRef::from)
        .collect()
    }

    fn sublayers_mut(&mut self) -> Vec<&mut dyn Layer> {
        [
            &mut self.query_dense,
            &mut self.key_dense,
            &mut self.gate_dense,
            &mut self.value_dense,
            &mut self.output_dense,
        ]
        .into_iter()
        .flatten()
        .map(|d| d as &mut dyn Layer)
        .collect()
    }

    /// The output shape for a query of this shape (Keras's
    /// `compute_output_shape(query_shape, value_shape)`: the query's shape with the
    /// last dim replaced by `output_shape` when set).
    fn compute_output_shape(&self, query_shape: &[Option<usize>]) -> Result<PartialShape> {
        self.check_rank3("query", query_shape)?;
        let mut s = query_shape[..2].to_vec();
        match self.output_dims()? {
            Some(o) => s.extend(o.into_iter().map(Some)),
            None => s.push(query_shape[2]),
        }
        Ok(s)
    }

    fn get_config(&self) -> Value {
        let axes = match (&self.built_axes, &self.attention_axes) {
            (Some(b), _) => json!(b),
            (None, Some(a)) => json!(a),
            (None, None) => Value::Null,
        };
        config_with(
            self,
            json!({
                "num_heads": self.num_heads,
                "key_dim": self.key_dim,
                "value_dim": self.get_value_dim(),
                "dropout": self.dropout,
                "use_bias": self.use_bias,
                "use_gate": self.use_gate,
                "output_shape": self.output_shape,
                "attention_axes": axes,
                "sliding_window": self.sliding_window,
                "kernel_initializer": ser::initializer(&self.kernel_initializer),
                "bias_initializer": ser::initializer(&self.bias_initializer),
                "kernel_regularizer": ser::opt_regularizer(&self.kernel_regularizer),
                "bias_regularizer": ser::opt_regularizer(&self.bias_regularizer),
                "activity_regularizer": null,
                "kernel_constraint": ser::opt_constraint(&self.kernel_constraint),
                "bias_constraint": ser::opt_constraint(&self.bias_constraint),
                "seed": self.seed,
            }),
        )
    }
}
