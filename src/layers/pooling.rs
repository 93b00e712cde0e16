//! Pooling layers: `MaxPooling{1,2}D`, `AveragePooling{1,2}D` (one generic
//! [`Pooling`]) and `Global{Average,Max}Pooling{1,2}D` ([`GlobalPooling`]).

use super::conv::{conv_out_len, expand, tuple_config};
use super::core::config_with;
use super::{expect_rank, Layer, LayerBase};
use crate::config::{self, DataFormat};
use crate::ops::{self, Padding, PoolOptions, Spatial};
use crate::trace::PartialShape;
use crate::{Result, Tensor};
use serde_json::json;

/// A max or average pooling layer over `rank` spatial dims.
pub struct Pooling {
    base: LayerBase,
    rank: usize,
    max: bool,
    pool_size: Spatial,
    strides: Option<Spatial>,
    padding: String,
    data_format: Option<DataFormat>,
}

macro_rules! pool_ctor {
    ($name:ident, $rank:expr, $max:expr, $class:literal) => {
        #[doc = concat!("`keras.layers.", $class, "(pool_size)`; strides default to `pool_size`.")]
        pub struct $name;
        impl $name {
            #[doc = concat!("`", $class, "(pool_size)` with `\"valid\"` padding.")]
            #[allow(clippy::new_ret_no_self)]
            pub fn new(pool_size: impl Into<Spatial>) -> Pooling {
                Pooling::new($rank, $max, pool_size, $class)
            }
        }
    };
}
pool_ctor!(MaxPooling1D, 1, true, "MaxPooling1D");
pool_ctor!(MaxPooling2D, 2, true, "MaxPooling2D");
pool_ctor!(AveragePooling1D, 1, false, "AveragePooling1D");
pool_ctor!(AveragePooling2D, 2, false, "AveragePooling2D");

fn pool_class(rank: usize, max: bool) -> &'static str {
    match (rank, max) {
        (1, true) => "MaxPooling1D",
        (2, true) => "MaxPooling2D",
        (3, true) => "MaxPooling3D",
        (1, false) => "AveragePooling1D",
        (2, false) => "AveragePooling2D",
        (3, false) => "AveragePooling3D",
        _ => "Pooling",
    }
}

impl Pooling {
    /// A pooling layer (`max` or average) over `rank` spatial dims.
    pub fn new(rank: usize, max: bool, pool_size: impl Into<Spatial>, class: &str) -> Pooling {
        Pooling {
            base: LayerBase::new(class),
            rank,
            max,
            pool_size: pool_size.into(),
            strides: None,
            padding: "valid".into(),
            data_format: None,
        }
    }
    /// Strides (default: the pool size).
    pub fn strides(mut self, s: impl Into<Spatial>) -> Self {
        self.strides = Some(s.into());
        self
    }
    /// `"valid"` or `"same"`.
    pub fn padding(mut self, p: &str) -> Self {
        self.padding = p.into();
        self
    }
    /// Data format.
    pub fn data_format(mut self, f: DataFormat) -> Self {
        self.data_format = Some(f);
        self
    }
    fn fmt(&self) -> DataFormat {
        self.data_format.unwrap_or_else(config::image_data_format)
    }
}

impl Layer for Pooling {
    fn base(&self) -> &LayerBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut LayerBase {
        &mut self.base
    }
    fn class_name(&self) -> &'static str {
        pool_class(self.rank, self.max)
    }
    fn build(&mut self, s: &[Option<usize>]) -> Result<()> {
        let name = self.base.name();
        let r = self.rank;
        expect_rank(name, s, |n| n == r + 2, &format!("{} dimensions", r + 2))?;
        expand(name, "pool_size", &self.pool_size, r)?;
        if let Some(st) = &self.strides {
            expand(name, "strides", st, r)?;
        }
        Padding::parse(&self.padding)?;
        Ok(())
    }
    fn call(&self, x: &Tensor, _t: bool) -> Result<Tensor> {
        let opts = PoolOptions {
            strides: self.strides.clone(),
            padding: Padding::parse(&self.padding)?,
            data_format: Some(self.fmt()),
        };
        if self.max {
            ops::max_pool(x, self.pool_size.clone(), &opts)
        } else {
            ops::average_pool(x, self.pool_size.clone(), &opts)
        }
    }
    fn compute_output_shape(&self, s: &[Option<usize>]) -> Result<PartialShape> {
        let name = self.base.name();
        let r = self.rank;
        expect_rank(name, s, |n| n == r + 2, &format!("{} dimensions", r + 2))?;
        let p = expand(name, "pool_size", &self.pool_size, r)?;
        let st = match &self.strides {
            Some(st) => expand(name, "strides", st, r)?,
            None => p.clone(),
        };
        let pad = Padding::parse(&self.padding)?;
        let first = if self.fmt() == DataFormat::ChannelsLast {
            1
        } else {
            2
        };
        let mut o = s.to_vec();
        for i in 0..r {
            o[first + i] = conv_out_len(s[first + i], p[i], st[i], 1, pad);
        }
        Ok(o)
    }
    fn get_config(&self) -> serde_json::Value {
        config_with(
            self,
            json!({
                "pool_size": tuple_config(self.base.name(), "pool_size", &self.pool_size, self.rank),
                "strides": self.strides.as_ref().map(|s| tuple_config(self.base.name(), "strides", s, self.rank)),
                "padding": self.padding,
                "data_format": self.data_format.unwrap_or_else(config::image_data_format).name(),
            }),
        )
    }
}

/// A global max or average pooling layer over `rank` spatial dims.
pub struct GlobalPooling {
    base: LayerBase,
    rank: usize,
    max: bool,
    keepdims: bool,
    data_format: Option<DataFormat>,
}

macro_rules! gpool_ctor {
    ($name:ident, $rank:expr, $max:expr, $class:literal) => {
        #[doc = concat!("`keras.layers.", $class, "()`.")]
        pub struct $name;
        impl $name {
            #[doc = concat!("`", $class, "()` (keepdims false).")]
            #[allow(clippy::new_ret_no_self)]
            pub fn new() -> GlobalPooling {
                GlobalPooling {
                    base: LayerBase::new($class),
                    rank: $rank,
                    max: $max,
                    keepdims: false,
                    data_format: None,
                }
            }
        }
    };
}
gpool_ctor!(GlobalAveragePooling1D, 1, false, "GlobalAveragePooling1D");
gpool_ctor!(GlobalAveragePooling2D, 2, false, "GlobalAveragePooling2D");
gpool_ctor!(GlobalMaxPooling1D, 1, true, "GlobalMaxPooling1D");
gpool_ctor!(GlobalMaxPooling2D, 2, true, "GlobalMaxPooling2D");

impl GlobalPooling {
    /// Keep the reduced axes with length 1.
    pub fn keepdims(mut self, k: bool) -> Self {
        self.keepdims = k;
        self
    }
    /// Data format.
    pub fn data_format(mut self, f: DataFormat) -> Self {
        self.data_format = Some(f);
        self
    }
    fn axes(&self) -> Vec<i64> {
        let first = match self.data_format.unwrap_or_else(config::image_data_format) {
            DataFormat::ChannelsLast => 1,
            DataFormat::ChannelsFirst => 2,
        };
        (first..first + self.rank as i64).collect()
    }
}

impl Layer for GlobalPooling {
    fn base(&self) -> &LayerBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut LayerBase {
        &mut self.base
    }
    fn class_name(&self) -> &'static str {
        match (self.rank, self.max) {
            (1, false) => "GlobalAveragePooling1D",
            (2, false) => "GlobalAveragePooling2D",
            (1, true) => "GlobalMaxPooling1D",
            _ => "GlobalMaxPooling2D",
        }
    }
    fn build(&mut self, s: &[Option<usize>]) -> Result<()> {
        let r = self.rank;
        expect_rank(
            self.base.name(),
            s,
            |n| n == r + 2,
            &format!("{} dimensions", r + 2),
        )
    }
    fn supports_masking(&self) -> bool {
        // Keras: global average pooling over steps honours a mask.
        !self.max && self.rank == 1
    }

    fn compute_mask(&self, _x: &Tensor, _mask: Option<&Tensor>) -> Result<Option<Tensor>> {
        Ok(None)
    }

    fn call_masked(&self, x: &Tensor, mask: Option<&Tensor>, training: bool) -> Result<Tensor> {
        let Some(m) = mask.filter(|_| self.supports_masking()) else {
            return self.call(x, training);
        };
        // sum(x * mask) / sum(mask) over the steps.
        let feat_axis = match self.data_format.unwrap_or_else(config::image_data_format) {
            DataFormat::ChannelsLast => 2,
            DataFormat::ChannelsFirst => 1,
        };
        let m = ops::expand_dims(ops::cast(m, x.dtype())?, &[feat_axis])?;
        let steps = [3 - feat_axis as i64];
        let num = ops::sum(ops::multiply(x, &m)?, Some(&steps), self.keepdims)?;
        let den = ops::sum(&m, Some(&steps), self.keepdims)?;
        ops::divide(num, den)
    }

    fn call(&self, x: &Tensor, _t: bool) -> Result<Tensor> {
        let axes = self.axes();
        if self.max {
            ops::max(x, Some(&axes), self.keepdims, None)
        } else {
            ops::mean(x, Some(&axes), self.keepdims)
        }
    }
    fn get_config(&self) -> serde_json::Value {
        config_with(
            self,
            json!({
                "data_format": self.data_format.unwrap_or_else(config::image_data_format).name(),
                "keepdims": self.keepdims,
            }),
        )
    }
}
