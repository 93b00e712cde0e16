//! # ceras-cpu
//!
//! The native, pure-Rust CPU backend of ceras. Buffers are plain [`HostData`]
//! (contiguous, row-major), so moving data in and out is free. Every primitive of
//! [`Prim`] is implemented with monomorphized loops, parallelized with rayon for
//! large inputs; matrix products and convolutions use the `gemm` crate.
//!
//! The backend registers itself under the name `"cpu"` through `inventory`; call
//! [`register`] from a binary to make sure the crate is linked.

mod adam;
mod attention;
mod bias_relu;
mod conv;
mod elementwise;
mod fastmath;
mod index;
mod layer_norm;
mod layout;
mod lstm;
mod matmul;
mod num;
pub mod pool;
mod reduce;
mod rows;
mod softmax;
mod special;
mod threefry;
mod window;

use ceras_core::backend::{Backend, BackendRegistration, Buffer, BufferRef, Fused, Operand};
use ceras_core::error::{arg_err, dtype_err, shape_err, unsupported, Error, Result};
use ceras_core::prim::{Prim, Spec};
use ceras_core::shape::numel;
use ceras_core::{DType, HostData};
use std::any::Any;
use std::sync::Arc;

/// Storage of the cpu backend: the host vector itself.
#[derive(Debug, Clone, PartialEq)]
pub struct CpuBuffer(pub HostData);

impl Drop for CpuBuffer {
    fn drop(&mut self) {
        // Large buffers go back to the cache for the next output of their size.
        pool::give(std::mem::replace(&mut self.0, HostData::Bool(Vec::new())));
    }
}

impl Buffer for CpuBuffer {
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The native CPU backend (`"cpu"`, Keras alias `"numpy"`).
#[derive(Debug, Default, Clone, Copy)]
pub struct CpuBackend;

impl CpuBackend {
    /// Creates the backend (stateless; rayon's global pool does the threading).
    pub fn new() -> CpuBackend {
        CpuBackend
    }
}

/// Forces this crate to be linked so its `inventory` registration is seen.
/// A no-op otherwise; the umbrella crate calls it.
pub fn register() {}

fn make_cpu() -> Result<Arc<dyn Backend>> {
    Ok(Arc::new(CpuBackend::new()))
}

inventory::submit! {
    BackendRegistration { name: "cpu", make: make_cpu }
}

/// The host data of an operand, checked against its dtype and shape.
/// The float32 storage of every operand (the fused kernels' inputs).
fn f32_data<'a>(op: &str, inputs: &[Operand<'a>]) -> Result<Vec<&'a [f32]>> {
    inputs
        .iter()
        .map(|x| match host(op, x)? {
            HostData::F32(v) => Ok(&v[..]),
            d => Err(dtype_err(
                op,
                format!("expected float32 storage, got {}", d.dtype()),
            )),
        })
        .collect()
}

fn host<'a>(op: &str, x: &Operand<'a>) -> Result<&'a HostData> {
    let b = x.buf.as_any().downcast_ref::<CpuBuffer>().ok_or_else(|| {
        Error::Backend(format!(
            "{op}: operand buffer does not belong to the cpu backend"
        ))
    })?;
    if b.0.dtype() != x.dtype {
        return Err(dtype_err(
            op,
            format!(
                "operand declared {} but its buffer holds {}",
                x.dtype,
                b.0.dtype()
            ),
        ));
    }
    if b.0.len() != numel(x.shape) {
        return Err(shape_err(
            op,
            format!(
                "operand of shape {:?} but its buffer has {} elements",
                x.shape,
                b.0.len()
            ),
        ));
    }
    Ok(&b.0)
}

fn buf(d: HostData) -> BufferRef {
    Arc::new(CpuBuffer(d))
}

impl Backend for CpuBackend {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn from_host(&self, data: HostData, shape: &[usize]) -> Result<BufferRef> {
        if data.len() != numel(shape) {
            return Err(shape_err(
                "from_host",
                format!(
                    "{} elements do not fill shape {shape:?} ({} elements)",
                    data.len(),
                    numel(shape)
                ),
            ));
        }
        Ok(buf(data))
    }

    fn to_host(&self, b: &BufferRef, shape: &[usize], dtype: DType) -> Result<HostData> {
        host(
            "to_host",
            &Operand {
                buf: b,
                shape,
                dtype,
            },
        )
        .cloned()
    }

    fn execute(
        &self,
        prim: &Prim,
        inputs: &[Operand<'_>],
        outs: &[Spec],
    ) -> Result<Vec<BufferRef>> {
        let op = prim.name();
        ceras_core::backend::check_execute_args(prim, inputs, outs)?;
        let data = |i: usize| host(op, &inputs[i]);
        let shape = |i: usize| inputs[i].shape;
        let out_shape = outs[0].shape.as_slice();
        let out = match prim {
            Prim::Unary(u) => match elementwise::unary(*u, data(0)?)? {
                Some(d) => d,
                None => return Ok(vec![inputs[0].buf.clone()]),
            },
            Prim::Binary(b) => elementwise::binary(*b, data(0)?, data(1)?)?,
            Prim::Compare(c) => elementwise::compare(*c, data(0)?, data(1)?)?,
            Prim::Select => elementwise::select(data(0)?, data(1)?, data(2)?)?,
            Prim::Cast(d) => {
                if inputs[0].dtype == *d {
                    return Ok(vec![inputs[0].buf.clone()]);
                }
                elementwise::cast(data(0)?, *d)
            }
            Prim::Broadcast { dims, .. } => {
                if shape(0) == out_shape {
                    return Ok(vec![inputs[0].buf.clone()]);
                }
                layout::broadcast(data(0)?, shape(0), out_shape, dims)
            }
            Prim::Reshape(_) => {
                data(0)?;
                return Ok(vec![inputs[0].buf.clone()]);
            }
            Prim::Transpose(perm) => layout::transpose(data(0)?, shape(0), perm),
            Prim::Slice { start, strides, .. } => {
                layout::slice(data(0)?, shape(0), start, out_shape, strides)
            }
            Prim::Pad { lo, interior, .. } => {
                let (x, pv) = (data(0)?, data(1)?);
                if pv.len() != 1 || pv.dtype() != x.dtype() {
                    return Err(arg_err(
                        op,
                        "padding value must be a scalar of the operand's dtype",
                    ));
                }
                layout::pad(x, pv, shape(0), out_shape, lo, interior)
            }
            Prim::Concatenate(axis) => {
                let parts: Vec<(&HostData, &[usize])> = (0..inputs.len())
                    .map(|i| Ok((data(i)?, shape(i))))
                    .collect::<Result<_>>()?;
                if parts.iter().any(|(d, _)| d.dtype() != parts[0].0.dtype()) {
                    return Err(dtype_err(op, "operands must have equal dtypes"));
                }
                layout::concatenate(&parts, *axis, numel(out_shape))
            }
            Prim::Reverse(axes) => layout::reverse(data(0)?, shape(0), axes),
            Prim::Reduce { op: r, axes } => reduce::reduce(*r, data(0)?, shape(0), axes)?,
            Prim::ArgReduce {
                op: a,
                axis,
                index_dtype,
            } => reduce::argreduce(*a, data(0)?, shape(0), *axis, *index_dtype)?,
            Prim::DotGeneral {
                lhs_contract,
                rhs_contract,
                lhs_batch,
                rhs_batch,
            } => {
                let dims = matmul::DotDims {
                    lc: lhs_contract,
                    rc: rhs_contract,
                    lb: lhs_batch,
                    rb: rhs_batch,
                };
                matmul::dot_general(data(0)?, shape(0), data(1)?, shape(1), &dims)?
            }
            Prim::Conv {
                dims,
                strides,
                padding,
                lhs_dilation,
                rhs_dilation,
                groups,
            } => {
                let p = conv::ConvParams {
                    strides,
                    padding,
                    lhs_dilation,
                    rhs_dilation,
                    groups: *groups,
                };
                conv::conv(data(0)?, shape(0), data(1)?, shape(1), out_shape, &p, dims)?
            }
            Prim::ReduceWindow {
                op: w,
                window,
                strides,
                padding,
            } => {
                let win = window::Window {
                    window,
                    strides,
                    padding,
                };
                window::reduce_window(*w, data(0)?, shape(0), &win, out_shape)?
            }
            Prim::SelectAndScatterAdd {
                window,
                strides,
                padding,
            } => {
                let win = window::Window {
                    window,
                    strides,
                    padding,
                };
                window::select_and_scatter_add(data(0)?, data(1)?, shape(0), &win, shape(1))?
            }
            Prim::Gather { axis } => index::gather(data(0)?, shape(0), data(1)?, *axis)?,
            Prim::Scatter { axis, mode } => {
                index::scatter(data(0)?, shape(0), data(1)?, data(2)?, *axis, *mode)?
            }
            Prim::Iota { shape, dtype, dim } => index::iota(shape, *dtype, *dim),
            Prim::Sort { axis, descending } => {
                let (v, i) = index::sort(data(0)?, shape(0), *axis, *descending);
                return Ok(vec![buf(v), buf(i)]);
            }
            Prim::Cumulative {
                op: c,
                axis,
                reverse,
            } => reduce::cumulative(*c, data(0)?, shape(0), *axis, *reverse)?,
            Prim::StopGradient => {
                return Err(unsupported(
                    op,
                    "stop_gradient is handled by the dispatcher and never reaches a backend",
                ))
            }
        };
        if out.len() != numel(out_shape) || out.dtype() != outs[0].dtype {
            return Err(Error::Backend(format!(
                "{op}: produced {} elements of {} for output spec {:?} {}",
                out.len(),
                out.dtype(),
                out_shape,
                outs[0].dtype
            )));
        }
        Ok(vec![buf(out)])
    }

    fn fused(
        &self,
        op: &Fused,
        inputs: &[Operand<'_>],
        _outs: &[Spec],
    ) -> Option<Result<Vec<BufferRef>>> {
        if let Fused::Adam {
            beta_1,
            beta_2,
            epsilon,
        } = op
        {
            return adam::fused_adam(inputs, *beta_1, *beta_2, *epsilon)
                .map(|r| r.map(|outs| outs.into_iter().map(buf).collect()));
        }
        if let Fused::BiasRelu = op {
            return bias_relu::bias_relu(inputs)
                .map(|r| r.map(|outs| outs.into_iter().map(buf).collect()));
        }
        if let Fused::Threefry2x32 = op {
            return threefry::threefry2x32(inputs)
                .map(|r| r.map(|outs| outs.into_iter().map(buf).collect()));
        }
        if let Fused::SoftmaxLast | Fused::SoftmaxLastGrad = op {
            return softmax_last(op, inputs);
        }
        if let Fused::LstmCell | Fused::LstmCellGrad = op {
            return lstm_cell(op, inputs);
        }
        if let Fused::LayerNormLast { .. } | Fused::LayerNormLastGrad { .. } = op {
            return layer_norm_last(op, inputs);
        }
        if let Fused::DotProductAttention { scale, causal }
        | Fused::DotProductAttentionGrad { scale, causal } = op
        {
            return dot_product_attention(op, inputs, *scale, *causal);
        }
        let (axis, log) = match op {
            Fused::Softmax { axis } => (*axis, false),
            Fused::LogSoftmax { axis } => (*axis, true),
            // Layer norm and attention run as their primitive decompositions here.
            _ => return None,
        };
        let x = inputs.first()?;
        if x.dtype != DType::F32 || axis >= x.shape.len() {
            return None;
        }
        let HostData::F32(v) = host("softmax", x).ok()? else {
            return None;
        };
        Some(Ok(vec![buf(HostData::F32(softmax::softmax(
            v, x.shape, axis, log,
        )))]))
    }
}

/// [`Fused::SoftmaxLast`] / [`Fused::SoftmaxLastGrad`] on f32 operands of one
/// shape (rank ≥ 1); `None` otherwise (the decomposition runs).
fn softmax_last(op: &Fused, inputs: &[Operand<'_>]) -> Option<Result<Vec<BufferRef>>> {
    let want = if let Fused::SoftmaxLast = op { 1 } else { 2 };
    if inputs.len() != want
        || inputs
            .iter()
            .any(|x| x.dtype != DType::F32 || x.shape != inputs[0].shape)
    {
        return None;
    }
    let l = *inputs[0].shape.last()?;
    let data = match f32_data("softmax", inputs) {
        Ok(d) => d,
        Err(e) => return Some(Err(e)),
    };
    let out = match data[..] {
        [x] => softmax::softmax_last(x, l),
        [y, g] => softmax::softmax_last_grad(y, g, l),
        _ => return None,
    };
    Some(Ok(vec![buf(HostData::F32(out))]))
}

/// [`Fused::LstmCell`] / [`Fused::LstmCellGrad`] on f32 operands: `z` of
/// `(batch, 4·units)`, the others `(batch, units)`; `None` otherwise.
fn lstm_cell(op: &Fused, inputs: &[Operand<'_>]) -> Option<Result<Vec<BufferRef>>> {
    let want = if let Fused::LstmCell = op { 2 } else { 5 };
    let [z, rest @ ..] = inputs else { return None };
    let (b, u) = match rest.first()?.shape {
        &[b, u] => (b, u),
        _ => return None,
    };
    if inputs.len() != want
        || z.shape != [b, 4 * u]
        || inputs.iter().any(|x| x.dtype != DType::F32)
        || rest.iter().any(|x| x.shape != [b, u])
    {
        return None;
    }
    let data = match f32_data("lstm_cell", inputs) {
        Ok(d) => d,
        Err(e) => return Some(Err(e)),
    };
    let (a, b) = match data[..] {
        [z, c] => lstm::lstm_cell(z, c, u),
        [z, c, cn, gh, gc] => lstm::lstm_cell_grad(z, c, cn, gh, gc, u),
        _ => return None,
    };
    Some(Ok(vec![buf(HostData::F32(a)), buf(HostData::F32(b))]))
}

/// [`Fused::LayerNormLast`] / [`Fused::LayerNormLastGrad`] on f32 operands:
/// `x` of rank ≥ 1 with a nonzero last axis `l`, vectors `(l,)`, statistics of
/// `x`'s shape with the last axis 1; `None` otherwise.
fn layer_norm_last(op: &Fused, inputs: &[Operand<'_>]) -> Option<Result<Vec<BufferRef>>> {
    let x = inputs.first()?;
    let (&l, lead) = x.shape.split_last()?;
    let stat: Vec<usize> = lead.iter().copied().chain([1]).collect();
    let vector = [l];
    let (shapes, eps, gamma): (Vec<&[usize]>, f64, bool) = match *op {
        Fused::LayerNormLast {
            epsilon,
            gamma,
            beta,
        } => {
            let mut s = vec![x.shape];
            s.extend(std::iter::repeat_n(
                &vector[..],
                gamma as usize + beta as usize,
            ));
            (s, epsilon, gamma)
        }
        Fused::LayerNormLastGrad { gamma } => {
            let mut s = vec![x.shape, &stat, &stat, x.shape];
            if gamma {
                s.push(&vector);
            }
            (s, 0.0, gamma)
        }
        _ => return None,
    };
    if l == 0
        || inputs.len() != shapes.len()
        || inputs.iter().any(|x| x.dtype != DType::F32)
        || inputs.iter().zip(&shapes).any(|(x, s)| x.shape != *s)
    {
        return None;
    }
    let data = match f32_data("layer_normalization", inputs) {
        Ok(d) => d,
        Err(e) => return Some(Err(e)),
    };
    let outs = match (op, &data[..]) {
        (Fused::LayerNormLast { beta, .. }, [x, rest @ ..]) => {
            let g = gamma.then(|| rest[0]);
            let b = beta.then(|| rest[gamma as usize]);
            let (y, m, r) = layer_norm::layer_norm_last(x, l, g, b, eps);
            vec![y, m, r]
        }
        (Fused::LayerNormLastGrad { .. }, [x, m, r, dy, rest @ ..]) => {
            let (dx, dyx) = layer_norm::layer_norm_last_grad(x, m, r, dy, rest.first().copied(), l);
            std::iter::once(dx).chain(dyx).collect()
        }
        _ => return None,
    };
    Some(Ok(outs
        .into_iter()
        .map(|o| buf(HostData::F32(o)))
        .collect()))
}

/// [`Fused::DotProductAttention`] / [`Fused::DotProductAttentionGrad`] on
/// f32 operands `q (b, t, n, h)`, `k (b, s, n, h)`, `v (b, s, n, hv)` (then,
/// for the VJP, the probabilities `(b, n, t, s)` and the cotangent
/// `(b, t, n, hv)`), all dims nonzero; `None` otherwise.
fn dot_product_attention(
    op: &Fused,
    inputs: &[Operand<'_>],
    scale: f64,
    causal: bool,
) -> Option<Result<Vec<BufferRef>>> {
    let want = if let Fused::DotProductAttention { .. } = op {
        3
    } else {
        5
    };
    let [q, k, v, ..] = inputs else { return None };
    let (&[b, t, n, h], &[_, s, _, _], &[_, _, _, hv]) = (q.shape, k.shape, v.shape) else {
        return None;
    };
    let d = attention::Dims { b, t, s, n, h, hv };
    let mut shapes = vec![[b, t, n, h], [b, s, n, h], [b, s, n, hv]];
    if want == 5 {
        shapes.extend([[b, n, t, s], [b, t, n, hv]]);
    }
    if inputs.len() != want
        || [b, t, s, n, h, hv].contains(&0)
        || inputs.iter().any(|x| x.dtype != DType::F32)
        || inputs.iter().zip(&shapes).any(|(x, s)| x.shape != s)
    {
        return None;
    }
    let data = match f32_data("dot_product_attention", inputs) {
        Ok(d) => d,
        Err(e) => return Some(Err(e)),
    };
    let outs = match data[..] {
        [q, k, v] => {
            let (o, p) = attention::attention(q, k, v, d, scale, causal);
            vec![o, p]
        }
        [q, k, v, p, g] => {
            let (dq, dk, dv) = attention::attention_grad(q, k, v, p, g, d, scale, causal);
            vec![dq, dk, dv]
        }
        _ => return None,
    };
    Some(Ok(outs
        .into_iter()
        .map(|o| buf(HostData::F32(o)))
        .collect()))
}

#[cfg(test)]
mod tests;
