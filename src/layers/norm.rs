//! Normalization layers: `BatchNormalization`, `LayerNormalization`.

use super::core::config_with;
use super::{fmt_shape, Layer, LayerBase, WeightSpec};
use crate::error::{arg_err, shape_err};
use crate::initializers::Initializer;
use crate::regularizers::{Constraint, Regularizer};
use crate::saving::serialize as ser;
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
    beta_initializer: Initializer,
    gamma_initializer: Initializer,
    moving_mean_initializer: Initializer,
    moving_variance_initializer: Initializer,
    beta_regularizer: Option<Regularizer>,
    gamma_regularizer: Option<Regularizer>,
    beta_constraint: Option<Constraint>,
    gamma_constraint: Option<Constraint>,
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
            beta_initializer: "zeros".into(),
            gamma_initializer: "ones".into(),
            moving_mean_initializer: "zeros".into(),
            moving_variance_initializer: "ones".into(),
            beta_regularizer: None,
            gamma_regularizer: None,
            beta_constraint: None,
            gamma_constraint: None,
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
    weight_setters!(
        beta_initializer,
        beta_regularizer,
        beta_constraint,
        "Offset (beta)"
    );
    weight_setters!(
        gamma_initializer,
        gamma_regularizer,
        gamma_constraint,
        "Scale (gamma)"
    );
    /// Initial moving mean.
    pub fn moving_mean_initializer(mut self, i: impl Into<Initializer>) -> Self {
        self.moving_mean_initializer = i.into();
        self
    }
    /// Initial moving variance.
    pub fn moving_variance_initializer(mut self, i: impl Into<Initializer>) -> Self {
        self.moving_variance_initializer = i.into();
        self
    }
}

/// A trainable weight spec with an initializer, regularizer and constraint.
fn spec(i: &Initializer, r: &Option<Regularizer>, c: &Option<Constraint>) -> WeightSpec {
    let mut w = WeightSpec::new(i.clone());
    w.regularizer = r.clone();
    w.constraint = c.clone();
    w
}

impl Default for BatchNormalization {
    fn default() -> Self {
        BatchNormalization::new()
    }
}

impl Layer for BatchNormalization {
    super::core::base_impl!("BatchNormalization");
    fn supports_masking(&self) -> bool {
        true
    }

    fn build(&mut self, s: &[Option<usize>]) -> Result<()> {
        let (a, d) = norm_axis(self.base.name(), self.axis, s)?;
        self.resolved_axis = a;
        if self.scale {
            let g = spec(
                &self.gamma_initializer,
                &self.gamma_regularizer,
                &self.gamma_constraint,
            );
            self.gamma = Some(self.base.add_weight("gamma", &[d], g)?);
        }
        if self.center {
            let b = spec(
                &self.beta_initializer,
                &self.beta_regularizer,
                &self.beta_constraint,
            );
            self.beta = Some(self.base.add_weight("beta", &[d], b)?);
        }
        let mut fixed = WeightSpec::new(self.moving_mean_initializer.clone());
        fixed.trainable = false;
        self.moving_mean = Some(self.base.add_weight("moving_mean", &[d], fixed.clone())?);
        fixed.initializer = self.moving_variance_initializer.clone();
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
            json!({
                "axis": self.axis,
                "momentum": self.momentum,
                "epsilon": self.epsilon,
                "center": self.center,
                "scale": self.scale,
                "beta_initializer": ser::initializer(&self.beta_initializer),
                "gamma_initializer": ser::initializer(&self.gamma_initializer),
                "moving_mean_initializer": ser::initializer(&self.moving_mean_initializer),
                "moving_variance_initializer": ser::initializer(&self.moving_variance_initializer),
                "beta_regularizer": ser::opt_regularizer(&self.beta_regularizer),
                "gamma_regularizer": ser::opt_regularizer(&self.gamma_regularizer),
                "beta_constraint": ser::opt_constraint(&self.beta_constraint),
                "gamma_constraint": ser::opt_constraint(&self.gamma_constraint),
                "synchronized": false,
            }),
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
    beta_initializer: Initializer,
    gamma_initializer: Initializer,
    beta_regularizer: Option<Regularizer>,
    gamma_regularizer: Option<Regularizer>,
    beta_constraint: Option<Constraint>,
    gamma_constraint: Option<Constraint>,
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
            beta_initializer: "zeros".into(),
            gamma_initializer: "ones".into(),
            beta_regularizer: None,
            gamma_regularizer: None,
            beta_constraint: None,
            gamma_constraint: None,
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
    weight_setters!(
        beta_initializer,
        beta_regularizer,
        beta_constraint,
        "Offset (beta)"
    );
    weight_setters!(
        gamma_initializer,
        gamma_regularizer,
        gamma_constraint,
        "Scale (gamma)"
    );
}

impl Default for LayerNormalization {
    fn default() -> Self {
        LayerNormalization::new()
    }
}

impl Layer for LayerNormalization {
    super::core::base_impl!("LayerNormalization");
    fn supports_masking(&self) -> bool {
        true
    }

    fn build(&mut self, s: &[Option<usize>]) -> Result<()> {
        let mut shape = Vec::new();
        self.resolved.clear();
        for &ax in &self.axis {
            let (a, d) = norm_axis(self.base.name(), ax, s)?;
            self.resolved.push(a);
            shape.push(d);
        }
        if self.scale {
            let g = spec(
                &self.gamma_initializer,
                &self.gamma_regularizer,
                &self.gamma_constraint,
            );
            self.gamma = Some(self.base.add_weight("gamma", &shape, g)?);
        }
        if self.center {
            let b = spec(
                &self.beta_initializer,
                &self.beta_regularizer,
                &self.beta_constraint,
            );
            self.beta = Some(self.base.add_weight("beta", &shape, b)?);
        }
        Ok(())
    }

    fn call(&self, x: &Tensor, _t: bool) -> Result<Tensor> {
        // Keras: ops.layer_normalization (float32 at least), cast back to x's dtype.
        let axes: Vec<i64> = self.resolved.iter().map(|&a| a as i64).collect();
        let (g, b) = (
            self.gamma.as_ref().map(|g| g.value()),
            self.beta.as_ref().map(|b| b.value()),
        );
        ops::layer_normalization(x, g.as_ref(), b.as_ref(), &axes, Some(self.epsilon))
    }

    fn compute_output_shape(&self, s: &[Option<usize>]) -> Result<PartialShape> {
        Ok(s.to_vec())
    }

    fn get_config(&self) -> serde_json::Value {
        config_with(
            self,
            json!({
                "axis": self.axis,
                "epsilon": self.epsilon,
                "center": self.center,
                "scale": self.scale,
                "rms_scaling": false,
                "beta_initializer": ser::initializer(&self.beta_initializer),
                "gamma_initializer": ser::initializer(&self.gamma_initializer),
                "beta_regularizer": ser::opt_regularizer(&self.beta_regularizer),
                "gamma_regularizer": ser::opt_regularizer(&self.gamma_regularizer),
                "beta_constraint": ser::opt_constraint(&self.beta_constraint),
                "gamma_constraint": ser::opt_constraint(&self.gamma_constraint),
            }),
        )
    }
}
