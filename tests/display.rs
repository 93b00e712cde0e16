//! `Display` for tensors, against `str(np.array(...))` from NumPy 2.4.

use ceras::Tensor;

#[test]
fn prints_like_numpy() {
    let t = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], [2, 2]).unwrap();
    assert_eq!(t.to_string(), "[[1. 2.]\n [3. 4.]]");
    assert_eq!(format!("{t}"), "[[1. 2.]\n [3. 4.]]");
    let t = Tensor::from_vec(vec![0.1f32, 0.25, 100.0], [3]).unwrap();
    assert_eq!(t.to_string(), "[  0.1    0.25 100.  ]");
    let t = Tensor::from_vec(vec![1i32, -20, 300, 4], [2, 2]).unwrap();
    assert_eq!(t.to_string(), "[[  1 -20]\n [300   4]]");
    let t = Tensor::from_vec(vec![true, false, true], [3]).unwrap();
    assert_eq!(t.to_string(), "[ True False  True]");
    assert_eq!(Tensor::scalar(1.0f32).unwrap().to_string(), "1.0");
    assert_eq!(Tensor::scalar(1e-5f32).unwrap().to_string(), "1e-05");
    assert_eq!(Tensor::scalar(-7i64).unwrap().to_string(), "-7");
    let t = Tensor::from_vec((0..2000).map(|i| i as f32).collect::<Vec<_>>(), [2000]).unwrap();
    assert_eq!(
        t.to_string(),
        "[0.000e+00 1.000e+00 2.000e+00 ... 1.997e+03 1.998e+03 1.999e+03]"
    );
}
