//! Values, gradients and tracing of the NumPy ops beyond the element-wise basics
//! (`pad` modes, `einsum`, quantiles, `unique`, `gcd`, ...), checked against
//! results computed by hand from NumPy's definitions.

use ceras::prim::Spec;
use ceras::{autodiff, ops, trace, DType, Result, Tensor};

fn setup() {
    // Tests must not depend on `~/.keras/keras.json`; KERAS_BACKEND picks the
    // backend under test (tools/test.sh runs them on cpu and torch).
    if std::env::var_os("KERAS_BACKEND").is_none() {
        let _ = ceras::config::set_backend("cpu");
    }
}

fn i32s(t: &Tensor) -> Vec<i32> {
    ops::cast(t, DType::I32).unwrap().to_vec::<i32>().unwrap()
}

fn f64s(t: &Tensor) -> Vec<f64> {
    t.to_f64_vec().unwrap()
}

fn close(a: &[f64], b: &[f64]) {
    assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
    for (x, y) in a.iter().zip(b) {
        assert!(
            (x - y).abs() <= 1e-5 * (1.0 + y.abs()) || (x.is_nan() && y.is_nan()),
            "{a:?} vs {b:?}"
        );
    }
}

#[test]
fn pad_modes_with_wide_pads() {
    setup();
    let x = Tensor::from_vec(vec![1i32, 2, 3], [3]).unwrap();
    let p = |w: (usize, usize), m: &str| i32s(&ops::pad(&x, &[w], m, None).unwrap());
    assert_eq!(p((4, 4), "reflect"), [1, 2, 3, 2, 1, 2, 3, 2, 1, 2, 3]);
    assert_eq!(p((4, 4), "symmetric"), [3, 3, 2, 1, 1, 2, 3, 3, 2, 1, 1]);
    assert_eq!(p((4, 2), "wrap"), [3, 1, 2, 3, 1, 2, 3, 1, 2]);
    assert_eq!(p((2, 1), "edge"), [1, 1, 1, 2, 3, 3]);
    assert_eq!(p((1, 1), "maximum"), [3, 1, 2, 3, 3]);
    assert_eq!(p((1, 2), "mean"), [2, 1, 2, 3, 2, 2]);
    assert_eq!(
        i32s(&ops::pad(&x, &[(1, 0)], "constant", Some(7.0)).unwrap()),
        [7, 1, 2, 3]
    );
    assert!(ops::pad(&x, &[(1, 0)], "reflect", Some(7.0)).is_err());
    assert!(ops::pad(&x, &[(1, 0)], "bogus", None).is_err());
    // Reflecting a length-1 axis repeats the edge.
    let one = Tensor::from_vec(vec![5i32], [1]).unwrap();
    assert_eq!(
        i32s(&ops::pad(&one, &[(2, 1)], "reflect", None).unwrap()),
        [5, 5, 5, 5]
    );
}

#[test]
fn einsum_forms() {
    setup();
    let a: Vec<f32> = (0..6).map(|i| i as f32).collect();
    let b: Vec<f32> = (0..12).map(|i| (i as f32) * 0.5).collect();
    let x = Tensor::from_vec(a, [2, 3]).unwrap();
    let y = Tensor::from_vec(b, [3, 4]).unwrap();
    let mm = ops::matmul(&x, &y).unwrap();
    let e = ops::einsum("ij,jk->ik", &[x.clone(), y.clone()]).unwrap();
    close(&f64s(&e), &f64s(&mm));
    // Implicit output: letters used once, alphabetically.
    let e = ops::einsum("ij,jk", &[x.clone(), y.clone()]).unwrap();
    close(&f64s(&e), &f64s(&mm));
    let e = ops::einsum("ij,jk->ki", &[x.clone(), y.clone()]).unwrap();
    close(&f64s(&e), &f64s(&ops::transpose(&mm, None).unwrap()));
    // Trace and diagonal.
    let sq = Tensor::from_vec((0..9).map(|i| i as f32).collect::<Vec<_>>(), [3, 3]).unwrap();
    close(
        &f64s(&ops::einsum("ii", std::slice::from_ref(&sq)).unwrap()),
        &[12.0],
    );
    close(
        &f64s(&ops::einsum("ii->i", std::slice::from_ref(&sq)).unwrap()),
        &[0.0, 4.0, 8.0],
    );
    // Sum over everything, and a scalar operand.
    close(
        &f64s(&ops::einsum("ij->", std::slice::from_ref(&x)).unwrap()),
        &[15.0],
    );
    let s = ops::einsum(",ij", &[Tensor::weak_scalar(2i64).unwrap(), x.clone()]).unwrap();
    assert_eq!(s.dtype(), DType::F32);
    close(&f64s(&s), &[0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
    // Ellipsis broadcasting: "i...,...j" with x[2,3,4], y[3,4,5] -> [3,4,2,5].
    let p = Tensor::from_vec(vec![1f32; 24], [2, 3, 4]).unwrap();
    let q = Tensor::from_vec(vec![1f32; 60], [3, 4, 5]).unwrap();
    assert_eq!(
        ops::einsum("i...,...j", &[p.clone(), q.clone()])
            .unwrap()
            .shape(),
        &[3, 4, 2, 5]
    );
    assert_eq!(
        ops::einsum("i...,...j->i...j", &[p, q]).unwrap().shape(),
        &[2, 3, 4, 5]
    );
    // Three operands.
    let v = Tensor::from_vec(vec![1f32, 2.0], [2]).unwrap();
    let w = Tensor::from_vec(vec![3f32, 4.0, 5.0], [3]).unwrap();
    let r = ops::einsum("i,ij,j->", &[v, x.clone(), w]).unwrap();
    // sum_ij v_i x_ij w_j = 1*(0*3+1*4+2*5) + 2*(3*3+4*4+5*5) = 14 + 100
    close(&f64s(&r), &[114.0]);
    assert!(ops::einsum("ij,jk->ik", &[x.clone(), x]).is_err());
}

#[test]
fn quantile_methods() {
    setup();
    let x = Tensor::from_vec(vec![4f32, 1.0, 3.0, 2.0], [4]).unwrap();
    let q = |m: &str| f64s(&ops::quantile(&x, 0.5, None, m, false).unwrap());
    close(&q("linear"), &[2.5]);
    close(&q("lower"), &[2.0]);
    close(&q("higher"), &[3.0]);
    close(&q("nearest"), &[2.0]);
    close(&q("midpoint"), &[2.5]);
    let qs = Tensor::from_vec(vec![0f32, 0.25, 1.0], [3]).unwrap();
    close(
        &f64s(&ops::quantile(&x, &qs, None, "linear", false).unwrap()),
        &[1.0, 1.75, 4.0],
    );
    let n = Tensor::from_vec(vec![1f32, f32::NAN, 3.0], [3]).unwrap();
    close(&f64s(&ops::median(&n, None, false).unwrap()), &[f64::NAN]);
    close(&f64s(&ops::nanmedian(&n, None, false).unwrap()), &[2.0]);
    let m = Tensor::from_vec(vec![1i32, 2, 3, 4, 5, 6], [2, 3]).unwrap();
    let r = ops::percentile(&m, 50, Some(&[1]), "linear", true).unwrap();
    assert_eq!(r.shape(), &[2, 1]);
    assert_eq!(r.dtype(), DType::F32);
    close(&f64s(&r), &[2.0, 5.0]);
    assert!(ops::quantile(&x, 0.5, None, "bogus", false).is_err());
}

#[test]
fn nan_reductions() {
    setup();
    let x = Tensor::from_vec(
        vec![1f32, f32::NAN, 3.0, f32::NAN, f32::NAN, f32::NAN],
        [2, 3],
    )
    .unwrap();
    close(
        &f64s(&ops::nansum(&x, Some(&[1]), false).unwrap()),
        &[4.0, 0.0],
    );
    close(
        &f64s(&ops::nanmean(&x, Some(&[1]), false).unwrap()),
        &[2.0, f64::NAN],
    );
    close(
        &f64s(&ops::nanmax(&x, Some(&[1]), false).unwrap()),
        &[3.0, f64::NAN],
    );
    close(
        &f64s(&ops::nanvar(&x, Some(&[1]), false).unwrap()),
        &[1.0, f64::NAN],
    );
    assert_eq!(i32s(&ops::nanargmin(&x, Some(1), false).unwrap()), [0, -1]);
    close(
        &f64s(&ops::nancumsum(&x, Some(1), None).unwrap()),
        &[1.0, 1.0, 4.0, 0.0, 0.0, 0.0],
    );
}

#[test]
fn integer_math() {
    setup();
    let a = Tensor::from_vec(vec![12i32, -18, 0, 7], [4]).unwrap();
    let b = Tensor::from_vec(vec![8i32, 12, 5, 0], [4]).unwrap();
    assert_eq!(i32s(&ops::gcd(&a, &b).unwrap()), [4, 6, 5, 7]);
    assert_eq!(i32s(&ops::lcm(&a, &b).unwrap()), [24, 36, 0, 0]);
    assert!(ops::gcd(1.5, &b).is_err());
    let e = ops::ldexp(3.0f32, Tensor::from_vec(vec![2i32, -1], [2]).unwrap()).unwrap();
    close(&f64s(&e), &[12.0, 1.5]);
}

#[test]
fn sorting_and_sets() {
    setup();
    let x = Tensor::from_vec(vec![3i32, 4, 2, 1], [4]).unwrap();
    assert_eq!(
        i32s(&ops::argpartition(&x, 2, Some(-1)).unwrap()),
        [3, 2, 0, 1]
    );
    let (v, i) = ops::top_k(&x, 2, true).unwrap();
    assert_eq!(i32s(&v), [4, 3]);
    assert_eq!(i32s(&i), [1, 0]);
    let s = Tensor::from_vec(vec![1i32, 2, 2, 3], [4]).unwrap();
    let q = Tensor::from_vec(vec![2i32, 0, 5], [3]).unwrap();
    assert_eq!(i32s(&ops::searchsorted(&s, &q, "left").unwrap()), [1, 0, 4]);
    assert_eq!(
        i32s(&ops::searchsorted(&s, &q, "right").unwrap()),
        [3, 0, 4]
    );
    let bins = Tensor::from_vec(vec![3i32, 2, 1], [3]).unwrap();
    assert_eq!(i32s(&ops::digitize(&q, &bins).unwrap()), [2, 3, 0]);
    let u = Tensor::from_vec(vec![2f32, f32::NAN, 1.0, 2.0, f32::NAN], [5]).unwrap();
    let r = ops::unique(
        &u,
        &ops::UniqueOptions {
            return_counts: true,
            return_inverse: true,
            ..Default::default()
        },
    )
    .unwrap();
    close(&f64s(&r.values), &[1.0, 2.0, f64::NAN, f64::NAN]);
    assert_eq!(i32s(r.counts.as_ref().unwrap()), [1, 2, 1, 1]);
    assert_eq!(i32s(r.inverse.as_ref().unwrap()), [1, 2, 0, 1, 3]);
    let nz = ops::nonzero(Tensor::from_vec(vec![0i32, 5, 0, 7], [2, 2]).unwrap()).unwrap();
    assert_eq!(i32s(&nz[0]), [0, 1]);
    assert_eq!(i32s(&nz[1]), [1, 1]);
    assert_eq!(
        i32s(&ops::bincount(&q, None, 0).unwrap()),
        [1, 0, 1, 0, 0, 1]
    );
}

#[test]
fn shapes_and_diagonals() {
    setup();
    let v = Tensor::from_vec(vec![1i32, 2], [2]).unwrap();
    assert_eq!(
        i32s(&ops::diag(&v, -1).unwrap()),
        [0, 0, 0, 1, 0, 0, 0, 2, 0]
    );
    assert_eq!(
        i32s(&ops::diag(&v, 1).unwrap()),
        [0, 1, 0, 0, 0, 2, 0, 0, 0]
    );
    let m = Tensor::from_vec((0..12).collect::<Vec<i32>>(), [3, 4]).unwrap();
    assert_eq!(i32s(&ops::diagonal(&m, 1, 0, 1).unwrap()), [1, 6, 11]);
    assert_eq!(i32s(&ops::diagonal(&m, -1, 0, 1).unwrap()), [4, 9]);
    assert_eq!(i32s(&ops::trace(&m, 0, 0, 1).unwrap()), [15]);
    assert_eq!(
        i32s(&ops::tril(&m, 0).unwrap()),
        [0, 0, 0, 0, 4, 5, 0, 0, 8, 9, 10, 0]
    );
    assert_eq!(
        i32s(&ops::rot90(&m, 1, (0, 1)).unwrap())[..4],
        [3, 7, 11, 2]
    );
    assert_eq!(
        i32s(&ops::roll(&m, &[1], Some(&[1])).unwrap())[..4],
        [3, 0, 1, 2]
    );
    assert_eq!(ops::tile(&v, &[2, 3]).unwrap().shape(), &[2, 6]);
    assert_eq!(
        i32s(&ops::repeat(&v, vec![2i64, 1], Some(0)).unwrap()),
        [1, 1, 2]
    );
    let parts = ops::array_split(&m, 3usize, 1).unwrap();
    let shapes: Vec<&[usize]> = parts.iter().map(|p| p.shape()).collect();
    assert_eq!(shapes, [&[3usize, 2][..], &[3, 1], &[3, 1]]);
    assert!(ops::split(&m, 3usize, 1).is_err());
    let parts = ops::split(&m, vec![1i64, -1], 1).unwrap();
    let shapes: Vec<&[usize]> = parts.iter().map(|p| p.shape()).collect();
    assert_eq!(shapes, [&[3usize, 1][..], &[3, 2], &[3, 1]]);
    assert_eq!(ops::moveaxis(&m, &[0], &[-1]).unwrap().shape(), &[4, 3]);
    let g = ops::meshgrid(
        &[v.clone(), Tensor::from_vec(vec![5i32, 6, 7], [3]).unwrap()],
        "xy",
    )
    .unwrap();
    assert_eq!(g[0].shape(), &[3, 2]);
    assert_eq!(i32s(&g[1]), [5, 5, 6, 6, 7, 7]);
}

#[test]
fn scatter_and_slices() {
    setup();
    let idx = Tensor::from_vec(vec![0i32, 2, 0], [3, 1]).unwrap();
    let vals = Tensor::from_vec(vec![1f32, 2.0, 3.0], [3]).unwrap();
    close(
        &f64s(&ops::scatter(&idx, &vals, &[4]).unwrap()),
        &[4.0, 0.0, 2.0, 0.0],
    );
    let base = Tensor::from_vec(vec![10f32, 10.0, 10.0, 10.0], [4]).unwrap();
    close(
        &f64s(&ops::scatter_update(&base, &idx, &vals, Some("max")).unwrap()),
        &[10.0, 10.0, 10.0, 10.0],
    );
    close(
        &f64s(&ops::scatter_update(&base, &idx, &vals, Some("mul")).unwrap()),
        &[30.0, 10.0, 20.0, 10.0],
    );
    let m = Tensor::from_vec((0..9).collect::<Vec<i32>>(), [3, 3]).unwrap();
    // Starts are clamped so the block fits.
    assert_eq!(
        i32s(&ops::slice(&m, vec![2i64, 2], &[2, 2]).unwrap()),
        [4, 5, 7, 8]
    );
    let u = Tensor::from_vec(vec![-1i32, -2], [1, 2]).unwrap();
    assert_eq!(
        i32s(&ops::slice_update(&m, vec![1i64, 5], &u).unwrap()),
        [0, 1, 2, 3, -1, -2, 6, 7, 8]
    );
}

#[test]
fn spaces_and_windows() {
    setup();
    let o = ops::LinspaceOptions::default();
    close(
        &f64s(&ops::linspace(0.0, 1.0, 5, &o).unwrap()),
        &[0.0, 0.25, 0.5, 0.75, 1.0],
    );
    let (v, step) = ops::linspace_with_step(
        0.0,
        1.0,
        4,
        &ops::LinspaceOptions {
            endpoint: false,
            ..o
        },
    )
    .unwrap();
    close(&f64s(&v), &[0.0, 0.25, 0.5, 0.75]);
    close(&f64s(&step), &[0.25]);
    close(
        &f64s(&ops::logspace(0, 3, 4, 10.0, &o).unwrap()),
        &[1.0, 10.0, 100.0, 1000.0],
    );
    close(
        &f64s(&ops::geomspace(1, 1000, 4, &o).unwrap()),
        &[1.0, 10.0, 100.0, 1000.0],
    );
    close(
        &f64s(&ops::bartlett(5).unwrap()),
        &[0.0, 0.5, 1.0, 0.5, 0.0],
    );
    close(&f64s(&ops::hanning(3).unwrap()), &[0.0, 1.0, 0.0]);
    close(&f64s(&ops::kaiser(3, 0.0).unwrap()), &[1.0, 1.0, 1.0]);
}

/// Loss `sum(f(x) * w)` and its gradient by central differences.
fn check_grad(name: &str, f: impl Fn(&Tensor) -> Result<Tensor>, x: &Tensor) {
    let y0 = f(x).unwrap();
    let w: Vec<f64> = (0..y0.size())
        .map(|i| 0.5 + (i as f64 * 0.37).sin().abs())
        .collect();
    let w = Tensor::from_vec(w, y0.shape().to_vec()).unwrap();
    let loss =
        |xs: &[Tensor]| -> Result<Tensor> { ops::sum(ops::multiply(f(&xs[0])?, &w)?, None, false) };
    let g = autodiff::grad(loss, std::slice::from_ref(x)).unwrap();
    let g = g[0].to_vec::<f64>().unwrap();
    let base = x.to_vec::<f64>().unwrap();
    for i in 0..base.len() {
        let eval = |d: f64| {
            let mut v = base.clone();
            v[i] += d;
            let t = Tensor::from_vec(v, x.shape().to_vec()).unwrap();
            loss(&[t]).unwrap().item::<f64>().unwrap()
        };
        let num = (eval(1e-6) - eval(-1e-6)) / 2e-6;
        assert!(
            (num - g[i]).abs() <= 1e-5 * (1.0 + num.abs()),
            "{name}: element {i}: {} vs {num}",
            g[i]
        );
    }
}

#[test]
fn gradients() {
    setup();
    let x = Tensor::from_vec(vec![0.3f64, -1.2, 2.5, 0.7, 1.1, -0.4], [2, 3]).unwrap();
    check_grad(
        "pad reflect",
        |t| ops::pad(t, &[(1, 2)], "reflect", None),
        &x,
    );
    check_grad(
        "pad symmetric",
        |t| ops::pad(t, &[(2, 1)], "symmetric", None),
        &x,
    );
    check_grad(
        "einsum",
        |t| ops::einsum("ij,kj->ik", &[t.clone(), t.clone()]),
        &x,
    );
    check_grad(
        "quantile",
        |t| ops::quantile(t, 0.3, Some(&[1]), "linear", false),
        &x,
    );
    check_grad("cumprod", |t| ops::cumprod(t, Some(1), None), &x);
    check_grad("hypot", |t| ops::hypot(t, 0.5), &x);
    check_grad("logaddexp", |t| ops::logaddexp(t, ops::flip(t, None)?), &x);
    check_grad("diagonal", |t| ops::diagonal(t, 1, 0, 1), &x);
    check_grad("roll", |t| ops::roll(t, &[2], None), &x);
    check_grad("tile", |t| ops::tile(t, &[2, 1]), &x);
    check_grad("nanvar", |t| ops::nanvar(t, None, false), &x);
    check_grad(
        "average",
        |t| {
            ops::average(
                t,
                Some(&[1]),
                Some(&Tensor::from_vec(vec![1.0f64, 2.0, 3.0], [3]).unwrap()),
            )
        },
        &x,
    );
    check_grad(
        "cross",
        |t| ops::cross(t, ops::flip(t, Some(&[1]))?, Default::default()),
        &x,
    );
    check_grad(
        "correlate",
        |t| {
            ops::correlate(
                ops::ravel(t)?,
                Tensor::from_vec(vec![1.0f64, -2.0], [2])?,
                "full",
            )
        },
        &x,
    );
    check_grad("sinc", |t| ops::sinc(t), &x);
}

#[test]
fn traceable() {
    setup();
    let f = |xs: &[Tensor]| -> Result<Vec<Tensor>> {
        let x = &xs[0];
        Ok(vec![
            ops::pad(x, &[(1, 1)], "symmetric", None)?,
            ops::einsum("ij,kj->ik", &[x.clone(), x.clone()])?,
            ops::quantile(x, 0.5, None, "linear", false)?,
            ops::cumsum(x, None, None)?,
            ops::diag(ops::ravel(x)?, 1)?,
            ops::gcd(ops::cast(x, DType::I32)?, 6)?,
            ops::linspace(
                ops::min(x, None, false, None)?,
                ops::max(x, None, false, None)?,
                4,
                &Default::default(),
            )?,
        ])
    };
    let x = Tensor::from_vec(vec![1f32, 5.0, 3.0, 8.0, 2.0, 6.0], [2, 3]).unwrap();
    let eager = f(std::slice::from_ref(&x)).unwrap();
    let g = trace::trace(&[Spec::new(vec![2, 3], DType::F32)], f).unwrap();
    let replay = g.call(std::slice::from_ref(&x)).unwrap();
    for (a, b) in eager.iter().zip(&replay) {
        assert_eq!(a.shape(), b.shape());
        close(&f64s(a), &f64s(b));
    }
}
