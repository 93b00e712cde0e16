//! The workloads in candle (CPU device, f32). Layouts are candle's native
//! channels-first (NCHW); shapes otherwise follow bench/README.md.

use candle_core::{DType, Device, Module, ModuleT, Result, Tensor, D};
use candle_nn::{
    batch_norm, conv2d, embedding, linear, lstm, ops, AdamW, BatchNorm, BatchNormConfig, Conv2d,
    Conv2dConfig, Embedding, Init, LSTMConfig, Linear, Optimizer, ParamsAdamW, VarBuilder, VarMap,
    LSTM, RNN,
};

use crate::{labels, time_predict, Protocol, Report, Rng, PREDICT_BATCH, PREDICT_SAMPLES};

fn dropout(x: &Tensor, p: f32, train: bool) -> Result<Tensor> {
    if train {
        ops::dropout(x, p)
    } else {
        Ok(x.clone())
    }
}

/// Times train steps: forward (training mode) + loss, backward, Adam update.
/// Reading the loss back to the host ends each step.
fn time_training(
    proto: &Protocol,
    varmap: &VarMap,
    loss_of: impl Fn() -> Result<Tensor>,
) -> Result<f64> {
    // candle-nn has only AdamW: with weight_decay 0 it is Adam (Keras betas, eps 1e-7).
    let params = ParamsAdamW {
        lr: 1e-3,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-7,
        weight_decay: 0.0,
    };
    // BN running statistics are Vars too, but get no gradient, so AdamW skips them.
    let mut opt = AdamW::new(varmap.all_vars(), params)?;
    let mut err = None;
    let mut losses = Vec::new();
    let ms = proto.time_steps(|| {
        let mut step = || -> Result<f32> {
            let loss = loss_of()?;
            opt.backward_step(&loss)?;
            loss.to_scalar::<f32>()
        };
        match step() {
            Ok(l) => losses.push(l),
            Err(e) => _ = err.get_or_insert(e),
        }
    });
    // Sanity check that training moves: first and last loss.
    eprintln!("loss {:?} -> {:?}", losses.first(), losses.last());
    match err {
        Some(e) => Err(e),
        None => Ok(ms),
    }
}

/// Predict throughput (README): inference mode (dropout off) over 1024
/// samples in batches of 128, softmax outputs read back to the host.
fn predict_throughput(
    model: &dyn ModuleT,
    x: &[f32],
    batch_shape: &[usize],
    dev: &Device,
) -> Result<f64> {
    let batches = x
        .chunks(batch_shape.iter().product())
        .map(|chunk| Tensor::from_slice(chunk, batch_shape, dev))
        .collect::<Result<Vec<_>>>()?;
    let mut err = None;
    let rate = time_predict(|| {
        for xb in &batches {
            let out = model
                .forward_t(xb, false)
                .and_then(|logits| ops::softmax(&logits, D::Minus1))
                .and_then(|p| p.to_vec2::<f32>());
            if let Err(e) = out {
                err.get_or_insert(e);
            }
        }
    });
    match err {
        Some(e) => Err(e),
        None => Ok(rate),
    }
}

/// Parameter count as Keras's count_params(): BN running statistics included.
fn num_params(varmap: &VarMap) -> usize {
    varmap.all_vars().iter().map(|v| v.elem_count()).sum()
}

// ---------------------------------------------------------------- mlp

struct Mlp {
    l1: Linear,
    l2: Linear,
    l3: Linear,
}

impl Mlp {
    fn new(vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            l1: linear(784, 512, vb.pp("l1"))?,
            l2: linear(512, 512, vb.pp("l2"))?,
            l3: linear(512, 10, vb.pp("l3"))?,
        })
    }
}

impl ModuleT for Mlp {
    /// Logits; the softmax is folded into the cross-entropy.
    fn forward_t(&self, x: &Tensor, _train: bool) -> Result<Tensor> {
        let x = self.l1.forward(x)?.relu()?;
        let x = self.l2.forward(&x)?.relu()?;
        self.l3.forward(&x)
    }
}

// ---------------------------------------------------------------- convnet

struct ConvNet {
    c1: Conv2d,
    c2: Conv2d,
    fc: Linear,
}

impl ConvNet {
    fn new(vb: VarBuilder) -> Result<Self> {
        let cfg = Conv2dConfig::default(); // valid, stride 1
        Ok(Self {
            c1: conv2d(1, 32, 3, cfg, vb.pp("c1"))?,
            c2: conv2d(32, 64, 3, cfg, vb.pp("c2"))?,
            fc: linear(64 * 5 * 5, 10, vb.pp("fc"))?,
        })
    }
}

impl ModuleT for ConvNet {
    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let x = self.c1.forward(x)?.relu()?.max_pool2d(2)?; // 32x13x13
        let x = self.c2.forward(&x)?.relu()?; // 64x11x11
                                              // candle's max-pool backward upsamples the pooled map back to the
                                              // input size, which misplaces gradients when the size is odd; pooling
                                              // floors anyway, so drop the last row/column first (same forward).
        let x = x.narrow(2, 0, 10)?.narrow(3, 0, 10)?.max_pool2d(2)?; // 64x5x5
        let x = dropout(&x.flatten_from(1)?, 0.5, train)?;
        self.fc.forward(&x)
    }
}

// ---------------------------------------------------------------- lstm

const SEQ: usize = 200;

struct LstmNet {
    emb: Embedding,
    lstm: LSTM,
    fc: Linear,
}

impl LstmNet {
    fn new(vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            emb: embedding(20000, 128, vb.pp("emb"))?,
            // candle-nn's LSTM: sigmoid gates, tanh cell/hidden (Keras defaults).
            lstm: lstm(128, 64, LSTMConfig::default(), vb.pp("lstm"))?,
            fc: linear(64, 1, vb.pp("fc"))?,
        })
    }
    /// Logit of the last time step; the sigmoid is folded into the BCE.
    fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        let states = self.lstm.seq(&self.emb.forward(ids)?)?;
        self.fc.forward(states.last().unwrap().h())
    }
}

// ---------------------------------------------------------------- transformer

/// LayerNorm by hand: candle-nn's LayerNorm takes a fused kernel without a
/// backward for contiguous inputs, so training needs the composed form.
struct LayerNorm {
    gamma: Tensor,
    beta: Tensor,
    eps: f64,
}

impl LayerNorm {
    fn new(d: usize, eps: f64, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            gamma: vb.get_with_hints(d, "gamma", Init::Const(1.0))?,
            beta: vb.get_with_hints(d, "beta", Init::Const(0.0))?,
            eps,
        })
    }
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mean = x.mean_keepdim(D::Minus1)?;
        let xc = x.broadcast_sub(&mean)?;
        let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
        let xn = xc.broadcast_div(&(var + self.eps)?.sqrt()?)?;
        xn.broadcast_mul(&self.gamma)?.broadcast_add(&self.beta)
    }
}

const HEADS: usize = 2;
const KEY_DIM: usize = 32;

/// Keras MultiHeadAttention(num_heads 2, key_dim 32) by hand (candle-nn has
/// no generic MHA layer): q/k/v 32 -> 2 x 32, output 64 -> 32.
struct Mha {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
}

impl Mha {
    fn new(d: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            q: linear(d, HEADS * KEY_DIM, vb.pp("q"))?,
            k: linear(d, HEADS * KEY_DIM, vb.pp("k"))?,
            v: linear(d, HEADS * KEY_DIM, vb.pp("v"))?,
            o: linear(HEADS * KEY_DIM, d, vb.pp("o"))?,
        })
    }
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (b, l, _) = x.dims3()?;
        // [b, l, h*k] -> [b, h, l, k]
        let split = |t: Tensor| -> Result<Tensor> {
            t.reshape((b, l, HEADS, KEY_DIM))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = (split(self.q.forward(x)?)? * (1.0 / (KEY_DIM as f64).sqrt()))?;
        let k = split(self.k.forward(x)?)?;
        let v = split(self.v.forward(x)?)?;
        let scores = q.matmul(&k.transpose(2, 3)?.contiguous()?)?; // [b, h, l, l]
                                                                   // ops::softmax is composed of differentiable ops (softmax_last_dim has no backward).
        let att = ops::softmax(&scores, D::Minus1)?;
        let ctx = att
            .matmul(&v)?
            .transpose(1, 2)?
            .reshape((b, l, HEADS * KEY_DIM))?;
        self.o.forward(&ctx)
    }
}

struct Transformer {
    tok: Embedding,
    pos: Embedding,
    positions: Tensor,
    att: Mha,
    ln1: LayerNorm,
    ff1: Linear,
    ff2: Linear,
    ln2: LayerNorm,
    d1: Linear,
    d2: Linear,
}

impl Transformer {
    fn new(vb: VarBuilder, dev: &Device) -> Result<Self> {
        let d = 32;
        Ok(Self {
            tok: embedding(20000, d, vb.pp("tok"))?,
            pos: embedding(SEQ, d, vb.pp("pos"))?,
            positions: Tensor::arange(0u32, SEQ as u32, dev)?,
            att: Mha::new(d, vb.pp("att"))?,
            ln1: LayerNorm::new(d, 1e-6, vb.pp("ln1"))?,
            ff1: linear(d, 32, vb.pp("ff1"))?,
            ff2: linear(32, d, vb.pp("ff2"))?,
            ln2: LayerNorm::new(d, 1e-6, vb.pp("ln2"))?,
            d1: linear(d, 20, vb.pp("d1"))?,
            d2: linear(20, 2, vb.pp("d2"))?,
        })
    }
}

impl ModuleT for Transformer {
    fn forward_t(&self, ids: &Tensor, train: bool) -> Result<Tensor> {
        let x = self
            .tok
            .forward(ids)?
            .broadcast_add(&self.pos.forward(&self.positions)?)?;
        let a = dropout(&self.att.forward(&x)?, 0.1, train)?;
        let x = self.ln1.forward(&(x + a)?)?;
        let f = self.ff2.forward(&self.ff1.forward(&x)?.relu()?)?;
        let x = self.ln2.forward(&(x + dropout(&f, 0.1, train)?)?)?;
        let x = x.mean(1)?; // GlobalAveragePooling1D
        let x = self.d1.forward(&dropout(&x, 0.1, train)?)?.relu()?;
        self.d2.forward(&dropout(&x, 0.1, train)?)
    }
}

// ---------------------------------------------------------------- resnet20

/// 3x3 conv with padding 1: Keras "same" output shape at stride 1 and 2.
fn conv3(cin: usize, cout: usize, stride: usize, vb: VarBuilder) -> Result<Conv2d> {
    let cfg = Conv2dConfig {
        padding: 1,
        stride,
        ..Default::default()
    };
    conv2d(cin, cout, 3, cfg, vb)
}

/// Keras BN momentum 0.99 is candle's 0.01 (candle weights the new batch).
fn bn(c: usize, vb: VarBuilder) -> Result<BatchNorm> {
    let cfg = BatchNormConfig {
        eps: 1e-3,
        remove_mean: true,
        affine: true,
        momentum: 0.01,
    };
    batch_norm(c, cfg, vb)
}

struct Block {
    c1: Conv2d,
    bn1: BatchNorm,
    c2: Conv2d,
    bn2: BatchNorm,
    /// 1x1 stride-2 projection (no BN) where the shape changes.
    short: Option<Conv2d>,
}

impl Block {
    fn new(cin: usize, cout: usize, stride: usize, vb: VarBuilder) -> Result<Self> {
        let short = if stride != 1 || cin != cout {
            let cfg = Conv2dConfig {
                stride,
                ..Default::default()
            };
            Some(conv2d(cin, cout, 1, cfg, vb.pp("short"))?)
        } else {
            None
        };
        Ok(Self {
            c1: conv3(cin, cout, stride, vb.pp("c1"))?,
            bn1: bn(cout, vb.pp("bn1"))?,
            c2: conv3(cout, cout, 1, vb.pp("c2"))?,
            bn2: bn(cout, vb.pp("bn2"))?,
            short,
        })
    }
}

impl ModuleT for Block {
    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let y = self.bn1.forward_t(&self.c1.forward(x)?, train)?.relu()?;
        let y = self.bn2.forward_t(&self.c2.forward(&y)?, train)?;
        let s = match &self.short {
            Some(conv) => conv.forward(x)?,
            None => x.clone(),
        };
        (y + s)?.relu()
    }
}

struct ResNet20 {
    c0: Conv2d,
    bn0: BatchNorm,
    blocks: Vec<Block>,
    fc: Linear,
}

impl ResNet20 {
    fn new(vb: VarBuilder) -> Result<Self> {
        let mut blocks = Vec::new();
        let mut cin = 16;
        for (stage, cout) in [16, 32, 64].into_iter().enumerate() {
            for i in 0..3 {
                let stride = if stage > 0 && i == 0 { 2 } else { 1 };
                blocks.push(Block::new(
                    cin,
                    cout,
                    stride,
                    vb.pp(format!("b{stage}{i}")),
                )?);
                cin = cout;
            }
        }
        Ok(Self {
            c0: conv3(3, 16, 1, vb.pp("c0"))?,
            bn0: bn(16, vb.pp("bn0"))?,
            blocks,
            fc: linear(64, 10, vb.pp("fc"))?,
        })
    }
}

impl ModuleT for ResNet20 {
    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let mut x = self.bn0.forward_t(&self.c0.forward(x)?, train)?.relu()?;
        for block in &self.blocks {
            x = block.forward_t(&x, train)?;
        }
        self.fc.forward(&x.mean((2, 3))?) // GlobalAveragePooling2D
    }
}

// ---------------------------------------------------------------- driver

fn bench(workload: &str, proto: &Protocol) -> Result<(usize, f64, Option<f64>, usize)> {
    let dev = Device::Cpu;
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
    let mut rng = Rng::new(42);
    let ce = candle_nn::loss::cross_entropy; // on logits

    Ok(match workload {
        "mlp" | "convnet" => {
            let b = 128;
            let sample: &[usize] = if workload == "mlp" {
                &[784]
            } else {
                &[1, 28, 28]
            };
            let per: usize = sample.iter().product();
            let shape = |n: usize| [&[n], sample].concat();
            let x = Tensor::from_vec(rng.uniform(b * per), shape(b), &dev)?;
            let y = Tensor::from_vec(labels(b, 10), b, &dev)?;
            let model: Box<dyn ModuleT> = if workload == "mlp" {
                Box::new(Mlp::new(vb)?)
            } else {
                Box::new(ConvNet::new(vb)?)
            };
            let ms = time_training(proto, &varmap, || ce(&model.forward_t(&x, true)?, &y))?;
            let xp = rng.uniform(PREDICT_SAMPLES * per);
            let rate = predict_throughput(model.as_ref(), &xp, &shape(PREDICT_BATCH), &dev)?;
            (b, ms, Some(rate), num_params(&varmap))
        }
        "lstm" => {
            let b = 64;
            let ids = Tensor::from_vec(rng.ints(b * SEQ, 20000), (b, SEQ), &dev)?;
            let y: Vec<f32> = labels(b, 2).into_iter().map(|v| v as f32).collect();
            let y = Tensor::from_vec(y, (b, 1), &dev)?;
            let model = LstmNet::new(vb)?;
            let ms = time_training(proto, &varmap, || {
                candle_nn::loss::binary_cross_entropy_with_logit(&model.forward(&ids)?, &y)
            })?;
            (b, ms, None, num_params(&varmap))
        }
        "transformer" => {
            let b = 32;
            let ids = Tensor::from_vec(rng.ints(b * SEQ, 20000), (b, SEQ), &dev)?;
            let y = Tensor::from_vec(labels(b, 2), b, &dev)?;
            let model = Transformer::new(vb, &dev)?;
            let ms = time_training(proto, &varmap, || ce(&model.forward_t(&ids, true)?, &y))?;
            (b, ms, None, num_params(&varmap))
        }
        "resnet20" => {
            let b = 64;
            let x = Tensor::from_vec(rng.uniform(b * 3 * 32 * 32), (b, 3, 32, 32), &dev)?;
            let y = Tensor::from_vec(labels(b, 10), b, &dev)?;
            let model = ResNet20::new(vb)?;
            let ms = time_training(proto, &varmap, || ce(&model.forward_t(&x, true)?, &y))?;
            (b, ms, None, num_params(&varmap))
        }
        _ => unreachable!("workload checked in main"),
    })
}

pub fn run(workload: &str, proto: &Protocol) -> Report {
    let mut report = Report {
        framework: "candle",
        version: format!("candle {}", env!("CANDLE_VERSION")),
        workload: workload.into(),
        batch: 0,
        step_ms: None,
        predict_samples_per_s: None,
        threads: candle_core::utils::get_num_threads(),
        note: String::new(),
    };
    match bench(workload, proto) {
        Ok((batch, ms, predict, params)) => {
            eprintln!("candle {workload}: {params} parameters, step {ms:.2} ms");
            report.batch = batch;
            report.step_ms = Some(ms);
            report.predict_samples_per_s = predict;
        }
        Err(e) => {
            eprintln!("candle {workload}: error: {e}");
            report.note = format!("candle error: {e}");
        }
    }
    report
}
