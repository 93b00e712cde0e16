//! `ceras::torch`: a ceras model trained by a `tch` optimizer, and a `tch`
//! module trained by ceras's `fit`, with its gradients checked against finite
//! differences. The process backend is `torch` in this binary.

#![cfg(feature = "torch")]

use ceras::autodiff;
use ceras::layers::{Dense, Layer};
use ceras::models::{Input, Model, Sequential};
use ceras::optimizers::Adam;
use ceras::torch::{from_tch, to_tch, TorchModel, TorchModuleWrapper};
use ceras::{ops, Tensor};
use tch::nn::{Module, OptimizerConfig};
use tch::{Device, Kind};

fn torch_backend() {
    let _ = ceras::config::set_backend("torch");
    assert_eq!(ceras::backend::current().unwrap().name(), "torch");
}

fn data(n: usize, seed: i64) -> (tch::Tensor, tch::Tensor) {
    tch::manual_seed(seed);
    let x = tch::Tensor::randn([n as i64, 4], (Kind::Float, Device::Cpu));
    let w = tch::Tensor::from_slice(&[0.5f32, -1.0, 2.0, 0.25]).reshape([4, 1]);
    let y = x.matmul(&w) + 0.3;
    (x, y)
}

#[test]
fn tensors_cross_without_copies() {
    torch_backend();
    let t = tch::Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0]).reshape([2, 2]);
    let c = from_tch(&t).unwrap();
    assert_eq!(c.shape(), &[2, 2]);
    let back = to_tch(&c).unwrap();
    assert_eq!(back.data_ptr(), t.data_ptr(), "same storage both ways");
    let y = ops::multiply(&c, 2.0).unwrap();
    assert_eq!(y.to_vec::<f32>().unwrap(), vec![2.0, 4.0, 6.0, 8.0]);
}

#[test]
fn ceras_model_trains_with_a_tch_optimizer() {
    torch_backend();
    ceras::random::set_seed(3);
    let model = Sequential::new()
        .add(Input::new([4]))
        .add(Dense::new(16).activation("tanh"))
        .add(Dense::new(1));
    let vs = tch::nn::VarStore::new(Device::Cpu);
    let net = TorchModel::new(model, &vs.root()).unwrap();
    assert_eq!(vs.trainable_variables().len(), 4, "{net:?}");
    let mut opt = tch::nn::Adam::default().build(&vs, 1e-2).unwrap();
    let (x, y) = data(256, 0);
    let loss_of = |net: &TorchModel<Sequential>| (net.forward(&x) - &y).square().mean(Kind::Float);
    let first = loss_of(&net).double_value(&[]);
    for _ in 0..300 {
        let loss = loss_of(&net);
        opt.backward_step(&loss);
    }
    let last = loss_of(&net).double_value(&[]);
    assert!(last < 0.02 * first, "loss {first} -> {last}");
    // The ceras model computes with the weights the tch optimizer wrote.
    let expect = net.forward(&x);
    let mut model = net.into_inner().unwrap();
    let xc = from_tch(&x).unwrap();
    let got = to_tch(&model.predict(&xc, 64).unwrap()).unwrap();
    let diff = (got - expect).abs().max().double_value(&[]);
    assert!(diff < 1e-6, "{diff}");
    // Back in ceras, the weights are plain values again (no autograd history).
    for v in model.variables() {
        assert!(!to_tch(&v.value()).unwrap().requires_grad(), "{}", v.path());
    }
}

fn tch_mlp(vs: &tch::nn::VarStore) -> tch::nn::Sequential {
    tch::nn::seq()
        .add(tch::nn::linear(vs.root() / "l1", 4, 16, Default::default()))
        .add_fn(|x| x.tanh())
        .add(tch::nn::linear(vs.root() / "l2", 16, 1, Default::default()))
}

#[test]
fn tch_module_trains_with_fit() {
    torch_backend();
    tch::manual_seed(1);
    let vs = tch::nn::VarStore::new(Device::Cpu);
    let layer = TorchModuleWrapper::new(tch_mlp(&vs), &vs).unwrap();
    assert_eq!(layer.weights().len(), 4);
    let mut model = Sequential::new().add(Input::new([4])).add(layer);
    model
        .compile(Adam::new(1e-2), "mse", Vec::<&str>::new())
        .unwrap();
    let (x, y) = data(512, 2);
    let (x, y) = (from_tch(&x).unwrap(), from_tch(&y).unwrap());
    let h = model
        .fit(&x, &y)
        .epochs(30)
        .batch_size(32)
        .verbose(0)
        .run()
        .unwrap();
    let losses = &h.history["loss"];
    assert!(
        losses[losses.len() - 1] < 0.02 * losses[0],
        "loss must fall: {losses:?}"
    );
    // The module itself (through its VarStore) now holds the trained weights.
    let mut model_pred = model.predict(&x, 128).unwrap().to_vec::<f32>().unwrap();
    let direct = tch_mlp_forward(&vs, &to_tch(&x).unwrap());
    for (a, b) in model_pred.drain(..).zip(direct) {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
}

fn tch_mlp_forward(vs: &tch::nn::VarStore, x: &tch::Tensor) -> Vec<f32> {
    let v = vs.variables();
    let h = (x.matmul(&v["l1.weight"].tr()) + &v["l1.bias"]).tanh();
    let y = h.matmul(&v["l2.weight"].tr()) + &v["l2.bias"];
    Vec::<f32>::try_from(y.reshape([-1])).unwrap()
}

#[test]
fn wrapper_gradients_match_finite_differences() {
    torch_backend();
    tch::manual_seed(5);
    let vs = tch::nn::VarStore::new(Device::Cpu);
    let layer = TorchModuleWrapper::new(tch_mlp(&vs), &vs).unwrap();
    let weights = layer.weights().to_vec();
    let (x, _) = data(3, 4);
    let x = from_tch(&x.to_kind(Kind::Double)).unwrap();
    let x = ops::cast(&x, ceras::DType::F32).unwrap();
    // f(x, w) = sum(layer(x)^3): gradients wrt the input and every weight.
    let mut inputs = vec![x.clone()];
    inputs.extend(weights.iter().map(|w| w.value()));
    let f = |vals: &[Tensor]| -> ceras::Result<Tensor> {
        for (w, v) in weights.iter().zip(&vals[1..]) {
            w.assign(v.clone())?;
        }
        let y = layer.call(&vals[0], false)?;
        ops::sum(&ops::power(&y, 3.0)?, None, false)
    };
    let grads = autodiff::grad(|v| f(v), &inputs).unwrap();
    for (k, (val, g)) in inputs.iter().zip(&grads).enumerate() {
        let base = val.to_vec::<f32>().unwrap();
        let g = g.to_vec::<f32>().unwrap();
        let eps = 1e-2f32;
        for i in (0..base.len()).step_by(3) {
            let at = |d: f32| {
                let mut v = base.clone();
                v[i] += d;
                let mut vals = inputs.clone();
                vals[k] = Tensor::from_vec(v, val.shape().to_vec()).unwrap();
                f(&vals).unwrap().item::<f32>().unwrap() as f64
            };
            let fd = (at(eps) - at(-eps)) / (2.0 * eps as f64);
            let err = (fd - g[i] as f64).abs();
            assert!(
                err <= 2e-3 * fd.abs().max(1.0),
                "input {k} element {i}: autodiff {} vs finite difference {fd}",
                g[i]
            );
        }
    }
}
