//! Pooling: `max_pool`, `average_pool`, `adaptive_max_pool`, `adaptive_average_pool`,
//! lowered to [`Prim::ReduceWindow`] (whose VJPs give the gradients).

use super::conv::{same_pad, spatial_dims, spatial_rank, Padding, Spatial};
use super::*;
use crate::config::DataFormat;
use crate::dtype::DType;
use crate::error::shape_err;

/// Options of [`max_pool`] and [`average_pool`], with Keras's defaults:
/// `strides=None` (= `pool_size`), `padding="valid"`, `data_format=None` (the
/// configured image data format).
///
/// ```
/// use ceras::ops::{Padding, PoolOptions};
/// let o = PoolOptions::new().strides(1).padding(Padding::Same);
/// assert_eq!(o.padding, Padding::Same);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PoolOptions {
    /// Window strides; `None` uses `pool_size`.
    pub strides: Option<Spatial>,
    /// Padding mode.
    pub padding: Padding,
    /// Data format; `None` uses `config::image_data_format()`.
    pub data_format: Option<DataFormat>,
}

impl PoolOptions {
    /// Keras's defaults.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the strides (an int or one per spatial dimension).
    pub fn strides(mut self, s: impl Into<Spatial>) -> Self {
        self.strides = Some(s.into());
        self
    }
    /// Sets the padding mode.
    pub fn padding(mut self, p: Padding) -> Self {
        self.padding = p;
        self
    }
    /// Sets the data format.
    pub fn data_format(mut self, f: DataFormat) -> Self {
        self.data_format = Some(f);
        self
    }
}

/// Full-rank window, strides and padding of a pooling op.
struct Window {
    window: Vec<usize>,
    strides: Vec<usize>,
    padding: Vec<(usize, usize)>,
}

fn window_params(op: &str, x: &Tensor, pool_size: &Spatial, opts: &PoolOptions) -> Result<Window> {
    let nd = spatial_rank(op, x)?;
    let fmt = opts.data_format.unwrap_or_else(config::image_data_format);
    let pool = pool_size.resolve(op, "pool_size", nd, 1)?;
    let strides = match &opts.strides {
        None => pool.clone(),
        Some(s) => s.resolve(op, "strides", nd, 1)?,
    };
    let sp = spatial_dims(x, fmt);
    let sp_axes: Vec<usize> = match fmt {
        DataFormat::ChannelsLast => (1..=nd).collect(),
        DataFormat::ChannelsFirst => (2..nd + 2).collect(),
    };
    let mut w = Window {
        window: vec![1; x.ndim()],
        strides: vec![1; x.ndim()],
        padding: vec![(0, 0); x.ndim()],
    };
    for i in 0..nd {
        let a = sp_axes[i];
        w.window[a] = pool[i];
        w.strides[a] = strides[i];
        if opts.padding == Padding::Same {
            w.padding[a] = same_pad(sp[i], pool[i], strides[i]);
        }
    }
    Ok(w)
}

/// Max pooling (`keras.ops.max_pool`) over the spatial dimensions of a
/// `(batch, *spatial, channels)` (or channels-first) input; `"same"` padding never
/// selects padded positions.
///
/// ```
/// use ceras::{ops, Tensor};
/// use ceras::ops::PoolOptions;
/// let x = Tensor::from_vec(vec![1.0f32, 3.0, 2.0, 5.0], [1, 4, 1]).unwrap();
/// let y = ops::max_pool(&x, 2, &PoolOptions::new()).unwrap();
/// assert_eq!(y.to_vec::<f32>().unwrap(), vec![3.0, 5.0]);
/// ```
pub fn max_pool(
    inputs: impl IntoTensor,
    pool_size: impl Into<Spatial>,
    opts: &PoolOptions,
) -> Result<Tensor> {
    let x = inputs.into_tensor()?.with_weak(false);
    let w = window_params("max_pool", &x, &pool_size.into(), opts)?;
    lax::reduce_window(WindowOp::Max, &x, &w.window, &w.strides, &w.padding)
}

/// Average pooling (`keras.ops.average_pool`). With `"same"` padding each output is
/// divided by the number of *valid* (non-padded) elements of its window, as Keras and
/// JAX do. Integer inputs give `floatx`.
///
/// ```
/// use ceras::{ops, Tensor};
/// use ceras::ops::{Padding, PoolOptions};
/// let x = Tensor::from_vec(vec![1.0f32, 3.0, 2.0], [1, 3, 1]).unwrap();
/// let y = ops::average_pool(&x, 2, &PoolOptions::new().padding(Padding::Same)).unwrap();
/// assert_eq!(y.to_vec::<f32>().unwrap(), vec![2.0, 2.0]);
/// ```
pub fn average_pool(
    inputs: impl IntoTensor,
    pool_size: impl Into<Spatial>,
    opts: &PoolOptions,
) -> Result<Tensor> {
    let x = inputs.into_tensor()?.with_weak(false);
    let w = window_params("average_pool", &x, &pool_size.into(), opts)?;
    let xs = if x.dtype() == DType::Bool {
        lax::convert(&x, DType::I32)?
    } else {
        x.clone()
    };
    let pooled = lax::reduce_window(WindowOp::Sum, &xs, &w.window, &w.strides, &w.padding)?;
    if opts.padding == Padding::Valid {
        let n: usize = w.window.iter().product();
        return divide(&pooled, n as i64);
    }
    // Count the valid entries of every window; dims with a window of 1 need no count.
    let shape: Vec<usize> = (0..x.ndim())
        .map(|i| if w.window[i] == 1 { 1 } else { x.shape()[i] })
        .collect();
    let ones = lax::full(&shape, 1.0, xs.dtype())?;
    let counts = lax::reduce_window(WindowOp::Sum, &ones, &w.window, &w.strides, &w.padding)?;
    divide(&pooled, &counts)
}

/// The two window sizes of adaptive pooling along one dim and, per output position,
/// the index into `concat(small_windows, big_windows)` (Keras's "two-pool gather").
fn adaptive_plan(input: usize, output: usize) -> (usize, usize, Vec<i32>, bool) {
    let small = input.div_ceil(output);
    let big = small + 1;
    let small_len = input + 1 - small;
    let mut idx = Vec::with_capacity(output);
    let mut any_big = false;
    for i in 0..output {
        let start = (i * input) / output;
        let end = ((i + 1) * input).div_ceil(output);
        if end - start == big {
            any_big = true;
            idx.push((start + small_len) as i32);
        } else {
            idx.push(start as i32);
        }
    }
    (small, big, idx, any_big)
}

fn adaptive_pool(
    op: &str,
    x: Tensor,
    output_size: Spatial,
    data_format: Option<DataFormat>,
    max: bool,
) -> Result<Tensor> {
    let x = x.with_weak(false);
    let nd = spatial_rank(op, &x)?;
    let fmt = data_format.unwrap_or_else(config::image_data_format);
    let out = output_size.resolve(op, "output_size", nd, 1)?;
    let x = if max {
        x
    } else {
        let d = float_dtype(&[&x]);
        lax::convert(&x, d)?
    };
    let sp = spatial_dims(&x, fmt);
    let first = match fmt {
        DataFormat::ChannelsLast => 1,
        DataFormat::ChannelsFirst => 2,
    };
    let wop = if max { WindowOp::Max } else { WindowOp::Sum };
    let mut cur = x;
    for i in 0..nd {
        let axis = first + i;
        let (input, output) = (sp[i], out[i]);
        if input == 0 {
            return Err(shape_err(
                op,
                format!(
                    "spatial dimension {i} of the input has size 0 (shape {:?})",
                    cur.shape()
                ),
            ));
        }
        let (small, big, idx, any_big) = adaptive_plan(input, output);
        let pool = |size: usize| -> Result<Tensor> {
            let mut window = vec![1; cur.ndim()];
            window[axis] = size;
            let p = lax::reduce_window(
                wop,
                &cur,
                &window,
                &vec![1; cur.ndim()],
                &vec![(0, 0); cur.ndim()],
            )?;
            if max {
                Ok(p)
            } else {
                lax::div(&p, &lax::full_like(&p, size as f64)?)
            }
        };
        let small_pool = pool(small)?;
        let combined = if any_big {
            let big_pool = pool(big)?;
            lax::concatenate(&[&small_pool, &big_pool], axis)?
        } else {
            small_pool
        };
        let idx = Tensor::from_vec(idx, [output])?;
        cur = lax::gather(&combined, &idx, axis)?;
    }
    Ok(cur)
}

/// Adaptive average pooling (`keras.ops.adaptive_average_pool`): pools the spatial
/// dimensions to exactly `output_size`, window `i` of a dimension of size `n` covering
/// `[floor(i * n / out), ceil((i + 1) * n / out))`.
///
/// ```
/// use ceras::{ops, Tensor};
/// let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0], [1, 5, 1]).unwrap();
/// let y = ops::adaptive_average_pool(&x, 2, None).unwrap();
/// assert_eq!(y.to_vec::<f32>().unwrap(), vec![2.0, 4.0]);
/// ```
pub fn adaptive_average_pool(
    inputs: impl IntoTensor,
    output_size: impl Into<Spatial>,
    data_format: Option<DataFormat>,
) -> Result<Tensor> {
    adaptive_pool(
        "adaptive_average_pool",
        inputs.into_tensor()?,
        output_size.into(),
        data_format,
        false,
    )
}

/// Adaptive max pooling (`keras.ops.adaptive_max_pool`); windows as in
/// [`adaptive_average_pool`].
pub fn adaptive_max_pool(
    inputs: impl IntoTensor,
    output_size: impl Into<Spatial>,
    data_format: Option<DataFormat>,
) -> Result<Tensor> {
    adaptive_pool(
        "adaptive_max_pool",
        inputs.into_tensor()?,
        output_size.into(),
        data_format,
        true,
    )
}
