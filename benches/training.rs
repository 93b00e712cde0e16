//! Training benchmarks of the models issue: train-step time and predict
//! throughput for the MLP 784-512-512-10 (Adam, batch 128) and Keras's
//! mnist_convnet (batch 128), and the per-step overhead of the Keras layer
//! machinery on a tiny model compared with the same ops called directly.
//! Run: `cargo bench --bench training` (the process backend: `KERAS_BACKEND`);
//! `tools/bench_backends.sh` runs it on every backend and Keras/JAX side by side.
//! The same workloads in Python Keras: `tools/bench_keras.py` (see its header).
//! Numbers go to docs/benchmarks.md.

mod common;

use ceras::autodiff::GradientTape;
use ceras::layers::Dense;
use ceras::models::{Input, Model, Sequential};
use ceras::{ops, optimizers, Tensor};
use common::{convnet, mlp, uniform};
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Median seconds per call of `f` after `warm` untimed calls.
fn time<F: FnMut()>(warm: usize, reps: usize, mut f: F) -> f64 {
    for _ in 0..warm {
        f();
    }
    median(
        (0..reps)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64()
            })
            .collect(),
    )
}

fn labels(n: usize) -> Tensor {
    Tensor::from_vec((0..n as i32).map(|i| i % 10).collect::<Vec<_>>(), [n]).unwrap()
}

fn bench_model(name: &str, mut m: Sequential, sample: &[usize], flops_per_sample: f64) {
    m.compile(
        optimizers::Adam::new(1e-3),
        "sparse_categorical_crossentropy",
        ["accuracy"],
    )
    .unwrap();
    let bs = 128;
    let mut shape = vec![bs];
    shape.extend(sample);
    let x = uniform(&shape, 1);
    let y = labels(bs);
    let step = time(3, 15, || {
        m.train_on_batch(&x, &y).unwrap();
    });
    let mut pshape = vec![1024];
    pshape.extend(sample);
    let xp = uniform(&pshape, 2);
    let pred = time(1, 7, || {
        m.predict(&xp, 128).unwrap();
    });
    println!(
        "{name:<22} train step (batch 128): {:>8.2} ms  ({:.1} GFLOP/s)   predict: {:>9.0} samples/s",
        step * 1e3,
        3.0 * flops_per_sample * bs as f64 / step / 1e9,
        1024.0 / pred
    );
}

/// A train step written with ops only: forward, loss, gradients, SGD update.
fn direct_step(w: &mut Tensor, b: &mut Tensor, x: &Tensor, y: &Tensor) {
    let tape = GradientTape::new();
    tape.watch(w);
    tape.watch(b);
    let p = ops::add(ops::matmul(x, &*w).unwrap(), &*b).unwrap();
    let d = ops::subtract(&p, y).unwrap();
    let loss = ops::mean(ops::square(&d).unwrap(), None, false).unwrap();
    let g = tape.gradient(&loss, &[&*w, &*b]).unwrap();
    let lr = Tensor::scalar(0.01f32).unwrap();
    let gw = g[0].clone().unwrap();
    let gb = g[1].clone().unwrap();
    *w = ops::subtract(&*w, ops::multiply(&gw, &lr).unwrap()).unwrap();
    *b = ops::subtract(&*b, ops::multiply(&gb, &lr).unwrap()).unwrap();
}

fn bench_overhead() {
    let x = uniform(&[4, 8], 3);
    let y = uniform(&[4, 1], 4);
    let mut m = Sequential::new().add(Input::new([8])).add(Dense::new(1));
    m.compile(optimizers::Sgd::new(0.01), "mse", Vec::<&str>::new())
        .unwrap();
    let keras = time(50, 501, || {
        m.train_on_batch(&x, &y).unwrap();
    });
    let (mut w, mut b) = (uniform(&[8, 1], 5), uniform(&[1], 6));
    let direct = time(50, 501, || direct_step(&mut w, &mut b, &x, &y));
    println!(
        "tiny Dense(1) step      train_on_batch: {:>7.1} us   same ops directly: {:>7.1} us   layer/model overhead: {:>6.1} us",
        keras * 1e6,
        direct * 1e6,
        (keras - direct) * 1e6
    );
}

fn main() {
    ceras::link_backends();
    println!(
        "ceras training benchmarks (backend {}, {} threads)",
        ceras::backend::current().map_or("?", |b| b.name()),
        rayon_threads()
    );
    let mlp_flops = 2.0 * (784.0 * 512.0 + 512.0 * 512.0 + 512.0 * 10.0);
    bench_model("MLP 784-512-512-10", mlp(), &[784], mlp_flops);
    let conv_flops =
        2.0 * (26.0 * 26.0 * 9.0 * 32.0 + 11.0 * 11.0 * 9.0 * 32.0 * 64.0 + 1600.0 * 10.0);
    bench_model("mnist_convnet", convnet(), &[28, 28, 1], conv_flops);
    bench_overhead();
}

fn rayon_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
