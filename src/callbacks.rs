//! `keras.callbacks`: hooks into `fit`, usable from custom training loops too.

use std::collections::BTreeMap;

/// Metric values by name (`loss`, `accuracy`, `val_loss`, …).
pub type Logs = BTreeMap<String, f64>;

/// What a callback may change in the running training.
#[derive(Debug, Default)]
pub struct Control {
    /// Set to stop after the current epoch (Keras's `model.stop_training`).
    pub stop_training: bool,
    /// The optimizer's current learning rate; a callback may set a new one.
    pub learning_rate: Option<f64>,
}

/// A training callback (`keras.callbacks.Callback`). Every hook has a no-op default.
pub trait Callback: Send {
    /// Before training.
    fn on_train_begin(&mut self, _c: &mut Control) {}
    /// After training.
    fn on_train_end(&mut self, _logs: &Logs, _c: &mut Control) {}
    /// Before an epoch (0-based).
    fn on_epoch_begin(&mut self, _epoch: usize, _c: &mut Control) {}
    /// After an epoch, with its training and validation logs.
    fn on_epoch_end(&mut self, _epoch: usize, _logs: &Logs, _c: &mut Control) {}
    /// After a training batch, with the running logs.
    fn on_train_batch_end(&mut self, _batch: usize, _logs: &Logs, _c: &mut Control) {}
}

/// `EarlyStopping(monitor="val_loss", min_delta=0, patience=0, mode="auto")`.
#[derive(Debug, Clone)]
pub struct EarlyStopping {
    monitor: String,
    min_delta: f64,
    patience: usize,
    maximize: bool,
    best: Option<f64>,
    wait: usize,
    /// Epoch at which training stopped, if it did.
    pub stopped_epoch: Option<usize>,
}

impl EarlyStopping {
    /// Watches `monitor`; `mode="auto"` maximizes names containing `acc` / `auc`.
    pub fn new(monitor: &str) -> EarlyStopping {
        let maximize = monitor.contains("acc") || monitor.contains("auc");
        EarlyStopping {
            monitor: monitor.into(),
            min_delta: 0.0,
            patience: 0,
            maximize,
            best: None,
            wait: 0,
            stopped_epoch: None,
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
}

impl Callback for EarlyStopping {
    fn on_train_begin(&mut self, _c: &mut Control) {
        self.best = None;
        self.wait = 0;
        self.stopped_epoch = None;
    }
    fn on_epoch_end(&mut self, epoch: usize, logs: &Logs, c: &mut Control) {
        let Some(&v) = logs.get(&self.monitor) else {
            return;
        };
        let better = match self.best {
            None => true,
            Some(b) if self.maximize => v - self.min_delta > b,
            Some(b) => v + self.min_delta < b,
        };
        if better {
            self.best = Some(v);
            self.wait = 0;
            return;
        }
        self.wait += 1;
        if self.wait > self.patience {
            c.stop_training = true;
            self.stopped_epoch = Some(epoch);
        }
    }
}

/// `TerminateOnNaN()`: stops when the loss becomes NaN or infinite.
#[derive(Debug, Clone, Default)]
pub struct TerminateOnNaN;

impl Callback for TerminateOnNaN {
    fn on_train_batch_end(&mut self, batch: usize, logs: &Logs, c: &mut Control) {
        if logs.get("loss").is_some_and(|l| !l.is_finite()) {
            eprintln!("Batch {batch}: Invalid loss, terminating training");
            c.stop_training = true;
        }
    }
}

type EpochFn = Box<dyn FnMut(usize, &Logs) + Send>;

/// `LambdaCallback(on_epoch_end=...)`.
pub struct LambdaCallback {
    on_epoch_end: Option<EpochFn>,
}

impl LambdaCallback {
    /// A callback calling `f(epoch, logs)` after each epoch.
    pub fn on_epoch_end(f: impl FnMut(usize, &Logs) + Send + 'static) -> LambdaCallback {
        LambdaCallback {
            on_epoch_end: Some(Box::new(f)),
        }
    }
}

impl Callback for LambdaCallback {
    fn on_epoch_end(&mut self, epoch: usize, logs: &Logs, _c: &mut Control) {
        if let Some(f) = &mut self.on_epoch_end {
            f(epoch, logs)
        }
    }
}

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
    fn on_epoch_begin(&mut self, epoch: usize, c: &mut Control) {
        if let Some(lr) = c.learning_rate {
            c.learning_rate = Some((self.f)(epoch, lr));
        }
    }
}
