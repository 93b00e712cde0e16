//! `keras.regularizers` and `keras.constraints`.
//!
//! ```
//! use ceras::regularizers::Regularizer;
//! use ceras::Tensor;
//! let w = Tensor::from_vec(vec![1.0f32, -2.0], [2]).unwrap();
//! let p = Regularizer::L2(0.01).penalty(&w).unwrap();
//! assert!((p.item::<f32>().unwrap() - 0.05).abs() < 1e-7);
//! ```

use crate::error::arg_err;
use crate::{config, ops, Result, Tensor};

/// A weight regularizer: adds `penalty(w)` to the model's loss.
#[derive(Debug, Clone, PartialEq)]
pub enum Regularizer {
    /// `L1(l1=0.01)`: `l1 * sum(|w|)`
    L1(f64),
    /// `L2(l2=0.01)`: `l2 * sum(w²)`
    L2(f64),
    /// `L1L2(l1=0.0, l2=0.0)`
    L1L2(f64, f64),
}

impl Regularizer {
    /// By Keras name (`"l1"`, `"l2"`, `"l1_l2"`) with Keras's default factors.
    pub fn get(name: &str) -> Result<Regularizer> {
        match name.to_lowercase().as_str() {
            "l1" => Ok(Regularizer::L1(0.01)),
            "l2" => Ok(Regularizer::L2(0.01)),
            "l1_l2" | "l1l2" => Ok(Regularizer::L1L2(0.01, 0.01)),
            _ => Err(arg_err(
                "regularizers.get",
                format!("unknown regularizer '{name}'; expected l1, l2 or l1_l2"),
            )),
        }
    }

    /// The penalty for weights `w` (a scalar of `w`'s dtype).
    pub fn penalty(&self, w: &Tensor) -> Result<Tensor> {
        let (l1, l2) = match *self {
            Regularizer::L1(a) => (a, 0.0),
            Regularizer::L2(b) => (0.0, b),
            Regularizer::L1L2(a, b) => (a, b),
        };
        let mut p = ops::zeros(&[], Some(w.dtype()))?;
        if l1 != 0.0 {
            p = ops::add(&p, ops::multiply(ops::sum(ops::abs(w)?, None, false)?, l1)?)?;
        }
        if l2 != 0.0 {
            p = ops::add(
                &p,
                ops::multiply(ops::sum(ops::square(w)?, None, false)?, l2)?,
            )?;
        }
        Ok(p)
    }
}

/// A weight constraint: applied to the variable after each optimizer step.
#[derive(Debug, Clone, PartialEq)]
pub enum Constraint {
    /// `MaxNorm(max_value=2, axis=0)`
    MaxNorm {
        /// largest norm
        max_value: f64,
        /// axis of the norms
        axis: i64,
    },
    /// `NonNeg()`
    NonNeg,
    /// `UnitNorm(axis=0)`
    UnitNorm(i64),
    /// `MinMaxNorm(min_value=0.0, max_value=1.0, rate=1.0, axis=0)`
    MinMaxNorm {
        /// smallest norm
        min_value: f64,
        /// largest norm
        max_value: f64,
        /// how far to move toward the range
        rate: f64,
        /// axis of the norms
        axis: i64,
    },
}

impl Constraint {
    /// By Keras name with Keras's defaults.
    pub fn get(name: &str) -> Result<Constraint> {
        match name.to_lowercase().as_str() {
            "max_norm" | "maxnorm" => Ok(Constraint::MaxNorm {
                max_value: 2.0,
                axis: 0,
            }),
            "non_neg" | "nonneg" => Ok(Constraint::NonNeg),
            "unit_norm" | "unitnorm" => Ok(Constraint::UnitNorm(0)),
            "min_max_norm" | "minmaxnorm" => Ok(Constraint::MinMaxNorm {
                min_value: 0.0,
                max_value: 1.0,
                rate: 1.0,
                axis: 0,
            }),
            _ => Err(arg_err(
                "constraints.get",
                format!(
                    "unknown constraint '{name}'; expected max_norm, non_neg, unit_norm or min_max_norm"
                ),
            )),
        }
    }

    /// The constrained weights.
    pub fn apply(&self, w: &Tensor) -> Result<Tensor> {
        let eps = config::epsilon();
        let norms = |axis: i64| ops::sqrt(ops::sum(ops::square(w)?, Some(&[axis]), true)?);
        match *self {
            Constraint::NonNeg => {
                ops::multiply(w, ops::cast(ops::greater_equal(w, 0.0)?, w.dtype())?)
            }
            Constraint::MaxNorm { max_value, axis } => {
                let n = norms(axis)?;
                let desired = ops::clip(&n, 0.0, max_value)?;
                ops::multiply(w, ops::divide(desired, ops::add(&n, eps)?)?)
            }
            Constraint::UnitNorm(axis) => ops::divide(w, ops::add(norms(axis)?, eps)?),
            Constraint::MinMaxNorm {
                min_value,
                max_value,
                rate,
                axis,
            } => {
                let n = norms(axis)?;
                let clipped = ops::clip(&n, min_value, max_value)?;
                let desired = ops::add(
                    ops::multiply(clipped, rate)?,
                    ops::multiply(&n, 1.0 - rate)?,
                )?;
                ops::multiply(w, ops::divide(desired, ops::add(&n, eps)?)?)
            }
        }
    }
}
