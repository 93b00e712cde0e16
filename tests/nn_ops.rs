//! Behaviour of `keras.ops.nn` ops that the golden corpus does not cover: adaptive
//! pooling against a brute-force reference, `moments`' half-precision rule, the fused
//! softmax against its decomposition, grouped-query attention, one-hot edge cases.

use ceras::autodiff::GradientTape;
use ceras::config::DataFormat;
use ceras::ops::{self, AttentionOptions, AxisArg};
use ceras::{DType, Tensor};

fn seq(shape: &[usize], dtype: DType) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n)
        .map(|i| ((i * 37) % 23) as f64 * 0.25 - 2.0)
        .collect();
    Tensor::from_f64s(&v, shape.to_vec(), dtype).unwrap()
}

fn close(a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol * (1.0 + y.abs()), "[{i}] {x} vs {y}");
    }
}

/// PyTorch-style adaptive pooling of a `(1, L, 1)` signal, by definition.
fn adaptive_ref(v: &[f64], out: usize, max: bool) -> Vec<f64> {
    let n = v.len();
    (0..out)
        .map(|i| {
            let (s, e) = ((i * n) / out, ((i + 1) * n).div_ceil(out));
            let w = &v[s..e];
            if max {
                w.iter().cloned().fold(f64::NEG_INFINITY, f64::max)
            } else {
                w.iter().sum::<f64>() / w.len() as f64
            }
        })
        .collect()
}

#[test]
fn adaptive_pooling_matches_definition() {
    for (n, out) in [(5, 3), (6, 4), (4, 2), (2, 3), (7, 1), (7, 7), (10, 4)] {
        let x = seq(&[1, n, 1], DType::F64);
        let v = x.to_f64_vec().unwrap();
        let cl = Some(DataFormat::ChannelsLast);
        let a = ops::adaptive_average_pool(&x, out, cl).unwrap();
        assert_eq!(a.shape(), &[1, out, 1]);
        close(
            &a.to_f64_vec().unwrap(),
            &adaptive_ref(&v, out, false),
            1e-12,
        );
        let m = ops::adaptive_max_pool(&x, out, cl).unwrap();
        close(&m.to_f64_vec().unwrap(), &adaptive_ref(&v, out, true), 0.0);
    }
    // 2-D channels-first pools each spatial dim independently.
    let x = seq(&[2, 3, 5, 4], DType::F32);
    let y = ops::adaptive_average_pool(&x, [2, 3], Some(DataFormat::ChannelsFirst)).unwrap();
    assert_eq!(y.shape(), &[2, 3, 2, 3]);
}

#[test]
fn moments_half_precision() {
    let x = seq(&[4, 6], DType::F16);
    let (m, v) = ops::moments(&x, &[1], false, false).unwrap();
    assert_eq!((m.dtype(), v.dtype()), (DType::F16, DType::F16));
    assert_eq!(m.shape(), &[4]);
    let (m32, v32) = ops::moments(ops::cast(&x, DType::F32).unwrap(), &[1], false, false).unwrap();
    close(&m.to_f64_vec().unwrap(), &m32.to_f64_vec().unwrap(), 1e-3);
    close(&v.to_f64_vec().unwrap(), &v32.to_f64_vec().unwrap(), 1e-3);
    let (m, _) = ops::moments(&x, &[0, 1], true, false).unwrap();
    assert_eq!(m.shape(), &[1, 1]);
    assert!(ops::moments(&x, &[0], false, true).is_err());
}

#[test]
fn softmax_fused_matches_decomposition() {
    ceras::config::set_fused_kernels(true);
    for axis in [0i64, 1, -1] {
        let x = seq(&[3, 5], DType::F32);
        let fast = ops::softmax(&x, axis).unwrap().to_f64_vec().unwrap();
        let lfast = ops::log_softmax(&x, axis).unwrap().to_f64_vec().unwrap();
        // A live tape forces the primitive decomposition.
        let tape = GradientTape::new();
        tape.watch(&x);
        let slow = ops::softmax(&x, axis).unwrap().to_f64_vec().unwrap();
        let lslow = ops::log_softmax(&x, axis).unwrap().to_f64_vec().unwrap();
        drop(tape);
        close(&fast, &slow, 1e-6);
        close(&lfast, &lslow, 1e-6);
    }
    // All axes jointly.
    let x = seq(&[2, 3], DType::F64);
    let s = ops::softmax(&x, AxisArg::All).unwrap();
    let total: f64 = s.to_f64_vec().unwrap().iter().sum();
    assert!((total - 1.0).abs() < 1e-12);
    // Half precision keeps its dtype.
    let h = ops::softmax(seq(&[4], DType::BF16), -1).unwrap();
    assert_eq!(h.dtype(), DType::BF16);
}

#[test]
fn grouped_query_attention_equals_repeated_heads() {
    let (b, t, s, n, k, h) = (2, 3, 4, 4, 2, 5);
    let q = seq(&[b, t, n, h], DType::F64);
    let kk = ops::multiply(seq(&[b, s, k, h], DType::F64), 0.3).unwrap();
    let v = ops::add(seq(&[b, s, k, h], DType::F64), 1.0).unwrap();
    let o = AttentionOptions::new().is_causal(true);
    let gqa = ops::dot_product_attention(&q, &kk, &v, &o).unwrap();
    // Repeat each kv head n / k times along the head axis (head i uses kv head i / g).
    let rep = |x: &Tensor| {
        let e = ops::expand_dims(x, &[3]).unwrap();
        let e = ops::broadcast_to(&e, &[b, s, k, n / k, h]).unwrap();
        ops::reshape(&e, &[b as i64, s as i64, n as i64, h as i64]).unwrap()
    };
    let full = ops::dot_product_attention(&q, rep(&kk), rep(&v), &o).unwrap();
    close(
        &gqa.to_f64_vec().unwrap(),
        &full.to_f64_vec().unwrap(),
        1e-12,
    );
    assert_eq!(gqa.shape(), &[b, t, n, h]);
}

#[test]
fn attention_mask_and_scale() {
    let q = seq(&[1, 2, 1, 3], DType::F32);
    let kv = seq(&[1, 2, 1, 3], DType::F32);
    // Masking out key 1 everywhere returns value 0 for every query.
    let mask = Tensor::from_vec(vec![true, false, true, false], [1, 1, 2, 2]).unwrap();
    let y = ops::dot_product_attention(&q, &kv, &kv, &AttentionOptions::new().mask(&mask)).unwrap();
    let v0: Vec<f64> = kv.to_f64_vec().unwrap()[..3].to_vec();
    let y = y.to_f64_vec().unwrap();
    close(&y[..3], &v0, 1e-6);
    close(&y[3..], &v0, 1e-6);
    assert!(ops::dot_product_attention(
        &q,
        &kv,
        &kv,
        &AttentionOptions {
            flash_attention: Some(true),
            ..AttentionOptions::new()
        }
    )
    .is_err());
}

#[test]
fn one_hot_edges() {
    let x = Tensor::from_vec(vec![-1i32, 3, 1], [3]).unwrap();
    let y = ops::one_hot(&x, 3, -1, Some(DType::I32)).unwrap();
    assert_eq!(y.to_vec::<i32>().unwrap(), vec![0, 0, 0, 0, 0, 0, 0, 1, 0]);
    let y = ops::one_hot(&x, 3, 0, None).unwrap();
    assert_eq!(y.shape(), &[3, 3]);
    assert_eq!(y.dtype(), DType::F32);
    assert!(ops::one_hot(&x, 3, 2, None).is_err());
}

#[test]
fn activation_values() {
    let x = Tensor::from_vec(vec![-3.0f64, -0.5, 0.0, 0.5, 3.0], [5]).unwrap();
    let get = |t: Tensor| t.to_f64_vec().unwrap();
    close(
        &get(ops::relu6(ops::multiply(&x, 3.0).unwrap()).unwrap()),
        &[0.0, 0.0, 0.0, 1.5, 6.0],
        0.0,
    );
    close(
        &get(ops::hard_sigmoid(&x).unwrap()),
        &[0.0, 2.5 / 6.0, 0.5, 3.5 / 6.0, 1.0],
        1e-15,
    );
    close(
        &get(ops::soft_shrink(&x, 0.5).unwrap()),
        &[-2.5, 0.0, 0.0, 0.0, 2.5],
        0.0,
    );
    close(
        &get(ops::hard_shrink(&x, 0.5).unwrap()),
        &[-3.0, 0.0, 0.0, 0.0, 3.0],
        0.0,
    );
    close(
        &get(ops::leaky_relu(&x, 0.2).unwrap()),
        &[-0.6, -0.1, 0.0, 0.5, 3.0],
        1e-15,
    );
    let sp: Vec<f64> = [-3.0f64, -0.5, 0.0, 0.5, 3.0]
        .iter()
        .map(|v| (1.0 + v.exp()).ln())
        .collect();
    close(&get(ops::softplus(&x).unwrap()), &sp, 1e-14);
    let ge: Vec<f64> = [-3.0f64, -0.5, 0.0, 0.5, 3.0]
        .iter()
        .map(|v| 0.5 * v * (1.0 + libm_erf(v / 2f64.sqrt())))
        .collect();
    close(&get(ops::gelu(&x, false).unwrap()), &ge, 1e-9);
    // Integer inputs compute in floatx.
    let i = Tensor::from_vec(vec![-1i32, 2], [2]).unwrap();
    assert_eq!(ops::elu(&i, 1.0).unwrap().dtype(), DType::F32);
    assert_eq!(ops::relu(&i).unwrap().dtype(), DType::I32);
}

/// erf by its Taylor / continued-fraction-free series (enough for |x| <= 3).
fn libm_erf(x: f64) -> f64 {
    let mut sum = 0.0;
    let mut term = x;
    let mut n = 0.0;
    while term.abs() > 1e-17 || n < 5.0 {
        sum += term / (2.0 * n + 1.0);
        n += 1.0;
        term *= -x * x / n;
        if n > 200.0 {
            break;
        }
    }
    sum * 2.0 / std::f64::consts::PI.sqrt()
}

/// The cpu backend's fused Adam step (one pass) gives bit-identical variables
/// and slots to the twelve-primitive decomposition (forced by a live tape).
#[test]
fn adam_fused_step_is_bit_identical() {
    use ceras::{optimizers, Variable};
    let run = |decompose: bool| -> Vec<Vec<f32>> {
        let var = Variable::new(seq(&[300, 301], DType::F32), "w", true).unwrap();
        let small = Variable::new(seq(&[7], DType::F32), "b", true).unwrap();
        let mut opt = optimizers::Adam::new(0.01);
        for step in 0..3 {
            let g = ops::multiply(seq(&[300, 301], DType::F32), 0.1 * (step + 1) as f64).unwrap();
            let gb = ops::sin(seq(&[7], DType::F32)).unwrap();
            let tape = decompose.then(GradientTape::new);
            opt.apply(&[g, gb], &[var.clone(), small.clone()]).unwrap();
            drop(tape);
        }
        let mut out = vec![
            var.value().to_vec::<f32>().unwrap(),
            small.value().to_vec::<f32>().unwrap(),
        ];
        // The slots (m, v of each variable), after the iteration counter.
        let slots = opt.variables(&[var.clone(), small.clone()]);
        assert_eq!(slots.len(), 5);
        out.extend(
            slots[1..]
                .iter()
                .map(|v| v.value().to_vec::<f32>().unwrap()),
        );
        out
    };
    // On the cpu backend the first run must really take the fused kernel.
    if ceras::backend::current().unwrap().name() == "cpu" {
        let t = seq(&[4], DType::F32);
        let alpha = ops::full(&[], 0.01, Some(DType::F32)).unwrap();
        let step = ops::fused_adam(&t, &t, &t, &t, &alpha, 0.9, 0.999, 1e-7).unwrap();
        assert!(step.is_some(), "the cpu backend ran no fused Adam kernel");
    }
    let (fused, plain) = (run(false), run(true));
    assert_eq!(fused.len(), plain.len());
    for (a, b) in fused.iter().zip(&plain) {
        let same = a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
        assert!(
            same && a.len() == b.len(),
            "fused Adam differs from the decomposition"
        );
    }
}
