//! Tracing: running code on traced tensors records the primitive graph instead of
//! executing it.
//!
//! Two uses: abstract evaluation ([`eval_shape`], shapes and dtypes only, with unknown
//! dimensions) and recording a computation into a [`Graph`] that replays to identical
//! results ([`trace`], [`Graph::call`]) — the hook a compiling backend uses.

use crate::dispatch::apply;
use crate::dtype::DType;
use crate::error::{arg_err, shape_err, Result};
use crate::prim::{Prim, Spec};
use crate::tensor::{fresh_id, Tensor, Value};
use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

/// What a graph node computes.
#[derive(Debug, Clone)]
pub enum NodeKind {
    /// The i-th graph input.
    Input(usize),
    /// A concrete tensor captured from outside the trace.
    Const(Tensor),
    /// A primitive applied to outputs of earlier nodes `(node, output)`.
    Op(Prim, Vec<(usize, usize)>),
    /// A [`crate::autodiff::custom_gradient`] region applied to outputs of earlier
    /// nodes: replays run its forward graph and differentiate with its backward
    /// graph, exactly as the eager call does.
    Custom(Rc<CustomCall>, Vec<(usize, usize)>),
}

/// A traced `custom_gradient` call: the forward computation and its VJP, each as
/// a graph.
#[derive(Debug, Clone)]
pub struct CustomCall {
    /// Inputs → outputs.
    pub fwd: Graph,
    /// `(inputs, output cotangents)` → the input cotangents that exist (see
    /// [`CustomCall::has_grad`]). It recomputes what it needs of the forward pass.
    pub bwd: Graph,
    /// For each input, whether the VJP gives it a cotangent (`bwd` has one output
    /// per `true`).
    pub has_grad: Vec<bool>,
}

/// One node of a recorded graph.
#[derive(Debug, Clone)]
pub struct Node {
    /// What it computes.
    pub kind: NodeKind,
    /// Specs of its outputs.
    pub outs: Vec<Spec>,
}

/// A recorded primitive graph: inputs, nodes in execution order, outputs.
#[derive(Debug, Clone)]
pub struct Graph {
    /// Specs of the inputs.
    pub inputs: Vec<Spec>,
    /// Nodes, topologically ordered.
    pub nodes: Vec<Node>,
    /// Outputs as `(node, output)`.
    pub outputs: Vec<(usize, usize)>,
}

struct TraceState {
    id: u64,
    nodes: Vec<Node>,
}

thread_local! {
    static TRACES: RefCell<Vec<TraceState>> = const { RefCell::new(Vec::new()) };
}

/// True while a trace is being recorded on this thread.
pub fn is_tracing() -> bool {
    TRACES.with(|t| !t.borrow().is_empty())
}

pub(crate) fn record(prim: &Prim, inputs: &[&Tensor], outs: Vec<Spec>) -> Result<Vec<Tensor>> {
    let weak = *prim == Prim::StopGradient && inputs[0].is_weak();
    let weak = vec![weak; outs.len()];
    push_node(
        prim.name(),
        inputs,
        |args| NodeKind::Op(prim.clone(), args),
        outs,
        &weak,
    )
}

/// Appends a node computed from `inputs` (captured concrete tensors become
/// constants) and returns its outputs as traced tensors.
fn push_node(
    name: &str,
    inputs: &[&Tensor],
    kind: impl FnOnce(Vec<(usize, usize)>) -> NodeKind,
    outs: Vec<Spec>,
    weak: &[bool],
) -> Result<Vec<Tensor>> {
    TRACES.with(|t| {
        let mut t = t.borrow_mut();
        let st = t.last_mut().ok_or_else(|| {
            arg_err(
                name,
                "received a traced tensor outside of the trace that created it",
            )
        })?;
        let mut args = Vec::with_capacity(inputs.len());
        for x in inputs {
            match &x.0.value {
                Value::Traced { trace, node, out } if *trace == st.id => args.push((*node, *out)),
                Value::Traced { .. } => return Err(arg_err(
                    name,
                    "received a traced tensor that belongs to another (outer or finished) trace",
                )),
                Value::Concrete(_) => {
                    st.nodes.push(Node {
                        kind: NodeKind::Const((*x).clone()),
                        outs: vec![x.spec().clone()],
                    });
                    args.push((st.nodes.len() - 1, 0));
                }
            }
        }
        let node = st.nodes.len();
        st.nodes.push(Node {
            kind: kind(args),
            outs: outs.clone(),
        });
        let trace = st.id;
        Ok(outs
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                Tensor::from_parts(
                    s,
                    weak.get(i).copied().unwrap_or(false),
                    Value::Traced {
                        trace,
                        node,
                        out: i,
                    },
                )
            })
            .collect())
    })
}

/// The function a `custom_gradient` call runs: outputs and their VJP.
pub(crate) type CustomFn<'a> =
    &'a dyn Fn(&[Tensor]) -> Result<(Vec<Tensor>, crate::autodiff::VjpFn)>;

/// Records `custom_gradient(inputs, f)` under the current trace as one
/// [`NodeKind::Custom`] node, returning its traced outputs and a VJP that applies
/// the backward graph. Where `f` cannot be traced on placeholders of its own (it
/// reads tensors of the enclosing trace that are not among `inputs`), it runs
/// inline instead, as before custom nodes existed.
pub(crate) fn custom_call(
    inputs: &[Tensor],
    f: CustomFn<'_>,
) -> Result<(Vec<Tensor>, crate::autodiff::VjpFn)> {
    let specs: Vec<Spec> = inputs.iter().map(|x| x.spec().clone()).collect();
    let n = specs.len();
    let weak = RefCell::new(Vec::new());
    let fwd = match trace(&specs, |xs| {
        let outs = f(xs)?.0;
        *weak.borrow_mut() = outs.iter().map(Tensor::is_weak).collect();
        Ok(outs)
    }) {
        Ok(g) => g,
        Err(_) => return f(inputs),
    };
    let mut all = specs;
    all.extend(fwd.output_specs());
    let has_grad = RefCell::new(Vec::new());
    let bwd = trace(&all, |v| {
        let (_, vjp) = f(&v[..n])?;
        let grads = vjp(&v[n..])?;
        if grads.len() != n {
            return Err(arg_err(
                "custom_gradient",
                format!("the VJP returned {} cotangents for {n} inputs", grads.len()),
            ));
        }
        *has_grad.borrow_mut() = grads.iter().map(Option::is_some).collect();
        Ok(grads.into_iter().flatten().collect())
    });
    let bwd = match bwd {
        Ok(g) => g,
        Err(_) => return f(inputs),
    };
    let call = Rc::new(CustomCall {
        fwd,
        bwd,
        has_grad: has_grad.into_inner(),
    });
    let refs: Vec<&Tensor> = inputs.iter().collect();
    let outs = push_node(
        "custom_gradient",
        &refs,
        |args| NodeKind::Custom(call.clone(), args),
        call.fwd.output_specs(),
        &weak.into_inner(),
    )?;
    Ok((outs, custom_vjp(call, inputs.to_vec())))
}

/// The VJP of a traced `custom_gradient` call at inputs `xs`: its backward graph.
fn custom_vjp(call: Rc<CustomCall>, xs: Vec<Tensor>) -> crate::autodiff::VjpFn {
    Rc::new(move |cts: &[Tensor]| {
        let mut args = xs.clone();
        for (c, s) in cts.iter().zip(call.fwd.output_specs()) {
            args.push(if c.dtype() != s.dtype {
                crate::lax::convert(c, s.dtype)?
            } else {
                c.clone()
            });
        }
        let mut grads = call.bwd.call(&args)?.into_iter();
        Ok(call
            .has_grad
            .iter()
            .map(|&h| if h { grads.next() } else { None })
            .collect())
    })
}

/// Drops nodes that no output depends on (inputs stay, in place) and renumbers
/// the rest.
fn prune(nodes: Vec<Node>, outputs: &mut [(usize, usize)]) -> Vec<Node> {
    let mut live = vec![false; nodes.len()];
    for &(n, _) in outputs.iter() {
        live[n] = true;
    }
    for i in (0..nodes.len()).rev() {
        match &nodes[i].kind {
            NodeKind::Input(_) => live[i] = true,
            NodeKind::Op(_, args) | NodeKind::Custom(_, args) if live[i] => {
                for &(a, _) in args {
                    live[a] = true;
                }
            }
            _ => {}
        }
    }
    let mut new_index = vec![usize::MAX; nodes.len()];
    let mut kept = Vec::with_capacity(nodes.len());
    let remap = |args: &[(usize, usize)], new_index: &[usize]| -> Vec<(usize, usize)> {
        args.iter().map(|&(a, o)| (new_index[a], o)).collect()
    };
    for (i, mut node) in nodes.into_iter().enumerate() {
        if !live[i] {
            continue;
        }
        node.kind = match node.kind {
            NodeKind::Op(p, args) => NodeKind::Op(p, remap(&args, &new_index)),
            NodeKind::Custom(c, args) => NodeKind::Custom(c, remap(&args, &new_index)),
            k => k,
        };
        new_index[i] = kept.len();
        kept.push(node);
    }
    for (n, _) in outputs.iter_mut() {
        *n = new_index[*n];
    }
    kept
}

struct PopGuard;
impl Drop for PopGuard {
    fn drop(&mut self) {
        TRACES.with(|t| {
            t.borrow_mut().pop();
        });
    }
}

/// Traces `f` on placeholder tensors with the given specs and returns the graph.
///
/// ```
/// use ceras::{ops, trace, Tensor, DType};
/// use ceras::prim::Spec;
/// let g = trace::trace(&[Spec::new(vec![3], DType::F32)], |xs| Ok(vec![ops::exp(&xs[0])?])).unwrap();
/// let x = Tensor::from_vec(vec![0.0f32, 1.0, 2.0], [3]).unwrap();
/// let y = g.call(&[x.clone()]).unwrap();
/// assert_eq!(y[0].to_vec::<f32>().unwrap(), ops::exp(&x).unwrap().to_vec::<f32>().unwrap());
/// ```
pub fn trace<F>(inputs: &[Spec], f: F) -> Result<Graph>
where
    F: FnOnce(&[Tensor]) -> Result<Vec<Tensor>>,
{
    let id = fresh_id();
    TRACES.with(|t| {
        t.borrow_mut().push(TraceState {
            id,
            nodes: Vec::new(),
        })
    });
    let guard = PopGuard;
    let mut placeholders = Vec::with_capacity(inputs.len());
    TRACES.with(|t| {
        let mut t = t.borrow_mut();
        let st = t.last_mut().expect("trace pushed");
        for (i, s) in inputs.iter().enumerate() {
            st.nodes.push(Node {
                kind: NodeKind::Input(i),
                outs: vec![s.clone()],
            });
            placeholders.push(Tensor::from_parts(
                s.clone(),
                false,
                Value::Traced {
                    trace: id,
                    node: i,
                    out: 0,
                },
            ));
        }
    });
    let results = f(&placeholders)?;
    let mut nodes = TRACES
        .with(|t| std::mem::take(&mut t.borrow_mut().last_mut().expect("trace pushed").nodes));
    drop(guard);
    let mut outputs = Vec::with_capacity(results.len());
    for r in results {
        match &r.0.value {
            Value::Traced { trace, node, out } if *trace == id => outputs.push((*node, *out)),
            Value::Traced { .. } => {
                return Err(arg_err("trace", "an output belongs to another trace"))
            }
            Value::Concrete(_) => {
                nodes.push(Node {
                    kind: NodeKind::Const(r.clone()),
                    outs: vec![r.spec().clone()],
                });
                outputs.push((nodes.len() - 1, 0));
            }
        }
    }
    let nodes = prune(nodes, &mut outputs);
    Ok(Graph {
        inputs: inputs.to_vec(),
        nodes,
        outputs,
    })
}

impl Graph {
    /// Replays the graph on concrete (or traced) inputs through the current backend.
    /// Replays run through the same dispatch as eager code, so they can be
    /// differentiated and traced again.
    pub fn call(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        if inputs.len() != self.inputs.len() {
            return Err(arg_err(
                "Graph::call",
                format!(
                    "expected {} inputs, got {}",
                    self.inputs.len(),
                    inputs.len()
                ),
            ));
        }
        let mut env: Vec<Vec<Tensor>> = Vec::with_capacity(self.nodes.len());
        for node in &self.nodes {
            let vals = match &node.kind {
                NodeKind::Input(i) => {
                    let x = &inputs[*i];
                    if x.spec() != &self.inputs[*i] {
                        return Err(shape_err(
                            "Graph::call",
                            format!(
                                "input {i} has shape {:?} and dtype {}, the graph was traced for {:?} and {}",
                                x.shape(),
                                x.dtype(),
                                self.inputs[*i].shape,
                                self.inputs[*i].dtype
                            ),
                        ));
                    }
                    vec![x.clone()]
                }
                NodeKind::Const(t) => vec![t.clone()],
                NodeKind::Op(p, args) => {
                    let ins: Vec<&Tensor> = args.iter().map(|(n, o)| &env[*n][*o]).collect();
                    apply(p, &ins)?
                }
                NodeKind::Custom(c, args) => {
                    let ins: Vec<Tensor> = args.iter().map(|(n, o)| env[*n][*o].clone()).collect();
                    crate::autodiff::custom_gradient(&ins, |xs| {
                        Ok((c.fwd.call(xs)?, custom_vjp(c.clone(), xs.to_vec())))
                    })?
                }
            };
            env.push(vals);
        }
        Ok(self
            .outputs
            .iter()
            .map(|(n, o)| env[*n][*o].clone())
            .collect())
    }

    /// Specs of the outputs.
    pub fn output_specs(&self) -> Vec<Spec> {
        self.outputs
            .iter()
            .map(|(n, o)| self.nodes[*n].outs[*o].clone())
            .collect()
    }

    /// Number of primitive applications in the graph (a custom node counts the
    /// primitives of its forward graph).
    pub fn num_ops(&self) -> usize {
        self.nodes
            .iter()
            .map(|n| match &n.kind {
                NodeKind::Op(..) => 1,
                NodeKind::Custom(c, _) => c.fwd.num_ops(),
                _ => 0,
            })
            .sum()
    }
}

impl fmt::Display for Graph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, n) in self.nodes.iter().enumerate() {
            let outs: Vec<String> = n
                .outs
                .iter()
                .map(|s| format!("{}{:?}", s.dtype, s.shape))
                .collect();
            match &n.kind {
                NodeKind::Input(k) => writeln!(f, "%{i} = input[{k}] : {}", outs.join(", "))?,
                NodeKind::Const(_) => writeln!(f, "%{i} = const : {}", outs.join(", "))?,
                NodeKind::Op(p, args) => {
                    let a: Vec<String> = args.iter().map(|(n, o)| format!("%{n}.{o}")).collect();
                    writeln!(
                        f,
                        "%{i} = {}({}) : {}",
                        p.name(),
                        a.join(", "),
                        outs.join(", ")
                    )?
                }
                NodeKind::Custom(c, args) => {
                    let a: Vec<String> = args.iter().map(|(n, o)| format!("%{n}.{o}")).collect();
                    writeln!(
                        f,
                        "%{i} = custom_gradient[{} ops, backward {} ops]({}) : {}",
                        c.fwd.num_ops(),
                        c.bwd.num_ops(),
                        a.join(", "),
                        outs.join(", ")
                    )?
                }
            }
        }
        let o: Vec<String> = self
            .outputs
            .iter()
            .map(|(n, o)| format!("%{n}.{o}"))
            .collect();
        write!(f, "return {}", o.join(", "))
    }
}

/// A shape with possibly unknown (`None`) dimensions, as Keras's symbolic shapes.
pub type PartialShape = Vec<Option<usize>>;

/// Abstract evaluation: output shapes and dtypes of `f` for inputs of the given
/// partial shapes, without computing anything. Unknown dimensions are found the way
/// Keras's JAX backend does: `f` is traced twice with different sizes substituted,
/// and output dimensions that differ are unknown.
///
/// ```
/// use ceras::{ops, trace, DType};
/// let out = trace::eval_shape(&[(vec![None, Some(4)], DType::F32)], |xs| {
///     Ok(vec![ops::sum(&xs[0], Some(&[1]), false)?])
/// }).unwrap();
/// assert_eq!(out, vec![(vec![None], DType::F32)]);
/// ```
pub fn eval_shape<F>(inputs: &[(PartialShape, DType)], f: F) -> Result<Vec<(PartialShape, DType)>>
where
    F: Fn(&[Tensor]) -> Result<Vec<Tensor>>,
{
    let fill = |v: usize| -> Vec<Spec> {
        inputs
            .iter()
            .map(|(s, d)| Spec::new(s.iter().map(|x| x.unwrap_or(v)).collect::<Vec<_>>(), *d))
            .collect()
    };
    let a = trace(&fill(83), &f)?.output_specs();
    if inputs.iter().all(|(s, _)| s.iter().all(|d| d.is_some())) {
        return Ok(a
            .into_iter()
            .map(|s| (s.shape.into_iter().map(Some).collect(), s.dtype))
            .collect());
    }
    let b = trace(&fill(89), &f)?.output_specs();
    Ok(a.into_iter()
        .zip(b)
        .map(|(x, y)| {
            let shape = if x.shape.len() == y.shape.len() {
                x.shape
                    .iter()
                    .zip(&y.shape)
                    .map(|(p, q)| if p == q { Some(*p) } else { None })
                    .collect()
            } else {
                vec![None; x.shape.len()]
            };
            (shape, x.dtype)
        })
        .collect())
}
