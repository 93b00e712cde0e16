//! The Functional API: [`Input`] gives a symbolic [`KerasTensor`]; calling a layer
//! on symbolic tensors ([`Layer::apply`], [`SharedLayer::apply`]) builds the layer
//! and records a node; [`Functional::new`] turns the graph between inputs and
//! outputs into a model.
//!
//! ```
//! use ceras::layers::{Concatenate, Dense, Layer};
//! use ceras::models::{Functional, Input, Model};
//! let a = Input::new([4]).name("a").tensor();
//! let b = Input::new([3]).name("b").tensor();
//! let x = Concatenate::new().apply([&a, &b]).unwrap();
//! let h = Dense::new(8).activation("relu").apply(&x).unwrap();
//! let out = Dense::new(1).named("out").apply(&h).unwrap();
//! assert_eq!(out.shape(), &[None, Some(1)]);
//! let model = Functional::new([&a, &b], &out).unwrap();
//! assert_eq!(model.count_params(), 7 * 8 + 8 + 9);
//! ```

use super::{Data, Input, Model, ModelCore, Sequential};
use crate::error::{arg_err, shape_err, unsupported};
use crate::layers::{autocast, fmt_shape, Layer, LayerBase, LayerRef};
use crate::saving::serialize::short;
use crate::trace::PartialShape;
use crate::{ops, DType, Result, Tensor};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

static NEXT_ID: AtomicUsize = AtomicUsize::new(1);

fn next_id() -> usize {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// A layer shared between several calls (and models): calling the same
/// `SharedLayer` twice reuses its weights, as calling one Keras layer twice does.
///
/// ```
/// use ceras::layers::Dense;
/// use ceras::models::{Functional, Input, Model, SharedLayer};
/// let shared = SharedLayer::new(Dense::new(4));
/// let a = Input::new([3]).tensor();
/// let b = Input::new([3]).tensor();
/// let ya = shared.apply(&a).unwrap();
/// let yb = shared.apply(&b).unwrap();
/// let m = Functional::new([&a, &b], [&ya, &yb]).unwrap();
/// assert_eq!(m.count_params(), 3 * 4 + 4); // one set of weights
/// ```
#[derive(Clone)]
pub struct SharedLayer(Arc<RwLock<Box<dyn Layer>>>);

impl SharedLayer {
    /// Shares a layer.
    pub fn new(layer: impl Layer + 'static) -> SharedLayer {
        SharedLayer::from_box(Box::new(layer))
    }

    /// Shares a boxed layer.
    pub fn from_box(layer: Box<dyn Layer>) -> SharedLayer {
        SharedLayer(Arc::new(RwLock::new(layer)))
    }

    /// Read access to the layer.
    pub fn read(&self) -> RwLockReadGuard<'_, Box<dyn Layer>> {
        // A panic while a lock was held cannot leave a layer half-updated in a
        // way that matters more than the panic itself; keep serving it.
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Write access (to rename, freeze, …).
    pub fn write(&self) -> RwLockWriteGuard<'_, Box<dyn Layer>> {
        self.0.write().unwrap_or_else(|e| e.into_inner())
    }

    /// True when both handles hold the same layer.
    pub fn same(&self, other: &SharedLayer) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// Calls the layer on symbolic tensors: builds it for their shapes (on first
    /// use), infers the output shapes, and records the call in the graph.
    /// Errors name the layer and the input shapes.
    pub fn apply<'a>(&self, inputs: impl Into<SymInputs<'a>>) -> Result<KerasTensor> {
        let mut outs = self.apply_multi(inputs)?;
        if outs.len() != 1 {
            let l = self.read();
            return Err(arg_err(
                &format!("layer '{}' ({})", l.name(), l.class_name()),
                format!(
                    "produced {} outputs; use `apply_multi` to get them all",
                    outs.len()
                ),
            ));
        }
        Ok(outs.remove(0))
    }

    /// [`SharedLayer::apply`] for layers with several outputs.
    pub fn apply_multi<'a>(&self, inputs: impl Into<SymInputs<'a>>) -> Result<Vec<KerasTensor>> {
        let inputs: Vec<KerasTensor> = inputs.into().0.into_iter().cloned().collect();
        let shapes: Vec<PartialShape> = inputs.iter().map(|t| t.shape().to_vec()).collect();
        let specs: Vec<(PartialShape, DType)> = inputs
            .iter()
            .map(|t| (t.shape().to_vec(), t.dtype()))
            .collect();
        let shown: Vec<String> = shapes.iter().map(|s| fmt_shape(s)).collect();
        let outs = {
            let mut l = self.write();
            let who = format!("layer '{}' ({})", l.name(), l.class_name());
            let wrap = |e: crate::Error| {
                shape_err(
                    &who,
                    format!(
                        "error when calling the layer on inputs of shape {}: {e}",
                        shown.join(", ")
                    ),
                )
            };
            l.maybe_build_multi(&shapes).map_err(wrap)?;
            l.compute_output_specs(&specs).map_err(wrap)?
        };
        let node = Arc::new(Node {
            layer: self.clone(),
            inputs,
            output_ids: outs.iter().map(|_| next_id()).collect(),
            out_shapes: outs.iter().map(|(s, _)| s.clone()).collect(),
        });
        Ok(outs
            .into_iter()
            .enumerate()
            .map(|(i, (shape, dtype))| {
                KerasTensor(Arc::new(KtInner {
                    id: node.output_ids[i],
                    shape,
                    dtype,
                    node: node.clone(),
                }))
            })
            .collect())
    }
}

/// The symbolic inputs of a layer call: one tensor or several.
pub struct SymInputs<'a>(Vec<&'a KerasTensor>);

impl<'a> From<&'a KerasTensor> for SymInputs<'a> {
    fn from(t: &'a KerasTensor) -> Self {
        SymInputs(vec![t])
    }
}
impl<'a, const N: usize> From<[&'a KerasTensor; N]> for SymInputs<'a> {
    fn from(t: [&'a KerasTensor; N]) -> Self {
        SymInputs(t.to_vec())
    }
}
impl<'a> From<&'a [KerasTensor]> for SymInputs<'a> {
    fn from(t: &'a [KerasTensor]) -> Self {
        SymInputs(t.iter().collect())
    }
}
impl<'a> From<&'a Vec<KerasTensor>> for SymInputs<'a> {
    fn from(t: &'a Vec<KerasTensor>) -> Self {
        SymInputs(t.iter().collect())
    }
}
impl<'a> From<Vec<&'a KerasTensor>> for SymInputs<'a> {
    fn from(t: Vec<&'a KerasTensor>) -> Self {
        SymInputs(t)
    }
}

struct Node {
    layer: SharedLayer,
    inputs: Vec<KerasTensor>,
    output_ids: Vec<usize>,
    out_shapes: Vec<PartialShape>,
}

struct KtInner {
    id: usize,
    shape: PartialShape,
    dtype: DType,
    node: Arc<Node>,
}

/// A symbolic tensor (Keras's `KerasTensor`): a shape (the batch dimension is
/// `None`), a dtype, and the layer call that produces it.
#[derive(Clone)]
pub struct KerasTensor(Arc<KtInner>);

impl KerasTensor {
    /// The shape; `None` for unknown sizes.
    pub fn shape(&self) -> &[Option<usize>] {
        &self.0.shape
    }
    /// The dtype.
    pub fn dtype(&self) -> DType {
        self.0.dtype
    }
    /// The name of the layer that produced it.
    pub fn name(&self) -> String {
        self.0.node.layer.read().name().to_string()
    }
    fn id(&self) -> usize {
        self.0.id
    }
    fn is_input(&self) -> bool {
        self.0.node.inputs.is_empty()
    }
}

impl fmt::Debug for KerasTensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<KerasTensor shape={}, dtype={}, name={}>",
            fmt_shape(self.shape()),
            self.dtype().name(),
            self.name()
        )
    }
}

// ------------------------------------------------------------------ InputLayer

/// `keras.layers.InputLayer`: the layer behind [`Input`]; passes its input through.
pub struct InputLayer {
    base: LayerBase,
    batch_shape: PartialShape,
    dtype: DType,
}

impl InputLayer {
    /// The batch shape (batch dimension first, `None` when not fixed).
    pub fn batch_shape(&self) -> &[Option<usize>] {
        &self.batch_shape
    }
}

impl Layer for InputLayer {
    fn base(&self) -> &LayerBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut LayerBase {
        &mut self.base
    }
    fn class_name(&self) -> &'static str {
        "InputLayer"
    }
    fn call(&self, x: &Tensor, _training: bool) -> Result<Tensor> {
        Ok(x.clone())
    }
    fn get_config(&self) -> serde_json::Value {
        serde_json::json!({
            "batch_shape": self.batch_shape,
            "dtype": self.dtype.name(),
            "sparse": false,
            "ragged": false,
            "name": self.name(),
        })
    }
}

impl Input {
    /// The symbolic tensor of this input, to call layers on (Keras's `keras.Input`).
    pub fn tensor(self) -> KerasTensor {
        let dtype = self.dtype.unwrap_or_else(crate::config::floatx);
        let batch_shape = self.batch_shape();
        let mut base = LayerBase::new("InputLayer");
        if let Some(n) = &self.name {
            base.set_name(n);
        }
        let layer = InputLayer {
            base,
            batch_shape: batch_shape.clone(),
            dtype,
        };
        let node = Arc::new(Node {
            layer: SharedLayer::new(layer),
            inputs: Vec::new(),
            output_ids: vec![next_id()],
            out_shapes: vec![batch_shape.clone()],
        });
        KerasTensor(Arc::new(KtInner {
            id: node.output_ids[0],
            shape: batch_shape,
            dtype,
            node,
        }))
    }
}

// ------------------------------------------------------------------ Functional

/// The inputs or outputs of a [`Functional`] model: one tensor, a list, or a
/// map from names to tensors.
pub enum SymSpec {
    /// One tensor (the model takes / returns a plain tensor).
    One(KerasTensor),
    /// A list.
    List(Vec<KerasTensor>),
    /// Named tensors (the names are the input / output names).
    Dict(Vec<(String, KerasTensor)>),
}

impl From<&KerasTensor> for SymSpec {
    fn from(t: &KerasTensor) -> Self {
        SymSpec::One(t.clone())
    }
}
impl From<KerasTensor> for SymSpec {
    fn from(t: KerasTensor) -> Self {
        SymSpec::One(t)
    }
}
impl From<Vec<KerasTensor>> for SymSpec {
    fn from(t: Vec<KerasTensor>) -> Self {
        SymSpec::List(t)
    }
}
impl<const N: usize> From<[&KerasTensor; N]> for SymSpec {
    fn from(t: [&KerasTensor; N]) -> Self {
        SymSpec::List(t.iter().map(|x| (*x).clone()).collect())
    }
}
impl<const N: usize> From<[(&str, &KerasTensor); N]> for SymSpec {
    fn from(t: [(&str, &KerasTensor); N]) -> Self {
        SymSpec::Dict(
            t.iter()
                .map(|(k, x)| (k.to_string(), (*x).clone()))
                .collect(),
        )
    }
}
impl From<Vec<(String, KerasTensor)>> for SymSpec {
    fn from(t: Vec<(String, KerasTensor)>) -> Self {
        SymSpec::Dict(t)
    }
}

impl SymSpec {
    fn split(self) -> (Vec<KerasTensor>, Option<Vec<String>>, bool) {
        match self {
            SymSpec::One(t) => (vec![t], None, true),
            SymSpec::List(v) => (v, None, false),
            SymSpec::Dict(v) => {
                let names = v.iter().map(|(k, _)| k.clone()).collect();
                (v.into_iter().map(|(_, t)| t).collect(), Some(names), false)
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Structure {
    One,
    List,
    Dict,
}

/// One layer call of the graph, in execution order.
struct Step {
    layer: usize,
    inputs: Vec<usize>,
    outputs: Vec<usize>,
    /// Slots no later step reads (freed after this step).
    free: Vec<usize>,
    /// `(name, node index, tensor index)` of each input, for the summary.
    connected: Vec<(usize, usize)>,
    out_shapes: Vec<PartialShape>,
}

/// The immutable graph of a functional model (shared by clones and nestings).
struct Graph {
    layers: Vec<SharedLayer>,
    steps: Vec<Step>,
    n_slots: usize,
    inputs: Vec<(usize, PartialShape, DType)>,
    input_names: Vec<String>,
    outputs: Vec<usize>,
    output_names: Vec<String>,
    output_structure: Structure,
    /// Per layer: the output shape of its first call, for the summary.
    layer_shapes: Vec<Option<PartialShape>>,
    /// Per model input: its `InputLayer` (`None` when the input is an
    /// intermediate tensor).
    input_layers: Vec<Option<usize>>,
}

/// A model built from a graph of layer calls (Keras's Functional `Model`).
/// Cloning shares the layers (and so the weights), as reusing layer objects does
/// in Keras.
pub struct Functional {
    core: ModelCore,
    graph: Arc<Graph>,
}

impl Functional {
    /// `keras.Model(inputs, outputs)` named `functional`, `functional_1`, …
    /// Errors when an output depends on a tensor that is not among the inputs
    /// ("graph disconnected"), or layer names repeat.
    pub fn new(inputs: impl Into<SymSpec>, outputs: impl Into<SymSpec>) -> Result<Functional> {
        Functional::with_name(inputs, outputs, None)
    }

    /// [`Functional::new`] with a given model name.
    pub fn named(
        name: &str,
        inputs: impl Into<SymSpec>,
        outputs: impl Into<SymSpec>,
    ) -> Result<Functional> {
        Functional::with_name(inputs, outputs, Some(name))
    }

    fn with_name(
        inputs: impl Into<SymSpec>,
        outputs: impl Into<SymSpec>,
        name: Option<&str>,
    ) -> Result<Functional> {
        let core = match name {
            Some(n) => ModelCore::exact(n),
            None => ModelCore::new("functional"),
        };
        let who = core.name().to_string();
        let (ins, in_names, _) = inputs.into().split();
        let (outs, out_names, out_one) = outputs.into().split();
        if ins.is_empty() || outs.is_empty() {
            return Err(arg_err(
                &who,
                "a model needs at least one input and one output",
            ));
        }
        let input_ids: HashSet<usize> = ins.iter().map(|t| t.id()).collect();
        if input_ids.len() != ins.len() {
            return Err(arg_err(&who, "the same tensor is listed twice in `inputs`"));
        }

        // Nodes in dependency order (depth-first, post-order from the outputs).
        let mut order: Vec<Arc<Node>> = Vec::new();
        let mut seen: HashSet<*const Node> = HashSet::new();
        for (oi, o) in outs.iter().enumerate() {
            let mut stack: Vec<(KerasTensor, bool)> = vec![(o.clone(), false)];
            while let Some((t, expanded)) = stack.pop() {
                if input_ids.contains(&t.id()) {
                    continue;
                }
                let node = t.0.node.clone();
                let key = Arc::as_ptr(&node);
                if expanded {
                    if seen.insert(key) {
                        order.push(node);
                    }
                    continue;
                }
                if seen.contains(&key) {
                    continue;
                }
                if t.is_input() {
                    let listed: Vec<String> = ins.iter().map(|i| format!("{i:?}")).collect();
                    return Err(arg_err(
                        &who,
                        format!(
                            "graph disconnected: output {oi} ({o:?}) depends on {t:?}, which is not among the model's inputs [{}]",
                            listed.join(", ")
                        ),
                    ));
                }
                stack.push((t.clone(), true));
                for i in node.inputs.iter().rev() {
                    stack.push((i.clone(), false));
                }
            }
        }

        // Layers: the inputs' layers first, then in call order, each once.
        let mut layers: Vec<SharedLayer> = Vec::new();
        let layer_index = |l: &SharedLayer, layers: &mut Vec<SharedLayer>| -> usize {
            if let Some(i) = layers.iter().position(|x| x.same(l)) {
                i
            } else {
                layers.push(l.clone());
                layers.len() - 1
            }
        };
        for t in &ins {
            if t.is_input() {
                layer_index(&t.0.node.layer, &mut layers);
            }
        }
        let mut slots: HashMap<usize, usize> = HashMap::new();
        let slot_of = |id: usize, slots: &mut HashMap<usize, usize>| -> usize {
            let n = slots.len();
            *slots.entry(id).or_insert(n)
        };
        let mut inputs = Vec::new();
        for t in &ins {
            inputs.push((slot_of(t.id(), &mut slots), t.shape().to_vec(), t.dtype()));
        }
        let mut node_index: HashMap<usize, (usize, usize)> = HashMap::new(); // tensor id -> (layer, node#)
        let mut calls_per_layer: HashMap<usize, usize> = HashMap::new();
        for t in &ins {
            if t.is_input() {
                let li = layer_index(&t.0.node.layer, &mut layers);
                node_index.insert(t.id(), (li, 0));
            }
        }
        let mut steps = Vec::new();
        let mut layer_shapes: Vec<Option<PartialShape>> = Vec::new();
        for node in &order {
            let li = layer_index(&node.layer, &mut layers);
            let k = calls_per_layer.entry(li).or_insert(0);
            let call_no = *k;
            *k += 1;
            let in_slots = node
                .inputs
                .iter()
                .map(|t| slot_of(t.id(), &mut slots))
                .collect();
            let connected = node
                .inputs
                .iter()
                .map(|t| node_index.get(&t.id()).copied().unwrap_or((usize::MAX, 0)))
                .collect();
            for &id in &node.output_ids {
                node_index.insert(id, (li, call_no));
            }
            let out_slots = node
                .output_ids
                .iter()
                .map(|&id| slot_of(id, &mut slots))
                .collect();
            steps.push(Step {
                layer: li,
                inputs: in_slots,
                outputs: out_slots,
                free: Vec::new(),
                connected,
                out_shapes: Vec::new(),
            });
        }
        for (s, node) in steps.iter_mut().zip(&order) {
            s.out_shapes = node.out_shapes.clone();
        }
        layer_shapes.resize(layers.len(), None);
        for t in &ins {
            if t.is_input() {
                let li = layers
                    .iter()
                    .position(|x| x.same(&t.0.node.layer))
                    .unwrap_or(0);
                layer_shapes[li] = Some(t.shape().to_vec());
            }
        }
        for s in &steps {
            if layer_shapes[s.layer].is_none() {
                layer_shapes[s.layer] = s.out_shapes.first().cloned();
            }
        }
        let outputs: Vec<usize> = outs.iter().map(|t| slot_of(t.id(), &mut slots)).collect();
        // Free each slot after its last reader (model outputs are kept).
        let keep: HashSet<usize> = outputs.iter().copied().collect();
        let mut last_use: HashMap<usize, usize> = HashMap::new();
        for (i, s) in steps.iter().enumerate() {
            for &x in &s.inputs {
                last_use.insert(x, i);
            }
        }
        for (slot, i) in last_use {
            if !keep.contains(&slot) {
                steps[i].free.push(slot);
            }
        }

        // Layer names must be unique (weights are named after them).
        let mut names: HashMap<String, usize> = HashMap::new();
        for l in &layers {
            *names.entry(l.read().name().to_string()).or_insert(0) += 1;
        }
        if let Some((n, c)) = names.iter().find(|(_, c)| **c > 1) {
            return Err(arg_err(
                &who,
                format!("the name \"{n}\" is used {c} times in the model; all layer names should be unique"),
            ));
        }

        let out_dict = out_names.is_some();
        let input_names = in_names.unwrap_or_else(|| ins.iter().map(|t| t.name()).collect());
        let output_names = out_names.unwrap_or_else(|| outs.iter().map(|t| t.name()).collect());
        let structure = |one: bool, dict: bool| {
            if dict {
                Structure::Dict
            } else if one {
                Structure::One
            } else {
                Structure::List
            }
        };
        let input_layers: Vec<Option<usize>> = ins
            .iter()
            .map(|t| {
                if t.is_input() {
                    layers.iter().position(|x| x.same(&t.0.node.layer))
                } else {
                    None
                }
            })
            .collect();
        let mut graph = Graph {
            input_layers,
            layers,
            steps,
            n_slots: slots.len(),
            inputs,
            input_names,
            outputs,
            output_structure: structure(out_one, out_dict),
            output_names,
            layer_shapes,
        };
        graph.order_layers_like_keras();
        Ok(Functional {
            core,
            graph: Arc::new(graph),
        })
    }
}

impl Graph {
    /// Puts `layers` in the order Keras's `map_graph` gives `model.layers`
    /// (deepest first, ties by first visit in a depth-first walk from the
    /// outputs), which names the weight groups of `.keras` files.
    fn order_layers_like_keras(&mut self) {
        let n_steps = self.steps.len();
        // Nodes: steps 0..n_steps, then one per model input.
        let mut producer: HashMap<usize, usize> = HashMap::new();
        for (i, s) in self.steps.iter().enumerate() {
            for &o in &s.outputs {
                producer.insert(o, i);
            }
        }
        let mut node_layer: Vec<Option<usize>> = self.steps.iter().map(|s| Some(s.layer)).collect();
        for (j, (slot, _, _)) in self.inputs.iter().enumerate() {
            producer.entry(*slot).or_insert(n_steps + j);
            node_layer.push(self.input_layers[j]);
        }
        let parents = |node: usize| -> Vec<usize> {
            if node < n_steps {
                self.steps[node]
                    .inputs
                    .iter()
                    .filter_map(|s| producer.get(s).copied())
                    .collect()
            } else {
                Vec::new()
            }
        };
        let mut out_order: Vec<usize> = (0..self.outputs.len()).collect();
        if self.output_structure == Structure::Dict {
            out_order.sort_by(|&a, &b| self.output_names[a].cmp(&self.output_names[b]));
        }
        let mut finished: HashSet<usize> = HashSet::new();
        let mut post: Vec<usize> = Vec::new();
        let mut op_index: HashMap<usize, usize> = HashMap::new();
        for &oi in &out_order {
            let Some(&start) = producer.get(&self.outputs[oi]) else {
                continue;
            };
            // Iterative depth-first walk: (node, expanded?).
            let mut stack = vec![(start, false)];
            while let Some((node, expanded)) = stack.pop() {
                if expanded {
                    if finished.insert(node) {
                        post.push(node);
                    }
                    continue;
                }
                if finished.contains(&node) {
                    continue;
                }
                if let Some(l) = node_layer[node] {
                    let n = op_index.len();
                    op_index.entry(l).or_insert(n);
                }
                stack.push((node, true));
                for p in parents(node).into_iter().rev() {
                    stack.push((p, false));
                }
            }
        }
        let mut node_depth: HashMap<usize, usize> = HashMap::new();
        let mut op_depth: HashMap<usize, usize> = HashMap::new();
        for &node in post.iter().rev() {
            let mut d = *node_depth.entry(node).or_insert(0);
            if let Some(l) = node_layer[node] {
                d = d.max(op_depth.get(&l).copied().unwrap_or(0));
                op_depth.insert(l, d);
            }
            node_depth.insert(node, d);
            for p in parents(node) {
                let e = node_depth.entry(p).or_insert(0);
                *e = (*e).max(d + 1);
            }
        }
        let key = |l: usize| -> (i64, i64) {
            match (op_depth.get(&l), op_index.get(&l)) {
                (Some(&d), Some(&i)) => (-(d as i64), i as i64),
                _ => (0, -1),
            }
        };
        let mut order: Vec<usize> = (0..self.layers.len()).collect();
        order.sort_by_key(|&l| key(l));
        let mut new_of_old = vec![0; self.layers.len()];
        for (new, &old) in order.iter().enumerate() {
            new_of_old[old] = new;
        }
        self.layers = order.iter().map(|&o| self.layers[o].clone()).collect();
        self.layer_shapes = order
            .iter()
            .map(|&o| self.layer_shapes[o].clone())
            .collect();
        for l in self.input_layers.iter_mut().flatten() {
            *l = new_of_old[*l];
        }
        for s in &mut self.steps {
            s.layer = new_of_old[s.layer];
            for c in &mut s.connected {
                if let Some(&n) = new_of_old.get(c.0) {
                    c.0 = n;
                }
            }
        }
    }
}

impl Graph {
    /// Matches `x` to the model inputs (by position or by name), checks shapes,
    /// and converts dtypes.
    fn bind_inputs(&self, who: &str, x: &Data) -> Result<Vec<Tensor>> {
        let n = self.inputs.len();
        let given: Vec<Tensor> = match x {
            Data::Dict(items) => self
                .input_names
                .iter()
                .map(|name| {
                    x.get(name).cloned().ok_or_else(|| {
                        let keys: Vec<&str> = items.iter().map(|(k, _)| k.as_str()).collect();
                        arg_err(
                            who,
                            format!(
                                "missing input '{name}': the model's inputs are {:?}, got keys {keys:?}",
                                self.input_names
                            ),
                        )
                    })
                })
                .collect::<Result<_>>()?,
            _ => {
                if x.len() != n {
                    return Err(arg_err(
                        who,
                        format!(
                            "the model expects {n} input(s) {:?}, got {} tensor(s)",
                            self.input_names,
                            x.len()
                        ),
                    ));
                }
                x.tensors().into_iter().cloned().collect()
            }
        };
        given
            .into_iter()
            .zip(&self.inputs)
            .zip(&self.input_names)
            .map(|((t, (_, shape, dtype)), name)| {
                let ok = t.ndim() == shape.len()
                    && shape
                        .iter()
                        .zip(t.shape())
                        .all(|(w, &d)| w.is_none_or(|w| w == d));
                if !ok {
                    return Err(shape_err(
                        who,
                        format!(
                            "input '{name}' of shape {:?} is incompatible with the expected shape {}",
                            t.shape(),
                            fmt_shape(shape)
                        ),
                    ));
                }
                if t.dtype() != *dtype {
                    ops::cast(&t, *dtype)
                } else {
                    Ok(t)
                }
            })
            .collect()
    }

    /// Runs the layer calls in order.
    fn run(&self, inputs: Vec<Tensor>, training: bool) -> Result<Vec<Tensor>> {
        let mut slots: Vec<Option<Tensor>> = vec![None; self.n_slots];
        // Keras masks (e.g. from Embedding(mask_zero)), carried along single-input calls.
        let mut masks: Vec<Option<Tensor>> = vec![None; self.n_slots];
        for ((slot, _, _), t) in self.inputs.iter().zip(inputs) {
            slots[*slot] = Some(t);
        }
        for step in &self.steps {
            let xs: Vec<Tensor> = step
                .inputs
                .iter()
                .map(|&s| {
                    slots[s].clone().ok_or_else(|| {
                        arg_err(
                            "Functional",
                            "internal error: a graph value was read before it was computed",
                        )
                    })
                })
                .collect::<Result<_>>()?;
            let layer = self.layers[step.layer].read();
            let xs = autocast(layer.base().dtype(), &xs)?;
            let mut out_mask = None;
            let ys = match (xs.as_slice(), step.outputs.len()) {
                ([x], 1) => {
                    let (y, m) =
                        layer.call_and_mask(x, masks[step.inputs[0]].as_ref(), training)?;
                    out_mask = m;
                    vec![y]
                }
                _ => layer.call_multi(&xs, training)?,
            };
            if ys.len() != step.outputs.len() {
                return Err(arg_err(
                    &format!("layer '{}' ({})", layer.name(), layer.class_name()),
                    format!(
                        "returned {} outputs, but {} were recorded when the graph was built",
                        ys.len(),
                        step.outputs.len()
                    ),
                ));
            }
            for &f in &step.free {
                slots[f] = None;
                masks[f] = None;
            }
            for (&o, y) in step.outputs.iter().zip(ys) {
                slots[o] = Some(y);
            }
            if let (Some(m), [o]) = (out_mask, step.outputs.as_slice()) {
                masks[*o] = Some(m);
            }
        }
        self.outputs
            .iter()
            .map(|&s| {
                slots[s].clone().ok_or_else(|| {
                    arg_err(
                        "Functional",
                        "internal error: a model output was not computed",
                    )
                })
            })
            .collect()
    }

    fn structure_outputs(&self, mut ys: Vec<Tensor>) -> Data {
        match self.output_structure {
            Structure::One if ys.len() == 1 => Data::Tensor(ys.swap_remove(0)),
            Structure::One | Structure::List => Data::List(ys),
            Structure::Dict => Data::Dict(self.output_names.iter().cloned().zip(ys).collect()),
        }
    }
}

impl Functional {
    /// The layers (shared handles), inputs first, in call order.
    pub fn shared_layers(&self) -> &[SharedLayer] {
        &self.graph.layers
    }

    /// The layer named `name` (Keras's `get_layer`).
    pub fn get_layer(&self, name: &str) -> Result<SharedLayer> {
        self.graph
            .layers
            .iter()
            .find(|l| l.read().name() == name)
            .cloned()
            .ok_or_else(|| {
                let names: Vec<String> = self
                    .graph
                    .layers
                    .iter()
                    .map(|l| l.read().name().to_string())
                    .collect();
                arg_err(
                    self.core.name(),
                    format!("no such layer: '{name}'. Existing layers are: {names:?}"),
                )
            })
    }

    /// Shapes (batch dimension first) and dtypes of the inputs, in order.
    pub fn input_specs(&self) -> Vec<(PartialShape, DType)> {
        self.graph
            .inputs
            .iter()
            .map(|(_, s, d)| (s.clone(), *d))
            .collect()
    }

    /// The input names (input layer names, or the keys of a dict of inputs).
    pub fn input_names(&self) -> &[String] {
        &self.graph.input_names
    }

    /// This model as a layer, to call inside another model (Keras's nested
    /// models). The layer shares this model's layers and weights.
    pub fn as_layer(&self) -> FunctionalLayer {
        let mut base = LayerBase::new("Functional");
        base.set_name(self.core.name());
        base.mark_built();
        FunctionalLayer {
            base,
            graph: self.graph.clone(),
        }
    }

    /// Keras's summary with the "Connected to" column.
    fn summary_rows(&self) -> Vec<Vec<String>> {
        let g = &self.graph;
        let mut rows = Vec::new();
        let names: Vec<String> = g
            .layers
            .iter()
            .map(|l| l.read().name().to_string())
            .collect();
        let mut shown = vec![false; g.layers.len()];
        for (li, l) in g.layers.iter().enumerate() {
            let l = l.read();
            if g.steps.iter().any(|s| s.layer == li) {
                continue;
            }
            shown[li] = true;
            rows.push(vec![
                format!("{} ({})", l.name(), l.class_name()),
                g.layer_shapes[li]
                    .as_deref()
                    .map(fmt_shape)
                    .unwrap_or_else(|| "?".into()),
                super::thousands(l.count_params()),
                "-".into(),
            ]);
        }
        for s in &g.steps {
            let l = g.layers[s.layer].read();
            let conn: Vec<String> = s
                .connected
                .iter()
                .map(|&(li, k)| {
                    names
                        .get(li)
                        .map(|n| format!("{n}[{k}][0]"))
                        .unwrap_or_else(|| "?".into())
                })
                .collect();
            let params = if shown[s.layer] {
                "(shared)".to_string()
            } else {
                super::thousands(l.count_params())
            };
            shown[s.layer] = true;
            let shapes: Vec<String> = s.out_shapes.iter().map(|x| fmt_shape(x)).collect();
            rows.push(vec![
                format!("{} ({})", l.name(), l.class_name()),
                shapes.join(", "),
                params,
                conn.join(", "),
            ]);
        }
        rows
    }
}

impl Model for Functional {
    fn core(&self) -> &ModelCore {
        &self.core
    }
    fn core_mut(&mut self) -> &mut ModelCore {
        &mut self.core
    }
    fn call(&mut self, x: &Tensor, training: bool) -> Result<Tensor> {
        let who = self.core.name().to_string();
        let y = self.call_data(&Data::Tensor(x.clone()), training)?;
        Ok(y.single(&who)?.clone())
    }
    fn call_data(&mut self, x: &Data, training: bool) -> Result<Data> {
        let xs = self.graph.bind_inputs(self.core.name(), x)?;
        let ys = self.graph.run(xs, training)?;
        Ok(self.graph.structure_outputs(ys))
    }
    fn layers(&self) -> Vec<LayerRef<'_>> {
        self.graph
            .layers
            .iter()
            .map(|l| LayerRef::Locked(l.read()))
            .collect()
    }
    fn output_names(&self) -> Vec<String> {
        self.graph.output_names.clone()
    }
    fn to_keras_config(&self) -> Result<Value> {
        self.to_config()
    }
    fn summary_string(&self) -> String {
        super::summary_table(
            self.core.name(),
            &["Layer (type)", "Output Shape", "Param #", "Connected to"],
            &[21, 19, 12, 19],
            &self.summary_rows(),
            &self.trainable_variables(),
            &self.non_trainable_variables(),
        )
    }
}

/// A [`Functional`] model used as a layer in another model ([`Functional::as_layer`]).
pub struct FunctionalLayer {
    base: LayerBase,
    graph: Arc<Graph>,
}

impl Layer for FunctionalLayer {
    fn base(&self) -> &LayerBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut LayerBase {
        &mut self.base
    }
    fn class_name(&self) -> &'static str {
        "Functional"
    }
    fn call(&self, x: &Tensor, training: bool) -> Result<Tensor> {
        let mut ys = self.call_multi(std::slice::from_ref(x), training)?;
        if ys.len() != 1 {
            return Err(arg_err(
                self.name(),
                format!(
                    "the nested model has {} outputs; use `apply_multi`",
                    ys.len()
                ),
            ));
        }
        Ok(ys.remove(0))
    }
    fn call_multi(&self, xs: &[Tensor], training: bool) -> Result<Vec<Tensor>> {
        let xs = self
            .graph
            .bind_inputs(self.name(), &Data::List(xs.to_vec()))?;
        self.graph.run(xs, training)
    }
    fn build_multi(&mut self, shapes: &[PartialShape]) -> Result<()> {
        if shapes.len() != self.graph.inputs.len() {
            return Err(arg_err(
                self.name(),
                format!(
                    "the nested model expects {} input(s), got {}",
                    self.graph.inputs.len(),
                    shapes.len()
                ),
            ));
        }
        Ok(())
    }
    fn sublayers(&self) -> Vec<LayerRef<'_>> {
        self.graph
            .layers
            .iter()
            .map(|l| LayerRef::Locked(l.read()))
            .collect()
    }
    fn model_config(&self) -> Result<Option<Value>> {
        Ok(Some(json!({
            "module": "keras.src.models.functional",
            "class_name": "Functional",
            "config": self.graph.config(self.name())?,
            "registered_name": "Functional",
            "build_config": {"input_shape": null},
        })))
    }
}

// ------------------------------------------------------------------ configs

/// Layers whose call takes the tensors as separate positional arguments.
fn takes_positional(class: &str) -> bool {
    matches!(
        class,
        "MultiHeadAttention" | "GroupedQueryAttention" | "Attention" | "AdditiveAttention"
    )
}

fn keras_tensor(shape: &[Option<usize>], dtype: DType, history: (String, usize, usize)) -> Value {
    json!({
        "class_name": "__keras_tensor__",
        "config": {
            "shape": shape,
            "dtype": dtype.name(),
            "keras_history": [history.0, history.1, history.2],
        }
    })
}

impl Graph {
    /// The Keras config of this graph (`layers`, `input_layers`, `output_layers`).
    fn config(&self, name: &str) -> Result<Value> {
        let names: Vec<String> = self
            .layers
            .iter()
            .map(|l| l.read().name().to_string())
            .collect();
        // Every slot: (producer layer, node index, tensor index, shape, dtype).
        let mut producer: HashMap<usize, (usize, usize, usize, PartialShape, DType)> =
            HashMap::new();
        for (j, (slot, shape, dt)) in self.inputs.iter().enumerate() {
            if let Some(l) = self.input_layers[j] {
                producer.insert(*slot, (l, 0, 0, shape.clone(), *dt));
            }
        }
        let mut calls = vec![0usize; self.layers.len()];
        let mut nodes: Vec<Vec<Value>> = vec![Vec::new(); self.layers.len()];
        for s in &self.steps {
            let node_index = calls[s.layer];
            calls[s.layer] += 1;
            let layer = self.layers[s.layer].read();
            let class = layer.class_name();
            let mut tensors = Vec::new();
            for slot in &s.inputs {
                let (l, n, t, shape, dt) = producer.get(slot).cloned().ok_or_else(|| {
                    unsupported(
                        name,
                        "saving a model whose inputs are intermediate tensors of another model",
                    )
                })?;
                tensors.push(keras_tensor(&shape, dt, (names[l].clone(), n, t)));
            }
            // Several tensors go in one list argument (merge layers, nested
            // models) unless the layer takes them positionally.
            let args = if tensors.len() > 1 && !takes_positional(class) {
                json!([tensors])
            } else {
                Value::Array(tensors)
            };
            nodes[s.layer].push(json!({"args": args, "kwargs": {}}));
            let dt = layer.base().dtype();
            for (k, (&o, shape)) in s.outputs.iter().zip(&s.out_shapes).enumerate() {
                producer.insert(o, (s.layer, node_index, k, shape.clone(), dt));
            }
        }
        let mut layers = Vec::new();
        for (li, l) in self.layers.iter().enumerate() {
            let l = l.read();
            let mut entry = layer_envelope(&**l)?;
            if let Some(m) = entry.as_object_mut() {
                m.insert("name".into(), json!(names[li]));
                m.insert("inbound_nodes".into(), Value::Array(nodes[li].clone()));
            }
            layers.push(entry);
        }
        let leaf = |slot: usize, shift_nested: bool| -> Result<Value> {
            let (l, n, t, _, _) = producer
                .get(&slot)
                .cloned()
                .ok_or_else(|| unsupported(name, "an output that is not computed by the graph"))?;
            let nested = shift_nested && self.layers[l].read().class_name() == "Functional";
            Ok(json!([names[l], n + usize::from(nested), t]))
        };
        let ins: Vec<Value> = self
            .inputs
            .iter()
            .map(|(slot, _, _)| leaf(*slot, true))
            .collect::<Result<_>>()?;
        let input_layers = if ins.len() == 1 {
            ins[0].clone()
        } else {
            Value::Array(ins)
        };
        let outs: Vec<Value> = self
            .outputs
            .iter()
            .map(|&slot| leaf(slot, true))
            .collect::<Result<_>>()?;
        let output_layers = match self.output_structure {
            Structure::One => outs[0].clone(),
            Structure::List => Value::Array(outs),
            Structure::Dict => Value::Object(
                self.output_names
                    .iter()
                    .cloned()
                    .zip(outs)
                    .collect::<serde_json::Map<_, _>>(),
            ),
        };
        Ok(json!({
            "name": name,
            "trainable": true,
            "layers": layers,
            "input_layers": input_layers,
            "output_layers": output_layers,
        }))
    }
}

/// A layer's envelope as Keras writes it in a model config (with
/// `build_config` once built). Nested models give their full model envelope.
pub(crate) fn layer_envelope(l: &dyn Layer) -> Result<Value> {
    if let Some(v) = l.model_config()? {
        return Ok(v);
    }
    let mut v = json!({
        "module": "keras.layers",
        "class_name": l.class_name(),
        "config": l.get_config(),
        "registered_name": null,
    });
    let class = l.class_name();
    let shape = match l.base().input_shapes() {
        Some(many) if many.len() > 1 => Some(json!(many)),
        _ => l.base().input_shape().map(|s| json!(s)),
    };
    // Layers called with separate positional tensors build from their call
    // (their build_config has other keys in Keras).
    if let (Some(s), Some(m)) = (shape, v.as_object_mut()) {
        if class != "InputLayer" && !takes_positional(class) {
            m.insert("build_config".into(), json!({ "input_shape": s }));
        }
    }
    Ok(v)
}

impl Functional {
    /// The model's Keras config envelope (`module`, `class_name: "Functional"`,
    /// `config` with the graph), as `model.get_config()` wrapped by Keras's
    /// serializer.
    pub fn to_config(&self) -> Result<Value> {
        Ok(json!({
            "module": "keras.src.models.functional",
            "class_name": "Functional",
            "config": self.graph.config(self.core.name())?,
            "registered_name": "Functional",
            "build_config": {"input_shape": null},
        }))
    }

    /// Rebuilds a Functional model from its Keras config (the envelope or its
    /// `config` object): creates every layer, then calls each on its inbound
    /// nodes as soon as their inputs exist, as Keras's `functional_from_config`.
    pub fn from_config(v: &Value) -> Result<Functional> {
        let cfg = match v.get("config") {
            Some(c) if v.get("class_name").is_some() => c,
            _ => v,
        };
        let name = cfg
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| arg_err("Functional.from_config", "the config has no \"name\""))?
            .to_string();
        let who = format!("Functional.from_config ('{name}')");
        let entries = cfg
            .get("layers")
            .and_then(Value::as_array)
            .ok_or_else(|| arg_err(&who, "the config has no \"layers\" list"))?;
        // Layers and their pending nodes.
        let mut by_name: HashMap<String, SharedLayer> = HashMap::new();
        let mut pending: Vec<(String, SharedLayer, Vec<Value>)> = Vec::new();
        let mut produced: HashMap<(String, usize), Vec<KerasTensor>> = HashMap::new();
        let mut raw_ops: Vec<String> = Vec::new();
        for e in entries {
            let lname = e
                .get("name")
                .or_else(|| e.get("config").and_then(|c| c.get("name")))
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    arg_err(&who, format!("a layer entry has no \"name\": {}", short(e)))
                })?
                .to_string();
            if by_name.contains_key(&lname) {
                return Err(arg_err(
                    &who,
                    format!("the layer name '{lname}' appears twice"),
                ));
            }
            let class = e.get("class_name").and_then(Value::as_str).unwrap_or("");
            if class == "InputLayer" {
                let t = input_from_config(e)?;
                by_name.insert(lname.clone(), t.0.node.layer.clone());
                produced.insert((lname, 0), vec![t]);
                continue;
            }
            if e.get("module")
                .and_then(Value::as_str)
                .is_some_and(|m| m.starts_with("keras.src.ops"))
            {
                // Raw keras.ops calls: Keras records mask computations this way
                // (`not_equal(ids, 0)` passed as `mask=`); masks propagate by
                // themselves in ceras, so such nodes are only an error when a
                // layer takes their output as a real input.
                raw_ops.push(lname);
                continue;
            }
            let layer = match class {
                "Functional" | "Model" => {
                    let inner = Functional::from_config(e)?;
                    SharedLayer::new(inner.as_layer())
                }
                "Sequential" => SharedLayer::new(Sequential::from_config(e)?.into_layer()),
                _ => SharedLayer::from_box(crate::saving::registry::layer_from_config(e)?),
            };
            let nodes = match e.get("inbound_nodes") {
                Some(Value::Array(a)) => a.clone(),
                None | Some(Value::Null) => Vec::new(),
                Some(x) => {
                    return Err(arg_err(
                        &who,
                        format!(
                            "layer '{lname}': \"inbound_nodes\" must be a list, got {}",
                            short(x)
                        ),
                    ))
                }
            };
            by_name.insert(lname.clone(), layer.clone());
            pending.push((lname, layer, nodes));
        }
        // Sweep until every node is called.
        let mut done: Vec<usize> = vec![0; pending.len()];
        loop {
            let mut progress = false;
            let mut left = false;
            for (i, (lname, layer, nodes)) in pending.iter().enumerate() {
                while done[i] < nodes.len() {
                    let node = &nodes[done[i]];
                    let refs = node_tensors(&who, lname, node)?;
                    if let Some((op, _, _)) = refs.iter().find(|(n, _, _)| raw_ops.contains(n)) {
                        return Err(unsupported(
                            &who,
                            format!("layer '{lname}' takes the output of '{op}', a raw keras.ops call, which ceras cannot rebuild yet"),
                        ));
                    }
                    let inputs: Option<Vec<KerasTensor>> = refs
                        .iter()
                        .map(|(n, k, t)| {
                            produced
                                .get(&(n.clone(), *k))
                                .and_then(|outs| outs.get(*t).cloned())
                        })
                        .collect();
                    let Some(inputs) = inputs else {
                        left = true;
                        break;
                    };
                    let outs = layer.apply_multi(&inputs)?;
                    produced.insert((lname.clone(), done[i]), outs);
                    done[i] += 1;
                    progress = true;
                }
            }
            if !left {
                break;
            }
            if !progress {
                let stuck: Vec<&str> = pending
                    .iter()
                    .enumerate()
                    .filter(|(i, p)| done[*i] < p.2.len())
                    .map(|(_, p)| p.0.as_str())
                    .collect();
                return Err(arg_err(
                    &who,
                    format!(
                        "the graph has loops or disconnected nodes: cannot call {}",
                        stuck.join(", ")
                    ),
                ));
            }
        }
        let resolve = |leaf: &Value| -> Result<KerasTensor> {
            let (n, k, t) = leaf_ref(&who, leaf)?;
            let nested = by_name
                .get(&n)
                .is_some_and(|l| l.read().class_name() == "Functional");
            let k = if nested { k.saturating_sub(1) } else { k };
            produced
                .get(&(n.clone(), k))
                .and_then(|o| o.get(t).cloned())
                .ok_or_else(|| {
                    arg_err(
                        &who,
                        format!("model input/output [{n}, {k}, {t}] does not exist"),
                    )
                })
        };
        let spec = |v: Option<&Value>, what: &str| -> Result<SymSpec> {
            match v {
                Some(leaf) if is_leaf(leaf) => Ok(SymSpec::One(resolve(leaf)?)),
                Some(Value::Array(a)) => Ok(SymSpec::List(
                    a.iter().map(&resolve).collect::<Result<Vec<_>>>()?,
                )),
                Some(Value::Object(m)) => Ok(SymSpec::Dict(
                    m.iter()
                        .map(|(k, leaf)| Ok((k.clone(), resolve(leaf)?)))
                        .collect::<Result<Vec<_>>>()?,
                )),
                _ => Err(arg_err(&who, format!("the config has no valid \"{what}\""))),
            }
        };
        let inputs = spec(cfg.get("input_layers"), "input_layers")?;
        let outputs = spec(cfg.get("output_layers"), "output_layers")?;
        // A single-input model whose config lists one input keeps a plain tensor.
        Functional::named(&name, inputs, outputs)
    }
}

fn is_leaf(v: &Value) -> bool {
    matches!(v, Value::Array(a) if a.len() == 3 && a[0].is_string())
}

fn leaf_ref(who: &str, v: &Value) -> Result<(String, usize, usize)> {
    let bad = || {
        arg_err(
            who,
            format!(
                "expected [layer_name, node_index, tensor_index], got {}",
                short(v)
            ),
        )
    };
    let a = v.as_array().ok_or_else(bad)?;
    match a.as_slice() {
        [Value::String(n), k, t, ..] => Ok((
            n.clone(),
            k.as_u64().ok_or_else(bad)? as usize,
            t.as_u64().ok_or_else(bad)? as usize,
        )),
        _ => Err(bad()),
    }
}

/// The `keras_history` of every tensor in a node's args then kwargs, in order.
/// Also reads the Keras 2 form `[[name, node, tensor, kwargs], ...]`.
fn node_tensors(who: &str, layer: &str, node: &Value) -> Result<Vec<(String, usize, usize)>> {
    fn walk(v: &Value, out: &mut Vec<Value>) {
        match v {
            Value::Object(m)
                if m.get("class_name").and_then(Value::as_str) == Some("__keras_tensor__") =>
            {
                if let Some(h) = m.get("config").and_then(|c| c.get("keras_history")) {
                    out.push(h.clone());
                }
            }
            Value::Object(m) => m.values().for_each(|x| walk(x, out)),
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut hist = Vec::new();
    match node {
        Value::Object(m) => {
            if let Some(a) = m.get("args") {
                walk(a, &mut hist);
            }
            if let Some(Value::Object(k)) = m.get("kwargs") {
                // `mask=` tensors are not inputs: masks propagate along the graph.
                for (key, v) in k {
                    if key != "mask" {
                        walk(v, &mut hist);
                    }
                }
            }
        }
        // Keras 2: a list of [name, node, tensor, kwargs].
        Value::Array(a) => {
            for t in a {
                if let Value::Array(x) = t {
                    hist.push(Value::Array(x.iter().take(3).cloned().collect()));
                }
            }
        }
        _ => {}
    }
    if hist.is_empty() {
        return Err(arg_err(
            who,
            format!(
                "layer '{layer}': a node without input tensors: {}",
                short(node)
            ),
        ));
    }
    hist.iter().map(|h| leaf_ref(who, h)).collect()
}

/// An `InputLayer` entry → its symbolic tensor.
pub(crate) fn input_from_config(e: &Value) -> Result<KerasTensor> {
    let c = e.get("config").unwrap_or(e);
    let who = "InputLayer.from_config";
    let shape_of = |k: &str| -> Result<Option<PartialShape>> {
        match c.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(a)) => a
                .iter()
                .map(|d| match d {
                    Value::Null => Ok(None),
                    d => d.as_u64().map(|u| Some(u as usize)).ok_or_else(|| {
                        arg_err(who, format!("'{k}' must hold integers or nulls, got {d}"))
                    }),
                })
                .collect::<Result<PartialShape>>()
                .map(Some),
            Some(x) => Err(arg_err(who, format!("'{k}' must be a list, got {x}"))),
        }
    };
    let batch_shape = match (
        shape_of("batch_shape")?,
        shape_of("batch_input_shape")?,
        shape_of("shape")?,
    ) {
        (Some(b), _, _) | (None, Some(b), _) => b,
        (None, None, Some(s)) => {
            let mut b = vec![c
                .get("batch_size")
                .and_then(Value::as_u64)
                .map(|u| u as usize)];
            b.extend(s);
            b
        }
        _ => {
            return Err(arg_err(
                who,
                format!("needs \"batch_shape\" or \"shape\": {}", short(c)),
            ))
        }
    };
    if batch_shape.is_empty() {
        return Err(arg_err(
            who,
            "the batch shape must have at least the batch dimension",
        ));
    }
    let mut inp = Input::partial(&batch_shape[1..]);
    if let Some(b) = batch_shape[0] {
        inp = inp.batch_size(b);
    }
    if let Some(d) = c.get("dtype").filter(|d| !d.is_null()) {
        inp = inp.dtype(crate::saving::serialize::dtype_policy_from(d)?);
    }
    if let Some(n) = c.get("name").and_then(Value::as_str) {
        inp = inp.name(n);
    }
    if c.get("sparse").and_then(Value::as_bool) == Some(true)
        || c.get("ragged").and_then(Value::as_bool) == Some(true)
    {
        return Err(unsupported(who, "sparse and ragged inputs"));
    }
    Ok(inp.tensor())
}
