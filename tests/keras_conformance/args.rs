//! What op entries are built from: the registry, the output type, and helpers that
//! turn a case's decoded arguments into Rust values (positional-or-keyword lookup,
//! Value → Tensor with Keras's weak-typing rules, axes, dtypes, shapes, ...).
//!
//! Every helper that reads an argument marks it as used: the runner fails a case whose
//! entry silently ignored a non-`None` argument (e.g. a `dtype=` the entry never read).

use crate::value::{Array, Case, Value};
use ceras::{DType, HostData, Tensor};
use std::collections::HashMap;

/// Why an entry did not produce an output.
#[derive(Debug)]
pub enum Fail {
    /// The op itself returned an error.
    Op(ceras::Error),
    /// An argument cannot be expressed with the Rust API (e.g. a float where the
    /// signature takes `usize`). Counts as a pass when Keras raised, as a failure otherwise.
    Arg(String),
    /// The case cannot be checked (reason given); counted as skipped.
    Skip(String),
}

impl From<ceras::Error> for Fail {
    fn from(e: ceras::Error) -> Self {
        Fail::Op(e)
    }
}

/// Shorthand for an argument error.
pub fn arg_fail<T>(msg: impl Into<String>) -> Result<T, Fail> {
    Err(Fail::Arg(msg.into()))
}

/// What an op entry returns; compared with the recorded result.
#[derive(Debug)]
pub enum Out {
    /// A tensor.
    Tensor(Tensor),
    /// A tuple or list (compared element-wise with a recorded tuple or list).
    Seq(Vec<Out>),
    /// A Python `int`.
    Int(i64),
    /// A Python `float`.
    Float(f64),
    /// A Python `bool`.
    Bool(bool),
    /// A Python `str`.
    Str(String),
    /// `None`.
    None,
}

impl From<Tensor> for Out {
    fn from(t: Tensor) -> Self {
        Out::Tensor(t)
    }
}
impl From<Vec<Tensor>> for Out {
    fn from(v: Vec<Tensor>) -> Self {
        Out::Seq(v.into_iter().map(Out::Tensor).collect())
    }
}
impl From<(Tensor, Tensor)> for Out {
    fn from(v: (Tensor, Tensor)) -> Self {
        Out::Seq(vec![Out::Tensor(v.0), Out::Tensor(v.1)])
    }
}
impl From<(Tensor, Tensor, Tensor)> for Out {
    fn from(v: (Tensor, Tensor, Tensor)) -> Self {
        Out::Seq(vec![Out::Tensor(v.0), Out::Tensor(v.1), Out::Tensor(v.2)])
    }
}

/// Result of an op entry.
pub type OpResult = Result<Out, Fail>;
/// An op entry: replays one case.
pub type OpFn = fn(&Case) -> OpResult;

/// Float tolerance class of an op (see README "Tolerances").
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Tol {
    /// Element-wise ops: float32 `(rtol 1e-5, atol 1e-6)`.
    Elementwise,
    /// Reductions, matmul, conv, einsum, attention, linalg, FFT, special functions,
    /// image resampling: float32 `(1e-4, 1e-5)`.
    Accumulate,
    /// Explicit float32 `(rtol, atol)`; half precision still gets at least its default.
    Custom(f64, f64),
}

impl Tol {
    /// `(rtol, atol)` for results of dtype `d`.
    pub fn for_dtype(self, d: DType) -> (f64, f64) {
        let (r, a) = match self {
            Tol::Elementwise => (1e-5, 1e-6),
            Tol::Accumulate => (1e-4, 1e-5),
            Tol::Custom(r, a) => (r, a),
        };
        match d {
            DType::F16 => (r.max(1e-2), a.max(1e-2)),
            DType::BF16 => (r.max(2e-2), a.max(2e-2)),
            _ => (r, a),
        }
    }
}

/// A registered op entry.
pub struct Entry {
    /// The replay function.
    pub f: OpFn,
    /// Tolerance override (`None`: the runner's per-op table).
    pub tol: Option<Tol>,
}

/// Op name (`"add"`, `"image.resize"`) → entry.
#[derive(Default)]
pub struct Registry {
    pub(crate) entries: HashMap<&'static str, Entry>,
}

impl Registry {
    /// Registers `name`; panics on a duplicate (two files registering the same op).
    pub fn add(&mut self, name: &'static str, f: OpFn) {
        self.insert(name, f, None);
    }
    /// Registers `name` with an explicit tolerance class.
    pub fn add_tol(&mut self, name: &'static str, tol: Tol, f: OpFn) {
        self.insert(name, f, Some(tol));
    }
    fn insert(&mut self, name: &'static str, f: OpFn, tol: Option<Tol>) {
        if self.entries.insert(name, Entry { f, tol }).is_some() {
            panic!("keras_conformance: op `{name}` is registered twice");
        }
    }
    /// The entry of `name`.
    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.entries.get(name)
    }
}

// ---------------------------------------------------------------------------------
// Value → Rust conversions.

/// Parses a corpus dtype name; complex / float8 / int4 ... give a skip.
pub fn parse_dtype(name: &str) -> Result<DType, Fail> {
    DType::parse(name).map_err(|_| Fail::Skip(format!("dtype {name} not supported by ceras")))
}

/// A recorded array as a strongly typed tensor (NumPy scalars included).
pub fn array_tensor(a: &Array) -> Result<Tensor, Fail> {
    let d = parse_dtype(&a.dtype)?;
    Ok(Tensor::from_le_bytes(d, a.shape.clone(), &a.data)?)
}

/// Shape of a nested list of scalars (`None` when ragged).
fn nested_shape(v: &Value) -> Option<Vec<usize>> {
    match v {
        Value::List(xs) | Value::Tuple(xs) => {
            let mut inner: Option<Vec<usize>> = None;
            for x in xs {
                let s = nested_shape(x)?;
                match &inner {
                    None => inner = Some(s),
                    Some(i) if *i == s => {}
                    Some(_) => return None,
                }
            }
            let mut out = vec![xs.len()];
            out.extend(inner.unwrap_or_default());
            Some(out)
        }
        Value::Array(a) => Some(a.shape.clone()),
        _ => Some(vec![]),
    }
}

fn flatten_leaves<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::List(xs) | Value::Tuple(xs) => xs.iter().for_each(|x| flatten_leaves(x, out)),
        _ => out.push(v),
    }
}

/// A (nested) Python list/tuple as a tensor, the way Keras's `convert_to_tensor`
/// does it under JAX: the dtype is `result_type` of the elements, Python scalars being
/// weak (Python floats → `floatx`, ints → `int32`, bools → `bool`; `(1, int8 array, 3)`
/// → `int8`); arrays nested in the list are stacked.
pub fn list_tensor(v: &Value) -> Result<Tensor, Fail> {
    use ceras::dtype::{result_type_weak, TypeArg};
    let shape = nested_shape(v).ok_or_else(|| Fail::Arg("ragged nested list".into()))?;
    let mut leaves = Vec::new();
    flatten_leaves(v, &mut leaves);
    let mut types = Vec::with_capacity(leaves.len());
    for l in &leaves {
        types.push(match l {
            Value::Bool(_) => TypeArg::Weak(DType::Bool),
            Value::Int(_) => TypeArg::Weak(DType::I64),
            Value::Float(_) => TypeArg::Weak(DType::F64),
            Value::Array(a) => TypeArg::Strong(parse_dtype(&a.dtype)?),
            Value::Complex(..) => return Err(Fail::Skip("complex value".into())),
            other => return arg_fail(format!("cannot put {} in a tensor", other.describe())),
        });
    }
    let floatx = ceras::config::floatx();
    if leaves.is_empty() {
        // np.array([]) is float64 → floatx.
        return Ok(Tensor::from_host(HostData::from_f64(floatx, &[]), shape)?);
    }
    let d = result_type_weak(&types, floatx).0;
    // Arrays of the result dtype only: stack their bytes (exact for 64-bit values).
    if leaves
        .iter()
        .all(|l| matches!(l, Value::Array(a) if parse_dtype(&a.dtype).ok() == Some(d)))
    {
        let mut bytes = Vec::new();
        for l in &leaves {
            if let Value::Array(a) = l {
                bytes.extend_from_slice(&a.data);
            }
        }
        return Ok(Tensor::from_le_bytes(d, shape, &bytes)?);
    }
    let mut vals = Vec::new();
    for l in &leaves {
        match l {
            Value::Bool(b) => vals.push(*b as i64 as f64),
            Value::Int(i) => vals.push(*i as f64),
            Value::Float(f) => vals.push(*f),
            Value::Array(a) => vals.extend(array_tensor(a)?.to_f64_vec()?),
            _ => unreachable!("checked above"),
        }
    }
    Ok(Tensor::from_host(HostData::from_f64(d, &vals), shape)?)
}

/// Converts an argument to a tensor: arrays keep their dtype (strong); Python
/// `int`/`float`/`bool` become *weak* 0-d tensors (Keras's weak typing); lists/tuples
/// are converted as NumPy/Keras would.
pub fn tensor(v: &Value) -> Result<Tensor, Fail> {
    match v {
        Value::Array(a) => array_tensor(a),
        Value::Int(i) => Ok(Tensor::weak_scalar(*i)?),
        Value::Float(f) => Ok(Tensor::weak_scalar(*f)?),
        Value::Bool(b) => Ok(Tensor::weak_scalar(*b)?),
        Value::List(_) | Value::Tuple(_) => list_tensor(v),
        Value::Complex(..) => Err(Fail::Skip("complex value".into())),
        other => arg_fail(format!("cannot convert {} to a tensor", other.describe())),
    }
}

/// A list/tuple of tensor-likes as tensors (e.g. `concatenate(xs)`); a single array
/// is split along its first axis, as iterating over it in Python would.
pub fn tensors(v: &Value) -> Result<Vec<Tensor>, Fail> {
    match v {
        Value::List(xs) | Value::Tuple(xs) => xs.iter().map(tensor).collect(),
        Value::Array(a) if !a.shape.is_empty() => {
            let t = array_tensor(a)?;
            let n = a.shape[0];
            let rest: Vec<usize> = a.shape[1..].to_vec();
            let d = t.dtype();
            let step = a.data.len() / n.max(1);
            (0..n)
                .map(|i| {
                    Ok(Tensor::from_le_bytes(
                        d,
                        rest.clone(),
                        &a.data[i * step..(i + 1) * step],
                    )?)
                })
                .collect()
        }
        other => arg_fail(format!(
            "expected a sequence of tensors, got {}",
            other.describe()
        )),
    }
}

/// A Python int (a bool counts as int; a 0-d integer array too).
pub fn as_i64(v: &Value) -> Result<i64, Fail> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::Bool(b) => Ok(*b as i64),
        Value::Array(a) if a.shape.iter().product::<usize>() == 1 => {
            let t = array_tensor(a)?;
            if t.dtype().is_float() {
                return arg_fail(format!("expected an int, got a {} array", a.dtype));
            }
            Ok(t.to_i64_vec()?[0])
        }
        other => arg_fail(format!("expected an int, got {}", other.describe())),
    }
}

/// A non-negative Python int.
pub fn as_usize(v: &Value) -> Result<usize, Fail> {
    let i = as_i64(v)?;
    usize::try_from(i).or_else(|_| arg_fail(format!("expected a non-negative int, got {i}")))
}

/// A Python number as f64.
pub fn as_f64(v: &Value) -> Result<f64, Fail> {
    match v {
        Value::Int(i) => Ok(*i as f64),
        Value::Float(f) => Ok(*f),
        Value::Bool(b) => Ok(*b as i64 as f64),
        Value::Array(a) if a.shape.iter().product::<usize>() == 1 => {
            Ok(array_tensor(a)?.to_f64_vec()?[0])
        }
        other => arg_fail(format!("expected a number, got {}", other.describe())),
    }
}

/// An int or a sequence of ints (also a 1-D integer array).
pub fn as_ints(v: &Value) -> Result<Vec<i64>, Fail> {
    match v {
        Value::List(xs) | Value::Tuple(xs) => xs.iter().map(as_i64).collect(),
        Value::Array(a) if a.shape.len() == 1 => {
            let t = array_tensor(a)?;
            if t.dtype().is_float() {
                return arg_fail(format!("expected ints, got a {} array", a.dtype));
            }
            Ok(t.to_i64_vec()?)
        }
        _ => Ok(vec![as_i64(v)?]),
    }
}

/// A dtype argument: a name, or a Python type object (`int` → int32, `float` → float32).
pub fn as_dtype(v: &Value) -> Result<DType, Fail> {
    match v {
        Value::Str(s) => parse_dtype(s),
        Value::PyType(t) => match t.as_str() {
            "int" => Ok(DType::I32),
            "float" => Ok(DType::F32),
            "bool" => Ok(DType::Bool),
            _ => Err(Fail::Skip(format!("dtype {t} not supported by ceras"))),
        },
        other => arg_fail(format!("expected a dtype, got {}", other.describe())),
    }
}

// ---------------------------------------------------------------------------------
// Argument lookup on a case.

impl Case {
    /// Argument `name`, passed positionally at index `i` or by keyword; marks it used.
    /// `Some(Value::None)` when `None` was passed explicitly.
    pub fn arg(&self, i: usize, name: &str) -> Option<&Value> {
        let mut used = self.used.borrow_mut();
        if i < self.args.len() {
            used.0[i] = true;
            return Some(&self.args[i]);
        }
        let k = self.kwargs.iter().position(|(k, _)| k == name)?;
        used.1[k] = true;
        Some(&self.kwargs[k].1)
    }

    /// Argument `name` unless absent or `None`.
    pub fn get(&self, i: usize, name: &str) -> Option<&Value> {
        self.arg(i, name).filter(|v| !v.is_none())
    }

    /// A required argument.
    pub fn req(&self, i: usize, name: &str) -> Result<&Value, Fail> {
        self.get(i, name)
            .ok_or_else(|| Fail::Arg(format!("missing argument `{name}`")))
    }

    /// Marks every argument as used (for entries that deliberately ignore some).
    pub fn use_all(&self) {
        let mut used = self.used.borrow_mut();
        used.0.iter_mut().for_each(|u| *u = true);
        used.1.iter_mut().for_each(|u| *u = true);
    }

    /// A required tensor argument (see [`tensor`]).
    pub fn tensor(&self, i: usize, name: &str) -> Result<Tensor, Fail> {
        tensor(self.req(i, name)?)
    }
    /// An optional tensor argument.
    pub fn tensor_opt(&self, i: usize, name: &str) -> Result<Option<Tensor>, Fail> {
        self.get(i, name).map(tensor).transpose()
    }
    /// A required sequence-of-tensors argument.
    pub fn tensors(&self, i: usize, name: &str) -> Result<Vec<Tensor>, Fail> {
        tensors(self.req(i, name)?)
    }

    /// `axis`: None → `None`, int → `[int]`, tuple/list → the ints.
    pub fn axis_opt(&self, i: usize, name: &str) -> Result<Option<Vec<i64>>, Fail> {
        self.get(i, name).map(as_ints).transpose()
    }
    /// A required axis / axes argument (int or sequence).
    pub fn axes(&self, i: usize, name: &str) -> Result<Vec<i64>, Fail> {
        as_ints(self.req(i, name)?)
    }
    /// A single optional axis (a one-element tuple is accepted).
    pub fn axis1_opt(&self, i: usize, name: &str) -> Result<Option<i64>, Fail> {
        match self.axis_opt(i, name)? {
            None => Ok(None),
            Some(v) if v.len() == 1 => Ok(Some(v[0])),
            Some(v) => arg_fail(format!("`{name}` must be a single axis here, got {v:?}")),
        }
    }
    /// A single axis with a default.
    pub fn axis1_kw(&self, i: usize, name: &str, default: i64) -> Result<i64, Fail> {
        Ok(self.axis1_opt(i, name)?.unwrap_or(default))
    }

    /// A required int.
    pub fn int(&self, i: usize, name: &str) -> Result<i64, Fail> {
        as_i64(self.req(i, name)?)
    }
    /// An int with a default (`None` → default).
    pub fn i64_kw(&self, i: usize, name: &str, default: i64) -> Result<i64, Fail> {
        Ok(self.i64_opt(i, name)?.unwrap_or(default))
    }
    /// An optional int.
    pub fn i64_opt(&self, i: usize, name: &str) -> Result<Option<i64>, Fail> {
        self.get(i, name).map(as_i64).transpose()
    }
    /// A required non-negative int.
    pub fn usize(&self, i: usize, name: &str) -> Result<usize, Fail> {
        as_usize(self.req(i, name)?)
    }
    /// An optional non-negative int.
    pub fn usize_opt(&self, i: usize, name: &str) -> Result<Option<usize>, Fail> {
        self.get(i, name).map(as_usize).transpose()
    }
    /// A required number.
    pub fn f64(&self, i: usize, name: &str) -> Result<f64, Fail> {
        as_f64(self.req(i, name)?)
    }
    /// A number with a default.
    pub fn f64_kw(&self, i: usize, name: &str, default: f64) -> Result<f64, Fail> {
        Ok(self.f64_opt(i, name)?.unwrap_or(default))
    }
    /// An optional number.
    pub fn f64_opt(&self, i: usize, name: &str) -> Result<Option<f64>, Fail> {
        self.get(i, name).map(as_f64).transpose()
    }
    /// A bool with a default.
    pub fn bool_kw(&self, i: usize, name: &str, default: bool) -> Result<bool, Fail> {
        match self.get(i, name) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::Int(i)) => Ok(*i != 0),
            Some(Value::Array(a)) if a.dtype == "bool" && a.data.len() == 1 => Ok(a.data[0] != 0),
            Some(other) => arg_fail(format!(
                "`{name}`: expected a bool, got {}",
                other.describe()
            )),
        }
    }
    /// A string with a default.
    pub fn str_kw(&self, i: usize, name: &str, default: &str) -> Result<String, Fail> {
        Ok(self
            .str_opt(i, name)?
            .unwrap_or_else(|| default.to_string()))
    }
    /// An optional string.
    pub fn str_opt(&self, i: usize, name: &str) -> Result<Option<String>, Fail> {
        match self.get(i, name) {
            None => Ok(None),
            Some(Value::Str(s)) => Ok(Some(s.clone())),
            Some(other) => arg_fail(format!(
                "`{name}`: expected a str, got {}",
                other.describe()
            )),
        }
    }
    /// An optional dtype.
    pub fn dtype_opt(&self, i: usize, name: &str) -> Result<Option<DType>, Fail> {
        self.get(i, name).map(as_dtype).transpose()
    }
    /// A required dtype.
    pub fn dtype(&self, i: usize, name: &str) -> Result<DType, Fail> {
        as_dtype(self.req(i, name)?)
    }
    /// An optional `data_format` (`"channels_last"` / `"channels_first"`).
    pub fn data_format_opt(
        &self,
        i: usize,
        name: &str,
    ) -> Result<Option<ceras::config::DataFormat>, Fail> {
        match self.str_opt(i, name)? {
            None => Ok(None),
            Some(s) => Ok(Some(ceras::config::DataFormat::parse(&s)?)),
        }
    }
    /// A shape (int or sequence of non-negative ints).
    pub fn shape(&self, i: usize, name: &str) -> Result<Vec<usize>, Fail> {
        self.axes(i, name)?
            .into_iter()
            .map(|d| usize::try_from(d).or_else(|_| arg_fail(format!("negative dimension {d}"))))
            .collect()
    }
    /// A shape that may hold `-1` (e.g. `reshape`).
    pub fn ishape(&self, i: usize, name: &str) -> Result<Vec<i64>, Fail> {
        self.axes(i, name)
    }
}

// ---------------------------------------------------------------------------------
// Entry shapes shared by many ops.

/// `op(x)`.
pub type UnaryFn = fn(Tensor) -> ceras::Result<Tensor>;
/// `op(a, b)`.
pub type BinaryFn = fn(Tensor, Tensor) -> ceras::Result<Tensor>;
/// `op(x, axis, keepdims)`.
pub type ReduceFn = fn(Tensor, Option<&[i64]>, bool) -> ceras::Result<Tensor>;

/// `op(x)`.
pub fn unary(c: &Case, f: UnaryFn) -> OpResult {
    Ok(f(c.tensor(0, "x")?)?.into())
}
/// `op(x1, x2)`.
pub fn binary(c: &Case, f: BinaryFn) -> OpResult {
    Ok(f(c.tensor(0, "x1")?, c.tensor(1, "x2")?)?.into())
}
/// `op(x, y)` (Keras's bitwise ops name their arguments `x`, `y`).
pub fn binary_xy(c: &Case, f: BinaryFn) -> OpResult {
    Ok(f(c.tensor(0, "x")?, c.tensor(1, "y")?)?.into())
}
/// `op(x, axis=None, keepdims=False)`.
pub fn reduce(c: &Case, f: ReduceFn) -> OpResult {
    let x = c.tensor(0, "x")?;
    let axis = c.axis_opt(1, "axis")?;
    let keepdims = c.bool_kw(2, "keepdims", false)?;
    Ok(f(x, axis.as_deref(), keepdims)?.into())
}

/// Registers `op(x)` entries: `unary_ops!(r; exp, log, sin)`.
macro_rules! unary_ops {
    ($r:expr; $($name:ident),* $(,)?) => {$(
        $r.add(stringify!($name), |c| $crate::args::unary(c, ceras::ops::$name));
    )*};
}
/// Registers `op(x1, x2)` entries.
macro_rules! binary_ops {
    ($r:expr; $($name:ident),* $(,)?) => {$(
        $r.add(stringify!($name), |c| $crate::args::binary(c, ceras::ops::$name));
    )*};
}
/// Registers `op(x, y)` entries.
macro_rules! binary_xy_ops {
    ($r:expr; $($name:ident),* $(,)?) => {$(
        $r.add(stringify!($name), |c| $crate::args::binary_xy(c, ceras::ops::$name));
    )*};
}
/// Registers `op(x, axis=None, keepdims=False)` entries.
macro_rules! reduce_ops {
    ($r:expr; $($name:ident),* $(,)?) => {$(
        $r.add(stringify!($name), |c| $crate::args::reduce(c, ceras::ops::$name));
    )*};
}
