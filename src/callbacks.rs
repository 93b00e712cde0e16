//! `keras.callbacks`: hooks into `fit`, usable from custom training loops too
//! (fill a [`Control`] and call the hooks yourself).
//!
//! ```
//! use ceras::callbacks::{Callback, Control, EarlyStopping, Logs};
//! let mut es = EarlyStopping::new("val_loss").patience(1);
//! let mut c = Control::default();
//! es.on_train_begin(&mut c).unwrap();
//! for (epoch, v) in [1.0, 0.5, 0.6, 0.7].into_iter().enumerate() {
//!     let logs = Logs::from([("val_loss".to_string(), v)]);
//!     es.on_epoch_end(epoch, &logs, &mut c).unwrap();
//! }
//! assert!(c.stop_training);
//! ```

use crate::error::arg_err;
use crate::models::Progbar;
use crate::{Result, Tensor, Variable};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

/// Metric values by name (`loss`, `accuracy`, `val_loss`, …).
pub type Logs = BTreeMap<String, f64>;

/// What callbacks see of the running training, and may change (Keras gives
/// callbacks `self.model` and `self.params`).
#[derive(Debug, Default)]
pub struct Control {
    /// Set to stop after the current epoch (Keras's `model.stop_training`).
    pub stop_training: bool,
    /// The optimizer's current learning rate; a callback may set a new one.
    pub learning_rate: Option<f64>,
    /// The model's variables, to save or restore weights.
    pub variables: Vec<Variable>,
    /// Number of epochs of the run (Keras's `params["epochs"]`).
    pub epochs: usize,
    /// Steps per epoch, when known (`params["steps"]`).
    pub steps: Option<usize>,
    /// Verbosity of the run (`params["verbose"]`).
    pub verbose: u8,
}

/// A training callback (`keras.callbacks.Callback`). Every hook has a no-op
/// default; an error from a hook stops `fit` and is returned by it.
pub trait Callback: Send {
    /// Before training.
    fn on_train_begin(&mut self, _c: &mut Control) -> Result<()> {
        Ok(())
    }
    /// After training.
    fn on_train_end(&mut self, _logs: &Logs, _c: &mut Control) -> Result<()> {
        Ok(())
    }
    /// Before an epoch (0-based).
    fn on_epoch_begin(&mut self, _epoch: usize, _c: &mut Control) -> Result<()> {
        Ok(())
    }
    /// After an epoch, with its training and validation logs.
    fn on_epoch_end(&mut self, _epoch: usize, _logs: &Logs, _c: &mut Control) -> Result<()> {
        Ok(())
    }
    /// After a training batch, with the running logs.
    fn on_train_batch_end(&mut self, _batch: usize, _logs: &Logs, _c: &mut Control) -> Result<()> {
        Ok(())
    }
}

/// A borrowed callback works too, so its state can be read after `fit`.
impl<C: Callback + ?Sized> Callback for &mut C {
    fn on_train_begin(&mut self, c: &mut Control) -> Result<()> {
        (**self).on_train_begin(c)
    }
    fn on_train_end(&mut self, logs: &Logs, c: &mut Control) -> Result<()> {
        (**self).on_train_end(logs, c)
    }
    fn on_epoch_begin(&mut self, epoch: usize, c: &mut Control) -> Result<()> {
        (**self).on_epoch_begin(epoch, c)
    }
    fn on_epoch_end(&mut self, epoch: usize, logs: &Logs, c: &mut Control) -> Result<()> {
        (**self).on_epoch_end(epoch, logs, c)
    }
    fn on_train_batch_end(&mut self, batch: usize, logs: &Logs, c: &mut Control) -> Result<()> {
        (**self).on_train_batch_end(batch, logs, c)
    }
}

/// Whether larger values of `monitor` are better under `mode` (`"auto"`: names
/// with `acc` or `auc`, as Keras guesses; `"min"`; `"max"`).
fn maximize(monitor: &str, mode: &str) -> Result<bool> {
    match mode {
        "auto" => Ok(monitor.contains("acc") || monitor.contains("auc")),
        "max" => Ok(true),
        "min" => Ok(false),
        _ => Err(arg_err(
            "callbacks",
            format!("mode must be 'auto', 'min' or 'max', got '{mode}'"),
        )),
    }
}

// ------------------------------------------------------------------ EarlyStopping

/// `EarlyStopping(monitor="val_loss", min_delta=0, patience=0, mode="auto",
/// baseline=None, restore_best_weights=False, start_from_epoch=0)`.
#[derive(Debug, Clone)]
pub struct EarlyStopping {
    monitor: String,
    min_delta: f64,
    patience: usize,
    mode: String,
    baseline: Option<f64>,
    restore_best_weights: bool,
    start_from_epoch: usize,
    best: Option<f64>,
    best_weights: Option<Vec<Tensor>>,
    wait: usize,
    /// Epoch at which training stopped, if it did.
    pub stopped_epoch: Option<usize>,
    /// Epoch with the best monitored value.
    pub best_epoch: Option<usize>,
}

impl EarlyStopping {
    /// Watches `monitor`.
    pub fn new(monitor: &str) -> EarlyStopping {
        EarlyStopping {
            monitor: monitor.into(),
            min_delta: 0.0,
            patience: 0,
            mode: "auto".into(),
            baseline: None,
            restore_best_weights: false,
            start_from_epoch: 0,
            best: None,
            best_weights: None,
            wait: 0,
            stopped_epoch: None,
            best_epoch: None,
        }
    }
    /// Epochs without improvement before stopping.
    pub fn patience(mut self, p: usize) -> Self {
        self.patience = p;
        self
    }
    /// Smallest change that counts as an improvement.
    pub fn min_delta(mut self, d: f64) -> Self {
        self.min_delta = d.abs();
        self
    }
    /// `"auto"`, `"min"` or `"max"`.
    pub fn mode(mut self, m: &str) -> Self {
        self.mode = m.into();
        self
    }
    /// Training stops unless the value beats this baseline.
    pub fn baseline(mut self, b: f64) -> Self {
        self.baseline = Some(b);
        self
    }
    /// Restore the weights of the best epoch when stopping.
    pub fn restore_best_weights(mut self, r: bool) -> Self {
        self.restore_best_weights = r;
        self
    }
    /// Epochs to wait before starting to monitor.
    pub fn start_from_epoch(mut self, e: usize) -> Self {
        self.start_from_epoch = e;
        self
    }
}

impl Callback for EarlyStopping {
    fn on_train_begin(&mut self, _c: &mut Control) -> Result<()> {
        maximize(&self.monitor, &self.mode)?;
        self.best = None;
        self.best_weights = None;
        self.wait = 0;
        self.stopped_epoch = None;
        self.best_epoch = None;
        Ok(())
    }
    fn on_epoch_end(&mut self, epoch: usize, logs: &Logs, c: &mut Control) -> Result<()> {
        let Some(&v) = logs.get(&self.monitor) else {
            return Ok(());
        };
        if epoch < self.start_from_epoch {
            return Ok(());
        }
        let max = maximize(&self.monitor, &self.mode)?;
        let improves = |reference: Option<f64>| match reference {
            None => true,
            Some(b) if max => v - self.min_delta > b,
            Some(b) => v + self.min_delta < b,
        };
        if self.restore_best_weights && self.best_weights.is_none() {
            // Restoring with no improvement at all gives back the initial weights.
            self.best_weights = Some(c.variables.iter().map(|w| w.value()).collect());
        }
        // Keras counts the epoch first, then resets on an improvement.
        self.wait += 1;
        if improves(self.best) {
            self.best = Some(v);
            self.best_epoch = Some(epoch);
            if self.restore_best_weights {
                self.best_weights = Some(c.variables.iter().map(|w| w.value()).collect());
            }
            if self.baseline.is_none_or(|b| improves(Some(b))) {
                self.wait = 0;
            }
            return Ok(());
        }
        if self.wait >= self.patience && epoch > 0 {
            self.stopped_epoch = Some(epoch);
            c.stop_training = true;
            if let Some(best) = &self.best_weights {
                for (w, t) in c.variables.iter().zip(best) {
                    w.assign(t.clone())?;
                }
            }
        }
        Ok(())
    }
}

// ------------------------------------------------------------------ TerminateOnNaN

/// `TerminateOnNaN()`: stops when the loss becomes NaN or infinite.
#[derive(Debug, Clone, Default)]
pub struct TerminateOnNaN;

impl Callback for TerminateOnNaN {
    fn on_train_batch_end(&mut self, batch: usize, logs: &Logs, c: &mut Control) -> Result<()> {
        if logs.get("loss").is_some_and(|l| !l.is_finite()) {
            eprintln!("Batch {batch}: Invalid loss, terminating training");
            c.stop_training = true;
        }
        Ok(())
    }
}

// ------------------------------------------------------------------ LambdaCallback

type EpochFn = Box<dyn FnMut(usize, &Logs) + Send>;
type BatchFn = Box<dyn FnMut(usize, &Logs) + Send>;

/// `LambdaCallback(on_epoch_end=..., on_train_batch_end=...)`.
#[derive(Default)]
pub struct LambdaCallback {
    on_epoch_end: Option<EpochFn>,
    on_batch_end: Option<BatchFn>,
}

impl LambdaCallback {
    /// A callback calling `f(epoch, logs)` after each epoch.
    pub fn on_epoch_end(f: impl FnMut(usize, &Logs) + Send + 'static) -> LambdaCallback {
        LambdaCallback {
            on_epoch_end: Some(Box::new(f)),
            on_batch_end: None,
        }
    }
    /// Also (or only) call `f(batch, logs)` after each training batch.
    pub fn with_train_batch_end(mut self, f: impl FnMut(usize, &Logs) + Send + 'static) -> Self {
        self.on_batch_end = Some(Box::new(f));
        self
    }
}

impl Callback for LambdaCallback {
    fn on_epoch_end(&mut self, epoch: usize, logs: &Logs, _c: &mut Control) -> Result<()> {
        if let Some(f) = &mut self.on_epoch_end {
            f(epoch, logs)
        }
        Ok(())
    }
    fn on_train_batch_end(&mut self, batch: usize, logs: &Logs, _c: &mut Control) -> Result<()> {
        if let Some(f) = &mut self.on_batch_end {
            f(batch, logs)
        }
        Ok(())
    }
}

// ------------------------------------------------------------------ LearningRateScheduler

/// `LearningRateScheduler(schedule)`: sets the rate from `schedule(epoch, lr)`.
pub struct LearningRateScheduler {
    f: Box<dyn FnMut(usize, f64) -> f64 + Send>,
}

impl LearningRateScheduler {
    /// A scheduler from a function of (epoch, current rate).
    pub fn new(f: impl FnMut(usize, f64) -> f64 + Send + 'static) -> LearningRateScheduler {
        LearningRateScheduler { f: Box::new(f) }
    }
}

impl Callback for LearningRateScheduler {
    fn on_epoch_begin(&mut self, epoch: usize, c: &mut Control) -> Result<()> {
        if let Some(lr) = c.learning_rate {
            c.learning_rate = Some((self.f)(epoch, lr));
        }
        Ok(())
    }
}

// ------------------------------------------------------------------ ReduceLROnPlateau

/// `ReduceLROnPlateau(monitor="val_loss", factor=0.1, patience=10, mode="auto",
/// min_delta=1e-4, cooldown=0, min_lr=0.0)`: multiplies the learning rate by
/// `factor` after `patience` epochs without improvement.
#[derive(Debug, Clone)]
pub struct ReduceLROnPlateau {
    monitor: String,
    factor: f64,
    patience: usize,
    mode: String,
    min_delta: f64,
    cooldown: usize,
    min_lr: f64,
    verbose: u8,
    best: Option<f64>,
    wait: usize,
    cooldown_counter: usize,
}

impl ReduceLROnPlateau {
    /// Watches `monitor` with Keras's defaults.
    pub fn new(monitor: &str) -> ReduceLROnPlateau {
        ReduceLROnPlateau {
            monitor: monitor.into(),
            factor: 0.1,
            patience: 10,
            mode: "auto".into(),
            min_delta: 1e-4,
            cooldown: 0,
            min_lr: 0.0,
            verbose: 0,
            best: None,
            wait: 0,
            cooldown_counter: 0,
        }
    }
    /// Factor applied to the rate (must be < 1).
    pub fn factor(mut self, f: f64) -> Self {
        self.factor = f;
        self
    }
    /// Epochs without improvement before reducing.
    pub fn patience(mut self, p: usize) -> Self {
        self.patience = p;
        self
    }
    /// `"auto"`, `"min"` or `"max"`.
    pub fn mode(mut self, m: &str) -> Self {
        self.mode = m.into();
        self
    }
    /// Smallest change that counts as an improvement.
    pub fn min_delta(mut self, d: f64) -> Self {
        self.min_delta = d;
        self
    }
    /// Epochs to wait after a reduction before counting again.
    pub fn cooldown(mut self, c: usize) -> Self {
        self.cooldown = c;
        self
    }
    /// Lower bound of the rate.
    pub fn min_lr(mut self, m: f64) -> Self {
        self.min_lr = m;
        self
    }
    /// 1 prints a message on each reduction.
    pub fn verbose(mut self, v: u8) -> Self {
        self.verbose = v;
        self
    }
}

impl Callback for ReduceLROnPlateau {
    fn on_train_begin(&mut self, _c: &mut Control) -> Result<()> {
        if self.factor >= 1.0 {
            return Err(arg_err(
                "ReduceLROnPlateau",
                format!("does not support a factor >= 1.0, got {}", self.factor),
            ));
        }
        maximize(&self.monitor, &self.mode)?;
        self.best = None;
        self.wait = 0;
        self.cooldown_counter = 0;
        Ok(())
    }
    fn on_epoch_end(&mut self, epoch: usize, logs: &Logs, c: &mut Control) -> Result<()> {
        let Some(&v) = logs.get(&self.monitor) else {
            return Ok(());
        };
        let max = maximize(&self.monitor, &self.mode)?;
        if self.cooldown_counter > 0 {
            self.cooldown_counter -= 1;
            self.wait = 0;
        }
        let better = match self.best {
            None => true,
            Some(b) if max => v > b + self.min_delta,
            Some(b) => v < b - self.min_delta,
        };
        if better {
            self.best = Some(v);
            self.wait = 0;
        } else if self.cooldown_counter == 0 {
            self.wait += 1;
            if self.wait >= self.patience {
                if let Some(old) = c.learning_rate {
                    if old > self.min_lr {
                        let new = (old * self.factor).max(self.min_lr);
                        c.learning_rate = Some(new);
                        if self.verbose > 0 {
                            println!(
                                "\nEpoch {}: ReduceLROnPlateau reducing learning rate to {new}.",
                                epoch + 1
                            );
                        }
                        self.cooldown_counter = self.cooldown;
                        self.wait = 0;
                    }
                }
            }
        }
        Ok(())
    }
}

// ------------------------------------------------------------------ CSVLogger

/// `CSVLogger(filename, separator=",", append=False)`: one row per epoch
/// (`epoch` then the log keys, sorted), flushed after every row.
pub struct CSVLogger {
    path: PathBuf,
    separator: String,
    append: bool,
    keys: Option<Vec<String>>,
    file: Option<std::fs::File>,
}

impl CSVLogger {
    /// Logs to `path`.
    pub fn new(path: impl Into<PathBuf>) -> CSVLogger {
        CSVLogger {
            path: path.into(),
            separator: ",".into(),
            append: false,
            keys: None,
            file: None,
        }
    }
    /// The column separator (default `,`).
    pub fn separator(mut self, s: &str) -> Self {
        self.separator = s.into();
        self
    }
    /// Append to an existing file (no new header) instead of overwriting it.
    pub fn append(mut self, a: bool) -> Self {
        self.append = a;
        self
    }
}

fn io_err(path: &std::path::Path, e: std::io::Error) -> crate::Error {
    crate::Error::Io(format!("CSVLogger: {}: {e}", path.display()))
}

impl Callback for CSVLogger {
    fn on_train_begin(&mut self, _c: &mut Control) -> Result<()> {
        let has_header = self.append
            && std::fs::metadata(&self.path)
                .map(|m| m.len() > 0)
                .unwrap_or(false);
        let f = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(self.append)
            .truncate(!self.append)
            .open(&self.path)
            .map_err(|e| io_err(&self.path, e))?;
        self.file = Some(f);
        if has_header {
            let text = std::fs::read_to_string(&self.path).map_err(|e| io_err(&self.path, e))?;
            let first = text.lines().next().unwrap_or_default();
            self.keys = Some(
                first
                    .split(self.separator.as_str())
                    .skip(1)
                    .map(str::to_string)
                    .collect(),
            );
        } else {
            self.keys = None;
        }
        Ok(())
    }
    fn on_epoch_end(&mut self, epoch: usize, logs: &Logs, _c: &mut Control) -> Result<()> {
        let sep = self.separator.clone();
        let Some(f) = self.file.as_mut() else {
            return Ok(());
        };
        let mut out = String::new();
        if self.keys.is_none() {
            let keys: Vec<String> = logs.keys().cloned().collect();
            out += &format!("epoch{sep}{}\n", keys.join(&sep));
            self.keys = Some(keys);
        }
        let keys = self.keys.as_deref().unwrap_or_default();
        let vals: Vec<String> = keys
            .iter()
            .map(|k| logs.get(k).map_or("NA".to_string(), |v| v.to_string()))
            .collect();
        out += &format!("{epoch}{sep}{}\n", vals.join(&sep));
        f.write_all(out.as_bytes())
            .and_then(|_| f.flush())
            .map_err(|e| io_err(&self.path, e))
    }
    fn on_train_end(&mut self, _logs: &Logs, _c: &mut Control) -> Result<()> {
        self.file = None;
        Ok(())
    }
}

// ------------------------------------------------------------------ ModelCheckpoint

/// `ModelCheckpoint(filepath, monitor="val_loss", save_best_only=False,
/// mode="auto", save_weights_only=True, save_freq="epoch")`: saves the weights
/// after each epoch (or every `n` batches), or only when `monitor` improves.
/// `filepath` may hold Keras's placeholders: `{epoch:02d}`, `{val_loss:.2f}`, any
/// log key with a `d`, `f` or `e` format. Weights go to `.weights.npz` files
/// (see [`crate::saving`]), written atomically. (Keras's `.weights.h5` and
/// `.keras` layouts need the model itself, which callbacks do not hold yet:
/// save those from the model, e.g. in a custom loop.)
pub struct ModelCheckpoint {
    filepath: String,
    monitor: String,
    save_best_only: bool,
    mode: String,
    save_freq: Option<usize>,
    initial_value_threshold: Option<f64>,
    verbose: u8,
    best: Option<f64>,
    batches_since_save: usize,
    epoch: usize,
    /// Files written, in order.
    pub saved: Vec<PathBuf>,
}

impl ModelCheckpoint {
    /// Saves to `filepath` (a template) after every epoch.
    pub fn new(filepath: &str) -> ModelCheckpoint {
        ModelCheckpoint {
            filepath: filepath.into(),
            monitor: "val_loss".into(),
            save_best_only: false,
            mode: "auto".into(),
            save_freq: None,
            initial_value_threshold: None,
            verbose: 0,
            best: None,
            batches_since_save: 0,
            epoch: 0,
            saved: Vec::new(),
        }
    }
    /// The log key deciding "best" (default `val_loss`).
    pub fn monitor(mut self, m: &str) -> Self {
        self.monitor = m.into();
        self
    }
    /// Save only when the monitored value improves.
    pub fn save_best_only(mut self, b: bool) -> Self {
        self.save_best_only = b;
        self
    }
    /// `"auto"`, `"min"` or `"max"`.
    pub fn mode(mut self, m: &str) -> Self {
        self.mode = m.into();
        self
    }
    /// Save every `n` training batches instead of every epoch.
    pub fn save_freq_batches(mut self, n: usize) -> Self {
        self.save_freq = Some(n.max(1));
        self
    }
    /// Only save values better than this.
    pub fn initial_value_threshold(mut self, v: f64) -> Self {
        self.initial_value_threshold = Some(v);
        self
    }
    /// 1 prints a line for each save.
    pub fn verbose(mut self, v: u8) -> Self {
        self.verbose = v;
        self
    }

    fn save(&mut self, epoch: usize, batch: Option<usize>, logs: &Logs, c: &Control) -> Result<()> {
        if self.save_best_only {
            let Some(&v) = logs.get(&self.monitor) else {
                eprintln!(
                    "Can save best model only with {} available, skipping.",
                    self.monitor
                );
                return Ok(());
            };
            let max = maximize(&self.monitor, &self.mode)?;
            let better = match self.best {
                None => true,
                Some(b) if max => v > b,
                Some(b) => v < b,
            };
            if !better {
                return Ok(());
            }
            self.best = Some(v);
        }
        let path = PathBuf::from(format_filepath(&self.filepath, epoch + 1, batch, logs)?);
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(|e| {
                    crate::Error::Io(format!("ModelCheckpoint: {}: {e}", dir.display()))
                })?;
            }
        }
        crate::saving::save_weights(&c.variables, &path)?;
        if self.verbose > 0 {
            println!("\nEpoch {}: saving model to {}", epoch + 1, path.display());
        }
        self.saved.push(path);
        Ok(())
    }
}

/// Fills Python-style `{key:fmt}` placeholders from `epoch` (1-based), `batch`
/// and the logs.
fn format_filepath(
    template: &str,
    epoch: usize,
    batch: Option<usize>,
    logs: &Logs,
) -> Result<String> {
    let bad = |m: String| arg_err("ModelCheckpoint", format!("filepath '{template}': {m}"));
    let mut out = String::new();
    let mut rest = template;
    while let Some(i) = rest.find('{') {
        out += &rest[..i];
        let j = rest[i..]
            .find('}')
            .ok_or_else(|| bad("unclosed '{'".into()))?;
        let inner = &rest[i + 1..i + j];
        let (key, spec) = inner.split_once(':').unwrap_or((inner, ""));
        let value = match key {
            "epoch" => epoch as f64,
            "batch" => batch
                .map(|b| (b + 1) as f64)
                .ok_or_else(|| bad("{batch} needs save_freq_batches".into()))?,
            k => *logs.get(k).ok_or_else(|| {
                bad(format!(
                    "no log value named '{k}'; logs have {:?}",
                    logs.keys().collect::<Vec<_>>()
                ))
            })?,
        };
        out += &format_number(value, spec)
            .ok_or_else(|| bad(format!("unsupported format '{spec}'")))?;
        rest = &rest[i + j + 1..];
    }
    out += rest;
    Ok(out)
}

/// Python's format mini-language for `d`, `f`, `e` and the empty spec.
fn format_number(v: f64, spec: &str) -> Option<String> {
    if spec.is_empty() {
        return Some(if v.fract() == 0.0 && v.abs() < 1e15 {
            format!("{}", v as i64)
        } else {
            v.to_string()
        });
    }
    let (body, kind) = spec.split_at(spec.len() - 1);
    let zero = body.starts_with('0');
    let (width, prec) = match body.split_once('.') {
        Some((w, p)) => (w, Some(p.parse::<usize>().ok()?)),
        None => (body, None),
    };
    let width: usize = if width.is_empty() {
        0
    } else {
        width.parse().ok()?
    };
    let s = match kind {
        "d" => format!("{}", v.round() as i64),
        "f" => format!("{:.*}", prec.unwrap_or(6), v),
        "e" => {
            let s = format!("{:.*e}", prec.unwrap_or(6), v);
            // Rust writes `1.5e-3`; Python writes `1.5e-03`.
            match s.split_once('e') {
                Some((m, e)) => {
                    let (sign, digits) = e.strip_prefix('-').map_or(("+", e), |d| ("-", d));
                    format!("{m}e{sign}{digits:0>2}")
                }
                None => s,
            }
        }
        _ => return None,
    };
    Some(if zero {
        let (sign, digits) = s.strip_prefix('-').map_or(("", s.as_str()), |d| ("-", d));
        format!("{sign}{digits:0>w$}", w = width.saturating_sub(sign.len()))
    } else {
        format!("{s:>width$}")
    })
}

impl Callback for ModelCheckpoint {
    fn on_train_begin(&mut self, _c: &mut Control) -> Result<()> {
        maximize(&self.monitor, &self.mode)?;
        self.best = self.initial_value_threshold;
        self.batches_since_save = 0;
        Ok(())
    }
    fn on_epoch_begin(&mut self, epoch: usize, _c: &mut Control) -> Result<()> {
        self.epoch = epoch;
        Ok(())
    }
    fn on_train_batch_end(&mut self, batch: usize, logs: &Logs, c: &mut Control) -> Result<()> {
        if let Some(n) = self.save_freq {
            self.batches_since_save += 1;
            if self.batches_since_save >= n {
                self.batches_since_save = 0;
                self.save(self.epoch, Some(batch), logs, c)?;
            }
        }
        Ok(())
    }
    fn on_epoch_end(&mut self, epoch: usize, logs: &Logs, c: &mut Control) -> Result<()> {
        if self.save_freq.is_none() {
            self.save(epoch, None, logs, c)?;
        }
        Ok(())
    }
}

// ------------------------------------------------------------------ ProgbarLogger

/// `ProgbarLogger()`: Keras's progress bar as a callback (`fit` adds one itself
/// when `verbose > 0`; add it to a custom loop to get the same display).
#[derive(Default)]
pub struct ProgbarLogger {
    bar: Option<Progbar>,
}

impl ProgbarLogger {
    /// A progress-bar callback (uses [`Control::verbose`], `epochs` and `steps`).
    pub fn new() -> ProgbarLogger {
        ProgbarLogger::default()
    }
}

impl Callback for ProgbarLogger {
    fn on_epoch_begin(&mut self, epoch: usize, c: &mut Control) -> Result<()> {
        if c.verbose > 0 {
            if c.epochs > 1 {
                println!("Epoch {}/{}", epoch + 1, c.epochs);
            }
            self.bar = Some(Progbar::new(c.steps.unwrap_or(0), c.verbose));
        }
        Ok(())
    }
    fn on_train_batch_end(&mut self, batch: usize, logs: &Logs, _c: &mut Control) -> Result<()> {
        if let Some(b) = self.bar.as_mut() {
            b.update(batch + 1, logs, false);
        }
        Ok(())
    }
    fn on_epoch_end(&mut self, _epoch: usize, logs: &Logs, c: &mut Control) -> Result<()> {
        if let Some(mut b) = self.bar.take() {
            b.update(c.steps.unwrap_or(0), logs, true);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_format_specs() {
        let logs = Logs::from([("val_loss".to_string(), 0.012345)]);
        let s =
            format_filepath("m-{epoch:02d}-{val_loss:.2f}.weights.npz", 3, None, &logs).unwrap();
        assert_eq!(s, "m-03-0.01.weights.npz");
        assert_eq!(format_number(0.0012345, ".2e").unwrap(), "1.23e-03");
        assert_eq!(format_number(7.0, "").unwrap(), "7");
        assert_eq!(format_number(-5.0, "04d").unwrap(), "-005");
        assert!(format_filepath("{nope}", 1, None, &logs).is_err());
        assert!(format_filepath("{epoch", 1, None, &logs).is_err());
    }
}
