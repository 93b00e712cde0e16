//! Unit tests of the cpu backend: every primitive against hand-computed values or
//! naive reference loops.

mod elementwise;
mod index;
mod layout;
mod linalg;
mod reduce;
mod window;

use super::*;
use ceras_core::prim::*;
use half::{bf16, f16};

fn run(prim: Prim, ins: &[(HostData, &[usize])]) -> Result<Vec<HostData>> {
    let bufs: Vec<BufferRef> = ins.iter().map(|(d, _)| buf(d.clone())).collect();
    let ops: Vec<Operand<'_>> = ins
        .iter()
        .zip(&bufs)
        .map(|((d, s), b)| Operand {
            buf: b,
            shape: s,
            dtype: d.dtype(),
        })
        .collect();
    let specs: Vec<Spec> = ins
        .iter()
        .map(|(d, s)| Spec::new(s.to_vec(), d.dtype()))
        .collect();
    let outs = prim.infer(&specs)?;
    let be = CpuBackend::new();
    let r = be.execute(&prim, &ops, &outs)?;
    r.iter()
        .zip(&outs)
        .map(|(b, s)| be.to_host(b, &s.shape, s.dtype))
        .collect()
}

fn run1(prim: Prim, ins: &[(HostData, &[usize])]) -> HostData {
    run(prim, ins).unwrap().swap_remove(0)
}

fn f32v(v: &[f32]) -> HostData {
    HostData::F32(v.to_vec())
}

fn as_f32(d: &HostData) -> Vec<f32> {
    match d {
        HostData::F32(v) => v.clone(),
        other => panic!("expected f32, got {:?}", other.dtype()),
    }
}

fn as_f64(d: &HostData) -> Vec<f64> {
    d.to_f64_vec()
}

/// Deterministic pseudo-random values in [-1, 1).
fn rand_vec(n: usize, seed: u64) -> Vec<f64> {
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

fn close(a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len(), "lengths differ");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        let ok = (x.is_nan() && y.is_nan()) || x == y || (x - y).abs() <= tol * (1.0 + y.abs());
        assert!(ok, "element {i}: {x} vs {y} (tol {tol})");
    }
}

fn same_bits(a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert!((x.is_nan() && y.is_nan()) || x == y, "{a:?} vs {b:?}");
    }
}

fn iota_f32(n: usize) -> Vec<f32> {
    (0..n).map(|i| i as f32).collect()
}
