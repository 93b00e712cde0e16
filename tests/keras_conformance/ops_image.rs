//! Entries for `keras.ops.image`.
//!
//! How to add an entry: check how the corpus calls the op
//! (`../shared/conformance/ops/image.resize.jsonl`) and its Keras signature, then add a line to `register`, e.g.
//! `r.add("image.rgb_to_grayscale", |c| Ok(ops::image::rgb_to_grayscale(c.tensor(0, "images")?, c.str_opt(1, "data_format")?.as_deref())?.into()));`
//! Read each argument with `c.<helper>(position, "keyword_name")` (helpers in
//! `args.rs`); an argument left unread fails the case. One-liner macros:
//! `unary_ops!(r; name, ...)`, `binary_ops!`, `binary_xy_ops!`, `reduce_ops!`.
//! `Fail::Arg` = not expressible in the Rust API, `Fail::Skip` = cannot be checked.
//! See the longer note at the top of `ops_numpy.rs`.
//! Image ops are registered under their corpus name, with the `image.` prefix
//! (`r.add("image.resize", ...)`). The runner sets `config.image_data_format` per case.

use crate::args::*;

/// Registers the `keras.ops.image` entries.
pub fn register(r: &mut Registry) {
    let _ = r;
}
