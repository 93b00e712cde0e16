//! Control flow of `keras.ops.core`: `cond`, `switch`, `while_loop`, `fori_loop`,
//! `scan`, `map`, `vectorized_map`, `associative_scan`.
//!
//! Eager semantics: predicates are read from concrete tensors and Rust closures run
//! directly, so gradients flow through the iterations that ran (the tape records
//! them). Under tracing, a data-dependent predicate is an error that says so:
//! recording structured control flow into graphs is not implemented yet.

use super::*;

fn read_pred(op: &str, p: &Tensor) -> Result<bool> {
    if p.size() != 1 {
        return Err(arg_err(
            op,
            format!("the predicate must be a scalar, got shape {:?}", p.shape()),
        ));
    }
    if p.is_traced() {
        return Err(arg_err(
            op,
            "the predicate is a traced tensor; data-dependent control flow cannot be recorded into a graph yet",
        ));
    }
    Ok(p.item_f64()? != 0.0)
}

/// Calls `true_fn` or `false_fn` depending on a scalar predicate.
///
/// ```
/// use ceras::ops;
/// let y = ops::cond(true, || Ok(1), || Ok(2)).unwrap();
/// assert_eq!(y, 1);
/// ```
pub fn cond<T>(
    pred: impl IntoTensor,
    true_fn: impl FnOnce() -> Result<T>,
    false_fn: impl FnOnce() -> Result<T>,
) -> Result<T> {
    if read_pred("cond", &pred.into_tensor()?)? {
        true_fn()
    } else {
        false_fn()
    }
}

/// A branch of [`switch`].
pub type Branch<'a> = Box<dyn FnOnce(&[Tensor]) -> Result<Vec<Tensor>> + 'a>;

/// Calls `branches[index]` on `operands`; the index is clamped to the valid range,
/// as in Keras.
pub fn switch(
    index: impl IntoTensor,
    branches: Vec<Branch<'_>>,
    operands: &[Tensor],
) -> Result<Vec<Tensor>> {
    let i = index.into_tensor()?;
    if i.is_traced() {
        return Err(arg_err(
            "switch",
            "the index is a traced tensor; it must be concrete",
        ));
    }
    if branches.is_empty() {
        return Err(arg_err("switch", "need at least one branch"));
    }
    let k = i.item_f64()?.clamp(0.0, (branches.len() - 1) as f64) as usize;
    let f = branches.into_iter().nth(k).expect("index clamped");
    f(operands)
}

/// `while cond(vars): vars = body(vars)`, at most `maximum_iterations` times.
///
/// ```
/// use ceras::{ops, Tensor};
/// let i = Tensor::scalar(0i32).unwrap();
/// let out = ops::while_loop(
///     |v| ops::less(&v[0], 10),
///     |v| Ok(vec![ops::add(&v[0], 1)?]),
///     vec![i],
///     None,
/// ).unwrap();
/// assert_eq!(out[0].item::<i32>().unwrap(), 10);
/// ```
pub fn while_loop(
    mut cond: impl FnMut(&[Tensor]) -> Result<Tensor>,
    mut body: impl FnMut(&[Tensor]) -> Result<Vec<Tensor>>,
    loop_vars: Vec<Tensor>,
    maximum_iterations: Option<usize>,
) -> Result<Vec<Tensor>> {
    let mut vars = loop_vars;
    let mut n = 0usize;
    while maximum_iterations.is_none_or(|m| n < m) && read_pred("while_loop", &cond(&vars)?)? {
        let next = body(&vars)?;
        if next.len() != vars.len() {
            return Err(arg_err(
                "while_loop",
                format!(
                    "body returned {} values for {} loop variables",
                    next.len(),
                    vars.len()
                ),
            ));
        }
        for (a, b) in vars.iter().zip(&next) {
            if a.shape() != b.shape() {
                return Err(crate::error::shape_err(
                    "while_loop",
                    format!(
                        "body changed a loop variable's shape from {:?} to {:?}",
                        a.shape(),
                        b.shape()
                    ),
                ));
            }
        }
        vars = next;
        n += 1;
    }
    Ok(vars)
}

/// `for i in lower..upper: val = body(i, val)`.
pub fn fori_loop(
    lower: i64,
    upper: i64,
    mut body: impl FnMut(i64, Vec<Tensor>) -> Result<Vec<Tensor>>,
    init_val: Vec<Tensor>,
) -> Result<Vec<Tensor>> {
    let mut v = init_val;
    for i in lower..upper {
        v = body(i, v)?;
    }
    Ok(v)
}

/// Slices element `i` of every tensor along axis 0.
fn slice0(xs: &[Tensor], i: usize) -> Result<Vec<Tensor>> {
    xs.iter()
        .map(|x| {
            let s = lax::slice_axis(x, 0, i, i + 1)?;
            lax::reshape(&s, &x.shape()[1..])
        })
        .collect()
}

fn leading_len(op: &str, xs: &[Tensor], length: Option<usize>) -> Result<usize> {
    let n = match (xs.first(), length) {
        (Some(x), _) => {
            if x.ndim() == 0 {
                return Err(arg_err(op, "scanned inputs must have a leading axis"));
            }
            x.shape()[0]
        }
        (None, Some(l)) => l,
        (None, None) => return Err(arg_err(op, "either xs or length must be given")),
    };
    for x in xs {
        if x.ndim() == 0 || x.shape()[0] != n {
            return Err(crate::error::shape_err(
                op,
                format!("all inputs must have leading size {n}, got {:?}", x.shape()),
            ));
        }
    }
    if let Some(l) = length {
        if l != n {
            return Err(arg_err(
                op,
                format!("length {l} does not match the leading size {n} of xs"),
            ));
        }
    }
    Ok(n)
}

fn stack_outputs(op: &str, ys: Vec<Vec<Tensor>>) -> Result<Vec<Tensor>> {
    if ys.is_empty() {
        return Ok(Vec::new());
    }
    let k = ys[0].len();
    (0..k)
        .map(|j| {
            let col: Vec<Tensor> = ys.iter().map(|y| y[j].clone()).collect();
            if col.iter().any(|t| t.shape() != col[0].shape()) {
                return Err(crate::error::shape_err(
                    op,
                    "per-step outputs must all have the same shape",
                ));
            }
            stack(&col, 0)
        })
        .collect()
}

/// `lax.scan`: `carry, y = f(carry, x)` over the leading axis of `xs`; returns the
/// final carry and the stacked `y`s.
///
/// ```
/// use ceras::{ops, Tensor};
/// let xs = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], [3]).unwrap();
/// let init = Tensor::scalar(0.0f32).unwrap();
/// let (carry, ys) = ops::scan(|c, x| {
///     let s = ops::add(&c[0], &x[0])?;
///     Ok((vec![s.clone()], vec![s]))
/// }, vec![init], &[xs], None, false).unwrap();
/// assert_eq!(carry[0].item::<f32>().unwrap(), 6.0);
/// assert_eq!(ys[0].to_vec::<f32>().unwrap(), vec![1.0, 3.0, 6.0]);
/// ```
#[allow(clippy::type_complexity)]
pub fn scan(
    mut f: impl FnMut(&[Tensor], &[Tensor]) -> Result<(Vec<Tensor>, Vec<Tensor>)>,
    init: Vec<Tensor>,
    xs: &[Tensor],
    length: Option<usize>,
    reverse: bool,
) -> Result<(Vec<Tensor>, Vec<Tensor>)> {
    let n = leading_len("scan", xs, length)?;
    let mut carry = init;
    let mut ys = Vec::with_capacity(n);
    let order: Vec<usize> = if reverse {
        (0..n).rev().collect()
    } else {
        (0..n).collect()
    };
    for i in order {
        let x = slice0(xs, i)?;
        let (c, y) = f(&carry, &x)?;
        if c.len() != carry.len() {
            return Err(arg_err("scan", "f changed the number of carry values"));
        }
        carry = c;
        ys.push(y);
    }
    if reverse {
        ys.reverse();
    }
    Ok((carry, stack_outputs("scan", ys)?))
}

/// Applies `f` to each slice of `xs` along axis 0 and stacks the results.
pub fn map(
    mut f: impl FnMut(&[Tensor]) -> Result<Vec<Tensor>>,
    xs: &[Tensor],
) -> Result<Vec<Tensor>> {
    let n = leading_len("map", xs, None)?;
    let ys = (0..n)
        .map(|i| f(&slice0(xs, i)?))
        .collect::<Result<Vec<_>>>()?;
    stack_outputs("map", ys)
}

/// Same as [`map`] (ceras has no separate vectorizing transform yet).
pub fn vectorized_map(
    f: impl FnMut(&[Tensor]) -> Result<Vec<Tensor>>,
    xs: &[Tensor],
) -> Result<Vec<Tensor>> {
    map(f, xs)
}

/// Inclusive scan with an associative binary function along `axis` (sequential
/// evaluation; the result equals the parallel prefix for associative `f`).
pub fn associative_scan(
    mut f: impl FnMut(&Tensor, &Tensor) -> Result<Tensor>,
    x: &Tensor,
    reverse: bool,
    axis: i64,
) -> Result<Tensor> {
    let ax = crate::shape::norm_axis("associative_scan", axis, x.ndim())?;
    let n = x.shape()[ax];
    if n == 0 {
        return Ok(x.clone());
    }
    let mut parts: Vec<Tensor> = Vec::with_capacity(n);
    let order: Vec<usize> = if reverse {
        (0..n).rev().collect()
    } else {
        (0..n).collect()
    };
    let mut acc: Option<Tensor> = None;
    for i in order {
        let xi = lax::slice_axis(x, ax, i, i + 1)?;
        let v = match &acc {
            None => xi,
            Some(a) => {
                if reverse {
                    f(&xi, a)?
                } else {
                    f(a, &xi)?
                }
            }
        };
        acc = Some(v.clone());
        parts.push(v);
    }
    if reverse {
        parts.reverse();
    }
    concatenate(&parts, ax as i64)
}

/// `stop_gradient`: values pass through, gradients do not.
pub fn stop_gradient(x: impl IntoTensor) -> Result<Tensor> {
    lax::stop_gradient(&x.into_tensor()?)
}
