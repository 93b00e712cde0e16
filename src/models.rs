//! Models: the [`Model`] trait (compile / fit / evaluate / predict, written once)
//! and [`Sequential`]. A subclassed model is any type implementing `Model`'s
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

use crate::callbacks::{Callback, Control, Logs};
use crate::error::{arg_err, shape_err};
use crate::layers::{fmt_shape, unique_name, Layer};
use crate::losses::{Loss, LossFn};
use crate::metrics::{Kind, Metric};
use crate::optimizers::Optimizer;
use crate::trace::PartialShape;
use crate::{autodiff, ops, random, DType, Result, StatelessScope, Tensor, Variable};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::time::Instant;

/// `keras.Input(shape)`: the shape of one sample (no batch dimension).
#[derive(Debug, Clone)]
pub struct Input {
    shape: PartialShape,
    dtype: Option<DType>,
}

impl Input {
    /// An input of per-sample `shape`.
    pub fn new(shape: impl AsRef<[usize]>) -> Input {
        Input {
            shape: shape.as_ref().iter().map(|&d| Some(d)).collect(),
            dtype: None,
        }
    }
    /// Input dtype (default floatx).
    pub fn dtype(mut self, d: DType) -> Input {
        self.dtype = Some(d);
        self
    }
    /// Shape with a `None` batch dimension first.
    pub fn batch_shape(&self) -> PartialShape {
        let mut s = vec![None];
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
        ModelCore {
            name: unique_name(prefix),
            compiled: None,
            stop_training: false,
        }
    }
    /// The model's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

struct Compiled {
    optimizer: Optimizer,
    loss: Loss,
    metric_names: Vec<String>,
    metrics: Option<Vec<Metric>>,
    loss_tracker: Metric,
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
fn resolve_metric(name: &str, y_true: &Tensor, y_pred: &Tensor) -> Result<Metric> {
    if name != "accuracy" && name != "acc" {
        return Metric::get(name);
    }
    let last = y_pred.shape().last().copied().unwrap_or(1);
    let kind = if last == 1 {
        Kind::BinaryAccuracy(0.5)
    } else if y_true.ndim() + 1 == y_pred.ndim() || y_true.shape().last() == Some(&1) {
        Kind::SparseCategoricalAccuracy
    } else {
        Kind::CategoricalAccuracy
    };
    Metric::new(kind, name)
}

fn slice_rows(x: &Tensor, idx: &[i32]) -> Result<Tensor> {
    let t = Tensor::from_vec(idx.to_vec(), [idx.len()])?;
    ops::take(x, &t, Some(0))
}

/// A Keras model: implement `core`, `core_mut`, `call` and `layers`; everything
/// else (compile, fit, evaluate, predict, summary, stateless calls) is provided.
pub trait Model: Send {
    /// The compile state.
    fn core(&self) -> &ModelCore;
    /// The compile state, mutably.
    fn core_mut(&mut self) -> &mut ModelCore;
    /// The forward pass (builds layers on first use).
    fn call(&mut self, x: &Tensor, training: bool) -> Result<Tensor>;
    /// The layers, for variables, regularization and summaries.
    fn layers(&self) -> Vec<&dyn Layer>;

    /// The model's name.
    fn name(&self) -> &str {
        self.core().name()
    }

    /// All variables of all layers.
    fn variables(&self) -> Vec<Variable> {
        self.layers().iter().flat_map(|l| l.weights()).collect()
    }
    /// Variables the optimizer updates.
    fn trainable_variables(&self) -> Vec<Variable> {
        self.variables()
            .into_iter()
            .filter(|v| v.trainable())
            .collect()
    }
    /// Variables it does not.
    fn non_trainable_variables(&self) -> Vec<Variable> {
        self.variables()
            .into_iter()
            .filter(|v| !v.trainable())
            .collect()
    }
    /// Number of scalars in all variables.
    fn count_params(&self) -> usize {
        self.variables().iter().map(|v| v.size()).sum()
    }

    /// Configures training: optimizer (an [`Optimizer`] or a name like `"adam"`),
    /// loss (a [`Loss`] or a name) and metric names.
    fn compile<O, L, M, S>(&mut self, optimizer: O, loss: L, metrics: M) -> Result<()>
    where
        Self: Sized,
        O: IntoOptimizer,
        L: Into<Loss>,
        M: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let loss = loss.into();
        loss.check()?;
        let metric_names: Vec<String> = metrics
            .into_iter()
            .map(|s| s.as_ref().to_string())
            .collect();
        for m in &metric_names {
            if m != "accuracy" && m != "acc" {
                Metric::get(m)?;
            }
        }
        self.core_mut().compiled = Some(Compiled {
            optimizer: optimizer.into_optimizer()?,
            loss,
            metric_names,
            metrics: None,
            loss_tracker: Metric::new(Kind::Mean, "loss")?,
        });
        Ok(())
    }

    /// The compiled optimizer.
    fn optimizer(&mut self) -> Option<&mut Optimizer> {
        self.core_mut().compiled.as_mut().map(|c| &mut c.optimizer)
    }

    /// Loss of a batch plus the layers' regularization penalties (Keras's `compute_loss`).
    fn compute_loss(
        &mut self,
        y: &Tensor,
        y_pred: &Tensor,
        sample_weight: Option<&Tensor>,
    ) -> Result<Tensor> {
        let name = self.name().to_string();
        let c = self
            .core()
            .compiled
            .as_ref()
            .ok_or_else(|| not_compiled(&name))?;
        let mut loss = c.loss.compute(y, y_pred, sample_weight)?;
        for l in self.layers() {
            for p in l.losses()? {
                loss = ops::add(&loss, ops::cast(&p, loss.dtype())?)?;
            }
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
        if self.variables().is_empty() {
            self.call(x, training)?; // build
        }
        let (tv, ntv) = (self.trainable_variables(), self.non_trainable_variables());
        let mut vars = tv.clone();
        vars.extend(ntv.iter().cloned());
        let mut vals = trainable.to_vec();
        vals.extend(non_trainable.iter().cloned());
        let mut scope = StatelessScope::checked("stateless_call", &vars, &vals)?;
        let y = scope.run(|| self.call(x, training))?;
        Ok((y, scope.values_of(&ntv)))
    }

    /// One training step (Keras's `train_step`): forward and loss as a pure
    /// function of the variable values (inside a [`StatelessScope`]), gradients by
    /// reverse mode, then the optimizer update and the metrics.
    fn train_step(
        &mut self,
        x: &Tensor,
        y: &Tensor,
        sample_weight: Option<&Tensor>,
    ) -> Result<Logs> {
        let name = self.name().to_string();
        if self.core().compiled.is_none() {
            return Err(not_compiled(&name));
        }
        if self.variables().is_empty() {
            self.call(&slice_rows(x, &[0])?, false)?; // build the layers
        }
        let (tv, ntv) = (self.trainable_variables(), self.non_trainable_variables());
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
            let y_pred = self.call(x, true)?;
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
        let batch = x.shape().first().copied().unwrap_or(1);
        let c = self
            .core_mut()
            .compiled
            .as_mut()
            .ok_or_else(|| not_compiled(&name))?;
        c.optimizer.apply(&grads, &tv)?;
        for l in self.layers() {
            l.apply_constraints()?;
        }
        self.update_metrics(&loss, batch, y, &y_pred, sample_weight)
    }

    /// Updates the loss tracker and compiled metrics; returns the running logs.
    fn update_metrics(
        &mut self,
        loss: &Tensor,
        batch: usize,
        y: &Tensor,
        y_pred: &Tensor,
        sample_weight: Option<&Tensor>,
    ) -> Result<Logs> {
        let name = self.name().to_string();
        let c = self
            .core_mut()
            .compiled
            .as_mut()
            .ok_or_else(|| not_compiled(&name))?;
        c.loss_tracker.update_state(
            &Tensor::scalar(0f32)?,
            loss,
            Some(&Tensor::scalar(batch as f32)?),
        )?;
        if c.metrics.is_none() {
            let ms = c
                .metric_names
                .iter()
                .map(|n| resolve_metric(n, y, y_pred))
                .collect::<Result<Vec<_>>>()?;
            c.metrics = Some(ms);
        }
        let mut logs = Logs::new();
        for m in c.metrics.iter_mut().flatten() {
            m.update_state(y, y_pred, sample_weight)?;
            logs.insert(m.name().to_string(), m.result()?);
        }
        logs.insert("loss".into(), c.loss_tracker.result()?);
        Ok(logs)
    }

    /// Zeroes the loss tracker and metrics.
    fn reset_metrics(&mut self) -> Result<()> {
        if let Some(c) = self.core_mut().compiled.as_mut() {
            c.loss_tracker.reset_state()?;
            for m in c.metrics.iter_mut().flatten() {
                m.reset_state()?;
            }
        }
        Ok(())
    }

    /// One evaluation step (Keras's `test_step`).
    fn test_step(
        &mut self,
        x: &Tensor,
        y: &Tensor,
        sample_weight: Option<&Tensor>,
    ) -> Result<Logs> {
        let y_pred = self.call(x, false)?;
        let loss = self.compute_loss(y, &y_pred, sample_weight)?;
        let batch = x.shape().first().copied().unwrap_or(1);
        self.update_metrics(&loss, batch, y, &y_pred, sample_weight)
    }

    /// One prediction step (Keras's `predict_step`).
    fn predict_step(&mut self, x: &Tensor) -> Result<Tensor> {
        self.call(x, false)
    }

    /// `train_on_batch`: one step on one batch; returns the logs.
    fn train_on_batch(&mut self, x: &Tensor, y: &Tensor) -> Result<Logs> {
        self.reset_metrics()?;
        self.train_step(x, y, None)
    }

    /// `test_on_batch`.
    fn test_on_batch(&mut self, x: &Tensor, y: &Tensor) -> Result<Logs> {
        self.reset_metrics()?;
        self.test_step(x, y, None)
    }

    /// `predict_on_batch`.
    fn predict_on_batch(&mut self, x: &Tensor) -> Result<Tensor> {
        self.predict_step(x)
    }

    /// Starts a `fit` call; set options on the returned builder, then `.run()`.
    fn fit<'a>(&'a mut self, x: &Tensor, y: &Tensor) -> Fit<'a, Self>
    where
        Self: Sized,
    {
        Fit {
            model: self,
            x: x.clone(),
            y: y.clone(),
            epochs: 1,
            batch_size: 32,
            validation_split: 0.0,
            validation_data: None,
            shuffle: true,
            initial_epoch: 0,
            verbose: 1,
            callbacks: Vec::new(),
            sample_weight: None,
            steps_per_epoch: None,
        }
    }

    /// `evaluate(x, y, batch_size=32)`: the loss and metrics over the data.
    fn evaluate(&mut self, x: &Tensor, y: &Tensor, batch_size: usize, verbose: u8) -> Result<Logs> {
        check_xy(self.name(), x, y)?;
        self.reset_metrics()?;
        let n = x.shape()[0];
        let bs = batch_size.max(1);
        let steps = n.div_ceil(bs);
        let mut bar = Progbar::new(steps, verbose);
        let mut logs = Logs::new();
        for s in 0..steps {
            let idx: Vec<i32> = ((s * bs)..((s + 1) * bs).min(n))
                .map(|i| i as i32)
                .collect();
            logs = self.test_step(&slice_rows(x, &idx)?, &slice_rows(y, &idx)?, None)?;
            bar.update(s + 1, &logs, false);
        }
        bar.update(steps, &logs, true);
        Ok(logs)
    }

    /// `predict(x, batch_size=32)`: outputs for all samples.
    fn predict(&mut self, x: &Tensor, batch_size: usize) -> Result<Tensor> {
        if x.ndim() == 0 {
            return Err(shape_err(
                self.name(),
                "predict: inputs need a batch dimension",
            ));
        }
        let n = x.shape()[0];
        let bs = batch_size.max(1);
        let mut outs = Vec::new();
        for s in 0..n.div_ceil(bs) {
            let idx: Vec<i32> = ((s * bs)..((s + 1) * bs).min(n))
                .map(|i| i as i32)
                .collect();
            outs.push(self.predict_step(&slice_rows(x, &idx)?)?);
        }
        if outs.is_empty() {
            return Err(shape_err(self.name(), "predict: no samples"));
        }
        ops::concatenate(&outs, 0)
    }

    /// Prints Keras's summary table.
    fn summary(&self) {
        print!("{}", self.summary_string());
    }

    /// Keras's summary table as a string.
    fn summary_string(&self) -> String {
        let rows: Vec<(String, String, usize)> = self
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
                (
                    format!("{} ({})", l.name(), l.class_name()),
                    shape,
                    l.count_params(),
                )
            })
            .collect();
        summary_table(
            self.name(),
            &rows,
            &self.trainable_variables(),
            &self.non_trainable_variables(),
        )
    }
}

fn not_compiled(name: &str) -> crate::Error {
    arg_err(
        name,
        "you must call `compile()` before using the model for training or evaluation",
    )
}

fn check_xy(name: &str, x: &Tensor, y: &Tensor) -> Result<()> {
    if x.ndim() == 0 || y.ndim() == 0 || x.shape()[0] != y.shape()[0] {
        return Err(shape_err(
            name,
            format!(
                "x and y must have the same number of samples (first dimension), got x {:?} and y {:?}",
                x.shape(),
                y.shape()
            ),
        ));
    }
    Ok(())
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

fn summary_table(
    name: &str,
    rows: &[(String, String, usize)],
    tv: &[Variable],
    ntv: &[Variable],
) -> String {
    let w = [33usize, 24, 15];
    let line = |l: &str, m: &str, r: &str, f: &str| {
        format!(
            "{l}{}{m}{}{m}{}{r}\n",
            f.repeat(w[0]),
            f.repeat(w[1]),
            f.repeat(w[2])
        )
    };
    let cell = |s: &str, n: usize, right: bool| {
        let len = s.chars().count();
        let pad = n.saturating_sub(len + 2);
        if right {
            format!(" {}{s} ", " ".repeat(pad))
        } else {
            format!(" {s}{} ", " ".repeat(pad))
        }
    };
    let mut s = format!("Model: \"{name}\"\n");
    s += &line("┏", "┳", "┓", "━");
    s += &format!(
        "┃{}┃{}┃{}┃\n",
        cell("Layer (type)", w[0], false),
        cell("Output Shape", w[1], false),
        cell("Param #", w[2], true)
    );
    s += &line("┡", "╇", "┩", "━");
    for (i, (l, sh, p)) in rows.iter().enumerate() {
        s += &format!(
            "│{}│{}│{}│\n",
            cell(l, w[0], false),
            cell(sh, w[1], false),
            cell(&thousands(*p), w[2], true)
        );
        if i + 1 < rows.len() {
            s += &line("├", "┼", "┤", "─");
        }
    }
    s += &line("└", "┴", "┘", "─");
    let bytes = |vs: &[Variable]| {
        vs.iter()
            .map(|v| v.size() * v.dtype().size_of())
            .sum::<usize>()
    };
    let count = |vs: &[Variable]| vs.iter().map(|v| v.size()).sum::<usize>();
    let (tc, nc) = (count(tv), count(ntv));
    let (tb, nb) = (bytes(tv), bytes(ntv));
    s += &format!(
        " Total params: {} ({})\n",
        thousands(tc + nc),
        human_bytes(tb + nb)
    );
    s += &format!(
        " Trainable params: {} ({})\n",
        thousands(tc),
        human_bytes(tb)
    );
    s += &format!(
        " Non-trainable params: {} ({})\n",
        thousands(nc),
        human_bytes(nb)
    );
    s
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

/// Options of `fit` (a builder; `.run()` trains).
pub struct Fit<'a, M: Model + ?Sized> {
    model: &'a mut M,
    x: Tensor,
    y: Tensor,
    epochs: usize,
    batch_size: usize,
    validation_split: f64,
    validation_data: Option<(Tensor, Tensor)>,
    shuffle: bool,
    initial_epoch: usize,
    verbose: u8,
    callbacks: Vec<Box<dyn Callback + 'a>>,
    sample_weight: Option<Tensor>,
    steps_per_epoch: Option<usize>,
}

impl<'a, M: Model + ?Sized> Fit<'a, M> {
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
    /// Explicit validation data.
    pub fn validation_data(mut self, x: &Tensor, y: &Tensor) -> Self {
        self.validation_data = Some((x.clone(), y.clone()));
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
    /// Steps per epoch (default: all batches).
    pub fn steps_per_epoch(mut self, n: usize) -> Self {
        self.steps_per_epoch = Some(n);
        self
    }

    /// Trains; returns the history.
    pub fn run(mut self) -> Result<History> {
        let name = self.model.name().to_string();
        check_xy(&name, &self.x, &self.y)?;
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
        let n_all = self.x.shape()[0];
        let (mut x, mut y, mut sw) = (self.x.clone(), self.y.clone(), self.sample_weight.clone());
        let mut val = self.validation_data.clone();
        if self.validation_split > 0.0 && val.is_none() {
            let split = ((n_all as f64) * (1.0 - self.validation_split)).floor() as usize;
            let tr: Vec<i32> = (0..split as i32).collect();
            let va: Vec<i32> = (split as i32..n_all as i32).collect();
            val = Some((slice_rows(&x, &va)?, slice_rows(&y, &va)?));
            x = slice_rows(&x, &tr)?;
            y = slice_rows(&y, &tr)?;
            sw = sw.map(|w| slice_rows(&w, &tr)).transpose()?;
        }
        let n = x.shape()[0];
        let bs = self.batch_size.max(1);
        let mut steps = n.div_ceil(bs);
        if let Some(s) = self.steps_per_epoch {
            steps = steps.min(s);
        }
        let mut history = History::default();
        let mut control = Control::default();
        for c in &mut self.callbacks {
            c.on_train_begin(&mut control);
        }
        let mut logs = Logs::new();
        for epoch in self.initial_epoch..self.epochs {
            self.model.reset_metrics()?;
            control.learning_rate = self.model.optimizer().and_then(|o| o.learning_rate().ok());
            let before = control.learning_rate;
            for c in &mut self.callbacks {
                c.on_epoch_begin(epoch, &mut control);
            }
            if control.learning_rate != before {
                if let (Some(lr), Some(o)) = (control.learning_rate, self.model.optimizer()) {
                    o.set_learning_rate(lr);
                }
            }
            if self.verbose > 0 {
                println!("Epoch {}/{}", epoch + 1, self.epochs);
            }
            let order: Vec<i32> = if self.shuffle {
                let idx = ops::arange(0.0, Some(n as f64), None, Some(DType::I32))?;
                random::shuffle(&idx, 0, random::Seed::Global)?.to_vec::<i32>()?
            } else {
                (0..n as i32).collect()
            };
            let mut bar = Progbar::new(steps, self.verbose);
            for s in 0..steps {
                let idx = &order[s * bs..((s + 1) * bs).min(n)];
                let xb = slice_rows(&x, idx)?;
                let yb = slice_rows(&y, idx)?;
                let wb = sw.as_ref().map(|w| slice_rows(w, idx)).transpose()?;
                logs = self.model.train_step(&xb, &yb, wb.as_ref())?;
                for c in &mut self.callbacks {
                    c.on_train_batch_end(s, &logs, &mut control);
                }
                bar.update(s + 1, &logs, false);
                if control.stop_training {
                    break;
                }
            }
            if let Some((vx, vy)) = &val {
                let vl = self.model.evaluate(vx, vy, bs, 0)?;
                for (k, v) in vl {
                    logs.insert(format!("val_{k}"), v);
                }
            }
            bar.update(steps, &logs, true);
            for (k, v) in &logs {
                history.history.entry(k.clone()).or_default().push(*v);
            }
            history.epoch.push(epoch);
            for c in &mut self.callbacks {
                c.on_epoch_end(epoch, &logs, &mut control);
            }
            if control.stop_training || self.model.core().stop_training {
                break;
            }
        }
        for c in &mut self.callbacks {
            c.on_train_end(&logs, &mut control);
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
        for l in &mut self.layers {
            h = l.forward(&h, training)?;
        }
        Ok(h)
    }
    fn layers(&self) -> Vec<&dyn Layer> {
        self.layers.iter().map(|l| l.as_ref()).collect()
    }
}
