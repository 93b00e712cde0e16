//! `Variable`: a named, mutable tensor owned by a layer, metric or optimizer, and
//! the `StatelessScope` that makes every stateful object usable as a pure function.
//!
//! A variable is a cheap handle (`Arc`): clones share the same storage. Reading it
//! ([`Variable::value`]) returns the current tensor; [`Variable::assign`] replaces
//! it after checking shape and dtype.
//!
//! Inside a [`StatelessScope`] (Keras's `StatelessScope`), reads return the value
//! bound in the scope and writes are recorded in the scope instead of touching the
//! variable. `stateless_call`, `stateless_apply`, `stateless_update_state` and the
//! training step are all built on it, so users never write stateless versions.
//!
//! ```
//! use ceras::{Tensor, Variable};
//! let v = Variable::new(Tensor::from_vec(vec![1.0f32, 2.0], [2]).unwrap(), "w", true).unwrap();
//! v.assign_add(&Tensor::from_vec(vec![0.5f32, 0.5], [2]).unwrap()).unwrap();
//! assert_eq!(v.value().to_vec::<f32>().unwrap(), vec![1.5, 2.5]);
//! ```

use crate::error::{arg_err, shape_err};
use crate::{ops, DType, IntoTensor, Result, Tensor};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

struct Inner {
    id: u64,
    name: String,
    path: RwLock<String>,
    shape: Vec<usize>,
    dtype: DType,
    trainable: AtomicBool,
    value: RwLock<Tensor>,
}

/// A named, mutable tensor (`keras.Variable`).
#[derive(Clone)]
pub struct Variable(Arc<Inner>);

impl std::fmt::Debug for Variable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "<Variable path={}, shape={:?}, dtype={}>",
            self.path(),
            self.0.shape,
            self.0.dtype
        )
    }
}

impl Variable {
    /// A variable holding `value` (concrete, not traced).
    pub fn new(value: impl IntoTensor, name: &str, trainable: bool) -> Result<Variable> {
        let value = value.into_tensor()?.with_weak(false);
        if value.is_traced() {
            return Err(arg_err(
                "Variable",
                format!("variable '{name}' cannot be created from a traced tensor"),
            ));
        }
        Ok(Variable(Arc::new(Inner {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            name: name.to_string(),
            path: RwLock::new(name.to_string()),
            shape: value.shape().to_vec(),
            dtype: value.dtype(),
            trainable: AtomicBool::new(trainable),
            value: RwLock::new(value),
        })))
    }

    /// A process-unique id (stable for the variable's life).
    pub fn id(&self) -> u64 {
        self.0.id
    }

    /// The short name (`kernel`).
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The path (`dense/kernel`): the owner's name and the variable's name.
    pub fn path(&self) -> String {
        self.0
            .path
            .read()
            .map(|p| p.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    pub(crate) fn set_path(&self, path: String) {
        match self.0.path.write() {
            Ok(mut p) => *p = path,
            Err(e) => *e.into_inner() = path,
        }
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.0.shape
    }

    /// The dtype.
    pub fn dtype(&self) -> DType {
        self.0.dtype
    }

    /// Whether optimizers update it.
    pub fn trainable(&self) -> bool {
        self.0.trainable.load(Ordering::Relaxed)
    }

    /// Freezes or unfreezes it.
    pub fn set_trainable(&self, t: bool) {
        self.0.trainable.store(t, Ordering::Relaxed)
    }

    /// The current value (the scope's binding inside a [`StatelessScope`]).
    pub fn value(&self) -> Tensor {
        if let Some(v) = scope_get(self.0.id) {
            return v;
        }
        self.stored()
    }

    /// The stored value, ignoring any scope.
    pub(crate) fn stored(&self) -> Tensor {
        match self.0.value.read() {
            Ok(v) => v.clone(),
            Err(e) => e.into_inner().clone(),
        }
    }

    /// Replaces the value. Shape must match; the value is cast to the variable's dtype.
    pub fn assign(&self, value: impl IntoTensor) -> Result<()> {
        let v = value.into_tensor()?;
        if v.shape() != self.shape() {
            return Err(shape_err(
                "Variable.assign",
                format!(
                    "variable '{}' has shape {:?}, the assigned value has shape {:?}",
                    self.path(),
                    self.shape(),
                    v.shape()
                ),
            ));
        }
        let v = if v.dtype() != self.dtype() {
            ops::cast(&v, self.dtype())?
        } else {
            v.with_weak(false)
        };
        if scope_set(self, v.clone()) {
            return Ok(());
        }
        match self.0.value.write() {
            Ok(mut s) => *s = v,
            Err(e) => *e.into_inner() = v,
        }
        Ok(())
    }

    /// `self += delta`.
    pub fn assign_add(&self, delta: impl IntoTensor) -> Result<()> {
        self.assign(ops::add(self.value(), delta)?)
    }

    /// `self -= delta`.
    pub fn assign_sub(&self, delta: impl IntoTensor) -> Result<()> {
        self.assign(ops::subtract(self.value(), delta)?)
    }

    /// Number of elements.
    pub fn size(&self) -> usize {
        self.0.shape.iter().product()
    }
}

impl crate::IntoTensor for &Variable {
    fn into_tensor(self) -> Result<Tensor> {
        Ok(self.value())
    }
}

// ------------------------------------------------------------------ stateless scope

struct Frame {
    values: HashMap<u64, Tensor>,
    /// Variables assigned in the scope, in first-assignment order.
    assigned: Vec<Variable>,
}

thread_local! {
    static SCOPES: RefCell<Vec<Frame>> = const { RefCell::new(Vec::new()) };
}

fn scope_get(id: u64) -> Option<Tensor> {
    SCOPES.with(|s| {
        s.borrow()
            .iter()
            .rev()
            .find_map(|f| f.values.get(&id).cloned())
    })
}

/// Records an assignment in the innermost scope; false when no scope is active.
fn scope_set(v: &Variable, value: Tensor) -> bool {
    SCOPES.with(|s| {
        let mut s = s.borrow_mut();
        let Some(f) = s.last_mut() else {
            return false;
        };
        if f.values.insert(v.id(), value).is_none() || !f.assigned.iter().any(|a| a.id() == v.id())
        {
            f.assigned.push(v.clone());
        }
        true
    })
}

/// Keras's `StatelessScope`: inside [`StatelessScope::run`], variables read the
/// values bound here and assignments are recorded here, never stored.
///
/// ```
/// use ceras::{Tensor, Variable, StatelessScope};
/// let v = Variable::new(Tensor::scalar(1.0f32).unwrap(), "v", true).unwrap();
/// let mut scope = StatelessScope::new(&[(v.clone(), Tensor::scalar(5.0f32).unwrap())]);
/// let seen = scope.run(|| { let x = v.value(); v.assign_add(1.0f32)?; Ok(x) }).unwrap();
/// assert_eq!(seen.item::<f32>().unwrap(), 5.0);
/// assert_eq!(scope.get(&v).unwrap().item::<f32>().unwrap(), 6.0);
/// assert_eq!(v.value().item::<f32>().unwrap(), 1.0); // untouched
/// ```
pub struct StatelessScope {
    values: HashMap<u64, Tensor>,
    assigned: Vec<Variable>,
}

impl StatelessScope {
    /// A scope binding each variable to a value (shapes are checked).
    pub fn new(bindings: &[(Variable, Tensor)]) -> StatelessScope {
        StatelessScope {
            values: bindings.iter().map(|(v, t)| (v.id(), t.clone())).collect(),
            assigned: Vec::new(),
        }
    }

    /// Checked version of [`StatelessScope::new`]: every value must have its variable's shape.
    pub fn checked(op: &str, vars: &[Variable], values: &[Tensor]) -> Result<StatelessScope> {
        if vars.len() != values.len() {
            return Err(arg_err(
                op,
                format!(
                    "expected {} variable values, got {}",
                    vars.len(),
                    values.len()
                ),
            ));
        }
        for (v, t) in vars.iter().zip(values) {
            if v.shape() != t.shape() {
                return Err(shape_err(
                    op,
                    format!(
                        "value for variable '{}' has shape {:?}, expected {:?}",
                        v.path(),
                        t.shape(),
                        v.shape()
                    ),
                ));
            }
        }
        let b: Vec<(Variable, Tensor)> = vars.iter().cloned().zip(values.iter().cloned()).collect();
        Ok(StatelessScope::new(&b))
    }

    /// Runs `f` with this scope active; bindings and assignments persist across runs.
    pub fn run<R>(&mut self, f: impl FnOnce() -> Result<R>) -> Result<R> {
        let frame = Frame {
            values: std::mem::take(&mut self.values),
            assigned: std::mem::take(&mut self.assigned),
        };
        SCOPES.with(|s| s.borrow_mut().push(frame));
        // Pop the frame even if `f` panics, so the thread's scope stack stays sane.
        struct Pop<'a>(&'a mut StatelessScope);
        impl Drop for Pop<'_> {
            fn drop(&mut self) {
                if let Some(f) = SCOPES.with(|s| s.borrow_mut().pop()) {
                    self.0.values = f.values;
                    self.0.assigned = f.assigned;
                }
            }
        }
        let _pop = Pop(self);
        f()
    }

    /// The value bound to (or assigned to) `v` in this scope.
    pub fn get(&self, v: &Variable) -> Option<Tensor> {
        self.values.get(&v.id()).cloned()
    }

    /// Values of `vars` in this scope, falling back to their stored values.
    pub fn values_of(&self, vars: &[Variable]) -> Vec<Tensor> {
        vars.iter()
            .map(|v| self.get(v).unwrap_or_else(|| v.stored()))
            .collect()
    }

    /// Variables assigned while the scope was active.
    pub fn assigned(&self) -> &[Variable] {
        &self.assigned
    }
}

/// True while a [`StatelessScope`] is active on this thread.
pub fn in_stateless_scope() -> bool {
    SCOPES.with(|s| !s.borrow().is_empty())
}
