//! Tensor-core benchmarks (issue: tensor core §10), as a small harness that prints a
//! table with fractions of the machine's measured peak. Run:
//! `cargo bench --bench core`.
//!
//! Peaks are measured here, in the same run: FLOP/s with an FMA-bound kernel on every
//! core, memory bandwidth with a large `copy_from_slice` on every core.

use ceras::{ops, Tensor};
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Times `f` (seconds per call): warm-up, then the median of `reps` timed runs.
fn time<F: FnMut()>(reps: usize, mut f: F) -> f64 {
    f();
    f();
    median(
        (0..reps)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64()
            })
            .collect(),
    )
}

#[cfg(target_arch = "x86_64")]
fn fma_kernel(iters: usize) -> f32 {
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports AVX2 and FMA (checked just above), which is all
        // `fma_avx2` requires; it touches no memory besides its locals.
        unsafe { fma_avx2(iters) }
    } else {
        fma_scalar(iters)
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn fma_avx2(iters: usize) -> f32 {
    use std::arch::x86_64::*;
    // 10 independent accumulators hide the FMA latency (2 ports × 5 cycles).
    let mut acc = [_mm256_set1_ps(0.0); 10];
    let a = _mm256_set1_ps(0.999_999);
    let b = _mm256_set1_ps(1e-7);
    for _ in 0..iters {
        for x in acc.iter_mut() {
            *x = _mm256_fmadd_ps(*x, a, b);
        }
    }
    let mut s = 0.0;
    for x in acc {
        let mut out = [0f32; 8];
        _mm256_storeu_ps(out.as_mut_ptr(), x);
        s += out.iter().sum::<f32>();
    }
    s
}

fn fma_scalar(iters: usize) -> f32 {
    let mut acc = [0f32; 16];
    for _ in 0..iters {
        for x in acc.iter_mut() {
            *x = x.mul_add(0.999_999, 1e-7);
        }
    }
    acc.iter().sum()
}

#[cfg(not(target_arch = "x86_64"))]
fn fma_kernel(iters: usize) -> f32 {
    fma_scalar(iters)
}

fn flops_per_iter() -> f64 {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        return 10.0 * 8.0 * 2.0;
    }
    16.0 * 2.0
}

fn peak_flops(threads: usize) -> f64 {
    let iters = 20_000_000;
    let t = time(5, || {
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| std::hint::black_box(fma_kernel(std::hint::black_box(iters))));
            }
        })
    });
    threads as f64 * iters as f64 * flops_per_iter() / t
}

fn copy_bandwidth(threads: usize) -> f64 {
    let n = 32 << 20; // 32 M f32 = 128 MiB per buffer per thread
    let mut bufs: Vec<(Vec<f32>, Vec<f32>)> =
        (0..threads).map(|_| (vec![1.0; n], vec![0.0; n])).collect();
    let t = time(5, || {
        std::thread::scope(|s| {
            for (a, b) in bufs.iter_mut() {
                s.spawn(move || b.copy_from_slice(a));
            }
        })
    });
    // A copy reads n and writes n elements.
    (threads * n * 2 * 4) as f64 / t
}

/// Bandwidth of a plain Rust `c[i] = a[i] + b[i]` loop over pre-touched buffers of
/// `m` f32 elements, split over `threads` (the roofline for the `add` benchmark).
fn raw_add_bandwidth(threads: usize, m: usize) -> f64 {
    let a = vec![1.0f32; m];
    let b = vec![2.0f32; m];
    let mut c = vec![0.0f32; m];
    let per = m.div_ceil(threads);
    let t = time(15, || {
        std::thread::scope(|s| {
            for ((c, a), b) in c.chunks_mut(per).zip(a.chunks(per)).zip(b.chunks(per)) {
                s.spawn(move || {
                    for ((c, a), b) in c.iter_mut().zip(a).zip(b) {
                        *c = a + b;
                    }
                });
            }
        })
    });
    std::hint::black_box(&c);
    (3 * m * 4) as f64 / t
}

fn main() {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let peak = peak_flops(threads);
    let bw = copy_bandwidth(threads);
    println!("machine: {threads} cores; measured peak {:.1} GFLOP/s (f32 FMA), copy bandwidth {:.2} GB/s", peak / 1e9, bw / 1e9);
    println!("backend: {}", ceras::config::backend().unwrap());

    // 1. f32 matmul 1024^3.
    let n = 1024;
    let a = Tensor::from_vec(
        (0..n * n).map(|i| (i % 7) as f32 * 0.1).collect::<Vec<_>>(),
        [n, n],
    )
    .unwrap();
    let b = Tensor::from_vec(
        (0..n * n).map(|i| (i % 5) as f32 * 0.1).collect::<Vec<_>>(),
        [n, n],
    )
    .unwrap();
    let t = time(15, || {
        std::hint::black_box(ops::matmul(&a, &b).unwrap());
    });
    let gf = 2.0 * (n * n * n) as f64 / t;
    println!(
        "matmul f32 1024x1024x1024: {:.2} ms, {:.1} GFLOP/s = {:.0}% of peak",
        t * 1e3,
        gf / 1e9,
        100.0 * gf / peak
    );

    // The same product straight through the `gemm` crate, for reference.
    let (av, bv) = (a.to_vec::<f32>().unwrap(), b.to_vec::<f32>().unwrap());
    let mut cv = vec![0.0f32; n * n];
    let t = time(15, || {
        // SAFETY: all three buffers hold n*n elements in row-major order, matching
        // the strides given; `cv` is uniquely borrowed and aliases neither input.
        unsafe {
            gemm::gemm(
                n,
                n,
                n,
                cv.as_mut_ptr(),
                1,
                n as isize,
                false,
                av.as_ptr(),
                1,
                n as isize,
                bv.as_ptr(),
                1,
                n as isize,
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::Rayon(0),
            )
        }
    });
    let raw = 2.0 * (n * n * n) as f64 / t;
    println!(
        "  (the gemm crate called directly: {:.1} GFLOP/s = {:.0}% of peak; ceras/gemm = {:.2})",
        raw / 1e9,
        100.0 * raw / peak,
        gf / raw
    );

    // 2. f32 add of 16 M elements (reads 2, writes 1).
    let m = 16 << 20;
    let x = Tensor::from_vec(vec![1.0f32; m], [m]).unwrap();
    let y = Tensor::from_vec(vec![2.0f32; m], [m]).unwrap();
    let t = time(15, || {
        std::hint::black_box(ops::add(&x, &y).unwrap());
    });
    let gbs = (3 * m * 4) as f64 / t;
    let raw = raw_add_bandwidth(threads, m);
    println!(
        "add f32 16M elements: {:.2} ms, {:.2} GB/s = {:.0}% of copy bandwidth, {:.0}% of a raw Rust add loop ({:.2} GB/s)",
        t * 1e3,
        gbs / 1e9,
        100.0 * gbs / bw,
        100.0 * gbs / raw,
        raw / 1e9
    );

    // 3. Per-op overhead of a tiny op.
    let s1 = Tensor::from_vec(vec![1.0f32], [1]).unwrap();
    let s2 = Tensor::from_vec(vec![2.0f32], [1]).unwrap();
    let reps = 100_000;
    let t = time(7, || {
        for _ in 0..reps {
            std::hint::black_box(ops::add(&s1, &s2).unwrap());
        }
    });
    println!(
        "tiny op (add, shape [1]): {:.2} µs per op",
        t / reps as f64 * 1e6
    );
    let t = time(7, || {
        for _ in 0..reps {
            std::hint::black_box(ceras::lax::add(&s1, &s2).unwrap());
        }
    });
    println!(
        "tiny primitive (lax::add, shape [1]): {:.2} µs per op",
        t / reps as f64 * 1e6
    );
}
