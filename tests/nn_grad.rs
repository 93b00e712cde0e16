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

#[test]
fn softmax_gradients_and_the_exact_kernels() {
    // First and second derivatives against finite differences (float64: the
    // decomposition forward, the custom VJP), over the last and other axes.
    check(
        "softmax",
        |xs| ops::softmax(&xs[0], -1),
        vec![rand(&[3, 4, 5], 51)],
    );
    check(
        "softmax axis 1",
        |xs| ops::softmax(&xs[0], 1),
        vec![rand(&[3, 4, 5], 52)],
    );
    let w = rand(&[4, 6], 53);
    check(
        "softmax second derivative",
        |xs| {
            let inner = |ys: &[Tensor]| {
                ops::sum(ops::multiply(ops::softmax(&ys[0], -1)?, &w)?, None, false)
            };
            Ok(autodiff::grad(inner, xs)?.remove(0))
        },
        vec![rand(&[4, 6], 54)],
    );
    // float32 runs the fused last-axis kernels eagerly: bit-identical to the
    // decomposition, forward (exp(x - max) / sum) and backward (y * (g - sum(g * y))),
    // past the parallel threshold, with a large logit (exp's libm range), -inf and NaN.
    for (rows, l) in [(300, 257), (1, 70_000), (5, 1), (40, 3)] {
        let mut xv: Vec<f64> = values(rows * l, 7).iter().map(|v| v * 30.0).collect();
        if l > 4 {
            xv[1] = 200.0;
            xv[2] = f64::NEG_INFINITY;
            xv[3] = -0.0;
            if rows > 1 {
                xv[l + 3] = f64::NAN;
            }
        }
        let x = Tensor::from_f64s(&xv, vec![rows, l], DType::F32).unwrap();
        let y = ops::softmax(&x, -1).unwrap();
        let m = ops::max(&x, Some(&[-1]), true, None).unwrap();
        let e = ops::exp(ops::subtract(&x, &m).unwrap()).unwrap();
        let s = ops::sum(&e, Some(&[-1]), true).unwrap();
        let want = ops::divide(&e, &s).unwrap();
        same_bits(&y, &want, &format!("forward, {rows}x{l}"));
        let g = Tensor::from_f64s(&values(rows * l, 8), vec![rows, l], DType::F32).unwrap();
        let got = autodiff::grad(
            |xs| ops::sum(ops::multiply(ops::softmax(&xs[0], -1)?, &g)?, None, false),
            &[x],
        )
        .unwrap()
        .remove(0);
        let gy = ops::sum(ops::multiply(&g, &y).unwrap(), Some(&[-1]), true).unwrap();
        let want = ops::multiply(&y, ops::subtract(&g, &gy).unwrap()).unwrap();
        same_bits(&got, &want, &format!("backward, {rows}x{l}"));
    }
}

#[test]
fn lstm_cell_gradients_and_the_exact_kernels() {
    // Both outputs' gradients w.r.t. z and c against finite differences
    // (float64: the decomposition forward and the written-out VJP).
    check(
        "lstm_cell h",
        |xs| Ok(ops::lstm_cell(&xs[0], &xs[1])?.0),
        vec![rand(&[3, 8], 61), rand(&[3, 2], 62)],
    );
    check(
        "lstm_cell c",
        |xs| Ok(ops::lstm_cell(&xs[0], &xs[1])?.1),
        vec![rand(&[3, 8], 63), rand(&[3, 2], 64)],
    );
    let w = rand(&[2, 3], 65);
    check(
        "lstm_cell second derivative",
        |xs| {
            let inner = |ys: &[Tensor]| {
                let (h, c) = ops::lstm_cell(&ys[0], &ys[1])?;
                ops::sum(ops::multiply(ops::add(&h, &c)?, &w)?, None, false)
            };
            Ok(autodiff::grad(inner, xs)?.remove(0))
        },
        vec![rand(&[2, 12], 66), rand(&[2, 3], 67)],
    );
    // float32 runs the fused kernels eagerly: bit-identical to the
    // decomposition forward and backward, past the parallel threshold, with
    // pre-activations outside the fast polynomials' ranges.
    for (rows, u) in [(300, 64), (3, 5)] {
        let mut zv: Vec<f64> = values(rows * 4 * u, 9).iter().map(|v| v * 12.0).collect();
        zv[0] = 100.0;
        zv[u + 1] = -95.0;
        zv[2 * u + 2] = 20.0;
        zv[3 * u + 3] = -88.0;
        let z = Tensor::from_f64s(&zv, vec![rows, 4 * u], DType::F32).unwrap();
        let c = Tensor::from_f64s(&values(rows * u, 10), vec![rows, u], DType::F32).unwrap();
        let (h, cn) = ops::lstm_cell(&z, &c).unwrap();
        let zs = ops::split(&z, 4usize, 1).unwrap();
        let i = ops::sigmoid(&zs[0]).unwrap();
        let f = ops::sigmoid(&zs[1]).unwrap();
        let g = ops::tanh(&zs[2]).unwrap();
        let o = ops::sigmoid(&zs[3]).unwrap();
        let want_c = ops::add(
            ops::multiply(&f, &c).unwrap(),
            ops::multiply(&i, &g).unwrap(),
        )
        .unwrap();
        let want_h = ops::multiply(&o, ops::tanh(&want_c).unwrap()).unwrap();
        same_bits(&cn, &want_c, "forward c");
        same_bits(&h, &want_h, "forward h");
        // Gradients: fused (eager, no recording tape at VJP time) against the
        // same VJP run under an outer recording tape, which takes the
        // decomposition.
        let wh = Tensor::from_f64s(&values(rows * u, 11), vec![rows, u], DType::F32).unwrap();
        let wc = Tensor::from_f64s(&values(rows * u, 12), vec![rows, u], DType::F32).unwrap();
        let loss = |xs: &[Tensor]| {
            let (h, c) = ops::lstm_cell(&xs[0], &xs[1])?;
            ops::add(
                ops::sum(ops::multiply(&h, &wh)?, None, false)?,
                ops::sum(ops::multiply(&c, &wc)?, None, false)?,
            )
        };
        let fused = autodiff::grad(loss, &[z.clone(), c.clone()]).unwrap();
        let outer = autodiff::GradientTape::new();
        let decomposed = autodiff::grad(loss, &[z, c]).unwrap();
        drop(outer);
        same_bits(&fused[0], &decomposed[0], "dz");
        same_bits(&fused[1], &decomposed[1], "dc");
    }
    // Bad shapes and dtypes are errors naming the op.
    let e = ops::lstm_cell(rand(&[2, 7], 1), rand(&[2, 2], 2)).unwrap_err();
    assert!(e.to_string().contains("lstm_cell"), "{e}");
    let z32 = Tensor::from_f64s(&values(8, 1), vec![1, 8], DType::F32).unwrap();
    assert!(ops::lstm_cell(&z32, rand(&[1, 2], 2)).is_err());
}

/// Asserts that a fused kernel's float32 result `a` equals the decomposition's
/// `b` bit for bit.
fn same_bits(a: &Tensor, b: &Tensor, what: &str) {
    let (a, b) = (a.to_vec::<f32>().unwrap(), b.to_vec::<f32>().unwrap());
    assert_eq!(a.len(), b.len(), "{what}");
    if let Some(i) = (0..a.len()).find(|&i| a[i].to_bits() != b[i].to_bits()) {
        panic!(
            "{what}: element {i} is {} (fused) vs {} (decomposition)",
            a[i], b[i]
        );
    }
}

/// Asserts that the fused float32 kernels behind `f` are bit-identical to the
/// decomposition: the eager forward against a traced replay (which runs the
/// primitives), and the eager gradients of `sum(f(xs) * w)` against the same
/// gradients under an outer recording tape (which takes the VJP as
/// primitives). `names` label the gradients of `xs`.
fn same_bits_as_decomposition(
    f: &dyn Fn(&[Tensor]) -> Result<Tensor>,
    xs: &[Tensor],
    w: &Tensor,
    names: &[&str],
    what: &str,
) {
    let y = f(xs).unwrap();
    let specs: Vec<_> = xs.iter().map(|x| x.spec().clone()).collect();
    let g = ceras::trace::trace(&specs, |v| Ok(vec![f(v)?])).unwrap();
    same_bits(&y, &g.call(xs).unwrap()[0], &format!("forward, {what}"));
    let loss = |v: &[Tensor]| ops::sum(ops::multiply(f(v)?, w)?, None, false);
    let fused = autodiff::grad(loss, xs).unwrap();
    let outer = autodiff::GradientTape::new();
    let decomposed = autodiff::grad(loss, xs).unwrap();
    drop(outer);
    for (i, name) in names.iter().enumerate() {
        same_bits(&fused[i], &decomposed[i], &format!("{name}, {what}"));
    }
}

/// A function returning `(outputs, h, c)` of an LSTM sequence.
type SeqFn<'a> = dyn Fn(&[Tensor]) -> Result<(Tensor, Tensor, Tensor)> + 'a;

/// The per-step reference of `ops::lstm_sequence`: `xp[:, t] + h @ r + bias`
/// then `lstm_cell`, each step recorded on its own.
fn lstm_steps(
    xs: &[Tensor],
    reverse: bool,
    return_sequences: bool,
) -> Result<(Tensor, Tensor, Tensor)> {
    let t = xs[0].shape()[1];
    let steps = ops::unstack(&xs[0], Some(t), 1)?;
    let (mut h, mut c) = (xs[2].clone(), xs[3].clone());
    let mut hs = Vec::new();
    let order: Vec<usize> = if reverse {
        (0..t).rev().collect()
    } else {
        (0..t).collect()
    };
    for s in order {
        let mut z = ops::add(&steps[s], ops::matmul(&h, &xs[1])?)?;
        if let Some(b) = xs.get(4) {
            z = ops::add(&z, b)?;
        }
        (h, c) = ops::lstm_cell(&z, &c)?;
        hs.push(h.clone());
    }
    let out = if return_sequences {
        ops::stack(&hs, 1)?
    } else {
        h.clone()
    };
    Ok((out, h, c))
}

#[test]
fn lstm_sequence_gradients() {
    let (b, t, u) = (2, 4, 3);
    let inputs = |seed: u64, bias: bool| {
        let mut v = vec![
            rand(&[b, t, 4 * u], seed),
            rand(&[u, 4 * u], seed + 1),
            rand(&[b, u], seed + 2),
            rand(&[b, u], seed + 3),
        ];
        if bias {
            v.push(rand(&[4 * u], seed + 4));
        }
        v
    };
    for (reverse, return_sequences, bias) in [
        (false, false, true),
        (true, true, true),
        (false, true, false),
    ] {
        let opts = ops::LstmSequenceOptions {
            reverse,
            return_sequences,
        };
        let seq = move |xs: &[Tensor]| {
            ops::lstm_sequence(&xs[0], &xs[1], xs.get(4), &xs[2], &xs[3], opts)
        };
        // Every output against finite differences, every operand (float64).
        for (k, name) in ["outputs", "h", "c"].iter().enumerate() {
            check(
                &format!("lstm_sequence {name} {opts:?} bias={bias}"),
                |xs| {
                    let (o, h, c) = seq(xs)?;
                    Ok([o, h, c][k].clone())
                },
                inputs(70 + k as u64, bias),
            );
        }
        // The same values and (up to rounding) gradients as the per-step ops.
        let xs = inputs(80, bias);
        let (o, h, c) = seq(&xs).unwrap();
        let (o2, h2, c2) = lstm_steps(&xs, reverse, return_sequences).unwrap();
        for (a, b) in [(&o, &o2), (&h, &h2), (&c, &c2)] {
            assert_eq!(a.shape(), b.shape());
            assert_eq!(a.to_vec::<f64>().unwrap(), b.to_vec::<f64>().unwrap());
        }
        let w = rand(o.shape(), 90);
        let loss = |f: &SeqFn, xs: &[Tensor]| {
            let (o, h, c) = f(xs)?;
            let s = ops::sum(ops::multiply(&o, &w)?, None, false)?;
            ops::add(
                s,
                ops::sum(ops::add(&h, ops::multiply(&c, 0.5)?)?, None, false)?,
            )
        };
        let g1 = autodiff::grad(|v| loss(&seq, v), &xs).unwrap();
        let g2 = autodiff::grad(
            |v| loss(&|v: &[Tensor]| lstm_steps(v, reverse, return_sequences), v),
            &xs,
        )
        .unwrap();
        for (i, (a, b)) in g1.iter().zip(&g2).enumerate() {
            let (a, b) = (a.to_vec::<f64>().unwrap(), b.to_vec::<f64>().unwrap());
            for (x, y) in a.iter().zip(&b) {
                assert!(
                    (x - y).abs() <= 1e-12 * (1.0 + y.abs()),
                    "operand {i}: {x} vs {y}"
                );
            }
        }
    }
    // A second derivative (the VJP recomputes the forward under the tape).
    let wk = rand(&[b, u], 95);
    check(
        "lstm_sequence second derivative",
        |xs| {
            let inner = |ys: &[Tensor]| {
                let (_, h, _) =
                    ops::lstm_sequence(&ys[0], &ys[1], None, &ys[2], &ys[3], Default::default())?;
                ops::sum(ops::multiply(&h, &wk)?, None, false)
            };
            Ok(autodiff::grad(inner, xs)?.remove(1))
        },
        inputs(96, false),
    );
    // Bad shapes and dtypes are errors naming the op.
    let x = inputs(97, false);
    let e = ops::lstm_sequence(&x[0], &x[2], None, &x[2], &x[3], Default::default()).unwrap_err();
    assert!(e.to_string().contains("lstm_sequence"), "{e}");
    let x32 = ops::cast(&x[0], DType::F32).unwrap();
    let e = ops::lstm_sequence(&x32, &x[1], None, &x[2], &x[3], Default::default()).unwrap_err();
    assert!(
        e.to_string().contains("lstm_sequence") && e.to_string().contains("dtype"),
        "{e}"
    );
}

/// `dot_product_attention` on `[q, k, v]` with these options.
fn attention(xs: &[Tensor], causal: bool, scale: Option<f64>) -> Result<Tensor> {
    let mut o = ops::AttentionOptions::new().is_causal(causal);
    if let Some(s) = scale {
        o = o.scale(s);
    }
    ops::dot_product_attention(&xs[0], &xs[1], &xs[2], &o)
}

/// `q (b, t, n, h)`, `k (b, s, n, h)`, `v (b, s, n, hv)` of `dtype`.
fn qkv(b: usize, t: usize, s: usize, n: usize, h: usize, hv: usize, dt: DType) -> Vec<Tensor> {
    [
        (vec![b, t, n, h], 71),
        (vec![b, s, n, h], 72),
        (vec![b, s, n, hv], 73),
    ]
    .into_iter()
    .map(|(shape, seed)| {
        let v: Vec<f64> = values(shape.iter().product(), seed)
            .iter()
            .map(|x| x * 2.0)
            .collect();
        Tensor::from_f64s(&v, shape, dt).unwrap()
    })
    .collect()
}

#[test]
fn attention_gradients_and_the_exact_kernels() {
    // The closed-form VJP (float64) against finite differences, with and
    // without the causal band, T != S, a given scale; and its derivative.
    for (causal, scale) in [(false, None), (true, None), (true, Some(0.7))] {
        check(
            &format!("attention causal={causal} scale={scale:?}"),
            |xs| attention(xs, causal, scale),
            qkv(2, 3, 4, 2, 3, 2, DType::F64),
        );
    }
    let w = rand(&[1, 3, 2, 2], 74);
    check(
        "attention second derivative",
        |xs| {
            let inner = |ys: &[Tensor]| {
                ops::sum(ops::multiply(attention(ys, true, None)?, &w)?, None, false)
            };
            Ok(autodiff::grad(inner, xs)?.remove(1))
        },
        qkv(1, 3, 3, 2, 2, 2, DType::F64),
    );
    // float32 runs the fused kernels eagerly: bit-identical to the traced
    // decomposition forward, and to the closed-form VJP as primitives (under
    // an outer recording tape) backward. Shapes cover the batch-parallel
    // products, products threaded inside (t·s·h ≥ 2^22) and a single row.
    let cases = [
        (2, 5, 7, 3, 4, 6, false),
        (2, 5, 7, 3, 4, 6, true),
        (4, 64, 48, 2, 16, 16, true),
        (1, 256, 256, 1, 64, 64, false),
        (1, 1, 9, 1, 4, 4, false),
    ];
    for (b, t, s, n, h, hv, causal) in cases {
        let what = format!("b={b} t={t} s={s} n={n} h={h} hv={hv} causal={causal}");
        let xs = qkv(b, t, s, n, h, hv, DType::F32);
        let w =
            Tensor::from_f64s(&values(b * t * n * hv, 75), vec![b, t, n, hv], DType::F32).unwrap();
        same_bits_as_decomposition(
            &|v| attention(v, causal, None),
            &xs,
            &w,
            &["dq", "dk", "dv"],
            &what,
        );
    }
}

/// `layer_normalization` over the last axis of `xs[0]`, with `xs[1]` as
/// gamma and `xs[2]` as beta when `params`.
fn layer_norm(xs: &[Tensor], params: bool) -> Result<Tensor> {
    let (g, b) = if params {
        (Some(&xs[1]), Some(&xs[2]))
    } else {
        (None, None)
    };
    ops::layer_normalization(&xs[0], g, b, &[-1], Some(1e-3))
}

#[test]
fn layer_norm_gradients_and_the_exact_kernels() {
    // The closed-form VJP (float64) against finite differences: x, gamma and
    // beta; no parameters; a single row; and its derivative.
    check(
        "layer_norm",
        |xs| layer_norm(xs, true),
        vec![rand(&[2, 3, 5], 81), rand(&[5], 82), rand(&[5], 83)],
    );
    check(
        "layer_norm plain",
        |xs| layer_norm(xs, false),
        vec![rand(&[4, 6], 84)],
    );
    check(
        "layer_norm one row",
        |xs| layer_norm(xs, true),
        vec![rand(&[7], 85), rand(&[7], 86), rand(&[7], 87)],
    );
    let w = rand(&[3, 4], 88);
    check(
        "layer_norm second derivative",
        |xs| {
            let inner =
                |ys: &[Tensor]| ops::sum(ops::multiply(layer_norm(ys, true)?, &w)?, None, false);
            let mut g = autodiff::grad(inner, xs)?;
            ops::add(g.remove(0), ops::sum(g.remove(0), None, false)?)
        },
        vec![rand(&[3, 4], 89), rand(&[4], 90), rand(&[4], 91)],
    );
    // float32 runs the fused kernels eagerly: bit-identical to the traced
    // decomposition forward and to the closed-form VJP as primitives (under
    // an outer recording tape) backward; past the parallel threshold, one row,
    // rows of one element.
    for (shape, params) in [
        (vec![32, 200, 32], true),
        (vec![3, 5, 8], false),
        (vec![1, 257], true),
        (vec![6, 1], true),
    ] {
        let what = format!("{shape:?} params={params}");
        let l = *shape.last().unwrap();
        let n: usize = shape.iter().product();
        let f32s = |v: Vec<f64>, s: Vec<usize>| Tensor::from_f64s(&v, s, DType::F32).unwrap();
        let xv: Vec<f64> = values(n, 92).iter().map(|v| v * 3.0 + 0.5).collect();
        let xs = vec![
            f32s(xv, shape.clone()),
            f32s(values(l, 93), vec![l]),
            f32s(values(l, 94), vec![l]),
        ];
        let w = f32s(values(n, 95), shape.clone());
        same_bits_as_decomposition(
            &|v| layer_norm(v, params),
            &xs,
            &w,
            &["dx", "dgamma", "dbeta"],
            &what,
        );
    }
}
