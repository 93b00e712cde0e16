//! Losses of `keras.ops.nn`: binary / categorical / sparse categorical
//! cross-entropy and CTC, with Keras's numerics (probabilities clipped to
//! `[epsilon, 1 - epsilon]`, categorical probabilities renormalized by their sum).

use super::nn::{compute_dtype, log_softmax, one_hot};
use super::*;
use crate::dtype::DType;
use crate::error::shape_err;
use crate::shape::norm_axis;

/// `[epsilon, 1 - epsilon]` as scalars rounded to `d` (as Keras's constants are),
/// then cast to the compute dtype `cd`.
fn clip_bounds(d: DType, cd: DType) -> Result<(Tensor, Tensor)> {
    let eps = config::epsilon();
    let lo = lax::convert(&lax::scalar(eps, d)?, cd)?;
    let hi = lax::convert(&lax::scalar(1.0 - eps, d)?, cd)?;
    Ok((lo, hi))
}

fn clip_probs(x: &Tensor, d: DType) -> Result<Tensor> {
    let (lo, hi) = clip_bounds(d, x.dtype())?;
    minimum(maximum(x, &lo)?, &hi)
}

/// `log(sigmoid(x))`, stably.
fn log_sigmoid_f(x: &Tensor) -> Result<Tensor> {
    // -softplus(-x) = -(max(-x, 0) + log1p(exp(-|x|)))
    let sp = add(
        maximum(negative(x)?, 0.0)?,
        log1p(exp(negative(abs(x)?)?)?)?,
    )?;
    negative(sp)
}

fn same_shape(op: &str, t: &Tensor, o: &Tensor) -> Result<()> {
    if t.shape() != o.shape() {
        return Err(shape_err(
            op,
            format!(
                "arguments `target` and `output` must have the same shape, got target.shape={:?}, output.shape={:?}",
                t.shape(),
                o.shape()
            ),
        ));
    }
    Ok(())
}

/// Element-wise binary cross-entropy between `target` and `output` (probabilities, or
/// logits when `from_logits`). Probabilities are clipped to `[epsilon, 1 - epsilon]`.
///
/// ```
/// use ceras::{ops, Tensor};
/// let t = Tensor::from_vec(vec![1.0f32, 0.0], [2]).unwrap();
/// let o = Tensor::from_vec(vec![0.5f32, 0.5], [2]).unwrap();
/// let l = ops::binary_crossentropy(&t, &o, false).unwrap().to_vec::<f32>().unwrap();
/// assert!((l[0] - std::f32::consts::LN_2).abs() < 1e-6);
/// ```
pub fn binary_crossentropy(
    target: impl IntoTensor,
    output: impl IntoTensor,
    from_logits: bool,
) -> Result<Tensor> {
    const OP: &str = "binary_crossentropy";
    let (t, o) = (target.into_tensor()?, output.into_tensor()?);
    same_shape(OP, &t, &o)?;
    let d = float_dtype(&[&t, &o]);
    let cd = compute_dtype(d);
    let (t, o) = (lax::convert(&t, cd)?, lax::convert(&o, cd)?);
    let one_minus_t = subtract(1.0, &t)?;
    let r = if from_logits {
        let a = multiply(&t, log_sigmoid_f(&o)?)?;
        let b = multiply(&one_minus_t, log_sigmoid_f(&negative(&o)?)?)?;
        subtract(negative(a)?, b)?
    } else {
        let o = clip_probs(&o, d)?;
        let a = multiply(&t, log(&o)?)?;
        let b = multiply(&one_minus_t, log(subtract(1.0, &o)?)?)?;
        negative(add(a, b)?)?
    };
    lax::convert(&r, d)
}

/// Log-probabilities of `output` along `axis`: `log_softmax` of logits, or the
/// renormalized, clipped log of probabilities.
fn log_probs(o: &Tensor, axis: i64, from_logits: bool, d: DType) -> Result<Tensor> {
    if from_logits {
        return log_softmax(o, axis);
    }
    let s = sum(o, Some(&[axis]), true)?;
    let p = clip_probs(&divide(o, &s)?, d)?;
    log(&p)
}

/// Categorical cross-entropy `-sum(target * log(output), axis)` (Keras's default
/// `axis` is -1). Without `from_logits`, `output` is divided by its sum along `axis`
/// and clipped to `[epsilon, 1 - epsilon]`.
///
/// ```
/// use ceras::{ops, Tensor};
/// let t = Tensor::from_vec(vec![0.0f32, 1.0], [1, 2]).unwrap();
/// let o = Tensor::from_vec(vec![0.5f32, 0.5], [1, 2]).unwrap();
/// let l = ops::categorical_crossentropy(&t, &o, false, -1).unwrap();
/// assert!((l.to_vec::<f32>().unwrap()[0] - std::f32::consts::LN_2).abs() < 1e-6);
/// ```
pub fn categorical_crossentropy(
    target: impl IntoTensor,
    output: impl IntoTensor,
    from_logits: bool,
    axis: i64,
) -> Result<Tensor> {
    const OP: &str = "categorical_crossentropy";
    let (t, o) = (target.into_tensor()?, output.into_tensor()?);
    same_shape(OP, &t, &o)?;
    if t.ndim() < 1 {
        return Err(shape_err(
            OP,
            "arguments `target` and `output` must be at least rank 1, got scalars",
        ));
    }
    norm_axis(OP, axis, o.ndim())?;
    let d = float_dtype(&[&t, &o]);
    let cd = compute_dtype(d);
    let (t, o) = (lax::convert(&t, cd)?, lax::convert(&o, cd)?);
    let lp = log_probs(&o, axis, from_logits, d)?;
    let r = negative(sum(multiply(&t, &lp)?, Some(&[axis]), false)?)?;
    lax::convert(&r, d)
}

/// Categorical cross-entropy with integer class targets (Keras's default `axis` is
/// -1). `target` has the shape of `output` without its last dimension (a trailing
/// dimension of size 1 is squeezed). As with Keras on JAX, the one-hot targets are
/// `float32`, so half-precision outputs give `float32` losses.
///
/// ```
/// use ceras::{ops, Tensor};
/// let t = Tensor::from_vec(vec![1i32], [1]).unwrap();
/// let o = Tensor::from_vec(vec![0.5f32, 0.5], [1, 2]).unwrap();
/// let l = ops::sparse_categorical_crossentropy(&t, &o, false, -1).unwrap();
/// assert!((l.to_vec::<f32>().unwrap()[0] - std::f32::consts::LN_2).abs() < 1e-6);
/// ```
pub fn sparse_categorical_crossentropy(
    target: impl IntoTensor,
    output: impl IntoTensor,
    from_logits: bool,
    axis: i64,
) -> Result<Tensor> {
    const OP: &str = "sparse_categorical_crossentropy";
    let (t, o) = (target.into_tensor()?, output.into_tensor()?);
    let mut t = lax::convert(&t, DType::I32)?;
    if t.ndim() == o.ndim() && t.ndim() > 0 && t.shape()[t.ndim() - 1] == 1 {
        t = lax::reshape(&t, &t.shape()[..t.ndim() - 1])?;
    }
    if o.ndim() < 1 {
        return Err(shape_err(
            OP,
            "argument `output` must be at least rank 1, got a scalar",
        ));
    }
    if t.shape() != &o.shape()[..o.ndim() - 1] {
        return Err(shape_err(
            OP,
            format!(
                "arguments `target` and `output` must have the same shape up until the last dimension, \
                 got target.shape={:?}, output.shape={:?}",
                t.shape(),
                o.shape()
            ),
        ));
    }
    let ax = norm_axis(OP, axis, o.ndim())?;
    let d = float_dtype(&[&o]);
    let cd = compute_dtype(d);
    let lp = log_probs(&lax::convert(&o, cd)?, axis, from_logits, d)?;
    let lp = lax::convert(&lp, d)?;
    let oh = one_hot(&t, o.shape()[ax], axis, Some(DType::F32))?;
    negative(sum(multiply(&oh, &lp)?, Some(&[axis]), false)?)
}

/// `log(exp(a) + exp(b))`, stably (NaN differences give `a + b`, as JAX).
fn logaddexp(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let m = maximum(a, b)?;
    let delta = subtract(a, b)?;
    let v = add(&m, log1p(exp(negative(abs(&delta)?)?)?)?)?;
    r#where(isnan(&delta)?, add(a, b)?, v)
}

/// Connectionist temporal classification loss per batch element
/// (`keras.ops.ctc_loss`): `target` `(batch, max_label_len)` integer labels,
/// `output` `(batch, max_time, classes)` logits, the lengths `(batch,)`, and the blank
/// class `mask_index` (Keras's default 0). Computed with the forward algorithm in log
/// space (Keras's JAX implementation, from optax); the result has at least `float32`
/// precision.
pub fn ctc_loss(
    target: impl IntoTensor,
    output: impl IntoTensor,
    target_length: impl IntoTensor,
    output_length: impl IntoTensor,
    mask_index: i64,
) -> Result<Tensor> {
    const OP: &str = "ctc_loss";
    let t = lax::convert(&target.into_tensor()?, DType::I32)?;
    let o = output.into_tensor()?;
    let tl = lax::convert(&target_length.into_tensor()?, DType::I32)?;
    let ol = lax::convert(&output_length.into_tensor()?, DType::I32)?;
    if t.ndim() != 2 || o.ndim() != 3 || t.shape()[0] != o.shape()[0] {
        return Err(shape_err(
            OP,
            format!(
                "expected target (batch, max_label_length) and output (batch, max_time, classes) with the same batch, \
                 got target.shape={:?}, output.shape={:?}",
                t.shape(),
                o.shape()
            ),
        ));
    }
    let (b, tmax, c) = (o.shape()[0], o.shape()[1], o.shape()[2]);
    let l = t.shape()[1];
    if tl.shape() != [b] || ol.shape() != [b] {
        return Err(shape_err(
            OP,
            format!(
                "target_length and output_length must have shape ({b},), got {:?} and {:?}",
                tl.shape(),
                ol.shape()
            ),
        ));
    }
    if mask_index < 0 || mask_index as usize >= c {
        return Err(arg_err(
            OP,
            format!("mask_index {mask_index} is out of range for {c} classes"),
        ));
    }
    let d = crate::dtype::result_type(&[o.dtype(), DType::F32]);
    let o = lax::convert(&o, d)?;
    const LOG_EPS: f64 = -1e5;
    let pads = |len: &Tensor, n: usize| -> Result<Tensor> {
        let idx = lax::iota(&[b, n], DType::I32, 1)?;
        let lb = lax::broadcast_in_dim(len, &[b, n], &[0])?;
        lax::convert(&lax::compare(CmpOp::Ge, &idx, &lb)?, d)
    };
    let tpad = pads(&tl, l)?;
    let opad = pads(&ol, tmax)?;
    let logprobs = log_softmax(&o, -1)?;
    let label_len = lax::convert(
        &subtract(
            l as i64,
            lax::convert(&sum(&tpad, Some(&[1]), false)?, DType::I32)?,
        )?,
        DType::I32,
    )?;
    // repeat[b, n] = 1 when label[b, n] == label[b, n + 1].
    let repeat = if l > 1 {
        let eq = lax::compare(
            CmpOp::Eq,
            &lax::slice_axis(&t, 1, 0, l - 1)?,
            &lax::slice_axis(&t, 1, 1, l)?,
        )?;
        let r = lax::convert(&eq, d)?;
        lax::pad(&r, &lax::scalar(0.0, d)?, &[0, 0], &[0, 1], &[0, 0])?
    } else {
        lax::full(&[b, l], 0.0, d)?
    };
    let mi = mask_index as usize;
    let lp_phi = lax::slice_axis(&logprobs, 2, mi, mi + 1)?; // [B, T, 1]
    let oh = one_hot(&t, c, -1, Some(d))?; // [B, L, C]
    let lp_emit = lax::dot_general(&logprobs, &oh, &[2], &[2], &[0], &[0])?; // [B, T, L]
    let mut phi = {
        let first = lax::full(&[b, 1], 0.0, d)?;
        let rest = lax::full(&[b, l], LOG_EPS, d)?;
        lax::concatenate(&[&first, &rest], 1)?
    };
    let mut emit = lax::full(&[b, l], LOG_EPS, d)?;
    let update_phi = |phi: &Tensor, added: &Tensor| -> Result<Tensor> {
        let head = lax::slice_axis(phi, 1, 0, 1)?;
        let tail = lax::slice_axis(phi, 1, 1, l + 1)?;
        lax::concatenate(&[&head, &logaddexp(&tail, added)?], 1)
    };
    let rep_eps = multiply(&repeat, LOG_EPS)?;
    let norep_eps = multiply(subtract(1.0, &repeat)?, LOG_EPS)?;
    for step in 0..tmax {
        let e_t = lax::reshape(&lax::slice_axis(&lp_emit, 1, step, step + 1)?, &[b, l])?;
        let p_t = lax::reshape(&lax::slice_axis(&lp_phi, 1, step, step + 1)?, &[b, 1])?;
        let pad = lax::slice_axis(&opad, 1, step, step + 1)?; // [B, 1]
        let prev_phi_orig = phi.clone();
        let prev_phi = update_phi(&phi, &add(&emit, &rep_eps)?)?;
        let next_emit = logaddexp(
            &add(&lax::slice_axis(&prev_phi, 1, 0, l)?, &e_t)?,
            &add(&emit, &e_t)?,
        )?;
        let next_phi = add(&prev_phi, &p_t)?;
        let next_phi = update_phi(&next_phi, &add(add(&emit, &p_t)?, &norep_eps)?)?;
        let keep = subtract(1.0, &pad)?;
        let next_emit = add(multiply(&pad, &emit)?, multiply(&keep, &next_emit)?)?;
        let next_phi = add(multiply(&pad, &prev_phi_orig)?, multiply(&keep, &next_phi)?)?;
        phi = next_phi;
        emit = next_emit;
    }
    let last = update_phi(&phi, &emit)?;
    let sel = one_hot(&label_len, l + 1, -1, Some(d))?;
    negative(sum(multiply(&last, &sel)?, Some(&[1]), false)?)
}
