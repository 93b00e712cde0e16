//! The ceras runner of the peer benchmarks (`bench/README.md` defines the five
//! workloads, the timing protocol and the output): one workload per process,
//! so the peak resident memory printed is that workload's.
//!
//! ```text
//! cargo bench --bench peers -- <mlp|convnet|lstm|transformer|resnet20|peak>
//! ```
//!
//! The backend is the process's (`KERAS_BACKEND`). The last stdout line is one
//! JSON object; `bench/run.sh` runs every workload here and in the peers and
//! writes docs/benchmarks.md. `peak` times a large float32 matmul instead (the
//! machine's measured peak FLOP/s through ceras's own kernel).

mod common;

use ceras::layers::{
    Add, BatchNormalization, Conv2D, Dense, Dropout, Embedding, GlobalAveragePooling1D,
    GlobalAveragePooling2D, Layer, LayerBase, LayerNormalization, MultiHeadAttention, ReLU, LSTM,
};
use ceras::models::{Functional, Input, KerasTensor, Model, Sequential};
use ceras::{ops, optimizers, random, DType, Result, Tensor};
use common::{convnet, mlp, uniform};
use std::time::Instant;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Median seconds per call of `f` after `warm` untimed calls.
fn median_time<F: FnMut()>(warm: usize, reps: usize, mut f: F) -> f64 {
    for _ in 0..warm {
        f();
    }
    let profiling = std::env::var_os("CERAS_PROFILE_PRIMS").is_some();
    let mut v: Vec<f64> = (0..reps.max(1))
        .map(|_| {
            if profiling {
                // tools/prim_profile.py sums only what follows the last mark.
                eprintln!("mark\ttimed call");
            }
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn token_ids(batch: usize, len: usize, seed: u64) -> Tensor {
    random::randint(&[batch, len], 0, 20000, None, random::Seed::Int(seed)).unwrap()
}

/// Labels `i % k`, int32 of shape (n,), or float32 (n, 1) for binary losses.
fn labels(n: usize, k: i32, float: bool) -> Tensor {
    let v: Vec<i32> = (0..n as i32).map(|i| i % k).collect();
    if float {
        let f: Vec<f32> = v.iter().map(|&i| i as f32).collect();
        Tensor::from_vec(f, [n, 1]).unwrap()
    } else {
        Tensor::from_vec(v, [n]).unwrap()
    }
}

fn lstm() -> Sequential {
    Sequential::new()
        .add(Input::new([200]).dtype(DType::I32))
        .add(Embedding::new(20000, 128))
        .add(LSTM::new(64))
        .add(Dense::new(1).activation("sigmoid"))
}

/// Keras's `TokenAndPositionEmbedding` of the text-classification example:
/// token embedding plus a learned embedding of the position.
struct TokenAndPositionEmbedding {
    base: LayerBase,
    token: Embedding,
    position: Embedding,
}

impl TokenAndPositionEmbedding {
    fn new(maxlen: usize, vocab: usize, dim: usize) -> Self {
        TokenAndPositionEmbedding {
            base: LayerBase::new("TokenAndPositionEmbedding"),
            token: Embedding::new(vocab, dim),
            position: Embedding::new(maxlen, dim),
        }
    }
}

impl Layer for TokenAndPositionEmbedding {
    fn base(&self) -> &LayerBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut LayerBase {
        &mut self.base
    }
    fn class_name(&self) -> &'static str {
        "TokenAndPositionEmbedding"
    }
    fn build(&mut self, shape: &[Option<usize>]) -> Result<()> {
        self.token.maybe_build(shape)?;
        self.position.maybe_build(&shape[1..])
    }
    fn call(&self, x: &Tensor, training: bool) -> Result<Tensor> {
        let len = x.shape()[x.shape().len() - 1];
        let positions = ops::arange(0.0, Some(len as f64), None, Some(DType::I32))?;
        let p = self.position.call(&positions, training)?;
        ops::add(self.token.call(x, training)?, p)
    }
    fn sublayers(&self) -> Vec<ceras::layers::LayerRef<'_>> {
        vec![(&self.token).into(), (&self.position).into()]
    }
    fn sublayers_mut(&mut self) -> Vec<&mut dyn Layer> {
        vec![&mut self.token, &mut self.position]
    }
}

fn transformer() -> Functional {
    let (maxlen, vocab, embed, heads, ff) = (200, 20000, 32, 2, 32);
    let inputs = Input::new([maxlen]).dtype(DType::I32).tensor();
    let x = TokenAndPositionEmbedding::new(maxlen, vocab, embed)
        .apply(&inputs)
        .unwrap();
    // The transformer block.
    let attn = MultiHeadAttention::new(heads, embed)
        .apply_multi([&x, &x])
        .unwrap()
        .remove(0);
    let attn = Dropout::new(0.1).apply(&attn).unwrap();
    let sum = Add::new().apply([&x, &attn]).unwrap();
    let out1 = LayerNormalization::new().epsilon(1e-6).apply(&sum).unwrap();
    let ffn = Dense::new(ff).activation("relu").apply(&out1).unwrap();
    let ffn = Dense::new(embed).apply(&ffn).unwrap();
    let ffn = Dropout::new(0.1).apply(&ffn).unwrap();
    let sum = Add::new().apply([&out1, &ffn]).unwrap();
    let x = LayerNormalization::new().epsilon(1e-6).apply(&sum).unwrap();
    // The head.
    let x = GlobalAveragePooling1D::new().apply(&x).unwrap();
    let x = Dropout::new(0.1).apply(&x).unwrap();
    let x = Dense::new(20).activation("relu").apply(&x).unwrap();
    let x = Dropout::new(0.1).apply(&x).unwrap();
    let out = Dense::new(2).activation("softmax").apply(&x).unwrap();
    Functional::new(&inputs, &out).unwrap()
}

/// Conv → BN (→ relu), the unit of Keras's ResNet v1 example.
fn conv_bn(x: &KerasTensor, filters: usize, strides: usize, relu: bool) -> KerasTensor {
    let y = Conv2D::new(filters, 3)
        .strides(strides)
        .padding("same")
        .apply(x)
        .unwrap();
    let y = BatchNormalization::new().apply(&y).unwrap();
    if relu {
        ReLU::new().apply(&y).unwrap()
    } else {
        y
    }
}

fn resnet20() -> Functional {
    let inputs = Input::new([32, 32, 3]).tensor();
    let mut x = conv_bn(&inputs, 16, 1, true);
    for (stage, filters) in [16, 32, 64].into_iter().enumerate() {
        for block in 0..3 {
            let strides = if stage > 0 && block == 0 { 2 } else { 1 };
            let y = conv_bn(&x, filters, strides, true);
            let y = conv_bn(&y, filters, 1, false);
            let shortcut = if strides == 1 {
                x.clone()
            } else {
                Conv2D::new(filters, 1)
                    .strides(strides)
                    .padding("same")
                    .apply(&x)
                    .unwrap()
            };
            let sum = Add::new().apply([&shortcut, &y]).unwrap();
            x = ReLU::new().apply(&sum).unwrap();
        }
    }
    let x = GlobalAveragePooling2D::new().apply(&x).unwrap();
    let out = Dense::new(10).activation("softmax").apply(&x).unwrap();
    Functional::new(&inputs, &out).unwrap()
}

/// Trains `m` on one batch repeatedly; returns (median step seconds, predict
/// samples/s when `predict` names the predict input).
fn run<M: Model>(
    mut m: M,
    loss: &str,
    x: Tensor,
    y: Tensor,
    predict: Option<Tensor>,
) -> (f64, Option<f64>) {
    m.compile(optimizers::Adam::new(1e-3), loss, Vec::<&str>::new())
        .unwrap();
    let (warm, reps) = (env_usize("BENCH_WARM", 3), env_usize("BENCH_REPS", 15));
    let step = median_time(warm, reps, || {
        m.train_on_batch(&x, &y).unwrap();
    });
    let pred = predict.map(|xp| {
        let n = xp.shape()[0] as f64;
        n / median_time(1, 7, || {
            m.predict(&xp, 128).unwrap();
        })
    });
    (step, pred)
}

/// Peak resident memory of this process so far, in MB (Linux's VmHWM).
fn peak_rss_mb() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// GFLOP/s of a 2048³ float32 matmul (median of 5): the machine's peak as far
/// as ceras's kernel reaches it.
fn peak_gflops() -> f64 {
    let n = 2048;
    let a = uniform(&[n, n], 1);
    let b = uniform(&[n, n], 2);
    let t = median_time(2, 5, || {
        let c = ops::matmul(&a, &b).unwrap();
        std::hint::black_box(c.to_vec::<f32>().unwrap());
    });
    2.0 * (n as f64).powi(3) / t / 1e9
}

fn main() {
    ceras::link_backends();
    let workload = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_else(|| "mlp".into());
    let backend = ceras::backend::current().map_or("?".to_string(), |b| b.name().to_string());
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let framework = format!("ceras ({backend})");
    let version = format!("ceras {}", env!("CARGO_PKG_VERSION"));
    if workload == "peak" {
        let g = peak_gflops();
        eprintln!("{framework}: 2048^3 float32 matmul {g:.1} GFLOP/s");
        println!(
            "{}",
            serde_json::json!({"framework": framework, "version": version,
                "workload": "peak", "gflops": g, "threads": threads})
        );
        return;
    }
    let (batch, (step, pred)) = match workload.as_str() {
        "mlp" => (
            128,
            run(
                mlp(),
                "sparse_categorical_crossentropy",
                uniform(&[128, 784], 1),
                labels(128, 10, false),
                Some(uniform(&[1024, 784], 2)),
            ),
        ),
        "convnet" => (
            128,
            run(
                convnet(),
                "sparse_categorical_crossentropy",
                uniform(&[128, 28, 28, 1], 1),
                labels(128, 10, false),
                Some(uniform(&[1024, 28, 28, 1], 2)),
            ),
        ),
        "lstm" => (
            64,
            run(
                lstm(),
                "binary_crossentropy",
                token_ids(64, 200, 1),
                labels(64, 2, true),
                None,
            ),
        ),
        "transformer" => (
            32,
            run(
                transformer(),
                "sparse_categorical_crossentropy",
                token_ids(32, 200, 1),
                labels(32, 2, false),
                None,
            ),
        ),
        "resnet20" => (
            64,
            run(
                resnet20(),
                "sparse_categorical_crossentropy",
                uniform(&[64, 32, 32, 3], 1),
                labels(64, 10, false),
                None,
            ),
        ),
        other => {
            eprintln!("unknown workload {other:?}: expected mlp, convnet, lstm, transformer, resnet20 or peak");
            std::process::exit(2);
        }
    };
    eprintln!(
        "{framework} {workload}: train step {:.2} ms{}",
        step * 1e3,
        pred.map_or(String::new(), |p| format!(", predict {p:.0} samples/s"))
    );
    println!(
        "{}",
        serde_json::json!({
            "framework": framework, "version": version, "workload": workload,
            "batch": batch, "step_ms": step * 1e3, "predict_samples_per_s": pred,
            "peak_rss_mb": peak_rss_mb(), "threads": threads, "note": ""
        })
    );
}
