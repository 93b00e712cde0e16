//! Control flow of `keras.ops.core`: `cond`, `switch`, `while_loop`, `fori_loop`,
//! `scan`, `map`.

use super::*;

/// Calls `true_fn` or `false_fn` depending on a scalar predicate.
pub fn cond<T>(
    pred: impl IntoTensor,
    true_fn: impl FnOnce() -> Result<T>,
    false_fn: impl FnOnce() -> Result<T>,
) -> Result<T> {
    let p = pred.into_tensor()?;
    if p.size() != 1 {
        return Err(arg_err(
            "cond",
            format!("pred must be a scalar, got shape {:?}", p.shape()),
        ));
    }
    if p.is_traced() {
        return Err(arg_err(
            "cond",
            "the predicate is a traced tensor; data-dependent control flow cannot be recorded yet",
        ));
    }
    if p.item_f64()? != 0.0 {
        true_fn()
    } else {
        false_fn()
    }
}
