//! The workloads in burn, on its NdArray CPU backend (rayon + threaded
//! matrixmultiply, no BLAS) wrapped in Autodiff. Layouts are burn's native
//! channels-first (NCHW); shapes otherwise follow bench/README.md.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::loss::{BinaryCrossEntropyLossConfig, CrossEntropyLossConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{
    BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Embedding, EmbeddingConfig, LayerNorm,
    LayerNormConfig, Linear, LinearConfig, Lstm, LstmConfig, PaddingConfig2d,
};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::{relu, softmax};
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::{labels, time_predict, Protocol, Report, Rng, PREDICT_BATCH, PREDICT_SAMPLES};

const LR: f64 = 1e-3;

/// The CPU device: NdArray, or Flex when built with `--features flex` and
/// run with BURN_BACKEND=flex (burn 0.22 deprecates NdArray in favour of Flex).
fn plain_device() -> (Device, &'static str) {
    #[cfg(feature = "flex")]
    if std::env::var("BURN_BACKEND").as_deref() == Ok("flex") {
        return (Device::flex(), "flex");
    }
    #[allow(deprecated)] // NdArray is the backend the README asks for.
    (Device::ndarray(), "ndarray")
}

fn floats<const D: usize>(data: Vec<f32>, shape: [usize; D], dev: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(data, shape), dev)
}

fn ints<const D: usize>(data: Vec<u32>, shape: [usize; D], dev: &Device) -> Tensor<D, Int> {
    let data: Vec<i64> = data.into_iter().map(i64::from).collect();
    Tensor::from_data(TensorData::new(data, shape), dev)
}

/// Times train steps: forward + loss (`loss_of`), backward, Adam update.
/// Reading the loss back to the host ends each step.
fn time_training<M: Module>(
    proto: &Protocol,
    model: M,
    loss_of: impl Fn(&M) -> Tensor<1>,
) -> (f64, M) {
    // Keras Adam: beta 0.9 / 0.999 (burn's defaults), epsilon 1e-7.
    let mut optim = AdamConfig::new().with_epsilon(1e-7).init();
    let mut slot = Some(model);
    let mut losses = Vec::new();
    let ms = proto.time_steps(|| {
        let model = slot.take().unwrap();
        let loss = loss_of(&model);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        slot = Some(optim.step(LR, model, grads));
        losses.push(loss.into_scalar::<f32>());
    });
    // Sanity check that training moves: first and last loss.
    eprintln!("loss {:?} -> {:?}", losses.first(), losses.last());
    (ms, slot.unwrap())
}

/// Predict throughput (README): the model in validation mode (no autodiff,
/// dropout off) over 1024 samples in batches of 128, outputs read back.
/// `batch_shape` is the shape of one batch of 128.
fn predict_throughput<M: Module, const D: usize>(
    model: &M,
    x: &[f32],
    batch_shape: [usize; D],
    forward: impl Fn(&M, Tensor<D>) -> Tensor<2>,
    dev: &Device,
) -> f64 {
    let model = model.valid();
    let batches: Vec<Tensor<D>> = x
        .chunks(batch_shape.iter().product())
        .map(|chunk| floats(chunk.to_vec(), batch_shape, dev))
        .collect();
    time_predict(|| {
        for xb in &batches {
            let probs = softmax(forward(&model, xb.clone()), 1);
            let _ = probs.into_data();
        }
    })
}

// ---------------------------------------------------------------- mlp

#[derive(Module, Debug)]
struct Mlp {
    l1: Linear,
    l2: Linear,
    l3: Linear,
}

impl Mlp {
    fn new(dev: &Device) -> Self {
        Self {
            l1: LinearConfig::new(784, 512).init(dev),
            l2: LinearConfig::new(512, 512).init(dev),
            l3: LinearConfig::new(512, 10).init(dev),
        }
    }
    /// Logits; the softmax is folded into the cross-entropy (burn's usual form).
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let x = relu(self.l1.forward(x));
        let x = relu(self.l2.forward(x));
        self.l3.forward(x)
    }
}

// ---------------------------------------------------------------- convnet

#[derive(Module, Debug)]
struct ConvNet {
    c1: Conv2d,
    c2: Conv2d,
    pool: MaxPool2d,
    drop: Dropout,
    fc: Linear,
}

impl ConvNet {
    fn new(dev: &Device) -> Self {
        Self {
            c1: Conv2dConfig::new([1, 32], [3, 3]).init(dev),
            c2: Conv2dConfig::new([32, 64], [3, 3]).init(dev),
            pool: MaxPool2dConfig::new([2, 2]).init(),
            drop: DropoutConfig::new(0.5).init(),
            fc: LinearConfig::new(64 * 5 * 5, 10).init(dev),
        }
    }
    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let x = self.pool.forward(relu(self.c1.forward(x))); // 32x13x13
        let x = self.pool.forward(relu(self.c2.forward(x))); // 64x5x5
        let x: Tensor<2> = x.flatten(1, 3);
        self.fc.forward(self.drop.forward(x))
    }
}

// ---------------------------------------------------------------- lstm

#[derive(Module, Debug)]
struct LstmNet {
    emb: Embedding,
    lstm: Lstm,
    fc: Linear,
}

impl LstmNet {
    fn new(dev: &Device) -> Self {
        Self {
            emb: EmbeddingConfig::new(20000, 128).init(dev),
            // burn's Lstm: sigmoid gates, tanh cell/hidden (Keras defaults).
            lstm: LstmConfig::new(128, 64, true).init(dev),
            fc: LinearConfig::new(64, 1).init(dev),
        }
    }
    /// Logit of the last time step; the sigmoid is folded into the BCE.
    fn forward(&self, ids: Tensor<2, Int>) -> Tensor<2> {
        let (_, state) = self.lstm.forward(self.emb.forward(ids), None);
        self.fc.forward(state.hidden)
    }
}

// ---------------------------------------------------------------- transformer

/// Keras MultiHeadAttention(num_heads 2, key_dim 32) by hand: burn's
/// MultiHeadAttention ties the head size to d_model / n_heads (16 here),
/// whereas Keras projects 32 -> 2 x 32 = 64 and back 64 -> 32.
#[derive(Module, Debug)]
struct Mha {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
}

const HEADS: usize = 2;
const KEY_DIM: usize = 32;

impl Mha {
    fn new(d: usize, dev: &Device) -> Self {
        let proj = || LinearConfig::new(d, HEADS * KEY_DIM).init(dev);
        Self {
            q: proj(),
            k: proj(),
            v: proj(),
            o: LinearConfig::new(HEADS * KEY_DIM, d).init(dev),
        }
    }
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [b, l, _] = x.dims();
        // [b, l, h*k] -> [b, h, l, k]
        let split = |t: Tensor<3>| t.reshape([b, l, HEADS, KEY_DIM]).swap_dims(1, 2);
        let q = split(self.q.forward(x.clone())).mul_scalar(1.0 / (KEY_DIM as f64).sqrt());
        let k = split(self.k.forward(x.clone()));
        let v = split(self.v.forward(x));
        let att = softmax(q.matmul(k.swap_dims(2, 3)), 3); // [b, h, l, l]
        let ctx = att
            .matmul(v)
            .swap_dims(1, 2)
            .reshape([b, l, HEADS * KEY_DIM]);
        self.o.forward(ctx)
    }
}

#[derive(Module, Debug)]
struct Transformer {
    tok: Embedding,
    pos: Embedding,
    att: Mha,
    drop1: Dropout,
    ln1: LayerNorm,
    ff1: Linear,
    ff2: Linear,
    drop2: Dropout,
    ln2: LayerNorm,
    drop3: Dropout,
    d1: Linear,
    drop4: Dropout,
    d2: Linear,
}

const SEQ: usize = 200;

impl Transformer {
    fn new(dev: &Device) -> Self {
        let d = 32;
        let ln = || LayerNormConfig::new(d).with_epsilon(1e-6).init(dev);
        let drop = || DropoutConfig::new(0.1).init();
        Self {
            tok: EmbeddingConfig::new(20000, d).init(dev),
            pos: EmbeddingConfig::new(SEQ, d).init(dev),
            att: Mha::new(d, dev),
            drop1: drop(),
            ln1: ln(),
            ff1: LinearConfig::new(d, 32).init(dev),
            ff2: LinearConfig::new(32, d).init(dev),
            drop2: drop(),
            ln2: ln(),
            drop3: drop(),
            d1: LinearConfig::new(d, 20).init(dev),
            drop4: drop(),
            d2: LinearConfig::new(20, 2).init(dev),
        }
    }
    fn forward(&self, ids: Tensor<2, Int>) -> Tensor<2> {
        let dev = ids.device();
        let positions = Tensor::<1, Int>::arange(0..SEQ as i64, &dev).reshape([1, SEQ]);
        let x = self.tok.forward(ids) + self.pos.forward(positions); // broadcast over batch
        let a = self.drop1.forward(self.att.forward(x.clone()));
        let x = self.ln1.forward(x + a);
        let f = self.ff2.forward(relu(self.ff1.forward(x.clone())));
        let x = self.ln2.forward(x + self.drop2.forward(f));
        let x: Tensor<2> = x.mean_dim(1).squeeze_dim(1); // GlobalAveragePooling1D
        let x = relu(self.d1.forward(self.drop3.forward(x)));
        self.d2.forward(self.drop4.forward(x))
    }
}

// ---------------------------------------------------------------- resnet20

/// 3x3 conv with padding 1: Keras "same" output shape at stride 1 and 2.
fn conv3(cin: usize, cout: usize, stride: usize, dev: &Device) -> Conv2d {
    Conv2dConfig::new([cin, cout], [3, 3])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(dev)
}

/// Keras BN momentum 0.99 is burn's 0.01 (burn weights the new batch).
fn bn(c: usize, dev: &Device) -> BatchNorm {
    BatchNormConfig::new(c)
        .with_epsilon(1e-3)
        .with_momentum(0.01)
        .init(dev)
}

#[derive(Module, Debug)]
struct Block {
    c1: Conv2d,
    bn1: BatchNorm,
    c2: Conv2d,
    bn2: BatchNorm,
    /// 1x1 stride-2 projection (no BN) where the shape changes.
    short: Option<Conv2d>,
}

impl Block {
    fn new(cin: usize, cout: usize, stride: usize, dev: &Device) -> Self {
        Self {
            c1: conv3(cin, cout, stride, dev),
            bn1: bn(cout, dev),
            c2: conv3(cout, cout, 1, dev),
            bn2: bn(cout, dev),
            short: (stride != 1 || cin != cout).then(|| {
                Conv2dConfig::new([cin, cout], [1, 1])
                    .with_stride([stride, stride])
                    .init(dev)
            }),
        }
    }
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let y = relu(self.bn1.forward(self.c1.forward(x.clone())));
        let y = self.bn2.forward(self.c2.forward(y));
        let s = match &self.short {
            Some(conv) => conv.forward(x),
            None => x,
        };
        relu(y + s)
    }
}

#[derive(Module, Debug)]
struct ResNet20 {
    c0: Conv2d,
    bn0: BatchNorm,
    blocks: Vec<Block>,
    fc: Linear,
}

impl ResNet20 {
    fn new(dev: &Device) -> Self {
        let mut blocks = Vec::new();
        let mut cin = 16;
        for (stage, cout) in [16, 32, 64].into_iter().enumerate() {
            for i in 0..3 {
                let stride = if stage > 0 && i == 0 { 2 } else { 1 };
                blocks.push(Block::new(cin, cout, stride, dev));
                cin = cout;
            }
        }
        Self {
            c0: conv3(3, 16, 1, dev),
            bn0: bn(16, dev),
            blocks,
            fc: LinearConfig::new(64, 10).init(dev),
        }
    }
    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let mut x = relu(self.bn0.forward(self.c0.forward(x)));
        for block in &self.blocks {
            x = block.forward(x);
        }
        let x: Tensor<2> = x.mean_dims(&[2, 3]).flatten(1, 3); // GlobalAveragePooling2D
        self.fc.forward(x)
    }
}

// ---------------------------------------------------------------- driver

pub fn run(workload: &str, proto: &Protocol) -> Report {
    let (plain, backend) = plain_device();
    // Training runs on the autodiff-decorated device; predict on the plain one.
    let dev = plain.clone().autodiff();
    let mut rng = Rng::new(42);
    let ce = CrossEntropyLossConfig::new().init(&dev); // on logits
    let mut predict = None;

    let (batch, step_ms, params) = match workload {
        "mlp" => {
            let b = 128;
            let x = floats(rng.uniform(b * 784), [b, 784], &dev);
            let y = ints(labels(b, 10), [b], &dev);
            let model = Mlp::new(&dev);
            let params = model.num_params();
            let (ms, model) = time_training(proto, model, |m| {
                ce.forward(m.forward(x.clone()), y.clone())
            });
            let xp = rng.uniform(PREDICT_SAMPLES * 784);
            predict = Some(predict_throughput(
                &model,
                &xp,
                [PREDICT_BATCH, 784],
                |m, x| m.forward(x),
                &plain,
            ));
            (b, ms, params)
        }
        "convnet" => {
            let b = 128;
            let x = floats(rng.uniform(b * 28 * 28), [b, 1, 28, 28], &dev);
            let y = ints(labels(b, 10), [b], &dev);
            let model = ConvNet::new(&dev);
            let params = model.num_params();
            let (ms, model) = time_training(proto, model, |m| {
                ce.forward(m.forward(x.clone()), y.clone())
            });
            let xp = rng.uniform(PREDICT_SAMPLES * 28 * 28);
            predict = Some(predict_throughput(
                &model,
                &xp,
                [PREDICT_BATCH, 1, 28, 28],
                |m, x| m.forward(x),
                &plain,
            ));
            (b, ms, params)
        }
        "lstm" => {
            let b = 64;
            let ids = ints(rng.ints(b * SEQ, 20000), [b, SEQ], &dev);
            let y = ints(labels(b, 2), [b, 1], &dev);
            let bce = BinaryCrossEntropyLossConfig::new()
                .with_logits(true)
                .init(&dev);
            let model = LstmNet::new(&dev);
            let params = model.num_params();
            let (ms, _) = time_training(proto, model, |m| {
                bce.forward(m.forward(ids.clone()), y.clone())
            });
            (b, ms, params)
        }
        "transformer" => {
            let b = 32;
            let ids = ints(rng.ints(b * SEQ, 20000), [b, SEQ], &dev);
            let y = ints(labels(b, 2), [b], &dev);
            let model = Transformer::new(&dev);
            let params = model.num_params();
            let (ms, _) = time_training(proto, model, |m| {
                ce.forward(m.forward(ids.clone()), y.clone())
            });
            (b, ms, params)
        }
        "resnet20" => {
            let b = 64;
            let x = floats(rng.uniform(b * 3 * 32 * 32), [b, 3, 32, 32], &dev);
            let y = ints(labels(b, 10), [b], &dev);
            let model = ResNet20::new(&dev);
            let params = model.num_params();
            let (ms, _) = time_training(proto, model, |m| {
                ce.forward(m.forward(x.clone()), y.clone())
            });
            (b, ms, params)
        }
        _ => unreachable!("workload checked in main"),
    };
    // num_params counts BN running statistics too, like Keras count_params().
    eprintln!("burn {workload}: {params} parameters, step {step_ms:.2} ms");
    Report {
        framework: "burn",
        version: format!("burn {} ({backend})", env!("BURN_VERSION")),
        workload: workload.into(),
        batch,
        step_ms: Some(step_ms),
        predict_samples_per_s: predict,
        threads: rayon::current_num_threads(),
        note: String::new(),
    }
}
