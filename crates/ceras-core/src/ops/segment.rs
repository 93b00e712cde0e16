//! `keras.ops.math` helpers built on scatter and gather: `segment_sum`,
//! `segment_max`, `segment_min`, `segment_prod`, `extract_sequences`, `histogram`.

use super::math_ext::{highest, lowest};
use super::*;
use crate::dtype::DType;
use crate::error::{dtype_err, shape_err};

/// Validates the segment arguments; returns the ids as int64 with out-of-range ids
/// (negative or `>= num_segments`) mapped to `num_segments` (dropped by scatter).
fn check_segments(
    op: &str,
    data: &Tensor,
    ids: &Tensor,
    num_segments: Option<usize>,
) -> Result<(Tensor, usize)> {
    if ids.ndim() != 1 {
        return Err(shape_err(
            op,
            format!(
                "segment_ids must be a 1-D vector, got shape {:?}",
                ids.shape()
            ),
        ));
    }
    if data.ndim() == 0 || data.shape()[0] != ids.shape()[0] {
        return Err(shape_err(
            op,
            format!(
                "segment_ids of shape {:?} and data of shape {:?} must have the same leading dimension",
                ids.shape(),
                data.shape()
            ),
        ));
    }
    if !ids.dtype().is_int() {
        return Err(dtype_err(
            op,
            format!("segment_ids must be integers, got {}", ids.dtype()),
        ));
    }
    let Some(n) = num_segments else {
        return Err(arg_err(
            op,
            "num_segments must be set (it cannot be inferred under tracing)",
        ));
    };
    let id = lax::convert(ids, DType::I64)?;
    let bad = lax::binary(
        BinaryOp::Or,
        &lax::compare(CmpOp::Lt, &id, &lax::zeros_like(&id)?)?,
        &lax::compare(CmpOp::Ge, &id, &lax::full_like(&id, n as f64)?)?,
    )?;
    Ok((lax::select(&bad, &lax::full_like(&id, n as f64)?, &id)?, n))
}

/// Sums of the rows of `data` with equal `segment_ids` (`num_segments` rows; ids
/// outside `[0, num_segments)` are dropped). `sorted` is a hint and has no effect.
pub fn segment_sum(
    data: impl IntoTensor,
    segment_ids: impl IntoTensor,
    num_segments: Option<usize>,
    sorted: bool,
) -> Result<Tensor> {
    let _ = sorted;
    let data = data.into_tensor()?;
    let (ids, n) = check_segments(
        "segment_sum",
        &data,
        &segment_ids.into_tensor()?,
        num_segments,
    )?;
    let mut s = data.shape().to_vec();
    s[0] = n;
    let zeros = lax::full(&s, 0.0, data.dtype())?;
    lax::scatter(&zeros, &ids, &data, 0, ScatterMode::Add)
}

fn segment_reduce(
    op: &str,
    data: Tensor,
    ids: Tensor,
    num_segments: Option<usize>,
    r: ReduceOp,
) -> Result<Tensor> {
    let (ids, n) = check_segments(op, &data, &ids, num_segments)?;
    let d = data.dtype();
    let data = if d == DType::Bool {
        lax::convert(&data, DType::I32)?
    } else {
        data
    };
    let m = data.shape()[0];
    let mut s = vec![n, m];
    s.extend(&data.shape()[1..]);
    let hit = lax::compare(
        CmpOp::Eq,
        &lax::broadcast_in_dim(&ids, &s, &[1])?,
        &lax::iota(&s, DType::I64, 0)?,
    )?;
    let db = lax::broadcast_in_dim(&data, &s, &(1..s.len()).collect::<Vec<_>>())?;
    let fill = match r {
        ReduceOp::Max => lowest(data.dtype()),
        ReduceOp::Min => highest(data.dtype()),
        _ => 1.0,
    };
    let masked = lax::select(&hit, &db, &lax::full_like(&db, fill)?)?;
    lax::convert(&lax::reduce(r, &masked, &[1])?, d)
}

/// Maxima of the rows of `data` per segment (`-inf` / the dtype's minimum for
/// empty segments).
///
/// Computed with a `[num_segments, rows, ...]` one-hot mask (memory grows with
/// `num_segments * rows`); the same holds for [`segment_min`] and [`segment_prod`].
pub fn segment_max(
    data: impl IntoTensor,
    segment_ids: impl IntoTensor,
    num_segments: Option<usize>,
    sorted: bool,
) -> Result<Tensor> {
    let _ = sorted;
    segment_reduce(
        "segment_max",
        data.into_tensor()?,
        segment_ids.into_tensor()?,
        num_segments,
        ReduceOp::Max,
    )
}

/// Minima of the rows of `data` per segment (`+inf` / the dtype's maximum for
/// empty segments).
pub fn segment_min(
    data: impl IntoTensor,
    segment_ids: impl IntoTensor,
    num_segments: Option<usize>,
    sorted: bool,
) -> Result<Tensor> {
    let _ = sorted;
    segment_reduce(
        "segment_min",
        data.into_tensor()?,
        segment_ids.into_tensor()?,
        num_segments,
        ReduceOp::Min,
    )
}

/// Products of the rows of `data` per segment (1 for empty segments).
pub fn segment_prod(
    data: impl IntoTensor,
    segment_ids: impl IntoTensor,
    num_segments: Option<usize>,
    sorted: bool,
) -> Result<Tensor> {
    let _ = sorted;
    segment_reduce(
        "segment_prod",
        data.into_tensor()?,
        segment_ids.into_tensor()?,
        num_segments,
        ReduceOp::Prod,
    )
}

/// Frames of `sequence_length` samples every `sequence_stride` samples along the
/// last axis: shape `[..., num_frames, sequence_length]`.
pub fn extract_sequences(
    x: impl IntoTensor,
    sequence_length: usize,
    sequence_stride: usize,
) -> Result<Tensor> {
    let x = x.into_tensor()?;
    if x.ndim() == 0 {
        return Err(shape_err(
            "extract_sequences",
            "input must have at least one dimension",
        ));
    }
    if sequence_length == 0 || sequence_stride == 0 {
        return Err(arg_err(
            "extract_sequences",
            format!(
                "sequence_length ({sequence_length}) and sequence_stride ({sequence_stride}) must be positive"
            ),
        ));
    }
    let last = x.ndim() - 1;
    let n = x.shape()[last];
    let frames = if n >= sequence_length {
        (n - sequence_length) / sequence_stride + 1
    } else {
        0
    };
    let f = lax::iota(&[frames, sequence_length], DType::I32, 0)?;
    let l = lax::iota(&[frames, sequence_length], DType::I32, 1)?;
    let idx = lax::add(&lax::mul_scalar(&f, sequence_stride as f64)?, &l)?;
    lax::gather(&x, &idx, last)
}

/// Histogram of the 1-D `x` with `bins` equal-width bins over `range` (default:
/// `[min(x), max(x)]`): `(counts, bin_edges)`. The last bin includes its right edge.
pub fn histogram(
    x: impl IntoTensor,
    bins: usize,
    range: Option<(f64, f64)>,
) -> Result<(Tensor, Tensor)> {
    let x = x.into_tensor()?;
    if x.ndim() != 1 {
        return Err(shape_err(
            "histogram",
            format!(
                "input tensor must be 1-dimensional, got shape {:?}",
                x.shape()
            ),
        ));
    }
    if bins == 0 {
        return Err(arg_err("histogram", "bins must be positive"));
    }
    let d = float_dtype(&[&x]);
    let xf = lax::convert(&x, d)?;
    let (lo, hi) = match range {
        Some((a, b)) => {
            if a > b {
                return Err(arg_err(
                    "histogram",
                    format!("max must be larger than min in range {range:?}"),
                ));
            }
            (lax::scalar(a, d)?, lax::scalar(b, d)?)
        }
        None => (min(&xf, None, false, None)?, max(&xf, None, false, None)?),
    };
    let same = lax::compare(CmpOp::Eq, &lo, &hi)?;
    let lo = lax::select(&same, &lax::add_scalar(&lo, -0.5)?, &lo)?;
    let hi = lax::select(&same, &lax::add_scalar(&hi, 0.5)?, &hi)?;
    let edges = linspace(
        &lo,
        &hi,
        bins + 1,
        &LinspaceOptions {
            dtype: Some(d),
            ..Default::default()
        },
    )?;
    let idx = searchsorted(&edges, &xf, "right")?;
    let last = lax::reshape(&lax::slice_axis(&edges, 0, bins, bins + 1)?, &[])?;
    let at_end = lax::compare(CmpOp::Eq, &xf, &lax::broadcast_to(&last, xf.shape())?)?;
    let idx = lax::select(&at_end, &lax::full_like(&idx, bins as f64)?, &idx)?;
    let cd = if x.dtype() == DType::Bool {
        DType::I32
    } else {
        x.dtype()
    };
    let ones = lax::full(x.shape(), 1.0, cd)?;
    let counts = lax::scatter(
        &lax::full(&[bins + 1], 0.0, cd)?,
        &idx,
        &ones,
        0,
        ScatterMode::Add,
    )?;
    Ok((lax::slice_axis(&counts, 0, 1, bins + 1)?, edges))
}

/// Euclidean distances between the rows of `x` (`[..., P, M]`) and of `y`
/// (`[..., R, M]`): shape `[..., P, R]`.
pub fn cdist(x: impl IntoTensor, y: impl IntoTensor) -> Result<Tensor> {
    let (x, y) = (x.into_tensor()?, y.into_tensor()?);
    if x.ndim() < 2 || y.ndim() < 2 {
        return Err(shape_err(
            "cdist",
            format!(
                "inputs must have rank >= 2, got shapes {:?} and {:?}",
                x.shape(),
                y.shape()
            ),
        ));
    }
    if x.shape()[x.ndim() - 1] != y.shape()[y.ndim() - 1] {
        return Err(shape_err(
            "cdist",
            format!(
                "the last dimensions of the inputs must match, got shapes {:?} and {:?}",
                x.shape(),
                y.shape()
            ),
        ));
    }
    let xe = expand_dims(&x, &[-2])?;
    let ye = expand_dims(&y, &[-3])?;
    let diff = subtract(&xe, &ye)?;
    let s = sum(&multiply(&diff, &diff)?, Some(&[-1]), false)?;
    let s = if x.dtype().is_int() || x.dtype() == DType::Bool {
        // Keep the integer dtype of the difference (as JAX sums it), then take sqrt.
        lax::convert(&s, diff.dtype())?
    } else {
        s
    };
    sqrt(&s)
}
