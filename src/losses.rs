//! `keras.losses`: loss objects with Keras's reductions and sample weights.
//!
//! ```
//! use ceras::losses::{Loss, LossFn};
//! use ceras::Tensor;
//! let mse = Loss::from("mse");
//! let l = mse.compute(&Tensor::from_vec(vec![0.0f32, 1.0], [2, 1]).unwrap(),
//!                     &Tensor::from_vec(vec![1.0f32, 1.0], [2, 1]).unwrap(), None).unwrap();
//! assert_eq!(l.item::<f32>().unwrap(), 0.5);
//! ```

use crate::error::arg_err;
use crate::{config, ops, Result, Tensor};
use std::sync::Arc;

/// How per-sample losses are reduced (Keras's `reduction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reduction {
    /// `"sum_over_batch_size"`: sum of weighted losses / number of loss values.
    #[default]
    SumOverBatchSize,
    /// `"mean"`: the same as `"sum_over_batch_size"`.
    Mean,
    /// `"sum"`
    Sum,
    /// `"mean_with_sample_weight"`: sum of weighted losses / sum of weights.
    MeanWithSampleWeight,
    /// `None`: per-sample values.
    None,
}

/// The per-sample computation of a loss.
pub trait LossFn: Send + Sync {
    /// Keras's name (`"mean_squared_error"`).
    fn name(&self) -> &str;
    /// Per-sample losses (batch shape).
    fn call(&self, y_true: &Tensor, y_pred: &Tensor) -> Result<Tensor>;
    /// The reduction.
    fn reduction(&self) -> Reduction {
        Reduction::SumOverBatchSize
    }
    /// Per-sample losses reduced with sample weights (Keras's `Loss.__call__`).
    fn compute(
        &self,
        y_true: &Tensor,
        y_pred: &Tensor,
        sample_weight: Option<&Tensor>,
    ) -> Result<Tensor> {
        let dt = if y_pred.dtype().is_float() {
            y_pred.dtype()
        } else {
            config::floatx()
        };
        let yp = ops::cast(y_pred, dt)?;
        let yt = ops::cast(y_true, dt)?;
        let values = self.call(&yt, &yp)?;
        reduce_weighted(&values, sample_weight, self.reduction())
    }
}

/// Keras's `reduce_weighted_values`.
pub fn reduce_weighted(
    values: &Tensor,
    sample_weight: Option<&Tensor>,
    r: Reduction,
) -> Result<Tensor> {
    let mut v = values.clone();
    if let Some(sw) = sample_weight {
        let sw = ops::cast(sw, v.dtype())?;
        let (a, b) = same_rank(&v, &sw)?;
        v = ops::multiply(a, b)?;
    }
    // Keras's `reduce_values` returns scalars and empty vectors unreduced.
    if v.ndim() == 0 || (v.ndim() == 1 && v.size() == 0) {
        return Ok(v);
    }
    match r {
        Reduction::None => Ok(v),
        Reduction::Sum => ops::sum(&v, None, false),
        Reduction::SumOverBatchSize | Reduction::Mean => {
            let s = ops::sum(&v, None, false)?;
            let n = ops::full(&[], v.size() as f64, Some(v.dtype()))?;
            ops::divide_no_nan(s, n)
        }
        Reduction::MeanWithSampleWeight => {
            let s = ops::sum(&v, None, false)?;
            let d = match sample_weight {
                Some(sw) => ops::sum(ops::cast(sw, v.dtype())?, None, false)?,
                None => ops::full(&[], v.size() as f64, Some(v.dtype()))?,
            };
            ops::divide_no_nan(s, d)
        }
    }
}

/// Keras's `squeeze_or_expand_to_same_rank(a, b)` (`expand_rank_1=True`): when the
/// ranks differ by one and the longer tensor ends in a 1-dim, that dim is squeezed,
/// except that a rank-1 partner is expanded instead (`(n,)` with `(n, 1)` gives two
/// `(n, 1)` tensors). Other rank differences are left to broadcasting.
pub fn same_rank(a: &Tensor, b: &Tensor) -> Result<(Tensor, Tensor)> {
    same_rank_with(a, b, true)
}

/// [`same_rank`] with Keras's `expand_rank_1` flag (`false`: always squeeze).
pub fn same_rank_with(a: &Tensor, b: &Tensor, expand_rank_1: bool) -> Result<(Tensor, Tensor)> {
    let (ra, rb) = (a.ndim(), b.ndim());
    if ra == rb + 1 && a.shape()[ra - 1] == 1 {
        if rb == 1 && expand_rank_1 {
            return Ok((a.clone(), ops::expand_dims(b, &[-1])?));
        }
        return Ok((ops::squeeze(a, Some(&[-1]))?, b.clone()));
    }
    if rb == ra + 1 && b.shape()[rb - 1] == 1 {
        if ra == 1 && expand_rank_1 {
            return Ok((ops::expand_dims(a, &[-1])?, b.clone()));
        }
        return Ok((a.clone(), ops::squeeze(b, Some(&[-1]))?));
    }
    Ok((a.clone(), b.clone()))
}

/// The built-in losses, with their options.
#[derive(Clone)]
pub enum Loss {
    /// `MeanSquaredError`
    MeanSquaredError,
    /// `MeanAbsoluteError`
    MeanAbsoluteError,
    /// `BinaryCrossentropy(from_logits=False, label_smoothing=0.0)`
    BinaryCrossentropy {
        /// inputs are logits
        from_logits: bool,
        /// label smoothing
        label_smoothing: f64,
    },
    /// `CategoricalCrossentropy(from_logits=False, label_smoothing=0.0, axis=-1)`
    CategoricalCrossentropy {
        /// inputs are logits
        from_logits: bool,
        /// label smoothing
        label_smoothing: f64,
    },
    /// `SparseCategoricalCrossentropy(from_logits=False)`
    SparseCategoricalCrossentropy {
        /// inputs are logits
        from_logits: bool,
    },
    /// `Huber(delta=1.0)`
    Huber(f64),
    /// A user loss.
    Custom(Arc<dyn LossFn>),
    /// A loss with a reduction other than `"sum_over_batch_size"` (Keras's
    /// `reduction=` argument); see [`Loss::with_reduction`].
    WithReduction(Box<Loss>, Reduction),
    /// An unknown name (reported at compile).
    Unknown(String),
}

impl std::fmt::Debug for Loss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Loss({})", self.name())
    }
}

impl From<&str> for Loss {
    fn from(s: &str) -> Loss {
        match s {
            "mse" | "mean_squared_error" | "MeanSquaredError" => Loss::MeanSquaredError,
            "mae" | "mean_absolute_error" | "MeanAbsoluteError" => Loss::MeanAbsoluteError,
            "binary_crossentropy" | "BinaryCrossentropy" => Loss::BinaryCrossentropy {
                from_logits: false,
                label_smoothing: 0.0,
            },
            "categorical_crossentropy" | "CategoricalCrossentropy" => {
                Loss::CategoricalCrossentropy {
                    from_logits: false,
                    label_smoothing: 0.0,
                }
            }
            "sparse_categorical_crossentropy" | "SparseCategoricalCrossentropy" => {
                Loss::SparseCategoricalCrossentropy { from_logits: false }
            }
            "huber" | "huber_loss" | "Huber" => Loss::Huber(1.0),
            other => Loss::Unknown(other.to_string()),
        }
    }
}

impl Loss {
    /// This loss with Keras's `reduction` argument (`MeanSquaredError(reduction="sum")`
    /// is `Loss::MeanSquaredError.with_reduction(Reduction::Sum)`).
    pub fn with_reduction(self, reduction: Reduction) -> Loss {
        match self {
            Loss::WithReduction(inner, _) => Loss::WithReduction(inner, reduction),
            other => Loss::WithReduction(Box::new(other), reduction),
        }
    }

    /// Checks a name given as a string (error lists the known names).
    pub fn check(&self) -> Result<()> {
        if let Loss::WithReduction(inner, _) = self {
            return inner.check();
        }
        if let Loss::Unknown(n) = self {
            return Err(arg_err(
                "losses.get",
                format!(
                    "unknown loss '{n}'; expected one of mean_squared_error (mse), \
                     mean_absolute_error (mae), binary_crossentropy, categorical_crossentropy, \
                     sparse_categorical_crossentropy, huber"
                ),
            ));
        }
        Ok(())
    }
}

impl LossFn for Loss {
    fn name(&self) -> &str {
        match self {
            Loss::MeanSquaredError => "mean_squared_error",
            Loss::MeanAbsoluteError => "mean_absolute_error",
            Loss::BinaryCrossentropy { .. } => "binary_crossentropy",
            Loss::CategoricalCrossentropy { .. } => "categorical_crossentropy",
            Loss::SparseCategoricalCrossentropy { .. } => "sparse_categorical_crossentropy",
            Loss::Huber(_) => "huber_loss",
            Loss::Custom(l) => l.name(),
            Loss::WithReduction(l, _) => l.name(),
            Loss::Unknown(n) => n,
        }
    }

    fn reduction(&self) -> Reduction {
        match self {
            Loss::Custom(l) => l.reduction(),
            Loss::WithReduction(_, r) => *r,
            _ => Reduction::SumOverBatchSize,
        }
    }

    fn call(&self, y_true: &Tensor, y_pred: &Tensor) -> Result<Tensor> {
        self.check()?;
        if let Loss::SparseCategoricalCrossentropy { from_logits } = self {
            return ops::sparse_categorical_crossentropy(y_true, y_pred, *from_logits, -1);
        }
        if let Loss::Custom(l) = self {
            return l.call(y_true, y_pred);
        }
        if let Loss::WithReduction(l, _) = self {
            return l.call(y_true, y_pred);
        }
        let (yt, yp) = same_rank(y_true, y_pred)?;
        match self {
            Loss::MeanSquaredError => {
                ops::mean(ops::square(ops::subtract(&yp, &yt)?)?, Some(&[-1]), false)
            }
            Loss::MeanAbsoluteError => {
                ops::mean(ops::abs(ops::subtract(&yp, &yt)?)?, Some(&[-1]), false)
            }
            Loss::BinaryCrossentropy {
                from_logits,
                label_smoothing,
            } => {
                let yt = if *label_smoothing > 0.0 {
                    ops::add(
                        ops::multiply(&yt, 1.0 - label_smoothing)?,
                        0.5 * label_smoothing,
                    )?
                } else {
                    yt
                };
                ops::mean(
                    ops::binary_crossentropy(&yt, &yp, *from_logits)?,
                    Some(&[-1]),
                    false,
                )
            }
            Loss::CategoricalCrossentropy {
                from_logits,
                label_smoothing,
            } => {
                let yt = if *label_smoothing > 0.0 {
                    let n = *yp.shape().last().unwrap_or(&1) as f64;
                    ops::add(
                        ops::multiply(&yt, 1.0 - label_smoothing)?,
                        label_smoothing / n,
                    )?
                } else {
                    yt
                };
                ops::categorical_crossentropy(&yt, &yp, *from_logits, -1)
            }
            Loss::Huber(delta) => {
                let err = ops::subtract(&yp, &yt)?;
                let abs = ops::abs(&err)?;
                let quad = ops::multiply(ops::square(&err)?, 0.5)?;
                let lin = ops::subtract(ops::multiply(&abs, *delta)?, 0.5 * delta * delta)?;
                ops::mean(
                    ops::r#where(ops::less_equal(&abs, *delta)?, quad, lin)?,
                    Some(&[-1]),
                    false,
                )
            }
            _ => unreachable!("handled above"),
        }
    }
}
