//! Normalization layers: `BatchNormalization`, `LayerNormalization`.

use super::core::config_with;
use super::{fmt_shape, Layer, LayerBase, WeightSpec};
use crate::error::{arg_err, shape_err};
use crate::trace::PartialShape;
use crate::{ops, Result, Tensor, Variable};
use serde_json::json;

fn norm_axis(layer: &str, axis: i64, s: &[Option<usize>]) -> Result<(usize, usize)> {
    let r = s.len() as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a >= r {
        return Err(arg_err(
            layer,
            format!(
                "axis {axis} is out of range for input shape {}",
                fmt_shape(s)
            ),
        ));
    }
    let Some(d) = s[a as usize] else {
        return Err(shape_err(
            layer,
            format!("axis {axis} of input shape {} must be known", fmt_shape(s)),
        ));
    };
    Ok((a as usize, d))
}

/// `keras.layers.BatchNormalization(axis=-1, momentum=0.99, epsilon=0.001)`.
///
/// In training, normalizes with the batch's statistics and updates the moving
/// mean and variance (`moving = moving * momentum + batch * (1 - momentum)`); at
/// inference, or when the layer is frozen (`set_trainable(false)`), uses the moving
/// statistics.
pub struct BatchNormalization {
    base: LayerBase,
    axis: i64,
    momentum: f64,
    epsilon: f64,
    center: bool,
    scale: bool,
    resolved_axis: usize,
    gamma: Option<Variable>,
    beta: Option<Variable>,
    moving_mean: Option<Variable>,
    moving_variance: Option<Variable>,
}

impl BatchNormalization {
    /// Keras's defaults.
    pub fn new() -> BatchNormalization {
        BatchNormalization {
            base: LayerBase::new("BatchNormalization"),
            axis: -1,
            momentum: 0.99,
            epsilon: 1e-3,
            center: true,
            scale: true,
            resolved_axis: 0,
            gamma: None,
            beta: None,
            moving_mean: None,
            moving_variance: None,
        }
    }
    /// The feature axis.
    pub fn axis(mut self, a: i64) -> Self {
        self.axis = a;
        self
    }
    /// Momentum of the moving statistics.
    pub fn momentum(mut self, m: f64) -> Self {
        self.momentum = m;
        self
    }
    /// Variance epsilon.
    pub fn epsilon(mut self, e: f64) -> Self {
        self.epsilon = e;
        self
    }
    /// Learn an offset `beta`.
    pub fn center(mut self, c: bool) -> Self {
        self.center = c;
        self
    }
    /// Learn a scale `gamma`.
    pub fn scale(mut self, s: bool) -> Self {
        self.scale = s;
        self
    }
}

impl Default for BatchNormalization {
    fn default() -> Self {
        BatchNormalization::new()
    }
}

impl Layer for BatchNormalization {
    super::core::base_impl!("BatchNormalization");

    fn build(&mut self, s: &[Option<usize>]) -> Result<()> {
        let (a, d) = norm_axis(self.base.name(), self.axis, s)?;
        self.resolved_axis = a;
        if self.scale {
            self.gamma = Some(
                self.base
                    .add_weight("gamma", &[d], WeightSpec::new("ones"))?,
            );
        }
        if self.center {
            self.beta = Some(
                self.base
                    .add_weight("beta", &[d], WeightSpec::new("zeros"))?,
            );
        }
        let mut fixed = WeightSpec::new("zeros");
        fixed.trainable = false;
        self.moving_mean = Some(self.base.add_weight("moving_mean", &[d], fixed.clone())?);
        fixed.initializer = "ones".into();
        self.moving_variance = Some(self.base.add_weight("moving_variance", &[d], fixed)?);
        Ok(())
    }

    fn call(&self, x: &Tensor, training: bool) -> Result<Tensor> {
        let (Some(mm), Some(mv)) = (&self.moving_mean, &self.moving_variance) else {
            return Err(arg_err(
                self.base.name(),
                "BatchNormalization called before build",
            ));
        };
        let a = self.resolved_axis;
        if x.ndim() <= a || x.shape()[a] != mm.shape()[0] {
            return Err(shape_err(
                self.base.name(),
                format!(
                    "input shape {:?} does not match the layer: expected {} features on axis {}",
                    x.shape(),
                    mm.shape()[0],
                    self.axis
                ),
            ));
        }
        let gamma = self.gamma.as_ref().map(|g| g.value());
        let beta = self.beta.as_ref().map(|b| b.value());
        // A frozen layer (`trainable = false`) runs in inference mode even in
        // training, as in Keras (`if training and self.trainable`).
        let (mean, var) = if training && self.trainable() {
            let axes: Vec<i64> = (0..x.ndim() as i64).filter(|&i| i != a as i64).collect();
            let (mean, var) = ops::moments(x, &axes, false, false)?;
            let m = self.momentum;
            let upd = |v: &Variable, batch: &Tensor| -> Result<()> {
                let batch = crate::autodiff::stop_gradient(batch)?;
                v.assign(ops::add(
                    ops::multiply(v.value(), m)?,
                    ops::multiply(&batch, 1.0 - m)?,
                )?)
            };
            upd(mm, &mean)?;
            upd(mv, &var)?;
            (mean, var)
        } else {
            (mm.value(), mv.value())
        };
        ops::batch_normalization(
            x,
            &mean,
            &var,
            a as i64,
            beta.as_ref(),
            gamma.as_ref(),
            self.epsilon,
        )
    }

    fn compute_output_shape(&self, s: &[Option<usize>]) -> Result<PartialShape> {
        Ok(s.to_vec())
    }

    fn get_config(&self) -> serde_json::Value {
        config_with(
            self,
            json!({"axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
                   "center": self.center, "scale": self.scale}),
        )
    }
}

/// `keras.layers.LayerNormalization(axis=-1, epsilon=0.001)`.
pub struct LayerNormalization {
    base: LayerBase,
    axis: Vec<i64>,
    epsilon: f64,
    center: bool,
    scale: bool,
    resolved: Vec<usize>,
    gamma: Option<Variable>,
    beta: Option<Variable>,
}

impl LayerNormalization {
    /// Keras's defaults (last axis).
    pub fn new() -> LayerNormalization {
        LayerNormalization {
            base: LayerBase::new("LayerNormalization"),
            axis: vec![-1],
            epsilon: 1e-3,
            center: true,
            scale: true,
            resolved: Vec::new(),
            gamma: None,
            beta: None,
        }
    }
    /// Normalized axes.
    pub fn axis(mut self, a: &[i64]) -> Self {
        self.axis = a.to_vec();
        self
    }
    /// Variance epsilon.
    pub fn epsilon(mut self, e: f64) -> Self {
        self.epsilon = e;
        self
    }
    /// Learn an offset.
    pub fn center(mut self, c: bool) -> Self {
        self.center = c;
        self
    }
    /// Learn a scale.
    pub fn scale(mut self, s: bool) -> Self {
        self.scale = s;
        self
    }
}

impl Default for LayerNormalization {
    fn default() -> Self {
        LayerNormalization::new()
    }
}

impl Layer for LayerNormalization {
    super::core::base_impl!("LayerNormalization");

    fn build(&mut self, s: &[Option<usize>]) -> Result<()> {
        let mut shape = Vec::new();
        self.resolved.clear();
        for &ax in &self.axis {
            let (a, d) = norm_axis(self.base.name(), ax, s)?;
            self.resolved.push(a);
            shape.push(d);
        }
        if self.scale {
            self.gamma = Some(
                self.base
                    .add_weight("gamma", &shape, WeightSpec::new("ones"))?,
            );
        }
        if self.center {
            self.beta = Some(
                self.base
                    .add_weight("beta", &shape, WeightSpec::new("zeros"))?,
            );
        }
        Ok(())
    }

    fn call(&self, x: &Tensor, _t: bool) -> Result<Tensor> {
        let axes: Vec<i64> = self.resolved.iter().map(|&a| a as i64).collect();
        // Parameters broadcast along the normalized axes only.
        let bshape: Vec<i64> = (0..x.ndim())
            .map(|i| {
                if self.resolved.contains(&i) {
                    x.shape()[i] as i64
                } else {
                    1
                }
            })
            .collect();
        let (mean, var) = ops::moments(x, &axes, true, false)?;
        let mut inv = ops::rsqrt(ops::add(&var, self.epsilon)?)?;
        if let Some(g) = &self.gamma {
            inv = ops::multiply(&inv, ops::reshape(g.value(), &bshape)?)?;
        }
        let mut res = ops::negative(ops::multiply(&mean, &inv)?)?;
        if let Some(b) = &self.beta {
            res = ops::add(&res, ops::reshape(b.value(), &bshape)?)?;
        }
        ops::add(ops::multiply(x, &inv)?, &res)
    }

    fn compute_output_shape(&self, s: &[Option<usize>]) -> Result<PartialShape> {
        Ok(s.to_vec())
    }

    fn get_config(&self) -> serde_json::Value {
        config_with(
            self,
            json!({"axis": self.axis, "epsilon": self.epsilon, "center": self.center,
                   "scale": self.scale}),
        )
    }
}
