//! # ceras-torch
//!
//! The `torch` backend of ceras: every primitive of [`Prim`] runs as libtorch
//! operations through [`tch`], on the CPU or on a CUDA device.
//!
//! * **Device.** Like Keras, a GPU is used when one is present: the device is
//!   `CERAS_TORCH_DEVICE` (`cpu`, `cuda`, `cuda:N`) when set, else CUDA device 0
//!   when libtorch sees one, else the CPU. [`device`] tells which.
//! * **Storage.** A buffer holds a `tch::Tensor` (possibly a view: broadcasts,
//!   transposes and slices are not copied). libtorch has no `uint16/32/64`
//!   tensors in `tch`, so tensors of those dtypes are held on the host, and every
//!   primitive touching one runs on the `cpu` backend's kernels. The same
//!   delegation covers the integer corner cases whose XLA semantics libtorch does
//!   not share (integer division, remainder, power and shifts by out-of-range
//!   amounts, float → integer casts that saturate) and integer matrix products and
//!   convolutions; results are then bit-identical to the `cpu` backend. Random
//!   numbers (Threefry on `uint32`) are therefore identical to the `cpu` backend's.
//! * **Half precision.** Element-wise ops, matrix products and convolutions on
//!   `float16` / `bfloat16` compute in `float32` and round once, as the `cpu`
//!   backend does.
//! * **Fused paths.** In inference (no gradient tape, no trace) softmax,
//!   log-softmax, layer normalization and scaled dot-product attention use
//!   libtorch's kernels; convolutions (and the convolutions their gradients
//!   lower to) are libtorch's convolution.
//!
//! The backend registers itself under the name `"torch"` (Keras alias `"pytorch"`);
//! select it with `KERAS_BACKEND=torch` in a binary built with ceras's `torch`
//! feature.

mod interop;

pub use interop::{buffer_from_tensor, tensor_of_buffer};

use ceras_core::backend::{Backend, BackendRegistration, Buffer, BufferRef, Fused, Operand};
use ceras_core::error::{arg_err, dtype_err, shape_err, Error, Result};
use ceras_core::prim::{
    logical_shape, ArgOp, BinaryOp, CmpOp, CumOp, Prim, ReduceOp, ScatterMode, Spec, UnaryOp,
    WindowOp,
};
use ceras_core::shape::numel;
use ceras_core::{DType, HostData};
use ceras_cpu::CpuBackend;
use std::any::Any;
use std::sync::{Arc, Mutex, OnceLock};
use tch::{Device, Kind, Tensor};

/// Storage of the torch backend.
#[derive(Debug)]
pub struct TorchBuffer(Store);

#[derive(Debug)]
enum Store {
    /// A libtorch tensor. `tch::Tensor` is `Send` but not `Sync`; the mutex makes
    /// the buffer shareable without `unsafe`, and is held only to take a shallow
    /// clone (a new handle on the same storage).
    Torch(Mutex<Tensor>),
    /// `uint16` / `uint32` / `uint64` data, which `tch` cannot hold.
    Host(HostData),
}

impl Buffer for TorchBuffer {
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl TorchBuffer {
    fn torch(t: Tensor) -> BufferRef {
        Arc::new(TorchBuffer(Store::Torch(Mutex::new(t))))
    }

    fn host(d: HostData) -> BufferRef {
        Arc::new(TorchBuffer(Store::Host(d)))
    }

    /// A new handle on the libtorch tensor (shared storage), or `None` for host data.
    pub fn tensor(&self) -> Option<Tensor> {
        match &self.0 {
            Store::Torch(m) => Some(lock(m).shallow_clone()),
            Store::Host(_) => None,
        }
    }
}

fn lock(m: &Mutex<Tensor>) -> std::sync::MutexGuard<'_, Tensor> {
    // A poisoned lock only means another thread panicked while cloning a handle;
    // the tensor itself is never left half-written.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The libtorch backend (`"torch"`, Keras alias `"pytorch"`).
#[derive(Debug)]
pub struct TorchBackend {
    device: Device,
    cpu: CpuBackend,
}

/// Forces this crate to be linked so its `inventory` registration is seen.
pub fn register() {}

fn make_torch() -> Result<Arc<dyn Backend>> {
    Ok(Arc::new(TorchBackend::new(device()?)))
}

inventory::submit! {
    BackendRegistration { name: "torch", make: make_torch }
}

static DEVICE: OnceLock<std::result::Result<Device, String>> = OnceLock::new();

/// The device the torch backend runs on: `CERAS_TORCH_DEVICE` (`cpu`, `cuda`,
/// `cuda:N`) when set, else the first CUDA device when libtorch sees one, else the CPU.
pub fn device() -> Result<Device> {
    DEVICE
        .get_or_init(|| match std::env::var("CERAS_TORCH_DEVICE") {
            Ok(s) => parse_device(&s),
            Err(_) => Ok(Device::cuda_if_available()),
        })
        .clone()
        .map_err(Error::Backend)
}

fn parse_device(s: &str) -> std::result::Result<Device, String> {
    let s = s.trim().to_ascii_lowercase();
    let dev = match s.as_str() {
        "cpu" => Device::Cpu,
        "cuda" | "gpu" => Device::Cuda(0),
        _ => match s.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(n)) => Device::Cuda(n),
            _ => {
                return Err(format!(
                    "CERAS_TORCH_DEVICE={s:?} is not a device; expected \"cpu\", \"cuda\" or \"cuda:N\""
                ))
            }
        },
    };
    if let Device::Cuda(n) = dev {
        let count = tch::Cuda::device_count().max(0) as usize;
        if n >= count {
            return Err(format!(
                "CERAS_TORCH_DEVICE={s:?}: libtorch sees {count} CUDA device(s) \
                 (is libtorch's CUDA part installed? CERAS_TORCH_CUDA=1 tools/setup_torch.sh)"
            ));
        }
    }
    Ok(dev)
}

/// The `tch` kind of a ceras dtype, or `None` for the dtypes held on the host.
pub fn kind_of(d: DType) -> Option<Kind> {
    Some(match d {
        DType::Bool => Kind::Bool,
        DType::I8 => Kind::Int8,
        DType::I16 => Kind::Int16,
        DType::I32 => Kind::Int,
        DType::I64 => Kind::Int64,
        DType::U8 => Kind::Uint8,
        DType::F16 => Kind::Half,
        DType::BF16 => Kind::BFloat16,
        DType::F32 => Kind::Float,
        DType::F64 => Kind::Double,
        DType::U16 | DType::U32 | DType::U64 => return None,
    })
}

/// The ceras dtype of a `tch` kind, when ceras has one.
pub fn dtype_of(k: Kind) -> Option<DType> {
    Some(match k {
        Kind::Bool => DType::Bool,
        Kind::Int8 => DType::I8,
        Kind::Int16 => DType::I16,
        Kind::Int => DType::I32,
        Kind::Int64 => DType::I64,
        Kind::Uint8 => DType::U8,
        Kind::Half => DType::F16,
        Kind::BFloat16 => DType::BF16,
        Kind::Float => DType::F32,
        Kind::Double => DType::F64,
        _ => return None,
    })
}

fn on_host(d: DType) -> bool {
    kind_of(d).is_none()
}

fn is_half(d: DType) -> bool {
    matches!(d, DType::F16 | DType::BF16)
}

fn i64s(v: &[usize]) -> Vec<i64> {
    v.iter().map(|&x| x as i64).collect()
}

/// Wraps a libtorch error with the primitive's name.
fn terr(op: &str) -> impl Fn(tch::TchError) -> Error + '_ {
    move |e| Error::Backend(format!("{op}: libtorch: {e}"))
}

/// Does this primitive, on these dtypes, run on the cpu backend's kernels?
fn delegated(prim: &Prim, inputs: &[Operand<'_>], outs: &[Spec]) -> bool {
    if inputs.iter().any(|o| on_host(o.dtype)) || outs.iter().any(|s| on_host(s.dtype)) {
        return true;
    }
    let d = inputs.first().map(|o| o.dtype).unwrap_or(outs[0].dtype);
    let int_or_bool = !d.is_float();
    match prim {
        Prim::Unary(u) => d == DType::Bool && *u != UnaryOp::Not,
        Prim::Binary(b) => match b {
            BinaryOp::Div | BinaryOp::Rem | BinaryOp::Pow => int_or_bool,
            BinaryOp::ShiftLeft | BinaryOp::ShiftRight => true,
            BinaryOp::NextAfter => is_half(d),
            BinaryOp::Sub | BinaryOp::Atan2 => d == DType::Bool,
            _ => false,
        },
        Prim::Compare(c) => d == DType::Bool && !matches!(c, CmpOp::Eq | CmpOp::Ne),
        Prim::Cast(to) => d.is_float() && !to.is_float() && *to != DType::Bool,
        Prim::DotGeneral { .. } => int_or_bool,
        Prim::Conv { padding, .. } => int_or_bool || padding.is_empty() || padding.len() > 3,
        Prim::ReduceWindow { .. } | Prim::SelectAndScatterAdd { .. } => d == DType::Bool,
        Prim::Reduce { op, .. } => d == DType::Bool && !matches!(op, ReduceOp::Any | ReduceOp::All),
        Prim::ArgReduce { .. } | Prim::Sort { .. } | Prim::Cumulative { .. } => d == DType::Bool,
        _ => false,
    }
}

/// `inputs`' shapes and dtypes over the buffers `bufs` (their cpu copies).
fn cpu_operands<'a>(bufs: &'a [BufferRef], inputs: &[Operand<'a>]) -> Vec<Operand<'a>> {
    bufs.iter()
        .zip(inputs)
        .map(|(b, x)| Operand {
            buf: b,
            shape: x.shape,
            dtype: x.dtype,
        })
        .collect()
}

impl TorchBackend {
    /// A backend on `device`.
    pub fn new(device: Device) -> TorchBackend {
        TorchBackend {
            device,
            cpu: CpuBackend::new(),
        }
    }

    /// The device this backend computes on.
    pub fn device(&self) -> Device {
        self.device
    }

    fn tensor_from_host(&self, data: &HostData, shape: &[usize]) -> Result<Tensor> {
        let t = host_to_tensor(data, shape)?;
        if self.device == Device::Cpu {
            Ok(t)
        } else {
            t.f_to(self.device).map_err(terr("from_host"))
        }
    }

    fn wrap_host(&self, data: HostData, shape: &[usize]) -> Result<BufferRef> {
        if on_host(data.dtype()) {
            Ok(TorchBuffer::host(data))
        } else {
            Ok(TorchBuffer::torch(self.tensor_from_host(&data, shape)?))
        }
    }

    /// The operand as a libtorch tensor (moved to the device if it was host data).
    fn operand(&self, op: &str, x: &Operand<'_>) -> Result<Tensor> {
        let b = buffer_of(op, x.buf)?;
        match &b.0 {
            Store::Torch(m) => {
                let t = lock(m).shallow_clone();
                if dtype_of(t.kind()) != Some(x.dtype) || t.numel() != numel(x.shape) {
                    return Err(dtype_err(
                        op,
                        format!(
                            "operand declared {} {:?} but its buffer holds {:?} {:?}",
                            x.dtype,
                            x.shape,
                            t.kind(),
                            t.size()
                        ),
                    ));
                }
                Ok(t)
            }
            Store::Host(d) => self.tensor_from_host(d, x.shape),
        }
    }

    /// Copies of the operands in the cpu backend's storage.
    fn to_cpu(&self, inputs: &[Operand<'_>]) -> Result<Vec<BufferRef>> {
        inputs
            .iter()
            .map(|x| {
                let h = self.to_host(x.buf, x.shape, x.dtype)?;
                self.cpu.from_host(h, x.shape)
            })
            .collect()
    }

    /// The cpu backend's results back in this backend's storage.
    fn upload_from_cpu(&self, res: &[BufferRef], outs: &[Spec]) -> Result<Vec<BufferRef>> {
        res.iter()
            .zip(outs)
            .map(|(b, s)| {
                let h = self.cpu.to_host(b, &s.shape, s.dtype)?;
                self.wrap_host(h, &s.shape)
            })
            .collect()
    }

    /// Runs the primitive on the cpu backend's kernels, moving data through the host.
    fn delegate(
        &self,
        prim: &Prim,
        inputs: &[Operand<'_>],
        outs: &[Spec],
    ) -> Result<Vec<BufferRef>> {
        let bufs = self.to_cpu(inputs)?;
        let res = self.cpu.execute(prim, &cpu_operands(&bufs, inputs), outs)?;
        self.upload_from_cpu(&res, outs)
    }

    /// Runs a fused kernel of the cpu backend, moving data through the host
    /// (`None` when it has none for these operands).
    fn delegate_fused(
        &self,
        op: &Fused,
        inputs: &[Operand<'_>],
        outs: &[Spec],
    ) -> Option<Result<Vec<BufferRef>>> {
        let bufs = match self.to_cpu(inputs) {
            Ok(b) => b,
            Err(e) => return Some(Err(e)),
        };
        let res = self.cpu.fused(op, &cpu_operands(&bufs, inputs), outs)?;
        Some(res.and_then(|r| self.upload_from_cpu(&r, outs)))
    }

    fn run(
        &self,
        prim: &Prim,
        xs: &[Tensor],
        ins: &[Operand<'_>],
        outs: &[Spec],
    ) -> Result<Vec<Tensor>> {
        let op = prim.name();
        let e = terr(op);
        let out_shape = outs[0].shape.as_slice();
        let d0 = ins.first().map(|o| o.dtype).unwrap_or(outs[0].dtype);
        let one = |t: Tensor| Ok(vec![t]);
        match prim {
            Prim::Unary(u) => {
                if is_half(d0) {
                    let r = unary(*u, &xs[0].f_to_kind(Kind::Float).map_err(&e)?, DType::F32)
                        .map_err(&e)?;
                    return one(down(r, outs[0].dtype).map_err(&e)?);
                }
                one(unary(*u, &xs[0], d0).map_err(&e)?)
            }
            Prim::Binary(b) => {
                if is_half(d0) {
                    let a = xs[0].f_to_kind(Kind::Float).map_err(&e)?;
                    let c = xs[1].f_to_kind(Kind::Float).map_err(&e)?;
                    return one(down(binary(*b, &a, &c, DType::F32).map_err(&e)?, d0).map_err(&e)?);
                }
                one(binary(*b, &xs[0], &xs[1], d0).map_err(&e)?)
            }
            Prim::Compare(c) => one(match c {
                CmpOp::Eq => xs[0].f_eq_tensor(&xs[1]),
                CmpOp::Ne => xs[0].f_ne_tensor(&xs[1]),
                CmpOp::Lt => xs[0].f_lt_tensor(&xs[1]),
                CmpOp::Le => xs[0].f_le_tensor(&xs[1]),
                CmpOp::Gt => xs[0].f_gt_tensor(&xs[1]),
                CmpOp::Ge => xs[0].f_ge_tensor(&xs[1]),
            }
            .map_err(&e)?),
            Prim::Select => one(xs[1].f_where_self(&xs[0], &xs[2]).map_err(&e)?),
            Prim::Cast(to) => {
                let k = kind_of(*to).ok_or_else(|| dtype_err(op, "host dtype"))?;
                one(xs[0].f_to_kind(k).map_err(&e)?)
            }
            Prim::Broadcast { dims, .. } => {
                let mut mid = vec![1i64; out_shape.len()];
                for (i, &d) in dims.iter().enumerate() {
                    mid[d] = ins[0].shape[i] as i64;
                }
                one(xs[0]
                    .f_reshape(mid)
                    .and_then(|t| t.f_expand(i64s(out_shape), false))
                    .map_err(&e)?)
            }
            Prim::Reshape(_) => one(xs[0].f_reshape(i64s(out_shape)).map_err(&e)?),
            Prim::Transpose(perm) => one(xs[0].f_permute(i64s(perm)).map_err(&e)?),
            Prim::Slice {
                start,
                limit,
                strides,
            } => {
                let mut t = xs[0].shallow_clone();
                for (d, ((&s, &l), &st)) in start.iter().zip(limit).zip(strides).enumerate() {
                    if s != 0 || l != ins[0].shape[d] || st != 1 {
                        t = t
                            .f_slice(d as i64, s as i64, l as i64, st as i64)
                            .map_err(&e)?;
                    }
                }
                one(t)
            }
            Prim::Pad { lo, interior, .. } => {
                one(pad(&xs[0], &xs[1], ins[0].shape, out_shape, lo, interior).map_err(&e)?)
            }
            Prim::Concatenate(axis) => one(Tensor::f_cat(xs, *axis as i64).map_err(&e)?),
            Prim::Reverse(axes) => {
                if axes.is_empty() {
                    return one(xs[0].shallow_clone());
                }
                one(xs[0].f_flip(i64s(axes)).map_err(&e)?)
            }
            Prim::Reduce { op: r, axes } => {
                one(reduce(*r, &xs[0], ins[0].shape, axes, out_shape, d0).map_err(&e)?)
            }
            Prim::ArgReduce {
                op: a,
                axis,
                index_dtype,
            } => {
                let k = kind_of(*index_dtype).ok_or_else(|| dtype_err(op, "index dtype"))?;
                let t = match a {
                    ArgOp::ArgMax => xs[0].f_argmax(*axis as i64, false),
                    ArgOp::ArgMin => xs[0].f_argmin(*axis as i64, false),
                }
                .and_then(|t| t.f_to_kind(k))
                .map_err(&e)?;
                one(t)
            }
            Prim::DotGeneral {
                lhs_contract,
                rhs_contract,
                lhs_batch,
                rhs_batch,
            } => {
                let dims = [lhs_contract, rhs_contract, lhs_batch, rhs_batch];
                let (a, b) = widen2(&xs[0], &xs[1], d0).map_err(&e)?;
                let r =
                    dot_general(&a, ins[0].shape, &b, ins[1].shape, dims, out_shape).map_err(&e)?;
                one(down(r, d0).map_err(&e)?)
            }
            Prim::Conv {
                dims,
                strides,
                padding,
                lhs_dilation,
                rhs_dilation,
                groups,
            } => {
                let (a, b) = widen2(&xs[0], &xs[1], d0).map_err(&e)?;
                let c = ConvArgs {
                    strides,
                    padding,
                    lhs_dilation,
                    rhs_dilation,
                    groups: *groups,
                };
                // libtorch convolves `NC*sp` with `OI*sp`: permuted views in, the
                // result permuted back to the requested layout.
                let a = a.f_permute(i64s(&dims.lhs).as_slice()).map_err(&e)?;
                let b = b.f_permute(i64s(&dims.rhs).as_slice()).map_err(&e)?;
                let xshape = logical_shape(ins[0].shape, &dims.lhs);
                let r = conv(&a, &xshape, &b, &c).map_err(&e)?;
                let mut inv = vec![0; dims.out.len()];
                for (i, &ax) in dims.out.iter().enumerate() {
                    inv[ax] = i;
                }
                let r = r.f_permute(i64s(&inv).as_slice()).map_err(&e)?;
                one(down(r, d0).map_err(&e)?)
            }
            Prim::ReduceWindow {
                op: w,
                window,
                strides,
                padding,
            } => one(reduce_window(*w, &xs[0], d0, window, strides, padding).map_err(&e)?),
            Prim::SelectAndScatterAdd {
                window,
                strides,
                padding,
            } => one(
                select_and_scatter_add(&xs[0], &xs[1], d0, window, strides, padding).map_err(&e)?,
            ),
            Prim::Gather { axis } => {
                let n = ins[0].shape[*axis] as i64;
                let idx = xs[1]
                    .f_to_kind(Kind::Int64)
                    .and_then(|t| t.f_clamp(0, (n - 1).max(0)))
                    .and_then(|t| t.f_reshape([-1]))
                    .map_err(&e)?;
                one(xs[0]
                    .f_index_select(*axis as i64, &idx)
                    .and_then(|t| t.f_reshape(i64s(out_shape)))
                    .map_err(&e)?)
            }
            Prim::Scatter { axis, mode } => {
                one(scatter(&xs[0], &xs[1], &xs[2], ins[0].shape, *axis, *mode).map_err(&e)?)
            }
            Prim::Iota { shape, dtype, dim } => {
                let k = kind_of(*dtype).ok_or_else(|| dtype_err(op, "host dtype"))?;
                let mut mid = vec![1i64; shape.len()];
                mid[*dim] = shape[*dim] as i64;
                one(Tensor::f_arange(shape[*dim] as i64, (k, self.device))
                    .and_then(|t| t.f_reshape(mid))
                    .and_then(|t| t.f_expand(i64s(shape), false))
                    .map_err(&e)?)
            }
            Prim::Sort { axis, descending } => {
                let (v, i) = xs[0]
                    .f_sort_stable(true, *axis as i64, *descending)
                    .map_err(&e)?;
                Ok(vec![v, i.f_to_kind(Kind::Int).map_err(&e)?])
            }
            Prim::Cumulative {
                op: c,
                axis,
                reverse,
            } => {
                let ax = *axis as i64;
                let k = kind_of(d0);
                let x = if *reverse {
                    xs[0].f_flip([ax]).map_err(&e)?
                } else {
                    xs[0].shallow_clone()
                };
                let r = match c {
                    CumOp::Sum => x.f_cumsum(ax, k),
                    CumOp::Prod => x.f_cumprod(ax, k),
                    CumOp::Max => x.f_cummax(ax).map(|p| p.0),
                    CumOp::Min => x.f_cummin(ax).map(|p| p.0),
                }
                .map_err(&e)?;
                one(if *reverse {
                    r.f_flip([ax]).map_err(&e)?
                } else {
                    r
                })
            }
            Prim::StopGradient => Err(arg_err(
                op,
                "stop_gradient is handled by the dispatcher and never reaches a backend",
            )),
        }
    }
}

/// A CPU `tch::Tensor` with a copy of host data (not for `uint16/32/64`).
pub fn host_to_tensor(data: &HostData, shape: &[usize]) -> Result<Tensor> {
    let e = terr("from_host");
    let t = match data {
        HostData::Bool(v) => Tensor::f_from_slice(v),
        HostData::I8(v) => Tensor::f_from_slice(v),
        HostData::I16(v) => Tensor::f_from_slice(v),
        HostData::I32(v) => Tensor::f_from_slice(v),
        HostData::I64(v) => Tensor::f_from_slice(v),
        HostData::U8(v) => Tensor::f_from_slice(v),
        HostData::F16(v) => Tensor::f_from_slice(v),
        // tch 0.26 gives `half::bf16` the kind Half: go through the bits.
        HostData::BF16(v) => {
            Tensor::f_from_slice(&v.iter().map(|x| x.to_bits() as i16).collect::<Vec<_>>())
                .and_then(|t| t.f_view_dtype(Kind::BFloat16))
        }
        HostData::F32(v) => Tensor::f_from_slice(v),
        HostData::F64(v) => Tensor::f_from_slice(v),
        HostData::U16(_) | HostData::U32(_) | HostData::U64(_) => {
            return Err(dtype_err(
                "from_host",
                format!("libtorch (through tch) has no {} tensors", data.dtype()),
            ))
        }
    }
    .map_err(&e)?;
    t.f_reshape(i64s(shape)).map_err(&e)
}

/// Copies a `tch::Tensor` (any device, any strides) to host data.
pub fn tensor_to_host(t: &Tensor) -> Result<HostData> {
    let e = terr("to_host");
    let dtype = dtype_of(t.kind()).ok_or_else(|| {
        dtype_err(
            "to_host",
            format!("tch kind {:?} has no ceras dtype", t.kind()),
        )
    })?;
    let t = t
        .f_to(Device::Cpu)
        .and_then(|t| t.f_contiguous())
        .map_err(&e)?;
    let n = t.numel();
    macro_rules! read {
        ($T:ty, $V:ident) => {{
            let mut v = vec![<$T>::default(); n];
            t.f_copy_data(&mut v, n).map_err(&e)?;
            HostData::$V(v)
        }};
    }
    Ok(match dtype {
        DType::Bool => read!(bool, Bool),
        DType::I8 => read!(i8, I8),
        DType::I16 => read!(i16, I16),
        DType::I32 => read!(i32, I32),
        DType::I64 => read!(i64, I64),
        DType::U8 => read!(u8, U8),
        DType::F16 => read!(half::f16, F16),
        DType::BF16 => {
            let t = t.f_view_dtype(Kind::Int16).map_err(&e)?;
            let mut v = vec![0i16; n];
            t.f_copy_data(&mut v, n).map_err(&e)?;
            HostData::BF16(
                v.into_iter()
                    .map(|b| half::bf16::from_bits(b as u16))
                    .collect(),
            )
        }
        DType::F32 => read!(f32, F32),
        DType::F64 => read!(f64, F64),
        DType::U16 | DType::U32 | DType::U64 => {
            return Err(dtype_err("to_host", format!("no {dtype} tensors in tch")))
        }
    })
}

fn buffer_of<'a>(op: &str, b: &'a BufferRef) -> Result<&'a TorchBuffer> {
    b.as_any().downcast_ref::<TorchBuffer>().ok_or_else(|| {
        Error::Backend(format!(
            "{op}: operand buffer does not belong to the torch backend"
        ))
    })
}

type TResult<T> = std::result::Result<T, tch::TchError>;

/// Both operands in float32 when `d` is a half dtype (products and convolutions
/// compute in f32 and round once, as the cpu backend does).
fn widen2(a: &Tensor, b: &Tensor, d: DType) -> TResult<(Tensor, Tensor)> {
    if is_half(d) {
        Ok((a.f_to_kind(Kind::Float)?, b.f_to_kind(Kind::Float)?))
    } else {
        Ok((a.shallow_clone(), b.shallow_clone()))
    }
}

/// Rounds a float32 result back to a half dtype (no-op otherwise).
fn down(t: Tensor, d: DType) -> TResult<Tensor> {
    match kind_of(d) {
        Some(k) if is_half(d) => t.f_to_kind(k),
        _ => Ok(t),
    }
}

fn unary(u: UnaryOp, x: &Tensor, d: DType) -> TResult<Tensor> {
    use UnaryOp::*;
    if !d.is_float() {
        return match u {
            Neg => x.f_neg(),
            Abs => x.f_abs(),
            Sign => x.f_sign(),
            Not => x.f_bitwise_not(),
            IsNan | IsInf => x.f_zeros_like().and_then(|t| t.f_to_kind(Kind::Bool)),
            IsFinite => x.f_ones_like().and_then(|t| t.f_to_kind(Kind::Bool)),
            // Identity on integers.
            _ => Ok(x.shallow_clone()),
        };
    }
    match u {
        Neg => x.f_neg(),
        Abs => x.f_abs(),
        Sign => {
            // sign(±0) = ±0 and sign(NaN) = NaN, as NumPy.
            let keep = x.f_eq(0.0)?.f_logical_or(&x.f_isnan()?)?;
            x.f_sign()?.f_where_self(&keep.f_logical_not()?, x)
        }
        Exp => x.f_exp(),
        Exp2 => x.f_exp2(),
        Expm1 => x.f_expm1(),
        Log => x.f_log(),
        Log1p => x.f_log1p(),
        Sqrt => x.f_sqrt(),
        Rsqrt => x.f_rsqrt(),
        Cbrt => x.f_abs()?.f_pow_tensor_scalar(1.0 / 3.0)?.f_copysign(x),
        Sin => x.f_sin(),
        Cos => x.f_cos(),
        Tan => x.f_tan(),
        Asin => x.f_asin(),
        Acos => x.f_acos(),
        Atan => x.f_atan(),
        Sinh => x.f_sinh(),
        Cosh => x.f_cosh(),
        Tanh => x.f_tanh(),
        Asinh => x.f_asinh(),
        Acosh => x.f_acosh(),
        Atanh => x.f_atanh(),
        Floor => x.f_floor(),
        Ceil => x.f_ceil(),
        Round => x.f_round(),
        Trunc => x.f_trunc(),
        Erf => x.f_erf(),
        Erfinv => x.f_erfinv(),
        Lgamma => x.f_lgamma(),
        // XLA (and so Keras on JAX, and the cpu backend) gives NaN at the poles
        // 0, -1, -2, ...; libtorch gives -inf at 0.
        Digamma => {
            let pole = x.f_le(0.0)?.f_logical_and(&x.f_eq_tensor(&x.f_floor()?)?)?;
            x.f_digamma()?.f_masked_fill(&pole, f64::NAN)
        }
        Logistic => x.f_sigmoid(),
        IsNan => x.f_isnan(),
        IsInf => x.f_isinf(),
        IsFinite => x.f_isfinite(),
        Not => x.f_bitwise_not(),
    }
}

fn binary(b: BinaryOp, x: &Tensor, y: &Tensor, d: DType) -> TResult<Tensor> {
    use BinaryOp::*;
    if d == DType::Bool {
        return match b {
            Add | Or | Max => x.f_logical_or(y),
            Mul | And | Min => x.f_logical_and(y),
            _ => x.f_logical_xor(y),
        };
    }
    match b {
        Add => x.f_add(y),
        Sub => x.f_sub(y),
        Mul => x.f_mul(y),
        Div => x.f_div(y),
        Rem => x.f_fmod_tensor(y),
        Pow => x.f_pow(y),
        Max => x.f_maximum(y),
        Min => x.f_minimum(y),
        Atan2 => x.f_atan2(y),
        And => x.f_bitwise_and_tensor(y),
        Or => x.f_bitwise_or_tensor(y),
        Xor => x.f_bitwise_xor_tensor(y),
        NextAfter => x.f_nextafter(y),
        // Always delegated to the cpu kernels (see `delegated`).
        ShiftLeft | ShiftRight => Err(tch::TchError::Kind(
            "shifts run on the cpu kernels (XLA semantics for out-of-range amounts)".into(),
        )),
    }
}

/// `lax.pad`: edge padding (negative crops) and interior padding, by copying the
/// operand's surviving elements into a tensor filled with the pad value.
fn pad(
    x: &Tensor,
    pv: &Tensor,
    shape: &[usize],
    out: &[usize],
    lo: &[i64],
    interior: &[usize],
) -> TResult<Tensor> {
    let dst = pv
        .f_reshape(vec![1i64; out.len()])?
        .f_expand(i64s(out), false)?
        .f_contiguous()?;
    if numel(out) == 0 || numel(shape) == 0 {
        return Ok(dst);
    }
    let mut src = x.shallow_clone();
    let mut view = dst.shallow_clone();
    for d in 0..shape.len() {
        let step = interior[d] as i64 + 1;
        let n = shape[d] as i64;
        // Source elements j with 0 <= lo + j * step < out[d].
        let j0 = if lo[d] >= 0 {
            0
        } else {
            (-lo[d] + step - 1) / step
        };
        let hi_excl = out[d] as i64 - lo[d]; // j * step < hi_excl
        let j1 = if hi_excl <= 0 {
            0
        } else {
            ((hi_excl - 1) / step + 1).min(n)
        };
        if j1 <= j0 {
            return Ok(dst);
        }
        let first = lo[d] + j0 * step;
        let last = lo[d] + (j1 - 1) * step;
        src = src.f_slice(d as i64, j0, j1, 1)?;
        view = view.f_slice(d as i64, first, last + 1, step)?;
    }
    view.f_copy_(&src)?;
    Ok(dst)
}

fn reduce(
    r: ReduceOp,
    x: &Tensor,
    shape: &[usize],
    axes: &[usize],
    out: &[usize],
    d: DType,
) -> TResult<Tensor> {
    if axes.is_empty() {
        return Ok(x.shallow_clone());
    }
    let ax = i64s(axes);
    let k = kind_of(d);
    let empty = axes.iter().any(|&a| shape[a] == 0);
    match r {
        ReduceOp::Sum => {
            let t = if is_half(d) {
                x.f_sum_dim_intlist(ax.as_slice(), false, Kind::Float)?
            } else {
                x.f_sum_dim_intlist(ax.as_slice(), false, k)?
            };
            down(t, d)
        }
        ReduceOp::Prod => {
            let mut t = if is_half(d) {
                x.f_to_kind(Kind::Float)?
            } else {
                x.shallow_clone()
            };
            let kk = if is_half(d) { Some(Kind::Float) } else { k };
            for &a in axes.iter().rev() {
                t = t.f_prod_dim_int(a as i64, false, kk)?;
            }
            down(t, d)
        }
        ReduceOp::Max | ReduceOp::Min if empty => {
            let max = r == ReduceOp::Max;
            let fill = identity(d, if max { WindowOp::Max } else { WindowOp::Min });
            fill_like(x, out, fill)
        }
        ReduceOp::Max => x.f_amax(ax.as_slice(), false),
        ReduceOp::Min => x.f_amin(ax.as_slice(), false),
        ReduceOp::Any => x.f_any_dims(ax.as_slice(), false),
        ReduceOp::All => x.f_all_dims(ax.as_slice(), false),
    }
}

/// A pad / fill value: as f64 for floats, as i64 for integers.
#[derive(Clone, Copy)]
enum Fill {
    F(f64),
    I(i64),
}

fn identity(d: DType, w: WindowOp) -> Fill {
    match (w, d.is_float()) {
        (WindowOp::Sum, true) => Fill::F(0.0),
        (WindowOp::Sum, false) => Fill::I(0),
        (WindowOp::Max, true) => Fill::F(f64::NEG_INFINITY),
        (WindowOp::Min, true) => Fill::F(f64::INFINITY),
        (WindowOp::Max, false) => Fill::I(int_bounds(d).0),
        (WindowOp::Min, false) => Fill::I(int_bounds(d).1),
    }
}

fn int_bounds(d: DType) -> (i64, i64) {
    match d {
        DType::I8 => (i8::MIN as i64, i8::MAX as i64),
        DType::I16 => (i16::MIN as i64, i16::MAX as i64),
        DType::I32 => (i32::MIN as i64, i32::MAX as i64),
        DType::U8 => (0, u8::MAX as i64),
        DType::Bool => (0, 1),
        _ => (i64::MIN, i64::MAX),
    }
}

fn fill_like(x: &Tensor, shape: &[usize], f: Fill) -> TResult<Tensor> {
    let opts = (x.kind(), x.device());
    match f {
        Fill::F(v) => Tensor::f_full(i64s(shape), v, opts),
        Fill::I(v) => Tensor::f_full(i64s(shape), v, opts),
    }
}

/// Pads every dim by `(lo, hi)` with a constant.
fn pad_const(x: &Tensor, padding: &[(usize, usize)], f: Fill) -> TResult<Tensor> {
    if padding.iter().all(|&(l, h)| l == 0 && h == 0) {
        return Ok(x.shallow_clone());
    }
    let shape: Vec<usize> = x.size().iter().map(|&s| s as usize).collect();
    let out: Vec<usize> = shape
        .iter()
        .zip(padding)
        .map(|(s, (l, h))| s + l + h)
        .collect();
    let dst = fill_like(x, &out, f)?;
    let mut view = dst.shallow_clone();
    for (d, (&(l, _), &s)) in padding.iter().zip(&shape).enumerate() {
        view = view.f_slice(d as i64, l as i64, (l + s) as i64, 1)?;
    }
    view.f_copy_(x)?;
    Ok(dst)
}

/// Windows of every dimension as trailing dims: `[out..., w_a, w_b, ...]` for the
/// dims `a, b, ...` that have a window or stride other than 1; returns the list of
/// those dims too.
fn windows(x: &Tensor, window: &[usize], strides: &[usize]) -> TResult<(Tensor, Vec<usize>)> {
    let mut t = x.shallow_clone();
    let mut dims = Vec::new();
    for d in 0..window.len() {
        if window[d] != 1 || strides[d] != 1 {
            t = t.f_unfold(d as i64, window[d] as i64, strides[d] as i64)?;
            dims.push(d);
        }
    }
    Ok((t, dims))
}

/// Is this a pooling over the last two dims of an `[N, C, H, W]` operand?
fn pool2d(window: &[usize], strides: &[usize]) -> bool {
    window.len() == 4 && window[..2] == [1, 1] && strides[..2] == [1, 1]
}

fn reduce_window(
    w: WindowOp,
    x: &Tensor,
    d: DType,
    window: &[usize],
    strides: &[usize],
    padding: &[(usize, usize)],
) -> TResult<Tensor> {
    let xp = pad_const(x, padding, identity(d, w))?;
    if pool2d(window, strides) && d.is_float() && w == WindowOp::Max {
        let (k, s) = (i64s(&window[2..]), i64s(&strides[2..]));
        return Ok(xp
            .f_max_pool2d_with_indices(k.as_slice(), s.as_slice(), [0, 0], [1, 1], false)?
            .0);
    }
    let (t, dims) = windows(&xp, window, strides)?;
    if dims.is_empty() {
        return Ok(t);
    }
    let r = t.dim() as i64;
    let red: Vec<i64> = (r - dims.len() as i64..r).collect();
    match w {
        WindowOp::Sum if is_half(d) => {
            down(t.f_sum_dim_intlist(red.as_slice(), false, Kind::Float)?, d)
        }
        WindowOp::Sum => t.f_sum_dim_intlist(red.as_slice(), false, kind_of(d)),
        WindowOp::Max => t.f_amax(red.as_slice(), false),
        WindowOp::Min => t.f_amin(red.as_slice(), false),
    }
}

/// Gradient of max pooling: each source element is added where its window's
/// maximum (first on ties) lies.
fn select_and_scatter_add(
    x: &Tensor,
    src: &Tensor,
    d: DType,
    window: &[usize],
    strides: &[usize],
    padding: &[(usize, usize)],
) -> TResult<Tensor> {
    let shape: Vec<usize> = x.size().iter().map(|&s| s as usize).collect();
    let xp = pad_const(x, padding, identity(d, WindowOp::Max))?;
    let psize = xp.size();
    let grad_p = if pool2d(window, strides) && d.is_float() {
        let (k, s) = (i64s(&window[2..]), i64s(&strides[2..]));
        let (_, idx) =
            xp.f_max_pool2d_with_indices(k.as_slice(), s.as_slice(), [0, 0], [1, 1], false)?;
        xp.f_max_pool2d_with_indices_backward(
            src,
            k.as_slice(),
            s.as_slice(),
            [0, 0],
            [1, 1],
            false,
            &idx,
        )?
    } else {
        let (t, dims) = windows(&xp, window, strides)?;
        let out: Vec<i64> = src.size();
        let nd = out.len();
        let wsz: Vec<i64> = dims.iter().map(|&dd| window[dd] as i64).collect();
        let flat = t.f_reshape([out.clone(), vec![-1]].concat())?;
        let arg = flat.f_argmax(nd as i64, false)?; // [out...], first max wins
                                                    // Flat index into the padded operand of each window's maximum.
        let mut pstride = vec![1i64; nd];
        for i in (0..nd.saturating_sub(1)).rev() {
            pstride[i] = pstride[i + 1] * psize[i + 1];
        }
        let mut lin = arg.f_zeros_like()?;
        let mut rem = arg.shallow_clone();
        let mut offs: Vec<Option<Tensor>> = (0..nd).map(|_| None).collect();
        for (j, &dd) in dims.iter().enumerate().rev() {
            offs[dd] = Some(rem.f_remainder(wsz[j])?);
            rem = rem.f_floor_divide_scalar(wsz[j])?;
        }
        for dd in 0..nd {
            let mut mid = vec![1i64; nd];
            mid[dd] = out[dd];
            let base = Tensor::f_arange(out[dd], (Kind::Int64, x.device()))?
                .f_mul_scalar(strides[dd] as i64)?
                .f_reshape(mid)?;
            let mut pos = base.f_expand(out.as_slice(), false)?;
            if let Some(o) = &offs[dd] {
                pos = pos.f_add(o)?;
            }
            lin = lin.f_add(&pos.f_mul_scalar(pstride[dd])?)?;
        }
        let total: i64 = psize.iter().product();
        Tensor::f_zeros([total], (src.kind(), x.device()))?
            .f_index_add(0, &lin.f_reshape([-1])?, &src.f_reshape([-1])?)?
            .f_reshape(psize.as_slice())?
    };
    let mut g = grad_p;
    for (dd, &(l, _)) in padding.iter().enumerate() {
        if l != 0 || psize[dd] as usize != shape[dd] {
            g = g.f_slice(dd as i64, l as i64, (l + shape[dd]) as i64, 1)?;
        }
    }
    Ok(g)
}

fn scatter(
    x: &Tensor,
    idx: &Tensor,
    upd: &Tensor,
    shape: &[usize],
    axis: usize,
    mode: ScatterMode,
) -> TResult<Tensor> {
    let n = shape[axis] as i64;
    let mut i = idx.f_to_kind(Kind::Int64)?.f_reshape([-1])?;
    let k = i.size()[0];
    let mut ushape: Vec<i64> = i64s(&shape[..axis]);
    ushape.push(k);
    ushape.extend(i64s(&shape[axis + 1..]));
    let mut u = upd.f_reshape(ushape.as_slice())?;
    let ax = axis as i64;
    // Out-of-range indices are dropped.
    let valid = i.f_ge(0)?.f_logical_and(&i.f_lt(n)?)?;
    if !bool::try_from(valid.f_all()?)? {
        let keep = valid.f_nonzero()?.f_reshape([-1])?;
        i = i.f_index_select(0, &keep)?;
        u = u.f_index_select(ax, &keep)?;
    }
    match mode {
        ScatterMode::Add => x.f_index_add(ax, &i, &u),
        ScatterMode::Set => {
            // With duplicate indices the last update wins: keep only the last
            // occurrence of each index (the end of each run of a stable sort).
            let k = i.size()[0];
            if k == 0 {
                return Ok(x.shallow_clone());
            }
            let (sorted, perm) = i.f_sort_stable(true, 0, false)?;
            let next_differs = sorted
                .f_slice(0, 0, k - 1, 1)?
                .f_ne_tensor(&sorted.f_slice(0, 1, k, 1)?)?;
            let is_last = Tensor::f_cat(
                &[next_differs, Tensor::f_ones([1], (Kind::Bool, x.device()))?],
                0,
            )?;
            let keep = perm.f_masked_select(&is_last)?;
            let (i, u) = (i.f_index_select(0, &keep)?, u.f_index_select(ax, &keep)?);
            x.f_index_copy(ax, &i, &u)
        }
    }
}

fn dot_general(
    a: &Tensor,
    ashape: &[usize],
    b: &Tensor,
    bshape: &[usize],
    dims: [&Vec<usize>; 4],
    out: &[usize],
) -> TResult<Tensor> {
    let [lc, rc, lb, rb] = dims;
    let free = |shape: &[usize], c: &[usize], bt: &[usize]| -> Vec<usize> {
        (0..shape.len())
            .filter(|d| !c.contains(d) && !bt.contains(d))
            .collect()
    };
    let lf = free(ashape, lc, lb);
    let rf = free(bshape, rc, rb);
    let size =
        |shape: &[usize], ds: &[usize]| -> i64 { ds.iter().map(|&d| shape[d] as i64).product() };
    let (nb, m, k, n) = (
        size(ashape, lb),
        size(ashape, &lf),
        size(ashape, lc),
        size(bshape, &rf),
    );
    let perm_a: Vec<i64> = lb.iter().chain(&lf).chain(lc).map(|&d| d as i64).collect();
    let perm_b: Vec<i64> = rb.iter().chain(rc).chain(&rf).map(|&d| d as i64).collect();
    // Contiguous operands: libtorch picks its GEMM path from the strides, and the
    // same values must give the same bits whatever layout they arrived in.
    let a3 = a.f_permute(perm_a)?.f_reshape([nb, m, k])?.f_contiguous()?;
    let b3 = b.f_permute(perm_b)?.f_reshape([nb, k, n])?.f_contiguous()?;
    let r = if nb == 1 {
        a3.f_squeeze_dim(0)?.f_matmul(&b3.f_squeeze_dim(0)?)?
    } else {
        a3.f_matmul(&b3)?
    };
    r.f_reshape(i64s(out))
}

struct ConvArgs<'a> {
    strides: &'a [usize],
    padding: &'a [(i64, i64)],
    lhs_dilation: &'a [usize],
    rhs_dilation: &'a [usize],
    groups: usize,
}

fn conv(x: &Tensor, xshape: &[usize], w: &Tensor, c: &ConvArgs<'_>) -> TResult<Tensor> {
    let ns = c.padding.len();
    let mut x = x.shallow_clone();
    // Input dilation (transposed convolution): zeros between input elements.
    if c.lhs_dilation.iter().any(|&d| d > 1) {
        let mut dshape = i64s(&xshape[..2]);
        for i in 0..ns {
            let s = xshape[2 + i] as i64;
            dshape.push(if s == 0 {
                0
            } else {
                (s - 1) * c.lhs_dilation[i] as i64 + 1
            });
        }
        let z = Tensor::f_zeros(dshape.as_slice(), (x.kind(), x.device()))?;
        let mut view = z.shallow_clone();
        for i in 0..ns {
            view = view.f_slice(2 + i as i64, 0, None, c.lhs_dilation[i] as i64)?;
        }
        view.f_copy_(&x)?;
        x = z;
    }
    // Symmetric non-negative padding goes to the convolution; the rest is explicit.
    let sym = c.padding.iter().all(|&(l, h)| l == h && l >= 0);
    let conv_pad: Vec<i64> = if sym {
        c.padding.iter().map(|&(l, _)| l).collect()
    } else {
        let mut p = Vec::with_capacity(2 * ns);
        for &(l, h) in c.padding.iter().rev() {
            p.push(l);
            p.push(h);
        }
        x = x.f_constant_pad_nd(p.as_slice())?;
        vec![0; ns]
    };
    x.f_convolution(
        w,
        None::<Tensor>,
        i64s(c.strides).as_slice(),
        conv_pad.as_slice(),
        i64s(c.rhs_dilation).as_slice(),
        false,
        vec![0i64; ns].as_slice(),
        c.groups as i64,
    )
}

impl Backend for TorchBackend {
    fn name(&self) -> &'static str {
        "torch"
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
        self.wrap_host(data, shape)
    }

    fn to_host(&self, b: &BufferRef, shape: &[usize], dtype: DType) -> Result<HostData> {
        let tb = buffer_of("to_host", b)?;
        let t = match &tb.0 {
            Store::Host(d) => {
                if d.dtype() != dtype || d.len() != numel(shape) {
                    return Err(dtype_err(
                        "to_host",
                        format!(
                            "buffer holds {} x {}, expected {dtype} {shape:?}",
                            d.len(),
                            d.dtype()
                        ),
                    ));
                }
                return Ok(d.clone());
            }
            Store::Torch(m) => lock(m).shallow_clone(),
        };
        if dtype_of(t.kind()) != Some(dtype) || t.numel() != numel(shape) {
            return Err(dtype_err(
                "to_host",
                format!(
                    "buffer holds {:?} {:?}, expected {dtype} {shape:?}",
                    t.kind(),
                    t.size()
                ),
            ));
        }
        tensor_to_host(&t)
    }

    fn execute(
        &self,
        prim: &Prim,
        inputs: &[Operand<'_>],
        outs: &[Spec],
    ) -> Result<Vec<BufferRef>> {
        let op = prim.name();
        ceras_core::backend::check_execute_args(prim, inputs, outs)?;
        if delegated(prim, inputs, outs) {
            return self.delegate(prim, inputs, outs);
        }
        let xs: Vec<Tensor> = inputs
            .iter()
            .map(|x| self.operand(op, x))
            .collect::<Result<_>>()?;
        let res = self.run(prim, &xs, inputs, outs)?;
        if res.len() != outs.len() {
            return Err(Error::Backend(format!(
                "{op}: produced {} outputs, expected {}",
                res.len(),
                outs.len()
            )));
        }
        res.into_iter()
            .zip(outs)
            .map(|(t, s)| {
                let shape_ok = t
                    .size()
                    .iter()
                    .map(|&d| d as usize)
                    .eq(s.shape.iter().copied());
                if !shape_ok || dtype_of(t.kind()) != Some(s.dtype) {
                    return Err(Error::Backend(format!(
                        "{op}: libtorch produced {:?} {:?} for output spec {:?} {}",
                        t.kind(),
                        t.size(),
                        s.shape,
                        s.dtype
                    )));
                }
                Ok(TorchBuffer::torch(t))
            })
            .collect()
    }

    fn fused(
        &self,
        op: &Fused,
        inputs: &[Operand<'_>],
        outs: &[Spec],
    ) -> Option<Result<Vec<BufferRef>>> {
        if let Fused::Threefry2x32 = op {
            // uint32 lives on the host here: the cpu backend's kernel.
            return self.delegate_fused(op, inputs, outs);
        }
        if inputs
            .iter()
            .any(|x| !matches!(x.dtype, DType::F32 | DType::F64))
        {
            return None;
        }
        let xs: Vec<Tensor> = match inputs.iter().map(|x| self.operand("fused", x)).collect() {
            Ok(v) => v,
            Err(e) => return Some(Err(e)),
        };
        let (name, r) = match op {
            Fused::Softmax { axis } | Fused::LogSoftmax { axis } => {
                if *axis >= inputs[0].shape.len() {
                    return None;
                }
                let r = if matches!(op, Fused::LogSoftmax { .. }) {
                    xs[0].f_log_softmax(*axis as i64, None::<Kind>)
                } else {
                    xs[0].f_softmax(*axis as i64, None::<Kind>)
                };
                ("softmax", r)
            }
            Fused::LayerNorm {
                dims,
                epsilon,
                gamma,
                beta,
            } => {
                let shape = inputs[0].shape;
                if *dims == 0
                    || *dims > shape.len()
                    || xs.len() != 1 + *gamma as usize + *beta as usize
                {
                    return None;
                }
                let norm = i64s(&shape[shape.len() - dims..]);
                let g = if *gamma { Some(&xs[1]) } else { None };
                let b = if *beta {
                    Some(&xs[1 + *gamma as usize])
                } else {
                    None
                };
                (
                    "layer_normalization",
                    xs[0]
                        .f_native_layer_norm(norm.as_slice(), g, b, *epsilon)
                        .map(|r| r.0),
                )
            }
            // Adam, bias + ReLU and the exact softmax, LSTM, attention and layer norm
            // kernels run as their decompositions (libtorch's kernels).
            Fused::Adam { .. }
            | Fused::Threefry2x32
            | Fused::BiasRelu
            | Fused::SoftmaxLast
            | Fused::SoftmaxLastGrad
            | Fused::LstmCell
            | Fused::LstmCellGrad
            | Fused::DotProductAttention { .. }
            | Fused::DotProductAttentionGrad { .. }
            | Fused::LayerNormLast { .. }
            | Fused::LayerNormLastGrad { .. } => return None,
            Fused::Attention { scale, causal } => {
                if xs.len() != 3 || inputs.iter().any(|x| x.shape.len() != 4) {
                    return None;
                }
                // Keras's (batch, seq, heads, dim) to libtorch's (batch, heads, seq, dim).
                let bhsd = |t: &Tensor| t.f_permute([0, 2, 1, 3]);
                let r = (|| {
                    let (q, k, v) = (bhsd(&xs[0])?, bhsd(&xs[1])?, bhsd(&xs[2])?);
                    Tensor::f_scaled_dot_product_attention(
                        &q,
                        &k,
                        &v,
                        None::<Tensor>,
                        0.0,
                        *causal,
                        *scale,
                        false,
                    )?
                    .f_permute([0, 2, 1, 3])
                })();
                ("dot_product_attention", r)
            }
        };
        let r = r.map_err(terr(name));
        Some(r.and_then(|t| {
            let shape_ok = t
                .size()
                .iter()
                .map(|&d| d as usize)
                .eq(outs[0].shape.iter().copied());
            if !shape_ok || dtype_of(t.kind()) != Some(outs[0].dtype) {
                return Err(Error::Backend(format!(
                    "{name}: libtorch's fused kernel produced {:?} {:?} for {:?} {}",
                    t.kind(),
                    t.size(),
                    outs[0].shape,
                    outs[0].dtype
                )));
            }
            Ok(vec![TorchBuffer::torch(t)])
        }))
    }
}
