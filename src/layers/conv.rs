//! Convolution layers: `Conv1D`, `Conv2D`, `Conv3D` (one generic [`Conv`]).

use super::core::config_with;
use super::{expect_rank, fmt_shape, Layer, LayerBase, WeightSpec};
use crate::activations::Activation as Act;
use crate::config::{self, DataFormat};
use crate::error::{arg_err, shape_err};
use crate::initializers::Initializer;
use crate::ops::{self, ConvOptions, Padding, Spatial};
use crate::regularizers::{Constraint, Regularizer};
use crate::saving::serialize as ser;
use crate::trace::PartialShape;
use crate::{Result, Tensor, Variable};
use serde_json::json;

/// Expands an int-or-tuple argument to `n` values.
/// A tuple argument as Keras's `standardize_tuple` stores it (the raw value when
/// it cannot be expanded; the error is reported at build time).
pub(crate) fn tuple_config(layer: &str, what: &str, s: &Spatial, n: usize) -> serde_json::Value {
    match expand(layer, what, s, n) {
        Ok(v) => json!(v),
        Err(_) => json!(s.0),
    }
}

pub(crate) fn expand(layer: &str, what: &str, s: &Spatial, n: usize) -> Result<Vec<usize>> {
    let v: Vec<i64> = match s.0.len() {
        1 => vec![s.0[0]; n],
        k if k == n => s.0.clone(),
        _ => {
            return Err(arg_err(
                layer,
                format!(
                    "`{what}` must be an int or a tuple of {n} ints, got {:?}",
                    s.0
                ),
            ))
        }
    };
    if v.iter().any(|&x| x < 1) {
        return Err(arg_err(
            layer,
            format!("`{what}` values must be positive, got {v:?}"),
        ));
    }
    Ok(v.into_iter().map(|x| x as usize).collect())
}

/// Output length of one spatial dim (Keras's `compute_conv_output_shape`).
pub(crate) fn conv_out_len(
    len: Option<usize>,
    k: usize,
    stride: usize,
    dil: usize,
    pad: Padding,
) -> Option<usize> {
    let len = len?;
    let eff = (k - 1) * dil + 1;
    Some(match pad {
        Padding::Valid => (len + stride).saturating_sub(eff) / stride,
        Padding::Same => len.div_ceil(stride),
    })
}

/// True for Keras's `padding="causal"` (case-insensitive), which only `Conv1D` accepts.
fn is_causal(padding: &str) -> bool {
    padding.eq_ignore_ascii_case("causal")
}

/// `keras.layers.Conv{1,2,3}D`: an N-D convolution layer.
pub struct Conv {
    base: LayerBase,
    rank: usize,
    filters: usize,
    kernel_size: Spatial,
    strides: Spatial,
    padding: String,
    data_format: Option<DataFormat>,
    dilation_rate: Spatial,
    groups: usize,
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

/// `Conv1D(filters, kernel_size)`.
pub struct Conv1D;
/// `Conv2D(filters, kernel_size)`.
pub struct Conv2D;
/// `Conv3D(filters, kernel_size)`.
pub struct Conv3D;

impl Conv1D {
    /// A 1-D convolution with Keras's defaults.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(filters: usize, kernel_size: impl Into<Spatial>) -> Conv {
        Conv::new(1, filters, kernel_size)
    }
}
impl Conv2D {
    /// A 2-D convolution with Keras's defaults.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(filters: usize, kernel_size: impl Into<Spatial>) -> Conv {
        Conv::new(2, filters, kernel_size)
    }
}
impl Conv3D {
    /// A 3-D convolution with Keras's defaults.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(filters: usize, kernel_size: impl Into<Spatial>) -> Conv {
        Conv::new(3, filters, kernel_size)
    }
}

impl Conv {
    /// A `rank`-D convolution: stride 1, `"valid"` padding, no activation, bias,
    /// Glorot-uniform kernel.
    pub fn new(rank: usize, filters: usize, kernel_size: impl Into<Spatial>) -> Conv {
        let class = ["Conv1D", "Conv2D", "Conv3D"]
            .get(rank.wrapping_sub(1))
            .copied()
            .unwrap_or("Conv");
        Conv {
            base: LayerBase::new(class),
            rank,
            filters,
            kernel_size: kernel_size.into(),
            strides: Spatial(vec![1]),
            padding: "valid".into(),
            data_format: None,
            dilation_rate: Spatial(vec![1]),
            groups: 1,
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
    /// Strides.
    pub fn strides(mut self, s: impl Into<Spatial>) -> Self {
        self.strides = s.into();
        self
    }
    /// `"valid"` or `"same"`, or for `Conv1D` `"causal"` (the input is left-padded
    /// with `dilation_rate * (kernel_size - 1)` zeros, then convolved `"valid"`, so
    /// `output[t]` never depends on `input[t + 1..]`).
    pub fn padding(mut self, p: &str) -> Self {
        self.padding = p.into();
        self
    }
    /// Data format (default: `config::image_data_format()`).
    pub fn data_format(mut self, f: DataFormat) -> Self {
        self.data_format = Some(f);
        self
    }
    /// Dilation rate.
    pub fn dilation_rate(mut self, d: impl Into<Spatial>) -> Self {
        self.dilation_rate = d.into();
        self
    }
    /// Feature groups.
    pub fn groups(mut self, g: usize) -> Self {
        self.groups = g;
        self
    }
    /// The kernel (`kernel_size + (in_channels / groups, filters)`), once built.
    pub fn kernel(&self) -> Option<&Variable> {
        self.kernel.as_ref()
    }
    /// The bias, once built.
    pub fn bias(&self) -> Option<&Variable> {
        self.bias.as_ref()
    }

    fn fmt(&self) -> DataFormat {
        self.data_format.unwrap_or_else(config::image_data_format)
    }
    activation_bias_setters!();
    weight_setters!(
        kernel_initializer,
        kernel_regularizer,
        kernel_constraint,
        "Kernel"
    );
}

impl Layer for Conv {
    fn base(&self) -> &LayerBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut LayerBase {
        &mut self.base
    }
    fn class_name(&self) -> &'static str {
        ["Conv1D", "Conv2D", "Conv3D"]
            .get(self.rank.wrapping_sub(1))
            .copied()
            .unwrap_or("Conv")
    }

    fn build(&mut self, s: &[Option<usize>]) -> Result<()> {
        let name = self.base.name().to_string();
        self.activation.check(&name)?;
        if !(is_causal(&self.padding) && self.rank == 1) {
            Padding::parse(&self.padding).map_err(|e| {
                let causal = if self.rank == 1 { ", or 'causal'" } else { "" };
                arg_err(&name, format!("{e}{causal}"))
            })?;
        }
        let r = self.rank;
        expect_rank(&name, s, |n| n == r + 2, &format!("{} dimensions", r + 2))?;
        let ch_axis = if self.fmt() == DataFormat::ChannelsLast {
            r + 1
        } else {
            1
        };
        let Some(cin) = s[ch_axis] else {
            return Err(shape_err(
                &name,
                format!(
                    "the channel dimension of the input must be known, got shape {}",
                    fmt_shape(s)
                ),
            ));
        };
        if self.groups == 0
            || !cin.is_multiple_of(self.groups)
            || !self.filters.is_multiple_of(self.groups)
        {
            return Err(arg_err(
                &name,
                format!(
                    "groups ({}) must divide both the input channels ({cin}) and filters ({})",
                    self.groups, self.filters
                ),
            ));
        }
        let mut kshape = expand(&name, "kernel_size", &self.kernel_size, r)?;
        expand(&name, "strides", &self.strides, r)?;
        expand(&name, "dilation_rate", &self.dilation_rate, r)?;
        kshape.extend([cin / self.groups, self.filters]);
        let mut ks = WeightSpec::new(self.kernel_initializer.clone());
        ks.regularizer = self.kernel_regularizer.clone();
        ks.constraint = self.kernel_constraint.clone();
        self.kernel = Some(self.base.add_weight("kernel", &kshape, ks)?);
        if self.use_bias {
            let mut bs = WeightSpec::new(self.bias_initializer.clone());
            bs.regularizer = self.bias_regularizer.clone();
            bs.constraint = self.bias_constraint.clone();
            self.bias = Some(self.base.add_weight("bias", &[self.filters], bs)?);
        }
        Ok(())
    }

    fn call(&self, x: &Tensor, _t: bool) -> Result<Tensor> {
        let k = self
            .kernel
            .as_ref()
            .ok_or_else(|| arg_err(self.base.name(), "Conv layer called before build"))?;
        let causal = is_causal(&self.padding) && self.rank == 1;
        let opts = ConvOptions {
            strides: self.strides.clone(),
            padding: if causal {
                Padding::Valid
            } else {
                Padding::parse(&self.padding)?
            },
            data_format: Some(self.fmt()),
            dilation_rate: self.dilation_rate.clone(),
        };
        let padded;
        let x = if causal {
            let ks = expand(self.base.name(), "kernel_size", &self.kernel_size, 1)?[0];
            let dil = expand(self.base.name(), "dilation_rate", &self.dilation_rate, 1)?[0];
            let mut widths = vec![(0, 0); 3];
            let time = if self.fmt() == DataFormat::ChannelsLast {
                1
            } else {
                2
            };
            widths[time] = (dil * (ks - 1), 0);
            padded = ops::pad(x, &widths, "constant", None)?;
            &padded
        } else {
            x
        };
        let y = ops::conv(x, k.value(), &opts)
            .map_err(|e| shape_err(self.base.name(), format!("{e}")))?;
        let Some(b) = &self.bias else {
            return self.activation.apply(&y);
        };
        let b = b.value();
        if self.fmt() == DataFormat::ChannelsFirst {
            let mut s = vec![self.filters as i64];
            s.extend(std::iter::repeat_n(1, self.rank));
            self.activation
                .apply(&ops::add(&y, &ops::reshape(&b, &s)?)?)
        } else {
            self.activation.apply_with_bias(&y, &b)
        }
    }

    fn compute_output_shape(&self, s: &[Option<usize>]) -> Result<PartialShape> {
        let name = self.base.name();
        let r = self.rank;
        expect_rank(name, s, |n| n == r + 2, &format!("{} dimensions", r + 2))?;
        let k = expand(name, "kernel_size", &self.kernel_size, r)?;
        let st = expand(name, "strides", &self.strides, r)?;
        let dl = expand(name, "dilation_rate", &self.dilation_rate, r)?;
        // Causal padding keeps ceil(len / stride) steps, as "same" does.
        let pad = if is_causal(&self.padding) && r == 1 {
            Padding::Same
        } else {
            Padding::parse(&self.padding)?
        };
        let first = if self.fmt() == DataFormat::ChannelsLast {
            1
        } else {
            2
        };
        let sp: Vec<Option<usize>> = (0..r)
            .map(|i| conv_out_len(s[first + i], k[i], st[i], dl[i], pad))
            .collect();
        Ok(if self.fmt() == DataFormat::ChannelsLast {
            let mut o = vec![s[0]];
            o.extend(sp);
            o.push(Some(self.filters));
            o
        } else {
            let mut o = vec![s[0], Some(self.filters)];
            o.extend(sp);
            o
        })
    }

    fn get_config(&self) -> serde_json::Value {
        config_with(
            self,
            json!({
                "filters": self.filters,
                "kernel_size": tuple_config(self.base.name(), "kernel_size", &self.kernel_size, self.rank),
                "strides": tuple_config(self.base.name(), "strides", &self.strides, self.rank),
                "padding": self.padding,
                "data_format": self.fmt().name(),
                "dilation_rate": tuple_config(self.base.name(), "dilation_rate", &self.dilation_rate, self.rank),
                "groups": self.groups,
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
