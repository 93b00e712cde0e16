//! Keras 3 `.keras` files (a zip of `metadata.json`, `config.json` and
//! `model.weights.h5`) and `.weights.h5` files, laid out exactly as Keras 3.15
//! writes them, so files move both ways between ceras and Python Keras.
//!
//! Weights are found by Keras's rules, not by layer names: the h5 group of a
//! layer is `layers/<snake_case(class)>[_n]` in `model.layers` order, its
//! variables `vars/0`, `vars/1`, … (trainable first), sub-layers under their
//! attribute names (`lstm/cell`, `mha/query_dense`), optimizer state under
//! `optimizer/vars`.

use crate::error::{arg_err, shape_err, unsupported};
use crate::layers::{snake_case, Layer, LayerRef};
use crate::models::{Data, Functional, Model, ModelCore, Sequential};
use crate::storage::HostData;
use crate::{DType, Result, Tensor, Variable};
use ceras_hdf5 as h5;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;

/// Largest member of a `.keras` zip ceras will inflate; bigger members are
/// refused with an error naming the size.
pub const MAX_MEMBER_BYTES: u64 = 16 << 30;

/// Zip-bomb guard (as Keras's): a member that inflates to more than
/// [`BOMB_MIN_BYTES`] and more than this many times its stored size is refused.
pub const MAX_EXPANSION: u64 = 100;

/// Members smaller than this are never treated as bombs.
pub const BOMB_MIN_BYTES: u64 = 256 << 20;

fn h5_err(path: &Path, e: h5::Error) -> crate::Error {
    arg_err("load_weights", format!("{}: {e}", path.display()))
}

// ------------------------------------------------------------------ a loaded model

/// A model read from a `.keras` file: a [`Sequential`] or a [`Functional`].
/// It is a [`Model`] itself (predict, fit, evaluate, save, summary).
pub enum LoadedModel {
    /// `class_name: "Sequential"`.
    Sequential(Sequential),
    /// `class_name: "Functional"` (or `Model` with a graph config).
    Functional(Functional),
}

impl LoadedModel {
    fn inner(&self) -> &dyn Model {
        match self {
            LoadedModel::Sequential(m) => m,
            LoadedModel::Functional(m) => m,
        }
    }
    fn inner_mut(&mut self) -> &mut dyn Model {
        match self {
            LoadedModel::Sequential(m) => m,
            LoadedModel::Functional(m) => m,
        }
    }
    /// Shapes (batch dimension first) and dtypes of the model's inputs.
    pub fn input_specs(&self) -> Vec<(crate::trace::PartialShape, DType)> {
        match self {
            LoadedModel::Functional(f) => f.input_specs(),
            LoadedModel::Sequential(s) => s.input_spec().into_iter().collect(),
        }
    }

    /// The Functional model, when it is one.
    pub fn as_functional(&self) -> Option<&Functional> {
        match self {
            LoadedModel::Functional(f) => Some(f),
            LoadedModel::Sequential(_) => None,
        }
    }
    /// The Sequential model, when it is one.
    pub fn as_sequential(&self) -> Option<&Sequential> {
        match self {
            LoadedModel::Sequential(s) => Some(s),
            LoadedModel::Functional(_) => None,
        }
    }
}

impl Model for LoadedModel {
    fn core(&self) -> &ModelCore {
        self.inner().core()
    }
    fn core_mut(&mut self) -> &mut ModelCore {
        self.inner_mut().core_mut()
    }
    fn call(&mut self, x: &Tensor, training: bool) -> Result<Tensor> {
        self.inner_mut().call(x, training)
    }
    fn call_data(&mut self, x: &Data, training: bool) -> Result<Data> {
        self.inner_mut().call_data(x, training)
    }
    fn layers(&self) -> Vec<LayerRef<'_>> {
        self.inner().layers()
    }
    fn output_names(&self) -> Vec<String> {
        self.inner().output_names()
    }
    fn summary_string(&self) -> String {
        self.inner().summary_string()
    }
    fn to_keras_config(&self) -> Result<Value> {
        self.inner().to_keras_config()
    }
}

/// A model from a Keras config envelope (`config.json` of a `.keras` file).
pub fn model_from_config(v: &Value) -> Result<LoadedModel> {
    let class = v.get("class_name").and_then(Value::as_str).unwrap_or("");
    let cfg = v.get("config").unwrap_or(&Value::Null);
    match class {
        "Sequential" => Ok(LoadedModel::Sequential(Sequential::from_config(v)?)),
        "Functional" => Ok(LoadedModel::Functional(Functional::from_config(v)?)),
        "Model" if cfg.get("layers").is_some() && cfg.get("output_layers").is_some() => {
            Ok(LoadedModel::Functional(Functional::from_config(v)?))
        }
        _ => Err(unsupported(
            "load_model",
            format!(
                "model class '{class}'{}: ceras loads Sequential and Functional models; a subclassed model must be rebuilt in Rust and its weights loaded with load_weights",
                v.get("registered_name")
                    .and_then(Value::as_str)
                    .map(|r| format!(" (registered as '{r}')"))
                    .unwrap_or_default()
            ),
        )),
    }
}

// ------------------------------------------------------------------ weight layout

/// One `vars` group: its path (`layers/dense/vars`), the object's name (the
/// group's `name` attribute) and its variables in Keras's order.
pub struct VarGroup {
    /// Path of the `vars` group, without a leading slash.
    pub path: String,
    /// The layer's (or optimizer's) name.
    pub name: String,
    /// Variables in the order of the datasets `0`, `1`, …
    pub vars: Vec<Variable>,
}

/// Sub-objects of a layer as Keras's saver finds them (attribute name, layer).
fn children<'a>(l: &'a dyn Layer) -> Vec<(String, Vec<LayerRef<'a>>)> {
    let subs = l.sublayers();
    if subs.is_empty() {
        return Vec::new();
    }
    let class = l.class_name();
    match class {
        "Functional" | "Sequential" => vec![("layers".into(), subs)],
        "LSTM" | "GRU" | "SimpleRNN" => {
            let mut it = subs.into_iter();
            it.next()
                .map(|c| vec![("cell".to_string(), vec![c])])
                .unwrap_or_default()
        }
        // Keras's attribute names of the EinsumDense sub-layers.
        "MultiHeadAttention" => subs
            .into_iter()
            .map(|s| {
                let attr = match s.name() {
                    "attention_output" => "output_dense".to_string(),
                    n => format!("{n}_dense"),
                };
                (attr, vec![s])
            })
            .collect(),
        // Other composite layers: a container keyed by class, as Keras does for
        // a list attribute (the attribute name is not known to ceras).
        _ => vec![("layers".into(), subs)],
    }
}

fn walk_layer(l: &dyn Layer, path: &str, out: &mut Vec<VarGroup>) {
    out.push(VarGroup {
        path: format!("{path}/vars"),
        name: l.name().to_string(),
        vars: l.base().keras_ordered_weights(),
    });
    for (attr, subs) in children(l) {
        if subs.len() == 1 && attr != "layers" {
            walk_layer(&*subs[0], &format!("{path}/{attr}"), out);
        } else {
            walk_container(&subs, &format!("{path}/{attr}"), out);
        }
    }
}

fn walk_container(layers: &[LayerRef<'_>], path: &str, out: &mut Vec<VarGroup>) {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for l in layers {
        let base = snake_case(l.class_name());
        let n = seen.entry(base.clone()).or_insert(0);
        let key = if *n == 0 { base } else { format!("{base}_{n}") };
        *n += 1;
        walk_layer(&**l, &format!("{path}/{key}"), out);
    }
}

/// The `vars` groups of a model in Keras's layout: `vars` (the model's own,
/// empty), `layers/…`, and `optimizer/vars` when the optimizer has state.
pub fn weight_groups<M: Model + ?Sized>(model: &M) -> Result<Vec<VarGroup>> {
    let mut out = vec![VarGroup {
        path: "vars".into(),
        name: model.name().to_string(),
        vars: Vec::new(),
    }];
    let layers = model.layers();
    walk_container(&layers, "layers", &mut out);
    if let Some(opt) = model.compiled_optimizer() {
        let trainable = model.trainable_variables();
        if opt.is_built_for(&trainable) {
            out.push(VarGroup {
                path: "optimizer/vars".into(),
                name: opt.name().to_string(),
                vars: opt.keras_variables(&trainable)?,
            });
        }
    }
    Ok(out)
}

// ------------------------------------------------------------------ tensors <-> h5

fn dataset_of(v: &Variable) -> Result<h5::Dataset> {
    let t = v.value();
    let mut attrs = Vec::new();
    let dtype = match t.dtype() {
        DType::F16 => h5::Dtype::F16,
        DType::F32 => h5::Dtype::F32,
        DType::F64 => h5::Dtype::F64,
        DType::I8 => h5::Dtype::I8,
        DType::I16 => h5::Dtype::I16,
        DType::I32 => h5::Dtype::I32,
        DType::I64 => h5::Dtype::I64,
        DType::U8 => h5::Dtype::U8,
        DType::U16 => h5::Dtype::U16,
        DType::U32 => h5::Dtype::U32,
        DType::U64 => h5::Dtype::U64,
        DType::BF16 => {
            attrs.push(("dtype".to_string(), h5::Attr::Str("bfloat16".into())));
            h5::Dtype::Opaque(2)
        }
        other => {
            return Err(unsupported(
                "save_weights",
                format!("variable '{}' of dtype {}", v.path(), other.name()),
            ))
        }
    };
    Ok(h5::Dataset {
        dtype,
        shape: t.shape().to_vec(),
        data: t.to_host()?.to_le_bytes(),
        attrs,
    })
}

pub(crate) fn tensor_of(who: &str, d: &h5::Dataset) -> Result<Tensor> {
    let bf16 = d
        .attrs
        .iter()
        .any(|(k, a)| k == "dtype" && *a == h5::Attr::Str("bfloat16".into()));
    let dtype = match d.dtype {
        h5::Dtype::F16 => DType::F16,
        h5::Dtype::F32 => DType::F32,
        h5::Dtype::F64 => DType::F64,
        h5::Dtype::I8 => DType::I8,
        h5::Dtype::I16 => DType::I16,
        h5::Dtype::I32 => DType::I32,
        h5::Dtype::I64 => DType::I64,
        h5::Dtype::U8 => DType::U8,
        h5::Dtype::U16 => DType::U16,
        h5::Dtype::U32 => DType::U32,
        h5::Dtype::U64 => DType::U64,
        h5::Dtype::Opaque(2) if bf16 => DType::BF16,
        other => {
            return Err(unsupported(
                who,
                format!("a dataset of HDF5 type {other:?} cannot hold a variable"),
            ))
        }
    };
    let host = HostData::from_le_bytes(dtype, &d.data)?;
    Tensor::from_host(host, d.shape.clone())
}

/// The most values any dataset of the tree holds.
pub(crate) fn max_elements(g: &h5::Group) -> usize {
    g.members
        .iter()
        .map(|(_, m)| match m {
            h5::Node::Group(sub) => max_elements(sub),
            h5::Node::Dataset(d) => d.num_elements(),
        })
        .max()
        .unwrap_or(0)
}

/// Writes the groups into an HDF5 tree.
fn groups_to_h5(groups: &[VarGroup]) -> Result<h5::Group> {
    let mut root = h5::Group::default();
    for g in groups {
        let grp = root
            .group_mut_or_create(&g.path)
            .map_err(|e| arg_err("save_weights", e.to_string()))?;
        grp.set_attr("name", h5::Attr::Str(g.name.clone()));
        for (i, v) in g.vars.iter().enumerate() {
            grp.insert_dataset(&i.to_string(), dataset_of(v)?)
                .map_err(|e| arg_err("save_weights", e.to_string()))?;
        }
    }
    Ok(root)
}

/// Assigns the tree's values to the groups' variables. Every shape is checked
/// before anything is assigned; a missing or extra dataset is an error listing
/// what was expected (Keras's rule). A missing optimizer group is skipped, as
/// Keras does (with a warning).
fn assign_from_h5(root: &h5::Group, groups: &[VarGroup], what: &str) -> Result<()> {
    let mut plan: Vec<(&Variable, Tensor)> = Vec::new();
    for g in groups {
        let grp = root.group(&g.path);
        let n_file = grp.map_or(0, |gr| {
            gr.members
                .iter()
                .filter(|(_, m)| matches!(m, h5::Node::Dataset(_)))
                .count()
        });
        let is_opt = g.path.starts_with("optimizer");
        if n_file != g.vars.len() {
            if is_opt {
                eprintln!(
                    "ceras: skipping optimizer state from {what}: the optimizer '{}' has {} variables whereas the saved optimizer has {n_file}",
                    g.name,
                    g.vars.len()
                );
                continue;
            }
            let expected: Vec<String> = g.vars.iter().map(|v| v.path()).collect();
            return Err(arg_err(
                "load_weights",
                format!(
                    "{what}: layer '{}' expects {} variables ({}) at /{}, but the file has {n_file}",
                    g.name,
                    g.vars.len(),
                    expected.join(", "),
                    g.path
                ),
            ));
        }
        for (i, v) in g.vars.iter().enumerate() {
            let d = grp
                .and_then(|gr| gr.dataset(&i.to_string()))
                .ok_or_else(|| {
                    arg_err(
                        "load_weights",
                        format!("{what}: /{}/{i} is missing", g.path),
                    )
                })?;
            if d.shape != v.shape() {
                return Err(shape_err(
                    "load_weights",
                    format!(
                        "{what}: layer '{}' variable '{}' has shape {:?} but /{}/{i} in the file has shape {:?}",
                        g.name,
                        v.path(),
                        v.shape(),
                        g.path,
                        d.shape
                    ),
                ));
            }
            let t = tensor_of("load_weights", d)?;
            plan.push((v, t));
        }
    }
    for (v, t) in plan {
        v.assign(crate::ops::cast(t, v.dtype())?)?;
    }
    Ok(())
}

// ------------------------------------------------------------------ files

/// Writes `bytes` to `path` atomically (a temporary file in the same
/// directory, flushed, then renamed over `path`).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "model".into());
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let res = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res.map_err(|e| crate::Error::Io(format!("{}: {e}", path.display())))
}

fn h5_bytes<M: Model + ?Sized>(model: &M) -> Result<Vec<u8>> {
    let tree = groups_to_h5(&weight_groups(model)?)?;
    h5::write(&tree).map_err(|e| arg_err("save_weights", e.to_string()))
}

/// Saves the weights (and optimizer state) to a Keras `.weights.h5` file.
pub fn save_weights_h5<M: Model + ?Sized>(model: &M, path: &Path) -> Result<()> {
    write_atomic(path, &h5_bytes(model)?)
}

/// Saves the weights as Keras's sharded layout: `path` (ending `.weights.json`)
/// indexes shard files `<stem>_00000.weights.h5`, … of at most
/// `max_shard_bytes` each, written next to it (Keras's
/// `save_weights(path, max_shard_size=…)`). A variable larger than a shard is
/// an error.
pub fn save_weights_sharded<M: Model + ?Sized>(
    model: &M,
    path: &Path,
    max_shard_bytes: usize,
) -> Result<()> {
    let name = path.to_string_lossy().to_string();
    let stem = name.strip_suffix(".weights.json").ok_or_else(|| {
        arg_err(
            "save_weights",
            format!("{name}: a sharded index must end in .weights.json"),
        )
    })?;
    let stem_name = Path::new(stem)
        .file_name()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    let groups = weight_groups(model)?;
    let mut shards: Vec<h5::Group> = vec![h5::Group::default()];
    let mut used = 0usize;
    let mut total = 0usize;
    let mut map: Vec<(String, Vec<usize>)> = Vec::new();
    for g in &groups {
        let mut in_shards: Vec<usize> = Vec::new();
        for (i, v) in g.vars.iter().enumerate() {
            let d = dataset_of(v)?;
            let n = d.data.len();
            if n > max_shard_bytes {
                return Err(arg_err(
                    "save_weights",
                    format!(
                        "variable '{}' has {n} bytes, more than max_shard_size ({max_shard_bytes} bytes)",
                        v.path()
                    ),
                ));
            }
            if used + n > max_shard_bytes && used > 0 {
                shards.push(h5::Group::default());
                used = 0;
            }
            let k = shards.len() - 1;
            let first_here = !in_shards.contains(&k);
            let grp = shards[k]
                .group_mut_or_create(&g.path)
                .map_err(|e| arg_err("save_weights", e.to_string()))?;
            // The group's name goes with its first shard only, as Keras writes it.
            if first_here && in_shards.is_empty() {
                grp.set_attr("name", h5::Attr::Str(g.name.clone()));
            }
            grp.insert_dataset(&i.to_string(), d)
                .map_err(|e| arg_err("save_weights", e.to_string()))?;
            if first_here {
                in_shards.push(k);
            }
            used += n;
            total += n;
        }
        if !in_shards.is_empty() {
            map.push((format!("/{}", g.path), in_shards));
        }
    }
    let shard_name = |k: usize| format!("{stem_name}_{k:05}.weights.h5");
    for (k, sh) in shards.iter().enumerate() {
        let bytes = h5::write(sh).map_err(|e| arg_err("save_weights", e.to_string()))?;
        write_atomic(&Path::new(stem).with_file_name(shard_name(k)), &bytes)?;
    }
    let weight_map: serde_json::Map<String, Value> = map
        .into_iter()
        .map(|(p, ks)| {
            let v = if ks.len() == 1 {
                json!(shard_name(ks[0]))
            } else {
                json!(ks.iter().map(|&k| shard_name(k)).collect::<Vec<_>>())
            };
            (p, v)
        })
        .collect();
    let index = json!({"metadata": {"total_size": total as f64}, "weight_map": weight_map});
    let text =
        serde_json::to_string_pretty(&index).map_err(|e| arg_err("save_weights", e.to_string()))?;
    write_atomic(path, text.as_bytes())
}

/// Loads a Keras `.weights.h5` file (or the weights inside a `.keras` file)
/// into a built model with the same architecture.
pub fn load_weights_h5<M: Model + ?Sized>(model: &mut M, path: &Path) -> Result<()> {
    let name = path.to_string_lossy();
    let bytes = if name.ends_with(".keras") {
        read_archive(path)?.weights
    } else if name.ends_with(".weights.json") {
        Vec::new()
    } else {
        std::fs::read(path).map_err(|e| crate::Error::Io(format!("{}: {e}", path.display())))?
    };
    let tree = if name.ends_with(".weights.json") {
        read_sharded(path)?
    } else {
        h5::read(&bytes).map_err(|e| h5_err(path, e))?
    };
    // Keras 2 layouts: a legacy model file, or legacy save_weights output.
    if let Some(g) = tree.group("model_weights") {
        return super::legacy_h5::load_legacy_weights(model, g, &name);
    }
    if tree.attr("layer_names").is_some() {
        return super::legacy_h5::load_legacy_weights(model, &tree, &name);
    }
    assign_weights(model, &tree, &name)
}

/// Assigns a weights tree to a model, then sets a saved constant learning rate.
fn assign_weights<M: Model + ?Sized>(model: &mut M, tree: &h5::Group, what: &str) -> Result<()> {
    let groups = weight_groups(model)?;
    assign_from_h5(tree, &groups, what)?;
    let lr = groups
        .iter()
        .find(|g| g.path == "optimizer/vars")
        .filter(|g| tree.group(&g.path).is_some())
        .and_then(|g| g.vars.get(1).cloned());
    if let Some(opt) = model.optimizer() {
        if let Some(v) = lr.filter(|_| opt.has_constant_learning_rate()) {
            opt.set_learning_rate(v.value().item::<f32>()? as f64);
        }
    }
    Ok(())
}

/// Merges `b` into `a` (groups by name, datasets added or replaced).
fn merge_groups(a: &mut h5::Group, b: h5::Group) {
    for (k, v) in b.attrs {
        a.set_attr(&k, v);
    }
    for (name, node) in b.members {
        match node {
            h5::Node::Group(g) => {
                let pos = a.members.iter().position(|(n, _)| *n == name);
                match pos.map(|i| &mut a.members[i].1) {
                    Some(h5::Node::Group(existing)) => merge_groups(existing, g),
                    _ => a.members.push((name, h5::Node::Group(g))),
                }
            }
            h5::Node::Dataset(d) => {
                a.members.retain(|(n, _)| *n != name);
                a.members.push((name, h5::Node::Dataset(d)));
            }
        }
    }
}

/// Reads a sharded `.weights.json` index and its `.weights.h5` shards (in the
/// same directory) into one tree.
fn read_sharded(path: &Path) -> Result<h5::Group> {
    let text =
        std::fs::read(path).map_err(|e| crate::Error::Io(format!("{}: {e}", path.display())))?;
    let index = parse_json(&text).map_err(|e| {
        arg_err(
            "load_weights",
            format!("{}: invalid JSON: {e}", path.display()),
        )
    })?;
    let map = index
        .get("weight_map")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            arg_err(
                "load_weights",
                format!("{}: no \"weight_map\" object", path.display()),
            )
        })?;
    let mut shards: Vec<String> = Vec::new();
    for v in map.values() {
        let names: Vec<&str> = match v {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        for n in names {
            if n.contains('/') || n.contains('\\') || n.contains("..") {
                return Err(arg_err(
                    "load_weights",
                    format!(
                        "{}: shard name '{n}' must be a plain file name",
                        path.display()
                    ),
                ));
            }
            if !shards.iter().any(|s| s == n) {
                shards.push(n.to_string());
            }
        }
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tree = h5::Group::default();
    for s in shards {
        let p = dir.join(&s);
        let bytes =
            std::fs::read(&p).map_err(|e| crate::Error::Io(format!("{}: {e}", p.display())))?;
        merge_groups(&mut tree, h5::read(&bytes).map_err(|e| h5_err(&p, e))?);
    }
    Ok(tree)
}

/// The members of a `.keras` file that matter: `config.json` and
/// `model.weights.h5` (raw bytes).
pub struct Archive {
    /// `config.json`.
    pub config: Vec<u8>,
    /// `model.weights.h5`.
    pub weights: Vec<u8>,
}

fn read_member<R: Read + std::io::Seek>(
    zip: &mut zip::ZipArchive<R>,
    name: &str,
    path: &Path,
) -> Result<Option<Vec<u8>>> {
    let mut f = match zip.by_name(name) {
        Ok(f) => f,
        Err(zip::result::ZipError::FileNotFound) => return Ok(None),
        Err(e) => {
            return Err(arg_err(
                "load_model",
                format!("{}: cannot read member {name}: {e}", path.display()),
            ))
        }
    };
    let size = f.size();
    if size > MAX_MEMBER_BYTES {
        return Err(arg_err(
            "load_model",
            format!(
                "{}: member {name} declares {size} bytes, more than the {MAX_MEMBER_BYTES}-byte limit",
                path.display()
            ),
        ));
    }
    let stored = f.compressed_size();
    if size > BOMB_MIN_BYTES && size > stored.saturating_mul(MAX_EXPANSION) {
        return Err(arg_err(
            "load_model",
            format!(
                "{}: member {name} would inflate {stored} stored bytes to {size} bytes (more than {MAX_EXPANSION}x); refusing a possible zip bomb",
                path.display()
            ),
        ));
    }
    // Grows with the data actually inflated, not with the declared size.
    let mut out = Vec::with_capacity(size.min(1 << 26) as usize);
    // Read at most the declared size (+1 to detect a lying header).
    (&mut f)
        .take(size.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| {
            arg_err(
                "load_model",
                format!("{}: member {name}: {e}", path.display()),
            )
        })?;
    if out.len() as u64 != size {
        return Err(arg_err(
            "load_model",
            format!(
                "{}: member {name} holds {} bytes but its header declares {size}",
                path.display(),
                out.len()
            ),
        ));
    }
    Ok(Some(out))
}

/// Reads the members of a `.keras` file, with the zip-bomb and size guards of
/// [`load_model`].
pub fn read_archive(path: &Path) -> Result<Archive> {
    let file = std::fs::File::open(path)
        .map_err(|e| crate::Error::Io(format!("{}: {e}", path.display())))?;
    archive_from(file, path)
}

fn archive_from<R: Read + std::io::Seek>(reader: R, path: &Path) -> Result<Archive> {
    let mut zip = zip::ZipArchive::new(reader).map_err(|e| {
        arg_err(
            "load_model",
            format!("{}: not a valid .keras (zip) file: {e}", path.display()),
        )
    })?;
    let config = read_member(&mut zip, "config.json", path)?.ok_or_else(|| {
        arg_err(
            "load_model",
            format!("{}: the archive has no config.json", path.display()),
        )
    })?;
    let weights = match read_member(&mut zip, "model.weights.h5", path)? {
        Some(w) => w,
        None => {
            return Err(arg_err(
                "load_model",
                format!(
                    "{}: expected a model.weights.h5 file in the archive{}",
                    path.display(),
                    if zip.file_names().any(|n| n == "model.weights.npz") {
                        " (model.weights.npz holds pickled Python objects, which cannot be read)"
                    } else {
                        ""
                    }
                ),
            ))
        }
    };
    Ok(Archive { config, weights })
}

/// Options of [`load_model_with`].
#[derive(Debug, Clone, Copy)]
pub struct LoadOptions {
    /// Refuse configs that hold code (Lambda layers). Default true, as Keras.
    pub safe_mode: bool,
    /// Restore the compile settings (optimizer, losses, metrics). Default true.
    pub compile: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            safe_mode: true,
            compile: true,
        }
    }
}

/// `keras.saving.load_model(path)`: architecture, weights, compile settings and
/// optimizer state from a `.keras` file written by ceras or Python Keras 3.
///
/// ```no_run
/// use ceras::Model;
/// let mut m = ceras::saving::load_model("model.keras").unwrap();
/// m.summary();
/// ```
pub fn load_model(path: impl AsRef<Path>) -> Result<LoadedModel> {
    load_model_with(path, LoadOptions::default())
}

/// [`load_model`] with options.
pub fn load_model_with(path: impl AsRef<Path>, opts: LoadOptions) -> Result<LoadedModel> {
    let path = path.as_ref();
    let name = path.to_string_lossy();
    if name.ends_with(".h5") && !name.ends_with(".weights.h5") {
        return super::legacy_h5::load_legacy_h5(path);
    }
    if !name.ends_with(".keras") {
        return Err(arg_err(
            "load_model",
            format!("{name}: file format not supported: the name must end in .keras (or .h5 for a legacy Keras 2 model)"),
        ));
    }
    load_archive(read_archive(path)?, opts, path)
}

/// [`load_model_with`] on the bytes of a `.keras` file (for files that do not
/// live on disk, and for fuzzing the loader).
pub fn load_model_from_bytes(bytes: &[u8], opts: LoadOptions) -> Result<LoadedModel> {
    let path = Path::new("<memory>.keras");
    load_archive(archive_from(std::io::Cursor::new(bytes), path)?, opts, path)
}

fn load_archive(ar: Archive, opts: LoadOptions, path: &Path) -> Result<LoadedModel> {
    let name = path.to_string_lossy();
    let config: Value = parse_json(&ar.config).map_err(|e| {
        arg_err(
            "load_model",
            format!("{name}: config.json is not valid JSON: {e}"),
        )
    })?;
    if opts.safe_mode {
        if let Some(l) = find_lambda(&config) {
            return Err(arg_err(
                "load_model",
                format!(
                    "{name}: the model holds a Lambda layer ('{l}'), whose Python code cannot be loaded safely (and ceras cannot run Python); rebuild the model in Rust, or load with LoadOptions {{ safe_mode: false, .. }} after registering a Rust layer under that name"
                ),
            ));
        }
    }
    let tree = h5::read(&ar.weights).map_err(|e| h5_err(path, e))?;
    let limit = max_elements(&tree).max(1 << 16);
    let mut model = crate::layers::with_weight_limit(limit, || model_from_config(&config))?;
    if opts.compile {
        if let Some(cc) = config
            .get("compile_config")
            .filter(|c| c.as_object().is_some_and(|m| !m.is_empty()))
        {
            super::compile_config::compile_from_config(&mut model, cc)?;
            // Optimizer variables must exist before their values can be read.
            let trainable = model.trainable_variables();
            if tree.group("optimizer/vars").is_some() {
                if let Some(opt) = model.optimizer() {
                    opt.build(&trainable)?;
                }
            }
        }
    }
    assign_weights(&mut model, &tree, &name)?;
    Ok(model)
}

/// `model.save(path)`: a `.keras` file Python Keras 3 loads.
pub fn save_model<M: Model + ?Sized>(model: &M, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let name = path.to_string_lossy();
    if !name.ends_with(".keras") {
        return Err(arg_err(
            "save",
            format!("{name}: the file name must end in .keras"),
        ));
    }
    let mut config = model.to_keras_config()?;
    if let Some(cc) = super::compile_config::compile_config(model)? {
        config["compile_config"] = cc;
    }
    let metadata = json!({
        "keras_version": "3.15.1",
        "date_saved": super::compile_config::now_string(),
        "ceras_version": env!("CARGO_PKG_VERSION"),
    });
    let weights = h5_bytes(model)?;
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut zw = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .unix_permissions(0o644);
        let io = |e: std::io::Error| crate::Error::Io(format!("{name}: {e}"));
        let ze = |e: zip::result::ZipError| crate::Error::Io(format!("{name}: {e}"));
        zw.start_file("metadata.json", opts).map_err(ze)?;
        zw.write_all(metadata.to_string().as_bytes()).map_err(io)?;
        zw.start_file("config.json", opts).map_err(ze)?;
        zw.write_all(to_python_json(&config).as_bytes())
            .map_err(io)?;
        zw.start_file("model.weights.h5", opts).map_err(ze)?;
        zw.write_all(&weights).map_err(io)?;
        zw.finish().map_err(ze)?;
    }
    write_atomic(path, &buf.into_inner())
}

fn find_lambda(v: &Value) -> Option<String> {
    match v {
        Value::Object(m) => {
            if m.get("class_name").and_then(Value::as_str) == Some("Lambda") {
                return Some(
                    m.get("config")
                        .and_then(|c| c.get("name"))
                        .and_then(Value::as_str)
                        .unwrap_or("lambda")
                        .to_string(),
                );
            }
            m.values().find_map(find_lambda)
        }
        Value::Array(a) => a.iter().find_map(find_lambda),
        _ => None,
    }
}

/// Parses JSON as Python's `json` module writes it: bare `NaN`, `Infinity` and
/// `-Infinity` tokens (outside strings) are accepted and read as `null`.
pub fn parse_json(bytes: &[u8]) -> std::result::Result<Value, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
    match serde_json::from_str(text) {
        Ok(v) => Ok(v),
        Err(first) => {
            // Replace the Python-only tokens outside strings, then retry.
            let mut out = String::with_capacity(text.len());
            let mut in_str = false;
            let mut esc = false;
            let mut rest = text;
            while let Some(c) = rest.chars().next() {
                if in_str {
                    out.push(c);
                    if esc {
                        esc = false;
                    } else if c == '\\' {
                        esc = true;
                    } else if c == '"' {
                        in_str = false;
                    }
                    rest = &rest[c.len_utf8()..];
                    continue;
                }
                if c == '"' {
                    in_str = true;
                }
                let mut replaced = false;
                for tok in ["-Infinity", "Infinity", "NaN"] {
                    if rest.starts_with(tok) {
                        out.push_str("null");
                        rest = &rest[tok.len()..];
                        replaced = true;
                        break;
                    }
                }
                if !replaced {
                    out.push(c);
                    rest = &rest[c.len_utf8()..];
                }
            }
            serde_json::from_str(&out).map_err(|_| first.to_string())
        }
    }
}

/// JSON as Python's `json.dumps` writes it (`", "` and `": "` separators).
pub fn to_python_json(v: &Value) -> String {
    fn write(v: &Value, out: &mut String) {
        match v {
            Value::Array(a) => {
                out.push('[');
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write(x, out);
                }
                out.push(']');
            }
            Value::Object(m) => {
                out.push('{');
                for (i, (k, x)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push_str(": ");
                    write(x, out);
                }
                out.push('}');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut s = String::new();
    write(v, &mut s);
    s
}
