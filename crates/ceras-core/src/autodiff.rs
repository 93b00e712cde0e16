//! Reverse-mode automatic differentiation over primitives, independent of the
//! backend. Each primitive has a vector-Jacobian rule written with [`crate::lax`], so
//! backward passes are themselves recorded (higher-order gradients) and traceable.

use crate::dtype::DType;
use crate::error::{arg_err, unsupported, Result};
use crate::lax::{self, *};
use crate::prim::*;
use crate::tensor::Tensor;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

/// A user-supplied VJP for [`custom_gradient`]: output cotangents → input cotangents.
pub type VjpFn = Rc<dyn Fn(&[Tensor]) -> Result<Vec<Option<Tensor>>>>;

#[derive(Clone)]
enum Kind {
    Prim(Prim),
    Custom(VjpFn),
}

struct Record {
    kind: Kind,
    inputs: Vec<Tensor>,
    outputs: Vec<Tensor>,
}

struct TapeState {
    tracked: HashSet<u64>,
    records: Vec<Record>,
    recording: bool,
    persistent: bool,
    used: bool,
}

thread_local! {
    static TAPES: RefCell<Vec<Rc<RefCell<TapeState>>>> = const { RefCell::new(Vec::new()) };
}

fn differentiable(d: DType) -> bool {
    d.is_float()
}

fn record(kind: Kind, inputs: &[&Tensor], outputs: &[Tensor]) {
    TAPES.with(|tapes| {
        let tapes = tapes.borrow();
        for t in tapes.iter() {
            let mut st = t.borrow_mut();
            if !st.recording {
                continue;
            }
            if !inputs.iter().any(|x| st.tracked.contains(&x.id())) {
                continue;
            }
            if !outputs.iter().any(|o| differentiable(o.dtype())) {
                continue;
            }
            for o in outputs {
                st.tracked.insert(o.id());
            }
            st.records.push(Record {
                kind: kind.clone(),
                inputs: inputs.iter().map(|x| (*x).clone()).collect(),
                outputs: outputs.to_vec(),
            });
        }
    })
}

/// True while any gradient tape on this thread is recording (fused fast paths are
/// skipped then, so that the primitive decomposition is recorded). Paused tapes
/// (inside a `custom_gradient` forward, or `stop_recording`) record nothing, so
/// fused kernels may run under them.
pub(crate) fn tape_active() -> bool {
    TAPES.with(|t| t.borrow().iter().any(|s| s.borrow().recording))
}

pub(crate) fn record_prim(prim: &Prim, inputs: &[&Tensor], outputs: &[Tensor]) {
    let any = TAPES.with(|t| !t.borrow().is_empty());
    if any {
        record(Kind::Prim(prim.clone()), inputs, outputs);
    }
}

/// Records operations on watched tensors so that gradients can be computed, like
/// TensorFlow's `GradientTape`. Recording starts at creation and stops when the tape
/// is dropped or [`GradientTape::stop`] is called.
///
/// ```
/// use ceras::{ops, autodiff::GradientTape, Tensor};
/// let x = Tensor::from_vec(vec![3.0f32], [1]).unwrap();
/// let tape = GradientTape::new();
/// tape.watch(&x);
/// let y = ops::multiply(&x, &x).unwrap();
/// let g = tape.gradient(&y, &[&x]).unwrap();
/// assert_eq!(g[0].as_ref().unwrap().to_vec::<f32>().unwrap(), vec![6.0]);
/// ```
pub struct GradientTape {
    st: Rc<RefCell<TapeState>>,
}

impl Default for GradientTape {
    fn default() -> Self {
        Self::new()
    }
}

impl GradientTape {
    /// A non-persistent tape: `gradient` may be called once.
    pub fn new() -> GradientTape {
        Self::with_persistence(false)
    }
    /// A persistent tape: `gradient` may be called many times.
    pub fn persistent() -> GradientTape {
        Self::with_persistence(true)
    }
    fn with_persistence(persistent: bool) -> GradientTape {
        let st = Rc::new(RefCell::new(TapeState {
            tracked: HashSet::new(),
            records: Vec::new(),
            recording: true,
            persistent,
            used: false,
        }));
        TAPES.with(|t| t.borrow_mut().push(st.clone()));
        GradientTape { st }
    }
    /// Marks `x` as a source: operations using it are recorded.
    pub fn watch(&self, x: &Tensor) {
        self.st.borrow_mut().tracked.insert(x.id());
    }
    /// Stops recording (operations after this are not differentiated).
    pub fn stop(&self) {
        self.st.borrow_mut().recording = false;
    }

    /// Gradient of `target` (summed, if not a scalar) with respect to each source;
    /// `None` where the target does not depend on a source.
    pub fn gradient(&self, target: &Tensor, sources: &[&Tensor]) -> Result<Vec<Option<Tensor>>> {
        let seed = lax::full_like(target, 1.0)?;
        self.gradient_with(target, &seed, sources)
    }

    /// Gradient with an explicit output cotangent (`output_gradients`).
    pub fn gradient_with(
        &self,
        target: &Tensor,
        seed: &Tensor,
        sources: &[&Tensor],
    ) -> Result<Vec<Option<Tensor>>> {
        {
            let mut st = self.st.borrow_mut();
            if st.used && !st.persistent {
                return Err(arg_err(
                    "GradientTape.gradient",
                    "a non-persistent tape can compute gradients only once; use GradientTape::persistent()",
                ));
            }
            st.used = true;
        }
        let was = std::mem::replace(&mut self.st.borrow_mut().recording, false);
        let records: Vec<(Kind, Vec<Tensor>, Vec<Tensor>)> = self
            .st
            .borrow()
            .records
            .iter()
            .map(|r| (r.kind.clone(), r.inputs.clone(), r.outputs.clone()))
            .collect();
        let res = backward(&records, target, seed, sources);
        self.st.borrow_mut().recording = was;
        res
    }
}

impl Drop for GradientTape {
    fn drop(&mut self) {
        TAPES.with(|t| t.borrow_mut().retain(|x| !Rc::ptr_eq(x, &self.st)));
    }
}

fn backward(
    records: &[(Kind, Vec<Tensor>, Vec<Tensor>)],
    target: &Tensor,
    seed: &Tensor,
    sources: &[&Tensor],
) -> Result<Vec<Option<Tensor>>> {
    let mut ct: HashMap<u64, Tensor> = HashMap::new();
    ct.insert(target.id(), seed.clone());
    let keep: HashSet<u64> = sources.iter().map(|s| s.id()).collect();
    // Tensors that depend on a source: only their cotangents are worth
    // computing. Without this, every product with a constant (the data batch
    // entering the first layer, a constant `0` in `relu`) would also get the
    // gradient with respect to the constant — a full matmul or convolution
    // that is thrown away.
    let mut live = keep.clone();
    for (_, inputs, outputs) in records {
        if inputs.iter().any(|x| live.contains(&x.id())) {
            live.extend(outputs.iter().map(|o| o.id()));
        }
    }
    for (kind, inputs, outputs) in records.iter().rev() {
        if !outputs.iter().any(|o| ct.contains_key(&o.id())) {
            continue;
        }
        let need: Vec<bool> = inputs
            .iter()
            .map(|x| live.contains(&x.id()) && differentiable(x.dtype()))
            .collect();
        if !need.contains(&true) {
            for o in outputs {
                if !keep.contains(&o.id()) {
                    ct.remove(&o.id());
                }
            }
            continue;
        }
        // Every consumer of these outputs was recorded later, so was already
        // processed: their cotangents are complete and not needed after this
        // record (dropping them frees memory during the pass).
        let cts: Vec<Option<Tensor>> = outputs
            .iter()
            .map(|o| {
                if keep.contains(&o.id()) {
                    ct.get(&o.id()).cloned()
                } else {
                    ct.remove(&o.id())
                }
            })
            .collect();
        let grads = match kind {
            Kind::Prim(p) => {
                let filled: Vec<Tensor> = cts
                    .iter()
                    .zip(outputs)
                    .map(|(c, o)| match c {
                        Some(c) => Ok(c.clone()),
                        None => lax::zeros_like(o),
                    })
                    .collect::<Result<_>>()?;
                vjp(p, inputs, outputs, &filled, &need)?
            }
            Kind::Custom(f) => {
                let filled: Vec<Tensor> = cts
                    .iter()
                    .zip(outputs)
                    .map(|(c, o)| match c {
                        Some(c) => Ok(c.clone()),
                        None => lax::zeros_like(o),
                    })
                    .collect::<Result<_>>()?;
                f(&filled)?
            }
        };
        for ((x, g), &needed) in inputs.iter().zip(grads).zip(&need) {
            let Some(g) = g else { continue };
            if !needed {
                continue;
            }
            let g = if g.dtype() != x.dtype() {
                lax::convert(&g, x.dtype())?
            } else {
                g
            };
            let entry = match ct.remove(&x.id()) {
                Some(prev) => lax::add(&prev, &g)?,
                None => g,
            };
            ct.insert(x.id(), entry);
        }
    }
    Ok(sources.iter().map(|s| ct.get(&s.id()).cloned()).collect())
}

/// `(f(xs), d f / d xs)` for a scalar-valued (or summed) function of tensors.
///
/// ```
/// use ceras::{ops, autodiff, Tensor};
/// let x = Tensor::from_vec(vec![1.0f64, 2.0], [2]).unwrap();
/// let (y, g) = autodiff::value_and_grad(|xs| ops::sum(&ops::square(&xs[0])?, None, false), &[x]).unwrap();
/// assert_eq!(y.item::<f64>().unwrap(), 5.0);
/// assert_eq!(g[0].to_vec::<f64>().unwrap(), vec![2.0, 4.0]);
/// ```
pub fn value_and_grad<F>(f: F, xs: &[Tensor]) -> Result<(Tensor, Vec<Tensor>)>
where
    F: FnOnce(&[Tensor]) -> Result<Tensor>,
{
    let tape = GradientTape::new();
    for x in xs {
        tape.watch(x);
    }
    let y = f(xs)?;
    let refs: Vec<&Tensor> = xs.iter().collect();
    let gs = tape.gradient(&y, &refs)?;
    drop(tape);
    let gs = gs
        .into_iter()
        .zip(xs)
        .map(|(g, x)| match g {
            Some(g) => Ok(g),
            None => lax::zeros_like(x),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((y, gs))
}

/// `d f / d xs` (zeros where `f` does not depend on an input).
pub fn grad<F>(f: F, xs: &[Tensor]) -> Result<Vec<Tensor>>
where
    F: FnOnce(&[Tensor]) -> Result<Tensor>,
{
    Ok(value_and_grad(f, xs)?.1)
}

/// `stop_gradient`: the same values, with no gradient flowing back.
pub fn stop_gradient(x: &Tensor) -> Result<Tensor> {
    lax::stop_gradient(x)
}

/// Runs `f` (which returns outputs and a VJP closure) with its own gradient rule,
/// like `keras.ops.custom_gradient`. The forward computation is not recorded; the
/// returned closure maps output cotangents to input cotangents.
///
/// Under a trace ([`crate::trace::trace`]) the call is recorded as one
/// [`crate::trace::NodeKind::Custom`] node holding a forward and a backward graph,
/// so that differentiating a replayed graph uses this same rule (as JAX's
/// `custom_vjp_call`). `f` is therefore `Fn`: tracing runs it once per graph.
///
/// ```
/// use ceras::{ops, autodiff, Tensor};
/// use std::rc::Rc;
/// // y = x^2 with a deliberately different gradient of 10 * upstream.
/// let x = Tensor::from_vec(vec![3.0f32], [1]).unwrap();
/// let g = autodiff::grad(|xs| {
///     let out = autodiff::custom_gradient(xs, |xs| {
///         let y = ops::square(&xs[0])?;
///         let vjp: autodiff::VjpFn = Rc::new(|cts| Ok(vec![Some(ops::multiply(&cts[0], 10.0)?)]));
///         Ok((vec![y], vjp))
///     })?;
///     ops::sum(&out[0], None, false)
/// }, &[x]).unwrap();
/// assert_eq!(g[0].to_vec::<f32>().unwrap(), vec![10.0]);
/// ```
pub fn custom_gradient<F>(inputs: &[Tensor], f: F) -> Result<Vec<Tensor>>
where
    F: Fn(&[Tensor]) -> Result<(Vec<Tensor>, VjpFn)>,
{
    let traced = crate::trace::is_tracing() && inputs.iter().any(|x| x.is_traced());
    // Run the forward pass with every tape paused.
    let paused: Vec<(Rc<RefCell<TapeState>>, bool)> = TAPES.with(|t| {
        t.borrow()
            .iter()
            .map(|s| {
                let was = std::mem::replace(&mut s.borrow_mut().recording, false);
                (s.clone(), was)
            })
            .collect()
    });
    let res = if traced {
        crate::trace::custom_call(inputs, &f)
    } else {
        f(inputs)
    };
    for (s, was) in paused {
        s.borrow_mut().recording = was;
    }
    let (outs, vjp) = res?;
    // Fresh identities so the tape sees them as outputs of the custom node.
    let outs: Vec<Tensor> = outs
        .into_iter()
        .map(|o| Tensor::from_parts(o.spec().clone(), o.is_weak(), o.0.value.clone()))
        .collect();
    let refs: Vec<&Tensor> = inputs.iter().collect();
    record(Kind::Custom(vjp), &refs, &outs);
    Ok(outs)
}

fn some(t: Tensor) -> Option<Tensor> {
    Some(t)
}

fn sq(x: &Tensor) -> Result<Tensor> {
    mul(x, x)
}

fn trigamma(x: &Tensor) -> Result<Tensor> {
    // Recurrence to x + 6, then the asymptotic series (accurate to ~1e-12 for x > 0).
    let mut acc = zeros_like(x)?;
    let mut z = x.clone();
    for _ in 0..6 {
        acc = add(&acc, &div(&full_like(&z, 1.0)?, &sq(&z)?)?)?;
        z = add_scalar(&z, 1.0)?;
    }
    let inv = div(&full_like(&z, 1.0)?, &z)?;
    let inv2 = sq(&inv)?;
    // 1/z + 1/(2z^2) + 1/(6z^3) - 1/(30z^5) + 1/(42z^7) - 1/(30z^9)
    let mut poly = full_like(&z, -1.0 / 30.0)?;
    for c in [1.0 / 42.0, -1.0 / 30.0, 1.0 / 6.0] {
        poly = add_scalar(&mul(&poly, &inv2)?, c)?;
    }
    let series = add(
        &add(&inv, &mul_scalar(&inv2, 0.5)?)?,
        &mul(&mul(&inv2, &inv)?, &mul(&poly, &full_like(&z, 1.0)?)?)?,
    )?;
    add(&acc, &series)
}

fn inverse_perm(p: &[usize]) -> Vec<usize> {
    let mut inv = vec![0; p.len()];
    for (i, &a) in p.iter().enumerate() {
        inv[a] = i;
    }
    inv
}

/// Zero-safe product of all elements except self along the last axis.
fn prod_except_last(x: &Tensor) -> Result<Tensor> {
    let ax = x.ndim() - 1;
    let n = x.shape()[ax];
    let ones = {
        let mut s = x.shape().to_vec();
        s[ax] = 1;
        full(&s, 1.0, x.dtype())?
    };
    let fwd = cumulative(CumOp::Prod, x, ax, false)?;
    let bwd = cumulative(CumOp::Prod, x, ax, true)?;
    let excl_f = concatenate(&[&ones, &slice_axis(&fwd, ax, 0, n - 1)?], ax)?;
    let excl_b = concatenate(&[&slice_axis(&bwd, ax, 1, n)?, &ones], ax)?;
    mul(&excl_f, &excl_b)
}

fn dilate(shape: &[usize], d: &[usize]) -> Vec<i64> {
    shape
        .iter()
        .zip(d)
        .map(|(&s, &d)| {
            if s == 0 {
                0
            } else {
                (s as i64 - 1) * d as i64 + 1
            }
        })
        .collect()
}

fn conv_lhs_padding(
    in_sp: &[usize],
    k_sp: &[usize],
    strides: &[usize],
    out_sp: &[usize],
    padding: &[(i64, i64)],
    lhs_dil: &[usize],
    rhs_dil: &[usize],
) -> Vec<(i64, i64)> {
    let ld = dilate(in_sp, lhs_dil);
    let rd = dilate(k_sp, rhs_dil);
    let od = dilate(out_sp, strides);
    (0..in_sp.len())
        .map(|i| {
            let before = rd[i] - padding[i].0 - 1;
            let after = ld[i] + rd[i] - 1 - od[i] - before;
            (before, after)
        })
        .collect()
}

fn conv_rhs_padding(
    in_sp: &[usize],
    k_sp: &[usize],
    strides: &[usize],
    out_sp: &[usize],
    padding: &[(i64, i64)],
    lhs_dil: &[usize],
    rhs_dil: &[usize],
) -> Vec<(i64, i64)> {
    let ld = dilate(in_sp, lhs_dil);
    let rd = dilate(k_sp, rhs_dil);
    let od = dilate(out_sp, strides);
    (0..in_sp.len())
        .map(|i| {
            let lo = padding[i].0;
            let from_lhs = od[i] - ld[i];
            let from_rhs = rd[i] - lo - 1;
            (lo, from_lhs + from_rhs)
        })
        .collect()
}

/// `take_along_axis`-style scatter-add of `g` (shape of `idx`) into zeros of `shape`
/// at `idx` along `axis`, through a flattened gather index.
fn scatter_along_axis(g: &Tensor, idx: &Tensor, shape: &[usize], axis: usize) -> Result<Tensor> {
    let flat = crate::ops::indexing::flat_index_along_axis(idx, shape, axis)?;
    let n: usize = shape.iter().product();
    let zeros = full(&[n], 0.0, g.dtype())?;
    let out = scatter(
        &zeros,
        &reshape(&flat, &[flat.size()])?,
        &reshape(g, &[g.size()])?,
        0,
        ScatterMode::Add,
    )?;
    reshape(&out, shape)
}

/// `f()` when `need` is set, else `None` (the cotangent is not wanted).
fn when(need: bool, f: impl FnOnce() -> Result<Tensor>) -> Result<Option<Tensor>> {
    if need {
        f().map(Some)
    } else {
        Ok(None)
    }
}

/// The vector-Jacobian product of one primitive: output cotangents → input
/// cotangents. `need[i]` says whether input `i`'s cotangent is wanted; rules
/// may skip (return `None` for) the others, and the costly ones do.
pub fn vjp(
    p: &Prim,
    x: &[Tensor],
    y: &[Tensor],
    g: &[Tensor],
    need: &[bool],
) -> Result<Vec<Option<Tensor>>> {
    let g0 = &g[0];
    Ok(match p {
        Prim::Unary(u) => {
            let a = &x[0];
            let out = &y[0];
            use UnaryOp::*;
            let r = match u {
                Neg => neg(g0)?,
                Abs => mul(g0, &unary(Sign, a)?)?,
                Sign | Floor | Ceil | Round | Trunc => zeros_like(a)?,
                Exp => mul(g0, out)?,
                Exp2 => mul(g0, &mul_scalar(out, std::f64::consts::LN_2)?)?,
                Expm1 => mul(g0, &add_scalar(out, 1.0)?)?,
                Log => div(g0, a)?,
                Log1p => div(g0, &add_scalar(a, 1.0)?)?,
                Sqrt => div(g0, &mul_scalar(out, 2.0)?)?,
                Rsqrt => mul(g0, &mul_scalar(&div(out, a)?, -0.5)?)?,
                Cbrt => div(g0, &mul_scalar(&sq(out)?, 3.0)?)?,
                Sin => mul(g0, &unary(Cos, a)?)?,
                Cos => neg(&mul(g0, &unary(Sin, a)?)?)?,
                Tan => mul(g0, &add_scalar(&sq(out)?, 1.0)?)?,
                Asin => div(g0, &unary(Sqrt, &sub(&full_like(a, 1.0)?, &sq(a)?)?)?)?,
                Acos => neg(&div(
                    g0,
                    &unary(Sqrt, &sub(&full_like(a, 1.0)?, &sq(a)?)?)?,
                )?)?,
                Atan => div(g0, &add_scalar(&sq(a)?, 1.0)?)?,
                Sinh => mul(g0, &unary(Cosh, a)?)?,
                Cosh => mul(g0, &unary(Sinh, a)?)?,
                Tanh => mul(g0, &sub(&full_like(out, 1.0)?, &sq(out)?)?)?,
                Asinh => div(g0, &unary(Sqrt, &add_scalar(&sq(a)?, 1.0)?)?)?,
                Acosh => div(g0, &unary(Sqrt, &add_scalar(&sq(a)?, -1.0)?)?)?,
                Atanh => div(g0, &sub(&full_like(a, 1.0)?, &sq(a)?)?)?,
                Erf => mul(
                    g0,
                    &mul_scalar(
                        &unary(Exp, &neg(&sq(a)?)?)?,
                        2.0 / std::f64::consts::PI.sqrt(),
                    )?,
                )?,
                Erfinv => mul(
                    g0,
                    &mul_scalar(&unary(Exp, &sq(out)?)?, std::f64::consts::PI.sqrt() / 2.0)?,
                )?,
                Lgamma => mul(g0, &unary(Digamma, a)?)?,
                Digamma => mul(g0, &trigamma(a)?)?,
                Logistic => mul(g0, &mul(out, &sub(&full_like(out, 1.0)?, out)?)?)?,
                Not | IsNan | IsInf | IsFinite => return Ok(vec![None]),
            };
            vec![some(r)]
        }
        Prim::Binary(b) => {
            let (a, c) = (&x[0], &x[1]);
            use BinaryOp::*;
            match b {
                Add => vec![some(g0.clone()), some(g0.clone())],
                Sub => vec![some(g0.clone()), when(need[1], || neg(g0))?],
                Mul => vec![when(need[0], || mul(g0, c))?, when(need[1], || mul(g0, a))?],
                Div => {
                    let ga = div(g0, c)?;
                    let gb = when(need[1], || neg(&mul(&ga, &y[0])?))?;
                    vec![some(ga), gb]
                }
                Rem => {
                    let q = unary(UnaryOp::Trunc, &div(a, c)?)?;
                    vec![some(g0.clone()), some(neg(&mul(g0, &q)?)?)]
                }
                Pow => {
                    // d/da = b * a^(b-1); d/db = log(a) * a^b, with 0 where a == 0.
                    let bm1 = add_scalar(c, -1.0)?;
                    let ga = mul(g0, &mul(c, &binary(Pow, a, &bm1)?)?)?;
                    let zero = zeros_like(a)?;
                    let is0 = compare(CmpOp::Eq, a, &zero)?;
                    let safe = select(&is0, &full_like(a, 1.0)?, a)?;
                    let lg = select(&is0, &zero, &unary(UnaryOp::Log, &safe)?)?;
                    let gb = mul(g0, &mul(&lg, &y[0])?)?;
                    vec![some(ga), some(gb)]
                }
                Max | Min => {
                    // The winner takes the cotangent; ties split it evenly.
                    let cmp = if *b == Max { CmpOp::Gt } else { CmpOp::Lt };
                    let zero = zeros_like(a)?;
                    let half = mul_scalar(g0, 0.5)?;
                    let tie = select(&compare(CmpOp::Eq, a, c)?, &half, &zero)?;
                    let ga = select(&compare(cmp, a, c)?, g0, &tie)?;
                    let gb = when(need[1], || sub(g0, &ga))?;
                    vec![when(need[0], || Ok(ga))?, gb]
                }
                Atan2 => {
                    let den = add(&sq(a)?, &sq(c)?)?;
                    vec![
                        some(mul(g0, &div(c, &den)?)?),
                        some(neg(&mul(g0, &div(a, &den)?)?)?),
                    ]
                }
                And | Or | Xor | ShiftLeft | ShiftRight | NextAfter => vec![None, None],
            }
        }
        Prim::Compare(_) => vec![None, None],
        Prim::Select => {
            let z = zeros_like(g0)?;
            vec![
                None,
                when(need[1], || select(&x[0], g0, &z))?,
                when(need[2], || select(&x[0], &z, g0))?,
            ]
        }
        Prim::Cast(_) => {
            if x[0].dtype().is_float() && g0.dtype().is_float() {
                vec![some(convert(g0, x[0].dtype())?)]
            } else {
                vec![None]
            }
        }
        Prim::StopGradient => vec![None],
        Prim::Broadcast { shape, dims } => {
            let xs = x[0].shape();
            let mut axes: Vec<usize> = (0..shape.len()).filter(|d| !dims.contains(d)).collect();
            for (i, &d) in dims.iter().enumerate() {
                if xs[i] == 1 && shape[d] != 1 {
                    axes.push(d);
                }
            }
            axes.sort();
            vec![some(reshape(&reduce_sum(g0, &axes)?, xs)?)]
        }
        Prim::Reshape(_) => vec![some(reshape(g0, x[0].shape())?)],
        Prim::Transpose(perm) => vec![some(transpose(g0, &inverse_perm(perm))?)],
        Prim::Slice {
            start,
            limit: _,
            strides,
        } => {
            let xs = x[0].shape();
            if g0.size() == 0 {
                return Ok(vec![some(zeros_like(&x[0])?)]);
            }
            let gs = g0.shape();
            let lo: Vec<i64> = start.iter().map(|&s| s as i64).collect();
            let hi: Vec<i64> = (0..xs.len())
                .map(|i| {
                    xs[i] as i64 - (start[i] as i64 + (gs[i] as i64 - 1) * strides[i] as i64 + 1)
                })
                .collect();
            let interior: Vec<usize> = strides.iter().map(|s| s - 1).collect();
            vec![some(pad(
                g0,
                &scalar(0.0, g0.dtype())?,
                &lo,
                &hi,
                &interior,
            )?)]
        }
        Prim::Pad { lo, hi, interior } => {
            let xs = x[0].shape();
            // Undo negative padding by padding the cotangent with zeros first.
            let pre_lo: Vec<i64> = lo.iter().map(|&l| (-l).max(0)).collect();
            let pre_hi: Vec<i64> = hi.iter().map(|&h| (-h).max(0)).collect();
            let gz = if pre_lo.iter().chain(&pre_hi).any(|&v| v > 0) {
                pad(
                    g0,
                    &scalar(0.0, g0.dtype())?,
                    &pre_lo,
                    &pre_hi,
                    &vec![0; xs.len()],
                )?
            } else {
                g0.clone()
            };
            let start: Vec<usize> = lo.iter().map(|&l| l.max(0) as usize).collect();
            let strides: Vec<usize> = interior.iter().map(|&i| i + 1).collect();
            let limit: Vec<usize> = (0..xs.len())
                .map(|i| {
                    if xs[i] == 0 {
                        start[i]
                    } else {
                        start[i] + (xs[i] - 1) * strides[i] + 1
                    }
                })
                .collect();
            let gx = slice(&gz, &start, &limit, &strides)?;
            let all: Vec<usize> = (0..g0.ndim()).collect();
            let gv = when(need[1], || {
                sub(&reduce_sum(g0, &all)?, &reduce_sum(&gx, &all)?)
            })?;
            vec![some(gx), gv]
        }
        Prim::Concatenate(axis) => {
            let mut off = 0;
            let mut out = Vec::with_capacity(x.len());
            for xi in x {
                let n = xi.shape()[*axis];
                out.push(some(slice_axis(g0, *axis, off, off + n)?));
                off += n;
            }
            out
        }
        Prim::Reverse(axes) => vec![some(rev(g0, axes)?)],
        Prim::Reduce { op, axes } => {
            let xs = x[0].shape();
            let keep: Vec<usize> = (0..xs.len()).filter(|i| !axes.contains(i)).collect();
            let gb = broadcast_in_dim(g0, xs, &keep)?;
            match op {
                ReduceOp::Sum => vec![some(gb)],
                ReduceOp::Max | ReduceOp::Min => {
                    let yb = broadcast_in_dim(&y[0], xs, &keep)?;
                    let loc = convert(&compare(CmpOp::Eq, &x[0], &yb)?, g0.dtype())?;
                    let cnt = broadcast_in_dim(&reduce_sum(&loc, axes)?, xs, &keep)?;
                    vec![some(div(&mul(&gb, &loc)?, &cnt)?)]
                }
                ReduceOp::Prod => {
                    // Move reduced axes last, flatten them, zero-safe exclusive product.
                    let mut perm = keep.clone();
                    perm.extend(axes.iter().copied());
                    let xt = transpose(&x[0], &perm)?;
                    let kshape: Vec<usize> = keep.iter().map(|&i| xs[i]).collect();
                    let r: usize = axes.iter().map(|&i| xs[i]).product();
                    let mut fshape = kshape.clone();
                    fshape.push(r);
                    let xf = reshape(&xt, &fshape)?;
                    let others = if r == 0 {
                        xf.clone()
                    } else {
                        prod_except_last(&xf)?
                    };
                    let mut gshape = kshape.clone();
                    gshape.push(1);
                    let gf = broadcast_in_dim(
                        &reshape(g0, &gshape)?,
                        &fshape,
                        &(0..fshape.len()).collect::<Vec<_>>(),
                    )?;
                    let gx = mul(&gf, &others)?;
                    let tshape: Vec<usize> = perm.iter().map(|&i| xs[i]).collect();
                    vec![some(transpose(
                        &reshape(&gx, &tshape)?,
                        &inverse_perm(&perm),
                    )?)]
                }
                ReduceOp::Any | ReduceOp::All => vec![None],
            }
        }
        Prim::ArgReduce { .. } | Prim::Iota { .. } => vec![None; x.len()],
        Prim::DotGeneral {
            lhs_contract,
            rhs_contract,
            lhs_batch,
            rhs_batch,
        } => {
            let (l, r) = (&x[0], &x[1]);
            let nb = lhs_batch.len();
            let lfree: Vec<usize> = (0..l.ndim())
                .filter(|i| !lhs_contract.contains(i) && !lhs_batch.contains(i))
                .collect();
            let rfree: Vec<usize> = (0..r.ndim())
                .filter(|i| !rhs_contract.contains(i) && !rhs_batch.contains(i))
                .collect();
            let gb: Vec<usize> = (0..nb).collect();
            let g_lfree: Vec<usize> = (nb..nb + lfree.len()).collect();
            let g_rfree: Vec<usize> = (nb + lfree.len()..g0.ndim()).collect();
            // The cotangent of one side: g contracted with the other side over
            // the other's free dims, then transposed back into this side's order.
            let side = |other: &Tensor,
                        g_other_free: &[usize],
                        other_free: &[usize],
                        other_batch: &[usize],
                        other_contract: &[usize],
                        my_batch: &[usize],
                        my_free: &[usize],
                        my_contract: &[usize]| {
                let mut oc_sorted = other_contract.to_vec();
                oc_sorted.sort();
                let mine: Vec<usize> = oc_sorted
                    .iter()
                    .map(|oc| {
                        my_contract[other_contract
                            .iter()
                            .position(|x| x == oc)
                            .expect("present")]
                    })
                    .collect();
                let mut pos = my_batch.to_vec();
                pos.extend(my_free);
                pos.extend(&mine);
                let identity = |p: &[usize]| p.iter().enumerate().all(|(i, &d)| i == d);
                // With the operands the other way round the result comes out
                // as [batch, contracted, free]; when that is this side's own
                // order (a matmul's rhs: hᵀ·g), no transpose follows.
                let mut swapped = my_batch.to_vec();
                swapped.extend(&mine);
                swapped.extend(my_free);
                if !identity(&pos) && identity(&swapped) {
                    return dot_general(other, g0, other_free, g_other_free, other_batch, &gb);
                }
                let d = dot_general(g0, other, g_other_free, other_free, &gb, other_batch)?;
                transpose(&d, &inverse_perm(&pos))
            };
            let dl = when(need[0], || {
                side(
                    r,
                    &g_rfree,
                    &rfree,
                    rhs_batch,
                    rhs_contract,
                    lhs_batch,
                    &lfree,
                    lhs_contract,
                )
            })?;
            let dr = when(need[1], || {
                side(
                    l,
                    &g_lfree,
                    &lfree,
                    lhs_batch,
                    lhs_contract,
                    rhs_batch,
                    &rfree,
                    rhs_contract,
                )
            })?;
            vec![dl, dr]
        }
        Prim::Conv {
            dims,
            strides,
            padding,
            lhs_dilation,
            rhs_dilation,
            groups,
        } => {
            let (xx, k) = (&x[0], &x[1]);
            let nd = xx.ndim() - 2;
            let (lhs_spec, rhs_spec, out_spec) = (&dims.lhs, &dims.rhs, &dims.out);
            let in_sp = &logical_shape(xx.shape(), lhs_spec)[2..];
            let k_sp = &logical_shape(k.shape(), rhs_spec)[2..];
            let out_sp = &logical_shape(g0.shape(), out_spec)[2..];
            let dx = when(need[0], || {
                // lhs: conv of g with the spatially reversed, I/O-swapped kernel
                // (`lax._conv_general_dilated_transpose_lhs`).
                let lpad = conv_lhs_padding(
                    in_sp,
                    k_sp,
                    strides,
                    out_sp,
                    padding,
                    lhs_dilation,
                    rhs_dilation,
                );
                let kr = rev(k, &rhs_spec[2..])?;
                let (kt, t_rhs) = if *groups == 1 {
                    // Swapping the roles of the kernel's feature axes needs no copy.
                    (kr, ConvDims::swap01(rhs_spec))
                } else {
                    // Move the group factor from the output into the input features:
                    // in the logical `[O, I, *sp]` layout (kernels are small).
                    let kr = transpose(&kr, rhs_spec)?;
                    let (o, ig) = (kr.shape()[0], kr.shape()[1]);
                    let og = o / groups;
                    let mut s1 = vec![*groups, og, ig];
                    s1.extend(k_sp);
                    let mut perm = vec![0, 2, 1];
                    perm.extend(3..3 + nd);
                    let mut s2 = vec![groups * ig, og];
                    s2.extend(k_sp);
                    let kt = reshape(&transpose(&reshape(&kr, &s1)?, &perm)?, &s2)?;
                    (kt, (0..nd + 2).collect())
                };
                let tdims = ConvDims {
                    lhs: out_spec.clone(),
                    rhs: t_rhs,
                    out: lhs_spec.clone(),
                };
                conv_general(
                    g0,
                    &kt,
                    &tdims,
                    lhs_dilation,
                    &lpad,
                    strides,
                    rhs_dilation,
                    *groups,
                )
            })?;
            let dk = when(need[1], || {
                // rhs: correlate input with g, the batch dim acting as the features
                // (`lax._conv_general_dilated_transpose_rhs`).
                let rpad = conv_rhs_padding(
                    in_sp,
                    k_sp,
                    strides,
                    out_sp,
                    padding,
                    lhs_dilation,
                    rhs_dilation,
                );
                let tdims = ConvDims {
                    lhs: ConvDims::swap01(lhs_spec),
                    rhs: ConvDims::swap01(out_spec),
                    out: ConvDims::swap01(rhs_spec),
                };
                let one_group = |xg: &Tensor, gg: &Tensor| -> Result<Tensor> {
                    conv_general(
                        xg,
                        gg,
                        &tdims,
                        rhs_dilation,
                        &rpad,
                        lhs_dilation,
                        strides,
                        1,
                    )
                };
                let dk = if *groups == 1 {
                    one_group(xx, g0)?
                } else {
                    let (c_ax, o_ax) = (lhs_spec[1], out_spec[1]);
                    let c = xx.shape()[c_ax];
                    let (cg, og) = (c / groups, g0.shape()[o_ax] / groups);
                    let parts: Vec<Tensor> = (0..*groups)
                        .map(|gi| {
                            one_group(
                                &slice_axis(xx, c_ax, gi * cg, (gi + 1) * cg)?,
                                &slice_axis(g0, o_ax, gi * og, (gi + 1) * og)?,
                            )
                        })
                        .collect::<Result<_>>()?;
                    let refs: Vec<&Tensor> = parts.iter().collect();
                    concatenate(&refs, rhs_spec[0])?
                };
                // The computed kernel gradient may be larger than the kernel when the
                // forward window did not cover the whole padded input; crop it.
                if dk.shape() != k.shape() {
                    let z = vec![0; k.ndim()];
                    slice(&dk, &z, k.shape(), &vec![1; k.ndim()])
                } else {
                    Ok(dk)
                }
            })?;
            vec![dx, dk]
        }
        Prim::ReduceWindow {
            op,
            window,
            strides,
            padding,
        } => {
            let a = &x[0];
            match op {
                WindowOp::Sum => {
                    let in_s = a.shape();
                    let pads: Vec<(i64, i64)> =
                        padding.iter().map(|&(l, h)| (l as i64, h as i64)).collect();
                    let ones = vec![1; in_s.len()];
                    let lp =
                        conv_lhs_padding(in_s, window, strides, g0.shape(), &pads, &ones, &ones);
                    let lo: Vec<i64> = lp.iter().map(|p| p.0).collect();
                    let hi: Vec<i64> = lp.iter().map(|p| p.1).collect();
                    let interior: Vec<usize> = strides.iter().map(|s| s - 1).collect();
                    let gp = pad(g0, &scalar(0.0, g0.dtype())?, &lo, &hi, &interior)?;
                    let zeros = vec![(0, 0); in_s.len()];
                    vec![some(reduce_window(
                        WindowOp::Sum,
                        &gp,
                        window,
                        &ones,
                        &zeros,
                    )?)]
                }
                WindowOp::Max => vec![some(select_and_scatter_add(
                    a, g0, window, strides, padding,
                )?)],
                WindowOp::Min => vec![some(select_and_scatter_add(
                    &neg(a)?,
                    g0,
                    window,
                    strides,
                    padding,
                )?)],
            }
        }
        Prim::SelectAndScatterAdd { .. } => {
            return Err(unsupported(
                "select_and_scatter_add",
                "second-order gradients of max pooling are not implemented yet",
            ))
        }
        Prim::Gather { axis } => {
            let z = zeros_like(&x[0])?;
            vec![some(scatter(&z, &x[1], g0, *axis, ScatterMode::Add)?), None]
        }
        Prim::Scatter { axis, mode } => {
            let gu = when(need[2], || gather(g0, &x[1], *axis))?;
            let gx = match mode {
                ScatterMode::Add => g0.clone(),
                ScatterMode::Set => {
                    scatter(g0, &x[1], &zeros_like(&x[2])?, *axis, ScatterMode::Set)?
                }
            };
            vec![some(gx), None, gu]
        }
        Prim::Sort { axis, .. } => {
            vec![some(scatter_along_axis(g0, &y[1], x[0].shape(), *axis)?)]
        }
        Prim::Cumulative { op, axis, reverse } => match op {
            CumOp::Sum => vec![some(cumulative(CumOp::Sum, g0, *axis, !reverse)?)],
            CumOp::Prod => {
                // sum_{i >= j} g_i y_i / x_j (exact when x has no zeros).
                let gy = mul(g0, &y[0])?;
                vec![some(div(
                    &cumulative(CumOp::Sum, &gy, *axis, !reverse)?,
                    &x[0],
                )?)]
            }
            CumOp::Max | CumOp::Min => {
                return Err(unsupported(
                    "cummax/cummin",
                    "gradients of cumulative max / min are not implemented yet",
                ))
            }
        },
    })
}
