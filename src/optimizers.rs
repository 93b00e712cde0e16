//! `keras.optimizers`: SGD, Adam, AdamW, RMSprop with Keras's update rules,
//! gradient clipping (`clipnorm`, `clipvalue`, `global_clipnorm`), weight decay
//! and learning-rate schedules. All state (iterations, slots) lives in
//! [`Variable`]s, so `stateless_apply` is derived from `apply`.
//!
//! ```
//! use ceras::optimizers::Sgd;
//! use ceras::{Tensor, Variable};
//! let w = Variable::new(Tensor::from_vec(vec![1.0f32], [1]).unwrap(), "w", true).unwrap();
//! let mut opt = Sgd::new(0.1);
//! opt.apply(&[Tensor::from_vec(vec![2.0f32], [1]).unwrap()], std::slice::from_ref(&w)).unwrap();
//! assert!((w.value().to_vec::<f32>().unwrap()[0] - 0.8).abs() < 1e-7);
//! ```

use crate::error::arg_err;
use crate::{ops, DType, Result, StatelessScope, Tensor, Variable};
use std::collections::HashMap;
use std::sync::Arc;

/// A learning-rate schedule (`keras.optimizers.schedules`), a function of the step.
pub trait LearningRateSchedule: Send + Sync {
    /// The rate at `step` (the optimizer's iteration count, before the update).
    fn rate(&self, step: f64) -> f64;
    /// Keras's class name and config, for saving (`None`: cannot be saved).
    fn get_config(&self) -> Option<(&'static str, serde_json::Value)> {
        None
    }
}

/// `ExponentialDecay(initial_learning_rate, decay_steps, decay_rate, staircase=False)`.
#[derive(Debug, Clone)]
pub struct ExponentialDecay {
    /// initial rate
    pub initial_learning_rate: f64,
    /// steps per decay
    pub decay_steps: f64,
    /// decay factor
    pub decay_rate: f64,
    /// decay in discrete steps
    pub staircase: bool,
}

impl LearningRateSchedule for ExponentialDecay {
    fn get_config(&self) -> Option<(&'static str, serde_json::Value)> {
        Some((
            "ExponentialDecay",
            serde_json::json!({"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps, "decay_rate": self.decay_rate, "staircase": self.staircase, "name": "ExponentialDecay"}),
        ))
    }
    fn rate(&self, step: f64) -> f64 {
        let mut p = step / self.decay_steps;
        if self.staircase {
            p = p.floor();
        }
        self.initial_learning_rate * self.decay_rate.powf(p)
    }
}

/// `CosineDecay(initial_learning_rate, decay_steps, alpha=0.0, warmup_target=None, warmup_steps=0)`.
#[derive(Debug, Clone)]
pub struct CosineDecay {
    /// initial rate
    pub initial_learning_rate: f64,
    /// steps of the decay
    pub decay_steps: f64,
    /// final fraction of the rate
    pub alpha: f64,
    /// rate at the end of the warmup
    pub warmup_target: Option<f64>,
    /// linear warmup steps
    pub warmup_steps: f64,
}

impl LearningRateSchedule for CosineDecay {
    fn get_config(&self) -> Option<(&'static str, serde_json::Value)> {
        Some((
            "CosineDecay",
            serde_json::json!({"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps, "alpha": self.alpha, "name": "CosineDecay", "warmup_target": self.warmup_target, "warmup_steps": self.warmup_steps}),
        ))
    }
    fn rate(&self, step: f64) -> f64 {
        let decay = |initial: f64, s: f64| {
            let s = s.min(self.decay_steps);
            let cos = 0.5 * (1.0 + (std::f64::consts::PI * s / self.decay_steps).cos());
            initial * ((1.0 - self.alpha) * cos + self.alpha)
        };
        match self.warmup_target {
            None => decay(self.initial_learning_rate, step),
            Some(target) => {
                if step < self.warmup_steps {
                    let done = step / self.warmup_steps;
                    self.initial_learning_rate + (target - self.initial_learning_rate) * done
                } else {
                    decay(target, step - self.warmup_steps)
                }
            }
        }
    }
}

/// `PiecewiseConstantDecay(boundaries, values)`: `values[i]` while `step <= boundaries[i]`.
#[derive(Debug, Clone)]
pub struct PiecewiseConstantDecay {
    /// step boundaries (increasing)
    pub boundaries: Vec<f64>,
    /// one more value than boundaries
    pub values: Vec<f64>,
}

impl LearningRateSchedule for PiecewiseConstantDecay {
    fn get_config(&self) -> Option<(&'static str, serde_json::Value)> {
        Some((
            "PiecewiseConstantDecay",
            serde_json::json!({"boundaries": self.boundaries, "values": self.values, "name": "PiecewiseConstant"}),
        ))
    }
    fn rate(&self, step: f64) -> f64 {
        for (b, v) in self.boundaries.iter().zip(&self.values) {
            if step <= *b {
                return *v;
            }
        }
        *self.values.last().unwrap_or(&0.0)
    }
}

/// `InverseTimeDecay(initial_learning_rate, decay_steps, decay_rate, staircase=False)`:
/// `initial / (1 + decay_rate * step / decay_steps)` (the quotient floored when
/// `staircase`).
#[derive(Debug, Clone)]
pub struct InverseTimeDecay {
    /// initial rate
    pub initial_learning_rate: f64,
    /// steps per decay unit
    pub decay_steps: f64,
    /// decay factor
    pub decay_rate: f64,
    /// decay in discrete steps
    pub staircase: bool,
}

impl LearningRateSchedule for InverseTimeDecay {
    fn get_config(&self) -> Option<(&'static str, serde_json::Value)> {
        Some((
            "InverseTimeDecay",
            serde_json::json!({"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps, "decay_rate": self.decay_rate, "staircase": self.staircase, "name": "InverseTimeDecay"}),
        ))
    }
    fn rate(&self, step: f64) -> f64 {
        let mut p = step / self.decay_steps;
        if self.staircase {
            p = p.floor();
        }
        self.initial_learning_rate / (1.0 + self.decay_rate * p)
    }
}

/// `PolynomialDecay(initial_learning_rate, decay_steps, end_learning_rate=0.0001,
/// power=1.0, cycle=False)`: `(initial - end) * (1 - step / decay_steps)^power + end`,
/// with `step` capped at `decay_steps`, or, with `cycle`, `decay_steps` stretched to
/// the first multiple of it at or above `step`.
#[derive(Debug, Clone)]
pub struct PolynomialDecay {
    /// initial rate
    pub initial_learning_rate: f64,
    /// steps of the decay
    pub decay_steps: f64,
    /// final rate
    pub end_learning_rate: f64,
    /// power of the polynomial
    pub power: f64,
    /// restart the decay after each `decay_steps`
    pub cycle: bool,
}

impl LearningRateSchedule for PolynomialDecay {
    fn get_config(&self) -> Option<(&'static str, serde_json::Value)> {
        Some((
            "PolynomialDecay",
            serde_json::json!({"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps, "end_learning_rate": self.end_learning_rate, "power": self.power, "cycle": self.cycle, "name": "PolynomialDecay"}),
        ))
    }
    fn rate(&self, step: f64) -> f64 {
        let (step, decay_steps) = if self.cycle {
            let mult = if step == 0.0 {
                1.0
            } else {
                (step / self.decay_steps).ceil()
            };
            (step, self.decay_steps * mult)
        } else {
            (step.min(self.decay_steps), self.decay_steps)
        };
        let p = step / decay_steps;
        (self.initial_learning_rate - self.end_learning_rate) * (1.0 - p).powf(self.power)
            + self.end_learning_rate
    }
}

/// `CosineDecayRestarts(initial_learning_rate, first_decay_steps, t_mul=2.0,
/// m_mul=1.0, alpha=0.0)` (SGDR): cosine decays restarted after `first_decay_steps`,
/// each period `t_mul` times longer and starting `m_mul` times lower.
#[derive(Debug, Clone)]
pub struct CosineDecayRestarts {
    /// initial rate
    pub initial_learning_rate: f64,
    /// steps of the first period
    pub first_decay_steps: f64,
    /// growth of the period length
    pub t_mul: f64,
    /// decay of the rate at each restart
    pub m_mul: f64,
    /// final fraction of each period's rate
    pub alpha: f64,
}

impl LearningRateSchedule for CosineDecayRestarts {
    fn get_config(&self) -> Option<(&'static str, serde_json::Value)> {
        Some((
            "CosineDecayRestarts",
            serde_json::json!({"initial_learning_rate": self.initial_learning_rate, "first_decay_steps": self.first_decay_steps, "t_mul": self.t_mul, "m_mul": self.m_mul, "alpha": self.alpha, "name": "SGDRDecay"}),
        ))
    }
    fn rate(&self, step: f64) -> f64 {
        let fraction = step / self.first_decay_steps;
        let (i_restart, fraction) = if self.t_mul == 1.0 {
            let i = fraction.floor();
            (i, fraction - i)
        } else {
            let i = ((1.0 - fraction * (1.0 - self.t_mul)).ln() / self.t_mul.ln()).floor();
            let sum_r = (1.0 - self.t_mul.powf(i)) / (1.0 - self.t_mul);
            (i, (fraction - sum_r) / self.t_mul.powf(i))
        };
        let m_fac = self.m_mul.powf(i_restart);
        let cosine = 0.5 * m_fac * (1.0 + (std::f64::consts::PI * fraction).cos());
        self.initial_learning_rate * ((1.0 - self.alpha) * cosine + self.alpha)
    }
}

/// A learning rate: a constant or a schedule.
#[derive(Clone)]
pub enum LearningRate {
    /// A fixed rate.
    Constant(f64),
    /// A schedule of the iteration count.
    Schedule(Arc<dyn LearningRateSchedule>),
}

impl From<f64> for LearningRate {
    fn from(v: f64) -> Self {
        LearningRate::Constant(v)
    }
}

impl<S: LearningRateSchedule + 'static> From<S> for LearningRate {
    fn from(s: S) -> Self {
        LearningRate::Schedule(Arc::new(s))
    }
}

/// The update rule.
#[derive(Debug, Clone, PartialEq)]
pub enum Algorithm {
    /// `SGD(momentum=0.0, nesterov=False)`
    Sgd {
        /// momentum
        momentum: f64,
        /// Nesterov momentum
        nesterov: bool,
    },
    /// `Adam(beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False)`; AdamW is Adam
    /// with `weight_decay`.
    Adam {
        /// first-moment decay
        beta_1: f64,
        /// second-moment decay
        beta_2: f64,
        /// epsilon
        epsilon: f64,
        /// AMSGrad variant
        amsgrad: bool,
    },
    /// `RMSprop(rho=0.9, momentum=0.0, epsilon=1e-7, centered=False)`
    RmsProp {
        /// decay of the squared-gradient average
        rho: f64,
        /// momentum
        momentum: f64,
        /// epsilon
        epsilon: f64,
        /// centered variant
        centered: bool,
    },
}

/// An optimizer (`keras.optimizers.Optimizer`).
pub struct Optimizer {
    name: String,
    /// Keras's class name (`"SGD"`, `"Adam"`, `"AdamW"`, `"RMSprop"`).
    class: &'static str,
    algorithm: Algorithm,
    learning_rate: LearningRate,
    clipnorm: Option<f64>,
    clipvalue: Option<f64>,
    global_clipnorm: Option<f64>,
    weight_decay: Option<f64>,
    iterations: Variable,
    slots: HashMap<u64, Vec<Variable>>,
}

/// `keras.optimizers.SGD`.
pub struct Sgd;
/// `keras.optimizers.Adam`.
pub struct Adam;
/// `keras.optimizers.AdamW`.
pub struct AdamW;
/// `keras.optimizers.RMSprop`.
pub struct RmsProp;

impl Sgd {
    /// `SGD(learning_rate)` (Keras's default rate is 0.01).
    #[allow(clippy::new_ret_no_self)]
    pub fn new(learning_rate: impl Into<LearningRate>) -> Optimizer {
        Optimizer::new(
            "SGD",
            Algorithm::Sgd {
                momentum: 0.0,
                nesterov: false,
            },
            learning_rate,
        )
    }
}
impl Adam {
    /// `Adam(learning_rate)` (Keras's default rate is 0.001).
    #[allow(clippy::new_ret_no_self)]
    pub fn new(learning_rate: impl Into<LearningRate>) -> Optimizer {
        Optimizer::new(
            "adam",
            Algorithm::Adam {
                beta_1: 0.9,
                beta_2: 0.999,
                epsilon: 1e-7,
                amsgrad: false,
            },
            learning_rate,
        )
    }
}
impl AdamW {
    /// `AdamW(learning_rate, weight_decay=0.004)`.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(learning_rate: impl Into<LearningRate>) -> Optimizer {
        let mut o = Adam::new(learning_rate);
        o.name = "adamw".into();
        o.class = "AdamW";
        o.weight_decay = Some(0.004);
        o
    }
}
impl RmsProp {
    /// `RMSprop(learning_rate)` (Keras's default rate is 0.001).
    #[allow(clippy::new_ret_no_self)]
    pub fn new(learning_rate: impl Into<LearningRate>) -> Optimizer {
        Optimizer::new(
            "rmsprop",
            Algorithm::RmsProp {
                rho: 0.9,
                momentum: 0.0,
                epsilon: 1e-7,
                centered: false,
            },
            learning_rate,
        )
    }
}

impl Optimizer {
    /// An optimizer with an algorithm and a rate.
    pub fn new(
        name: &str,
        algorithm: Algorithm,
        learning_rate: impl Into<LearningRate>,
    ) -> Optimizer {
        // A concrete int64 scalar: neither constructor can fail.
        let iterations = Tensor::scalar(0i64)
            .and_then(|t| Variable::new(t, "iteration", false))
            .expect("a concrete scalar variable");
        iterations.set_path(format!("{name}/iteration"));
        let class = match &algorithm {
            Algorithm::Sgd { .. } => "SGD",
            Algorithm::Adam { .. } => "Adam",
            Algorithm::RmsProp { .. } => "RMSprop",
        };
        Optimizer {
            name: name.into(),
            class,
            algorithm,
            learning_rate: learning_rate.into(),
            clipnorm: None,
            clipvalue: None,
            global_clipnorm: None,
            weight_decay: None,
            iterations,
            slots: HashMap::new(),
        }
    }

    /// By Keras name with Keras's default rate (`"adam"`, `"sgd"`, `"adamw"`, `"rmsprop"`).
    pub fn get(name: &str) -> Result<Optimizer> {
        match name.to_lowercase().as_str() {
            "sgd" => Ok(Sgd::new(0.01)),
            "adam" => Ok(Adam::new(0.001)),
            "adamw" => Ok(AdamW::new(0.001)),
            "rmsprop" => Ok(RmsProp::new(0.001)),
            _ => Err(arg_err(
                "optimizers.get",
                format!("unknown optimizer '{name}'; expected one of sgd, adam, adamw, rmsprop"),
            )),
        }
    }

    /// SGD momentum.
    pub fn momentum(mut self, m: f64) -> Self {
        match &mut self.algorithm {
            Algorithm::Sgd { momentum, .. } | Algorithm::RmsProp { momentum, .. } => *momentum = m,
            Algorithm::Adam { .. } => {}
        }
        self
    }
    /// SGD Nesterov momentum.
    pub fn nesterov(mut self, n: bool) -> Self {
        if let Algorithm::Sgd { nesterov, .. } = &mut self.algorithm {
            *nesterov = n;
        }
        self
    }
    /// Adam `beta_1`.
    pub fn beta_1(mut self, b: f64) -> Self {
        if let Algorithm::Adam { beta_1, .. } = &mut self.algorithm {
            *beta_1 = b;
        }
        self
    }
    /// Adam `beta_2`.
    pub fn beta_2(mut self, b: f64) -> Self {
        if let Algorithm::Adam { beta_2, .. } = &mut self.algorithm {
            *beta_2 = b;
        }
        self
    }
    /// Epsilon (Adam, RMSprop).
    pub fn epsilon(mut self, e: f64) -> Self {
        match &mut self.algorithm {
            Algorithm::Adam { epsilon, .. } | Algorithm::RmsProp { epsilon, .. } => *epsilon = e,
            Algorithm::Sgd { .. } => {}
        }
        self
    }
    /// AMSGrad (Adam).
    pub fn amsgrad(mut self, a: bool) -> Self {
        if let Algorithm::Adam { amsgrad, .. } = &mut self.algorithm {
            *amsgrad = a;
        }
        self
    }
    /// RMSprop `rho`.
    pub fn rho(mut self, r: f64) -> Self {
        if let Algorithm::RmsProp { rho, .. } = &mut self.algorithm {
            *rho = r;
        }
        self
    }
    /// Centered RMSprop.
    pub fn centered(mut self, c: bool) -> Self {
        if let Algorithm::RmsProp { centered, .. } = &mut self.algorithm {
            *centered = c;
        }
        self
    }
    /// Clip each gradient to this L2 norm.
    pub fn clipnorm(mut self, v: f64) -> Self {
        self.clipnorm = Some(v);
        self
    }
    /// Clip gradient values to `[-v, v]`.
    pub fn clipvalue(mut self, v: f64) -> Self {
        self.clipvalue = Some(v);
        self
    }
    /// Clip all gradients together to this global L2 norm.
    pub fn global_clipnorm(mut self, v: f64) -> Self {
        self.global_clipnorm = Some(v);
        self
    }
    /// Decoupled weight decay (`var -= var * wd * lr` before each update).
    pub fn weight_decay(mut self, wd: f64) -> Self {
        self.weight_decay = Some(wd);
        self
    }

    /// The optimizer's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Steps taken.
    pub fn iterations(&self) -> Result<i64> {
        self.iterations.value().item::<i64>()
    }

    /// The iteration counter variable.
    pub fn iterations_variable(&self) -> &Variable {
        &self.iterations
    }

    /// The current learning rate (schedules evaluated at the current step).
    pub fn learning_rate(&self) -> Result<f64> {
        Ok(match &self.learning_rate {
            LearningRate::Constant(v) => *v,
            LearningRate::Schedule(s) => s.rate(self.iterations()? as f64),
        })
    }

    /// Sets a constant learning rate (used by `ReduceLROnPlateau`, schedulers).
    pub fn set_learning_rate(&mut self, lr: f64) {
        self.learning_rate = LearningRate::Constant(lr);
    }

    /// All state variables: the iteration counter, then slots in variable order.
    pub fn variables(&self, for_vars: &[Variable]) -> Vec<Variable> {
        let mut v = vec![self.iterations.clone()];
        for var in for_vars {
            if let Some(s) = self.slots.get(&var.id()) {
                v.extend(s.iter().cloned());
            }
        }
        v
    }

    /// Creates the slots for `vars` (done by `apply` on first use).
    pub fn build(&mut self, vars: &[Variable]) -> Result<()> {
        for v in vars {
            if self.slots.contains_key(&v.id()) {
                continue;
            }
            let names: Vec<&str> = match &self.algorithm {
                Algorithm::Sgd { momentum, .. } if *momentum != 0.0 => vec!["momentum"],
                Algorithm::Sgd { .. } => vec![],
                Algorithm::Adam { amsgrad, .. } => {
                    if *amsgrad {
                        vec!["momentum", "velocity", "velocity_hat"]
                    } else {
                        vec!["momentum", "velocity"]
                    }
                }
                Algorithm::RmsProp {
                    momentum, centered, ..
                } => {
                    let mut n = vec!["velocity"];
                    if *momentum > 0.0 {
                        n.push("momentum");
                    }
                    if *centered {
                        n.push("average_gradient");
                    }
                    n
                }
            };
            let mut slots = Vec::new();
            for n in names {
                let s = Variable::new(ops::zeros(v.shape(), Some(v.dtype()))?, n, false)?;
                s.set_path(format!(
                    "{}/{}_{}",
                    self.name,
                    v.path().replace('/', "_"),
                    n
                ));
                slots.push(s);
            }
            self.slots.insert(v.id(), slots);
        }
        Ok(())
    }

    fn clip(&self, grads: &[Tensor]) -> Result<Vec<Tensor>> {
        let mut g: Vec<Tensor> = grads.to_vec();
        if let Some(c) = self.clipnorm {
            g = g
                .iter()
                .map(|x| clip_by_norm(x, c))
                .collect::<Result<_>>()?;
        }
        if let Some(c) = self.global_clipnorm {
            let mut total = ops::zeros(&[], Some(DType::F32))?;
            for x in &g {
                let s = ops::cast(ops::sum(ops::square(x)?, None, false)?, DType::F32)?;
                total = ops::add(total, s)?;
            }
            let norm = ops::sqrt(total)?;
            // scale = c * min(1 / norm, 1 / c)
            let scale = ops::multiply(ops::minimum(ops::divide(1.0, &norm)?, 1.0 / c)?, c)?;
            g = g
                .iter()
                .map(|x| ops::multiply(x, ops::cast(&scale, x.dtype())?))
                .collect::<Result<_>>()?;
        }
        if let Some(c) = self.clipvalue {
            g = g
                .iter()
                .map(|x| ops::clip(x, -c, c))
                .collect::<Result<_>>()?;
        }
        Ok(g)
    }

    /// Applies one step of gradients to variables (Keras's `apply`).
    pub fn apply(&mut self, grads: &[Tensor], vars: &[Variable]) -> Result<()> {
        if grads.len() != vars.len() {
            return Err(arg_err(
                &self.name,
                format!("got {} gradients for {} variables", grads.len(), vars.len()),
            ));
        }
        for (g, v) in grads.iter().zip(vars) {
            if g.shape() != v.shape() {
                return Err(arg_err(
                    &self.name,
                    format!(
                        "gradient of shape {:?} for variable '{}' of shape {:?}",
                        g.shape(),
                        v.path(),
                        v.shape()
                    ),
                ));
            }
        }
        self.build(vars)?;
        let lr = self.learning_rate()?;
        let grads = self.clip(grads)?;
        if let Some(wd) = self.weight_decay {
            for v in vars {
                v.assign(ops::subtract(
                    v.value(),
                    ops::multiply(ops::multiply(v.value(), wd)?, lr)?,
                )?)?;
            }
        }
        let step = (self.iterations()? + 1) as f64;
        for (g, v) in grads.iter().zip(vars) {
            let g = ops::cast(g, v.dtype())?;
            let slots = self.slots.get(&v.id()).cloned().unwrap_or_default();
            self.update_step(&g, v, &slots, lr, step)?;
        }
        self.iterations.assign_add(1i64)?;
        Ok(())
    }

    fn update_step(
        &self,
        g: &Tensor,
        var: &Variable,
        slots: &[Variable],
        lr: f64,
        step: f64,
    ) -> Result<()> {
        let dt = var.dtype();
        let c = |x: f64| ops::full(&[], x, Some(dt));
        let lr_t = c(lr)?;
        match self.algorithm {
            Algorithm::Sgd { momentum, nesterov } => {
                if let Some(m) = slots.first() {
                    let mom = c(momentum)?;
                    let new_m = ops::add(
                        ops::multiply(ops::negative(g)?, &lr_t)?,
                        ops::multiply(m.value(), &mom)?,
                    )?;
                    m.assign(&new_m)?;
                    if nesterov {
                        var.assign_add(ops::add(
                            ops::multiply(ops::negative(g)?, &lr_t)?,
                            ops::multiply(&new_m, &mom)?,
                        )?)?;
                    } else {
                        var.assign_add(&new_m)?;
                    }
                } else {
                    var.assign_sub(ops::multiply(g, &lr_t)?)?;
                }
            }
            Algorithm::Adam {
                beta_1,
                beta_2,
                epsilon,
                amsgrad,
            } => {
                let (m, v) = (&slots[0], &slots[1]);
                let b1p = ops::power(c(beta_1)?, c(step)?)?;
                let b2p = ops::power(c(beta_2)?, c(step)?)?;
                let alpha = ops::divide(
                    ops::multiply(&lr_t, ops::sqrt(ops::subtract(1.0, &b2p)?)?)?,
                    ops::subtract(1.0, &b1p)?,
                )?;
                // One pass on backends with a fused kernel (bit-identical results).
                if !amsgrad {
                    if let Some((nvar, nm, nv)) = ops::nn::fused_adam(
                        &var.value(),
                        &m.value(),
                        &v.value(),
                        g,
                        &alpha,
                        beta_1,
                        beta_2,
                        epsilon,
                    )? {
                        m.assign(nm)?;
                        v.assign(nv)?;
                        return var.assign(nvar);
                    }
                }
                m.assign_add(ops::multiply(
                    ops::subtract(g, m.value())?,
                    c(1.0 - beta_1)?,
                )?)?;
                v.assign_add(ops::multiply(
                    ops::subtract(ops::square(g)?, v.value())?,
                    c(1.0 - beta_2)?,
                )?)?;
                let vv = if amsgrad {
                    let vh = &slots[2];
                    vh.assign(ops::maximum(vh.value(), v.value())?)?;
                    vh.value()
                } else {
                    v.value()
                };
                var.assign_sub(ops::divide(
                    ops::multiply(m.value(), &alpha)?,
                    ops::add(ops::sqrt(&vv)?, c(epsilon)?)?,
                )?)?;
            }
            Algorithm::RmsProp {
                rho,
                momentum,
                epsilon,
                centered,
            } => {
                let vel = &slots[0];
                let mut k = 1;
                let mom = if momentum > 0.0 {
                    k += 1;
                    Some(&slots[1])
                } else {
                    None
                };
                let avg = if centered { Some(&slots[k]) } else { None };
                vel.assign(ops::add(
                    ops::multiply(c(rho)?, vel.value())?,
                    ops::multiply(c(1.0 - rho)?, ops::square(g)?)?,
                )?)?;
                let denom = if let Some(a) = avg {
                    a.assign(ops::add(
                        ops::multiply(c(rho)?, a.value())?,
                        ops::multiply(c(1.0 - rho)?, g)?,
                    )?)?;
                    ops::add(
                        ops::subtract(vel.value(), ops::square(a.value())?)?,
                        c(epsilon)?,
                    )?
                } else {
                    ops::add(vel.value(), c(epsilon)?)?
                };
                let inc = ops::divide(ops::multiply(&lr_t, g)?, ops::sqrt(denom)?)?;
                if let Some(m) = mom {
                    m.assign(ops::add(ops::multiply(c(momentum)?, m.value())?, &inc)?)?;
                    var.assign_sub(m.value())?;
                } else {
                    var.assign_sub(&inc)?;
                }
            }
        }
        Ok(())
    }

    /// Keras's `stateless_apply`: returns new (trainable, optimizer) values
    /// without touching any variable. `optimizer_values` follow [`Optimizer::variables`].
    pub fn stateless_apply(
        &mut self,
        optimizer_values: &[Tensor],
        grads: &[Tensor],
        vars: &[Variable],
        trainable_values: &[Tensor],
    ) -> Result<(Vec<Tensor>, Vec<Tensor>)> {
        self.build(vars)?;
        let ovars = self.variables(vars);
        let mut all = vars.to_vec();
        all.extend(ovars.iter().cloned());
        let mut vals = trainable_values.to_vec();
        vals.extend(optimizer_values.iter().cloned());
        let mut scope = StatelessScope::checked("stateless_apply", &all, &vals)?;
        scope.run(|| self.apply(grads, vars))?;
        Ok((scope.values_of(vars), scope.values_of(&ovars)))
    }
}

/// Keras's `clip_by_norm`.
fn clip_by_norm(x: &Tensor, clip: f64) -> Result<Tensor> {
    let l2 = ops::sum(ops::square(x)?, None, true)?;
    let pos = ops::greater(&l2, 0.0)?;
    let safe = ops::r#where(&pos, &l2, ops::ones_like(&l2, None)?)?;
    let norm = ops::r#where(&pos, ops::sqrt(safe)?, &l2)?;
    ops::divide(ops::multiply(x, clip)?, ops::maximum(norm, clip)?)
}

// ------------------------------------------------------------------ configs

fn schedule_config(s: &dyn LearningRateSchedule) -> Result<serde_json::Value> {
    let (class, cfg) = s.get_config().ok_or_else(|| {
        crate::error::unsupported(
            "optimizer.get_config",
            "a custom learning-rate schedule cannot be serialized",
        )
    })?;
    Ok(crate::saving::serialize::envelope(
        "keras.optimizers.schedules",
        class,
        cfg,
    ))
}

/// A learning-rate schedule from its Keras envelope.
pub fn schedule_from_config(v: &serde_json::Value) -> Result<Arc<dyn LearningRateSchedule>> {
    const WHO: &str = "schedules.deserialize";
    let (class, cfg) = crate::saving::serialize::class_and_config(WHO, v)?;
    let null = serde_json::Value::Null;
    let cfg = cfg.unwrap_or(&null);
    let num = |k: &str, d: Option<f64>| -> Result<f64> {
        match cfg.get(k) {
            Some(x) if !x.is_null() => x
                .as_f64()
                .ok_or_else(|| arg_err(WHO, format!("{class}: '{k}' must be a number, got {x}"))),
            _ => d.ok_or_else(|| arg_err(WHO, format!("{class}: '{k}' is required"))),
        }
    };
    let flag = |k: &str| cfg.get(k).and_then(|x| x.as_bool()).unwrap_or(false);
    let nums = |k: &str| -> Result<Vec<f64>> {
        cfg.get(k)
            .and_then(|x| x.as_array())
            .and_then(|a| a.iter().map(|x| x.as_f64()).collect::<Option<Vec<_>>>())
            .ok_or_else(|| arg_err(WHO, format!("{class}: '{k}' must be a list of numbers")))
    };
    Ok(match class.as_str() {
        "ExponentialDecay" => Arc::new(ExponentialDecay {
            initial_learning_rate: num("initial_learning_rate", None)?,
            decay_steps: num("decay_steps", None)?,
            decay_rate: num("decay_rate", None)?,
            staircase: flag("staircase"),
        }),
        "CosineDecay" => Arc::new(CosineDecay {
            initial_learning_rate: num("initial_learning_rate", None)?,
            decay_steps: num("decay_steps", None)?,
            alpha: num("alpha", Some(0.0))?,
            warmup_target: cfg.get("warmup_target").and_then(|x| x.as_f64()),
            warmup_steps: num("warmup_steps", Some(0.0))?,
        }),
        "PiecewiseConstantDecay" => Arc::new(PiecewiseConstantDecay {
            boundaries: nums("boundaries")?,
            values: nums("values")?,
        }),
        "InverseTimeDecay" => Arc::new(InverseTimeDecay {
            initial_learning_rate: num("initial_learning_rate", None)?,
            decay_steps: num("decay_steps", None)?,
            decay_rate: num("decay_rate", None)?,
            staircase: flag("staircase"),
        }),
        "PolynomialDecay" => Arc::new(PolynomialDecay {
            initial_learning_rate: num("initial_learning_rate", None)?,
            decay_steps: num("decay_steps", None)?,
            end_learning_rate: num("end_learning_rate", Some(1e-4))?,
            power: num("power", Some(1.0))?,
            cycle: flag("cycle"),
        }),
        "CosineDecayRestarts" => Arc::new(CosineDecayRestarts {
            initial_learning_rate: num("initial_learning_rate", None)?,
            first_decay_steps: num("first_decay_steps", None)?,
            t_mul: num("t_mul", Some(2.0))?,
            m_mul: num("m_mul", Some(1.0))?,
            alpha: num("alpha", Some(0.0))?,
        }),
        _ => {
            return Err(crate::error::unsupported(
                WHO,
                format!("learning-rate schedule '{class}'"),
            ))
        }
    })
}

impl Optimizer {
    /// Keras's class name (`"Adam"`).
    pub fn class_name(&self) -> &'static str {
        self.class
    }

    /// Renames the optimizer (Keras's `name=`).
    pub fn named(mut self, name: &str) -> Self {
        self.name = name.to_string();
        self
    }

    /// The Keras config envelope (`module: "keras.optimizers"`).
    pub fn get_config(&self) -> Result<serde_json::Value> {
        use serde_json::json;
        let lr = match &self.learning_rate {
            LearningRate::Constant(v) => json!(v),
            LearningRate::Schedule(s) => schedule_config(s.as_ref())?,
        };
        let mut c = json!({
            "name": self.name,
            "learning_rate": lr,
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue,
            "use_ema": false,
            "ema_momentum": 0.99,
            "ema_overwrite_frequency": null,
            "loss_scale_factor": null,
            "gradient_accumulation_steps": null,
        });
        let extra = match &self.algorithm {
            Algorithm::Sgd { momentum, nesterov } => {
                json!({"momentum": momentum, "nesterov": nesterov})
            }
            Algorithm::Adam {
                beta_1,
                beta_2,
                epsilon,
                amsgrad,
            } => {
                json!({"beta_1": beta_1, "beta_2": beta_2, "epsilon": epsilon, "amsgrad": amsgrad})
            }
            Algorithm::RmsProp {
                rho,
                momentum,
                epsilon,
                centered,
            } => {
                json!({"rho": rho, "momentum": momentum, "epsilon": epsilon, "centered": centered})
            }
        };
        if let (Some(m), serde_json::Value::Object(e)) = (c.as_object_mut(), extra) {
            m.extend(e);
        }
        Ok(crate::saving::serialize::envelope(
            "keras.optimizers",
            self.class,
            c,
        ))
    }

    /// An optimizer from a name (`"adam"`) or its Keras envelope.
    pub fn from_config(v: &serde_json::Value) -> Result<Optimizer> {
        const WHO: &str = "optimizers.deserialize";
        let (class, cfg) = crate::saving::serialize::class_and_config(WHO, v)?;
        let Some(cfg) = cfg else {
            return Optimizer::get(&class);
        };
        let num = |k: &str| cfg.get(k).and_then(|x| x.as_f64());
        let flag = |k: &str| cfg.get(k).and_then(|x| x.as_bool());
        for k in [
            "use_ema",
            "gradient_accumulation_steps",
            "loss_scale_factor",
        ] {
            let on = match cfg.get(k) {
                None | Some(serde_json::Value::Null) => false,
                Some(serde_json::Value::Bool(b)) => *b,
                Some(_) => true,
            };
            if on {
                return Err(crate::error::unsupported(
                    WHO,
                    format!("{class} with '{k}' = {}", cfg[k]),
                ));
            }
        }
        let lr: LearningRate = match cfg.get("learning_rate") {
            None | Some(serde_json::Value::Null) => {
                LearningRate::Constant(match class.to_lowercase().as_str() {
                    "sgd" => 0.01,
                    _ => 0.001,
                })
            }
            Some(x) if x.is_number() => LearningRate::Constant(x.as_f64().unwrap_or(0.001)),
            Some(x) => LearningRate::Schedule(schedule_from_config(x)?),
        };
        let mut o = match class.as_str() {
            "SGD" | "sgd" => {
                let mut o = Sgd::new(lr);
                o = o.momentum(num("momentum").unwrap_or(0.0));
                o.nesterov(flag("nesterov").unwrap_or(false))
            }
            "Adam" | "AdamW" | "adam" | "adamw" => {
                let mut o = if class.eq_ignore_ascii_case("adamw") {
                    AdamW::new(lr)
                } else {
                    Adam::new(lr)
                };
                if let Some(b) = num("beta_1") {
                    o = o.beta_1(b);
                }
                if let Some(b) = num("beta_2") {
                    o = o.beta_2(b);
                }
                if let Some(e) = num("epsilon") {
                    o = o.epsilon(e);
                }
                o.amsgrad(flag("amsgrad").unwrap_or(false))
            }
            "RMSprop" | "rmsprop" => {
                let mut o = RmsProp::new(lr);
                if let Some(r) = num("rho") {
                    o = o.rho(r);
                }
                if let Some(m) = num("momentum") {
                    o = o.momentum(m);
                }
                if let Some(e) = num("epsilon") {
                    o = o.epsilon(e);
                }
                o.centered(flag("centered").unwrap_or(false))
            }
            _ => {
                return Err(crate::error::unsupported(
                    WHO,
                    format!("optimizer class '{class}' (ceras has SGD, Adam, AdamW and RMSprop)"),
                ))
            }
        };
        o.weight_decay = num("weight_decay");
        o.clipnorm = num("clipnorm");
        o.clipvalue = num("clipvalue");
        o.global_clipnorm = num("global_clipnorm");
        if let Some(n) = cfg.get("name").and_then(|x| x.as_str()) {
            o.name = n.to_string();
        }
        Ok(o)
    }

    /// Whether slots exist for every one of `vars`.
    pub fn is_built_for(&self, vars: &[Variable]) -> bool {
        vars.iter().all(|v| self.slots.contains_key(&v.id()))
    }

    /// The optimizer's variables in the order Keras saves them
    /// (`optimizer/vars/0..`): `iteration`, `learning_rate` (a fresh scalar
    /// holding the rate, only for a constant rate), then the slots —
    /// interleaved per variable for Adam (`momentum_k, velocity_k`, then every
    /// `velocity_hat_k`), one kind after another for RMSprop.
    pub fn keras_variables(&self, vars: &[Variable]) -> Result<Vec<Variable>> {
        let mut out = vec![self.iterations.clone()];
        if let LearningRate::Constant(lr) = self.learning_rate {
            let v = Variable::new(Tensor::scalar(lr as f32)?, "learning_rate", false)?;
            v.set_path(format!("{}/learning_rate", self.name));
            out.push(v);
        }
        let slot = |v: &Variable, i: usize| -> Option<Variable> {
            self.slots.get(&v.id()).and_then(|s| s.get(i).cloned())
        };
        let n_slots = vars
            .first()
            .and_then(|v| self.slots.get(&v.id()))
            .map_or(0, |s| s.len());
        match &self.algorithm {
            Algorithm::Adam { .. } => {
                for v in vars {
                    out.extend(slot(v, 0));
                    out.extend(slot(v, 1));
                }
                if n_slots > 2 {
                    out.extend(vars.iter().filter_map(|v| slot(v, 2)));
                }
            }
            _ => {
                for i in 0..n_slots {
                    out.extend(vars.iter().filter_map(|v| slot(v, i)));
                }
            }
        }
        Ok(out)
    }

    /// Whether the learning rate is a constant (then Keras saves it as a variable).
    pub fn has_constant_learning_rate(&self) -> bool {
        matches!(self.learning_rate, LearningRate::Constant(_))
    }
}
