//! ceras's own `.weights.npz` files (NumPy's compressed archive, one array per
//! variable, keyed by the variable path such as `dense/kernel`), written
//! atomically (temporary file, then rename).

use crate::error::{arg_err, shape_err};
use crate::{npy, Result, Tensor, Variable};
use std::collections::HashMap;
use std::path::Path;

fn check_ext(op: &str, path: &Path) -> Result<()> {
    let name = path.to_string_lossy();
    if name.ends_with(".npz") {
        return Ok(());
    }
    Err(arg_err(
        op,
        format!(
            "{name}: the weights file name must end in `.weights.h5` (Keras) or `.weights.npz`"
        ),
    ))
}

/// Unique keys for the variables: their paths, with `_1`, `_2`, … for repeats.
fn keys(vars: &[Variable]) -> Vec<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    vars.iter()
        .map(|v| {
            let p = v.path();
            let n = seen.entry(p.clone()).or_insert(0);
            *n += 1;
            if *n == 1 {
                p
            } else {
                format!("{p}_{}", *n - 1)
            }
        })
        .collect()
}

/// Writes the variables' values to `path` (`.weights.npz`), atomically.
pub fn save_weights(vars: &[Variable], path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    check_ext("save_weights", path)?;
    let ks = keys(vars);
    let vals: Vec<Tensor> = vars.iter().map(|v| v.value()).collect();
    let arrays: Vec<(&str, &Tensor)> = ks.iter().map(|k| k.as_str()).zip(vals.iter()).collect();
    npy::npz::save_compressed(path, &arrays)
}

/// Loads values saved by [`save_weights`] into the variables, matching by path
/// (or by order when the names differ), checking every shape first.
/// Nothing is assigned unless every variable has a value of the right shape.
pub fn load_weights(vars: &[Variable], path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    check_ext("load_weights", path)?;
    let order = npy::npz::load(path)?;
    let stored: HashMap<String, Tensor> = order.iter().cloned().collect();
    if stored.len() != vars.len() {
        return Err(arg_err(
            "load_weights",
            format!(
                "{}: the file holds {} arrays but the model has {} variables",
                path.display(),
                stored.len(),
                vars.len()
            ),
        ));
    }
    let ks = keys(vars);
    // By path when every path is in the file; otherwise by order (the layers of a
    // model built the same way but named differently, as Keras allows).
    let by_path = ks.iter().all(|k| stored.contains_key(k));
    let ordered: Vec<(String, Tensor)> = if by_path {
        ks.iter().map(|k| (k.clone(), stored[k].clone())).collect()
    } else {
        order
    };
    let mut plan = Vec::new();
    for ((k, t), v) in ordered.iter().zip(vars) {
        if t.shape() != v.shape() {
            return Err(shape_err(
                "load_weights",
                format!(
                    "{}: variable '{}' has shape {:?} but the file's '{k}' has shape {:?}",
                    path.display(),
                    v.path(),
                    v.shape(),
                    t.shape()
                ),
            ));
        }
        plan.push((v, t));
    }
    for (v, t) in plan {
        v.assign(crate::ops::cast(t, v.dtype())?)?;
    }
    Ok(())
}
