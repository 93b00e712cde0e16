//! Trains a two-layer perceptron on the UCI handwritten digits (8×8 images, shipped in
//! `data/digits.csv.gz`) using only `ceras::ops` and `ceras::autodiff` — the tensor
//! core that layers and `Model.fit` are built on.
//!
//! Run: `cargo run --release --example digits`

use ceras::{autodiff, ops, DType, Result, Tensor};
use std::io::Read;

fn load() -> Result<(Vec<f32>, Vec<i32>)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/digits.csv.gz");
    let f = std::fs::File::open(path)?;
    let mut text = String::new();
    flate2::read::GzDecoder::new(f).read_to_string(&mut text)?;
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Vec<f32> = line
            .split(',')
            .map(|s| s.trim().parse().unwrap_or(0.0))
            .collect();
        x.extend(v[..64].iter().map(|p| p / 16.0));
        y.push(v[64] as i32);
    }
    Ok((x, y))
}

/// Glorot-uniform initial weights from `ceras::random` (fixed seed).
fn glorot(fan_in: usize, fan_out: usize, seed: u64) -> Result<Tensor> {
    let limit = (6.0 / (fan_in + fan_out) as f64).sqrt();
    ceras::random::uniform(&[fan_in, fan_out], -limit, limit, None, seed)
}

fn forward(p: &[Tensor], x: &Tensor) -> Result<Tensor> {
    let h = ops::relu(&ops::add(&ops::matmul(x, &p[0])?, &p[1])?)?;
    ops::add(&ops::matmul(&h, &p[2])?, &p[3])
}

/// Mean sparse categorical cross-entropy from logits.
fn loss(p: &[Tensor], x: &Tensor, y: &Tensor) -> Result<Tensor> {
    let logits = forward(p, x)?;
    let lse = ops::logsumexp(&logits, Some(&[1]), false)?;
    let picked = ops::take_along_axis(&logits, &ops::expand_dims(y, &[1])?, Some(1))?;
    ops::mean(
        &ops::subtract(&lse, &ops::squeeze(&picked, Some(&[1]))?)?,
        None,
        false,
    )
}

fn accuracy(p: &[Tensor], x: &Tensor, y: &Tensor) -> Result<f64> {
    let pred = ops::argmax(&forward(p, x)?, Some(1), false)?;
    let ok = ops::sum(&ops::cast(&ops::equal(&pred, y)?, DType::F32)?, None, false)?;
    Ok(ok.item_f64()? / y.size() as f64)
}

fn main() -> Result<()> {
    let (x, y) = load()?;
    let n = y.len();
    // Deterministic split: every 6th sample is held out.
    let (mut xtr, mut ytr, mut xte, mut yte) = (vec![], vec![], vec![], vec![]);
    for i in 0..n {
        let (xs, ys) = if i % 6 == 0 {
            (&mut xte, &mut yte)
        } else {
            (&mut xtr, &mut ytr)
        };
        xs.extend_from_slice(&x[i * 64..(i + 1) * 64]);
        ys.push(y[i]);
    }
    let (ntr, nte) = (ytr.len(), yte.len());
    let xtr = Tensor::from_vec(xtr, [ntr, 64])?;
    let ytr = Tensor::from_vec(ytr, [ntr])?;
    let xte = Tensor::from_vec(xte, [nte, 64])?;
    let yte = Tensor::from_vec(yte, [nte])?;
    println!(
        "digits: {ntr} training and {nte} test images of 8x8 pixels, backend {}",
        ceras::config::backend()?
    );

    let mut params = vec![
        glorot(64, 64, 1)?,
        ops::zeros(&[64], None)?,
        glorot(64, 10, 2)?,
        ops::zeros(&[10], None)?,
    ];
    let mut velocity: Vec<Tensor> = params
        .iter()
        .map(|p| ops::zeros_like(p, None))
        .collect::<Result<_>>()?;
    let (lr, momentum, batch) = (0.1f64, 0.9f64, 64usize);
    let start = std::time::Instant::now();
    for epoch in 1..=20 {
        let mut total = 0.0;
        let mut steps = 0;
        for b in (0..ntr).step_by(batch) {
            let e = (b + batch).min(ntr);
            let xb = ceras::lax::slice_axis(&xtr, 0, b, e)?;
            let yb = ceras::lax::slice_axis(&ytr, 0, b, e)?;
            let (l, grads) = autodiff::value_and_grad(|p| loss(p, &xb, &yb), &params)?;
            for ((p, v), g) in params.iter_mut().zip(velocity.iter_mut()).zip(&grads) {
                *v = ops::subtract(&ops::multiply(&*v, momentum)?, &ops::multiply(g, lr)?)?;
                *p = ops::add(&*p, &*v)?;
            }
            total += l.item_f64()?;
            steps += 1;
        }
        if epoch % 2 == 0 || epoch == 1 {
            println!(
                "epoch {epoch:2}: loss {:.4}  train accuracy {:.3}  test accuracy {:.3}",
                total / steps as f64,
                accuracy(&params, &xtr, &ytr)?,
                accuracy(&params, &xte, &yte)?
            );
        }
    }
    println!("trained in {:.2} s", start.elapsed().as_secs_f64());
    let acc = accuracy(&params, &xte, &yte)?;
    println!("final test accuracy: {acc:.3}");
    Ok(())
}
