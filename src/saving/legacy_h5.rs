//! Legacy full-model `.h5` files (the tf.keras 2 format, still written by
//! Keras 3's `model.save("x.h5")`): the model's config in the root attribute
//! `model_config`, compile settings in `training_config`, and the weights under
//! `model_weights/<layer name>/…`, listed per layer by the `weight_names`
//! attribute. Most published Keras models are in this format.
//!
//! Optimizer state (`optimizer_weights`) is not restored: its layout changed
//! across Keras 2 versions; the model is compiled from `training_config` with
//! a fresh optimizer.

use super::keras::{model_from_config, parse_json, LoadedModel};
use crate::error::{arg_err, shape_err, unsupported};
use crate::layers::{Layer, LayerRef};
use crate::models::Model;
use crate::{Result, Variable};
use ceras_hdf5 as h5;
use serde_json::Value;
use std::path::Path;

fn attr_str(g: &h5::Group, name: &str) -> Option<String> {
    match g.attr(name)? {
        h5::Attr::Str(s) => Some(s.clone()),
        h5::Attr::StrList(v) if v.len() == 1 => Some(v[0].clone()),
        _ => None,
    }
}

fn attr_list(g: &h5::Group, name: &str) -> Vec<String> {
    match g.attr(name) {
        Some(h5::Attr::StrList(v)) => v.clone(),
        Some(h5::Attr::Str(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// A layer's variables in Keras 2's order: its own (trainable first), then its
/// sub-layers' in order.
fn legacy_weights(l: &dyn Layer, out: &mut Vec<Variable>) {
    out.extend(l.base().keras_ordered_weights());
    for s in l.sublayers() {
        legacy_weights(&*s, out);
    }
}

/// Loads a legacy `.h5` model file: architecture, weights, and compile settings.
pub fn load_legacy_h5(path: &Path) -> Result<LoadedModel> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| crate::Error::Io(format!("{shown}: {e}")))?;
    let tree = h5::read(&bytes).map_err(|e| arg_err("load_model", format!("{shown}: {e}")))?;
    let cfg_text = attr_str(&tree, "model_config").ok_or_else(|| {
        arg_err(
            "load_model",
            format!("{shown}: no `model_config` attribute: this .h5 file holds weights only; build the model in Rust and call load_weights"),
        )
    })?;
    let config = parse_json(cfg_text.as_bytes())
        .map_err(|e| arg_err("load_model", format!("{shown}: model_config: {e}")))?;
    let limit = super::keras::max_elements(&tree).max(1 << 16);
    let mut model = crate::layers::with_weight_limit(limit, || model_from_config(&config))?;
    if let Some(tc) = attr_str(&tree, "training_config") {
        let tc = parse_json(tc.as_bytes())
            .map_err(|e| arg_err("load_model", format!("{shown}: training_config: {e}")))?;
        let cc = serde_json::json!({
            "optimizer": tc.get("optimizer_config").cloned().unwrap_or(Value::Null),
            "loss": tc.get("loss").cloned().unwrap_or(Value::Null),
            "loss_weights": tc.get("loss_weights").cloned().unwrap_or(Value::Null),
            "metrics": tc.get("metrics").cloned().unwrap_or(Value::Null),
            "weighted_metrics": tc.get("weighted_metrics").cloned().unwrap_or(Value::Null),
        });
        if let Err(e) = super::compile_config::compile_from_config(&mut model, &cc) {
            eprintln!("ceras: {shown}: the model is loaded uncompiled ({e})");
        }
    }
    let weights = tree
        .group("model_weights")
        .ok_or_else(|| arg_err("load_model", format!("{shown}: no `model_weights` group")))?;
    load_legacy_weights(&model, weights, &shown)?;
    Ok(model)
}

/// Assigns `model_weights` (a group with `layer_names`, one group per layer
/// with `weight_names`) to the model's layers, matched by layer name. Every
/// shape is checked before anything is assigned.
pub fn load_legacy_weights<M: Model + ?Sized>(model: &M, g: &h5::Group, shown: &str) -> Result<()> {
    let layers = model.layers();
    let mut names = attr_list(g, "layer_names");
    if names.is_empty() {
        names = g.members.iter().map(|(n, _)| n.clone()).collect();
    }
    let mut plan: Vec<(Variable, crate::Tensor)> = Vec::new();
    for name in &names {
        let Some(lg) = g.group(name) else {
            continue;
        };
        let wnames = attr_list(lg, "weight_names");
        if wnames.is_empty() {
            continue;
        }
        let layer: Option<&LayerRef<'_>> = layers.iter().find(|l| l.name() == name);
        let Some(layer) = layer else {
            return Err(arg_err(
                "load_model",
                format!("{shown}: the file has weights for layer '{name}', which the model does not have"),
            ));
        };
        let mut vars = Vec::new();
        legacy_weights(&**layer, &mut vars);
        if vars.len() != wnames.len() {
            return Err(arg_err(
                "load_model",
                format!(
                    "{shown}: layer '{name}' has {} variables but the file lists {} ({})",
                    vars.len(),
                    wnames.len(),
                    wnames.join(", ")
                ),
            ));
        }
        for (v, wn) in vars.into_iter().zip(&wnames) {
            let d = lg.dataset(wn).ok_or_else(|| {
                arg_err(
                    "load_model",
                    format!("{shown}: /model_weights/{name}/{wn} is missing"),
                )
            })?;
            if d.shape != v.shape() {
                return Err(shape_err(
                    "load_model",
                    format!(
                        "{shown}: layer '{name}' variable '{}' has shape {:?} but '{wn}' in the file has shape {:?}",
                        v.path(),
                        v.shape(),
                        d.shape
                    ),
                ));
            }
            plan.push((v, super::keras::tensor_of("load_model", d)?));
        }
    }
    for l in &layers {
        let mut vars = Vec::new();
        legacy_weights(&**l, &mut vars);
        if !vars.is_empty() && !names.iter().any(|n| n == l.name()) {
            return Err(unsupported(
                "load_model",
                format!("{shown}: the file has no weights for layer '{}'", l.name()),
            ));
        }
    }
    for (v, t) in plan {
        v.assign(crate::ops::cast(t, v.dtype())?)?;
    }
    Ok(())
}
