//! Entries for `keras.ops.core`.
//!
//! How to add an entry: check how the corpus calls the op
//! (`../shared/conformance/ops/cast.jsonl`) and its Keras signature, then add a line to `register`, e.g.
//! `r.add("cast", |c| Ok(ops::cast(c.tensor(0, "x")?, c.dtype(1, "dtype")?)?.into()));`
//! Read each argument with `c.<helper>(position, "keyword_name")` (helpers in
//! `args.rs`); an argument left unread fails the case. One-liner macros:
//! `unary_ops!(r; name, ...)`, `binary_ops!`, `binary_xy_ops!`, `reduce_ops!`.
//! `Fail::Arg` = not expressible in the Rust API, `Fail::Skip` = cannot be checked.
//! See the longer note at the top of `ops_numpy.rs`.
//! Cases with Python-callable arguments (`cond`, `map`, `scan`, `switch`, loops, ...)
//! are skipped by the runner before the entry is called.

use crate::args::*;
use ceras::ops;

/// Registers the `keras.ops.core` entries.
pub fn register(r: &mut Registry) {
    r.add("cast", |c| {
        Ok(ops::cast(c.tensor(0, "x")?, c.dtype(1, "dtype")?)?.into())
    });
    r.add("convert_to_tensor", |c| {
        let x = ops::convert_to_tensor(c.tensor(0, "x")?)?;
        if c.bool_kw(2, "sparse", false)? || c.bool_kw(3, "ragged", false)? {
            return Err(Fail::Skip("sparse / ragged tensors".into()));
        }
        // ceras's convert_to_tensor has no dtype: a Rust caller casts afterwards.
        Ok(match c.dtype_opt(1, "dtype")? {
            Some(d) => ops::cast(&x, d)?,
            None => x,
        }
        .into())
    });
    // Every recorded `cond` call passes Python callables: all its cases are skipped.
    r.add("cond", |_| Err(Fail::Skip("callable arguments".into())));
    r.add("slice", |c| {
        let x = c.tensor(0, "inputs")?;
        let st = c.tensor(1, "start_indices")?;
        Ok(ops::slice(x, st, &c.ishape(2, "shape")?)?.into())
    });
    r.add("slice_update", |c| {
        Ok(ops::slice_update(
            c.tensor(0, "inputs")?,
            c.tensor(1, "start_indices")?,
            c.tensor(2, "updates")?,
        )?
        .into())
    });
    r.add("scatter", |c| {
        let idx = c.tensor(0, "indices")?;
        let v = c.tensor(1, "values")?;
        Ok(ops::scatter(idx, v, &c.shape(2, "shape")?)?.into())
    });
    r.add("scatter_update", |c| {
        let red = c.str_opt(3, "reduction")?;
        Ok(ops::scatter_update(
            c.tensor(0, "inputs")?,
            c.tensor(1, "indices")?,
            c.tensor(2, "updates")?,
            red.as_deref(),
        )?
        .into())
    });
    r.add("unstack", |c| {
        let x = c.tensor(0, "x")?;
        let num = c.usize_opt(1, "num")?;
        let v = ops::unstack(x, num, c.i64_kw(2, "axis", 0)?)?;
        Ok(Out::Seq(v.into_iter().map(Out::Tensor).collect()))
    });
    r.add("shape", |c| {
        let s = ops::shape(c.tensor(0, "x")?)?;
        Ok(Out::Seq(
            s.into_iter().map(|d| Out::Int(d as i64)).collect(),
        ))
    });
    r.add("saturate_cast", |c| {
        Ok(ops::saturate_cast(c.tensor(0, "x")?, c.dtype_opt(1, "dtype")?)?.into())
    });
}
