//! Entries for `keras.ops.nn`.
//!
//! How to add an entry: check how the corpus calls the op
//! (`../shared/conformance/ops/softmax.jsonl`) and its Keras signature, then add a line to `register`, e.g.
//! `r.add("log_softmax", |c| Ok(ops::log_softmax(c.tensor(0, "x")?, c.axis1_kw(1, "axis", -1)?)?.into()));`
//! Read each argument with `c.<helper>(position, "keyword_name")` (helpers in
//! `args.rs`); an argument left unread fails the case. One-liner macros:
//! `unary_ops!(r; name, ...)`, `binary_ops!`, `binary_xy_ops!`, `reduce_ops!`.
//! `Fail::Arg` = not expressible in the Rust API, `Fail::Skip` = cannot be checked.
//! See the longer note at the top of `ops_numpy.rs`.

use crate::args::*;
use crate::value::{Case, Value};
use ceras::config::DataFormat;
use ceras::ops::{
    self, AttentionOptions, AxisArg, ConvOptions, ConvTransposeOptions, Padding, PoolOptions,
    Spatial,
};

/// `axis` that may be an int, a tuple, or `None` (all axes).
fn axis_arg(c: &Case, i: usize, name: &str, default: i64) -> Result<AxisArg, Fail> {
    match c.arg(i, name) {
        None => Ok(AxisArg::Axes(vec![default])),
        Some(Value::None) => Ok(AxisArg::All),
        Some(v) => Ok(AxisArg::Axes(as_ints(v)?)),
    }
}

/// An int-or-tuple argument with a default.
fn spatial_kw(c: &Case, i: usize, name: &str, default: i64) -> Result<Spatial, Fail> {
    Ok(match c.get(i, name) {
        None => Spatial(vec![default]),
        Some(v) => Spatial(as_ints(v)?),
    })
}

fn padding_kw(c: &Case, i: usize) -> Result<Padding, Fail> {
    Ok(Padding::parse(&c.str_kw(i, "padding", "valid")?)?)
}

fn data_format_opt(c: &Case, i: usize) -> Result<Option<DataFormat>, Fail> {
    c.str_opt(i, "data_format")?
        .map(|s| DataFormat::parse(&s.to_ascii_lowercase()))
        .transpose()
        .map_err(Fail::Op)
}

/// `(strides, padding, data_format, dilation_rate)` starting at position `i`.
fn conv_opts(c: &Case, i: usize) -> Result<ConvOptions, Fail> {
    Ok(ConvOptions {
        strides: spatial_kw(c, i, "strides", 1)?,
        padding: padding_kw(c, i + 1)?,
        data_format: data_format_opt(c, i + 2)?,
        dilation_rate: spatial_kw(c, i + 3, "dilation_rate", 1)?,
    })
}

/// `(pool_size, strides, padding, data_format)` of a pooling op.
fn pool_args(c: &Case) -> Result<(Spatial, PoolOptions), Fail> {
    let pool = Spatial(c.axes(1, "pool_size")?);
    let strides = c.get(2, "strides").map(as_ints).transpose()?.map(Spatial);
    let opts = PoolOptions {
        strides,
        padding: padding_kw(c, 3)?,
        data_format: data_format_opt(c, 4)?,
    };
    Ok((pool, opts))
}

fn no_sparse(c: &Case, i: usize) -> Result<(), Fail> {
    if c.bool_kw(i, "sparse", false)? {
        return arg_fail("sparse outputs are not supported");
    }
    Ok(())
}

/// Registers the `keras.ops.nn` entries.
pub fn register(r: &mut Registry) {
    unary_ops!(r;
        relu, relu6, sigmoid, softplus, softsign, silu, swish, log_sigmoid, hard_sigmoid,
        hard_silu, hard_swish, selu, tanh_shrink, hard_tanh, sparse_plus, sparse_sigmoid,
    );
    r.add("leaky_relu", |c| {
        let s = c.f64_kw(1, "negative_slope", 0.2)?;
        Ok(ops::leaky_relu(c.tensor(0, "x")?, s)?.into())
    });
    r.add("elu", |c| {
        Ok(ops::elu(c.tensor(0, "x")?, c.f64_kw(1, "alpha", 1.0)?)?.into())
    });
    r.add("celu", |c| {
        Ok(ops::celu(c.tensor(0, "x")?, c.f64_kw(1, "alpha", 1.0)?)?.into())
    });
    r.add("gelu", |c| {
        let a = c.bool_kw(1, "approximate", true)?;
        Ok(ops::gelu(c.tensor(0, "x")?, a)?.into())
    });
    r.add("glu", |c| {
        Ok(ops::glu(c.tensor(0, "x")?, c.axis1_kw(1, "axis", -1)?)?.into())
    });
    r.add("hard_shrink", |c| {
        let t = c.f64_kw(1, "threshold", 0.5)?;
        Ok(ops::hard_shrink(c.tensor(0, "x")?, t)?.into())
    });
    r.add("soft_shrink", |c| {
        let t = c.f64_kw(1, "threshold", 0.5)?;
        Ok(ops::soft_shrink(c.tensor(0, "x")?, t)?.into())
    });
    r.add("threshold", |c| {
        let t = c.f64(1, "threshold")?;
        let d = c.f64(2, "default_value")?;
        Ok(ops::threshold(c.tensor(0, "x")?, t, d)?.into())
    });
    r.add("squareplus", |c| {
        Ok(ops::squareplus(c.tensor(0, "x")?, c.f64_kw(1, "b", 4.0)?)?.into())
    });
    r.add("sparsemax", |c| {
        Ok(ops::sparsemax(c.tensor(0, "x")?, c.axis1_kw(1, "axis", -1)?)?.into())
    });
    r.add("softmax", |c| {
        let x = c.tensor(0, "x")?;
        Ok(ops::softmax(x, axis_arg(c, 1, "axis", -1)?)?.into())
    });
    r.add("log_softmax", |c| {
        let x = c.tensor(0, "x")?;
        Ok(ops::log_softmax(x, axis_arg(c, 1, "axis", -1)?)?.into())
    });

    // Convolutions.
    r.add("conv", |c| {
        let o = conv_opts(c, 2)?;
        Ok(ops::conv(c.tensor(0, "inputs")?, c.tensor(1, "kernel")?, &o)?.into())
    });
    r.add("depthwise_conv", |c| {
        let o = conv_opts(c, 2)?;
        Ok(ops::depthwise_conv(c.tensor(0, "inputs")?, c.tensor(1, "kernel")?, &o)?.into())
    });
    r.add("separable_conv", |c| {
        let o = conv_opts(c, 3)?;
        Ok(ops::separable_conv(
            c.tensor(0, "inputs")?,
            c.tensor(1, "depthwise_kernel")?,
            c.tensor(2, "pointwise_kernel")?,
            &o,
        )?
        .into())
    });
    r.add("conv_transpose", |c| {
        let o = ConvTransposeOptions {
            strides: spatial_kw(c, 2, "strides", 1)?,
            padding: padding_kw(c, 3)?,
            output_padding: c
                .get(4, "output_padding")
                .map(as_ints)
                .transpose()?
                .map(Spatial),
            data_format: data_format_opt(c, 5)?,
            dilation_rate: spatial_kw(c, 6, "dilation_rate", 1)?,
        };
        Ok(ops::conv_transpose(c.tensor(0, "inputs")?, c.tensor(1, "kernel")?, &o)?.into())
    });
    r.add("unfold", |c| {
        Ok(ops::unfold(
            c.tensor(0, "x")?,
            Spatial(c.axes(1, "kernel_size")?),
            spatial_kw(c, 2, "dilation", 1)?,
            spatial_kw(c, 3, "padding", 0)?,
            spatial_kw(c, 4, "stride", 1)?,
        )?
        .into())
    });
    r.add("fold", |c| {
        Ok(ops::fold(
            c.tensor(0, "x")?,
            Spatial(c.axes(1, "output_size")?),
            Spatial(c.axes(2, "kernel_size")?),
            spatial_kw(c, 3, "dilation", 1)?,
            spatial_kw(c, 4, "padding", 0)?,
            spatial_kw(c, 5, "stride", 1)?,
        )?
        .into())
    });

    // Pooling.
    r.add("max_pool", |c| {
        let (p, o) = pool_args(c)?;
        Ok(ops::max_pool(c.tensor(0, "inputs")?, p, &o)?.into())
    });
    r.add("average_pool", |c| {
        let (p, o) = pool_args(c)?;
        Ok(ops::average_pool(c.tensor(0, "inputs")?, p, &o)?.into())
    });
    r.add("adaptive_max_pool", |c| {
        let s = Spatial(c.axes(1, "output_size")?);
        let f = data_format_opt(c, 2)?;
        Ok(ops::adaptive_max_pool(c.tensor(0, "inputs")?, s, f)?.into())
    });
    r.add("adaptive_average_pool", |c| {
        let s = Spatial(c.axes(1, "output_size")?);
        let f = data_format_opt(c, 2)?;
        Ok(ops::adaptive_average_pool(c.tensor(0, "inputs")?, s, f)?.into())
    });

    // Encodings and losses.
    r.add("one_hot", |c| {
        no_sparse(c, 4)?;
        let n = c.usize(1, "num_classes")?;
        let axis = c.i64_kw(2, "axis", -1)?;
        let d = c.dtype_opt(3, "dtype")?;
        Ok(ops::one_hot(c.tensor(0, "x")?, n, axis, d)?.into())
    });
    r.add("multi_hot", |c| {
        no_sparse(c, 4)?;
        let n = c.usize(1, "num_classes")?;
        let axis = c.i64_kw(2, "axis", -1)?;
        let d = c.dtype_opt(3, "dtype")?;
        Ok(ops::multi_hot(c.tensor(0, "inputs")?, n, axis, d)?.into())
    });
    r.add("binary_crossentropy", |c| {
        let fl = c.bool_kw(2, "from_logits", false)?;
        Ok(ops::binary_crossentropy(c.tensor(0, "target")?, c.tensor(1, "output")?, fl)?.into())
    });
    r.add("categorical_crossentropy", |c| {
        let fl = c.bool_kw(2, "from_logits", false)?;
        let axis = c.axis1_kw(3, "axis", -1)?;
        Ok(
            ops::categorical_crossentropy(
                c.tensor(0, "target")?,
                c.tensor(1, "output")?,
                fl,
                axis,
            )?
            .into(),
        )
    });
    r.add("sparse_categorical_crossentropy", |c| {
        let fl = c.bool_kw(2, "from_logits", false)?;
        let axis = c.axis1_kw(3, "axis", -1)?;
        Ok(ops::sparse_categorical_crossentropy(
            c.tensor(0, "target")?,
            c.tensor(1, "output")?,
            fl,
            axis,
        )?
        .into())
    });
    r.add("ctc_loss", |c| {
        let mi = c.i64_kw(4, "mask_index", 0)?;
        Ok(ops::ctc_loss(
            c.tensor(0, "target")?,
            c.tensor(1, "output")?,
            c.tensor(2, "target_length")?,
            c.tensor(3, "output_length")?,
            mi,
        )?
        .into())
    });

    // Normalization.
    r.add("moments", |c| {
        let axes = c.axes(1, "axes")?;
        let keepdims = c.bool_kw(2, "keepdims", false)?;
        let sync = c.bool_kw(3, "synchronized", false)?;
        Ok(ops::moments(c.tensor(0, "x")?, &axes, keepdims, sync)?.into())
    });
    r.add("batch_normalization", |c| {
        let axis = c.int(3, "axis")?;
        let offset = c.tensor_opt(4, "offset")?;
        let scale = c.tensor_opt(5, "scale")?;
        let eps = c.f64_kw(6, "epsilon", 1e-3)?;
        Ok(ops::batch_normalization(
            c.tensor(0, "x")?,
            c.tensor(1, "mean")?,
            c.tensor(2, "variance")?,
            axis,
            offset.as_ref(),
            scale.as_ref(),
            eps,
        )?
        .into())
    });
    r.add("layer_normalization", |c| {
        let g = c.tensor_opt(1, "gamma")?;
        let b = c.tensor_opt(2, "beta")?;
        let axis = c.axis_opt(3, "axis")?.unwrap_or(vec![-1]);
        let eps = c.f64_opt(4, "epsilon")?;
        Ok(ops::layer_normalization(c.tensor(0, "x")?, g.as_ref(), b.as_ref(), &axis, eps)?.into())
    });
    r.add("rms_normalization", |c| {
        let s = c.tensor_opt(1, "scale")?;
        let axis = c.axis_opt(2, "axis")?.unwrap_or(vec![-1]);
        let eps = c.f64_opt(3, "epsilon")?;
        Ok(ops::rms_normalization(c.tensor(0, "x")?, s.as_ref(), &axis, eps)?.into())
    });
    r.add("normalize", |c| {
        let axis = c.axis1_kw(1, "axis", -1)?;
        let order = match c.get(2, "order") {
            None => 2,
            Some(Value::Int(i)) => *i,
            Some(other) => {
                return arg_fail(format!("`order` must be an int, got {}", other.describe()))
            }
        };
        let eps = c.f64_opt(3, "epsilon")?;
        Ok(ops::normalize(c.tensor(0, "x")?, axis, order, eps)?.into())
    });

    // Attention and the rest.
    r.add("dot_product_attention", |c| {
        let o = AttentionOptions {
            bias: c.tensor_opt(3, "bias")?,
            mask: c.tensor_opt(4, "mask")?,
            scale: c.f64_opt(5, "scale")?,
            is_causal: c.bool_kw(6, "is_causal", false)?,
            flash_attention: match c.get(7, "flash_attention") {
                None => None,
                Some(Value::Bool(b)) => Some(*b),
                Some(other) => {
                    return arg_fail(format!(
                        "`flash_attention` must be a bool, got {}",
                        other.describe()
                    ))
                }
            },
            attn_logits_soft_cap: c.f64_opt(8, "attn_logits_soft_cap")?,
        };
        Ok(ops::dot_product_attention(
            c.tensor(0, "query")?,
            c.tensor(1, "key")?,
            c.tensor(2, "value")?,
            &o,
        )?
        .into())
    });
    r.add("psnr", |c| {
        let m = c.f64(2, "max_val")?;
        Ok(ops::psnr(c.tensor(0, "x1")?, c.tensor(1, "x2")?, m)?.into())
    });
    r.add("depth_to_space", |c| {
        let b = c.int(1, "block_size")?;
        let f = data_format_opt(c, 2)?.unwrap_or(DataFormat::ChannelsLast);
        Ok(ops::depth_to_space(c.tensor(0, "x")?, b, f)?.into())
    });
    r.add("space_to_depth", |c| {
        let b = c.int(1, "block_size")?;
        let f = data_format_opt(c, 2)?.unwrap_or(DataFormat::ChannelsLast);
        Ok(ops::space_to_depth(c.tensor(0, "x")?, b, f)?.into())
    });
}
