//! Models: the [`Model`] trait (compile / fit / evaluate / predict, written once),
//! [`Sequential`], and the Functional API ([`Functional`], [`Input`],
//! [`KerasTensor`]). A subclassed model is any type implementing `Model`'s
//! required methods (`core`, `core_mut`, `call`, `layers`).
//!
//! ```
//! use ceras::layers::Dense;
//! use ceras::models::{Input, Model, Sequential};
//! use ceras::{optimizers, Tensor};
//! let mut model = Sequential::new()
//!     .add(Input::new([4]))
//!     .add(Dense::new(8).activation("relu"))
//!     .add(Dense::new(1));
//! model.compile(optimizers::Adam::new(0.01), "mse", ["mae"]).unwrap();
//! let x = Tensor::from_vec((0..64).map(|i| i as f32 / 64.0).collect::<Vec<_>>(), [16, 4]).unwrap();
//! let y = ceras::ops::sum(&x, Some(&[1]), true).unwrap();
//! let h = model.fit(&x, &y).epochs(3).batch_size(4).verbose(0).run().unwrap();
//! assert_eq!(h.history["loss"].len(), 3);
//! ```

mod data;
mod functional;

pub use data::{Batch, Data, Dataset, IntoData, IterDataset};
pub use functional::{
    Functional, FunctionalLayer, InputLayer, KerasTensor, SharedLayer, SymInputs, SymSpec,
};

use crate::callbacks::{Callback, Control, Logs};
use crate::error::{arg_err, shape_err};
use crate::layers::{fmt_shape, unique_name, Layer, LayerRef};
use crate::losses::{Loss, LossFn};
use crate::metrics::{Kind, Metric, MetricSpec};
use crate::optimizers::Optimizer;
use crate::trace::PartialShape;
use crate::{autodiff, ops, DType, Result, StatelessScope, Tensor, Variable};
use data::ArrayDataset;
use std::collections::{BTreeMap, HashSet};
use std::io::{IsTerminal, Write};
use std::time::Instant;

/// `keras.Input(shape)`: the shape of one sample (no batch dimension). Add it to
/// a [`Sequential`], or turn it into a symbolic tensor with [`Input::tensor`].
#[derive(Debug, Clone)]
pub struct Input {
    shape: PartialShape,
    dtype: Option<DType>,
    batch_size: Option<usize>,
    name: Option<String>,
}

impl Input {
    /// An input of per-sample `shape`.
    pub fn new(shape: impl AsRef<[usize]>) -> Input {
        Input {
            shape: shape.as_ref().iter().map(|&d| Some(d)).collect(),
            dtype: None,
            batch_size: None,
            name: None,
        }
    }
    /// An input whose per-sample shape has unknown sizes (`None`), e.g. a
    /// variable sequence length.
    pub fn partial(shape: impl AsRef<[Option<usize>]>) -> Input {
        Input {
            shape: shape.as_ref().to_vec(),
            dtype: None,
            batch_size: None,
            name: None,
        }
    }
    /// Input dtype (default floatx).
    pub fn dtype(mut self, d: DType) -> Input {
        self.dtype = Some(d);
        self
    }
    /// A fixed batch size (default: any).
    pub fn batch_size(mut self, n: usize) -> Input {
        self.batch_size = Some(n);
        self
    }
    /// The input's name (its layer's name; also the key of dict inputs).
    pub fn name(mut self, n: &str) -> Input {
        self.name = Some(n.to_string());
        self
    }
    /// Shape with the batch dimension first (`None` unless fixed).
    pub fn batch_shape(&self) -> PartialShape {
        let mut s = vec![self.batch_size];
        s.extend(&self.shape);
        s
    }
}

/// The compile-time state every model carries.
#[derive(Default)]
pub struct ModelCore {
    name: String,
    compiled: Option<Compiled>,
    /// Set by callbacks (or users) to stop `fit` after the current epoch.
    pub stop_training: bool,
}

impl ModelCore {
    /// A core for a model named `name` (made unique like layer names).
    pub fn new(prefix: &str) -> ModelCore {
        ModelCore::exact(&unique_name(prefix))
    }
    /// A core for a model named exactly `name`.
    pub fn exact(name: &str) -> ModelCore {
        ModelCore {
            name: name.to_string(),
            compiled: None,
            stop_training: false,
        }
    }
    /// The model's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The compile settings as Keras's `compile_config` values: optimizer,
    /// loss, loss_weights, metrics, weighted_metrics (`None` if not compiled).
    #[allow(clippy::type_complexity)]
    pub(crate) fn compile_parts(
        &self,
    ) -> Result<
        Option<(
            &Optimizer,
            serde_json::Value,
            serde_json::Value,
            serde_json::Value,
            serde_json::Value,
        )>,
    > {
        use serde_json::{json, Value};
        let Some(c) = &self.compiled else {
            return Ok(None);
        };
        fn per<T>(p: &PerOutput<T>, f: &dyn Fn(&T) -> Result<Value>) -> Result<Value> {
            Ok(match p {
                PerOutput::Unset => Value::Null,
                PerOutput::All(v) => f(v)?,
                PerOutput::List(v) => Value::Array(v.iter().map(f).collect::<Result<_>>()?),
                PerOutput::Named(v) => Value::Object(
                    v.iter()
                        .map(|(k, x)| Ok((k.clone(), f(x)?)))
                        .collect::<Result<_>>()?,
                ),
            })
        }
        let loss = per(&c.spec.loss, &crate::saving::compile_config::loss_config)?;
        let weights = per(&c.spec.loss_weights, &|w| Ok(json!(w)))?;
        let list =
            |m: &Vec<MetricSpec>| Ok(Value::Array(m.iter().map(MetricSpec::to_config).collect()));
        let metrics = per(&c.spec.metrics, &list)?;
        let weighted = per(&c.spec.weighted_metrics, &list)?;
        Ok(Some((&c.optimizer, loss, weights, metrics, weighted)))
    }
}

/// One value for every output, a list (one per output), or values by output name
/// (the three forms Keras's `compile` accepts).
#[derive(Clone, Debug)]
enum PerOutput<T> {
    Unset,
    All(T),
    List(Vec<T>),
    Named(Vec<(String, T)>),
}

impl<T: Clone> PerOutput<T> {
    /// Resolves to one optional value per output.
    fn resolve(&self, who: &str, what: &str, names: &[String]) -> Result<Vec<Option<T>>> {
        let n = names.len();
        match self {
            PerOutput::Unset => Ok(vec![None; n]),
            PerOutput::All(v) => Ok(vec![Some(v.clone()); n]),
            PerOutput::List(v) => {
                if v.len() != n {
                    return Err(arg_err(
                        who,
                        format!(
                            "`{what}` has {} entries but the model has {n} output(s) {names:?}; give one per output",
                            v.len()
                        ),
                    ));
                }
                Ok(v.iter().cloned().map(Some).collect())
            }
            PerOutput::Named(m) => {
                for (k, _) in m {
                    if !names.contains(k) {
                        return Err(arg_err(
                            who,
                            format!("unknown output name '{k}' in `{what}`; the model's outputs are {names:?}"),
                        ));
                    }
                }
                Ok(names
                    .iter()
                    .map(|nm| m.iter().find(|(k, _)| k == nm).map(|(_, v)| v.clone()))
                    .collect())
            }
        }
    }

    fn push_named(&mut self, name: &str, v: T) {
        match self {
            PerOutput::Named(m) => m.push((name.to_string(), v)),
            _ => *self = PerOutput::Named(vec![(name.to_string(), v)]),
        }
    }
}

/// Everything `compile` takes (Keras's `compile(optimizer, loss, loss_weights,
/// metrics, weighted_metrics)`), for models with several outputs. The short form
/// is [`Model::compile`].
///
/// ```
/// use ceras::models::Compile;
/// let c = Compile::new("adam")
///     .loss_for("reg", "mse")
///     .loss_for("cls", "sparse_categorical_crossentropy")
///     .loss_weight_for("cls", 0.5)
///     .metrics_for("cls", ["accuracy"]);
/// ```
pub struct Compile {
    optimizer: Result<Optimizer>,
    loss: PerOutput<Loss>,
    loss_weights: PerOutput<f64>,
    metrics: PerOutput<Vec<MetricSpec>>,
    weighted_metrics: PerOutput<Vec<MetricSpec>>,
}

fn names_of<S: Into<MetricSpec>>(ms: impl IntoIterator<Item = S>) -> Vec<MetricSpec> {
    ms.into_iter().map(Into::into).collect()
}

impl Compile {
    /// Starts a configuration with an [`Optimizer`] or an optimizer name.
    pub fn new(optimizer: impl IntoOptimizer) -> Compile {
        Compile {
            optimizer: optimizer.into_optimizer(),
            loss: PerOutput::Unset,
            loss_weights: PerOutput::Unset,
            metrics: PerOutput::Unset,
            weighted_metrics: PerOutput::Unset,
        }
    }
    /// One loss, applied to every output.
    pub fn loss(mut self, loss: impl Into<Loss>) -> Self {
        self.loss = PerOutput::All(loss.into());
        self
    }
    /// One loss per output, in output order.
    pub fn losses<L: Into<Loss>>(mut self, losses: impl IntoIterator<Item = L>) -> Self {
        self.loss = PerOutput::List(losses.into_iter().map(Into::into).collect());
        self
    }
    /// The loss of the output named `output` (outputs without a loss are not trained).
    pub fn loss_for(mut self, output: &str, loss: impl Into<Loss>) -> Self {
        self.loss.push_named(output, loss.into());
        self
    }
    /// Weights of the per-output losses in the total, in output order (default 1).
    pub fn loss_weights(mut self, w: impl IntoIterator<Item = f64>) -> Self {
        self.loss_weights = PerOutput::List(w.into_iter().collect());
        self
    }
    /// The loss weight of one output.
    pub fn loss_weight_for(mut self, output: &str, w: f64) -> Self {
        self.loss_weights.push_named(output, w);
        self
    }
    /// Metric names. With several outputs, Keras's rule: one entry per output.
    pub fn metrics<S: Into<MetricSpec>>(mut self, metrics: impl IntoIterator<Item = S>) -> Self {
        self.metrics = PerOutput::All(names_of(metrics));
        self
    }
    /// Metrics for each output, in output order.
    pub fn metrics_per_output<S: Into<MetricSpec>, I: IntoIterator<Item = S>>(
        mut self,
        metrics: impl IntoIterator<Item = I>,
    ) -> Self {
        self.metrics = PerOutput::List(metrics.into_iter().map(names_of).collect());
        self
    }
    /// Metrics of the output named `output`.
    pub fn metrics_for<S: Into<MetricSpec>>(
        mut self,
        output: &str,
        metrics: impl IntoIterator<Item = S>,
    ) -> Self {
        self.metrics.push_named(output, names_of(metrics));
        self
    }
    /// Metrics weighted by `sample_weight` / `class_weight` (plain `metrics` are not).
    pub fn weighted_metrics<S: Into<MetricSpec>>(
        mut self,
        metrics: impl IntoIterator<Item = S>,
    ) -> Self {
        self.weighted_metrics = PerOutput::All(names_of(metrics));
        self
    }
    /// Weighted metrics of the output named `output`.
    pub fn weighted_metrics_for<S: Into<MetricSpec>>(
        mut self,
        output: &str,
        metrics: impl IntoIterator<Item = S>,
    ) -> Self {
        self.weighted_metrics.push_named(output, names_of(metrics));
        self
    }
}

/// Metric names of a flat list under Keras's rule for several outputs.
fn resolve_metric_names(
    who: &str,
    what: &str,
    spec: &PerOutput<Vec<MetricSpec>>,
    names: &[String],
) -> Result<Vec<Vec<MetricSpec>>> {
    if let PerOutput::All(list) = spec {
        if names.len() > 1 && !list.is_empty() {
            if list.len() != names.len() {
                return Err(arg_err(
                    who,
                    format!(
                        "for a model with multiple outputs, when providing the `{what}` argument as a list, it should have as many entries as the model has outputs ({}); got {}. Use `{what}_for(output, ...)` or `{what}_per_output` to give several per output",
                        names.len(),
                        list.len()
                    ),
                ));
            }
            return Ok(list.iter().map(|m| vec![m.clone()]).collect());
        }
    }
    Ok(spec
        .resolve(who, what, names)?
        .into_iter()
        .map(Option::unwrap_or_default)
        .collect())
}

struct Compiled {
    optimizer: Optimizer,
    spec: Compile,
    resolved: Option<Resolved>,
    loss_tracker: Metric,
    /// The per-output losses of the last `compute_loss` (for the logs).
    last_losses: Vec<Option<Tensor>>,
}

/// The compile settings matched to the model's outputs (at the first step).
struct Resolved {
    names: Vec<String>,
    losses: Vec<Option<Loss>>,
    weights: Vec<f64>,
    metrics: Vec<Vec<Metric>>,
    weighted: Vec<Vec<Metric>>,
    /// Per-output loss trackers (`{output}_loss`), with several outputs.
    output_loss_trackers: Vec<Option<Metric>>,
}

/// The training history returned by `fit` (Keras's `History.history`).
#[derive(Debug, Clone, Default)]
pub struct History {
    /// Values per epoch for each log key.
    pub history: BTreeMap<String, Vec<f64>>,
    /// Epoch indices run.
    pub epoch: Vec<usize>,
}

/// Keras's `get_metric` for `"accuracy"`: picks binary / sparse / categorical
/// accuracy from the shapes of the first batch.
fn resolve_metric(name: &str, log_name: &str, y_true: &Tensor, y_pred: &Tensor) -> Result<Metric> {
    if name != "accuracy" && name != "acc" {
        let m = Metric::get(name)?;
        return Metric::new(m.kind().clone(), log_name);
    }
    let last = y_pred.shape().last().copied().unwrap_or(1);
    let kind = if last == 1 {
        Kind::BinaryAccuracy(0.5)
    } else if y_true.ndim() + 1 == y_pred.ndim() || y_true.shape().last() == Some(&1) {
        Kind::SparseCategoricalAccuracy
    } else {
        Kind::CategoricalAccuracy
    };
    Metric::new(kind, log_name)
}

/// Matches targets to the model outputs: one tensor for a single output, a list
/// in output order, or a dict by output name.
fn bind_targets(who: &str, y: &Data, names: &[String]) -> Result<Vec<Option<Tensor>>> {
    match y {
        Data::Dict(_) => Ok(names.iter().map(|n| y.get(n).cloned()).collect()),
        _ => {
            if y.len() != names.len() {
                return Err(arg_err(
                    who,
                    format!(
                        "the model has {} output(s) {names:?} but {} target array(s) were given",
                        names.len(),
                        y.len()
                    ),
                ));
            }
            Ok(y.tensors().into_iter().cloned().map(Some).collect())
        }
    }
}

fn batch_len(x: &Data) -> usize {
    x.tensors()
        .first()
        .and_then(|t| t.shape().first().copied())
        .unwrap_or(1)
}

/// A Keras model: implement `core`, `core_mut`, `call` and `layers`; everything
/// else (compile, fit, evaluate, predict, summary, stateless calls) is provided.
/// Models with several inputs or outputs override [`Model::call_data`] too.
pub trait Model: Send {
    /// The compile state.
    fn core(&self) -> &ModelCore;
    /// The compile state, mutably.
    fn core_mut(&mut self) -> &mut ModelCore;
    /// The forward pass (builds layers on first use).
    fn call(&mut self, x: &Tensor, training: bool) -> Result<Tensor>;
    /// The layers, for variables, regularization and summaries
    /// (`vec![(&self.dense).into(), ...]`).
    fn layers(&self) -> Vec<LayerRef<'_>>;

    /// The forward pass on structured inputs; the default passes a single tensor
    /// to [`Model::call`].
    fn call_data(&mut self, x: &Data, training: bool) -> Result<Data> {
        let name = self.name().to_string();
        let x = x.single(&name)?.clone();
        Ok(Data::Tensor(self.call(&x, training)?))
    }

    /// Output names (keys of per-output losses, metrics and logs). The default is
    /// one output named after the model.
    fn output_names(&self) -> Vec<String> {
        vec![self.name().to_string()]
    }

    /// The model's name.
    fn name(&self) -> &str {
        self.core().name()
    }

    /// All weights of all layers (each once).
    fn variables(&self) -> Vec<Variable> {
        let mut seen = HashSet::new();
        self.layers()
            .iter()
            .flat_map(|l| l.weights())
            .filter(|v| seen.insert(v.id()))
            .collect()
    }

    /// Weights updated by the optimizer.
    fn trainable_variables(&self) -> Vec<Variable> {
        self.variables()
            .into_iter()
            .filter(|v| v.trainable())
            .collect()
    }

    /// Weights not updated by the optimizer.
    fn non_trainable_variables(&self) -> Vec<Variable> {
        self.variables()
            .into_iter()
            .filter(|v| !v.trainable())
            .collect()
    }

    /// Number of scalars in all weights.
    fn count_params(&self) -> usize {
        self.variables().iter().map(|v| v.size()).sum()
    }

    /// Configures training: optimizer (an [`Optimizer`] or a name like `"adam"`),
    /// loss (a [`Loss`] or a name, applied to every output) and metric names. See
    /// [`Model::compile_with`] for per-output losses, loss weights and weighted
    /// metrics.
    fn compile<O, L, M, S>(&mut self, optimizer: O, loss: L, metrics: M) -> Result<()>
    where
        Self: Sized,
        O: IntoOptimizer,
        L: Into<Loss>,
        M: IntoIterator<Item = S>,
        S: Into<MetricSpec>,
    {
        self.compile_with(Compile::new(optimizer).loss(loss).metrics(metrics))
    }

    /// Keras's full `compile`.
    fn compile_with(&mut self, config: Compile) -> Result<()> {
        let mut config = config;
        let optimizer = std::mem::replace(
            &mut config.optimizer,
            Err(arg_err("compile", "optimizer already taken")),
        )?;
        let check = |l: &Loss| l.check();
        match &config.loss {
            PerOutput::All(l) => check(l)?,
            PerOutput::List(v) => v.iter().try_for_each(check)?,
            PerOutput::Named(v) => v.iter().try_for_each(|(_, l)| check(l))?,
            PerOutput::Unset => {}
        }
        for spec in [&config.metrics, &config.weighted_metrics] {
            let all: Vec<&MetricSpec> = match spec {
                PerOutput::All(v) => v.iter().collect(),
                PerOutput::List(v) => v.iter().flatten().collect(),
                PerOutput::Named(v) => v.iter().flat_map(|(_, m)| m).collect(),
                PerOutput::Unset => vec![],
            };
            for m in all {
                if let MetricSpec::Name(n) = m {
                    Metric::get(n)?;
                }
            }
        }
        self.core_mut().compiled = Some(Compiled {
            optimizer,
            spec: config,
            resolved: None,
            loss_tracker: Metric::new(Kind::Mean, "loss")?,
            last_losses: Vec::new(),
        });
        Ok(())
    }

    /// The compiled optimizer.
    fn optimizer(&mut self) -> Option<&mut Optimizer> {
        self.core_mut().compiled.as_mut().map(|c| &mut c.optimizer)
    }

    /// The compiled optimizer, read-only.
    fn compiled_optimizer(&self) -> Option<&Optimizer> {
        self.core().compiled.as_ref().map(|c| &c.optimizer)
    }

    /// The model's Keras config envelope (what `.keras` files hold in
    /// `config.json`). Sequential and Functional models have one; a subclassed
    /// model must provide it to be saved whole (else save its weights).
    fn to_keras_config(&self) -> Result<serde_json::Value> {
        Err(crate::error::unsupported(
            "save",
            format!(
                "model '{}' is a subclassed model without a Keras config; save its weights with save_weights",
                self.name()
            ),
        ))
    }

    /// `model.save(path)`: the whole model (architecture, weights, compile
    /// settings, optimizer state) to a `.keras` file that Python Keras 3 loads.
    fn save(&self, path: impl AsRef<std::path::Path>) -> Result<()>
    where
        Self: Sized,
    {
        crate::saving::save_model(self, path)
    }

    /// Matches the compile settings to the outputs (once, at the first step;
    /// `"accuracy"` needs the shapes of the first batch).
    fn resolve_compile(&mut self, y: &Data, y_pred: &Data) -> Result<()> {
        let name = self.name().to_string();
        let names = match y_pred {
            Data::Dict(v) => v.iter().map(|(k, _)| k.clone()).collect(),
            _ => {
                let n = self.output_names();
                if n.len() == y_pred.len() {
                    n
                } else {
                    (0..y_pred.len()).map(|i| format!("output_{i}")).collect()
                }
            }
        };
        let c = self
            .core_mut()
            .compiled
            .as_mut()
            .ok_or_else(|| not_compiled(&name))?;
        if c.resolved.is_some() {
            return Ok(());
        }
        let losses = c.spec.loss.resolve(&name, "loss", &names)?;
        if losses.iter().all(Option::is_none) {
            return Err(arg_err(
                &name,
                "no loss to compute; provide a `loss` argument in `compile()`",
            ));
        }
        let weights: Vec<f64> = c
            .spec
            .loss_weights
            .resolve(&name, "loss_weights", &names)?
            .into_iter()
            .map(|w| w.unwrap_or(1.0))
            .collect();
        let multi = names.len() > 1;
        let targets = bind_targets(&name, y, &names)?;
        let preds = y_pred.tensors();
        let make = |spec: &PerOutput<Vec<MetricSpec>>, what: &str, weighted: bool| {
            let lists = resolve_metric_names(&name, what, spec, &names)?;
            let mut out = Vec::new();
            for (i, list) in lists.iter().enumerate() {
                let mut ms = Vec::new();
                for spec in list {
                    let m = spec.name();
                    let base = if weighted && !multi {
                        format!("weighted_{m}")
                    } else {
                        m.to_string()
                    };
                    let log = if multi {
                        format!("{}_{base}", names[i])
                    } else {
                        base
                    };
                    let yt = targets[i].clone().unwrap_or_else(|| preds[i].clone());
                    ms.push(match spec {
                        MetricSpec::Name(m) => resolve_metric(m, &log, &yt, preds[i])?,
                        MetricSpec::Typed(kind, _) => Metric::new(kind.clone(), &log)?,
                    });
                }
                out.push(ms);
            }
            Ok::<_, crate::Error>(out)
        };
        let metrics = make(&c.spec.metrics, "metrics", false)?;
        let weighted = make(&c.spec.weighted_metrics, "weighted_metrics", true)?;
        let output_loss_trackers = losses
            .iter()
            .zip(&names)
            .map(|(l, n)| {
                if multi && l.is_some() {
                    Metric::new(Kind::Mean, &format!("{n}_loss")).map(Some)
                } else {
                    Ok(None)
                }
            })
            .collect::<Result<_>>()?;
        c.resolved = Some(Resolved {
            names,
            losses,
            weights,
            metrics,
            weighted,
            output_loss_trackers,
        });
        Ok(())
    }

    /// Loss of a batch (the weighted sum of the per-output losses) plus the
    /// layers' regularization penalties (Keras's `compute_loss`).
    fn compute_loss(
        &mut self,
        y: &Data,
        y_pred: &Data,
        sample_weight: Option<&Tensor>,
    ) -> Result<Tensor> {
        self.resolve_compile(y, y_pred)?;
        let name = self.name().to_string();
        let mut penalties = Vec::new();
        for l in self.layers() {
            penalties.extend(l.losses()?);
        }
        let c = self
            .core_mut()
            .compiled
            .as_mut()
            .ok_or_else(|| not_compiled(&name))?;
        let r = c.resolved.as_ref().ok_or_else(|| not_compiled(&name))?;
        let targets = bind_targets(&name, y, &r.names)?;
        let preds = y_pred.tensors();
        let mut total: Option<Tensor> = None;
        let mut per = Vec::new();
        for (i, loss) in r.losses.iter().enumerate() {
            let Some(loss) = loss else {
                per.push(None);
                continue;
            };
            let yt = targets[i].as_ref().ok_or_else(|| {
                arg_err(
                    &name,
                    format!(
                        "no target given for output '{}', which has a loss",
                        r.names[i]
                    ),
                )
            })?;
            let li = loss.compute(yt, preds[i], sample_weight)?;
            let wi = if r.weights[i] == 1.0 {
                li.clone()
            } else {
                ops::multiply(
                    &li,
                    ops::cast(&Tensor::scalar(r.weights[i] as f32)?, li.dtype())?,
                )?
            };
            total = Some(match total {
                None => wi,
                Some(t) => ops::add(&t, &wi)?,
            });
            per.push(Some(li));
        }
        c.last_losses = per;
        let mut loss = total.ok_or_else(|| arg_err(&name, "no loss to compute"))?;
        for p in penalties {
            loss = ops::add(&loss, ops::cast(&p, loss.dtype())?)?;
        }
        Ok(loss)
    }

    /// Keras's `stateless_call`: the output for given variable values, and the
    /// new non-trainable values; no variable is touched.
    fn stateless_call(
        &mut self,
        trainable: &[Tensor],
        non_trainable: &[Tensor],
        x: &Tensor,
        training: bool,
    ) -> Result<(Tensor, Vec<Tensor>)> {
        let name = self.name().to_string();
        let (y, nt) =
            self.stateless_call_data(trainable, non_trainable, &Data::Tensor(x.clone()), training)?;
        Ok((y.single(&name)?.clone(), nt))
    }

    /// [`Model::stateless_call`] on structured inputs and outputs.
    fn stateless_call_data(
        &mut self,
        trainable: &[Tensor],
        non_trainable: &[Tensor],
        x: &Data,
        training: bool,
    ) -> Result<(Data, Vec<Tensor>)> {
        if self.variables().is_empty() {
            self.call_data(x, training)?; // build
        }
        let (tv, ntv) = (self.trainable_variables(), self.non_trainable_variables());
        let mut vars = tv.clone();
        vars.extend(ntv.iter().cloned());
        let mut vals = trainable.to_vec();
        vals.extend(non_trainable.iter().cloned());
        let mut scope = StatelessScope::checked("stateless_call", &vars, &vals)?;
        let y = scope.run(|| self.call_data(x, training))?;
        Ok((y, scope.values_of(&ntv)))
    }

    /// One training step (Keras's `train_step`): forward and loss as a pure
    /// function of the variable values (inside a [`StatelessScope`]), gradients by
    /// reverse mode, then the optimizer update and the metrics.
    fn train_step(&mut self, x: &Data, y: &Data, sample_weight: Option<&Tensor>) -> Result<Logs> {
        let name = self.name().to_string();
        if self.core().compiled.is_none() {
            return Err(not_compiled(&name));
        }
        let mut all = self.variables();
        if all.is_empty() {
            self.call_data(&x.take_rows(&[0])?, false)?; // build the layers
            all = self.variables();
        }
        let (tv, ntv): (Vec<Variable>, Vec<Variable>) =
            all.into_iter().partition(|v| v.trainable());
        let tvals: Vec<Tensor> = tv.iter().map(|v| v.value()).collect();
        let mut bind: Vec<(Variable, Tensor)> =
            tv.iter().cloned().zip(tvals.iter().cloned()).collect();
        bind.extend(ntv.iter().map(|v| (v.clone(), v.value())));
        let mut scope = StatelessScope::new(&bind);
        let (loss, grads, y_pred) = scope.run(|| {
            let tape = autodiff::GradientTape::new();
            for t in &tvals {
                tape.watch(t);
            }
            let y_pred = self.call_data(x, true)?;
            let loss = self.compute_loss(y, &y_pred, sample_weight)?;
            let refs: Vec<&Tensor> = tvals.iter().collect();
            let g = tape.gradient(&loss, &refs)?;
            let grads = g
                .into_iter()
                .zip(&tvals)
                .map(|(g, t)| g.map_or_else(|| ops::zeros_like(t, None), Ok))
                .collect::<Result<Vec<_>>>()?;
            Ok((loss, grads, y_pred))
        })?;
        // Commit the new non-trainable state (e.g. batch-norm statistics).
        for v in scope.assigned() {
            if let Some(val) = scope.get(v) {
                v.assign(val)?;
            }
        }
        let c = self
            .core_mut()
            .compiled
            .as_mut()
            .ok_or_else(|| not_compiled(&name))?;
        c.optimizer.apply(&grads, &tv)?;
        for l in self.layers() {
            l.apply_constraints()?;
        }
        self.update_metrics(&loss, batch_len(x), y, &y_pred, sample_weight)
    }

    /// Updates the loss trackers and compiled metrics; returns the running logs.
    fn update_metrics(
        &mut self,
        loss: &Tensor,
        batch: usize,
        y: &Data,
        y_pred: &Data,
        sample_weight: Option<&Tensor>,
    ) -> Result<Logs> {
        self.resolve_compile(y, y_pred)?;
        let name = self.name().to_string();
        let c = self
            .core_mut()
            .compiled
            .as_mut()
            .ok_or_else(|| not_compiled(&name))?;
        let n = Tensor::scalar(batch as f32)?;
        let zero = Tensor::scalar(0f32)?;
        c.loss_tracker.update_state(&zero, loss, Some(&n))?;
        let r = c.resolved.as_mut().ok_or_else(|| not_compiled(&name))?;
        let targets = bind_targets(&name, y, &r.names)?;
        let preds = y_pred.tensors();
        let mut logs = Logs::new();
        for (i, t) in r.output_loss_trackers.iter_mut().enumerate() {
            if let (Some(t), Some(Some(l))) = (t, c.last_losses.get(i)) {
                t.update_state(&zero, l, Some(&n))?;
                logs.insert(t.name().to_string(), t.result()?);
            }
        }
        for (i, yt) in targets.iter().enumerate() {
            let Some(yt) = yt else { continue };
            for m in &mut r.metrics[i] {
                m.update_state(yt, preds[i], None)?;
                logs.insert(m.name().to_string(), m.result()?);
            }
            for m in &mut r.weighted[i] {
                m.update_state(yt, preds[i], sample_weight)?;
                logs.insert(m.name().to_string(), m.result()?);
            }
        }
        logs.insert("loss".into(), c.loss_tracker.result()?);
        Ok(logs)
    }

    /// Zeroes the loss trackers and metrics.
    fn reset_metrics(&mut self) -> Result<()> {
        if let Some(c) = self.core_mut().compiled.as_mut() {
            c.loss_tracker.reset_state()?;
            if let Some(r) = c.resolved.as_mut() {
                for m in r
                    .metrics
                    .iter_mut()
                    .chain(r.weighted.iter_mut())
                    .flatten()
                    .chain(r.output_loss_trackers.iter_mut().flatten())
                {
                    m.reset_state()?;
                }
            }
        }
        Ok(())
    }

    /// One evaluation step (Keras's `test_step`).
    fn test_step(&mut self, x: &Data, y: &Data, sample_weight: Option<&Tensor>) -> Result<Logs> {
        let y_pred = self.call_data(x, false)?;
        let loss = self.compute_loss(y, &y_pred, sample_weight)?;
        self.update_metrics(&loss, batch_len(x), y, &y_pred, sample_weight)
    }

    /// One prediction step (Keras's `predict_step`).
    fn predict_step(&mut self, x: &Data) -> Result<Data> {
        self.call_data(x, false)
    }

    /// `train_on_batch`: one step on one batch; returns the logs.
    fn train_on_batch(&mut self, x: impl IntoData, y: impl IntoData) -> Result<Logs>
    where
        Self: Sized,
    {
        self.reset_metrics()?;
        self.train_step(&x.into_data()?, &y.into_data()?, None)
    }

    /// `test_on_batch`.
    fn test_on_batch(&mut self, x: impl IntoData, y: impl IntoData) -> Result<Logs>
    where
        Self: Sized,
    {
        self.reset_metrics()?;
        self.test_step(&x.into_data()?, &y.into_data()?, None)
    }

    /// `predict_on_batch` (single-output models; see [`Model::predict_step`]).
    fn predict_on_batch(&mut self, x: impl IntoData) -> Result<Tensor>
    where
        Self: Sized,
    {
        let name = self.name().to_string();
        Ok(self.predict_step(&x.into_data()?)?.single(&name)?.clone())
    }

    /// Starts a `fit` call on arrays (tensors, lists or dicts of tensors,
    /// `ndarray` arrays, `Vec`s); set options on the returned builder, then
    /// `.run()`.
    fn fit<'a>(&'a mut self, x: impl IntoData, y: impl IntoData) -> Fit<'a, Self>
    where
        Self: Sized,
    {
        let source = match (x.into_data(), y.into_data()) {
            (Ok(x), Ok(y)) => Source::Arrays(x, y),
            (Err(e), _) | (_, Err(e)) => Source::Invalid(e),
        };
        Fit::new(self, source)
    }

    /// Starts a `fit` call on a [`Dataset`] (batches come from it; `batch_size`,
    /// `validation_split` and `shuffle` do not apply).
    fn fit_dataset<'a>(&'a mut self, dataset: impl Dataset + 'a) -> Fit<'a, Self>
    where
        Self: Sized,
    {
        Fit::new(self, Source::Dataset(Box::new(dataset)))
    }

    /// `evaluate(x, y, batch_size=32)`: the loss and metrics over the data.
    fn evaluate(
        &mut self,
        x: impl IntoData,
        y: impl IntoData,
        batch_size: usize,
        verbose: u8,
    ) -> Result<Logs>
    where
        Self: Sized,
    {
        let name = self.name().to_string();
        let mut ds = ArrayDataset::new(
            &name,
            x.into_data()?,
            Some(y.into_data()?),
            None,
            batch_size,
            false,
        )?;
        self.evaluate_dataset(&mut ds, None, verbose)
    }

    /// `evaluate` over a [`Dataset`] (`steps`: at most this many batches).
    fn evaluate_dataset(
        &mut self,
        dataset: &mut dyn Dataset,
        steps: Option<usize>,
        verbose: u8,
    ) -> Result<Logs> {
        let name = self.name().to_string();
        if self.core().compiled.is_none() {
            return Err(not_compiled(&name));
        }
        self.reset_metrics()?;
        let steps = epoch_steps(&name, dataset.num_batches(), steps)?;
        let mut bar = Progbar::new(steps, verbose);
        let mut logs = Logs::new();
        for s in 0..steps {
            let b = dataset.get_batch(s)?;
            let y = b.y.ok_or_else(|| {
                arg_err(
                    &name,
                    format!("evaluate: batch {s} of the dataset has no targets"),
                )
            })?;
            logs = self.test_step(&b.x, &y, b.sample_weight.as_ref())?;
            bar.update(s + 1, &logs, false);
        }
        bar.update(steps, &logs, true);
        Ok(logs)
    }

    /// `predict(x, batch_size=32)` for single-output models: outputs for all samples.
    fn predict(&mut self, x: impl IntoData, batch_size: usize) -> Result<Tensor>
    where
        Self: Sized,
    {
        let name = self.name().to_string();
        Ok(self.predict_outputs(x, batch_size)?.single(&name)?.clone())
    }

    /// `predict` keeping the output structure (a list or dict of arrays for
    /// models with several outputs).
    fn predict_outputs(&mut self, x: impl IntoData, batch_size: usize) -> Result<Data>
    where
        Self: Sized,
    {
        let name = self.name().to_string();
        let mut ds = ArrayDataset::new(&name, x.into_data()?, None, None, batch_size, false)?;
        self.predict_dataset(&mut ds, None)
    }

    /// `predict` over a [`Dataset`].
    fn predict_dataset(&mut self, dataset: &mut dyn Dataset, steps: Option<usize>) -> Result<Data> {
        let name = self.name().to_string();
        let steps = epoch_steps(&name, dataset.num_batches(), steps)?;
        let mut outs = Vec::new();
        for s in 0..steps {
            let b = dataset.get_batch(s)?;
            if batch_len(&b.x) == 0 {
                continue;
            }
            outs.push(self.predict_step(&b.x)?);
        }
        if outs.is_empty() {
            return Err(shape_err(&name, "predict: no samples"));
        }
        Data::concat(&outs)
    }

    /// Saves the weights to a `.weights.npz` file (atomically; see [`crate::saving`]).
    fn save_weights(&self, path: impl AsRef<std::path::Path>) -> Result<()>
    where
        Self: Sized,
    {
        let p = path.as_ref();
        if p.to_string_lossy().ends_with(".h5") {
            crate::saving::keras::save_weights_h5(self, p)
        } else {
            crate::saving::save_weights(&self.variables(), p)
        }
    }

    /// Loads weights saved by [`Model::save_weights`] or by Python Keras
    /// (`.weights.h5`, sharded `.weights.json`, the weights of a `.keras` file)
    /// into a built model of the same architecture.
    fn load_weights(&mut self, path: impl AsRef<std::path::Path>) -> Result<()>
    where
        Self: Sized,
    {
        let vars = self.variables();
        if vars.is_empty() {
            return Err(arg_err(
                self.name(),
                "load_weights: the model has no variables yet; build it first (give it an Input or call it once)",
            ));
        }
        let p = path.as_ref();
        let n = p.to_string_lossy();
        if n.ends_with(".h5") || n.ends_with(".keras") || n.ends_with(".weights.json") {
            crate::saving::keras::load_weights_h5(self, p)
        } else {
            crate::saving::load_weights(&vars, p)
        }
    }

    /// Prints Keras's summary table.
    fn summary(&self) {
        print!("{}", self.summary_string());
    }

    /// Keras's summary table as a string.
    fn summary_string(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .layers()
            .iter()
            .map(|l| {
                let shape = l
                    .base()
                    .input_shape()
                    .and_then(|s| {
                        let mut s = s.clone();
                        if let Some(b) = s.first_mut() {
                            *b = None;
                        }
                        l.compute_output_shape(&s).ok()
                    })
                    .map(|s| fmt_shape(&s))
                    .unwrap_or_else(|| "?".into());
                vec![
                    format!("{} ({})", l.name(), l.class_name()),
                    shape,
                    thousands(l.count_params()),
                ]
            })
            .collect();
        summary_table(
            self.name(),
            &["Layer (type)", "Output Shape", "Param #"],
            &[33, 24, 15],
            &rows,
            &self.trainable_variables(),
            &self.non_trainable_variables(),
        )
    }
}

fn epoch_steps(who: &str, len: Option<usize>, steps: Option<usize>) -> Result<usize> {
    match (len, steps) {
        (Some(n), Some(s)) => Ok(n.min(s)),
        (Some(n), None) => Ok(n),
        (None, Some(s)) => Ok(s),
        (None, None) => Err(arg_err(
            who,
            "the dataset has no length (`num_batches` is None); pass `steps_per_epoch` / `steps`",
        )),
    }
}

fn not_compiled(name: &str) -> crate::Error {
    arg_err(
        name,
        "you must call `compile()` before using the model for training or evaluation",
    )
}

/// Accepts an [`Optimizer`] or a name in `compile`.
pub trait IntoOptimizer {
    /// The optimizer.
    fn into_optimizer(self) -> Result<Optimizer>;
}
impl IntoOptimizer for Optimizer {
    fn into_optimizer(self) -> Result<Optimizer> {
        Ok(self)
    }
}
impl IntoOptimizer for &str {
    fn into_optimizer(self) -> Result<Optimizer> {
        Optimizer::get(self)
    }
}

fn human_bytes(n: usize) -> String {
    let b = n as f64;
    if b < 1024.0 {
        format!("{b:.2} B")
    } else if b < 1024.0 * 1024.0 {
        format!("{:.2} KB", b / 1024.0)
    } else if b < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2} MB", b / 1024.0 / 1024.0)
    } else {
        format!("{:.2} GB", b / 1024.0 / 1024.0 / 1024.0)
    }
}

fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Wraps `s` into lines of at most `width` characters (at spaces or commas).
fn wrap_cell(s: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for word in s.split_inclusive([' ', ',']) {
        if !cur.is_empty() && cur.chars().count() + word.trim_end().chars().count() > width {
            lines.push(cur.trim_end().to_string());
            cur.clear();
        }
        cur.push_str(if cur.is_empty() {
            word.trim_start()
        } else {
            word
        });
    }
    if !cur.trim().is_empty() || lines.is_empty() {
        lines.push(cur.trim_end().to_string());
    }
    lines
}

/// Keras's summary table: a header row, one block per layer (cells wrapped to
/// their column), the "Param #" column (index 2) right-aligned, then the totals.
fn summary_table(
    name: &str,
    headers: &[&str],
    widths: &[usize],
    rows: &[Vec<String>],
    tv: &[Variable],
    ntv: &[Variable],
) -> String {
    let line = |l: &str, m: &str, r: &str, f: &str| {
        let parts: Vec<String> = widths.iter().map(|n| f.repeat(*n)).collect();
        format!("{l}{}{r}\n", parts.join(m))
    };
    let cell = |s: &str, n: usize, right: bool| {
        let pad = n.saturating_sub(s.chars().count() + 2);
        if right {
            format!(" {}{s} ", " ".repeat(pad))
        } else {
            format!(" {s}{} ", " ".repeat(pad))
        }
    };
    let row = |cells: &[String], bar: &str| {
        let cols: Vec<String> = cells
            .iter()
            .zip(widths)
            .enumerate()
            .map(|(j, (c, n))| cell(c, *n, j == 2))
            .collect();
        format!("{bar}{}{bar}\n", cols.join(bar))
    };
    let mut s = format!("Model: \"{name}\"\n");
    s += &line("┏", "┳", "┓", "━");
    let hs: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    s += &row(&hs, "┃");
    s += &line("┡", "╇", "┩", "━");
    for (i, r) in rows.iter().enumerate() {
        let cols: Vec<Vec<String>> = r
            .iter()
            .zip(widths)
            .map(|(c, n)| wrap_cell(c, n - 2))
            .collect();
        let height = cols.iter().map(Vec::len).max().unwrap_or(1);
        for k in 0..height {
            let cells: Vec<String> = cols
                .iter()
                .map(|c| c.get(k).cloned().unwrap_or_default())
                .collect();
            s += &row(&cells, "│");
        }
        if i + 1 < rows.len() {
            s += &line("├", "┼", "┤", "─");
        }
    }
    s += &line("└", "┴", "┘", "─");
    s += &param_totals(tv, ntv);
    s
}

fn param_totals(tv: &[Variable], ntv: &[Variable]) -> String {
    let bytes = |vs: &[Variable]| {
        vs.iter()
            .map(|v| v.size() * v.dtype().size_of())
            .sum::<usize>()
    };
    let count = |vs: &[Variable]| vs.iter().map(|v| v.size()).sum::<usize>();
    let (tc, nc) = (count(tv), count(ntv));
    let (tb, nb) = (bytes(tv), bytes(ntv));
    format!(
        " Total params: {} ({})\n Trainable params: {} ({})\n Non-trainable params: {} ({})\n",
        thousands(tc + nc),
        human_bytes(tb + nb),
        thousands(tc),
        human_bytes(tb),
        thousands(nc),
        human_bytes(nb)
    )
}

// ------------------------------------------------------------------ progress

fn fmt_value(v: f64) -> String {
    if v != 0.0 && v.abs() < 1e-3 {
        format!("{v:.4e}")
    } else {
        format!("{v:.4}")
    }
}

fn fmt_logs(logs: &Logs) -> String {
    let mut keys: Vec<&String> = logs.keys().collect();
    keys.sort_by_key(|k| (k.starts_with("val_"), k.as_str()));
    keys.iter()
        .map(|k| format!(" - {k}: {}", fmt_value(logs[*k])))
        .collect()
}

fn fmt_time(secs: f64) -> String {
    if secs >= 1.0 {
        format!("{}s", secs.round() as u64)
    } else if secs >= 1e-3 {
        format!("{}ms", (secs * 1e3).round() as u64)
    } else {
        format!("{}us", (secs * 1e6).round() as u64)
    }
}

/// Keras's progress bar: a live bar on a terminal, one line per epoch otherwise.
pub struct Progbar {
    target: usize,
    verbose: u8,
    start: Instant,
    tty: bool,
    last: Instant,
}

impl Progbar {
    /// A bar of `target` steps.
    pub fn new(target: usize, verbose: u8) -> Progbar {
        Progbar {
            target,
            verbose,
            start: Instant::now(),
            tty: std::io::stdout().is_terminal(),
            last: Instant::now(),
        }
    }

    /// Shows progress at `step`; `last` prints the final line.
    pub fn update(&mut self, step: usize, logs: &Logs, last: bool) {
        if self.verbose == 0 || (!last && (!self.tty || self.verbose != 1)) {
            return;
        }
        if !last && self.last.elapsed().as_millis() < 50 {
            return;
        }
        self.last = Instant::now();
        let el = self.start.elapsed().as_secs_f64();
        let per = el / step.max(1) as f64;
        let digits = self.target.to_string().len();
        let line = if self.verbose == 2 {
            format!(
                "{step:>digits$}/{} - {} - {}/step{}",
                self.target,
                fmt_time(el),
                fmt_time(per),
                fmt_logs(logs)
            )
        } else {
            let width = 20;
            let done = (width * step / self.target.max(1)).min(width);
            let bar = format!("{}{}", "━".repeat(done), " ".repeat(width - done));
            let time = if last {
                format!("{} {}/step", fmt_time(el), fmt_time(per))
            } else {
                format!(
                    "{} {}/step",
                    fmt_time(per * (self.target - step) as f64),
                    fmt_time(per)
                )
            };
            format!(
                "{step:>digits$}/{} {bar} {time}{}",
                self.target,
                fmt_logs(logs)
            )
        };
        let mut out = std::io::stdout().lock();
        if self.tty {
            let _ = write!(out, "\r\x1b[K{line}");
            if last {
                let _ = writeln!(out);
            }
        } else {
            let _ = writeln!(out, "{line}");
        }
        let _ = out.flush();
    }
}

// ------------------------------------------------------------------ fit

/// Where `fit` takes its batches from.
pub(crate) enum Source<'a> {
    Arrays(Data, Data),
    Dataset(Box<dyn Dataset + 'a>),
    Invalid(crate::Error),
}

/// Options of `fit` (a builder; `.run()` trains).
pub struct Fit<'a, M: Model + ?Sized> {
    model: &'a mut M,
    source: Source<'a>,
    epochs: usize,
    batch_size: usize,
    validation_split: f64,
    validation: Option<Source<'a>>,
    validation_steps: Option<usize>,
    validation_freq: usize,
    shuffle: bool,
    initial_epoch: usize,
    verbose: u8,
    callbacks: Vec<Box<dyn Callback + 'a>>,
    sample_weight: Option<Tensor>,
    class_weight: Option<BTreeMap<usize, f64>>,
    steps_per_epoch: Option<usize>,
}

/// Keras's `class_weight` → per-sample weights: the weight of each sample's class
/// (integer labels, or the argmax of one-hot rows); classes not listed weigh 1.
fn class_sample_weights(who: &str, y: &Data, cw: &BTreeMap<usize, f64>) -> Result<Tensor> {
    let y = y.single(who).map_err(|_| {
        arg_err(
            who,
            "`class_weight` is only supported for models with a single output",
        )
    })?;
    let labels = if y.ndim() > 1 && y.shape().last() != Some(&1) {
        ops::argmax(y, Some(-1), false)?
    } else {
        ops::reshape(y, &[-1])?
    };
    let labels = ops::cast(&labels, DType::F64)?.to_vec::<f64>()?;
    let w: Vec<f32> = labels
        .iter()
        .map(|&l| {
            let l = l.round();
            if l < 0.0 {
                1.0
            } else {
                cw.get(&(l as usize)).copied().unwrap_or(1.0) as f32
            }
        })
        .collect();
    let n = w.len();
    Tensor::from_vec(w, [n])
}

impl<'a, M: Model + ?Sized> Fit<'a, M> {
    fn new(model: &'a mut M, source: Source<'a>) -> Self {
        Fit {
            model,
            source,
            epochs: 1,
            batch_size: 32,
            validation_split: 0.0,
            validation: None,
            validation_steps: None,
            validation_freq: 1,
            shuffle: true,
            initial_epoch: 0,
            verbose: 1,
            callbacks: Vec::new(),
            sample_weight: None,
            class_weight: None,
            steps_per_epoch: None,
        }
    }
    /// Number of epochs (default 1).
    pub fn epochs(mut self, n: usize) -> Self {
        self.epochs = n;
        self
    }
    /// Samples per step (default 32).
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n;
        self
    }
    /// Fraction of the data (the last samples, before shuffling) held out for validation.
    pub fn validation_split(mut self, f: f64) -> Self {
        self.validation_split = f;
        self
    }
    /// Explicit validation data (arrays, like `fit`'s).
    pub fn validation_data(mut self, x: impl IntoData, y: impl IntoData) -> Self {
        self.validation = Some(match (x.into_data(), y.into_data()) {
            (Ok(x), Ok(y)) => Source::Arrays(x, y),
            (Err(e), _) | (_, Err(e)) => Source::Invalid(e),
        });
        self
    }
    /// Validation batches from a [`Dataset`].
    pub fn validation_dataset(mut self, d: impl Dataset + 'a) -> Self {
        self.validation = Some(Source::Dataset(Box::new(d)));
        self
    }
    /// Batches of validation data per validation (default: all).
    pub fn validation_steps(mut self, n: usize) -> Self {
        self.validation_steps = Some(n);
        self
    }
    /// Validate every `n` epochs (default 1).
    pub fn validation_freq(mut self, n: usize) -> Self {
        self.validation_freq = n;
        self
    }
    /// Shuffle the training data each epoch (default true).
    pub fn shuffle(mut self, s: bool) -> Self {
        self.shuffle = s;
        self
    }
    /// Epoch to start from (for resuming).
    pub fn initial_epoch(mut self, e: usize) -> Self {
        self.initial_epoch = e;
        self
    }
    /// 0 = silent, 1 = progress bar, 2 = one line per epoch.
    pub fn verbose(mut self, v: u8) -> Self {
        self.verbose = v;
        self
    }
    /// Adds a callback.
    pub fn callback(mut self, c: impl Callback + 'a) -> Self {
        self.callbacks.push(Box::new(c));
        self
    }
    /// Per-sample loss weights.
    pub fn sample_weight(mut self, w: &Tensor) -> Self {
        self.sample_weight = Some(w.clone());
        self
    }
    /// Loss weight per class index (Keras's `class_weight`), for single-output
    /// classifiers; turned into per-sample weights.
    pub fn class_weight(mut self, weights: impl IntoIterator<Item = (usize, f64)>) -> Self {
        self.class_weight = Some(weights.into_iter().collect());
        self
    }
    /// Steps per epoch (default: all batches).
    pub fn steps_per_epoch(mut self, n: usize) -> Self {
        self.steps_per_epoch = Some(n);
        self
    }

    /// Trains; returns the history.
    pub fn run(mut self) -> Result<History> {
        let name = self.model.name().to_string();
        if self.model.core().compiled.is_none() {
            return Err(not_compiled(&name));
        }
        if !(0.0..1.0).contains(&self.validation_split) {
            return Err(arg_err(
                &name,
                format!(
                    "validation_split must be in [0, 1), got {}",
                    self.validation_split
                ),
            ));
        }
        if self.validation_freq == 0 {
            return Err(arg_err(&name, "validation_freq must be at least 1"));
        }
        if self.class_weight.is_some() && self.sample_weight.is_some() {
            return Err(arg_err(
                &name,
                "you cannot give both `class_weight` and `sample_weight`",
            ));
        }
        let bs = self.batch_size.max(1);
        let source = std::mem::replace(&mut self.source, Source::Invalid(arg_err(&name, "used")));
        let mut val: Option<Box<dyn Dataset + 'a>> = match self.validation.take() {
            None => None,
            Some(Source::Arrays(x, y)) => Some(Box::new(ArrayDataset::new(
                &name,
                x,
                Some(y),
                None,
                bs,
                false,
            )?)),
            Some(Source::Dataset(d)) => Some(d),
            Some(Source::Invalid(e)) => return Err(e),
        };
        let mut train: Box<dyn Dataset + 'a> = match source {
            Source::Invalid(e) => return Err(e),
            Source::Dataset(d) => {
                if self.validation_split > 0.0 {
                    return Err(arg_err(
                        &name,
                        "`validation_split` is only supported for arrays; give `validation_dataset` instead",
                    ));
                }
                d
            }
            Source::Arrays(x, y) => {
                let n_all = x.num_samples(&name, "x")?;
                let (mut x, mut y, mut sw) = (x, y, self.sample_weight.clone());
                if self.validation_split > 0.0 && val.is_none() {
                    let split = ((n_all as f64) * (1.0 - self.validation_split)).floor() as usize;
                    let tr: Vec<i32> = (0..split as i32).collect();
                    let va: Vec<i32> = (split as i32..n_all as i32).collect();
                    val = Some(Box::new(ArrayDataset::new(
                        &name,
                        x.take_rows(&va)?,
                        Some(y.take_rows(&va)?),
                        None,
                        bs,
                        false,
                    )?));
                    x = x.take_rows(&tr)?;
                    y = y.take_rows(&tr)?;
                    sw = sw
                        .map(|w| ops::take(&w, &Tensor::from_vec(tr.clone(), [tr.len()])?, Some(0)))
                        .transpose()?;
                }
                Box::new(ArrayDataset::new(&name, x, Some(y), sw, bs, self.shuffle)?)
            }
        };
        let steps = epoch_steps(&name, train.num_batches(), self.steps_per_epoch)?;
        let mut history = History::default();
        let mut control = Control {
            epochs: self.epochs,
            steps: Some(steps),
            verbose: self.verbose,
            variables: self.model.variables(),
            ..Control::default()
        };
        if self.verbose > 0 {
            self.callbacks
                .push(Box::new(crate::callbacks::ProgbarLogger::new()));
        }
        for c in &mut self.callbacks {
            c.on_train_begin(&mut control)?;
        }
        let mut logs = Logs::new();
        for epoch in self.initial_epoch..self.epochs {
            self.model.reset_metrics()?;
            control.learning_rate = self.model.optimizer().and_then(|o| o.learning_rate().ok());
            let before = control.learning_rate;
            for c in &mut self.callbacks {
                c.on_epoch_begin(epoch, &mut control)?;
            }
            if control.learning_rate != before {
                if let (Some(lr), Some(o)) = (control.learning_rate, self.model.optimizer()) {
                    o.set_learning_rate(lr);
                }
            }
            for s in 0..steps {
                let b = train.get_batch(s)?;
                let y =
                    b.y.ok_or_else(|| arg_err(&name, format!("fit: batch {s} has no targets")))?;
                let sw = match &self.class_weight {
                    Some(cw) => {
                        if b.sample_weight.is_some() {
                            return Err(arg_err(
                                &name,
                                "you cannot give both `class_weight` and `sample_weight`",
                            ));
                        }
                        Some(class_sample_weights(&name, &y, cw)?)
                    }
                    None => b.sample_weight,
                };
                logs = self.model.train_step(&b.x, &y, sw.as_ref())?;
                if control.variables.is_empty() {
                    control.variables = self.model.variables(); // built by the first step
                }
                for c in &mut self.callbacks {
                    c.on_train_batch_end(s, &logs, &mut control)?;
                }
                if control.stop_training {
                    break;
                }
            }
            train.on_epoch_end();
            if (epoch + 1) % self.validation_freq == 0 {
                if let Some(v) = val.as_mut() {
                    let vl = self
                        .model
                        .evaluate_dataset(v.as_mut(), self.validation_steps, 0)?;
                    v.on_epoch_end();
                    for (k, x) in vl {
                        logs.insert(format!("val_{k}"), x);
                    }
                }
            }
            for (k, v) in &logs {
                history.history.entry(k.clone()).or_default().push(*v);
            }
            history.epoch.push(epoch);
            control.learning_rate = self.model.optimizer().and_then(|o| o.learning_rate().ok());
            let before = control.learning_rate;
            for c in &mut self.callbacks {
                c.on_epoch_end(epoch, &logs, &mut control)?;
            }
            if control.learning_rate != before {
                if let (Some(lr), Some(o)) = (control.learning_rate, self.model.optimizer()) {
                    o.set_learning_rate(lr);
                }
            }
            if control.stop_training || self.model.core().stop_training {
                break;
            }
        }
        for c in &mut self.callbacks {
            c.on_train_end(&logs, &mut control)?;
        }
        Ok(history)
    }
}

// ------------------------------------------------------------------ Sequential

/// `keras.Sequential`: a plain stack of layers.
pub struct Sequential {
    core: ModelCore,
    layers: Vec<Box<dyn Layer>>,
    input: Option<Input>,
    build_error: Option<crate::Error>,
}

/// What [`Sequential::add`] accepts: an [`Input`] or a layer.
pub trait SequentialItem {
    /// Adds itself to the model.
    fn add_to(self, m: &mut Sequential);
}

impl SequentialItem for Input {
    fn add_to(self, m: &mut Sequential) {
        m.input = Some(self);
    }
}

impl<L: Layer + 'static> SequentialItem for L {
    fn add_to(self, m: &mut Sequential) {
        m.layers.push(Box::new(self));
        m.build_known();
    }
}

impl Default for Sequential {
    fn default() -> Self {
        Sequential::new()
    }
}

impl Sequential {
    /// An empty model named `sequential`, `sequential_1`, …
    pub fn new() -> Sequential {
        Sequential {
            core: ModelCore::new("sequential"),
            layers: Vec::new(),
            input: None,
            build_error: None,
        }
    }

    /// Adds an [`Input`] or a layer. With a known input shape, layers are built at
    /// once; a shape error is reported by the next call that uses the model.
    #[allow(clippy::should_implement_trait)]
    pub fn add(mut self, item: impl SequentialItem) -> Sequential {
        item.add_to(&mut self);
        self
    }

    /// Adds a boxed layer.
    pub fn push(&mut self, layer: Box<dyn Layer>) {
        self.layers.push(layer);
        self.build_known();
    }

    /// Removes the last layer (`pop`).
    pub fn pop(&mut self) -> Option<Box<dyn Layer>> {
        self.layers.pop()
    }

    /// The layers.
    pub fn layers_mut(&mut self) -> &mut [Box<dyn Layer>] {
        &mut self.layers
    }

    /// Builds the layers whose input shape is known from the [`Input`].
    fn build_known(&mut self) {
        let Some(inp) = &self.input else {
            return;
        };
        if self.build_error.is_some() {
            return;
        }
        let mut shape = inp.batch_shape();
        for l in &mut self.layers {
            if let Err(e) = l.maybe_build(&shape) {
                self.build_error = Some(e);
                return;
            }
            match l.compute_output_shape(&shape) {
                Ok(s) => shape = s,
                Err(e) => {
                    self.build_error = Some(e);
                    return;
                }
            }
        }
    }
}

impl Model for Sequential {
    fn core(&self) -> &ModelCore {
        &self.core
    }
    fn core_mut(&mut self) -> &mut ModelCore {
        &mut self.core
    }
    fn call(&mut self, x: &Tensor, training: bool) -> Result<Tensor> {
        if let Some(e) = &self.build_error {
            return Err(e.clone());
        }
        if let Some(inp) = &self.input {
            let want = inp.batch_shape();
            let ok = x.ndim() == want.len()
                && want
                    .iter()
                    .zip(x.shape())
                    .all(|(w, &d)| w.is_none_or(|w| w == d));
            if !ok {
                return Err(shape_err(
                    self.core.name(),
                    format!(
                        "input of shape {:?} is incompatible with the model's input shape {}",
                        x.shape(),
                        fmt_shape(&want)
                    ),
                ));
            }
        }
        let mut h = x.clone();
        let mut mask: Option<Tensor> = None;
        for l in &mut self.layers {
            let (y, m) = l.forward_masked(&h, mask.as_ref(), training)?;
            h = y;
            mask = m;
        }
        Ok(h)
    }
    fn layers(&self) -> Vec<LayerRef<'_>> {
        self.layers.iter().map(|l| l.into()).collect()
    }
    fn to_keras_config(&self) -> Result<serde_json::Value> {
        self.to_config()
    }
}

impl Sequential {
    /// The model's Keras config envelope (`module: "keras"`, `class_name:
    /// "Sequential"`), with an `InputLayer` entry and `build_input_shape` when the
    /// input shape is known.
    pub fn to_config(&self) -> Result<serde_json::Value> {
        use serde_json::json;
        let mut layers = Vec::new();
        let input_shape = self.input.as_ref().map(|i| i.batch_shape()).or_else(|| {
            self.layers
                .first()
                .and_then(|l| l.base().input_shape().cloned())
        });
        if let Some(s) = &input_shape {
            let dtype = self
                .input
                .as_ref()
                .and_then(|i| i.dtype)
                .unwrap_or_else(crate::config::floatx);
            let name = self
                .input
                .as_ref()
                .and_then(|i| i.name.clone())
                .unwrap_or_else(|| "input_layer".into());
            layers.push(json!({
                "module": "keras.layers",
                "class_name": "InputLayer",
                "config": {"batch_shape": s, "dtype": dtype.name(), "sparse": false,
                           "ragged": false, "name": name},
                "registered_name": null,
            }));
        }
        for l in &self.layers {
            layers.push(functional::layer_envelope(&**l)?);
        }
        let mut config = json!({
            "name": self.core.name(),
            "trainable": true,
            "dtype": crate::saving::serialize::dtype_policy(crate::config::floatx()),
            "layers": layers,
        });
        let mut env = json!({
            "module": "keras",
            "class_name": "Sequential",
            "registered_name": null,
        });
        if let Some(s) = &input_shape {
            config["build_input_shape"] = json!(s);
            env["build_config"] = json!({ "input_shape": s });
        }
        env["config"] = config;
        Ok(env)
    }

    /// Shape (batch dimension first) and dtype of the input, when known.
    pub fn input_spec(&self) -> Option<(PartialShape, DType)> {
        self.input.as_ref().map(|i| {
            (
                i.batch_shape(),
                i.dtype.unwrap_or_else(crate::config::floatx),
            )
        })
    }

    /// Rebuilds a Sequential model from its Keras config (the envelope or its
    /// `config` object). The input shape comes from the `InputLayer` entry, else
    /// `build_input_shape`, else the first layer's `build_config`.
    pub fn from_config(v: &serde_json::Value) -> Result<Sequential> {
        use serde_json::Value;
        let cfg = match v.get("config") {
            Some(c) if v.get("class_name").is_some() => c,
            _ => v,
        };
        let who = "Sequential.from_config";
        let entries = cfg
            .get("layers")
            .and_then(Value::as_array)
            .ok_or_else(|| arg_err(who, "the config has no \"layers\" list"))?;
        let mut m = match cfg.get("name").and_then(Value::as_str) {
            Some(n) => Sequential {
                core: ModelCore::exact(n),
                ..Sequential::new()
            },
            None => Sequential::new(),
        };
        let shape_from = |v: Option<&Value>| -> Option<PartialShape> {
            v?.as_array()?
                .iter()
                .map(|d| match d {
                    Value::Null => Some(None),
                    d => d.as_u64().map(|u| Some(u as usize)),
                })
                .collect()
        };
        let mut input: Option<Input> = None;
        let mut layers: Vec<Box<dyn Layer>> = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            let class = e.get("class_name").and_then(Value::as_str).unwrap_or("");
            match class {
                "InputLayer" if i == 0 => {
                    let t = functional::input_from_config(e)?;
                    let mut inp = Input::partial(&t.shape()[1..]).dtype(t.dtype());
                    if let Some(b) = t.shape()[0] {
                        inp = inp.batch_size(b);
                    }
                    inp = inp.name(&t.name());
                    input = Some(inp);
                }
                "Sequential" => layers.push(Box::new(Sequential::from_config(e)?.into_layer())),
                "Functional" | "Model" => {
                    layers.push(Box::new(Functional::from_config(e)?.as_layer()));
                }
                _ => layers.push(crate::saving::registry::layer_from_config(e)?),
            }
        }
        if input.is_none() {
            // Keras 3's build_input_shape, a layer's build_config, or Keras 2's
            // `batch_input_shape` on the first layer.
            let shape = shape_from(cfg.get("build_input_shape")).or_else(|| {
                let first = entries.first()?;
                shape_from(first.get("build_config").and_then(|b| b.get("input_shape")))
                    .or_else(|| shape_from(first.get("config")?.get("batch_input_shape")))
            });
            if let Some(s) = shape.filter(|s| !s.is_empty()) {
                input = Some(Input::partial(&s[1..]));
            }
        }
        // Keras accepts any batch size for a loaded model, even one built with a
        // fixed batch (lazily built by fit).
        m.input = input.map(|mut i| {
            i.batch_size = None;
            i
        });
        for l in layers {
            m.push(l);
        }
        if let Some(e) = &m.build_error {
            return Err(e.clone());
        }
        Ok(m)
    }
}

// ------------------------------------------------------------------ Sequential as a layer

/// A [`Sequential`] model used as a layer of another model
/// ([`Sequential::into_layer`]); Keras's nested `Sequential`.
pub struct SequentialLayer {
    base: crate::layers::LayerBase,
    inner: Sequential,
}

impl Sequential {
    /// This model as a layer of another model (a nested `Sequential`), named
    /// after the model.
    pub fn into_layer(self) -> SequentialLayer {
        let mut base = crate::layers::LayerBase::new("Sequential");
        base.set_name(self.core.name());
        if self.layers.iter().all(|l| l.built()) && !self.layers.is_empty() {
            base.mark_built();
        }
        SequentialLayer { base, inner: self }
    }
}

impl SequentialLayer {
    /// The wrapped model.
    pub fn model(&self) -> &Sequential {
        &self.inner
    }
}

impl Layer for SequentialLayer {
    fn base(&self) -> &crate::layers::LayerBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut crate::layers::LayerBase {
        &mut self.base
    }
    fn class_name(&self) -> &'static str {
        "Sequential"
    }
    fn build(&mut self, input_shape: &[Option<usize>]) -> Result<()> {
        let mut shape = input_shape.to_vec();
        for l in &mut self.inner.layers {
            l.maybe_build(&shape)?;
            shape = l.compute_output_shape(&shape)?;
        }
        Ok(())
    }
    fn call(&self, x: &Tensor, training: bool) -> Result<Tensor> {
        Ok(self.call_and_mask(x, None, training)?.0)
    }
    fn supports_masking(&self) -> bool {
        true
    }
    fn call_masked(&self, x: &Tensor, mask: Option<&Tensor>, training: bool) -> Result<Tensor> {
        Ok(self.call_and_mask(x, mask, training)?.0)
    }
    fn compute_mask(&self, x: &Tensor, mask: Option<&Tensor>) -> Result<Option<Tensor>> {
        Ok(self.call_and_mask(x, mask, false)?.1)
    }
    /// The layers in turn, each casting float inputs to its dtype, masks carried.
    fn call_and_mask(
        &self,
        x: &Tensor,
        mask: Option<&Tensor>,
        training: bool,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let mut h = x.clone();
        let mut m = mask.cloned();
        for l in &self.inner.layers {
            let dt = l.base().dtype();
            if h.dtype().is_float() && h.dtype() != dt {
                h = ops::cast(&h, dt)?;
            }
            (h, m) = l.call_and_mask(&h, m.as_ref(), training)?;
        }
        Ok((h, m))
    }
    fn sublayers(&self) -> Vec<LayerRef<'_>> {
        self.inner.layers.iter().map(|l| l.into()).collect()
    }
    fn sublayers_mut(&mut self) -> Vec<&mut dyn Layer> {
        self.inner
            .layers
            .iter_mut()
            .map(|l| &mut **l as &mut dyn Layer)
            .collect()
    }
    fn compute_output_shape(&self, input_shape: &[Option<usize>]) -> Result<PartialShape> {
        let mut shape = input_shape.to_vec();
        for l in &self.inner.layers {
            shape = l.compute_output_shape(&shape)?;
        }
        Ok(shape)
    }
    fn model_config(&self) -> Result<Option<serde_json::Value>> {
        self.inner.to_config().map(Some)
    }
}
