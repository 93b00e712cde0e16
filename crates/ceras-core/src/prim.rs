//! The closed set of primitives every op lowers to, modelled on XLA / JAX `lax`,
//! and their shape / dtype rules (abstract evaluation).
//!
//! A [`Backend`](crate::backend::Backend) implements exactly these; autodiff has one
//! vector-Jacobian rule per primitive (`autodiff.rs`), and tracing records them.

use crate::dtype::DType;
use crate::error::{arg_err, dtype_err, shape_err, Result};
use crate::shape::{numel, Shape};

/// Element-wise unary functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum UnaryOp {
    Neg,
    Abs,
    Sign,
    Exp,
    Exp2,
    Expm1,
    Log,
    Log1p,
    Sqrt,
    Rsqrt,
    Cbrt,
    Sin,
    Cos,
    Tan,
    Asin,
    Acos,
    Atan,
    Sinh,
    Cosh,
    Tanh,
    Asinh,
    Acosh,
    Atanh,
    Floor,
    Ceil,
    /// Round half to even (NumPy's `round`).
    Round,
    Trunc,
    Erf,
    Erfinv,
    Lgamma,
    Digamma,
    /// `1 / (1 + exp(-x))`.
    Logistic,
    /// Logical not for bool, bitwise not for integers.
    Not,
    /// Result is bool.
    IsNan,
    /// Result is bool.
    IsInf,
    /// Result is bool.
    IsFinite,
}

impl UnaryOp {
    /// True when the op is defined only for floating-point inputs.
    pub fn float_only(self) -> bool {
        use UnaryOp::*;
        !matches!(
            self,
            Neg | Abs | Sign | Not | IsNan | IsInf | IsFinite | Floor | Ceil | Round | Trunc
        )
    }
}

/// Element-wise binary functions (operands have equal shapes and dtypes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    /// True division for floats; truncating division for integers (XLA semantics,
    /// division by zero gives -1 / all-ones as XLA does, never a panic).
    Div,
    /// Remainder with the sign of the dividend (C `fmod`), as XLA's `rem`.
    Rem,
    Pow,
    Max,
    Min,
    Atan2,
    /// Logical for bool, bitwise for integers.
    And,
    /// Logical for bool, bitwise for integers.
    Or,
    /// Logical for bool, bitwise for integers.
    Xor,
    ShiftLeft,
    /// Arithmetic for signed, logical for unsigned.
    ShiftRight,
    NextAfter,
}

/// Element-wise comparisons; the result is bool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// Reductions over a set of axes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum ReduceOp {
    Sum,
    Prod,
    Max,
    Min,
    /// bool only.
    Any,
    /// bool only.
    All,
}

/// Arg-reductions along one axis; the first index wins ties, NaN counts as the extreme.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum ArgOp {
    ArgMax,
    ArgMin,
}

/// Reductions over windows (pooling).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum WindowOp {
    Sum,
    Max,
    Min,
}

/// Cumulative (scan) reductions along one axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum CumOp {
    Sum,
    Prod,
    Max,
    Min,
}

/// Scatter modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScatterMode {
    /// Updates are added (duplicates accumulate).
    Add,
    /// Updates replace (with duplicates, the last one wins).
    Set,
}

/// One primitive with its static parameters.
#[derive(Clone, Debug, PartialEq)]
pub enum Prim {
    /// `f(x)` element-wise.
    Unary(UnaryOp),
    /// `f(x, y)` element-wise; equal shapes and dtypes.
    Binary(BinaryOp),
    /// `x ? y` element-wise to bool; equal shapes and dtypes.
    Compare(CmpOp),
    /// `select(pred, on_true, on_false)`; equal shapes, `pred` is bool.
    Select,
    /// Convert to another dtype (C-like: float→int truncates toward zero and saturates,
    /// NaN → 0; to bool is `!= 0`).
    Cast(DType),
    /// `lax.broadcast_in_dim`: operand dim `i` becomes output dim `dims[i]`
    /// (its size must be 1 or equal to the output's).
    Broadcast {
        /// Output shape.
        shape: Shape,
        /// Output dimension of each operand dimension, increasing.
        dims: Vec<usize>,
    },
    /// Row-major reshape to a shape with the same element count.
    Reshape(Shape),
    /// Axis permutation: output dim `i` is operand dim `perm[i]`.
    Transpose(Vec<usize>),
    /// Strided slice `[start, limit)` with positive `strides`.
    Slice {
        /// Start per dim.
        start: Vec<usize>,
        /// Exclusive end per dim.
        limit: Vec<usize>,
        /// Step per dim (≥ 1).
        strides: Vec<usize>,
    },
    /// `lax.pad` with a scalar pad value (second operand): low / high edge padding
    /// (negative crops) and interior padding.
    Pad {
        /// Low padding per dim.
        lo: Vec<i64>,
        /// High padding per dim.
        hi: Vec<i64>,
        /// Interior padding per dim.
        interior: Vec<usize>,
    },
    /// Concatenation of ≥ 1 operands along `axis`.
    Concatenate(usize),
    /// Reverse the given axes.
    Reverse(Vec<usize>),
    /// Reduce the given axes away.
    Reduce {
        /// Reduction.
        op: ReduceOp,
        /// Axes removed from the shape.
        axes: Vec<usize>,
    },
    /// Index of the max / min along `axis` (removed from the shape).
    ArgReduce {
        /// Which.
        op: ArgOp,
        /// Axis.
        axis: usize,
        /// Integer dtype of the result.
        index_dtype: DType,
    },
    /// `lax.dot_general`; output dims are batch, lhs free, rhs free.
    DotGeneral {
        /// Contracting dims of lhs.
        lhs_contract: Vec<usize>,
        /// Contracting dims of rhs.
        rhs_contract: Vec<usize>,
        /// Batch dims of lhs.
        lhs_batch: Vec<usize>,
        /// Batch dims of rhs.
        rhs_batch: Vec<usize>,
    },
    /// `lax.conv_general_dilated`. Logically lhs is `[N, C, *spatial]`, rhs
    /// `[O, C / groups, *spatial]` and the output `[N, O, *spatial]`; `dims` says
    /// where each of those logical dimensions lies in memory (channels-last data,
    /// Keras's `(*spatial, in, out)` kernels, and the layouts the gradients use
    /// need no transposes).
    Conv {
        /// Dimension numbers: where each logical dimension of the operands lies.
        dims: ConvDims,
        /// Window strides per spatial dim.
        strides: Vec<usize>,
        /// Explicit (low, high) padding per spatial dim (may be negative).
        padding: Vec<(i64, i64)>,
        /// Input (lhs) dilation — transposed convolution.
        lhs_dilation: Vec<usize>,
        /// Kernel (rhs) dilation — atrous convolution.
        rhs_dilation: Vec<usize>,
        /// Feature groups (depthwise: groups = C).
        groups: usize,
    },
    /// Reduction over windows of every dimension (pooling); padding uses the op's identity.
    ReduceWindow {
        /// Reduction.
        op: WindowOp,
        /// Window size per dim.
        window: Vec<usize>,
        /// Stride per dim.
        strides: Vec<usize>,
        /// (low, high) padding per dim.
        padding: Vec<(usize, usize)>,
    },
    /// Gradient of max pooling: operands `(operand, source)`; each source element is
    /// added at the position of the maximum of its window in `operand` (first wins).
    SelectAndScatterAdd {
        /// Window size per dim.
        window: Vec<usize>,
        /// Stride per dim.
        strides: Vec<usize>,
        /// (low, high) padding per dim.
        padding: Vec<(usize, usize)>,
    },
    /// `take` along `axis`: operands `(x, indices)`; output shape is
    /// `x.shape[..axis] + indices.shape + x.shape[axis+1..]`. Indices are clamped.
    Gather {
        /// Axis of `x` indexed.
        axis: usize,
    },
    /// Inverse of [`Prim::Gather`]: operands `(x, indices, updates)` with updates of the
    /// gather output shape; out-of-range indices are dropped.
    Scatter {
        /// Axis of `x` indexed.
        axis: usize,
        /// Add or replace.
        mode: ScatterMode,
    },
    /// `0, 1, 2, ...` along `dim` of `shape`.
    Iota {
        /// Output shape.
        shape: Shape,
        /// Dtype.
        dtype: DType,
        /// Counting dimension.
        dim: usize,
    },
    /// Stable sort along `axis`; two outputs: sorted values and int32 indices.
    /// NaNs sort last (ascending) as in NumPy.
    Sort {
        /// Axis.
        axis: usize,
        /// Descending order (ties keep the lower index first).
        descending: bool,
    },
    /// Identity whose gradient is zero (`stop_gradient`). Backends never see it.
    StopGradient,
    /// Inclusive cumulative reduction along `axis`.
    Cumulative {
        /// Reduction.
        op: CumOp,
        /// Axis.
        axis: usize,
        /// Scan from the end.
        reverse: bool,
    },
}

/// `lax.ConvDimensionNumbers`: the axis of each logical dimension of a
/// convolution's operands and result. `lhs` lists the axes of `[batch, feature,
/// *spatial]`, `rhs` of `[out_feature, in_feature, *spatial]`, `out` of
/// `[batch, feature, *spatial]`; each is a permutation of `0..rank`.
///
/// ```
/// use ceras_core::prim::ConvDims;
/// // NHWC data with Keras's HWIO kernels:
/// let d = ConvDims::channels_last(2);
/// assert_eq!(d.lhs, vec![0, 3, 1, 2]);
/// assert_eq!(d.rhs, vec![3, 2, 0, 1]);
/// assert_eq!(ConvDims::channels_first(2).lhs, vec![0, 1, 2, 3]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ConvDims {
    /// Axes of lhs `[batch, feature, *spatial]`.
    pub lhs: Vec<usize>,
    /// Axes of rhs `[out_feature, in_feature, *spatial]`.
    pub rhs: Vec<usize>,
    /// Axes of the output `[batch, feature, *spatial]`.
    pub out: Vec<usize>,
}

impl ConvDims {
    /// `NC*spatial` data, `OI*spatial` kernel (every spec the identity).
    pub fn channels_first(nd: usize) -> ConvDims {
        let id: Vec<usize> = (0..nd + 2).collect();
        ConvDims {
            lhs: id.clone(),
            rhs: id.clone(),
            out: id,
        }
    }

    /// `N*spatialC` data, Keras's `*spatial,I,O` kernel.
    pub fn channels_last(nd: usize) -> ConvDims {
        let mut data = vec![0, nd + 1];
        data.extend(1..=nd);
        let mut rhs = vec![nd + 1, nd];
        rhs.extend(0..nd);
        ConvDims {
            lhs: data.clone(),
            rhs,
            out: data,
        }
    }

    /// Whether every spec is the identity (the channels-first layouts).
    pub fn is_channels_first(&self) -> bool {
        [&self.lhs, &self.rhs, &self.out]
            .iter()
            .all(|s| is_identity(s))
    }

    /// `spec` with its first two entries swapped (`lax`'s `_conv_spec_transpose`).
    pub fn swap01(spec: &[usize]) -> Vec<usize> {
        let mut s = spec.to_vec();
        s.swap(0, 1);
        s
    }
}

/// Whether a permutation (a conv spec, a transpose's axes) is the identity.
pub fn is_identity(perm: &[usize]) -> bool {
    perm.iter().enumerate().all(|(i, &a)| i == a)
}

/// `shape` in a spec's logical order: `logical[i] = shape[spec[i]]`.
pub fn logical_shape(shape: &[usize], spec: &[usize]) -> Vec<usize> {
    spec.iter().map(|&a| shape[a]).collect()
}

/// Shape and dtype of a tensor, without data: what abstract evaluation works on.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Spec {
    /// Shape.
    pub shape: Shape,
    /// Dtype.
    pub dtype: DType,
}

impl Spec {
    /// Builds a spec.
    pub fn new(shape: impl Into<Shape>, dtype: DType) -> Spec {
        Spec {
            shape: shape.into(),
            dtype,
        }
    }
}

fn same_shapes(op: &str, ins: &[Spec]) -> Result<()> {
    for s in &ins[1..] {
        if s.shape != ins[0].shape {
            return Err(shape_err(
                op,
                format!(
                    "operands must have equal shapes, got {:?} and {:?}",
                    ins[0].shape, s.shape
                ),
            ));
        }
    }
    Ok(())
}

fn same_dtypes(op: &str, ins: &[Spec]) -> Result<()> {
    for s in &ins[1..] {
        if s.dtype != ins[0].dtype {
            return Err(dtype_err(
                op,
                format!(
                    "operands must have equal dtypes, got {} and {}",
                    ins[0].dtype, s.dtype
                ),
            ));
        }
    }
    Ok(())
}

fn check_arity(op: &str, ins: &[Spec], n: usize) -> Result<()> {
    if ins.len() != n {
        return Err(arg_err(
            op,
            format!("expected {n} operands, got {}", ins.len()),
        ));
    }
    Ok(())
}

/// Output size of a window along one dim.
pub fn window_out(input: i64, window: i64, stride: i64) -> usize {
    if input < window {
        0
    } else {
        ((input - window) / stride + 1) as usize
    }
}

impl Prim {
    /// A short name, used in errors and graph dumps.
    pub fn name(&self) -> &'static str {
        match self {
            Prim::Unary(u) => u.prim_name(),
            Prim::Binary(b) => b.prim_name(),
            Prim::Compare(c) => c.prim_name(),
            Prim::Select => "select",
            Prim::Cast(_) => "convert_element_type",
            Prim::Broadcast { .. } => "broadcast_in_dim",
            Prim::Reshape(_) => "reshape",
            Prim::Transpose(_) => "transpose",
            Prim::Slice { .. } => "slice",
            Prim::Pad { .. } => "pad",
            Prim::Concatenate(_) => "concatenate",
            Prim::Reverse(_) => "rev",
            Prim::Reduce { op, .. } => op.prim_name(),
            Prim::ArgReduce { op, .. } => op.prim_name(),
            Prim::DotGeneral { .. } => "dot_general",
            Prim::Conv { .. } => "conv_general_dilated",
            Prim::ReduceWindow { op, .. } => op.prim_name(),
            Prim::SelectAndScatterAdd { .. } => "select_and_scatter_add",
            Prim::Gather { .. } => "gather",
            Prim::Scatter { .. } => "scatter",
            Prim::Iota { .. } => "iota",
            Prim::Sort { .. } => "sort",
            Prim::Cumulative { op, .. } => op.prim_name(),
            Prim::StopGradient => "stop_gradient",
        }
    }

    /// Number of operands the primitive takes (`None`: variadic).
    pub fn arity(&self) -> Option<usize> {
        Some(match self {
            Prim::Iota { .. } => 0,
            Prim::Binary(_) | Prim::Compare(_) | Prim::Pad { .. } | Prim::DotGeneral { .. } => 2,
            Prim::Conv { .. } | Prim::SelectAndScatterAdd { .. } | Prim::Gather { .. } => 2,
            Prim::Select | Prim::Scatter { .. } => 3,
            Prim::Concatenate(_) => return None,
            _ => 1,
        })
    }

    /// Abstract evaluation: validates operands and returns the output specs.
    pub fn infer(&self, ins: &[Spec]) -> Result<Vec<Spec>> {
        let op = self.name();
        if let Some(n) = self.arity() {
            check_arity(op, ins, n)?;
        }
        let one = |s: Spec| Ok(vec![s]);
        match self {
            Prim::Unary(u) => {
                let x = &ins[0];
                if u.float_only() && !x.dtype.is_float() {
                    return Err(dtype_err(
                        op,
                        format!("expected a float operand, got {}", x.dtype),
                    ));
                }
                if *u == UnaryOp::Not && x.dtype.is_float() {
                    return Err(dtype_err(
                        op,
                        format!("expected a bool or integer operand, got {}", x.dtype),
                    ));
                }
                let dt = match u {
                    UnaryOp::IsNan | UnaryOp::IsInf | UnaryOp::IsFinite => DType::Bool,
                    _ => x.dtype,
                };
                one(Spec::new(x.shape.clone(), dt))
            }
            Prim::Binary(b) => {
                same_shapes(op, ins)?;
                same_dtypes(op, ins)?;
                let dt = ins[0].dtype;
                use BinaryOp::*;
                match b {
                    And | Or | Xor if dt.is_float() => {
                        return Err(dtype_err(
                            op,
                            format!("expected bool or integer operands, got {dt}"),
                        ))
                    }
                    ShiftLeft | ShiftRight if !dt.is_int() => {
                        return Err(dtype_err(
                            op,
                            format!("expected integer operands, got {dt}"),
                        ))
                    }
                    Atan2 | NextAfter if !dt.is_float() => {
                        return Err(dtype_err(op, format!("expected float operands, got {dt}")))
                    }
                    _ => {}
                }
                one(ins[0].clone())
            }
            Prim::Compare(_) => {
                same_shapes(op, ins)?;
                same_dtypes(op, ins)?;
                one(Spec::new(ins[0].shape.clone(), DType::Bool))
            }
            Prim::Select => {
                same_shapes(op, ins)?;
                same_dtypes(op, &ins[1..])?;
                if ins[0].dtype != DType::Bool {
                    return Err(dtype_err(
                        op,
                        format!("predicate must be bool, got {}", ins[0].dtype),
                    ));
                }
                one(ins[1].clone())
            }
            Prim::Cast(d) => one(Spec::new(ins[0].shape.clone(), *d)),
            Prim::Broadcast { shape, dims } => {
                let x = &ins[0];
                if dims.len() != x.shape.len() {
                    return Err(shape_err(
                        op,
                        format!(
                            "operand rank {} but {} dims given",
                            x.shape.len(),
                            dims.len()
                        ),
                    ));
                }
                for (i, &d) in dims.iter().enumerate() {
                    if d >= shape.len() || (i > 0 && dims[i - 1] >= d) {
                        return Err(shape_err(
                            op,
                            format!("invalid broadcast dims {dims:?} for output shape {shape:?}"),
                        ));
                    }
                    if x.shape[i] != 1 && x.shape[i] != shape[d] {
                        return Err(shape_err(
                            op,
                            format!("cannot broadcast shape {:?} to {shape:?}", x.shape),
                        ));
                    }
                }
                one(Spec::new(shape.clone(), x.dtype))
            }
            Prim::Reshape(s) => {
                if numel(s) != numel(&ins[0].shape) {
                    return Err(shape_err(
                        op,
                        format!(
                            "cannot reshape a tensor of shape {:?} ({} elements) into shape {s:?} ({} elements)",
                            ins[0].shape,
                            numel(&ins[0].shape),
                            numel(s)
                        ),
                    ));
                }
                one(Spec::new(s.clone(), ins[0].dtype))
            }
            Prim::Transpose(p) => {
                let r = ins[0].shape.len();
                let mut seen = vec![false; r];
                if p.len() != r
                    || p.iter()
                        .any(|&a| a >= r || std::mem::replace(&mut seen[a], true))
                {
                    return Err(shape_err(
                        op,
                        format!(
                            "{p:?} is not a permutation of the axes of shape {:?}",
                            ins[0].shape
                        ),
                    ));
                }
                one(Spec::new(
                    p.iter().map(|&a| ins[0].shape[a]).collect::<Vec<_>>(),
                    ins[0].dtype,
                ))
            }
            Prim::Slice {
                start,
                limit,
                strides,
            } => {
                let s = &ins[0].shape;
                if start.len() != s.len() || limit.len() != s.len() || strides.len() != s.len() {
                    return Err(shape_err(
                        op,
                        format!("slice parameters do not match rank {}", s.len()),
                    ));
                }
                let mut out = Vec::with_capacity(s.len());
                for i in 0..s.len() {
                    if start[i] > limit[i] || limit[i] > s[i] || strides[i] == 0 {
                        return Err(shape_err(
                            op,
                            format!(
                                "invalid slice [{}:{}:{}] of dim {i} with size {}",
                                start[i], limit[i], strides[i], s[i]
                            ),
                        ));
                    }
                    out.push((limit[i] - start[i]).div_ceil(strides[i]));
                }
                one(Spec::new(out, ins[0].dtype))
            }
            Prim::Pad { lo, hi, interior } => {
                let s = &ins[0].shape;
                if lo.len() != s.len() || hi.len() != s.len() || interior.len() != s.len() {
                    return Err(shape_err(
                        op,
                        format!("pad parameters do not match rank {}", s.len()),
                    ));
                }
                if !ins[1].shape.is_empty() || ins[1].dtype != ins[0].dtype {
                    return Err(arg_err(
                        op,
                        "padding value must be a scalar of the operand's dtype",
                    ));
                }
                let mut out = Vec::with_capacity(s.len());
                for i in 0..s.len() {
                    let core = if s[i] == 0 {
                        0
                    } else {
                        (s[i] as i64 - 1) * (interior[i] as i64 + 1) + 1
                    };
                    let n = core + lo[i] + hi[i];
                    if n < 0 {
                        return Err(shape_err(
                            op,
                            format!("padding produces negative size in dim {i}"),
                        ));
                    }
                    out.push(n as usize);
                }
                one(Spec::new(out, ins[0].dtype))
            }
            Prim::Concatenate(axis) => {
                if ins.is_empty() {
                    return Err(arg_err(op, "need at least one operand"));
                }
                same_dtypes(op, ins)?;
                let r = ins[0].shape.len();
                if *axis >= r {
                    return Err(shape_err(
                        op,
                        format!("axis {axis} out of range for rank {r}"),
                    ));
                }
                let mut out = ins[0].shape.clone();
                for s in &ins[1..] {
                    if s.shape.len() != r || (0..r).any(|i| i != *axis && s.shape[i] != out[i]) {
                        return Err(shape_err(
                            op,
                            format!(
                                "all dimensions except axis {axis} must match, got {:?} and {:?}",
                                ins[0].shape, s.shape
                            ),
                        ));
                    }
                    out[*axis] += s.shape[*axis];
                }
                one(Spec::new(out, ins[0].dtype))
            }
            Prim::Reverse(axes) => {
                if axes.iter().any(|&a| a >= ins[0].shape.len()) {
                    return Err(shape_err(
                        op,
                        format!("axes {axes:?} out of range for shape {:?}", ins[0].shape),
                    ));
                }
                one(ins[0].clone())
            }
            Prim::Reduce { op: r, axes } => {
                let s = &ins[0].shape;
                if axes.iter().any(|&a| a >= s.len()) {
                    return Err(shape_err(
                        op,
                        format!("axes {axes:?} out of range for shape {s:?}"),
                    ));
                }
                if matches!(r, ReduceOp::Any | ReduceOp::All) && ins[0].dtype != DType::Bool {
                    return Err(dtype_err(
                        op,
                        format!("expected bool operand, got {}", ins[0].dtype),
                    ));
                }
                let out: Shape = (0..s.len())
                    .filter(|i| !axes.contains(i))
                    .map(|i| s[i])
                    .collect();
                one(Spec::new(out, ins[0].dtype))
            }
            Prim::ArgReduce {
                axis, index_dtype, ..
            } => {
                let s = &ins[0].shape;
                if *axis >= s.len() {
                    return Err(shape_err(
                        op,
                        format!("axis {axis} out of range for shape {s:?}"),
                    ));
                }
                if s[*axis] == 0 {
                    return Err(shape_err(
                        op,
                        "attempt to get argmax/argmin of an empty sequence",
                    ));
                }
                let out: Shape = (0..s.len()).filter(|i| i != axis).map(|i| s[i]).collect();
                one(Spec::new(out, *index_dtype))
            }
            Prim::DotGeneral {
                lhs_contract,
                rhs_contract,
                lhs_batch,
                rhs_batch,
            } => {
                same_dtypes(op, ins)?;
                let (l, r) = (&ins[0].shape, &ins[1].shape);
                if lhs_contract.len() != rhs_contract.len() || lhs_batch.len() != rhs_batch.len() {
                    return Err(shape_err(
                        op,
                        "contracting / batch dimension lists differ in length",
                    ));
                }
                for (&a, &b) in lhs_contract
                    .iter()
                    .zip(rhs_contract)
                    .chain(lhs_batch.iter().zip(rhs_batch))
                {
                    if a >= l.len() || b >= r.len() || l[a] != r[b] {
                        return Err(shape_err(
                            op,
                            format!("incompatible shapes {l:?} and {r:?} (dims {a} and {b})"),
                        ));
                    }
                }
                let mut out: Shape = lhs_batch.iter().map(|&a| l[a]).collect();
                out.extend(
                    (0..l.len())
                        .filter(|i| !lhs_contract.contains(i) && !lhs_batch.contains(i))
                        .map(|i| l[i]),
                );
                out.extend(
                    (0..r.len())
                        .filter(|i| !rhs_contract.contains(i) && !rhs_batch.contains(i))
                        .map(|i| r[i]),
                );
                one(Spec::new(out, ins[0].dtype))
            }
            Prim::Conv {
                dims,
                strides,
                padding,
                lhs_dilation,
                rhs_dilation,
                groups,
            } => {
                same_dtypes(op, ins)?;
                let (x, k) = (&ins[0].shape, &ins[1].shape);
                let r = x.len();
                let perm_ok = |s: &[usize]| {
                    let mut seen = vec![false; r];
                    s.len() == r
                        && s.iter()
                            .all(|&a| a < r && !std::mem::replace(&mut seen[a], true))
                };
                if !(perm_ok(&dims.lhs) && perm_ok(&dims.rhs) && perm_ok(&dims.out)) || k.len() != r
                {
                    return Err(shape_err(
                        op,
                        format!(
                            "dimension numbers {dims:?} are not permutations of the axes of input {x:?} and kernel {k:?}"
                        ),
                    ));
                }
                let (x, k) = (&logical_shape(x, &dims.lhs), &logical_shape(k, &dims.rhs));
                let nd = x.len().saturating_sub(2);
                if x.len() < 3
                    || k.len() != x.len()
                    || strides.len() != nd
                    || padding.len() != nd
                    || lhs_dilation.len() != nd
                    || rhs_dilation.len() != nd
                {
                    return Err(shape_err(
                        op,
                        format!("bad ranks: input {x:?}, kernel {k:?}, {nd} spatial dims"),
                    ));
                }
                if *groups == 0 || x[1] % groups != 0 || k[0] % groups != 0 || k[1] * groups != x[1]
                {
                    return Err(shape_err(
                        op,
                        format!("input channels {} and kernel {k:?} do not match feature groups {groups}", x[1]),
                    ));
                }
                let mut out = vec![x[0], k[0]];
                for i in 0..nd {
                    let xin = if x[i + 2] == 0 {
                        0
                    } else {
                        (x[i + 2] as i64 - 1) * lhs_dilation[i] as i64 + 1
                    };
                    let xin = xin + padding[i].0 + padding[i].1;
                    let kw = if k[i + 2] == 0 {
                        0
                    } else {
                        (k[i + 2] as i64 - 1) * rhs_dilation[i] as i64 + 1
                    };
                    if strides[i] == 0 {
                        return Err(shape_err(op, "strides must be positive"));
                    }
                    out.push(window_out(xin, kw, strides[i] as i64));
                }
                let mut placed = vec![0; r];
                for (i, &a) in dims.out.iter().enumerate() {
                    placed[a] = out[i];
                }
                one(Spec::new(placed, ins[0].dtype))
            }
            Prim::ReduceWindow {
                window,
                strides,
                padding,
                ..
            } => {
                let s = &ins[0].shape;
                if window.len() != s.len() || strides.len() != s.len() || padding.len() != s.len() {
                    return Err(shape_err(
                        op,
                        format!("window parameters do not match rank {}", s.len()),
                    ));
                }
                let out: Shape = (0..s.len())
                    .map(|i| {
                        window_out(
                            (s[i] + padding[i].0 + padding[i].1) as i64,
                            window[i] as i64,
                            strides[i].max(1) as i64,
                        )
                    })
                    .collect();
                one(Spec::new(out, ins[0].dtype))
            }
            Prim::SelectAndScatterAdd {
                window,
                strides,
                padding,
            } => {
                same_dtypes(op, ins)?;
                let s = &ins[0].shape;
                let pooled = Prim::ReduceWindow {
                    op: WindowOp::Max,
                    window: window.clone(),
                    strides: strides.clone(),
                    padding: padding.clone(),
                }
                .infer(&ins[..1])?;
                if pooled[0].shape != ins[1].shape {
                    return Err(shape_err(
                        op,
                        format!(
                            "source shape {:?} does not match pooled shape {:?}",
                            ins[1].shape, pooled[0].shape
                        ),
                    ));
                }
                one(Spec::new(s.clone(), ins[0].dtype))
            }
            Prim::Gather { axis } => {
                let s = &ins[0].shape;
                if *axis >= s.len() {
                    return Err(shape_err(
                        op,
                        format!("axis {axis} out of range for shape {s:?}"),
                    ));
                }
                if !ins[1].dtype.is_int() {
                    return Err(dtype_err(
                        op,
                        format!("indices must be integers, got {}", ins[1].dtype),
                    ));
                }
                let mut out: Shape = s[..*axis].to_vec();
                out.extend(&ins[1].shape);
                out.extend(&s[axis + 1..]);
                one(Spec::new(out, ins[0].dtype))
            }
            Prim::Scatter { axis, .. } => {
                let g = Prim::Gather { axis: *axis }.infer(&ins[..2])?;
                if g[0].shape != ins[2].shape {
                    return Err(shape_err(
                        op,
                        format!(
                            "updates shape {:?} does not match expected {:?}",
                            ins[2].shape, g[0].shape
                        ),
                    ));
                }
                same_dtypes(op, &[ins[0].clone(), ins[2].clone()])?;
                one(ins[0].clone())
            }
            Prim::Iota { shape, dtype, dim } => {
                if *dim >= shape.len() {
                    return Err(shape_err(
                        op,
                        format!("dim {dim} out of range for shape {shape:?}"),
                    ));
                }
                one(Spec::new(shape.clone(), *dtype))
            }
            Prim::Sort { axis, .. } => {
                if *axis >= ins[0].shape.len() {
                    return Err(shape_err(
                        op,
                        format!("axis {axis} out of range for shape {:?}", ins[0].shape),
                    ));
                }
                Ok(vec![
                    ins[0].clone(),
                    Spec::new(ins[0].shape.clone(), DType::I32),
                ])
            }
            Prim::StopGradient => one(ins[0].clone()),
            Prim::Cumulative { axis, .. } => {
                if *axis >= ins[0].shape.len() {
                    return Err(shape_err(
                        op,
                        format!("axis {axis} out of range for shape {:?}", ins[0].shape),
                    ));
                }
                one(ins[0].clone())
            }
        }
    }
}

// Static primitive names (the cpu backend asks for one on every op).
impl UnaryOp {
    /// The name used in `Prim::name`.
    pub fn prim_name(&self) -> &'static str {
        match self {
            UnaryOp::Neg => "neg",
            UnaryOp::Abs => "abs",
            UnaryOp::Sign => "sign",
            UnaryOp::Exp => "exp",
            UnaryOp::Exp2 => "exp2",
            UnaryOp::Expm1 => "expm1",
            UnaryOp::Log => "log",
            UnaryOp::Log1p => "log1p",
            UnaryOp::Sqrt => "sqrt",
            UnaryOp::Rsqrt => "rsqrt",
            UnaryOp::Cbrt => "cbrt",
            UnaryOp::Sin => "sin",
            UnaryOp::Cos => "cos",
            UnaryOp::Tan => "tan",
            UnaryOp::Asin => "asin",
            UnaryOp::Acos => "acos",
            UnaryOp::Atan => "atan",
            UnaryOp::Sinh => "sinh",
            UnaryOp::Cosh => "cosh",
            UnaryOp::Tanh => "tanh",
            UnaryOp::Asinh => "asinh",
            UnaryOp::Acosh => "acosh",
            UnaryOp::Atanh => "atanh",
            UnaryOp::Floor => "floor",
            UnaryOp::Ceil => "ceil",
            UnaryOp::Round => "round",
            UnaryOp::Trunc => "trunc",
            UnaryOp::Erf => "erf",
            UnaryOp::Erfinv => "erfinv",
            UnaryOp::Lgamma => "lgamma",
            UnaryOp::Digamma => "digamma",
            UnaryOp::Logistic => "logistic",
            UnaryOp::Not => "not",
            UnaryOp::IsNan => "isnan",
            UnaryOp::IsInf => "isinf",
            UnaryOp::IsFinite => "isfinite",
        }
    }
}
impl BinaryOp {
    /// The name used in `Prim::name`.
    pub fn prim_name(&self) -> &'static str {
        match self {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
            BinaryOp::Rem => "rem",
            BinaryOp::Pow => "pow",
            BinaryOp::Max => "max",
            BinaryOp::Min => "min",
            BinaryOp::Atan2 => "atan2",
            BinaryOp::And => "and",
            BinaryOp::Or => "or",
            BinaryOp::Xor => "xor",
            BinaryOp::ShiftLeft => "shiftleft",
            BinaryOp::ShiftRight => "shiftright",
            BinaryOp::NextAfter => "nextafter",
        }
    }
}
impl ReduceOp {
    /// The name used in `Prim::name`.
    pub fn prim_name(&self) -> &'static str {
        match self {
            ReduceOp::Sum => "reduce_sum",
            ReduceOp::Prod => "reduce_prod",
            ReduceOp::Max => "reduce_max",
            ReduceOp::Min => "reduce_min",
            ReduceOp::Any => "reduce_any",
            ReduceOp::All => "reduce_all",
        }
    }
}
impl ArgOp {
    /// The name used in `Prim::name`.
    pub fn prim_name(&self) -> &'static str {
        match self {
            ArgOp::ArgMax => "argmax",
            ArgOp::ArgMin => "argmin",
        }
    }
}
impl WindowOp {
    /// The name used in `Prim::name`.
    pub fn prim_name(&self) -> &'static str {
        match self {
            WindowOp::Sum => "reduce_window_sum",
            WindowOp::Max => "reduce_window_max",
            WindowOp::Min => "reduce_window_min",
        }
    }
}
impl CumOp {
    /// The name used in `Prim::name`.
    pub fn prim_name(&self) -> &'static str {
        match self {
            CumOp::Sum => "cumsum",
            CumOp::Prod => "cumprod",
            CumOp::Max => "cummax",
            CumOp::Min => "cummin",
        }
    }
}
impl CmpOp {
    /// The name used in `Prim::name`.
    pub fn prim_name(&self) -> &'static str {
        match self {
            CmpOp::Eq => "eq",
            CmpOp::Ne => "ne",
            CmpOp::Lt => "lt",
            CmpOp::Le => "le",
            CmpOp::Gt => "gt",
            CmpOp::Ge => "ge",
        }
    }
}
