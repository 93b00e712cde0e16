//! Finite-difference checks of the gradients of convolutions and pooling
//! (`keras.ops.nn`), in float64: reverse-mode gradients from `autodiff::grad` against
//! central differences (`eps = 1e-6`, `rtol = 1e-5`).

use ceras::config::DataFormat;
use ceras::ops::{self, ConvOptions, ConvTransposeOptions, Padding, PoolOptions};
use ceras::{autodiff, DType, Result, Tensor};

const EPS: f64 = 1e-6;
const RTOL: f64 = 1e-5;
const ATOL: f64 = 1e-7;

/// Deterministic pseudo-random values in [-1, 1) (distinct with high probability, so
/// max pooling has no ties).
fn values(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        })
        .collect()
}

fn rand(shape: &[usize], seed: u64) -> Tensor {
    let n = shape.iter().product();
    Tensor::from_f64s(&values(n, seed), shape.to_vec(), DType::F64).unwrap()
}

/// Checks d/dxs of `sum(f(xs) * w)` for a fixed random `w` against central differences.
fn check<F>(name: &str, f: F, xs: Vec<Tensor>)
where
    F: Fn(&[Tensor]) -> Result<Tensor>,
{
    let y = f(&xs).unwrap();
    assert_eq!(y.dtype(), DType::F64, "{name}: output dtype");
    assert!(y.size() > 0, "{name}: empty output");
    let w = rand(y.shape(), 977);
    let loss =
        |xs: &[Tensor]| -> Result<Tensor> { ops::sum(ops::multiply(f(xs)?, &w)?, None, false) };
    let grads = autodiff::grad(loss, &xs).unwrap();
    for (i, x) in xs.iter().enumerate() {
        let g = grads[i].to_f64_vec().unwrap();
        assert_eq!(
            grads[i].shape(),
            x.shape(),
            "{name}: gradient shape of input {i}"
        );
        let base = x.to_f64_vec().unwrap();
        for j in 0..base.len() {
            let eval = |delta: f64| -> f64 {
                let mut v = base.clone();
                v[j] += delta;
                let mut ys = xs.clone();
                ys[i] = Tensor::from_f64s(&v, x.shape().to_vec(), DType::F64).unwrap();
                loss(&ys).unwrap().item_f64().unwrap()
            };
            let num = (eval(EPS) - eval(-EPS)) / (2.0 * EPS);
            assert!(
                (g[j] - num).abs() <= ATOL + RTOL * num.abs().max(1e-2),
                "{name}: d/d input {i}[{j}]: autodiff {} vs finite differences {num}",
                g[j]
            );
        }
    }
}

fn cl() -> Option<DataFormat> {
    Some(DataFormat::ChannelsLast)
}

#[test]
fn conv1d_grads() {
    for (strides, pad, dil) in [
        (1, Padding::Valid, 1),
        (2, Padding::Valid, 1),
        (1, Padding::Same, 2),
        (3, Padding::Same, 1),
        (2, Padding::Same, 2),
    ] {
        let o = ConvOptions {
            data_format: cl(),
            ..ConvOptions::new()
                .strides(strides)
                .padding(pad)
                .dilation_rate(dil)
        };
        check(
            &format!("conv1d s{strides} {pad:?} d{dil}"),
            |xs| ops::conv(&xs[0], &xs[1], &o),
            vec![rand(&[2, 9, 3], 1), rand(&[3, 3, 2], 2)],
        );
    }
}

#[test]
fn conv2d_grads() {
    let o = ConvOptions::new()
        .strides([2, 1])
        .padding(Padding::Same)
        .dilation_rate([1, 2])
        .data_format(DataFormat::ChannelsLast);
    check(
        "conv2d strides (2,1) same dilation (1,2)",
        |xs| ops::conv(&xs[0], &xs[1], &o),
        vec![rand(&[1, 5, 6, 2], 3), rand(&[2, 3, 2, 3], 4)],
    );
    let o = ConvOptions::new().data_format(DataFormat::ChannelsFirst);
    check(
        "conv2d channels_first valid",
        |xs| ops::conv(&xs[0], &xs[1], &o),
        vec![rand(&[2, 2, 4, 4], 5), rand(&[2, 2, 2, 3], 6)],
    );
}

#[test]
fn conv2d_groups_grads() {
    // 4 input channels, kernel in_channels 2 -> 2 feature groups.
    let o = ConvOptions::new()
        .strides(2)
        .padding(Padding::Same)
        .data_format(DataFormat::ChannelsLast);
    check(
        "conv2d groups=2",
        |xs| ops::conv(&xs[0], &xs[1], &o),
        vec![rand(&[1, 5, 5, 4], 7), rand(&[2, 2, 2, 4], 8)],
    );
}

#[test]
fn conv3d_grads() {
    let o = ConvOptions::new()
        .padding(Padding::Same)
        .strides([1, 2, 1])
        .data_format(DataFormat::ChannelsLast);
    check(
        "conv3d",
        |xs| ops::conv(&xs[0], &xs[1], &o),
        vec![rand(&[1, 3, 4, 3, 2], 9), rand(&[2, 2, 2, 2, 2], 10)],
    );
}

#[test]
fn depthwise_and_separable_grads() {
    let o = ConvOptions::new()
        .strides(2)
        .padding(Padding::Same)
        .dilation_rate(1)
        .data_format(DataFormat::ChannelsLast);
    check(
        "depthwise_conv 2d",
        |xs| ops::depthwise_conv(&xs[0], &xs[1], &o),
        vec![rand(&[1, 5, 5, 3], 11), rand(&[3, 3, 3, 2], 12)],
    );
    let o = ConvOptions::new()
        .dilation_rate(2)
        .data_format(DataFormat::ChannelsFirst);
    check(
        "depthwise_conv 1d dilated channels_first",
        |xs| ops::depthwise_conv(&xs[0], &xs[1], &o),
        vec![rand(&[2, 2, 8], 13), rand(&[2, 2, 2], 14)],
    );
    let o = ConvOptions::new().data_format(DataFormat::ChannelsLast);
    check(
        "separable_conv 1d",
        |xs| ops::separable_conv(&xs[0], &xs[1], &xs[2], &o),
        vec![
            rand(&[1, 6, 2], 15),
            rand(&[2, 2, 2], 16),
            rand(&[1, 4, 3], 17),
        ],
    );
}

#[test]
fn conv_transpose_grads() {
    for (strides, pad, op) in [
        (2, Padding::Valid, None),
        (2, Padding::Same, None),
        (3, Padding::Same, Some(1)),
        (1, Padding::Valid, None),
    ] {
        let mut o = ConvTransposeOptions::new()
            .strides(strides)
            .padding(pad)
            .data_format(DataFormat::ChannelsLast);
        if let Some(p) = op {
            o = o.output_padding(p);
        }
        check(
            &format!("conv_transpose 1d s{strides} {pad:?} op{op:?}"),
            |xs| ops::conv_transpose(&xs[0], &xs[1], &o),
            vec![rand(&[2, 4, 3], 18), rand(&[3, 2, 3], 19)],
        );
    }
    let o = ConvTransposeOptions::new()
        .strides([2, 1])
        .padding(Padding::Same)
        .dilation_rate([1, 2])
        .data_format(DataFormat::ChannelsLast);
    check(
        "conv_transpose 2d",
        |xs| ops::conv_transpose(&xs[0], &xs[1], &o),
        vec![rand(&[1, 3, 3, 2], 20), rand(&[2, 2, 3, 2], 21)],
    );
}

#[test]
fn max_pool_grads() {
    for (pool, strides, pad) in [
        (2, None, Padding::Valid),
        (3, Some(2), Padding::Same),
        (2, Some(1), Padding::Same),
    ] {
        let o = PoolOptions {
            strides: strides.map(Into::into),
            padding: pad,
            data_format: cl(),
        };
        check(
            &format!("max_pool 1d p{pool} s{strides:?} {pad:?}"),
            |xs| ops::max_pool(&xs[0], pool, &o),
            vec![rand(&[2, 7, 2], 22)],
        );
    }
    let o = PoolOptions::new()
        .strides([2, 1])
        .padding(Padding::Same)
        .data_format(DataFormat::ChannelsFirst);
    check(
        "max_pool 2d channels_first same",
        |xs| ops::max_pool(&xs[0], [2, 3], &o),
        vec![rand(&[1, 2, 5, 4], 23)],
    );
}

#[test]
fn average_pool_grads() {
    for (pool, strides, pad) in [
        (2, None, Padding::Valid),
        (3, Some(2), Padding::Same),
        (2, Some(1), Padding::Same),
    ] {
        let o = PoolOptions {
            strides: strides.map(Into::into),
            padding: pad,
            data_format: cl(),
        };
        check(
            &format!("average_pool 1d p{pool} s{strides:?} {pad:?}"),
            |xs| ops::average_pool(&xs[0], pool, &o),
            vec![rand(&[2, 7, 2], 24)],
        );
    }
    let o = PoolOptions::new()
        .strides([1, 2])
        .padding(Padding::Same)
        .data_format(DataFormat::ChannelsLast);
    check(
        "average_pool 2d same",
        |xs| ops::average_pool(&xs[0], [3, 2], &o),
        vec![rand(&[1, 4, 5, 2], 25)],
    );
}

#[test]
fn adaptive_pool_and_patches_grads() {
    check(
        "adaptive_average_pool 2d",
        |xs| ops::adaptive_average_pool(&xs[0], [2, 3], cl()),
        vec![rand(&[1, 5, 4, 2], 26)],
    );
    check(
        "adaptive_max_pool 1d",
        |xs| ops::adaptive_max_pool(&xs[0], 3, cl()),
        vec![rand(&[2, 5, 2], 27)],
    );
    check(
        "unfold",
        |xs| ops::unfold(&xs[0], [2, 3], 1, 1, [2, 1]),
        vec![rand(&[1, 2, 4, 4], 28)],
    );
    check(
        "fold",
        |xs| ops::fold(&xs[0], [4, 4], 2, 1, 0, 2),
        vec![rand(&[1, 8, 4], 29)],
    );
}

/// Forward values of the conv / pool lowering on small hand-checked cases.
#[test]
fn conv_and_pool_values() {
    let x = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 4.0, 5.0], [1, 5, 1]).unwrap();
    let k = Tensor::from_vec(vec![1.0f64, 10.0], [2, 1, 1]).unwrap();
    let o = ConvOptions::new().data_format(DataFormat::ChannelsLast);
    let y = ops::conv(&x, &k, &o).unwrap();
    assert_eq!(y.to_vec::<f64>().unwrap(), vec![21.0, 32.0, 43.0, 54.0]);
    // "same" with an even kernel pads at the end.
    let y = ops::conv(&x, &k, &o.clone().padding(Padding::Same)).unwrap();
    assert_eq!(
        y.to_vec::<f64>().unwrap(),
        vec![21.0, 32.0, 43.0, 54.0, 5.0]
    );
    // Transposed conv scatters each input through the kernel.
    let t = ConvTransposeOptions::new()
        .strides(2)
        .data_format(DataFormat::ChannelsLast);
    let y = ops::conv_transpose(&x, &k, &t).unwrap();
    assert_eq!(
        y.to_vec::<f64>().unwrap(),
        vec![1.0, 10.0, 2.0, 20.0, 3.0, 30.0, 4.0, 40.0, 5.0, 50.0]
    );
    // Average pooling with "same" padding divides by the valid count.
    let p = PoolOptions::new()
        .strides(2)
        .padding(Padding::Same)
        .data_format(DataFormat::ChannelsLast);
    let y = ops::average_pool(&x, 3, &p).unwrap();
    assert_eq!(y.to_vec::<f64>().unwrap(), vec![1.5, 3.0, 4.5]);
    let y = ops::max_pool(&x, 3, &p).unwrap();
    assert_eq!(y.to_vec::<f64>().unwrap(), vec![2.0, 4.0, 5.0]);
}

#[test]
fn relu_grads() {
    // Away from 0 the gradient is the finite difference's ...
    check("relu", |xs| ops::relu(&xs[0]), vec![rand(&[4, 7], 31)]);
    // ... and at 0 (either sign) it is 0, as in JAX and PyTorch:
    // jax.grad(lambda x: jax.nn.relu(x).sum())(jnp.array([-1., 0., -0., 2.]))
    // and torch.relu's backward both give [0, 0, 0, 1].
    for dt in [DType::F32, DType::F64] {
        let x = Tensor::from_f64s(&[-1.0, 0.0, -0.0, 2.0], vec![4], dt).unwrap();
        let g = autodiff::grad(|xs| ops::sum(ops::relu(&xs[0])?, None, false), &[x]).unwrap();
        assert_eq!(g[0].dtype(), dt);
        assert_eq!(g[0].to_f64_vec().unwrap(), vec![0.0, 0.0, 0.0, 1.0], "{dt}");
    }
    // The gradient is itself differentiable: relu'' = 0 everywhere.
    let x = rand(&[5], 7);
    let gg = autodiff::grad(
        |xs| {
            let g = autodiff::grad(|ys| ops::sum(ops::relu(&ys[0])?, None, false), xs)?;
            ops::sum(ops::multiply(&g[0], &xs[0])?, None, false)
        },
        std::slice::from_ref(&x),
    )
    .unwrap();
    let want: Vec<f64> = x
        .to_f64_vec()
        .unwrap()
        .iter()
        .map(|&v| if v > 0.0 { 1.0 } else { 0.0 })
        .collect();
    assert_eq!(gg[0].to_f64_vec().unwrap(), want);
}

#[test]
fn bias_relu_is_relu_of_the_bias_add() {
    // Gradients of both operands against finite differences.
    check(
        "bias_relu",
        |xs| ops::bias_relu(&xs[0], &xs[1]),
        vec![rand(&[3, 4, 5], 41), rand(&[5], 43)],
    );
    // Bit-identical to the decomposition (the fused cpu kernel runs eagerly),
    // past the parallel threshold, with NaN, infinities and signed zeros.
    let (rows, c) = (300, 257);
    let mut xv = values(rows * c, 5);
    let specials = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.0, -0.0, -0.25];
    for (i, s) in specials.iter().enumerate() {
        xv[i * 997] = *s;
    }
    let mut bv = values(c, 6);
    bv[3] = 0.25;
    bv[5] = -0.0;
    for dt in [DType::F32, DType::F64] {
        let x = Tensor::from_f64s(&xv, vec![rows, c], dt).unwrap();
        let b = Tensor::from_f64s(&bv, vec![c], dt).unwrap();
        let fused = ops::bias_relu(&x, &b).unwrap().to_f64_vec().unwrap();
        let plain = ops::relu(ops::add(&x, &b).unwrap())
            .unwrap()
            .to_f64_vec()
            .unwrap();
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&fused), bits(&plain), "{dt}");
        // relu alone (the kernel without a bias) is `maximum(x, 0)` bit for bit.
        let zeros = ops::zeros_like(&x, None).unwrap();
        let max0 = ops::maximum(&x, &zeros).unwrap().to_f64_vec().unwrap();
        let relu = ops::relu(&x).unwrap().to_f64_vec().unwrap();
        assert_eq!(bits(&relu), bits(&max0), "relu {dt}");
        // The same gradients as relu(x + b), 0 where x + b <= 0.
        let loss_f = |xs: &[Tensor]| ops::sum(ops::bias_relu(&xs[0], &xs[1])?, None, false);
        let loss_p = |xs: &[Tensor]| ops::sum(ops::relu(ops::add(&xs[0], &xs[1])?)?, None, false);
        let gf = autodiff::grad(loss_f, &[x.clone(), b.clone()]).unwrap();
        let gp = autodiff::grad(loss_p, &[x, b]).unwrap();
        for (f, p) in gf.iter().zip(&gp) {
            assert_eq!(f.dtype(), dt);
            assert_eq!(
                bits(&f.to_f64_vec().unwrap()),
                bits(&p.to_f64_vec().unwrap())
            );
        }
    }
    // Shapes that do not fit the kernel broadcast as `add` does, or fail as it does.
    let x = rand(&[2, 3], 1);
    let y = ops::bias_relu(&x, rand(&[2, 1], 2)).unwrap();
    assert_eq!(y.shape(), &[2, 3]);
    assert!(ops::bias_relu(&x, rand(&[4], 2)).is_err());
}
