//! `keras.ops.nn`: activations, softmax, one-hot encodings, normalization,
//! attention and space/depth rearrangements. Convolutions are in
//! [`conv`](super::conv), pooling in [`pool`](super::pool), losses in
//! [`losses`](super::losses).
//!
//! Formulas follow Keras's JAX backend (`jax.nn`). Integer inputs of float
//! activations are computed in `floatx`; `float16` / `bfloat16` inputs are computed in
//! `float32` and rounded once at the end, as XLA does on CPU.

use super::*;
use crate::config::DataFormat;
use crate::dtype::DType;
use crate::error::{shape_err, unsupported};
use crate::shape::norm_axis;

/// An `axis` argument that may be one axis, several axes, or all axes (Python
/// `None`), as `softmax` and `log_softmax` accept.
///
/// ```
/// use ceras::ops::AxisArg;
/// assert_eq!(AxisArg::from(-1), AxisArg::Axes(vec![-1]));
/// assert_eq!(AxisArg::from([0, 1]), AxisArg::Axes(vec![0, 1]));
/// assert_eq!(AxisArg::from(None::<i64>), AxisArg::All);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AxisArg {
    /// Every axis (Keras `axis=None`).
    All,
    /// The given axes (negative values count from the end).
    Axes(Vec<i64>),
}

macro_rules! axis_from {
    ($($t:ty),*) => {$(
        impl From<$t> for AxisArg {
            fn from(a: $t) -> AxisArg {
                AxisArg::Axes(vec![a as i64])
            }
        }
        impl From<Option<$t>> for AxisArg {
            fn from(a: Option<$t>) -> AxisArg {
                match a {
                    None => AxisArg::All,
                    Some(a) => AxisArg::Axes(vec![a as i64]),
                }
            }
        }
        impl<const N: usize> From<[$t; N]> for AxisArg {
            fn from(a: [$t; N]) -> AxisArg {
                AxisArg::Axes(a.iter().map(|&v| v as i64).collect())
            }
        }
        impl From<&[$t]> for AxisArg {
            fn from(a: &[$t]) -> AxisArg {
                AxisArg::Axes(a.iter().map(|&v| v as i64).collect())
            }
        }
        impl From<Option<&[$t]>> for AxisArg {
            fn from(a: Option<&[$t]>) -> AxisArg {
                match a {
                    None => AxisArg::All,
                    Some(a) => a.into(),
                }
            }
        }
        impl From<Vec<$t>> for AxisArg {
            fn from(a: Vec<$t>) -> AxisArg {
                AxisArg::Axes(a.iter().map(|&v| v as i64).collect())
            }
        }
    )*};
}
axis_from!(i32, i64);

impl AxisArg {
    /// Sorted, normalized axes for a tensor of `rank`.
    pub(crate) fn resolve(&self, op: &str, rank: usize) -> Result<Vec<i64>> {
        let mut v = match self {
            AxisArg::All => (0..rank).collect(),
            AxisArg::Axes(a) => crate::shape::norm_axes(op, a, rank)?,
        };
        v.sort();
        Ok(v.into_iter().map(|a| a as i64).collect())
    }
}

/// Compute dtype for a result dtype: half types are computed in `float32`.
pub(crate) fn compute_dtype(d: DType) -> DType {
    if matches!(d, DType::F16 | DType::BF16) {
        DType::F32
    } else {
        d
    }
}

/// Runs `f` on `x` in its float compute dtype and casts the result to Keras's result
/// dtype (`x`'s float dtype, `floatx` for integers).
fn float_act(x: impl IntoTensor, f: impl FnOnce(&Tensor) -> Result<Tensor>) -> Result<Tensor> {
    let x = x.into_tensor()?;
    let out = float_dtype(&[&x]);
    let xc = lax::convert(&x, compute_dtype(out))?;
    let y = f(&xc)?;
    lax::convert(&y, out)
}

/// `max(x, 0)`; integer inputs stay integers.
///
/// The gradient is JAX's (`jax.nn.relu`'s custom JVP), PyTorch's and
/// TensorFlow's: the upstream gradient where `x > 0`, else 0 — also at exactly
/// 0, where `max`'s own rule would split it in half. It costs one comparison
/// and one select, instead of `max`'s tie handling.
///
/// ```
/// use ceras::{autodiff, ops, Tensor};
/// let x = Tensor::from_vec(vec![-1.0f32, 0.0, 2.0], [3]).unwrap();
/// assert_eq!(ops::relu(&x).unwrap().to_vec::<f32>().unwrap(), vec![0.0, 0.0, 2.0]);
/// let g = autodiff::grad(|xs| ops::sum(ops::relu(&xs[0])?, None, false), &[x]).unwrap();
/// assert_eq!(g[0].to_vec::<f32>().unwrap(), vec![0.0, 0.0, 1.0]);
/// ```
pub fn relu(x: impl IntoTensor) -> Result<Tensor> {
    let x = x.into_tensor()?.with_weak(false);
    if x.dtype() == DType::Bool || x.dtype().is_unsigned_int() {
        return Ok(x);
    }
    if !x.dtype().is_float() {
        let z = lax::zeros_like(&x)?;
        return lax::binary(BinaryOp::Max, &x, &z);
    }
    let out = crate::autodiff::custom_gradient(&[x], |xs| {
        let x = xs[0].clone();
        let y = relu_forward("relu", &[&x], || {
            lax::binary(BinaryOp::Max, &x, &lax::zeros_like(&x)?)
        })?;
        let vjp: crate::autodiff::VjpFn =
            std::rc::Rc::new(move |cts: &[Tensor]| Ok(vec![Some(relu_gate(&x, &cts[0])?)]));
        Ok((vec![y], vjp))
    })?;
    Ok(first(out))
}

/// The backend's one-pass ReLU kernel ([`Fused::BiasRelu`]) on `operands` (`x`,
/// or `x` and a bias), else `fallback` (the decomposition). Called inside a
/// `custom_gradient` forward, where the tapes are paused.
///
/// [`Fused::BiasRelu`]: crate::backend::Fused::BiasRelu
fn relu_forward(
    name: &str,
    operands: &[&Tensor],
    fallback: impl FnOnce() -> Result<Tensor>,
) -> Result<Tensor> {
    let spec = operands[0].spec().clone();
    let fused = try_fused_multi(
        name,
        &crate::backend::Fused::BiasRelu,
        operands,
        vec![spec],
        true,
    )?;
    match fused {
        Some(mut v) => Ok(v.swap_remove(0)),
        None => fallback(),
    }
}

/// ReLU's VJP: the cotangent `g` where `pre > 0`, else 0 (`pre` is the
/// pre-activation or the output: both are positive at the same places).
fn relu_gate(pre: &Tensor, g: &Tensor) -> Result<Tensor> {
    let z = lax::zeros_like(g)?;
    let pos = lax::compare(CmpOp::Gt, pre, &z)?;
    lax::select(&pos, g, &z)
}

/// The output of a one-output `custom_gradient`.
fn first(outs: Vec<Tensor>) -> Tensor {
    outs.into_iter()
        .next()
        .expect("custom_gradient returns one output per output")
}

/// `relu(x + bias)` for a `bias` along the last axis of `x` — a Dense or
/// channels-last convolution layer's bias and ReLU — with [`relu`]'s gradient.
/// Backends with a fused kernel compute it in one pass (the decomposition
/// materialises the broadcast bias and a zero tensor: four passes); the result
/// is bit-identical either way. Other shapes or dtypes are `relu(add(x, bias))`.
///
/// ```
/// use ceras::{ops, Tensor};
/// let x = Tensor::from_vec(vec![-1.0f32, 0.5, 2.0, -3.0], [2, 2]).unwrap();
/// let b = Tensor::from_vec(vec![0.5f32, -1.0], [2]).unwrap();
/// let y = ops::bias_relu(&x, &b).unwrap();
/// assert_eq!(y.to_vec::<f32>().unwrap(), vec![0.0, 0.0, 2.5, 0.0]);
/// ```
pub fn bias_relu(x: impl IntoTensor, bias: impl IntoTensor) -> Result<Tensor> {
    let x = x.into_tensor()?;
    let b = bias.into_tensor()?;
    let fits = x.dtype().is_float()
        && b.dtype() == x.dtype()
        && !x.is_weak()
        && !b.is_weak()
        && b.ndim() == 1
        && x.ndim() >= 1
        && x.shape()[x.ndim() - 1] == b.shape()[0];
    if !fits {
        return relu(add(&x, &b)?);
    }
    let out = crate::autodiff::custom_gradient(&[x, b], |xs| {
        let (x, b) = (&xs[0], &xs[1]);
        let y = relu_forward("bias_relu", &[x, b], || relu(add(x, b)?))?;
        let (yk, lead) = (y.clone(), x.ndim() - 1);
        let vjp: crate::autodiff::VjpFn = std::rc::Rc::new(move |cts: &[Tensor]| {
            let gx = relu_gate(&yk, &cts[0])?;
            let axes: Vec<i64> = (0..lead as i64).collect();
            let gb = sum(&gx, Some(&axes[..]), false)?;
            Ok(vec![Some(gx), Some(gb)])
        });
        Ok((vec![y], vjp))
    })?;
    Ok(first(out))
}

/// One step of an LSTM cell's gate arithmetic with Keras's default activations
/// (`recurrent_activation="sigmoid"`, `activation="tanh"`): from `z` of shape
/// `(batch, 4·units)` — the gates' pre-activations `x·W + h·U + b` in Keras's
/// order i, f, g, o — and the cell state `c` of `(batch, units)`, returns
/// `(h, c')` with `c' = σ(f)·c + σ(i)·tanh(g)` and `h = σ(o)·tanh(c')`.
///
/// A `custom_gradient`: its VJP is the chain rule written out once (instead of
/// autodiff through split, four activations and five products), and backends
/// with fused kernels run forward and VJP in one pass each, bit-identical to
/// the decompositions. Not a `keras.ops` name; the LSTM layer uses it.
///
/// ```
/// use ceras::{ops, Tensor};
/// let z = Tensor::from_vec(vec![0.0f32; 4], [1, 4]).unwrap();
/// let c = Tensor::from_vec(vec![1.0f32], [1, 1]).unwrap();
/// let (h, c2) = ops::lstm_cell(&z, &c).unwrap();
/// assert_eq!(c2.to_vec::<f32>().unwrap(), vec![0.5]); // σ(0)·1 + σ(0)·tanh(0)
/// assert!((h.to_vec::<f32>().unwrap()[0] - 0.5 * 0.5f32.tanh()).abs() < 1e-7);
/// ```
pub fn lstm_cell(z: impl IntoTensor, c: impl IntoTensor) -> Result<(Tensor, Tensor)> {
    let z = z.into_tensor()?;
    let c = c.into_tensor()?;
    let ok = c.ndim() == 2
        && z.ndim() == 2
        && z.shape()[0] == c.shape()[0]
        && z.shape()[1] == 4 * c.shape()[1];
    if !ok {
        return Err(shape_err(
            "lstm_cell",
            format!(
                "expected z of shape (batch, 4 * units) and c of (batch, units), got {:?} and {:?}",
                z.shape(),
                c.shape()
            ),
        ));
    }
    if !z.dtype().is_float() || z.dtype() != c.dtype() {
        return Err(crate::error::dtype_err(
            "lstm_cell",
            format!(
                "z and c must have one float dtype, got {} and {}",
                z.dtype(),
                c.dtype()
            ),
        ));
    }
    let out = crate::autodiff::custom_gradient(&[z, c], |xs| {
        let (z, c) = (xs[0].clone(), xs[1].clone());
        let (h, cn) = lstm_cell_forward(&z, &c)?;
        let cn_saved = cn.clone();
        let vjp: crate::autodiff::VjpFn = std::rc::Rc::new(move |cts: &[Tensor]| {
            // Under a recording tape (a higher-order gradient) c' is recomputed
            // from z and c, so that the tape sees how the VJP depends on them.
            let cn = if crate::autodiff::tape_active() {
                lstm_cell(&z, &c)?.1
            } else {
                cn_saved.clone()
            };
            let (dz, dc) = lstm_cell_vjp(&z, &c, &cn, &cts[0], &cts[1])?;
            Ok(vec![Some(dz), Some(dc)])
        });
        Ok((vec![h, cn], vjp))
    })?;
    let mut it = out.into_iter();
    match (it.next(), it.next()) {
        (Some(h), Some(c)) => Ok((h, c)),
        _ => Err(arg_err("lstm_cell", "expected two outputs")),
    }
}

/// What [`lstm_sequence`]'s forward pass keeps for its VJP, in processing
/// order: each step's pre-activations `z` and `h` before it, and every `c`
/// (`cs[i]` before step `i`, `cs[i + 1]` after it).
struct LstmTape {
    zs: Vec<Tensor>,
    h_prev: Vec<Tensor>,
    cs: Vec<Tensor>,
}

/// Options of [`lstm_sequence`].
#[derive(Debug, Clone, Copy, Default)]
pub struct LstmSequenceOptions {
    /// Process the steps last to first (Keras's `go_backwards`); outputs are in
    /// processing order.
    pub reverse: bool,
    /// Return every step's `h` as `(batch, time, units)` (else the last `h`).
    pub return_sequences: bool,
}

/// A whole LSTM recurrence with Keras's default activations (sigmoid gates,
/// tanh): for each step `z = xp[:, t] + h @ r (+ bias)`, then
/// `(h, c) = lstm_cell(z, c)`. Returns `(outputs, h, c)`: `outputs` is every
/// step's `h` stacked on axis 1 with `return_sequences`, else the last `h`.
///
/// `xp` is the input projection `x @ kernel` of shape `(batch, time, 4 * units)`,
/// `r` the recurrent kernel `(units, 4 * units)`, `bias` `(4 * units,)`.
///
/// A `custom_gradient` doing backpropagation through time by hand, as cuDNN and
/// PyTorch do: the per-step cotangents of `z` are the cotangent of `xp` as they
/// stand, and the recurrent kernel's gradient is one product over all steps
/// (`h_prevᵀ · dz` with the batch and time contracted) instead of one small
/// product and one addition per step. Not a `keras.ops` name; the LSTM layer
/// uses it.
///
/// ```
/// use ceras::{ops, Tensor};
/// let xp = Tensor::from_vec(vec![0.0f32; 2 * 3 * 4], [2, 3, 4]).unwrap();
/// let r = Tensor::from_vec(vec![0.5f32; 4], [1, 4]).unwrap();
/// let zero = Tensor::from_vec(vec![0.0f32; 2], [2, 1]).unwrap();
/// let (out, h, c) = ops::lstm_sequence(&xp, &r, None, &zero, &zero, Default::default()).unwrap();
/// assert_eq!(out.shape(), &[2, 1]);
/// assert_eq!(h.to_vec::<f32>().unwrap(), out.to_vec::<f32>().unwrap());
/// assert_eq!(c.shape(), &[2, 1]);
/// ```
pub fn lstm_sequence(
    xp: &Tensor,
    r: &Tensor,
    bias: Option<&Tensor>,
    h0: &Tensor,
    c0: &Tensor,
    opts: LstmSequenceOptions,
) -> Result<(Tensor, Tensor, Tensor)> {
    let bad = |what: String| Err(shape_err("lstm_sequence", what));
    if xp.ndim() != 3 || !xp.shape()[2].is_multiple_of(4) || xp.shape()[1] == 0 {
        return bad(format!(
            "expected xp of shape (batch, time >= 1, 4 * units), got {:?}",
            xp.shape()
        ));
    }
    let (b, t, g) = (xp.shape()[0], xp.shape()[1], xp.shape()[2]);
    let u = g / 4;
    if r.shape() != [u, g] {
        return bad(format!(
            "expected the recurrent kernel of shape ({u}, {g}), got {:?}",
            r.shape()
        ));
    }
    if h0.shape() != [b, u] || c0.shape() != [b, u] {
        return bad(format!(
            "expected states of shape ({b}, {u}), got {:?} and {:?}",
            h0.shape(),
            c0.shape()
        ));
    }
    if let Some(bias) = bias {
        if bias.shape() != [g] {
            return bad(format!(
                "expected a bias of shape ({g},), got {:?}",
                bias.shape()
            ));
        }
    }
    let dt = xp.dtype();
    let mut inputs = vec![xp.clone(), r.clone(), h0.clone(), c0.clone()];
    inputs.extend(bias.cloned());
    if !dt.is_float() || inputs.iter().any(|x| x.dtype() != dt) {
        let dts: Vec<String> = inputs.iter().map(|x| x.dtype().to_string()).collect();
        return Err(crate::error::dtype_err(
            "lstm_sequence",
            format!(
                "all operands must have one float dtype, got {}",
                dts.join(", ")
            ),
        ));
    }
    let order: Vec<usize> = if opts.reverse {
        (0..t).rev().collect()
    } else {
        (0..t).collect()
    };
    // The forward recurrence from the operands `[xp, r, h0, c0, bias?]`.
    let order_b = order.clone();
    let forward = move |xs: &[Tensor]| -> Result<(Vec<Tensor>, LstmTape)> {
        let (xp, r) = (&xs[0], &xs[1]);
        let steps = unstack(xp, Some(t), 1)?;
        let bias_b = match xs.get(4) {
            Some(bias) => Some(broadcast_to(bias, &[b, g])?),
            None => None,
        };
        let mut h = xs[2].clone();
        let mut tape = LstmTape {
            zs: Vec::with_capacity(t),
            h_prev: Vec::with_capacity(t),
            cs: Vec::with_capacity(t + 1),
        };
        tape.cs.push(xs[3].clone());
        let mut hs = Vec::with_capacity(if opts.return_sequences { t } else { 0 });
        for &s in &order {
            let mut z = add(&steps[s], lax::dot_general(&h, r, &[1], &[0], &[], &[])?)?;
            if let Some(bb) = &bias_b {
                z = add(&z, bb)?;
            }
            let (hn, cn) = lstm_cell_forward(&z, &tape.cs[tape.cs.len() - 1])?;
            tape.zs.push(z);
            tape.h_prev.push(std::mem::replace(&mut h, hn));
            tape.cs.push(cn);
            if opts.return_sequences {
                hs.push(h.clone());
            }
        }
        let mut outs = Vec::with_capacity(3);
        if opts.return_sequences {
            outs.push(stack(&hs, 1)?);
        }
        outs.push(h);
        outs.push(tape.cs[t].clone());
        Ok((outs, tape))
    };
    let out = crate::autodiff::custom_gradient(&inputs, |xs| {
        let (outs, saved) = forward(xs)?;
        let xs = xs.to_vec();
        let forward = forward.clone();
        let order = order_b.clone();
        let vjp: crate::autodiff::VjpFn = std::rc::Rc::new(move |cts: &[Tensor]| {
            // Under a recording tape (a higher-order gradient) the forward pass
            // is recomputed so that the tape sees how the VJP depends on it.
            let recomputed;
            let tape = if crate::autodiff::tape_active() {
                recomputed = forward(&xs)?.1;
                &recomputed
            } else {
                &saved
            };
            let (dhs, mut dh, mut dc) = if opts.return_sequences {
                (
                    Some(unstack(&cts[0], Some(t), 1)?),
                    cts[1].clone(),
                    cts[2].clone(),
                )
            } else {
                (None, cts[0].clone(), cts[1].clone())
            };
            let r = &xs[1];
            let mut dzs: Vec<Option<Tensor>> = vec![None; t];
            let mut hps: Vec<Option<Tensor>> = vec![None; t];
            for (i, &s) in order.iter().enumerate().rev() {
                let gh = match &dhs {
                    Some(d) => add(&dh, &d[i])?,
                    None => dh.clone(),
                };
                let (dz, dcp) = lstm_cell_vjp(&tape.zs[i], &tape.cs[i], &tape.cs[i + 1], &gh, &dc)?;
                dh = lax::dot_general(&dz, r, &[1], &[1], &[], &[])?;
                dc = dcp;
                dzs[s] = Some(dz);
                hps[s] = Some(tape.h_prev[i].clone());
            }
            let dzs: Vec<Tensor> = dzs.into_iter().flatten().collect();
            let hps: Vec<Tensor> = hps.into_iter().flatten().collect();
            let dxp = stack(&dzs, 1)?;
            let hp = stack(&hps, 1)?;
            let dr = lax::dot_general(&hp, &dxp, &[0, 1], &[0, 1], &[], &[])?;
            let mut grads = vec![Some(dxp.clone()), Some(dr), Some(dh), Some(dc)];
            if xs.len() > 4 {
                grads.push(Some(sum(&dxp, Some(&[0, 1]), false)?));
            }
            Ok(grads)
        });
        Ok((outs, vjp))
    })?;
    let mut it = out.into_iter();
    let first = it.next();
    let (outputs, h, c) = if opts.return_sequences {
        (first, it.next(), it.next())
    } else {
        let h = first;
        (h.clone(), h, it.next())
    };
    match (outputs, h, c) {
        (Some(o), Some(h), Some(c)) => Ok((o, h, c)),
        _ => Err(arg_err("lstm_sequence", "expected three outputs")),
    }
}

/// The gates' activations `[σ(i), σ(f), tanh(g), σ(o)]` of `z`.
fn lstm_gates(z: &Tensor) -> Result<[Tensor; 4]> {
    let zs = split(z, 4usize, 1)?;
    Ok([
        sigmoid(&zs[0])?,
        sigmoid(&zs[1])?,
        tanh(&zs[2])?,
        sigmoid(&zs[3])?,
    ])
}

/// [`lstm_cell`]'s forward pass: the backend's [`Fused::LstmCell`] or the
/// decomposition.
///
/// [`Fused::LstmCell`]: crate::backend::Fused::LstmCell
fn lstm_cell_forward(z: &Tensor, c: &Tensor) -> Result<(Tensor, Tensor)> {
    let outs = vec![c.spec().clone(), c.spec().clone()];
    let op = crate::backend::Fused::LstmCell;
    if let Some(v) = try_fused_multi("lstm_cell", &op, &[z, c], outs, true)? {
        if let Ok([h, cn]) = <[Tensor; 2]>::try_from(v) {
            return Ok((h, cn));
        }
    }
    let [i, f, g, o] = lstm_gates(z)?;
    let cn = add(multiply(&f, c)?, multiply(&i, &g)?)?;
    let h = multiply(&o, tanh(&cn)?)?;
    Ok((h, cn))
}

/// [`lstm_cell`]'s VJP from `z`, `c`, `c'` and the cotangents of `h` and `c'`:
/// the backend's [`Fused::LstmCellGrad`] or the decomposition.
///
/// [`Fused::LstmCellGrad`]: crate::backend::Fused::LstmCellGrad
fn lstm_cell_vjp(
    z: &Tensor,
    c: &Tensor,
    cn: &Tensor,
    gh: &Tensor,
    gc: &Tensor,
) -> Result<(Tensor, Tensor)> {
    let gh = lax::convert(gh, c.dtype())?;
    let gc = lax::convert(gc, c.dtype())?;
    let outs = vec![z.spec().clone(), c.spec().clone()];
    let op = crate::backend::Fused::LstmCellGrad;
    if let Some(v) = try_fused_multi("lstm_cell", &op, &[z, c, cn, &gh, &gc], outs, true)? {
        if let Ok([dz, dc]) = <[Tensor; 2]>::try_from(v) {
            return Ok((dz, dc));
        }
    }
    let [i, f, tg, o] = lstm_gates(z)?;
    let t = tanh(cn)?;
    let one_minus = |a: &Tensor, b: &Tensor| subtract(1.0, multiply(a, b)?);
    let d_o = multiply(&gh, &t)?;
    let d_c = add(&gc, multiply(multiply(&gh, &o)?, one_minus(&t, &t)?)?)?;
    let d_i = multiply(&d_c, &tg)?;
    let d_g = multiply(&d_c, &i)?;
    let d_f = multiply(&d_c, c)?;
    let dcp = multiply(&d_c, &f)?;
    let sig = |d: &Tensor, s: &Tensor| multiply(d, multiply(s, subtract(1.0, s)?)?);
    let dz = concatenate(
        &[
            sig(&d_i, &i)?,
            sig(&d_f, &f)?,
            multiply(&d_g, one_minus(&tg, &tg)?)?,
            sig(&d_o, &o)?,
        ],
        1,
    )?;
    Ok((dz, dcp))
}

/// `min(max(x, 0), 6)`.
pub fn relu6(x: impl IntoTensor) -> Result<Tensor> {
    float_act(x, |x| minimum(maximum(x, 0.0)?, 6.0))
}

/// `log(1 + exp(x))`, computed stably as `max(x, 0) + log1p(exp(-|x|))`.
pub fn softplus(x: impl IntoTensor) -> Result<Tensor> {
    float_act(x, softplus_f)
}

fn softplus_f(x: &Tensor) -> Result<Tensor> {
    let m = maximum(x, 0.0)?;
    add(&m, &log1p(exp(negative(abs(x)?)?)?)?)
}

/// `x / (|x| + 1)`.
pub fn softsign(x: impl IntoTensor) -> Result<Tensor> {
    float_act(x, |x| divide(x, add(abs(x)?, 1.0)?))
}

/// Sigmoid-weighted linear unit `x * sigmoid(x)` (also called swish).
///
/// ```
/// use ceras::{ops, Tensor};
/// let y = ops::silu(Tensor::from_vec(vec![0.0f32], [1]).unwrap()).unwrap();
/// assert_eq!(y.to_vec::<f32>().unwrap(), vec![0.0]);
/// ```
pub fn silu(x: impl IntoTensor) -> Result<Tensor> {
    float_act(x, |x| multiply(x, sigmoid(x)?))
}

/// Alias of [`silu`].
pub fn swish(x: impl IntoTensor) -> Result<Tensor> {
    silu(x)
}

/// `log(sigmoid(x)) = -softplus(-x)`.
pub fn log_sigmoid(x: impl IntoTensor) -> Result<Tensor> {
    float_act(x, |x| negative(softplus_f(&negative(x)?)?))
}

/// `x` where `x >= 0`, else `negative_slope * x` (Keras's default slope is `0.2`).
pub fn leaky_relu(x: impl IntoTensor, negative_slope: f64) -> Result<Tensor> {
    float_act(x, |x| {
        r#where(greater_equal(x, 0.0)?, x, multiply(x, negative_slope)?)
    })
}

/// `relu6(x + 3) / 6`.
pub fn hard_sigmoid(x: impl IntoTensor) -> Result<Tensor> {
    float_act(x, hard_sigmoid_f)
}

fn hard_sigmoid_f(x: &Tensor) -> Result<Tensor> {
    let r = minimum(maximum(add(x, 3.0)?, 0.0)?, 6.0)?;
    divide(r, 6.0)
}

/// `x * hard_sigmoid(x)`.
pub fn hard_silu(x: impl IntoTensor) -> Result<Tensor> {
    float_act(x, |x| multiply(x, hard_sigmoid_f(x)?))
}

/// Alias of [`hard_silu`].
pub fn hard_swish(x: impl IntoTensor) -> Result<Tensor> {
    hard_silu(x)
}

fn elu_f(x: &Tensor, alpha: f64) -> Result<Tensor> {
    let pos = greater(x, 0.0)?;
    let safe = r#where(&pos, 0.0, x)?;
    r#where(&pos, x, multiply(expm1(safe)?, alpha)?)
}

/// Exponential linear unit: `x` for `x > 0`, else `alpha * (exp(x) - 1)`.
pub fn elu(x: impl IntoTensor, alpha: f64) -> Result<Tensor> {
    float_act(x, |x| elu_f(x, alpha))
}

/// Scaled exponential linear unit, `scale * elu(x, alpha)` with SELU's constants.
pub fn selu(x: impl IntoTensor) -> Result<Tensor> {
    const ALPHA: f64 = 1.673_263_242_354_377_3;
    const SCALE: f64 = 1.050_700_987_355_480_5;
    float_act(x, |x| multiply(elu_f(x, ALPHA)?, SCALE))
}

/// Gaussian error linear unit. `approximate = true` (Keras's default) uses the tanh
/// approximation `0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))`; `false` the exact
/// `0.5 x (1 + erf(x / √2))`.
///
/// ```
/// use ceras::{ops, Tensor};
/// let y = ops::gelu(Tensor::from_vec(vec![0.0f32], [1]).unwrap(), true).unwrap();
/// assert_eq!(y.to_vec::<f32>().unwrap(), vec![0.0]);
/// ```
pub fn gelu(x: impl IntoTensor, approximate: bool) -> Result<Tensor> {
    float_act(x, |x| {
        if approximate {
            let s = (2.0 / std::f64::consts::PI).sqrt();
            let x3 = multiply(multiply(x, x)?, x)?;
            let inner = multiply(add(x, multiply(&x3, 0.044715)?)?, s)?;
            let cdf = multiply(add(tanh(inner)?, 1.0)?, 0.5)?;
            multiply(x, cdf)
        } else {
            let e = erf(multiply(x, std::f64::consts::FRAC_1_SQRT_2)?)?;
            multiply(multiply(x, 0.5)?, add(e, 1.0)?)
        }
    })
}

/// Continuously differentiable ELU: `max(x, 0) + alpha * expm1(min(x, 0) / alpha)`.
pub fn celu(x: impl IntoTensor, alpha: f64) -> Result<Tensor> {
    float_act(x, |x| {
        let neg = expm1(divide(minimum(x, 0.0)?, alpha)?)?;
        add(maximum(x, 0.0)?, multiply(neg, alpha)?)
    })
}

/// Gated linear unit: splits `x` in two halves `a, b` along `axis` (default -1) and
/// returns `a * sigmoid(b)`.
pub fn glu(x: impl IntoTensor, axis: i64) -> Result<Tensor> {
    let x = x.into_tensor()?;
    let ax = norm_axis("glu", axis, x.ndim())?;
    let n = x.shape()[ax];
    if n % 2 != 0 {
        return Err(shape_err(
            "glu",
            format!(
                "the size of axis {axis} must be even to split it in two halves, got shape {:?}",
                x.shape()
            ),
        ));
    }
    float_act(x, |x| {
        let a = lax::slice_axis(x, ax, 0, n / 2)?;
        let b = lax::slice_axis(x, ax, n / 2, n)?;
        multiply(a, sigmoid(b)?)
    })
}

/// `x - tanh(x)`.
pub fn tanh_shrink(x: impl IntoTensor) -> Result<Tensor> {
    float_act(x, |x| subtract(x, tanh(x)?))
}

/// `clip(x, -1, 1)`.
pub fn hard_tanh(x: impl IntoTensor) -> Result<Tensor> {
    float_act(x, |x| {
        r#where(greater(x, 1.0)?, 1.0, r#where(less(x, -1.0)?, -1.0, x)?)
    })
}

/// `x` where `|x| > threshold`, else 0 (Keras's default threshold is `0.5`).
pub fn hard_shrink(x: impl IntoTensor, threshold: f64) -> Result<Tensor> {
    float_act(x, |x| r#where(greater(abs(x)?, threshold)?, x, 0.0))
}

/// Soft shrinkage: `x - t` for `x > t`, `x + t` for `x < -t`, else 0 (default `t = 0.5`).
pub fn soft_shrink(x: impl IntoTensor, threshold: f64) -> Result<Tensor> {
    float_act(x, |x| {
        let inner = r#where(less(x, -threshold)?, add(x, threshold)?, 0.0)?;
        r#where(greater(x, threshold)?, subtract(x, threshold)?, inner)
    })
}

/// `x` where `x > threshold`, else `default_value`.
pub fn threshold(x: impl IntoTensor, threshold: f64, default_value: f64) -> Result<Tensor> {
    float_act(x, |x| r#where(greater(x, threshold)?, x, default_value))
}

/// Squareplus `(x + sqrt(x² + b)) / 2` (Keras's default `b = 4`).
pub fn squareplus(x: impl IntoTensor, b: f64) -> Result<Tensor> {
    float_act(x, |x| {
        let s = sqrt(add(multiply(x, x)?, b)?)?;
        divide(add(x, s)?, 2.0)
    })
}

/// SparsePlus: 0 for `x <= -1`, `x` for `x >= 1`, else `(x + 1)² / 4`.
pub fn sparse_plus(x: impl IntoTensor) -> Result<Tensor> {
    float_act(x, |x| {
        let p = add(x, 1.0)?;
        let mid = divide(multiply(&p, &p)?, 4.0)?;
        r#where(
            less_equal(x, -1.0)?,
            0.0,
            r#where(greater_equal(x, 1.0)?, x, mid)?,
        )
    })
}

/// Sparse sigmoid `clip((x + 1) / 2, 0, 1)`.
pub fn sparse_sigmoid(x: impl IntoTensor) -> Result<Tensor> {
    float_act(x, |x| multiply(clip(add(x, 1.0)?, 0.0, 2.0)?, 0.5))
}

/// Sparsemax along `axis` (default -1): the Euclidean projection of `x` onto the
/// probability simplex, which is sparse.
///
/// ```
/// use ceras::{ops, Tensor};
/// let x = Tensor::from_vec(vec![0.0f32, 2.0], [2]).unwrap();
/// assert_eq!(ops::sparsemax(&x, -1).unwrap().to_vec::<f32>().unwrap(), vec![0.0, 1.0]);
/// ```
pub fn sparsemax(x: impl IntoTensor, axis: i64) -> Result<Tensor> {
    let x = x.into_tensor()?;
    let ax = norm_axis("sparsemax", axis, x.ndim())?;
    float_act(x, |x| {
        let ax_i = ax as i64;
        let (sorted, _) = lax::sort(x, ax, true)?;
        let cum = lax::cumulative(CumOp::Sum, &sorted, ax, false)?;
        let r = lax::add_scalar(&lax::iota(x.shape(), x.dtype(), ax)?, 1.0)?;
        let support = greater(subtract(&sorted, divide(subtract(&cum, 1.0)?, &r)?)?, 0.0)?;
        let k = sum(lax::convert(&support, x.dtype())?, Some(&[ax_i]), true)?;
        let cum_safe = r#where(&support, &cum, 0.0)?;
        let tau = divide(subtract(sum(cum_safe, Some(&[ax_i]), true)?, 1.0)?, k)?;
        maximum(subtract(x, tau)?, 0.0)
    })
}

/// Softmax `exp(x) / sum(exp(x))` over `axis` (Keras's default is `-1`; several axes
/// or [`AxisArg::All`] normalize over all of them jointly).
///
/// ```
/// use ceras::{ops, Tensor};
/// let x = Tensor::from_vec(vec![1.0f32, 1.0], [2]).unwrap();
/// assert_eq!(ops::softmax(&x, -1).unwrap().to_vec::<f32>().unwrap(), vec![0.5, 0.5]);
/// ```
pub fn softmax(x: impl IntoTensor, axis: impl Into<AxisArg>) -> Result<Tensor> {
    let x = x.into_tensor()?;
    let axes = axis.into().resolve("softmax", x.ndim())?;
    float_act(x, |x| {
        if let [a] = axes[..] {
            if let Some(y) = fused_softmax(x, a as usize, false)? {
                return Ok(y);
            }
        }
        let out = crate::autodiff::custom_gradient(std::slice::from_ref(x), |xs| {
            let x = xs[0].clone();
            let y = softmax_forward(&x, &axes)?;
            let ys = y.clone();
            let axes = axes.clone();
            let vjp: crate::autodiff::VjpFn = std::rc::Rc::new(move |cts: &[Tensor]| {
                // Under a recording tape (a higher-order gradient), recompute
                // y from x so that the tape sees how the VJP depends on x.
                let y = if crate::autodiff::tape_active() {
                    softmax(&x, AxisArg::Axes(axes.clone()))?
                } else {
                    ys.clone()
                };
                Ok(vec![Some(softmax_vjp(&y, &cts[0], &axes)?)])
            });
            Ok((vec![y], vjp))
        })?;
        Ok(first(out))
    })
}

/// Softmax's forward pass: the backend's exact last-axis kernel
/// ([`Fused::SoftmaxLast`]) when it has one, else the decomposition
/// `exp(x - max) / sum(exp(x - max))`.
///
/// [`Fused::SoftmaxLast`]: crate::backend::Fused::SoftmaxLast
fn softmax_forward(x: &Tensor, axes: &[i64]) -> Result<Tensor> {
    if axes == [x.ndim() as i64 - 1] {
        let op = crate::backend::Fused::SoftmaxLast;
        if let Some(mut v) = try_fused_multi("softmax", &op, &[x], vec![x.spec().clone()], true)? {
            return Ok(v.swap_remove(0));
        }
    }
    let m = lax::stop_gradient(&max(x, Some(axes), true, None)?)?;
    let e = exp(subtract(x, &m)?)?;
    let s = sum(&e, Some(axes), true)?;
    divide(&e, &s)
}

/// Softmax's VJP, JAX's and PyTorch's rule: `y * (g - sum(g * y))` over `axes`
/// (one pass with the backend's [`Fused::SoftmaxLastGrad`] kernel, bit-identical).
///
/// [`Fused::SoftmaxLastGrad`]: crate::backend::Fused::SoftmaxLastGrad
fn softmax_vjp(y: &Tensor, g: &Tensor, axes: &[i64]) -> Result<Tensor> {
    let g = lax::convert(g, y.dtype())?;
    if axes == [y.ndim() as i64 - 1] && g.shape() == y.shape() {
        let op = crate::backend::Fused::SoftmaxLastGrad;
        let out = vec![y.spec().clone()];
        if let Some(mut v) = try_fused_multi("softmax", &op, &[y, &g], out, true)? {
            return Ok(v.swap_remove(0));
        }
    }
    let s = sum(multiply(&g, y)?, Some(axes), true)?;
    multiply(y, subtract(&g, &s)?)
}

/// `log(softmax(x))` over `axis`, computed stably as `x - max - log(sum(exp(x - max)))`.
pub fn log_softmax(x: impl IntoTensor, axis: impl Into<AxisArg>) -> Result<Tensor> {
    let x = x.into_tensor()?;
    let axes = axis.into().resolve("log_softmax", x.ndim())?;
    float_act(x, |x| {
        if let [a] = axes[..] {
            if let Some(y) = fused_softmax(x, a as usize, true)? {
                return Ok(y);
            }
        }
        let m = lax::stop_gradient(&max(x, Some(&axes[..]), true, None)?)?;
        let shifted = subtract(x, &m)?;
        let lse = log(sum(exp(&shifted)?, Some(&axes[..]), true)?)?;
        subtract(&shifted, &lse)
    })
}

/// The backend's fused softmax / log-softmax, when enabled (`config::set_fused_kernels`)
/// and usable: a concrete input, no
/// gradient tape and no trace (the decomposition is what gets recorded otherwise).
fn fused_softmax(x: &Tensor, axis: usize, log: bool) -> Result<Option<Tensor>> {
    use crate::backend::Fused;
    let op = if log {
        Fused::LogSoftmax { axis }
    } else {
        Fused::Softmax { axis }
    };
    try_fused("softmax", &op, &[x], x.spec().clone())
}

/// Runs a backend's fused kernel when fused kernels are enabled
/// (`config::set_fused_kernels`) and usable: concrete operands, no gradient tape
/// and no trace (the primitive decomposition is what gets recorded otherwise).
/// `None` when the backend has no such kernel.
pub(crate) fn try_fused(
    name: &str,
    op: &crate::backend::Fused,
    operands: &[&Tensor],
    out: crate::prim::Spec,
) -> Result<Option<Tensor>> {
    Ok(try_fused_multi(name, op, operands, vec![out], false)?.and_then(|mut v| v.pop()))
}

/// [`try_fused`] for kernels with several outputs. `exact` kernels (results
/// bit-identical to the decomposition, e.g. [`Fused::Adam`]) run whether or
/// not fused kernels are enabled.
///
/// [`Fused::Adam`]: crate::backend::Fused::Adam
pub(crate) fn try_fused_multi(
    name: &str,
    op: &crate::backend::Fused,
    operands: &[&Tensor],
    outs: Vec<crate::prim::Spec>,
    exact: bool,
) -> Result<Option<Vec<Tensor>>> {
    // A recording tape needs the decomposition's records, except when every
    // operand is an integer or bool (nothing to differentiate).
    let differentiable = operands.iter().any(|x| x.dtype().is_float());
    if !(exact || config::fused_kernels())
        || operands.iter().any(|x| x.is_traced())
        || crate::trace::is_tracing()
        || (differentiable && crate::autodiff::tape_active())
    {
        return Ok(None);
    }
    let ops: Vec<_> = operands
        .iter()
        .map(|x| x.operand(name))
        .collect::<Result<_>>()?;
    let t0 = crate::dispatch::profiling().then(std::time::Instant::now);
    let r = crate::backend::current()?.fused(op, &ops, &outs);
    if let (Some(t0), Some(Ok(_))) = (t0, &r) {
        let ins: Vec<_> = operands.iter().map(|x| x.spec().clone()).collect();
        crate::dispatch::log_prim(&format_args!("Fused {op:?}"), &ins, &outs, t0.elapsed());
    }
    match r {
        None => Ok(None),
        Some(r) => {
            let bufs = r?;
            if bufs.len() != outs.len() {
                return Err(arg_err(
                    name,
                    format!(
                        "the backend's fused kernel returned {} outputs, expected {}",
                        bufs.len(),
                        outs.len()
                    ),
                ));
            }
            Ok(Some(
                outs.into_iter()
                    .zip(bufs)
                    .map(|(s, b)| Tensor::from_parts(s, false, crate::tensor::Value::Concrete(b)))
                    .collect(),
            ))
        }
    }
}

/// One fused Adam step (see [`crate::backend::Fused::Adam`]): the new
/// `(var, m, v)`, or `None` when the backend has no such kernel, the operands
/// do not fit it, or a tape or trace is recording (then the caller runs the
/// decomposition). Bit-identical to the decomposition, so it runs even when
/// fused kernels are off.
#[allow(clippy::too_many_arguments)] // the operands and hyper-parameters of one Adam step
pub fn fused_adam(
    var: &Tensor,
    m: &Tensor,
    v: &Tensor,
    g: &Tensor,
    alpha: &Tensor,
    beta_1: f64,
    beta_2: f64,
    epsilon: f64,
) -> Result<Option<(Tensor, Tensor, Tensor)>> {
    let dt = var.dtype();
    let same = [m, v, g]
        .iter()
        .all(|t| t.dtype() == dt && t.shape() == var.shape());
    if !dt.is_float() || !same || alpha.dtype() != dt || alpha.ndim() != 0 {
        return Ok(None);
    }
    let op = crate::backend::Fused::Adam {
        beta_1,
        beta_2,
        epsilon,
    };
    let spec = var.spec().clone();
    let out = try_fused_multi(
        "Adam",
        &op,
        &[var, m, v, g, alpha],
        vec![spec.clone(), spec.clone(), spec],
        true,
    )?;
    match out.map(<[Tensor; 3]>::try_from) {
        None => Ok(None),
        Some(Ok([nvar, nm, nv])) => Ok(Some((nvar, nm, nv))),
        Some(Err(o)) => Err(arg_err(
            "Adam",
            format!("the fused kernel returned {} outputs, expected 3", o.len()),
        )),
    }
}

/// The backend's fused layer normalization over the last `dims` axes of a
/// float32 `x`, with `gamma` / `beta` of the normalized shape (see [`try_fused`]).
pub fn fused_layer_norm(
    x: &Tensor,
    gamma: Option<&Tensor>,
    beta: Option<&Tensor>,
    dims: usize,
    epsilon: f64,
) -> Result<Option<Tensor>> {
    let nd = x.ndim();
    if x.dtype() != DType::F32 || dims == 0 || dims > nd {
        return Ok(None);
    }
    let norm_shape = &x.shape()[nd - dims..];
    let ok =
        |t: Option<&Tensor>| t.is_none_or(|t| t.dtype() == DType::F32 && t.shape() == norm_shape);
    if !ok(gamma) || !ok(beta) {
        return Ok(None);
    }
    let op = crate::backend::Fused::LayerNorm {
        dims,
        epsilon,
        gamma: gamma.is_some(),
        beta: beta.is_some(),
    };
    let mut operands = vec![x];
    operands.extend(gamma);
    operands.extend(beta);
    try_fused("layer_normalization", &op, &operands, x.spec().clone())
}

/// One-hot encoding: a new axis of size `num_classes` is inserted at `axis` (default
/// -1), with 1 where the class equals `x`. Out-of-range (including negative) classes
/// give all zeros. `dtype` defaults to `floatx`.
///
/// ```
/// use ceras::{ops, Tensor};
/// let x = Tensor::from_vec(vec![0i32, 2], [2]).unwrap();
/// let y = ops::one_hot(&x, 3, -1, None).unwrap();
/// assert_eq!(y.to_vec::<f32>().unwrap(), vec![1.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
/// ```
pub fn one_hot(
    x: impl IntoTensor,
    num_classes: usize,
    axis: i64,
    dtype: Option<DType>,
) -> Result<Tensor> {
    let x = x.into_tensor()?.with_weak(false);
    let x = match x.dtype() {
        DType::Bool | DType::I8 | DType::I16 | DType::U8 | DType::U16 => {
            lax::convert(&x, DType::I32)?
        }
        DType::U32 | DType::U64 => lax::convert(&x, DType::I64)?,
        _ => x,
    };
    let r = x.ndim() + 1;
    let ax = norm_axis("one_hot", axis, r)?;
    let mut shape = x.shape().to_vec();
    shape.insert(ax, num_classes);
    let mut s1 = x.shape().to_vec();
    s1.insert(ax, 1);
    let lhs = lax::broadcast_in_dim(&lax::reshape(&x, &s1)?, &shape, &(0..r).collect::<Vec<_>>())?;
    let rhs = lax::iota(&shape, x.dtype(), ax)?;
    let eq = lax::compare(CmpOp::Eq, &lhs, &rhs)?;
    lax::convert(&eq, dtype.unwrap_or_else(config::floatx))
}

/// Multi-hot encoding (`keras.ops.multi_hot`): the one-hot encoding of `inputs` (cast
/// to int32) reduced with `max` over axis 1 for batched (rank ≥ 2) inputs, over axis
/// 0 for rank-1 inputs — Keras's exact rule. `dtype` defaults to `floatx`.
///
/// ```
/// use ceras::{ops, Tensor};
/// let x = Tensor::from_vec(vec![0i32, 2, 2], [1, 3]).unwrap();
/// let y = ops::multi_hot(&x, 4, -1, None).unwrap();
/// assert_eq!(y.to_vec::<f32>().unwrap(), vec![1.0, 0.0, 1.0, 0.0]);
/// ```
pub fn multi_hot(
    inputs: impl IntoTensor,
    num_classes: usize,
    axis: i64,
    dtype: Option<DType>,
) -> Result<Tensor> {
    let x = inputs.into_tensor()?;
    let x = lax::convert(&x, DType::I32)?;
    let red = if x.ndim() > 1 { 1 } else { 0 };
    let oh = one_hot(&x, num_classes, axis, dtype)?;
    max(&oh, Some(&[red]), false, None)
}

/// Mean and variance of `x` over `axes` (`keras.ops.moments`). `float16` / `bfloat16`
/// inputs are computed in `float32` and clipped to the `float16` range before being
/// cast back. `synchronized = true` (cross-replica statistics) is not supported, as
/// with Keras's JAX backend.
///
/// ```
/// use ceras::{ops, Tensor};
/// let x = Tensor::from_vec(vec![1.0f32, 3.0], [2]).unwrap();
/// let (m, v) = ops::moments(&x, &[0], false, false).unwrap();
/// assert_eq!((m.item::<f32>().unwrap(), v.item::<f32>().unwrap()), (2.0, 1.0));
/// ```
pub fn moments(
    x: impl IntoTensor,
    axes: &[i64],
    keepdims: bool,
    synchronized: bool,
) -> Result<(Tensor, Tensor)> {
    if synchronized {
        return Err(unsupported(
            "moments",
            "synchronized=true (cross-replica statistics) is not supported, as with Keras's JAX backend",
        ));
    }
    let x = x.into_tensor()?;
    let orig = x.dtype();
    let half = matches!(orig, DType::F16 | DType::BF16);
    let xc = if half {
        lax::convert(&x, DType::F32)?
    } else {
        x
    };
    let m = mean(&xc, Some(axes), keepdims)?;
    let v = var(&xc, Some(axes), keepdims)?;
    if !half {
        return Ok((m, v));
    }
    let back = |t: Tensor| -> Result<Tensor> {
        let t = clip(&t, -65504.0, 65504.0)?;
        lax::convert(&t, orig)
    };
    Ok((back(m)?, back(v)?))
}

fn vector_along(op: &str, name: &str, v: &Tensor, x: &Tensor, ax: usize) -> Result<Tensor> {
    if v.ndim() != 1 || v.shape()[0] != x.shape()[ax] {
        return Err(shape_err(
            op,
            format!(
                "`{name}` must be a vector of length x.shape[axis] = {} (x shape {:?}, axis {ax}), got shape {:?}",
                x.shape()[ax],
                x.shape(),
                v.shape()
            ),
        ));
    }
    let mut s = vec![1; x.ndim()];
    s[ax] = v.shape()[0];
    lax::reshape(v, &s)
}

/// Batch normalization with given statistics: `(x - mean) / sqrt(variance + epsilon)
/// * scale + offset`, the vectors laid along `axis` (Keras's default `epsilon` is
/// `1e-3`).
///
/// ```
/// use ceras::{ops, Tensor};
/// let x = Tensor::from_vec(vec![1.0f32, 3.0], [1, 2]).unwrap();
/// let m = Tensor::from_vec(vec![1.0f32, 1.0], [2]).unwrap();
/// let v = Tensor::from_vec(vec![1.0f32, 4.0], [2]).unwrap();
/// let y = ops::batch_normalization(&x, &m, &v, -1, None, None, 0.0).unwrap();
/// assert_eq!(y.to_vec::<f32>().unwrap(), vec![0.0, 1.0]);
/// ```
pub fn batch_normalization(
    x: impl IntoTensor,
    mean: impl IntoTensor,
    variance: impl IntoTensor,
    axis: i64,
    offset: Option<&Tensor>,
    scale: Option<&Tensor>,
    epsilon: f64,
) -> Result<Tensor> {
    const OP: &str = "batch_normalization";
    let x = x.into_tensor()?;
    let ax = norm_axis(OP, axis, x.ndim())?;
    let m = vector_along(OP, "mean", &mean.into_tensor()?, &x, ax)?;
    let v = vector_along(OP, "variance", &variance.into_tensor()?, &x, ax)?;
    let mut inv = rsqrt(add(&v, epsilon)?)?;
    if let Some(s) = scale {
        inv = multiply(&inv, vector_along(OP, "scale", s, &x, ax)?)?;
    }
    let mut res = multiply(negative(&m)?, &inv)?;
    if let Some(o) = offset {
        res = add(&res, vector_along(OP, "offset", o, &x, ax)?)?;
    }
    add(multiply(&x, &inv)?, &res)
}

/// Layer normalization over `axis` (Keras's default `[-1]`):
/// `(x - mean) / sqrt(var + epsilon) * gamma + beta`, computed in at least `float32`
/// and cast back to `x`'s dtype. `epsilon` defaults to `config::epsilon()`.
///
/// ```
/// use ceras::{ops, Tensor};
/// let x = Tensor::from_vec(vec![1.0f32, 3.0], [2]).unwrap();
/// let y = ops::layer_normalization(&x, None, None, &[-1], Some(0.0)).unwrap();
/// assert_eq!(y.to_vec::<f32>().unwrap(), vec![-1.0, 1.0]);
/// ```
pub fn layer_normalization(
    x: impl IntoTensor,
    gamma: Option<&Tensor>,
    beta: Option<&Tensor>,
    axis: &[i64],
    epsilon: Option<f64>,
) -> Result<Tensor> {
    const OP: &str = "layer_normalization";
    let x = x.into_tensor()?;
    let eps = epsilon.unwrap_or_else(config::epsilon);
    let orig = x.dtype();
    let cd = crate::dtype::result_type(&[orig, DType::F32]);
    let x = lax::convert(&x, cd)?;
    let nd = x.ndim();
    let mut axes = crate::shape::norm_axes(OP, axis, nd)?;
    axes.sort();
    let mut bshape = vec![1; nd];
    for &a in &axes {
        bshape[a] = x.shape()[a];
    }
    let last_only = axes == [nd - 1];
    let trailing = !axes.is_empty()
        && axes
            .iter()
            .enumerate()
            .all(|(i, &a)| a == nd - axes.len() + i);
    if trailing && orig == DType::F32 {
        if let Some(y) = fused_layer_norm(&x, gamma, beta, axes.len(), eps)? {
            return Ok(y);
        }
    }
    let c = x.shape().last().copied().unwrap_or(0);
    let param_ok = |v: Option<&Tensor>| v.is_none_or(|v| v.shape() == [c] && v.dtype() == cd);
    if last_only && cd == orig && param_ok(gamma) && param_ok(beta) {
        return layer_norm_last(&x, gamma, beta, eps);
    }
    let prep = |v: Option<&Tensor>| -> Result<Option<Tensor>> {
        match v {
            None => Ok(None),
            Some(v) => {
                let v = lax::convert(v, cd)?;
                if v.ndim() != nd && !last_only {
                    Ok(Some(reshape(
                        &v,
                        &bshape.iter().map(|&d| d as i64).collect::<Vec<_>>(),
                    )?))
                } else {
                    Ok(Some(v))
                }
            }
        }
    };
    let (g, b) = (prep(gamma)?, prep(beta)?);
    let ax_i: Vec<i64> = axes.iter().map(|&a| a as i64).collect();
    let (out, _, _) = layer_norm_decomposed(&x, g.as_ref(), b.as_ref(), &ax_i, eps)?;
    lax::convert(&out, orig)
}

/// Layer normalization as primitives over `axes` (statistics kept):
/// `x·inv + (-mean·inv + beta)` with `inv = rsqrt(var + eps)·gamma`. Returns
/// the output, the mean and `rsqrt(var + eps)`.
fn layer_norm_decomposed(
    x: &Tensor,
    gamma: Option<&Tensor>,
    beta: Option<&Tensor>,
    axes: &[i64],
    eps: f64,
) -> Result<(Tensor, Tensor, Tensor)> {
    let (m, v) = moments(x, axes, true, false)?;
    let rstd = rsqrt(add(&v, eps)?)?;
    let mut inv = rstd.clone();
    if let Some(g) = gamma {
        inv = multiply(&inv, g)?;
    }
    let mut res = multiply(negative(&m)?, &inv)?;
    if let Some(b) = beta {
        res = add(&res, b)?;
    }
    let y = add(multiply(x, &inv)?, &res)?;
    Ok((y, m, rstd))
}

/// [`layer_normalization`] over the last axis of a float32 / float64 `x`, with
/// `gamma` / `beta` vectors of its dtype, as one `custom_gradient`: the
/// forward pass is the decomposition (or the backend's exact
/// [`Fused::LayerNormLast`]), the VJP the closed form
/// `dx = rstd·(g - mean(g) - x̂·mean(g·x̂))` with `g = dy·gamma`,
/// `dgamma = Σ dy·x̂`, `dbeta = Σ dy` (or [`Fused::LayerNormLastGrad`]
/// for `dx` and `dy·x̂`), instead of differentiating the moments.
///
/// [`Fused::LayerNormLast`]: crate::backend::Fused::LayerNormLast
/// [`Fused::LayerNormLastGrad`]: crate::backend::Fused::LayerNormLastGrad
fn layer_norm_last(
    x: &Tensor,
    gamma: Option<&Tensor>,
    beta: Option<&Tensor>,
    eps: f64,
) -> Result<Tensor> {
    let (has_g, has_b) = (gamma.is_some(), beta.is_some());
    let mut inputs = vec![x.clone()];
    inputs.extend(gamma.cloned());
    inputs.extend(beta.cloned());
    let out = crate::autodiff::custom_gradient(&inputs, |xs| {
        let x = xs[0].clone();
        let g = has_g.then(|| xs[1].clone());
        let b = has_b.then(|| xs[1 + has_g as usize].clone());
        let (y, m, rstd) = layer_norm_last_forward(&x, g.as_ref(), b.as_ref(), eps)?;
        let vjp: crate::autodiff::VjpFn = std::rc::Rc::new(move |cts: &[Tensor]| {
            // Under a recording tape (a higher-order gradient), recompute the
            // statistics so that the tape sees how they depend on x.
            let (m, rstd) = if crate::autodiff::tape_active() {
                let (_, m, r) = layer_norm_last_forward(&x, g.as_ref(), b.as_ref(), eps)?;
                (m, r)
            } else {
                (m.clone(), rstd.clone())
            };
            let dy = lax::convert(&cts[0], x.dtype())?;
            let (dx, dyx) = layer_norm_last_vjp(&x, &m, &rstd, &dy, g.as_ref())?;
            let lead: Vec<i64> = (0..x.ndim() as i64 - 1).collect();
            let mut grads = vec![Some(dx)];
            if let Some(dyx) = dyx {
                grads.push(Some(sum(&dyx, Some(&lead), false)?));
            }
            if has_b {
                grads.push(Some(sum(&dy, Some(&lead), false)?));
            }
            Ok(grads)
        });
        Ok((vec![y], vjp))
    })?;
    Ok(first(out))
}

/// The forward pass of [`layer_norm_last`]: the output, the mean and
/// `rsqrt(var + eps)` (both `(..., 1)`), as `layer_normalization`'s
/// decomposition computes them.
fn layer_norm_last_forward(
    x: &Tensor,
    gamma: Option<&Tensor>,
    beta: Option<&Tensor>,
    eps: f64,
) -> Result<(Tensor, Tensor, Tensor)> {
    let mut stat = x.shape().to_vec();
    if let Some(l) = stat.last_mut() {
        *l = 1;
    }
    let op = crate::backend::Fused::LayerNormLast {
        epsilon: eps,
        gamma: gamma.is_some(),
        beta: beta.is_some(),
    };
    let mut operands = vec![x];
    operands.extend(gamma);
    operands.extend(beta);
    let spec = |s: Vec<usize>| crate::prim::Spec::new(s, x.dtype());
    let outs = vec![x.spec().clone(), spec(stat.clone()), spec(stat)];
    if let Some(r) = try_fused_multi("layer_normalization", &op, &operands, outs, true)? {
        let [y, m, rstd]: [Tensor; 3] = r.try_into().expect("three outputs");
        return Ok((y, m, rstd));
    }
    layer_norm_decomposed(x, gamma, beta, &[-1], eps)
}

/// The closed-form VJP of [`layer_norm_last`] for `x`, and `dy·x̂` (for
/// gamma's cotangent) when there is a gamma.
fn layer_norm_last_vjp(
    x: &Tensor,
    m: &Tensor,
    rstd: &Tensor,
    dy: &Tensor,
    gamma: Option<&Tensor>,
) -> Result<(Tensor, Option<Tensor>)> {
    let op = crate::backend::Fused::LayerNormLastGrad {
        gamma: gamma.is_some(),
    };
    let mut operands = vec![x, m, rstd, dy];
    operands.extend(gamma);
    let mut outs = vec![x.spec().clone()];
    if gamma.is_some() {
        outs.push(x.spec().clone());
    }
    if let Some(mut r) = try_fused_multi("layer_normalization", &op, &operands, outs, true)? {
        let dyx = if gamma.is_some() { r.pop() } else { None };
        return Ok((r.swap_remove(0), dyx));
    }
    let xhat = multiply(subtract(x, m)?, rstd)?;
    let g = match gamma {
        Some(gm) => multiply(dy, gm)?,
        None => dy.clone(),
    };
    let a = mean(&g, Some(&[-1]), true)?;
    let c = mean(multiply(&g, &xhat)?, Some(&[-1]), true)?;
    let dx = multiply(rstd, subtract(subtract(&g, &a)?, multiply(&xhat, &c)?)?)?;
    let dyx = match gamma {
        Some(_) => Some(multiply(dy, &xhat)?),
        None => None,
    };
    Ok((dx, dyx))
}

/// Root-mean-square normalization over `axis` (Keras's default `[-1]`):
/// `x / sqrt(mean(x²) + epsilon) * scale`, computed in at least `float32` and cast back
/// to `x`'s dtype. `epsilon` defaults to `config::epsilon()`.
///
/// ```
/// use ceras::{ops, Tensor};
/// let x = Tensor::from_vec(vec![3.0f32, 4.0], [2]).unwrap();
/// let y = ops::rms_normalization(&x, None, &[-1], Some(0.0)).unwrap();
/// assert!((y.to_vec::<f32>().unwrap()[1] - 4.0 / 12.5f32.sqrt()).abs() < 1e-6);
/// ```
pub fn rms_normalization(
    x: impl IntoTensor,
    scale: Option<&Tensor>,
    axis: &[i64],
    epsilon: Option<f64>,
) -> Result<Tensor> {
    let x = x.into_tensor()?;
    let eps = epsilon.unwrap_or_else(config::epsilon);
    let orig = x.dtype();
    let cd = crate::dtype::result_type(&[orig, DType::F32]);
    let mut x = lax::convert(&x, cd)?;
    if x.ndim() == 0 {
        x = lax::reshape(&x, &[1])?;
    }
    let rrms = rsqrt(add(mean(multiply(&x, &x)?, Some(axis), true)?, eps)?)?;
    let mut out = multiply(&x, &rrms)?;
    if let Some(s) = scale {
        out = multiply(&out, lax::convert(s, cd)?)?;
    }
    lax::convert(&out, orig)
}

/// Normalizes `x` to unit `order`-norm along `axis` (Keras's defaults: `axis=-1`,
/// `order=2`): `x / max(norm(x), epsilon)`; for `order = 2`,
/// `x * rsqrt(max(sum(x²), epsilon²))`. `order` must be ≥ 1; `epsilon` defaults to
/// `config::epsilon()`. A 0-d input becomes shape `[1]`, as in Keras.
///
/// ```
/// use ceras::{ops, Tensor};
/// let x = Tensor::from_vec(vec![3.0f32, 4.0], [2]).unwrap();
/// assert_eq!(ops::normalize(&x, -1, 2, None).unwrap().to_vec::<f32>().unwrap(), vec![0.6, 0.8]);
/// ```
pub fn normalize(
    x: impl IntoTensor,
    axis: i64,
    order: i64,
    epsilon: Option<f64>,
) -> Result<Tensor> {
    if order < 1 {
        return Err(arg_err(
            "normalize",
            format!("argument `order` must be an int >= 1, got {order}"),
        ));
    }
    let x = x.into_tensor()?;
    let d = float_dtype(&[&x]);
    let mut x = lax::convert(&x, d)?;
    if x.ndim() == 0 {
        x = lax::reshape(&x, &[1])?;
    }
    let eps = epsilon.unwrap_or_else(config::epsilon);
    if order == 2 {
        let ss = sum(multiply(&x, &x)?, Some(&[axis]), true)?;
        return multiply(&x, rsqrt(maximum(ss, eps * eps)?)?);
    }
    let a = abs(&x)?;
    let norm = if order == 1 {
        sum(&a, Some(&[axis]), true)?
    } else {
        let p = power(&a, order as f64)?;
        power(sum(&p, Some(&[axis]), true)?, 1.0 / order as f64)?
    };
    divide(&x, maximum(norm, eps)?)
}

/// Peak signal-to-noise ratio `20 log10(max_val) - 10 log10(mse(x1, x2))`, a scalar.
///
/// ```
/// use ceras::{ops, Tensor};
/// let a = Tensor::from_vec(vec![1.0f32, 1.0], [2]).unwrap();
/// let b = Tensor::from_vec(vec![0.9f32, 1.1], [2]).unwrap();
/// let p = ops::psnr(&a, &b, 1.0).unwrap().item::<f32>().unwrap();
/// assert!((p - 20.0).abs() < 1e-3);
/// ```
pub fn psnr(x1: impl IntoTensor, x2: impl IntoTensor, max_val: f64) -> Result<Tensor> {
    let (a, b) = (x1.into_tensor()?, x2.into_tensor()?);
    if a.shape() != b.shape() {
        return Err(shape_err(
            "psnr",
            format!(
                "input shapes {:?} and {:?} must match",
                a.shape(),
                b.shape()
            ),
        ));
    }
    let mv = lax::scalar(max_val, float_dtype(&[&b]))?;
    let diff = subtract(&a, &b)?;
    let mse = mean(multiply(&diff, &diff)?, None, false)?;
    subtract(multiply(log10(&mv)?, 20.0)?, multiply(log10(&mse)?, 10.0)?)
}

/// Options of [`dot_product_attention`], with Keras's defaults (everything off).
#[derive(Clone, Debug, Default)]
pub struct AttentionOptions {
    /// Added to the logits; broadcastable to `(batch, heads, q_len, kv_len)`.
    pub bias: Option<Tensor>,
    /// `true` where attention is allowed; broadcastable to `(batch, heads, q_len, kv_len)`.
    pub mask: Option<Tensor>,
    /// Logit scale; `None` is `1 / sqrt(head_dim)`.
    pub scale: Option<f64>,
    /// Apply a causal (lower-triangular) mask.
    pub is_causal: bool,
    /// `Some(true)` requests flash attention, which ceras does not provide (error).
    pub flash_attention: Option<bool>,
    /// Logit soft cap; only supported by Keras on TPU (error).
    pub attn_logits_soft_cap: Option<f64>,
}

impl AttentionOptions {
    /// Keras's defaults.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the bias.
    pub fn bias(mut self, b: &Tensor) -> Self {
        self.bias = Some(b.clone());
        self
    }
    /// Sets the mask.
    pub fn mask(mut self, m: &Tensor) -> Self {
        self.mask = Some(m.clone());
        self
    }
    /// Sets the logit scale.
    pub fn scale(mut self, s: f64) -> Self {
        self.scale = Some(s);
        self
    }
    /// Sets causal masking.
    pub fn is_causal(mut self, c: bool) -> Self {
        self.is_causal = c;
        self
    }
}

fn to_4d(op: &str, name: &str, t: &Tensor) -> Result<Tensor> {
    if t.ndim() > 4 {
        return Err(shape_err(
            op,
            format!("`{name}` must have rank <= 4, got shape {:?}", t.shape()),
        ));
    }
    let mut s = vec![1; 4 - t.ndim()];
    s.extend(t.shape());
    lax::reshape(t, &s)
}

/// Scaled dot-product attention (`keras.ops.dot_product_attention`) with Keras's
/// `(batch, seq, heads, head_dim)` layout: `softmax(q·kᵀ * scale + bias, masked) · v`.
/// Grouped-query attention is supported (`heads` of `query` a multiple of those of
/// `key` / `value`). Logits are computed in at least `float32` and the softmax in
/// `float32`, as in JAX.
///
/// ```
/// use ceras::ops::{self, AttentionOptions};
/// let q = ops::ones(&[1, 2, 1, 4], None).unwrap();
/// let y = ops::dot_product_attention(&q, &q, &q, &AttentionOptions::new().is_causal(true)).unwrap();
/// assert_eq!(y.shape(), &[1, 2, 1, 4]);
/// ```
pub fn dot_product_attention(
    query: impl IntoTensor,
    key: impl IntoTensor,
    value: impl IntoTensor,
    opts: &AttentionOptions,
) -> Result<Tensor> {
    const OP: &str = "dot_product_attention";
    if opts.attn_logits_soft_cap.is_some() {
        return Err(unsupported(
            OP,
            "attn_logits_soft_cap is only supported by Keras for JAX on TPU",
        ));
    }
    if opts.flash_attention == Some(true) {
        return Err(unsupported(
            OP,
            "flash attention is not available in ceras; use flash_attention=None or false",
        ));
    }
    let (q, k, v) = (
        query.into_tensor()?,
        key.into_tensor()?,
        value.into_tensor()?,
    );
    if q.ndim() != 4 || k.ndim() != 4 || v.ndim() != 4 {
        return Err(shape_err(
            OP,
            format!(
                "only 4D inputs (batch, seq, heads, head_dim) are supported; got query {:?}, key {:?}, value {:?}",
                q.shape(),
                k.shape(),
                v.shape()
            ),
        ));
    }
    let (bq, t, n, h) = (q.shape()[0], q.shape()[1], q.shape()[2], q.shape()[3]);
    let (bk, s, kh, hk) = (k.shape()[0], k.shape()[1], k.shape()[2], k.shape()[3]);
    let vs = v.shape();
    if bq != bk || h != hk || vs[0] != bk || vs[1] != s || vs[2] != kh || kh == 0 || n % kh != 0 {
        return Err(shape_err(
            OP,
            format!(
                "incompatible shapes query {:?}, key {:?}, value {:?}: batch and head_dim must match, key/value \
                 must agree on (batch, seq, heads), and query heads must be a multiple of key heads",
                q.shape(),
                k.shape(),
                vs
            ),
        ));
    }
    let g = n / kh;
    let d = result_dtype(&[&q, &k, &v]);
    let scale = opts.scale.unwrap_or(1.0 / (h as f64).sqrt());
    let plain = g == 1
        && matches!(d, DType::F32 | DType::F64)
        && opts.bias.is_none()
        && opts.mask.is_none()
        && [&q, &k, &v].iter().all(|t| t.dtype() == d);
    if plain {
        if d == DType::F32 {
            let op = crate::backend::Fused::Attention {
                scale,
                causal: opts.is_causal,
            };
            let out = crate::prim::Spec::new(vec![bq, t, n, vs[3]], DType::F32);
            if let Some(y) = try_fused(OP, &op, &[&q, &k, &v], out)? {
                return Ok(y);
            }
        }
        return attention_plain(&q, &k, &v, scale, opts.is_causal);
    }
    let mask = match &opts.mask {
        None => None,
        Some(m) => Some(to_4d(
            OP,
            "mask",
            &if m.dtype() == DType::Bool {
                m.clone()
            } else {
                not_equal(m, 0)?
            },
        )?),
    };
    let bias = match &opts.bias {
        None => None,
        Some(b) => Some(to_4d(OP, "bias", &lax::convert(b, d)?)?),
    };
    let parts = AttentionParts {
        bias: bias.as_ref(),
        mask: mask.as_ref(),
        scale,
        causal: opts.is_causal,
    };
    Ok(attention_decomposed(&q, &k, &v, &parts)?.0)
}

/// The logit adjustments of one attention call: a 4-D bias and boolean mask
/// (broadcastable to `(batch, heads, T, S)`), the scale and causal masking.
struct AttentionParts<'a> {
    bias: Option<&'a Tensor>,
    mask: Option<&'a Tensor>,
    scale: f64,
    causal: bool,
}

/// Attention as primitives, JAX's `_dot_product_attention_core`: logits
/// `q·kᵀ` in at least float32, times `scale`, plus `bias`, masked (the mask and
/// the causal band) with a large negative number, softmax in float32, then
/// `probs · v`. Returns the output `(B, T, N, Hv)` and the probabilities
/// `(B, N, T, S)`.
fn attention_decomposed(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    parts: &AttentionParts<'_>,
) -> Result<(Tensor, Tensor)> {
    let (bq, t, n, h) = (q.shape()[0], q.shape()[1], q.shape()[2], q.shape()[3]);
    let (s, kh) = (k.shape()[1], k.shape()[2]);
    let g = n / kh;
    let d = result_dtype(&[q, k, v]);
    let logits_d = crate::dtype::result_type(&[d, DType::F32]);
    let (q, k, v) = (
        lax::convert(q, d)?,
        lax::convert(k, d)?,
        lax::convert(v, d)?,
    );
    // logits[b, n, t, s] with n = kv_head * g + group.
    let qg = lax::reshape(&lax::convert(&q, logits_d)?, &[bq, t, kh, g, h])?;
    let kc = lax::convert(&k, logits_d)?;
    let lg = lax::dot_general(&qg, &kc, &[4], &[3], &[0, 2], &[0, 2])?; // [B, K, T, G, S]
    let lg = lax::transpose(&lg, &[0, 1, 3, 2, 4])?;
    let mut logits = lax::reshape(&lg, &[bq, n, t, s])?;
    logits = lax::mul_scalar(&logits, parts.scale)?;
    let full = [bq, n, t, s];
    if let Some(b) = parts.bias {
        let b = super::shape_ops::broadcast_to(&lax::convert(b, logits_d)?, &full)?;
        logits = lax::add(&logits, &b)?;
    }
    let mut allowed: Option<Tensor> = None;
    if let Some(m) = parts.mask {
        allowed = Some(super::shape_ops::broadcast_to(m, &full)?);
    }
    if parts.causal {
        let causal = causal_band(&full)?;
        allowed = Some(match allowed {
            None => causal,
            Some(a) => lax::binary(BinaryOp::And, &a, &causal)?,
        });
    }
    if let Some(a) = &allowed {
        let big = -0.7 * max_finite(logits_d);
        logits = lax::select(a, &logits, &lax::full(&full, big, logits_d)?)?;
    }
    let sd = compute_dtype(crate::dtype::result_type(&[logits_d, DType::F32]));
    let probs = softmax(lax::convert(&logits, sd)?, -1)?;
    let probs = lax::convert(&probs, k.dtype())?;
    // encoded[b, t, n, h] = sum_s probs[b, n, t, s] v[b, s, n / g, h]
    let od = compute_dtype(v.dtype());
    let pg = lax::reshape(&lax::convert(&probs, od)?, &[bq, kh, g, t, s])?;
    let vc = lax::convert(&v, od)?;
    let hv = v.shape()[3];
    let enc = lax::dot_general(&pg, &vc, &[4], &[1], &[0, 1], &[0, 2])?; // [B, K, G, T, Hv]
    let enc = lax::transpose(&enc, &[0, 3, 1, 2, 4])?;
    let enc = lax::reshape(&enc, &[bq, t, n, hv])?;
    Ok((lax::convert(&enc, v.dtype())?, probs))
}

/// The causal band of logits `(B, N, T, S)`: key `s` allowed for query `t`
/// when `s <= t` (top-left aligned).
fn causal_band(full: &[usize]) -> Result<Tensor> {
    let r = lax::iota(full, DType::I32, 2)?;
    let c = lax::iota(full, DType::I32, 3)?;
    lax::compare(CmpOp::Le, &c, &r)
}

/// Float32 / float64 attention without bias, mask or grouped heads as one
/// `custom_gradient`: the forward pass is [`attention_decomposed`] (one pass
/// per head with the backend's exact [`Fused::DotProductAttention`] kernel when
/// it has one), and the VJP is the closed form [`attention_vjp`] (or
/// [`Fused::DotProductAttentionGrad`]) instead of the differentiated
/// decomposition: no transposes, no reductions of broadcasts.
///
/// [`Fused::DotProductAttention`]: crate::backend::Fused::DotProductAttention
/// [`Fused::DotProductAttentionGrad`]: crate::backend::Fused::DotProductAttentionGrad
fn attention_plain(q: &Tensor, k: &Tensor, v: &Tensor, scale: f64, causal: bool) -> Result<Tensor> {
    let fwd =
        move |q: &Tensor, k: &Tensor, v: &Tensor| attention_plain_forward(q, k, v, scale, causal);
    let out = crate::autodiff::custom_gradient(&[q.clone(), k.clone(), v.clone()], |xs| {
        let (q, k, v) = (xs[0].clone(), xs[1].clone(), xs[2].clone());
        let (enc, probs) = fwd(&q, &k, &v)?;
        let vjp: crate::autodiff::VjpFn = std::rc::Rc::new(move |cts: &[Tensor]| {
            // Under a recording tape (a higher-order gradient), recompute the
            // probabilities so that the tape sees how they depend on q and k.
            let p = if crate::autodiff::tape_active() {
                fwd(&q, &k, &v)?.1
            } else {
                probs.clone()
            };
            let g = lax::convert(&cts[0], q.dtype())?;
            let (dq, dk, dv) = attention_vjp(&q, &k, &v, &p, &g, scale, causal)?;
            Ok(vec![Some(dq), Some(dk), Some(dv)])
        });
        Ok((vec![enc], vjp))
    })?;
    Ok(first(out))
}

/// The forward pass of [`attention_plain`]: the output and the probabilities.
fn attention_plain_forward(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    scale: f64,
    causal: bool,
) -> Result<(Tensor, Tensor)> {
    let (b, t, n) = (q.shape()[0], q.shape()[1], q.shape()[2]);
    let (s, hv) = (k.shape()[1], v.shape()[3]);
    let op = crate::backend::Fused::DotProductAttention { scale, causal };
    let outs = vec![
        crate::prim::Spec::new(vec![b, t, n, hv], q.dtype()),
        crate::prim::Spec::new(vec![b, n, t, s], q.dtype()),
    ];
    if let Some(r) = try_fused_multi("dot_product_attention", &op, &[q, k, v], outs, true)? {
        let [y, p]: [Tensor; 2] = r.try_into().expect("two outputs");
        return Ok((y, p));
    }
    let parts = AttentionParts {
        bias: None,
        mask: None,
        scale,
        causal,
    };
    attention_decomposed(q, k, v, &parts)
}

/// The VJP of [`attention_plain`] in closed form, from the probabilities `p`
/// `(B, N, T, S)` and the output's cotangent `g` `(B, T, N, Hv)`:
/// `dv = pᵀ·g`, `dl = softmax_vjp(p, g·vᵀ)` (zero outside the causal band),
/// `dq = scale·dl·k`, `dk = scale·dlᵀ·q`. One pass per head with the backend's
/// exact [`Fused::DotProductAttentionGrad`] when it has one.
///
/// [`Fused::DotProductAttentionGrad`]: crate::backend::Fused::DotProductAttentionGrad
#[allow(clippy::too_many_arguments)] // the operands of one attention VJP
fn attention_vjp(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    p: &Tensor,
    g: &Tensor,
    scale: f64,
    causal: bool,
) -> Result<(Tensor, Tensor, Tensor)> {
    let op = crate::backend::Fused::DotProductAttentionGrad { scale, causal };
    let outs = [q, k, v].iter().map(|x| x.spec().clone()).collect();
    if let Some(r) = try_fused_multi("dot_product_attention", &op, &[q, k, v, p, g], outs, true)? {
        let [dq, dk, dv]: [Tensor; 3] = r.try_into().expect("three outputs");
        return Ok((dq, dk, dv));
    }
    let dp = lax::dot_general(g, v, &[3], &[3], &[0, 2], &[0, 2])?; // [B, N, T, S]
    let dv = lax::dot_general(p, g, &[2], &[1], &[0, 1], &[0, 2])?; // [B, N, S, Hv]
    let dv = lax::transpose(&dv, &[0, 2, 1, 3])?;
    let mut dl = softmax_vjp(p, &dp, &[3])?;
    if causal {
        dl = lax::select(&causal_band(p.shape())?, &dl, &lax::zeros_like(&dl)?)?;
    }
    let ds = lax::mul_scalar(&dl, scale)?;
    let dq = lax::dot_general(&ds, k, &[3], &[1], &[0, 1], &[0, 2])?; // [B, N, T, H]
    let dk = lax::dot_general(&ds, q, &[2], &[1], &[0, 1], &[0, 2])?; // [B, N, S, H]
    Ok((
        lax::transpose(&dq, &[0, 2, 1, 3])?,
        lax::transpose(&dk, &[0, 2, 1, 3])?,
        dv,
    ))
}

fn max_finite(d: DType) -> f64 {
    match d {
        DType::F16 => 65504.0,
        DType::BF16 => 3.389_531_389_251_535_5e38,
        DType::F32 => f32::MAX as f64,
        _ => f64::MAX,
    }
}

fn check_block(op: &str, block_size: i64) -> Result<usize> {
    if block_size < 2 {
        return Err(arg_err(
            op,
            format!("`block_size` must be at least 2, got {block_size}"),
        ));
    }
    Ok(block_size as usize)
}

/// Rearranges depth into spatial blocks (pixel shuffle) of a 4-D tensor: channels
/// `C` become `C / block²` with height and width multiplied by `block_size`
/// (`keras.ops.depth_to_space`; the default data format is channels-last).
///
/// ```
/// use ceras::ops;
/// use ceras::config::DataFormat;
/// let x = ops::ones(&[1, 2, 2, 12], None).unwrap();
/// assert_eq!(ops::depth_to_space(&x, 2, DataFormat::ChannelsLast).unwrap().shape(), &[1, 4, 4, 3]);
/// ```
pub fn depth_to_space(
    x: impl IntoTensor,
    block_size: i64,
    data_format: DataFormat,
) -> Result<Tensor> {
    const OP: &str = "depth_to_space";
    let bs = check_block(OP, block_size)?;
    let x = x.into_tensor()?;
    if x.ndim() != 4 {
        return Err(shape_err(
            OP,
            format!("requires a 4D input tensor, got shape {:?}", x.shape()),
        ));
    }
    let s = x.shape();
    let (n, h, w, c) = match data_format {
        DataFormat::ChannelsLast => (s[0], s[1], s[2], s[3]),
        DataFormat::ChannelsFirst => (s[0], s[2], s[3], s[1]),
    };
    if c % (bs * bs) != 0 {
        return Err(shape_err(
            OP,
            format!(
                "the number of channels ({c}) must be divisible by block_size² ({})",
                bs * bs
            ),
        ));
    }
    let nc = c / (bs * bs);
    match data_format {
        DataFormat::ChannelsLast => {
            let y = lax::reshape(&x, &[n, h, w, bs, bs, nc])?;
            let y = lax::transpose(&y, &[0, 1, 3, 2, 4, 5])?;
            lax::reshape(&y, &[n, h * bs, w * bs, nc])
        }
        DataFormat::ChannelsFirst => {
            let y = lax::reshape(&x, &[n, nc, bs, bs, h, w])?;
            let y = lax::transpose(&y, &[0, 1, 4, 2, 5, 3])?;
            lax::reshape(&y, &[n, nc, h * bs, w * bs])
        }
    }
}

/// Rearranges spatial blocks into depth (pixel unshuffle), the inverse of
/// [`depth_to_space`] (`keras.ops.space_to_depth`).
pub fn space_to_depth(
    x: impl IntoTensor,
    block_size: i64,
    data_format: DataFormat,
) -> Result<Tensor> {
    const OP: &str = "space_to_depth";
    let bs = check_block(OP, block_size)?;
    let x = x.into_tensor()?;
    if x.ndim() != 4 {
        return Err(shape_err(
            OP,
            format!("requires a 4D input tensor, got shape {:?}", x.shape()),
        ));
    }
    let s = x.shape();
    let (n, h, w, c) = match data_format {
        DataFormat::ChannelsLast => (s[0], s[1], s[2], s[3]),
        DataFormat::ChannelsFirst => (s[0], s[2], s[3], s[1]),
    };
    if h % bs != 0 || w % bs != 0 {
        return Err(shape_err(
            OP,
            format!("height ({h}) and width ({w}) must be divisible by block_size ({bs})"),
        ));
    }
    let (nh, nw) = (h / bs, w / bs);
    match data_format {
        DataFormat::ChannelsLast => {
            let y = lax::reshape(&x, &[n, nh, bs, nw, bs, c])?;
            let y = lax::transpose(&y, &[0, 1, 3, 2, 4, 5])?;
            lax::reshape(&y, &[n, nh, nw, c * bs * bs])
        }
        DataFormat::ChannelsFirst => {
            let y = lax::reshape(&x, &[n, c, nh, bs, nw, bs])?;
            let y = lax::transpose(&y, &[0, 1, 3, 5, 2, 4])?;
            lax::reshape(&y, &[n, c * bs * bs, nh, nw])
        }
    }
}
