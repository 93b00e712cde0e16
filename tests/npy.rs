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

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ceras-npy-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
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
    let dir = tmpdir("rt");
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
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
    std::fs::remove_dir_all(&dir).unwrap();
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
    let dir = tmpdir("npz");
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
    std::fs::remove_dir_all(&dir).unwrap();
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
