//! Interoperation with [`tch`] (feature `torch`), as Keras offers PyTorch users:
//!
//! * [`to_tch`] / [`from_tch`]: tensors across the boundary; on the `torch` backend
//!   they share storage (no copy).
//! * [`TorchModel`]: a ceras model used as a `tch::nn::Module` — forward on
//!   `tch::Tensor`s, its trainable weights registered in a `tch::nn::VarStore`, so a
//!   `tch` optimizer trains it (libtorch's autograd records the ops the backend runs).
//! * [`TorchModuleWrapper`]: any `tch::nn::ModuleT` as a ceras layer (Keras's
//!   `TorchModuleWrapper`); its parameters become the layer's weights and `fit`
//!   trains them (gradients by libtorch's autograd, through
//!   [`autodiff::custom_gradient`](crate::autodiff::custom_gradient)).
//!
//! Both need the process backend to be `torch` (`KERAS_BACKEND=torch`).
//!
//! ```no_run
//! use ceras::layers::Dense;
//! use ceras::models::{Input, Model, Sequential};
//! use ceras::torch::TorchModel;
//! use tch::nn::{Module, OptimizerConfig};
//!
//! // KERAS_BACKEND=torch
//! let model = Sequential::new()
//!     .add(Input::new([4]))
//!     .add(Dense::new(3).activation("relu"))
//!     .add(Dense::new(1));
//! let vs = tch::nn::VarStore::new(tch::Device::Cpu);
//! let net = TorchModel::new(model, &vs.root())?;
//! let mut opt = tch::nn::Adam::default().build(&vs, 1e-2).unwrap();
//! let x = tch::Tensor::randn([8, 4], (tch::Kind::Float, tch::Device::Cpu));
//! let loss = net.forward(&x).square().mean(None);
//! opt.backward_step(&loss);
//! # Ok::<(), ceras::Error>(())
//! ```

use crate::autodiff::{self, VjpFn};
use crate::error::{arg_err, Error, Result};
use crate::layers::{Layer, LayerBase};
use crate::models::Model;
use crate::trace::PartialShape;
use crate::{DType, Tensor, Variable};
use ceras_torch::{
    buffer_from_tensor, dtype_of, host_to_tensor, kind_of, tensor_of_buffer, tensor_to_host,
};
use std::fmt;
use std::rc::Rc;
use std::sync::Mutex;

fn backend_is_torch() -> Result<bool> {
    Ok(crate::backend::current()?.name() == "torch")
}

fn require_torch(what: &str) -> Result<()> {
    if backend_is_torch()? {
        Ok(())
    } else {
        Err(Error::Backend(format!(
            "{what} needs the torch backend (KERAS_BACKEND=torch), but the process backend is {:?}",
            crate::backend::current()?.name()
        )))
    }
}

/// The value of a ceras tensor as a `tch::Tensor`: the same storage on the
/// `torch` backend, a CPU copy otherwise.
pub fn to_tch(t: &Tensor) -> Result<tch::Tensor> {
    if let Ok(b) = t.backend_buffer() {
        if let Some(tt) = tensor_of_buffer(b) {
            return Ok(tt);
        }
    }
    if kind_of(t.dtype()).is_none() {
        return Err(arg_err(
            "to_tch",
            format!("tch has no tensor kind for dtype {}", t.dtype()),
        ));
    }
    host_to_tensor(&t.to_host()?, t.shape())
}

/// A ceras tensor with the value of `t`: the same storage on the `torch` backend
/// (libtorch's autograd sees the ops ceras then runs on it), a copy otherwise.
pub fn from_tch(t: &tch::Tensor) -> Result<Tensor> {
    let dtype = dtype_of(t.kind()).ok_or_else(|| {
        arg_err(
            "from_tch",
            format!("tch tensor kind {:?} has no ceras dtype", t.kind()),
        )
    })?;
    let shape: Vec<usize> = t.size().iter().map(|&d| d as usize).collect();
    if backend_is_torch()? {
        return Ok(Tensor::from_buffer(buffer_from_tensor(t), shape, dtype));
    }
    Tensor::from_host(tensor_to_host(t)?, shape)
}

fn tch_name(path: &str) -> String {
    // VarStore names may not contain '.'.
    path.replace(['.', '/'], "_")
}

/// A ceras model as a `tch::nn::Module` (see the [module docs](self)).
///
/// [`TorchModel::new`] copies the model's trainable weights into a `VarStore`
/// path and points the model's variables at those tensors, so a `tch` optimizer
/// built on the `VarStore` updates the weights the model computes with.
pub struct TorchModel<M: Model> {
    model: Mutex<M>,
    names: Vec<String>,
}

impl<M: Model> fmt::Debug for TorchModel<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TorchModel")
            .field("parameters", &self.names)
            .finish()
    }
}

impl<M: Model> TorchModel<M> {
    /// Wraps a built model, registering its trainable weights under `path`
    /// (named after the weights' paths, `/` and `.` written `_`).
    pub fn new(model: M, path: &tch::nn::Path<'_>) -> Result<TorchModel<M>> {
        require_torch("TorchModel")?;
        let vars = model.variables();
        if vars.is_empty() {
            return Err(arg_err(
                "TorchModel",
                "the model has no weights yet: build it (give it an Input) before wrapping it",
            ));
        }
        let mut names = Vec::new();
        for v in vars.iter().filter(|v| v.trainable()) {
            let name = tch_name(&v.path());
            let p = path.var_copy(&name, &to_tch(&v.value())?);
            v.assign(from_tch(&p)?)?;
            names.push(name);
        }
        Ok(TorchModel {
            model: Mutex::new(model),
            names,
        })
    }

    /// The forward pass (`training` selects dropout / batch-norm behaviour),
    /// recorded by libtorch's autograd.
    pub fn try_forward(&self, x: &tch::Tensor, training: bool) -> Result<tch::Tensor> {
        let x = from_tch(x)?;
        let mut m = self.model.lock().unwrap_or_else(|e| e.into_inner());
        let y = m.call(&x, training)?;
        to_tch(&y)
    }

    /// The wrapped model back, with the values the `tch` optimizer trained. Its
    /// variables are detached from libtorch's autograd (so training it with `fit`
    /// does not grow an autograd graph), still sharing the `VarStore`'s storage
    /// until they are next assigned.
    pub fn into_inner(self) -> Result<M> {
        let model = self.model.into_inner().unwrap_or_else(|e| e.into_inner());
        for v in model.variables().iter().filter(|v| v.trainable()) {
            v.assign(from_tch(&to_tch(&v.value())?.detach())?)?;
        }
        Ok(model)
    }
}

impl<M: Model> tch::nn::Module for TorchModel<M> {
    /// The inference-mode forward pass (`tch`'s `ModuleT::forward_t` comes with
    /// it; for a training-mode pass use [`TorchModel::try_forward`]). Panics when
    /// the model fails (tch's `Module` cannot return an error); `try_forward`
    /// returns the error instead.
    fn forward(&self, xs: &tch::Tensor) -> tch::Tensor {
        match self.try_forward(xs, false) {
            Ok(y) => y,
            Err(e) => panic!("ceras TorchModel forward failed: {e}"),
        }
    }
}

/// Any `tch` module as a ceras layer, trainable by `fit` (Keras's
/// `TorchModuleWrapper`).
///
/// The module's parameters (the trainable variables of its `VarStore`) become the
/// layer's weights. In a call, the current weight values are copied into the
/// module's parameters when they differ (ceras optimizers write new tensors), the
/// module runs with libtorch's autograd, and the layer's gradient comes from
/// libtorch's backward pass.
///
/// ```no_run
/// use ceras::torch::TorchModuleWrapper;
/// use ceras::models::{Input, Model, Sequential};
///
/// // KERAS_BACKEND=torch
/// let vs = tch::nn::VarStore::new(tch::Device::Cpu);
/// let net = tch::nn::seq()
///     .add(tch::nn::linear(vs.root() / "l1", 4, 8, Default::default()))
///     .add_fn(|x| x.relu())
///     .add(tch::nn::linear(vs.root() / "l2", 8, 1, Default::default()));
/// let mut model = Sequential::new()
///     .add(Input::new([4]))
///     .add(TorchModuleWrapper::new(net, &vs)?);
/// model.compile("adam", "mse", Vec::<&str>::new())?;
/// # Ok::<(), ceras::Error>(())
/// ```
pub struct TorchModuleWrapper {
    base: LayerBase,
    // `tch` modules and tensors are `Send` but not `Sync`: they live behind a mutex.
    state: Mutex<ModuleState>,
    vars: Vec<Variable>,
}

struct ModuleState {
    module: Box<dyn tch::nn::ModuleT>,
    params: Vec<tch::Tensor>,
    /// Id of the ceras value last copied into each parameter.
    synced: Vec<Option<u64>>,
}

impl TorchModuleWrapper {
    /// Wraps `module`, whose parameters are the trainable variables of `vs`.
    pub fn new(module: impl tch::nn::ModuleT + 'static, vs: &tch::nn::VarStore) -> Result<Self> {
        require_torch("TorchModuleWrapper")?;
        let mut base = LayerBase::new("TorchModuleWrapper");
        let mut named: Vec<(String, tch::Tensor)> = vs.variables().into_iter().collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        let trainable: Vec<tch::Tensor> = vs.trainable_variables();
        let mut params = Vec::new();
        let mut vars = Vec::new();
        for (name, t) in named {
            let is_trainable = trainable.iter().any(|p| p.data_ptr() == t.data_ptr());
            // A copy: ceras values are immutable, while the module's parameters are
            // overwritten in place when the weights change.
            let v = Variable::new(
                from_tch(&t.detach().copy())?,
                &tch_name(&name),
                is_trainable,
            )?;
            base.track_weight(v.clone(), is_trainable);
            params.push(t);
            vars.push(v);
        }
        base.mark_built();
        Ok(TorchModuleWrapper {
            base,
            state: Mutex::new(ModuleState {
                module: Box::new(module),
                synced: vec![None; params.len()],
                params,
            }),
            vars,
        })
    }
}

impl fmt::Debug for TorchModuleWrapper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TorchModuleWrapper")
            .field("name", &self.base.name())
            .field("weights", &self.vars.len())
            .finish()
    }
}

impl Layer for TorchModuleWrapper {
    fn base(&self) -> &LayerBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut LayerBase {
        &mut self.base
    }
    fn class_name(&self) -> &'static str {
        "TorchModuleWrapper"
    }
    fn build(&mut self, _input_shape: &[Option<usize>]) -> Result<()> {
        Ok(())
    }

    fn call(&self, x: &Tensor, training: bool) -> Result<Tensor> {
        let e = |e: tch::TchError| Error::Backend(format!("TorchModuleWrapper: libtorch: {e}"));
        let mut inputs = vec![x.clone()];
        inputs.extend(self.vars.iter().map(|v| v.value()));
        let state = &self.state;
        let out = autodiff::custom_gradient(&inputs, move |xs| {
            let mut guard = state.lock().unwrap_or_else(|p| p.into_inner());
            let params: Vec<tch::Tensor> = guard.params.iter().map(|p| p.shallow_clone()).collect();
            // The layer's weights are the truth: copy them into the module's
            // parameters when they changed since the last call.
            for (i, (p, v)) in params.iter().zip(&xs[1..]).enumerate() {
                if guard.synced[i] != Some(v.id()) {
                    let vt = to_tch(v)?;
                    let mut p = p.shallow_clone();
                    tch::no_grad(|| p.f_copy_(&vt)).map_err(e)?;
                    guard.synced[i] = Some(v.id());
                }
            }
            let xt = to_tch(&xs[0])?.detach();
            let xt = if xs[0].dtype().is_float() {
                xt.set_requires_grad(true)
            } else {
                xt
            };
            let yt = guard.module.forward_t(&xt, training);
            drop(guard);
            let y = from_tch(&yt.detach())?;
            let x_float = xs[0].dtype().is_float();
            let vjp: VjpFn = Rc::new(move |cts: &[Tensor]| {
                let g = to_tch(&cts[0])?;
                let mut wrt: Vec<&tch::Tensor> = Vec::new();
                if x_float {
                    wrt.push(&xt);
                }
                let live: Vec<usize> = (0..params.len())
                    .filter(|&i| params[i].requires_grad())
                    .collect();
                wrt.extend(live.iter().map(|&i| &params[i]));
                let target = yt
                    .f_mul(&g)
                    .and_then(|t| t.f_sum(None::<tch::Kind>))
                    .map_err(e)?;
                let grads =
                    tch::Tensor::f_run_backward(&[&target], &wrt, true, false).map_err(e)?;
                let mut it = grads.into_iter();
                let mut out = Vec::with_capacity(1 + params.len());
                out.push(if x_float {
                    Some(from_tch(&it.next().expect("one grad per input"))?)
                } else {
                    None
                });
                let mut pg: Vec<Option<Tensor>> = vec![None; params.len()];
                for &i in &live {
                    pg[i] = Some(from_tch(&it.next().expect("one grad per parameter"))?);
                }
                out.extend(pg);
                Ok(out)
            });
            Ok((vec![y], vjp))
        })?;
        out.into_iter()
            .next()
            .ok_or_else(|| arg_err("TorchModuleWrapper", "the module returned no output"))
    }

    fn compute_output_shape(&self, input_shape: &[Option<usize>]) -> Result<PartialShape> {
        let specs = self.compute_output_specs(&[(input_shape.to_vec(), self.base.dtype())])?;
        Ok(specs.into_iter().next().map(|(s, _)| s).unwrap_or_default())
    }

    /// Runs the module once on zeros (unknown dimensions taken as 1, no gradient
    /// recorded): a `tch` module cannot be evaluated abstractly.
    fn compute_output_specs(
        &self,
        inputs: &[(PartialShape, DType)],
    ) -> Result<Vec<(PartialShape, DType)>> {
        let [(shape, dtype)] = inputs else {
            return Err(arg_err(
                "TorchModuleWrapper",
                format!("expects a single input, got {}", inputs.len()),
            ));
        };
        let kind = kind_of(*dtype).ok_or_else(|| {
            arg_err(
                "TorchModuleWrapper",
                format!("no tch kind for input dtype {dtype}"),
            )
        })?;
        let dims: Vec<i64> = shape.iter().map(|d| d.unwrap_or(1) as i64).collect();
        let guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let device = guard
            .params
            .first()
            .map_or(tch::Device::Cpu, |p| p.device());
        let y = tch::no_grad(|| {
            let x = tch::Tensor::f_zeros(dims.as_slice(), (kind, device))?;
            Ok::<_, tch::TchError>(guard.module.forward_t(&x, false))
        })
        .map_err(|e| Error::Backend(format!("TorchModuleWrapper: libtorch: {e}")))?;
        let out_dtype = dtype_of(y.kind()).ok_or_else(|| {
            arg_err(
                "TorchModuleWrapper",
                format!("module output kind {:?} has no ceras dtype", y.kind()),
            )
        })?;
        let mut out: PartialShape = y.size().iter().map(|&d| Some(d as usize)).collect();
        // An unknown batch dimension stays unknown.
        if shape.first() == Some(&None) && !out.is_empty() {
            out[0] = None;
        }
        Ok(vec![(out, out_dtype)])
    }

    fn get_config(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.base.name(),
            "trainable": self.base.is_trainable(),
        })
    }
}
