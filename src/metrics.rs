//! `keras.metrics`: stateful metrics whose state lives in [`Variable`]s (so
//! `stateless_update_state` / `stateless_result` come for free through
//! [`StatelessScope`](crate::StatelessScope)).
//!
//! ```
//! use ceras::metrics::Metric;
//! use ceras::Tensor;
//! let mut acc = Metric::get("sparse_categorical_accuracy").unwrap();
//! let y = Tensor::from_vec(vec![1i32, 0], [2]).unwrap();
//! let p = Tensor::from_vec(vec![0.1f32, 0.9, 0.3, 0.7], [2, 2]).unwrap();
//! acc.update_state(&y, &p, None).unwrap();
//! assert_eq!(acc.result().unwrap(), 0.5);
//! ```

use crate::error::arg_err;
use crate::losses::{same_rank, same_rank_with, Loss, LossFn};
use crate::{config, ops, DType, Result, Tensor, Variable};

/// What a metric computes per sample (then averaged with sample weights), or a
/// confusion-matrix metric.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// `Mean`: the weighted mean of the values given as `y_pred`.
    Mean,
    /// `Accuracy`: exact equality.
    Accuracy,
    /// `BinaryAccuracy(threshold=0.5)`
    BinaryAccuracy(f64),
    /// `CategoricalAccuracy`
    CategoricalAccuracy,
    /// `SparseCategoricalAccuracy`
    SparseCategoricalAccuracy,
    /// `TopKCategoricalAccuracy(k=5)`
    TopKCategoricalAccuracy(usize),
    /// `SparseTopKCategoricalAccuracy(k=5)`
    SparseTopKCategoricalAccuracy(usize),
    /// `MeanSquaredError`
    MeanSquaredError,
    /// `MeanAbsoluteError`
    MeanAbsoluteError,
    /// A loss used as a metric (`"binary_crossentropy"` etc.).
    LossMetric(String),
    /// `Precision(thresholds=0.5)`
    Precision(f64),
    /// `Recall(thresholds=0.5)`
    Recall(f64),
    /// `AUC(num_thresholds=200, curve="ROC", summation_method="interpolation",
    /// from_logits=False)`: area under the ROC or precision-recall curve.
    Auc {
        /// Number of thresholds (at least 2).
        num_thresholds: usize,
        /// `true` for the precision-recall curve, `false` for ROC.
        pr: bool,
        /// Predictions are logits (a sigmoid is applied first).
        from_logits: bool,
    },
}

/// Keras's `reduce_to_samplewise_values` (with `ops.mean`): weighs `values` by
/// `sample_weight` (after [`same_rank`], averaging the values' extra trailing axes
/// first) and averages every non-batch axis. Returns the per-sample values and the
/// per-sample weights.
fn reduce_to_samplewise_values(
    values: &Tensor,
    sample_weight: Option<&Tensor>,
) -> Result<(Tensor, Option<Tensor>)> {
    let fx = config::floatx();
    let trailing = |t: &Tensor, from: usize| -> Result<Tensor> {
        let axes: Vec<i64> = (from as i64..t.ndim() as i64).collect();
        ops::mean(t, Some(&axes), false)
    };
    let (mut v, w) = match sample_weight {
        None => (values.clone(), None),
        Some(w) => {
            let w = ops::cast(w, fx)?;
            let (v, w) = same_rank(values, &w)?;
            let (wn, vn) = (w.ndim(), v.ndim());
            let v = if vn > wn { trailing(&v, wn)? } else { v };
            let w = ops::broadcast_to(&w, v.shape())?;
            let v = ops::multiply(&v, &w)?;
            let w = if wn > 1 { trailing(&w, 1)? } else { w };
            (v, Some(w))
        }
    };
    if v.ndim() > 1 {
        v = trailing(&v, 1)?;
    }
    Ok((v, w))
}

/// A metric: a kind, a name and its state variables.
pub struct Metric {
    name: String,
    kind: Kind,
    /// Mean metrics: (total, count); confusion metrics: (true positives, false ones).
    a: Variable,
    b: Variable,
    /// AUC: true negatives and false negatives (`a`, `b` hold true and false positives).
    more: Vec<Variable>,
}

impl std::fmt::Debug for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Metric({}, {:?})", self.name, self.kind)
    }
}

fn zero_var(name: &str, shape: &[usize]) -> Result<Variable> {
    Variable::new(ops::zeros(shape, Some(config::floatx()))?, name, false)
}

/// Keras's AUC thresholds: `-epsilon`, `i / (n - 1)` for `i` in `1..n-1`, `1 + epsilon`.
fn auc_thresholds(n: usize) -> Result<Tensor> {
    let eps = 1e-7f32;
    let mut t = vec![0.0 - eps];
    t.extend((0..n - 2).map(|i| (i as f32 + 1.0) / (n as f32 - 1.0)));
    t.push(1.0 + eps);
    Tensor::from_vec(t, [n])
}

impl Metric {
    /// A metric of `kind` named `name`.
    pub fn new(kind: Kind, name: &str) -> Result<Metric> {
        let (a, b) = match kind {
            Kind::Precision(_) | Kind::Recall(_) | Kind::Auc { .. } => {
                ("true_positives", "false_positives")
            }
            _ => ("total", "count"),
        };
        let shape: Vec<usize> = match kind {
            Kind::Auc { num_thresholds, .. } => {
                if num_thresholds < 2 {
                    return Err(arg_err(
                        "AUC",
                        format!("num_thresholds must be at least 2, got {num_thresholds}"),
                    ));
                }
                vec![num_thresholds]
            }
            _ => vec![],
        };
        let (a, b) = (zero_var(a, &shape)?, zero_var(b, &shape)?);
        let more = if matches!(kind, Kind::Auc { .. }) {
            vec![
                zero_var("true_negatives", &shape)?,
                zero_var("false_negatives", &shape)?,
            ]
        } else {
            vec![]
        };
        for v in [&a, &b].into_iter().chain(&more) {
            v.set_path(format!("{name}/{}", v.name()));
        }
        Ok(Metric {
            name: name.to_string(),
            kind,
            a,
            b,
            more,
        })
    }

    /// By Keras name (`"accuracy"` is resolved by `compile` from the loss and shapes).
    pub fn get(name: &str) -> Result<Metric> {
        let kind = match name {
            "accuracy" | "acc" => Kind::Accuracy,
            "mean" => Kind::Mean,
            "binary_accuracy" => Kind::BinaryAccuracy(0.5),
            "categorical_accuracy" => Kind::CategoricalAccuracy,
            "sparse_categorical_accuracy" => Kind::SparseCategoricalAccuracy,
            "top_k_categorical_accuracy" => Kind::TopKCategoricalAccuracy(5),
            "sparse_top_k_categorical_accuracy" => Kind::SparseTopKCategoricalAccuracy(5),
            "mse" | "mean_squared_error" => Kind::MeanSquaredError,
            "mae" | "mean_absolute_error" => Kind::MeanAbsoluteError,
            "precision" => Kind::Precision(0.5),
            "recall" => Kind::Recall(0.5),
            "auc" | "AUC" => Kind::Auc {
                num_thresholds: 200,
                pr: false,
                from_logits: false,
            },
            "binary_crossentropy"
            | "categorical_crossentropy"
            | "sparse_categorical_crossentropy"
            | "huber" => Kind::LossMetric(name.into()),
            _ => {
                return Err(arg_err(
                    "metrics.get",
                    format!(
                        "unknown metric '{name}'; expected one of accuracy, binary_accuracy, \
                         categorical_accuracy, sparse_categorical_accuracy, \
                         top_k_categorical_accuracy, sparse_top_k_categorical_accuracy, mse, \
                         mae, precision, recall, mean, binary_crossentropy, \
                         categorical_crossentropy, sparse_categorical_crossentropy, huber"
                    ),
                ))
            }
        };
        Metric::new(kind, name)
    }

    /// The metric's name (the log key).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The kind.
    pub fn kind(&self) -> &Kind {
        &self.kind
    }

    /// State variables.
    pub fn variables(&self) -> Vec<Variable> {
        let mut v = vec![self.a.clone(), self.b.clone()];
        v.extend(self.more.iter().cloned());
        v
    }

    /// Zeroes the state.
    pub fn reset_state(&mut self) -> Result<()> {
        for v in self.variables() {
            v.assign(ops::zeros(v.shape(), Some(v.dtype()))?)?;
        }
        Ok(())
    }

    /// Keras's `stateless_update_state`: the new values of [`Metric::variables`]
    /// after a batch, starting from `values`; no variable is touched.
    pub fn stateless_update_state(
        &mut self,
        values: &[Tensor],
        y_true: &Tensor,
        y_pred: &Tensor,
        sample_weight: Option<&Tensor>,
    ) -> Result<Vec<Tensor>> {
        let vars = self.variables();
        let mut scope = crate::StatelessScope::checked(&self.name, &vars, values)?;
        scope.run(|| self.update_state(y_true, y_pred, sample_weight))?;
        Ok(scope.values_of(&vars))
    }

    /// Keras's `stateless_result`: the result for the given variable values.
    pub fn stateless_result(&self, values: &[Tensor]) -> Result<Tensor> {
        let vars = self.variables();
        let mut scope = crate::StatelessScope::checked(&self.name, &vars, values)?;
        scope.run(|| self.result_tensor())
    }

    /// Per-sample values of a mean metric.
    fn values(&self, yt: &Tensor, yp: &Tensor) -> Result<Tensor> {
        let fx = config::floatx();
        let eq = |a: &Tensor, b: &Tensor| ops::cast(ops::equal(a, b)?, fx);
        match &self.kind {
            Kind::Mean => Ok(yp.clone()),
            Kind::Accuracy => {
                let (a, b) = same_rank(yt, yp)?;
                let b = ops::cast(&b, a.dtype())?;
                eq(&a, &b)
            }
            Kind::BinaryAccuracy(t) => {
                let (a, b) = same_rank(yt, yp)?;
                let pred = ops::cast(ops::greater(&b, *t)?, a.dtype())?;
                eq(&a, &pred)
            }
            Kind::CategoricalAccuracy => eq(
                &ops::argmax(yt, Some(-1), false)?,
                &ops::argmax(yp, Some(-1), false)?,
            ),
            Kind::SparseCategoricalAccuracy => {
                let yt = if yt.ndim() == yp.ndim() && yt.shape().last() == Some(&1) {
                    ops::squeeze(yt, Some(&[-1]))?
                } else {
                    yt.clone()
                };
                let p = ops::argmax(yp, Some(-1), false)?;
                let p = ops::cast(&p, yt.dtype())?;
                eq(&yt, &p)
            }
            Kind::TopKCategoricalAccuracy(k) => {
                let t = ops::argmax(yt, Some(-1), false)?;
                ops::cast(ops::in_top_k(&t, yp, *k)?, fx)
            }
            Kind::SparseTopKCategoricalAccuracy(k) => {
                let t = if yt.ndim() == yp.ndim() && yt.shape().last() == Some(&1) {
                    ops::squeeze(yt, Some(&[-1]))?
                } else {
                    yt.clone()
                };
                let t = ops::cast(&t, DType::I32)?;
                ops::cast(ops::in_top_k(&t, yp, *k)?, fx)
            }
            Kind::MeanSquaredError => Loss::MeanSquaredError.call(yt, yp),
            Kind::MeanAbsoluteError => Loss::MeanAbsoluteError.call(yt, yp),
            Kind::LossMetric(n) => Loss::from(n.as_str()).call(yt, yp),
            Kind::Precision(_) | Kind::Recall(_) | Kind::Auc { .. } => {
                unreachable!("confusion metrics are updated in update_state")
            }
        }
    }

    /// Accumulates a batch.
    pub fn update_state(
        &mut self,
        y_true: &Tensor,
        y_pred: &Tensor,
        sample_weight: Option<&Tensor>,
    ) -> Result<()> {
        let fx = config::floatx();
        let yp = if y_pred.dtype().is_float() {
            y_pred.clone()
        } else {
            ops::cast(y_pred, fx)?
        };
        let yt = match self.kind {
            Kind::SparseCategoricalAccuracy | Kind::SparseTopKCategoricalAccuracy(_) => {
                y_true.clone()
            }
            _ => ops::cast(y_true, yp.dtype())?,
        };
        if let Kind::Auc {
            num_thresholds,
            from_logits,
            ..
        } = self.kind
        {
            return self.update_auc(&yt, &yp, sample_weight, num_thresholds, from_logits);
        }
        if let Kind::Precision(t) | Kind::Recall(t) = self.kind {
            // Keras's `update_confusion_matrix_variables` with one threshold: a label
            // is positive when non-zero, a prediction when above the threshold, and
            // weights broadcast to the predictions' shape.
            let (yp, yt) = same_rank(&yp, &yt)?;
            let pred = ops::greater(&yp, t)?;
            let truth = ops::not_equal(&yt, 0.0)?;
            let w = match sample_weight {
                Some(w) => {
                    let w = ops::expand_dims(ops::cast(w, fx)?, &[-1])?;
                    let (_, w) = same_rank_with(&yt, &w, false)?;
                    ops::broadcast_to(&w, yp.shape())?
                }
                None => ops::ones(yp.shape(), Some(fx))?,
            };
            let other = if matches!(self.kind, Kind::Precision(_)) {
                ops::logical_and(&pred, ops::logical_not(&truth)?)?
            } else {
                ops::logical_and(ops::logical_not(&pred)?, &truth)?
            };
            let count = |cond: &Tensor| -> Result<Tensor> {
                let zero = ops::zeros(&[], Some(fx))?;
                ops::sum(ops::r#where(cond, &w, zero)?, None, false)
            };
            self.a
                .assign_add(count(&ops::logical_and(&pred, &truth)?)?)?;
            self.b.assign_add(count(&other)?)?;
            return Ok(());
        }
        let v = ops::cast(self.values(&yt, &yp)?, fx)?;
        let (v, w) = reduce_to_samplewise_values(&v, sample_weight)?;
        let count = match w {
            Some(w) => ops::sum(&w, None, false)?,
            None => {
                let n = if v.ndim() >= 1 { v.shape()[0] } else { 1 };
                ops::full(&[], n as f64, Some(fx))?
            }
        };
        self.a.assign_add(ops::sum(&v, None, false)?)?;
        self.b.assign_add(count)?;
        Ok(())
    }

    /// Keras's confusion-matrix update for AUC (one row per threshold; a
    /// prediction is positive above the threshold, a label when non-zero).
    fn update_auc(
        &mut self,
        yt: &Tensor,
        yp: &Tensor,
        sample_weight: Option<&Tensor>,
        n: usize,
        from_logits: bool,
    ) -> Result<()> {
        let fx = config::floatx();
        let yp = if from_logits {
            ops::sigmoid(yp)?
        } else {
            yp.clone()
        };
        let (yp, yt) = same_rank(&yp, &yt.clone())?;
        let w = match sample_weight {
            Some(w) => {
                // As for precision/recall: Keras's `update_confusion_matrix_variables`.
                let w = ops::expand_dims(ops::cast(w, fx)?, &[-1])?;
                let (_, w) = same_rank_with(&yt, &w, false)?;
                ops::broadcast_to(&w, yp.shape())?
            }
            None => ops::ones(yp.shape(), Some(fx))?,
        };
        let flat = |t: &Tensor| ops::reshape(t, &[1, -1]);
        let (yp, yt, w) = (flat(&yp)?, flat(&yt)?, flat(&w)?);
        let th = ops::reshape(&auc_thresholds(n)?, &[n as i64, 1])?;
        let pred = ops::greater(&yp, ops::cast(&th, yp.dtype())?)?; // [n, N]
        let truth = ops::not_equal(&yt, 0.0)?; // [1, N]
        let zero = ops::zeros(&[], Some(fx))?;
        let count = |cond: Tensor| -> Result<Tensor> {
            ops::sum(ops::r#where(&cond, &w, &zero)?, Some(&[1]), false)
        };
        let (np, nt) = (ops::logical_not(&pred)?, ops::logical_not(&truth)?);
        self.a
            .assign_add(count(ops::logical_and(&pred, &truth)?)?)?;
        self.b.assign_add(count(ops::logical_and(&pred, &nt)?)?)?;
        self.more[0].assign_add(count(ops::logical_and(&np, &nt)?)?)?;
        self.more[1].assign_add(count(ops::logical_and(&np, &truth)?)?)?;
        Ok(())
    }

    /// The current value, as a float32 scalar computed with `ops` (so it can be
    /// traced and used inside [`Metric::stateless_result`]).
    pub fn result_tensor(&self) -> Result<Tensor> {
        let (a, b) = (self.a.value(), self.b.value());
        match self.kind {
            Kind::Precision(_) | Kind::Recall(_) => ops::divide_no_nan(&a, ops::add(&a, &b)?),
            Kind::Auc {
                num_thresholds, pr, ..
            } => {
                let (tp, fp, tn, fneg) = (a, b, self.more[0].value(), self.more[1].value());
                let n = num_thresholds as i64;
                let head = |t: &Tensor| ops::slice(t, vec![0i64], &[n - 1]);
                let tail = |t: &Tensor| ops::slice(t, vec![1i64], &[n - 1]);
                if pr {
                    // Keras's `interpolate_pr_auc` (Davis & Goadrich, 2006).
                    let dtp = ops::subtract(head(&tp)?, tail(&tp)?)?;
                    let p = ops::add(&tp, &fp)?;
                    let dp = ops::subtract(head(&p)?, tail(&p)?)?;
                    let prec_slope = ops::divide_no_nan(&dtp, ops::maximum(&dp, 0.0)?)?;
                    let intercept =
                        ops::subtract(tail(&tp)?, ops::multiply(&prec_slope, tail(&p)?)?)?;
                    let both = ops::logical_and(
                        ops::greater(head(&p)?, 0.0)?,
                        ops::greater(tail(&p)?, 0.0)?,
                    )?;
                    let safe_ratio = ops::r#where(
                        &both,
                        ops::divide_no_nan(head(&p)?, ops::maximum(tail(&p)?, 0.0)?)?,
                        ops::ones_like(tail(&p)?, None)?,
                    )?;
                    let inc = ops::divide_no_nan(
                        ops::multiply(
                            &prec_slope,
                            ops::add(&dtp, ops::multiply(&intercept, ops::log(&safe_ratio)?)?)?,
                        )?,
                        ops::maximum(ops::add(tail(&tp)?, tail(&fneg)?)?, 0.0)?,
                    )?;
                    ops::sum(&inc, None, false)
                } else {
                    let recall = ops::divide_no_nan(&tp, ops::add(&tp, &fneg)?)?;
                    let fpr = ops::divide_no_nan(&fp, ops::add(&fp, &tn)?)?;
                    let heights = ops::divide(ops::add(head(&recall)?, tail(&recall)?)?, 2.0)?;
                    let widths = ops::subtract(head(&fpr)?, tail(&fpr)?)?;
                    ops::sum(ops::multiply(&widths, &heights)?, None, false)
                }
            }
            _ => ops::divide_no_nan(&a, &b),
        }
    }

    /// The current value.
    pub fn result(&self) -> Result<f64> {
        self.result_tensor()?.item_f64()
    }
}

/// A metric given to `compile`: a Keras name (`"accuracy"`, resolved from the
/// shapes at the first step) or a typed metric such as
/// `Metric::new(Kind::Auc { .. }, "auc_pr")` (its kind and name are used; each
/// output gets its own state).
///
/// ```
/// use ceras::metrics::{Kind, Metric, MetricSpec};
/// let by_name: MetricSpec = "mae".into();
/// let typed: MetricSpec = Metric::new(Kind::TopKCategoricalAccuracy(3), "top3").unwrap().into();
/// assert_eq!(by_name.name(), "mae");
/// assert_eq!(typed.name(), "top3");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum MetricSpec {
    /// A Keras metric name.
    Name(String),
    /// A metric kind with its name (the log key).
    Typed(Kind, String),
}

impl MetricSpec {
    /// The name (log key before output prefixes).
    pub fn name(&self) -> &str {
        match self {
            MetricSpec::Name(n) | MetricSpec::Typed(_, n) => n,
        }
    }

    /// As Keras writes it in `compile_config`: a name, or a metric envelope.
    pub fn to_config(&self) -> serde_json::Value {
        use serde_json::json;
        let MetricSpec::Typed(kind, name) = self else {
            return json!(self.name());
        };
        let (class, extra) = match kind {
            Kind::Mean => ("Mean", json!({})),
            Kind::Accuracy => ("Accuracy", json!({})),
            Kind::BinaryAccuracy(t) => ("BinaryAccuracy", json!({ "threshold": t })),
            Kind::CategoricalAccuracy => ("CategoricalAccuracy", json!({})),
            Kind::SparseCategoricalAccuracy => ("SparseCategoricalAccuracy", json!({})),
            Kind::TopKCategoricalAccuracy(k) => ("TopKCategoricalAccuracy", json!({ "k": k })),
            Kind::SparseTopKCategoricalAccuracy(k) => {
                ("SparseTopKCategoricalAccuracy", json!({ "k": k }))
            }
            Kind::MeanSquaredError => ("MeanSquaredError", json!({})),
            Kind::MeanAbsoluteError => ("MeanAbsoluteError", json!({})),
            Kind::LossMetric(n) => return json!(n),
            Kind::Precision(t) => ("Precision", json!({ "thresholds": t })),
            Kind::Recall(t) => ("Recall", json!({ "thresholds": t })),
            Kind::Auc {
                num_thresholds,
                pr,
                from_logits,
            } => (
                "AUC",
                json!({"num_thresholds": num_thresholds, "curve": if *pr { "PR" } else { "ROC" },
                       "from_logits": from_logits}),
            ),
        };
        let mut cfg = json!({"name": name, "dtype": "float32"});
        if let (Some(m), serde_json::Value::Object(e)) = (cfg.as_object_mut(), extra) {
            m.extend(e);
        }
        crate::saving::serialize::envelope("keras.metrics", class, cfg)
    }

    /// Reads a metric from a name or a Keras envelope (`{"class_name": "AUC",
    /// "config": {"name": "auc_pr", "curve": "PR"}}`).
    pub fn from_config(v: &serde_json::Value) -> Result<MetricSpec> {
        const WHO: &str = "metrics.deserialize";
        let (class, cfg) = crate::saving::serialize::class_and_config(WHO, v)?;
        let Some(cfg) = cfg else {
            return Ok(MetricSpec::Name(class));
        };
        let name = cfg
            .get("name")
            .and_then(|n| n.as_str())
            .map(str::to_string)
            .unwrap_or_else(|| crate::layers::snake_case(&class));
        let f = |k: &str, d: f64| cfg.get(k).and_then(|x| x.as_f64()).unwrap_or(d);
        let k = |d: usize| {
            cfg.get("k")
                .and_then(|x| x.as_u64())
                .map_or(d, |x| x as usize)
        };
        let kind = match class.as_str() {
            "Mean" => Kind::Mean,
            "Accuracy" => Kind::Accuracy,
            "BinaryAccuracy" => Kind::BinaryAccuracy(f("threshold", 0.5)),
            "CategoricalAccuracy" => Kind::CategoricalAccuracy,
            "SparseCategoricalAccuracy" => Kind::SparseCategoricalAccuracy,
            "TopKCategoricalAccuracy" => Kind::TopKCategoricalAccuracy(k(5)),
            "SparseTopKCategoricalAccuracy" => Kind::SparseTopKCategoricalAccuracy(k(5)),
            "MeanSquaredError" => Kind::MeanSquaredError,
            "MeanAbsoluteError" => Kind::MeanAbsoluteError,
            "Precision" => Kind::Precision(f("thresholds", 0.5)),
            "Recall" => Kind::Recall(f("thresholds", 0.5)),
            "AUC" => Kind::Auc {
                num_thresholds: cfg
                    .get("num_thresholds")
                    .and_then(|x| x.as_u64())
                    .map_or(200, |x| x as usize),
                pr: cfg.get("curve").and_then(|x| x.as_str()) == Some("PR"),
                from_logits: cfg
                    .get("from_logits")
                    .and_then(|x| x.as_bool())
                    .unwrap_or(false),
            },
            _ => {
                return Err(crate::error::unsupported(
                    WHO,
                    format!("metric class '{class}'"),
                ))
            }
        };
        Ok(MetricSpec::Typed(kind, name))
    }
}

impl From<&str> for MetricSpec {
    fn from(s: &str) -> Self {
        MetricSpec::Name(s.to_string())
    }
}
impl From<&&str> for MetricSpec {
    fn from(s: &&str) -> Self {
        MetricSpec::Name(s.to_string())
    }
}
impl From<String> for MetricSpec {
    fn from(s: String) -> Self {
        MetricSpec::Name(s)
    }
}
impl From<&String> for MetricSpec {
    fn from(s: &String) -> Self {
        MetricSpec::Name(s.clone())
    }
}
impl From<Metric> for MetricSpec {
    fn from(m: Metric) -> Self {
        MetricSpec::Typed(m.kind.clone(), m.name.clone())
    }
}
impl From<&Metric> for MetricSpec {
    fn from(m: &Metric) -> Self {
        MetricSpec::Typed(m.kind.clone(), m.name.clone())
    }
}
