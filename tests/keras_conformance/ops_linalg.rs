//! Entries for `keras.ops.linalg`.
//!
//! How to add an entry: check how the corpus calls the op
//! (`../shared/conformance/ops/inv.jsonl`) and its Keras signature, then add a line to `register`, e.g.
//! `r.add("inv", |c| Ok(ops::inv(c.tensor(0, "x")?)?.into()));` (return a tuple as `Out::Seq`, e.g. `Ok((a, b).into())`)
//! Read each argument with `c.<helper>(position, "keyword_name")` (helpers in
//! `args.rs`); an argument left unread fails the case. One-liner macros:
//! `unary_ops!(r; name, ...)`, `binary_ops!`, `binary_xy_ops!`, `reduce_ops!`.
//! `Fail::Arg` = not expressible in the Rust API, `Fail::Skip` = cannot be checked.
//! See the longer note at the top of `ops_numpy.rs`.
//! (`matmul` is `keras.ops.numpy.matmul`: see `ops_numpy.rs`.) `eigh`, `svd`, `qr`,
//! `lu_factor`, `lstsq`, `pinv` cases are skipped by the runner (non-unique results).

use crate::args::*;

/// Registers the `keras.ops.linalg` entries.
pub fn register(r: &mut Registry) {
    let _ = r;
}
