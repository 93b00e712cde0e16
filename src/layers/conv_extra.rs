//! Transposed, depthwise and separable convolution layers: `Conv{1,2,3}DTranspose`
//! (one generic [`ConvTranspose`]), `DepthwiseConv{1,2}D` ([`DepthwiseConv`]) and
//! `SeparableConv{1,2}D` ([`SeparableConv`]), with Keras 3's arguments, defaults,
//! weight names, shapes and order, output shapes and `get_config` keys.
//!
//! Every `call` lowers to `ops::conv_transpose`, `ops::depthwise_conv` or
//! `ops::separable_conv`, so the layers run on every backend and are differentiable.

use super::conv::{conv_out_len, expand, tuple_config};
use super::core::config_with;
use super::{expect_rank, fmt_shape, Layer, LayerBase, WeightSpec};
use crate::activations::Activation as Act;
use crate::config::{self, DataFormat};
use crate::error::{arg_err, shape_err};
use crate::initializers::Initializer;
use crate::ops::{self, ConvOptions, ConvTransposeOptions, Padding, Spatial};
use crate::regularizers::{Constraint, Regularizer};
use crate::saving::serialize as ser;
use crate::trace::PartialShape;
use crate::{Result, Tensor, Variable};
use serde_json::{json, Value};

// ------------------------------------------------------------------ shared helpers

fn format_name(f: DataFormat) -> &'static str {
    match f {
        DataFormat::ChannelsLast => "channels_last",
        DataFormat::ChannelsFirst => "channels_first",
    }
}

/// The channel axis of a `rank`-D input of `rank + 2` dims.
fn channel_axis(fmt: DataFormat, rank: usize) -> usize {
    match fmt {
        DataFormat::ChannelsLast => rank + 1,
        DataFormat::ChannelsFirst => 1,
    }
}

/// The (known) channel count of an input shape, or an error naming the layer.
fn known_channels(layer: &str, s: &[Option<usize>], fmt: DataFormat, rank: usize) -> Result<usize> {
    s[channel_axis(fmt, rank)].ok_or_else(|| {
        shape_err(
            layer,
            format!(
                "the channel dimension of the input must be known, got shape {} ({})",
                fmt_shape(s),
                format_name(fmt)
            ),
        )
    })
}

/// Checks the rank and channel count of a concrete input against the built layer.
fn check_call_input(
    layer: &str,
    x: &Tensor,
    rank: usize,
    fmt: DataFormat,
    channels: usize,
) -> Result<()> {
    let s: PartialShape = x.shape().iter().map(|&d| Some(d)).collect();
    expect_rank(
        layer,
        &s,
        |n| n == rank + 2,
        &format!("{} dimensions (batch, {rank} spatial, channels)", rank + 2),
    )?;
    let c = x.shape()[channel_axis(fmt, rank)];
    if c != channels {
        return Err(shape_err(
            layer,
            format!(
                "input shape {} is incompatible with the layer: expected {channels} input channels \
                 on axis {} ({}), got {c}",
                fmt_shape(&s),
                channel_axis(fmt, rank),
                format_name(fmt)
            ),
        ));
    }
    Ok(())
}

/// Adds a per-channel bias (reshaped to broadcast for channels-first).
fn add_bias(y: Tensor, b: &Variable, fmt: DataFormat, rank: usize) -> Result<Tensor> {
    let b = b.value();
    let b = if fmt == DataFormat::ChannelsFirst {
        let mut s = vec![b.shape()[0] as i64];
        s.extend(std::iter::repeat_n(1, rank));
        ops::reshape(&b, &s)?
    } else {
        b
    };
    ops::add(&y, &b)
}

/// Places spatial output sizes and the channel count in `fmt` order.
fn assemble(
    batch: Option<usize>,
    sp: Vec<Option<usize>>,
    ch: Option<usize>,
    fmt: DataFormat,
) -> PartialShape {
    let mut o = vec![batch];
    if fmt == DataFormat::ChannelsFirst {
        o.push(ch);
        o.extend(sp);
    } else {
        o.extend(sp);
        o.push(ch);
    }
    o
}

fn spatial_of(s: &[Option<usize>], fmt: DataFormat, rank: usize) -> Vec<Option<usize>> {
    match fmt {
        DataFormat::ChannelsLast => s[1..rank + 1].to_vec(),
        DataFormat::ChannelsFirst => s[2..rank + 2].to_vec(),
    }
}

/// Arguments of a (depthwise / separable) convolution, validated.
struct Resolved {
    kernel: Vec<usize>,
    strides: Vec<usize>,
    dilation: Vec<usize>,
    padding: Padding,
}

fn resolve_common(
    layer: &str,
    rank: usize,
    kernel_size: &Spatial,
    strides: &Spatial,
    dilation_rate: &Spatial,
    padding: &str,
) -> Result<Resolved> {
    if rank == 0 {
        return Err(arg_err(layer, "the convolution rank must be at least 1"));
    }
    let padding = Padding::parse(padding).map_err(|_| {
        arg_err(
            layer,
            format!("the `padding` argument must be one of 'valid', 'same', got {padding:?}"),
        )
    })?;
    Ok(Resolved {
        kernel: expand(layer, "kernel_size", kernel_size, rank)?,
        strides: expand(layer, "strides", strides, rank)?,
        dilation: expand(layer, "dilation_rate", dilation_rate, rank)?,
        padding,
    })
}

/// Output shape of a forward convolution with `ch` output channels, erroring (as
/// Keras's `compute_conv_output_shape`) when a known spatial size would be zero.
fn conv_output_shape(
    layer: &str,
    s: &[Option<usize>],
    r: &Resolved,
    ch: Option<usize>,
    fmt: DataFormat,
) -> Result<PartialShape> {
    let rank = r.kernel.len();
    let sp_in = spatial_of(s, fmt, rank);
    let sp: Vec<Option<usize>> = (0..rank)
        .map(|i| {
            conv_out_len(
                sp_in[i],
                r.kernel[i],
                r.strides[i],
                r.dilation[i],
                r.padding,
            )
        })
        .collect();
    if sp.contains(&Some(0)) {
        return Err(shape_err(
            layer,
            format!(
                "computed output size would be zero or negative: input shape {}, kernel_size {:?}, \
                 strides {:?}, dilation_rate {:?}, padding {:?}; the input is too small",
                fmt_shape(s),
                r.kernel,
                r.strides,
                r.dilation,
                r.padding.name()
            ),
        ));
    }
    Ok(assemble(s[0], sp, ch, fmt))
}

macro_rules! common_builders {
    () => {
        activation_bias_setters!();
        /// Strides (an int or one per spatial dimension).
        pub fn strides(mut self, s: impl Into<Spatial>) -> Self {
            self.strides = s.into();
            self
        }
        /// `"valid"` or `"same"`.
        pub fn padding(mut self, p: &str) -> Self {
            self.padding = p.into();
            self
        }
        /// Data format (default: `config::image_data_format()`).
        pub fn data_format(mut self, f: DataFormat) -> Self {
            self.data_format = Some(f);
            self
        }
        /// Dilation rate (an int or one per spatial dimension).
        pub fn dilation_rate(mut self, d: impl Into<Spatial>) -> Self {
            self.dilation_rate = d.into();
            self
        }
        /// The bias, once built (`None` without `use_bias`).
        pub fn bias(&self) -> Option<&Variable> {
            self.bias.as_ref()
        }
        fn fmt(&self) -> DataFormat {
            self.data_format.unwrap_or_else(config::image_data_format)
        }
    };
}

fn weight_spec(
    init: &Initializer,
    reg: &Option<Regularizer>,
    con: &Option<Constraint>,
) -> WeightSpec {
    let mut w = WeightSpec::new(init.clone());
    w.regularizer = reg.clone();
    w.constraint = con.clone();
    w
}

// ------------------------------------------------------------------ ConvTranspose

/// `keras.layers.Conv{1,2,3}DTranspose`: a transposed convolution ("deconvolution"),
/// the gradient of a convolution with respect to its input.
///
/// The kernel has shape `kernel_size + (filters, input_channels)` (note the order:
/// output channels before input channels, as in Keras), the bias `(filters,)`. With
/// `output_padding = None` each spatial size becomes `input * stride` for `"same"`
/// and `(input - 1) * stride + max(kernel, stride)` for `"valid"` (dilated kernel
/// size); with `output_padding = p` it is `(input - 1) * stride + kernel % 2 + p`
/// (`"same"`) or `(input - 1) * stride + kernel + p` (`"valid"`). `output_padding`
/// must be smaller than `strides`, and `strides > 1` cannot be combined with
/// `dilation_rate > 1`.
///
/// ```
/// use ceras::layers::{Conv2DTranspose, Layer};
/// use ceras::ops;
/// let mut up = Conv2DTranspose::new(8, 3).strides(2).padding("same");
/// let y = up.forward(&ops::ones(&[1, 4, 4, 3], None).unwrap(), false).unwrap();
/// assert_eq!(y.shape(), &[1, 8, 8, 8]);
/// assert_eq!(up.kernel().unwrap().shape(), &[3, 3, 8, 3]);
/// ```
pub struct ConvTranspose {
    base: LayerBase,
    rank: usize,
    filters: usize,
    kernel_size: Spatial,
    strides: Spatial,
    padding: String,
    output_padding: Option<Spatial>,
    data_format: Option<DataFormat>,
    dilation_rate: Spatial,
    activation: Act,
    use_bias: bool,
    kernel_initializer: Initializer,
    bias_initializer: Initializer,
    kernel_regularizer: Option<Regularizer>,
    bias_regularizer: Option<Regularizer>,
    kernel_constraint: Option<Constraint>,
    bias_constraint: Option<Constraint>,
    kernel: Option<Variable>,
    bias: Option<Variable>,
}

/// `Conv1DTranspose(filters, kernel_size)`.
pub struct Conv1DTranspose;
/// `Conv2DTranspose(filters, kernel_size)`.
pub struct Conv2DTranspose;
/// `Conv3DTranspose(filters, kernel_size)`.
pub struct Conv3DTranspose;

impl Conv1DTranspose {
    /// A 1-D transposed convolution with Keras's defaults.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(filters: usize, kernel_size: impl Into<Spatial>) -> ConvTranspose {
        ConvTranspose::new(1, filters, kernel_size)
    }
}
impl Conv2DTranspose {
    /// A 2-D transposed convolution with Keras's defaults.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(filters: usize, kernel_size: impl Into<Spatial>) -> ConvTranspose {
        ConvTranspose::new(2, filters, kernel_size)
    }
}
impl Conv3DTranspose {
    /// A 3-D transposed convolution with Keras's defaults.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(filters: usize, kernel_size: impl Into<Spatial>) -> ConvTranspose {
        ConvTranspose::new(3, filters, kernel_size)
    }
}

fn transpose_class(rank: usize) -> &'static str {
    ["Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"]
        .get(rank.wrapping_sub(1))
        .copied()
        .unwrap_or("ConvTranspose")
}

impl ConvTranspose {
    /// A `rank`-D transposed convolution: stride 1, `"valid"` padding,
    /// `output_padding = None`, no dilation, no activation, bias, Glorot-uniform
    /// kernel, zero bias.
    pub fn new(rank: usize, filters: usize, kernel_size: impl Into<Spatial>) -> ConvTranspose {
        ConvTranspose {
            base: LayerBase::new(transpose_class(rank)),
            rank,
            filters,
            kernel_size: kernel_size.into(),
            strides: Spatial(vec![1]),
            padding: "valid".into(),
            output_padding: None,
            data_format: None,
            dilation_rate: Spatial(vec![1]),
            activation: Act::default(),
            use_bias: true,
            kernel_initializer: "glorot_uniform".into(),
            bias_initializer: "zeros".into(),
            kernel_regularizer: None,
            bias_regularizer: None,
            kernel_constraint: None,
            bias_constraint: None,
            kernel: None,
            bias: None,
        }
    }
    common_builders!();
    weight_setters!(
        kernel_initializer,
        kernel_regularizer,
        kernel_constraint,
        "Kernel"
    );
    /// Extra size added at the end of each spatial output dimension (an int or one
    /// per spatial dimension; each smaller than the stride). Default `None`: inferred.
    pub fn output_padding(mut self, p: impl Into<Spatial>) -> Self {
        self.output_padding = Some(p.into());
        self
    }
    /// The kernel (`kernel_size + (filters, input_channels)`), once built.
    pub fn kernel(&self) -> Option<&Variable> {
        self.kernel.as_ref()
    }

    /// Validated (kernel, strides, dilation, padding, output_padding).
    fn resolve(&self) -> Result<(Resolved, Option<Vec<usize>>)> {
        let name = self.base.name();
        if self.filters == 0 {
            return Err(arg_err(
                name,
                "invalid value for argument `filters`: expected a strictly positive value, got 0",
            ));
        }
        let r = resolve_common(
            name,
            self.rank,
            &self.kernel_size,
            &self.strides,
            &self.dilation_rate,
            &self.padding,
        )?;
        let op = match &self.output_padding {
            None => None,
            Some(p) => {
                let v: Vec<i64> = match p.0.len() {
                    1 => vec![p.0[0]; self.rank],
                    n if n == self.rank => p.0.clone(),
                    _ => {
                        return Err(arg_err(
                            name,
                            format!(
                                "`output_padding` must be an int or a tuple of {} ints, got {:?}",
                                self.rank, p.0
                            ),
                        ))
                    }
                };
                let mut out = Vec::with_capacity(v.len());
                for (i, &o) in v.iter().enumerate() {
                    if o < 0 || o as usize >= r.strides[i] {
                        return Err(arg_err(
                            name,
                            format!(
                                "`output_padding` must be non-negative and strictly less than \
                                 `strides` for all dimensions; at dimension {i}, output_padding is \
                                 {o} but strides is {} (output_padding={v:?}, strides={:?})",
                                r.strides[i], r.strides
                            ),
                        ));
                    }
                    out.push(o as usize);
                }
                Some(out)
            }
        };
        if r.strides.iter().any(|&s| s > 1) && r.dilation.iter().any(|&d| d > 1) {
            return Err(arg_err(
                name,
                format!(
                    "`strides > 1` not supported in conjunction with `dilation_rate > 1`; got \
                     strides={:?} and dilation_rate={:?}",
                    r.strides, r.dilation
                ),
            ));
        }
        Ok((r, op))
    }
}

/// Keras's `_get_output_shape_given_tf_padding` for one spatial dimension.
fn transpose_out_len(
    len: Option<usize>,
    k: usize,
    stride: usize,
    dil: usize,
    pad: Padding,
    op: Option<usize>,
) -> Option<usize> {
    let len = len?;
    let k = (k - 1) * dil + 1;
    if len == 0 {
        return Some(0);
    }
    Some(match (pad, op) {
        (Padding::Valid, None) => (len - 1) * stride + k.max(stride),
        (Padding::Valid, Some(p)) => (len - 1) * stride + k + p,
        (Padding::Same, None) => len * stride,
        (Padding::Same, Some(p)) => (len - 1) * stride + k % 2 + p,
    })
}

impl Layer for ConvTranspose {
    fn base(&self) -> &LayerBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut LayerBase {
        &mut self.base
    }
    fn class_name(&self) -> &'static str {
        transpose_class(self.rank)
    }

    fn build(&mut self, s: &[Option<usize>]) -> Result<()> {
        let name = self.base.name().to_string();
        self.activation.check(&name)?;
        self.resolve()?;
        let r = self.rank;
        expect_rank(
            &name,
            s,
            |n| n == r + 2,
            &format!("{} dimensions (batch, {r} spatial, channels)", r + 2),
        )?;
        let cin = known_channels(&name, s, self.fmt(), r)?;
        let mut kshape = expand(&name, "kernel_size", &self.kernel_size, r)?;
        kshape.extend([self.filters, cin]);
        let ks = weight_spec(
            &self.kernel_initializer,
            &self.kernel_regularizer,
            &self.kernel_constraint,
        );
        self.kernel = Some(self.base.add_weight("kernel", &kshape, ks)?);
        if self.use_bias {
            let bs = weight_spec(
                &self.bias_initializer,
                &self.bias_regularizer,
                &self.bias_constraint,
            );
            self.bias = Some(self.base.add_weight("bias", &[self.filters], bs)?);
        }
        Ok(())
    }

    fn call(&self, x: &Tensor, _training: bool) -> Result<Tensor> {
        let name = self.base.name();
        let k = self
            .kernel
            .as_ref()
            .ok_or_else(|| arg_err(name, "layer called before build"))?;
        let (r, op) = self.resolve()?;
        let fmt = self.fmt();
        check_call_input(name, x, self.rank, fmt, k.shape()[self.rank + 1])?;
        let opts = ConvTransposeOptions {
            strides: Spatial(r.strides.iter().map(|&v| v as i64).collect()),
            padding: r.padding,
            output_padding: op.map(|p| Spatial(p.iter().map(|&v| v as i64).collect())),
            data_format: Some(fmt),
            dilation_rate: Spatial(r.dilation.iter().map(|&v| v as i64).collect()),
        };
        let mut y = ops::conv_transpose(x, k.value(), &opts)
            .map_err(|e| shape_err(name, format!("input shape {:?}: {e}", x.shape())))?;
        if let Some(b) = &self.bias {
            y = add_bias(y, b, fmt, self.rank)?;
        }
        self.activation.apply(&y)
    }

    fn compute_output_shape(&self, s: &[Option<usize>]) -> Result<PartialShape> {
        let name = self.base.name();
        let rank = self.rank;
        expect_rank(
            name,
            s,
            |n| n == rank + 2,
            &format!("{} dimensions (batch, {rank} spatial, channels)", rank + 2),
        )?;
        let (r, op) = self.resolve()?;
        let fmt = self.fmt();
        let sp_in = spatial_of(s, fmt, rank);
        let sp = (0..rank)
            .map(|i| {
                transpose_out_len(
                    sp_in[i],
                    r.kernel[i],
                    r.strides[i],
                    r.dilation[i],
                    r.padding,
                    op.as_ref().map(|p| p[i]),
                )
            })
            .collect();
        Ok(assemble(s[0], sp, Some(self.filters), fmt))
    }

    fn get_config(&self) -> Value {
        let name = self.base.name();
        let r = self.rank;
        config_with(
            self,
            json!({
                "filters": self.filters,
                "kernel_size": tuple_config(name, "kernel_size", &self.kernel_size, r),
                "strides": tuple_config(name, "strides", &self.strides, r),
                "padding": self.padding.to_ascii_lowercase(),
                "output_padding": self.output_padding.as_ref().map(|p| match p.0.len() {
                    1 => vec![p.0[0]; r],
                    _ => p.0.clone(),
                }),
                "data_format": format_name(self.fmt()),
                "dilation_rate": tuple_config(name, "dilation_rate", &self.dilation_rate, r),
                "activation": self.activation.name(),
                "use_bias": self.use_bias,
                "kernel_initializer": ser::initializer(&self.kernel_initializer),
                "bias_initializer": ser::initializer(&self.bias_initializer),
                "kernel_regularizer": ser::opt_regularizer(&self.kernel_regularizer),
                "bias_regularizer": ser::opt_regularizer(&self.bias_regularizer),
                "activity_regularizer": null,
                "kernel_constraint": ser::opt_constraint(&self.kernel_constraint),
                "bias_constraint": ser::opt_constraint(&self.bias_constraint),
            }),
        )
    }
}

// ------------------------------------------------------------------ DepthwiseConv

/// `keras.layers.DepthwiseConv{1,2}D`: each input channel is convolved with its
/// own `depth_multiplier` filters.
///
/// The kernel (named `kernel`, as in Keras 3) has shape `kernel_size +
/// (input_channels, depth_multiplier)`; the output has `input_channels *
/// depth_multiplier` channels, channel `c * depth_multiplier + m` coming from input
/// channel `c`; the bias has that many entries.
///
/// ```
/// use ceras::layers::{DepthwiseConv2D, Layer};
/// use ceras::ops;
/// let mut dw = DepthwiseConv2D::new(3).depth_multiplier(2).padding("same");
/// let y = dw.forward(&ops::ones(&[1, 5, 5, 3], None).unwrap(), false).unwrap();
/// assert_eq!(y.shape(), &[1, 5, 5, 6]);
/// assert_eq!(dw.kernel().unwrap().shape(), &[3, 3, 3, 2]);
/// assert_eq!(dw.count_params(), 3 * 3 * 3 * 2 + 6);
/// ```
pub struct DepthwiseConv {
    base: LayerBase,
    rank: usize,
    depth_multiplier: usize,
    kernel_size: Spatial,
    strides: Spatial,
    padding: String,
    data_format: Option<DataFormat>,
    dilation_rate: Spatial,
    activation: Act,
    use_bias: bool,
    depthwise_initializer: Initializer,
    bias_initializer: Initializer,
    depthwise_regularizer: Option<Regularizer>,
    bias_regularizer: Option<Regularizer>,
    depthwise_constraint: Option<Constraint>,
    bias_constraint: Option<Constraint>,
    kernel: Option<Variable>,
    bias: Option<Variable>,
}

/// `DepthwiseConv1D(kernel_size)`.
pub struct DepthwiseConv1D;
/// `DepthwiseConv2D(kernel_size)`.
pub struct DepthwiseConv2D;

impl DepthwiseConv1D {
    /// A 1-D depthwise convolution with Keras's defaults (`depth_multiplier=1`).
    #[allow(clippy::new_ret_no_self)]
    pub fn new(kernel_size: impl Into<Spatial>) -> DepthwiseConv {
        DepthwiseConv::new(1, kernel_size)
    }
}
impl DepthwiseConv2D {
    /// A 2-D depthwise convolution with Keras's defaults (`depth_multiplier=1`).
    #[allow(clippy::new_ret_no_self)]
    pub fn new(kernel_size: impl Into<Spatial>) -> DepthwiseConv {
        DepthwiseConv::new(2, kernel_size)
    }
}

fn depthwise_class(rank: usize) -> &'static str {
    ["DepthwiseConv1D", "DepthwiseConv2D"]
        .get(rank.wrapping_sub(1))
        .copied()
        .unwrap_or("DepthwiseConv")
}

impl DepthwiseConv {
    /// A `rank`-D depthwise convolution: `depth_multiplier=1`, stride 1, `"valid"`
    /// padding, no dilation, no activation, bias, Glorot-uniform kernel, zero bias.
    pub fn new(rank: usize, kernel_size: impl Into<Spatial>) -> DepthwiseConv {
        DepthwiseConv {
            base: LayerBase::new(depthwise_class(rank)),
            rank,
            depth_multiplier: 1,
            kernel_size: kernel_size.into(),
            strides: Spatial(vec![1]),
            padding: "valid".into(),
            data_format: None,
            dilation_rate: Spatial(vec![1]),
            activation: Act::default(),
            use_bias: true,
            depthwise_initializer: "glorot_uniform".into(),
            bias_initializer: "zeros".into(),
            depthwise_regularizer: None,
            bias_regularizer: None,
            depthwise_constraint: None,
            bias_constraint: None,
            kernel: None,
            bias: None,
        }
    }
    common_builders!();
    weight_setters!(
        depthwise_initializer,
        depthwise_regularizer,
        depthwise_constraint,
        "Depthwise kernel"
    );
    /// Filters per input channel.
    pub fn depth_multiplier(mut self, m: usize) -> Self {
        self.depth_multiplier = m;
        self
    }
    /// The kernel (`kernel_size + (input_channels, depth_multiplier)`), once built.
    pub fn kernel(&self) -> Option<&Variable> {
        self.kernel.as_ref()
    }

    fn resolve(&self) -> Result<Resolved> {
        let name = self.base.name();
        if self.depth_multiplier == 0 {
            return Err(arg_err(
                name,
                "invalid value for argument `depth_multiplier`: expected a strictly positive value, got 0",
            ));
        }
        resolve_common(
            name,
            self.rank,
            &self.kernel_size,
            &self.strides,
            &self.dilation_rate,
            &self.padding,
        )
    }
}

impl Layer for DepthwiseConv {
    fn base(&self) -> &LayerBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut LayerBase {
        &mut self.base
    }
    fn class_name(&self) -> &'static str {
        depthwise_class(self.rank)
    }

    fn build(&mut self, s: &[Option<usize>]) -> Result<()> {
        let name = self.base.name().to_string();
        self.activation.check(&name)?;
        // Validates the arguments, the rank and the output size, as Keras's build does.
        self.compute_output_shape(s)?;
        let cin = known_channels(&name, s, self.fmt(), self.rank)?;
        let mut kshape = expand(&name, "kernel_size", &self.kernel_size, self.rank)?;
        kshape.extend([cin, self.depth_multiplier]);
        let ks = weight_spec(
            &self.depthwise_initializer,
            &self.depthwise_regularizer,
            &self.depthwise_constraint,
        );
        self.kernel = Some(self.base.add_weight("kernel", &kshape, ks)?);
        if self.use_bias {
            let bs = weight_spec(
                &self.bias_initializer,
                &self.bias_regularizer,
                &self.bias_constraint,
            );
            self.bias = Some(
                self.base
                    .add_weight("bias", &[cin * self.depth_multiplier], bs)?,
            );
        }
        Ok(())
    }

    fn call(&self, x: &Tensor, _training: bool) -> Result<Tensor> {
        let name = self.base.name();
        let k = self
            .kernel
            .as_ref()
            .ok_or_else(|| arg_err(name, "layer called before build"))?;
        let r = self.resolve()?;
        let fmt = self.fmt();
        check_call_input(name, x, self.rank, fmt, k.shape()[self.rank])?;
        let opts = ConvOptions {
            strides: Spatial(r.strides.iter().map(|&v| v as i64).collect()),
            padding: r.padding,
            data_format: Some(fmt),
            dilation_rate: Spatial(r.dilation.iter().map(|&v| v as i64).collect()),
        };
        let mut y = ops::depthwise_conv(x, k.value(), &opts)
            .map_err(|e| shape_err(name, format!("input shape {:?}: {e}", x.shape())))?;
        if let Some(b) = &self.bias {
            y = add_bias(y, b, fmt, self.rank)?;
        }
        self.activation.apply(&y)
    }

    fn compute_output_shape(&self, s: &[Option<usize>]) -> Result<PartialShape> {
        let name = self.base.name();
        let rank = self.rank;
        expect_rank(
            name,
            s,
            |n| n == rank + 2,
            &format!("{} dimensions (batch, {rank} spatial, channels)", rank + 2),
        )?;
        let r = self.resolve()?;
        let fmt = self.fmt();
        let ch = s[channel_axis(fmt, rank)].map(|c| c * self.depth_multiplier);
        conv_output_shape(name, s, &r, ch, fmt)
    }

    fn get_config(&self) -> Value {
        let name = self.base.name();
        let r = self.rank;
        config_with(
            self,
            json!({
                "depth_multiplier": self.depth_multiplier,
                "kernel_size": tuple_config(name, "kernel_size", &self.kernel_size, r),
                "strides": tuple_config(name, "strides", &self.strides, r),
                "padding": self.padding.to_ascii_lowercase(),
                "data_format": format_name(self.fmt()),
                "dilation_rate": tuple_config(name, "dilation_rate", &self.dilation_rate, r),
                "activation": self.activation.name(),
                "use_bias": self.use_bias,
                "depthwise_initializer": ser::initializer(&self.depthwise_initializer),
                "bias_initializer": ser::initializer(&self.bias_initializer),
                "depthwise_regularizer": ser::opt_regularizer(&self.depthwise_regularizer),
                "bias_regularizer": ser::opt_regularizer(&self.bias_regularizer),
                "activity_regularizer": null,
                "depthwise_constraint": ser::opt_constraint(&self.depthwise_constraint),
                "bias_constraint": ser::opt_constraint(&self.bias_constraint),
            }),
        )
    }
}

// ------------------------------------------------------------------ SeparableConv

/// `keras.layers.SeparableConv{1,2}D`: a depthwise convolution (each input channel
/// with its own `depth_multiplier` filters) followed by a pointwise (1×1)
/// convolution mixing the channels into `filters` outputs.
///
/// Weights, in order: `depthwise_kernel` `kernel_size + (input_channels,
/// depth_multiplier)`, `pointwise_kernel` `(1,) * rank + (input_channels *
/// depth_multiplier, filters)`, and `bias` `(filters,)`.
///
/// ```
/// use ceras::layers::{Layer, SeparableConv2D};
/// use ceras::ops;
/// let mut sep = SeparableConv2D::new(4, 3).depth_multiplier(2);
/// let y = sep.forward(&ops::ones(&[1, 5, 5, 3], None).unwrap(), false).unwrap();
/// assert_eq!(y.shape(), &[1, 3, 3, 4]);
/// let shapes: Vec<Vec<usize>> = sep.weights().iter().map(|w| w.shape().to_vec()).collect();
/// assert_eq!(shapes, vec![vec![3, 3, 3, 2], vec![1, 1, 6, 4], vec![4]]);
/// ```
pub struct SeparableConv {
    base: LayerBase,
    rank: usize,
    depth_multiplier: usize,
    filters: usize,
    kernel_size: Spatial,
    strides: Spatial,
    padding: String,
    data_format: Option<DataFormat>,
    dilation_rate: Spatial,
    activation: Act,
    use_bias: bool,
    depthwise_initializer: Initializer,
    pointwise_initializer: Initializer,
    bias_initializer: Initializer,
    depthwise_regularizer: Option<Regularizer>,
    pointwise_regularizer: Option<Regularizer>,
    bias_regularizer: Option<Regularizer>,
    depthwise_constraint: Option<Constraint>,
    pointwise_constraint: Option<Constraint>,
    bias_constraint: Option<Constraint>,
    depthwise_kernel: Option<Variable>,
    pointwise_kernel: Option<Variable>,
    bias: Option<Variable>,
}

/// `SeparableConv1D(filters, kernel_size)`.
pub struct SeparableConv1D;
/// `SeparableConv2D(filters, kernel_size)`.
pub struct SeparableConv2D;

impl SeparableConv1D {
    /// A 1-D separable convolution with Keras's defaults (`depth_multiplier=1`).
    #[allow(clippy::new_ret_no_self)]
    pub fn new(filters: usize, kernel_size: impl Into<Spatial>) -> SeparableConv {
        SeparableConv::new(1, filters, kernel_size)
    }
}
impl SeparableConv2D {
    /// A 2-D separable convolution with Keras's defaults (`depth_multiplier=1`).
    #[allow(clippy::new_ret_no_self)]
    pub fn new(filters: usize, kernel_size: impl Into<Spatial>) -> SeparableConv {
        SeparableConv::new(2, filters, kernel_size)
    }
}

fn separable_class(rank: usize) -> &'static str {
    ["SeparableConv1D", "SeparableConv2D"]
        .get(rank.wrapping_sub(1))
        .copied()
        .unwrap_or("SeparableConv")
}

impl SeparableConv {
    /// A `rank`-D separable convolution: `depth_multiplier=1`, stride 1, `"valid"`
    /// padding, no dilation, no activation, bias, Glorot-uniform kernels, zero bias.
    pub fn new(rank: usize, filters: usize, kernel_size: impl Into<Spatial>) -> SeparableConv {
        SeparableConv {
            base: LayerBase::new(separable_class(rank)),
            rank,
            depth_multiplier: 1,
            filters,
            kernel_size: kernel_size.into(),
            strides: Spatial(vec![1]),
            padding: "valid".into(),
            data_format: None,
            dilation_rate: Spatial(vec![1]),
            activation: Act::default(),
            use_bias: true,
            depthwise_initializer: "glorot_uniform".into(),
            pointwise_initializer: "glorot_uniform".into(),
            bias_initializer: "zeros".into(),
            depthwise_regularizer: None,
            pointwise_regularizer: None,
            bias_regularizer: None,
            depthwise_constraint: None,
            pointwise_constraint: None,
            bias_constraint: None,
            depthwise_kernel: None,
            pointwise_kernel: None,
            bias: None,
        }
    }
    common_builders!();
    weight_setters!(
        depthwise_initializer,
        depthwise_regularizer,
        depthwise_constraint,
        "Depthwise kernel"
    );
    weight_setters!(
        pointwise_initializer,
        pointwise_regularizer,
        pointwise_constraint,
        "Pointwise kernel"
    );
    /// Depthwise filters per input channel.
    pub fn depth_multiplier(mut self, m: usize) -> Self {
        self.depth_multiplier = m;
        self
    }
    /// The depthwise kernel (`kernel_size + (input_channels, depth_multiplier)`), once built.
    pub fn depthwise_kernel(&self) -> Option<&Variable> {
        self.depthwise_kernel.as_ref()
    }
    /// The pointwise kernel (`(1,) * rank + (input_channels * depth_multiplier,
    /// filters)`), once built.
    pub fn pointwise_kernel(&self) -> Option<&Variable> {
        self.pointwise_kernel.as_ref()
    }

    fn resolve(&self) -> Result<Resolved> {
        let name = self.base.name();
        if self.depth_multiplier == 0 {
            return Err(arg_err(
                name,
                "invalid value for argument `depth_multiplier`: expected a strictly positive value, got 0",
            ));
        }
        if self.filters == 0 {
            return Err(arg_err(
                name,
                "invalid value for argument `filters`: expected a strictly positive value, got 0",
            ));
        }
        resolve_common(
            name,
            self.rank,
            &self.kernel_size,
            &self.strides,
            &self.dilation_rate,
            &self.padding,
        )
    }
}

impl Layer for SeparableConv {
    fn base(&self) -> &LayerBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut LayerBase {
        &mut self.base
    }
    fn class_name(&self) -> &'static str {
        separable_class(self.rank)
    }

    fn build(&mut self, s: &[Option<usize>]) -> Result<()> {
        let name = self.base.name().to_string();
        self.activation.check(&name)?;
        self.compute_output_shape(s)?;
        let r = self.rank;
        let cin = known_channels(&name, s, self.fmt(), r)?;
        let mut dshape = expand(&name, "kernel_size", &self.kernel_size, r)?;
        dshape.extend([cin, self.depth_multiplier]);
        let mut pshape = vec![1; r];
        pshape.extend([cin * self.depth_multiplier, self.filters]);
        let ds = weight_spec(
            &self.depthwise_initializer,
            &self.depthwise_regularizer,
            &self.depthwise_constraint,
        );
        self.depthwise_kernel = Some(self.base.add_weight("depthwise_kernel", &dshape, ds)?);
        let ps = weight_spec(
            &self.pointwise_initializer,
            &self.pointwise_regularizer,
            &self.pointwise_constraint,
        );
        self.pointwise_kernel = Some(self.base.add_weight("pointwise_kernel", &pshape, ps)?);
        if self.use_bias {
            let bs = weight_spec(
                &self.bias_initializer,
                &self.bias_regularizer,
                &self.bias_constraint,
            );
            self.bias = Some(self.base.add_weight("bias", &[self.filters], bs)?);
        }
        Ok(())
    }

    fn call(&self, x: &Tensor, _training: bool) -> Result<Tensor> {
        let name = self.base.name();
        let (Some(dk), Some(pk)) = (&self.depthwise_kernel, &self.pointwise_kernel) else {
            return Err(arg_err(name, "layer called before build"));
        };
        let r = self.resolve()?;
        let fmt = self.fmt();
        check_call_input(name, x, self.rank, fmt, dk.shape()[self.rank])?;
        let opts = ConvOptions {
            strides: Spatial(r.strides.iter().map(|&v| v as i64).collect()),
            padding: r.padding,
            data_format: Some(fmt),
            dilation_rate: Spatial(r.dilation.iter().map(|&v| v as i64).collect()),
        };
        let mut y = ops::separable_conv(x, dk.value(), pk.value(), &opts)
            .map_err(|e| shape_err(name, format!("input shape {:?}: {e}", x.shape())))?;
        if let Some(b) = &self.bias {
            y = add_bias(y, b, fmt, self.rank)?;
        }
        self.activation.apply(&y)
    }

    fn compute_output_shape(&self, s: &[Option<usize>]) -> Result<PartialShape> {
        let name = self.base.name();
        let rank = self.rank;
        expect_rank(
            name,
            s,
            |n| n == rank + 2,
            &format!("{} dimensions (batch, {rank} spatial, channels)", rank + 2),
        )?;
        let r = self.resolve()?;
        conv_output_shape(name, s, &r, Some(self.filters), self.fmt())
    }

    fn get_config(&self) -> Value {
        let name = self.base.name();
        let r = self.rank;
        config_with(
            self,
            json!({
                "depth_multiplier": self.depth_multiplier,
                "filters": self.filters,
                "kernel_size": tuple_config(name, "kernel_size", &self.kernel_size, r),
                "strides": tuple_config(name, "strides", &self.strides, r),
                "padding": self.padding.to_ascii_lowercase(),
                "data_format": format_name(self.fmt()),
                "dilation_rate": tuple_config(name, "dilation_rate", &self.dilation_rate, r),
                "activation": self.activation.name(),
                "use_bias": self.use_bias,
                "depthwise_initializer": ser::initializer(&self.depthwise_initializer),
                "pointwise_initializer": ser::initializer(&self.pointwise_initializer),
                "bias_initializer": ser::initializer(&self.bias_initializer),
                "depthwise_regularizer": ser::opt_regularizer(&self.depthwise_regularizer),
                "pointwise_regularizer": ser::opt_regularizer(&self.pointwise_regularizer),
                "bias_regularizer": ser::opt_regularizer(&self.bias_regularizer),
                "activity_regularizer": null,
                "depthwise_constraint": ser::opt_constraint(&self.depthwise_constraint),
                "pointwise_constraint": ser::opt_constraint(&self.pointwise_constraint),
                "bias_constraint": ser::opt_constraint(&self.bias_constraint),
            }),
        )
    }
}
