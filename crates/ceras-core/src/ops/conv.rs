//! Convolutions (`conv`, `depthwise_conv`, `separable_conv`, `conv_transpose`) and the
//! patch ops `unfold` / `fold`, with Keras's kernel layouts, padding modes and data
//! formats. Everything lowers to [`Prim::Conv`], [`Prim::Pad`] and shape primitives.

use super::*;
use crate::config::DataFormat;
use crate::error::shape_err;

/// Keras's `padding` argument of convolutions and pooling.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Padding {
    /// No padding: windows lie entirely inside the input.
    #[default]
    Valid,
    /// Pad so that the output has `ceil(input / stride)` positions (TensorFlow / XLA
    /// `"SAME"`: the total padding is split with the extra element at the end).
    Same,
}

impl Padding {
    /// Parses `"valid"` / `"same"` (case-insensitive), as Keras accepts them.
    ///
    /// ```
    /// use ceras::ops::Padding;
    /// assert_eq!(Padding::parse("SAME").unwrap(), Padding::Same);
    /// assert!(Padding::parse("full").is_err());
    /// ```
    pub fn parse(s: &str) -> Result<Padding> {
        match s.to_ascii_lowercase().as_str() {
            "valid" => Ok(Padding::Valid),
            "same" => Ok(Padding::Same),
            _ => Err(arg_err(
                "padding",
                format!("the `padding` argument must be one of 'valid', 'same', got {s:?}"),
            )),
        }
    }

    /// Keras's name (`"valid"` / `"same"`).
    pub fn name(self) -> &'static str {
        match self {
            Padding::Valid => "valid",
            Padding::Same => "same",
        }
    }
}

/// An `int` or a per-dimension tuple, as Keras accepts for `strides`, `pool_size`,
/// `dilation_rate`, `kernel_size`, ...: one value is repeated over every spatial
/// dimension.
///
/// ```
/// use ceras::ops::Spatial;
/// assert_eq!(Spatial::from(2), Spatial(vec![2]));
/// assert_eq!(Spatial::from([1, 2]), Spatial(vec![1, 2]));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spatial(pub Vec<i64>);

macro_rules! spatial_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Spatial {
            fn from(v: $t) -> Spatial {
                Spatial(vec![v as i64])
            }
        }
        impl<const N: usize> From<[$t; N]> for Spatial {
            fn from(v: [$t; N]) -> Spatial {
                Spatial(v.iter().map(|&a| a as i64).collect())
            }
        }
        impl From<&[$t]> for Spatial {
            fn from(v: &[$t]) -> Spatial {
                Spatial(v.iter().map(|&a| a as i64).collect())
            }
        }
        impl From<Vec<$t>> for Spatial {
            fn from(v: Vec<$t>) -> Spatial {
                Spatial(v.iter().map(|&a| a as i64).collect())
            }
        }
    )*};
}
spatial_from!(i32, i64, usize, u32);

impl Spatial {
    /// Expands to `nd` values, each at least `min`.
    pub(crate) fn resolve(&self, op: &str, what: &str, nd: usize, min: i64) -> Result<Vec<usize>> {
        let v: Vec<i64> = match self.0.len() {
            1 => vec![self.0[0]; nd],
            n if n == nd => self.0.clone(),
            _ => {
                return Err(arg_err(
                    op,
                    format!(
                        "`{what}` must be an int or a tuple of {nd} ints, got {:?}",
                        self.0
                    ),
                ))
            }
        };
        if let Some(bad) = v.iter().find(|&&a| a < min) {
            return Err(arg_err(
                op,
                format!(
                    "`{what}` values must be >= {min}, got {bad} (in {:?})",
                    self.0
                ),
            ));
        }
        Ok(v.into_iter().map(|a| a as usize).collect())
    }
}

macro_rules! conv_builders {
    () => {
        /// Sets the strides (an int or one per spatial dimension).
        pub fn strides(mut self, s: impl Into<Spatial>) -> Self {
            self.strides = s.into();
            self
        }
        /// Sets the padding mode.
        pub fn padding(mut self, p: Padding) -> Self {
            self.padding = p;
            self
        }
        /// Sets the data format (default: `config::image_data_format()`).
        pub fn data_format(mut self, f: DataFormat) -> Self {
            self.data_format = Some(f);
            self
        }
        /// Sets the dilation rate (an int or one per spatial dimension).
        pub fn dilation_rate(mut self, d: impl Into<Spatial>) -> Self {
            self.dilation_rate = d.into();
            self
        }
    };
}

/// Options of [`conv`], [`depthwise_conv`] and [`separable_conv`], with Keras's
/// defaults: `strides=1`, `padding="valid"`, `data_format=None` (the configured
/// image data format), `dilation_rate=1`.
///
/// ```
/// use ceras::ops::{ConvOptions, Padding};
/// let o = ConvOptions::new().strides(2).padding(Padding::Same);
/// assert_eq!(o.padding, Padding::Same);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvOptions {
    /// Window strides.
    pub strides: Spatial,
    /// Padding mode.
    pub padding: Padding,
    /// Data format; `None` uses `config::image_data_format()`.
    pub data_format: Option<DataFormat>,
    /// Kernel dilation (atrous convolution).
    pub dilation_rate: Spatial,
}

impl Default for ConvOptions {
    fn default() -> Self {
        ConvOptions {
            strides: Spatial(vec![1]),
            padding: Padding::Valid,
            data_format: None,
            dilation_rate: Spatial(vec![1]),
        }
    }
}

impl ConvOptions {
    /// Keras's defaults.
    pub fn new() -> Self {
        Self::default()
    }
    conv_builders!();
}

/// Options of [`conv_transpose`]: those of [`ConvOptions`] plus `output_padding`
/// (`None`: Keras's default, inferred from the padding mode).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvTransposeOptions {
    /// Strides of the forward convolution (the upsampling factor).
    pub strides: Spatial,
    /// Padding mode.
    pub padding: Padding,
    /// Extra size added at the end of each spatial dimension of the output.
    pub output_padding: Option<Spatial>,
    /// Data format; `None` uses `config::image_data_format()`.
    pub data_format: Option<DataFormat>,
    /// Kernel dilation.
    pub dilation_rate: Spatial,
}

impl Default for ConvTransposeOptions {
    fn default() -> Self {
        ConvTransposeOptions {
            strides: Spatial(vec![1]),
            padding: Padding::Valid,
            output_padding: None,
            data_format: None,
            dilation_rate: Spatial(vec![1]),
        }
    }
}

impl ConvTransposeOptions {
    /// Keras's defaults.
    pub fn new() -> Self {
        Self::default()
    }
    conv_builders!();
    /// Sets `output_padding` (an int or one per spatial dimension).
    pub fn output_padding(mut self, p: impl Into<Spatial>) -> Self {
        self.output_padding = Some(p.into());
        self
    }
}

/// Number of spatial dims of a `(batch, ..., channels)` input, checking its rank.
pub(crate) fn spatial_rank(op: &str, x: &Tensor) -> Result<usize> {
    if x.ndim() < 3 {
        return Err(shape_err(
            op,
            format!(
                "inputs must have rank >= 3 (batch, spatial dims, channels), got shape {:?}",
                x.shape()
            ),
        ));
    }
    Ok(x.ndim() - 2)
}

/// Channel count of an input in `fmt`.
pub(crate) fn channels(x: &Tensor, fmt: DataFormat) -> usize {
    match fmt {
        DataFormat::ChannelsLast => x.shape()[x.ndim() - 1],
        DataFormat::ChannelsFirst => x.shape()[1],
    }
}

/// Spatial dims of an input in `fmt`.
pub(crate) fn spatial_dims(x: &Tensor, fmt: DataFormat) -> Vec<usize> {
    match fmt {
        DataFormat::ChannelsLast => x.shape()[1..x.ndim() - 1].to_vec(),
        DataFormat::ChannelsFirst => x.shape()[2..].to_vec(),
    }
}

/// Dimension numbers for data in `fmt` and a kernel whose axes are
/// `(*spatial, in, out)` when `kernel_io` and `(*spatial, out, in)` otherwise: the
/// convolution reads both in place, with no transposes.
pub(crate) fn conv_dims(fmt: DataFormat, nd: usize, kernel_io: bool) -> ConvDims {
    let mut d = match fmt {
        DataFormat::ChannelsLast => ConvDims::channels_last(nd),
        DataFormat::ChannelsFirst => ConvDims::channels_first(nd),
    };
    d.rhs = if kernel_io {
        vec![nd + 1, nd]
    } else {
        vec![nd, nd + 1]
    };
    d.rhs.extend(0..nd);
    d
}

/// XLA `"SAME"` padding of one dimension: output `ceil(input / stride)`, total padding
/// `max((out - 1) * stride + window - input, 0)`, the smaller half first.
pub(crate) fn same_pad(input: usize, window: usize, stride: usize) -> (usize, usize) {
    let out = input.div_ceil(stride);
    let total = ((out.max(1) - 1) * stride + window).saturating_sub(input);
    let total = if out == 0 { 0 } else { total };
    (total / 2, total - total / 2)
}

/// Effective (dilated) window size.
pub(crate) fn dilated(k: usize, d: usize) -> usize {
    if k == 0 {
        0
    } else {
        (k - 1) * d + 1
    }
}

/// The shared body: `x` in `fmt`, kernel `(*spatial, in / groups, out)`.
#[allow(clippy::too_many_arguments)]
fn conv_core(
    op: &str,
    x: &Tensor,
    k: &Tensor,
    fmt: DataFormat,
    strides: &[usize],
    padding: Padding,
    dilation: &[usize],
    groups: usize,
) -> Result<Tensor> {
    let nd = x.ndim() - 2;
    let in_sp = spatial_dims(x, fmt);
    let k_sp = &k.shape()[..nd];
    let pads: Vec<(i64, i64)> = (0..nd)
        .map(|i| match padding {
            Padding::Valid => (0, 0),
            Padding::Same => {
                let (lo, hi) = same_pad(in_sp[i], dilated(k_sp[i], dilation[i]), strides[i]);
                (lo as i64, hi as i64)
            }
        })
        .collect();
    let dims = conv_dims(fmt, nd, true);
    let y = lax::conv_general(x, k, &dims, strides, &pads, &vec![1; nd], dilation, groups)?;
    if y.size() == 0 && x.size() != 0 {
        return Err(shape_err(
            op,
            format!(
                "the convolution resulted in an empty output (input shape {:?}, kernel spatial shape {k_sp:?}, \
                 strides {strides:?}, dilation {dilation:?}, padding {:?}); the input is too small",
                x.shape(),
                padding.name()
            ),
        ));
    }
    Ok(y)
}

fn check_kernel_rank(op: &str, x: &Tensor, k: &Tensor, what: &str) -> Result<()> {
    if k.ndim() != x.ndim() {
        return Err(shape_err(
            op,
            format!(
                "{what} must have rank {} (spatial dims, in channels, out channels) for inputs of shape {:?}, got shape {:?}",
                x.ndim(),
                x.shape(),
                k.shape()
            ),
        ));
    }
    Ok(())
}

/// N-D convolution (`keras.ops.conv`) for 1-D, 2-D and 3-D (any rank ≥ 3) inputs.
///
/// `inputs` is `(batch, *spatial, channels)` (channels-last) or
/// `(batch, channels, *spatial)`; `kernel` is `(*kernel_spatial, in_channels / groups,
/// out_channels)`. Feature groups are inferred: `groups = channels / kernel.shape[-2]`.
/// As in Keras on JAX, `inputs` is cast to the kernel's dtype.
///
/// ```
/// use ceras::{ops, Tensor};
/// use ceras::ops::{ConvOptions, Padding};
/// let x = ops::ones(&[1, 5, 1], None).unwrap();          // (batch, width, channels)
/// let k = ops::ones(&[3, 1, 1], None).unwrap();          // (width, in, out)
/// let y = ops::conv(&x, &k, &ConvOptions::new().padding(Padding::Same)).unwrap();
/// assert_eq!(y.to_vec::<f32>().unwrap(), vec![2.0, 3.0, 3.0, 3.0, 2.0]);
/// ```
pub fn conv(
    inputs: impl IntoTensor,
    kernel: impl IntoTensor,
    opts: &ConvOptions,
) -> Result<Tensor> {
    const OP: &str = "conv";
    let x = inputs.into_tensor()?;
    let k = kernel.into_tensor()?;
    let nd = spatial_rank(OP, &x)?;
    check_kernel_rank(OP, &x, &k, "kernel")?;
    let fmt = opts.data_format.unwrap_or_else(config::image_data_format);
    let c = channels(&x, fmt);
    let (kin, kout) = (k.shape()[nd], k.shape()[nd + 1]);
    if kin == 0 || !c.is_multiple_of(kin) {
        return Err(shape_err(
            OP,
            format!(
                "the number of input channels must be evenly divisible by the kernel's in_channels; \
                 got input channels {c} (inputs shape {:?}, {}) and kernel shape {:?}",
                x.shape(),
                fmt.name(),
                k.shape()
            ),
        ));
    }
    let groups = c / kin;
    if kout % groups != 0 {
        return Err(shape_err(
            OP,
            format!(
                "the kernel's out_channels ({kout}) must be divisible by the feature groups ({groups} = {c} input channels / {kin} kernel in_channels)"
            ),
        ));
    }
    let strides = opts.strides.resolve(OP, "strides", nd, 1)?;
    let dil = opts.dilation_rate.resolve(OP, "dilation_rate", nd, 1)?;
    let x = lax::convert(&x, k.dtype())?;
    let k = k.with_weak(false);
    conv_core(OP, &x, &k, fmt, &strides, opts.padding, &dil, groups)
}

fn check_input_channels(
    op: &str,
    x: &Tensor,
    k: &Tensor,
    kdim: usize,
    fmt: DataFormat,
) -> Result<()> {
    let c = channels(x, fmt);
    if c != k.shape()[kdim] {
        return Err(shape_err(
            op,
            format!(
                "the number of input channels must match the kernel's input channels; got input channels {c} \
                 (inputs shape {:?}, {}) and kernel shape {:?} (input channels {})",
                x.shape(),
                fmt.name(),
                k.shape(),
                k.shape()[kdim]
            ),
        ));
    }
    Ok(())
}

/// Depthwise convolution (`keras.ops.depthwise_conv`): each input channel is
/// convolved with its own `channel_multiplier` filters.
///
/// `kernel` is `(*kernel_spatial, in_channels, channel_multiplier)`; the output has
/// `in_channels * channel_multiplier` channels, channel `c * multiplier + m` coming from
/// input channel `c`.
pub fn depthwise_conv(
    inputs: impl IntoTensor,
    kernel: impl IntoTensor,
    opts: &ConvOptions,
) -> Result<Tensor> {
    const OP: &str = "depthwise_conv";
    let x = inputs.into_tensor()?;
    let k = kernel.into_tensor()?;
    let nd = spatial_rank(OP, &x)?;
    check_kernel_rank(OP, &x, &k, "kernel")?;
    let fmt = opts.data_format.unwrap_or_else(config::image_data_format);
    check_input_channels(OP, &x, &k, nd, fmt)?;
    let strides = opts.strides.resolve(OP, "strides", nd, 1)?;
    let dil = opts.dilation_rate.resolve(OP, "dilation_rate", nd, 1)?;
    let d = result_dtype(&[&x, &k]);
    let x = lax::convert(&x, d)?;
    let k = lax::convert(&k, d)?;
    let c = k.shape()[nd];
    let m = k.shape()[nd + 1];
    // (*sp, C, M) -> (*sp, 1, C*M) -> (C*M, 1, *sp)
    let mut s = k.shape()[..nd].to_vec();
    s.extend([1, c * m]);
    let k = lax::reshape(&k, &s)?;
    conv_core(OP, &x, &k, fmt, &strides, opts.padding, &dil, c)
}

/// Depthwise convolution followed by a pointwise (1×1) convolution
/// (`keras.ops.separable_conv`).
///
/// `depthwise_kernel` is `(*kernel_spatial, in_channels, multiplier)`,
/// `pointwise_kernel` is `(1, ..., 1, in_channels * multiplier, out_channels)`.
pub fn separable_conv(
    inputs: impl IntoTensor,
    depthwise_kernel: impl IntoTensor,
    pointwise_kernel: impl IntoTensor,
    opts: &ConvOptions,
) -> Result<Tensor> {
    const OP: &str = "separable_conv";
    let x = inputs.into_tensor()?;
    let dk = depthwise_kernel.into_tensor()?;
    let pk = pointwise_kernel.into_tensor()?;
    let nd = spatial_rank(OP, &x)?;
    check_kernel_rank(OP, &x, &dk, "depthwise_kernel")?;
    let fmt = opts.data_format.unwrap_or_else(config::image_data_format);
    check_input_channels(OP, &x, &dk, nd, fmt)?;
    let fmt_opts = ConvOptions {
        data_format: Some(fmt),
        ..opts.clone()
    };
    let y = depthwise_conv(&x, &dk, &fmt_opts)?;
    let pw = ConvOptions {
        strides: Spatial(vec![1]),
        padding: Padding::Valid,
        data_format: Some(fmt),
        dilation_rate: opts.dilation_rate.clone(),
    };
    conv(&y, &pk, &pw)
}

/// Keras → XLA padding of one dimension of a transposed convolution
/// (`backend_utils._convert_conv_transpose_padding_args_from_keras_to_jax`).
pub(crate) fn conv_transpose_pads(
    kernel: usize,
    stride: usize,
    dilation: usize,
    padding: Padding,
    output_padding: Option<i64>,
) -> (i64, i64) {
    let k = dilated(kernel, dilation) as i64;
    let s = stride as i64;
    match padding {
        Padding::Valid => {
            let op = output_padding.unwrap_or(k.max(s) - k);
            (k - 1, k - 1 + op)
        }
        Padding::Same => {
            let pad_len = match output_padding {
                None => s + k - 2,
                Some(op) => k + k % 2 - 2 + op,
            };
            let left = (pad_len.div_euclid(2) + pad_len.rem_euclid(2)).min(k - 1);
            (left, pad_len - left)
        }
    }
}

/// Transposed convolution (`keras.ops.conv_transpose`), the gradient of `conv` with
/// respect to its input.
///
/// `kernel` is `(*kernel_spatial, out_channels, in_channels)`. With
/// `output_padding = None` the output spatial size is `input * stride` for
/// `"same"` and `(input - 1) * stride + max(kernel, stride)` for `"valid"`
/// (dilated kernel size).
///
/// ```
/// use ceras::ops::{self, ConvTransposeOptions};
/// let x = ops::ones(&[1, 3, 1], None).unwrap();
/// let k = ops::ones(&[2, 1, 1], None).unwrap();
/// let y = ops::conv_transpose(&x, &k, &ConvTransposeOptions::new().strides(2)).unwrap();
/// assert_eq!(y.shape(), &[1, 6, 1]);
/// ```
pub fn conv_transpose(
    inputs: impl IntoTensor,
    kernel: impl IntoTensor,
    opts: &ConvTransposeOptions,
) -> Result<Tensor> {
    const OP: &str = "conv_transpose";
    let x = inputs.into_tensor()?;
    let k = kernel.into_tensor()?;
    let nd = spatial_rank(OP, &x)?;
    check_kernel_rank(OP, &x, &k, "kernel")?;
    let fmt = opts.data_format.unwrap_or_else(config::image_data_format);
    check_input_channels(OP, &x, &k, nd + 1, fmt)?;
    let strides = opts.strides.resolve(OP, "strides", nd, 1)?;
    let dil = opts.dilation_rate.resolve(OP, "dilation_rate", nd, 1)?;
    let out_pad: Option<Vec<i64>> = match &opts.output_padding {
        None => None,
        Some(p) => Some(
            p.resolve(OP, "output_padding", nd, 0)?
                .into_iter()
                .map(|v| v as i64)
                .collect(),
        ),
    };
    let d = result_dtype(&[&x, &k]);
    let x = lax::convert(&x, d)?;
    let k = lax::convert(&k, d)?;
    let k_sp = &k.shape()[..nd];
    let pads: Vec<(i64, i64)> = (0..nd)
        .map(|i| {
            conv_transpose_pads(
                k_sp[i],
                strides[i],
                dil[i],
                opts.padding,
                out_pad.as_ref().map(|p| p[i]),
            )
        })
        .collect();
    // Flip the kernel spatially; its axes are (*sp, out, in).
    let kf = lax::rev(&k, &(0..nd).collect::<Vec<_>>())?;
    let dims = conv_dims(fmt, nd, false);
    lax::conv_general(&x, &kf, &dims, &vec![1; nd], &pads, &strides, &dil, 1)
}

fn pair(op: &str, what: &str, v: &Spatial, min: i64) -> Result<[usize; 2]> {
    let r = v.resolve(op, what, 2, min)?;
    Ok([r[0], r[1]])
}

/// Extracts sliding local blocks (`keras.ops.unfold`, PyTorch's `Unfold` / im2col)
/// from a `(N, C, H, W)` tensor: the result is `(N, C * kH * kW, L)` with `L` the
/// number of block positions, channel-major (`c * kH * kW + i * kW + j`).
///
/// `kernel_size`, `dilation`, `padding` (zeros on both sides) and `stride` are ints or
/// `(h, w)` pairs.
///
/// ```
/// use ceras::ops;
/// let x = ops::reshape(ops::arange(16.0, None, None, None).unwrap(), &[1, 1, 4, 4]).unwrap();
/// let p = ops::unfold(&x, 2, 1, 0, 2).unwrap();
/// assert_eq!(p.shape(), &[1, 4, 4]);
/// ```
pub fn unfold(
    x: impl IntoTensor,
    kernel_size: impl Into<Spatial>,
    dilation: impl Into<Spatial>,
    padding: impl Into<Spatial>,
    stride: impl Into<Spatial>,
) -> Result<Tensor> {
    const OP: &str = "unfold";
    let x = x.into_tensor()?;
    if x.ndim() != 4 {
        return Err(shape_err(
            OP,
            format!(
                "input must be a 4D tensor (N, C, H, W), got shape {:?}",
                x.shape()
            ),
        ));
    }
    let [kh, kw] = pair(OP, "kernel_size", &kernel_size.into(), 1)?;
    let [dh, dw] = pair(OP, "dilation", &dilation.into(), 1)?;
    let [ph, pw] = pair(OP, "padding", &padding.into(), 0)?;
    let [sh, sw] = pair(OP, "stride", &stride.into(), 1)?;
    let (n, c, h, w) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
    let (hp, wp) = (h + 2 * ph, w + 2 * pw);
    let (eh, ew) = (dilated(kh, dh), dilated(kw, dw));
    if hp < eh || wp < ew {
        return Err(shape_err(
            OP,
            format!(
                "the (padded) input {hp}x{wp} is smaller than the dilated kernel {eh}x{ew} (input shape {:?})",
                x.shape()
            ),
        ));
    }
    let (oh, ow) = ((hp - eh) / sh + 1, (wp - ew) / sw + 1);
    let xp = if ph > 0 || pw > 0 {
        let z = lax::scalar(0.0, x.dtype())?;
        lax::pad(
            &x.with_weak(false),
            &z,
            &[0, 0, ph as i64, pw as i64],
            &[0, 0, ph as i64, pw as i64],
            &[0; 4],
        )?
    } else {
        x.with_weak(false)
    };
    let mut blocks = Vec::with_capacity(kh * kw);
    for i in 0..kh {
        for j in 0..kw {
            let (r0, c0) = (i * dh, j * dw);
            let b = lax::slice(
                &xp,
                &[0, 0, r0, c0],
                &[n, c, r0 + (oh - 1) * sh + 1, c0 + (ow - 1) * sw + 1],
                &[1, 1, sh, sw],
            )?;
            blocks.push(lax::reshape(&b, &[n, c, 1, oh * ow])?);
        }
    }
    let refs: Vec<&Tensor> = blocks.iter().collect();
    let cat = lax::concatenate(&refs, 2)?;
    lax::reshape(&cat, &[n, c * kh * kw, oh * ow])
}

/// Combines sliding local blocks into a tensor (`keras.ops.fold`, col2im), the
/// adjoint of [`unfold`]: `x` is `(N, C * kH * kW, L)`, the result `(N, C, oH, oW)`
/// with overlapping values summed.
///
/// ```
/// use ceras::ops;
/// let x = ops::ones(&[1, 4, 4], None).unwrap();
/// let y = ops::fold(&x, [4, 4], 2, 1, 0, 2).unwrap();
/// assert_eq!(y.shape(), &[1, 1, 4, 4]);
/// ```
pub fn fold(
    x: impl IntoTensor,
    output_size: impl Into<Spatial>,
    kernel_size: impl Into<Spatial>,
    dilation: impl Into<Spatial>,
    padding: impl Into<Spatial>,
    stride: impl Into<Spatial>,
) -> Result<Tensor> {
    const OP: &str = "fold";
    let x = x.into_tensor()?;
    if x.ndim() != 3 {
        return Err(shape_err(
            OP,
            format!(
                "input must be a 3D tensor (N, C * kH * kW, L), got shape {:?}",
                x.shape()
            ),
        ));
    }
    let [oh, ow] = pair(OP, "output_size", &output_size.into(), 1)?;
    let [kh, kw] = pair(OP, "kernel_size", &kernel_size.into(), 1)?;
    let [dh, dw] = pair(OP, "dilation", &dilation.into(), 1)?;
    let [ph, pw] = pair(OP, "padding", &padding.into(), 0)?;
    let [sh, sw] = pair(OP, "stride", &stride.into(), 1)?;
    let (n, ckk, l) = (x.shape()[0], x.shape()[1], x.shape()[2]);
    let kk = kh * kw;
    let (hp, wp) = (oh + 2 * ph, ow + 2 * pw);
    let (eh, ew) = (dilated(kh, dh), dilated(kw, dw));
    if ckk % kk != 0 || hp < eh || wp < ew {
        return Err(shape_err(
            OP,
            format!(
                "input of shape {:?} does not fit output_size ({oh}, {ow}) with kernel ({kh}, {kw}): \
                 dim 1 must be divisible by {kk} and the padded output must hold the dilated kernel",
                x.shape()
            ),
        ));
    }
    let c = ckk / kk;
    let (nh, nw) = ((hp - eh) / sh + 1, (wp - ew) / sw + 1);
    if nh * nw != l {
        return Err(shape_err(
            OP,
            format!(
                "cannot reshape an input of shape {:?} into {} blocks of {nh}x{nw} positions \
                 (output_size ({oh}, {ow}), kernel ({kh}, {kw}), dilation ({dh}, {dw}), padding ({ph}, {pw}), stride ({sh}, {sw}))",
                x.shape(),
                ckk
            ),
        ));
    }
    let x = lax::reshape(&x.with_weak(false), &[n, c, kk, nh, nw])?;
    let z = lax::scalar(0.0, x.dtype())?;
    let mut acc: Option<Tensor> = None;
    for i in 0..kh {
        for j in 0..kw {
            let b = lax::slice_axis(&x, 2, i * kw + j, i * kw + j + 1)?;
            let b = lax::reshape(&b, &[n, c, nh, nw])?;
            let (r0, c0) = (i * dh, j * dw);
            let (rh, rw) = (r0 + (nh - 1) * sh + 1, c0 + (nw - 1) * sw + 1);
            let placed = lax::pad(
                &b,
                &z,
                &[0, 0, r0 as i64, c0 as i64],
                &[0, 0, (hp - rh) as i64, (wp - rw) as i64],
                &[0, 0, sh - 1, sw - 1],
            )?;
            acc = Some(match acc {
                None => placed,
                Some(a) => lax::add(&a, &placed)?,
            });
        }
    }
    let out = acc.expect("kernel has at least one position");
    if ph == 0 && pw == 0 {
        return Ok(out);
    }
    lax::slice(&out, &[0, 0, ph, pw], &[n, c, ph + oh, pw + ow], &[1; 4])
}
