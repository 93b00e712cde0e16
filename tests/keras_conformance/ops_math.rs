//! Entries for `keras.ops.math`.
//!
//! How to add an entry: check how the corpus calls the op
//! (`../shared/conformance/ops/logsumexp.jsonl`) and its Keras signature, then add a line to `register`, e.g.
//! `r.add("erf", |c| unary(c, ops::erf));` or `r.add("top_k", |c| Ok(ops::top_k(c.tensor(0, "x")?, c.usize(1, "k")?, c.bool_kw(2, "sorted", true)?)?.into()));`
//! Read each argument with `c.<helper>(position, "keyword_name")` (helpers in
//! `args.rs`); an argument left unread fails the case. One-liner macros:
//! `unary_ops!(r; name, ...)`, `binary_ops!`, `binary_xy_ops!`, `reduce_ops!`.
//! `Fail::Arg` = not expressible in the Rust API, `Fail::Skip` = cannot be checked.
//! See the longer note at the top of `ops_numpy.rs`.

use crate::args::*;
use ceras::ops;

/// Registers the `keras.ops.math` entries.
pub fn register(r: &mut Registry) {
    unary_ops!(r; erf, erfc, erfinv, rsqrt);
    reduce_ops!(r; logsumexp);
    r.add("segment_sum", |c| segment(c, ops::segment_sum));
    r.add("segment_max", |c| segment(c, ops::segment_max));
    r.add("segment_min", |c| segment(c, ops::segment_min));
    r.add("segment_prod", |c| segment(c, ops::segment_prod));
    r.add("top_k", |c| {
        let x = c.tensor(0, "x")?;
        let k = c.usize(1, "k")?;
        let sorted = c.bool_kw(2, "sorted", true)?;
        let _stable = c.bool_kw(3, "is_stable", true)?;
        let (v, i) = ops::top_k(x, k, sorted)?;
        Ok(Out::Seq(vec![Out::Tensor(v), Out::Tensor(i)]))
    });
    r.add("in_top_k", |c| {
        Ok(ops::in_top_k(
            c.tensor(0, "targets")?,
            c.tensor(1, "predictions")?,
            c.usize(2, "k")?,
        )?
        .into())
    });
    r.add("cdist", |c| {
        Ok(ops::cdist(c.tensor(0, "x")?, c.tensor(1, "y")?)?.into())
    });
    r.add("extract_sequences", |c| {
        Ok(ops::extract_sequences(
            c.tensor(0, "x")?,
            c.usize(1, "sequence_length")?,
            c.usize(2, "sequence_stride")?,
        )?
        .into())
    });
}

type SegmentFn =
    fn(ceras::Tensor, ceras::Tensor, Option<usize>, bool) -> ceras::Result<ceras::Tensor>;

/// `segment_*(data, segment_ids, num_segments=None, sorted=False)`.
fn segment(c: &crate::value::Case, f: SegmentFn) -> OpResult {
    let data = c.tensor(0, "data")?;
    let ids = c.tensor(1, "segment_ids")?;
    let n = c.usize_opt(2, "num_segments")?;
    let sorted = c.bool_kw(3, "sorted", false)?;
    Ok(f(data, ids, n, sorted)?.into())
}
