//! `DotGeneral` and the shared matrix-multiply kernel.
//!
//! Operands are viewed as `[batch, M, K]` and `[batch, K, N]` matrices; when
//! their memory layout already allows that (possibly transposed), no copy is
//! made, since `gemm` takes arbitrary strides. `f32`, `f64` and `f16` use the
//! `gemm` crate; `bf16` goes through `f32`; integers use a plain loop.

use crate::elementwise::{map, PAR_MIN};
use crate::layout::transpose_vec;
use crate::num::{Acc, Num};
use ceras_core::error::{dtype_err, Result};
use ceras_core::HostData;
use gemm::Parallelism;
use half::{bf16, f16};
use rayon::prelude::*;
use std::any::TypeId;
use std::borrow::Cow;

/// A strided matrix view: element `(i, j)` is `data[i * rs + j * cs]`.
#[derive(Clone, Copy)]
pub(crate) struct MatRef<'a, T> {
    pub data: &'a [T],
    pub rs: usize,
    pub cs: usize,
}

/// Work (m·n·k) above which one product is split across threads by `gemm`.
/// Smaller products of a batch run one per thread instead (see `dot_t`): a
/// threaded `gemm` call costs a fork-join, and attention's per-head products
/// (e.g. 200×200×32) paid that 64 times per op. 2^18 → 2^22 took the
/// transformer step from 117–130 ms to 79–100 ms (docs/benchmarks.md).
const PAR_WORK: usize = 1 << 22;

/// Whether `DotGeneral` runs a batch of `nb` products `(m x k)·(k x n)` one
/// per thread, each single-threaded (else one after another, each threaded
/// when large). Fused kernels that must round as `DotGeneral` does pass
/// `parallel = !batch_parallel(..)` to [`matmul`] for the same products.
pub(crate) fn batch_parallel(nb: usize, m: usize, n: usize, k: usize) -> bool {
    nb > 1 && m * n * k < PAR_WORK && nb * m * n * k >= PAR_MIN
}

fn is_gemm<T: 'static>() -> bool {
    let t = TypeId::of::<T>();
    t == TypeId::of::<f32>() || t == TypeId::of::<f64>() || t == TypeId::of::<f16>()
}

/// `dst[i * drs + j] = Σ_k a(i, k) · b(k, j)` for `i < m`, `j < n` (overwrites `dst`).
pub(crate) fn matmul<T: Num>(
    mnk: (usize, usize, usize),
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    dst: &mut [T],
    drs: usize,
    parallel: bool,
) {
    matmul_into(mnk, a, b, dst, drs, parallel, false)
}

/// [`matmul`], adding the product to `dst` instead when `accumulate`.
pub(crate) fn matmul_into<T: Num>(
    (m, n, k): (usize, usize, usize),
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    dst: &mut [T],
    drs: usize,
    parallel: bool,
    accumulate: bool,
) {
    if m == 0 || n == 0 || (k == 0 && accumulate) {
        return;
    }
    let zero = T::from_acc(T::A::ZERO);
    if k == 0 {
        for i in 0..m {
            dst[i * drs..i * drs + n].fill(zero);
        }
        return;
    }
    // The views must lie inside their slices (checked: `gemm` reads raw pointers).
    assert!(
        (m - 1) * a.rs + (k - 1) * a.cs < a.data.len(),
        "matmul: lhs view out of bounds"
    );
    assert!(
        (k - 1) * b.rs + (n - 1) * b.cs < b.data.len(),
        "matmul: rhs view out of bounds"
    );
    assert!(
        (m - 1) * drs + n <= dst.len(),
        "matmul: dst view out of bounds"
    );
    let threads = rayon::current_num_threads();
    if is_gemm::<T>() && parallel && threads > 1 && m * n * k >= PAR_WORK && k >= 4 * m.max(n) {
        // A long contraction into a small result (the weight gradient of a
        // convolution or of an RNN's kernels: the batch and positions are
        // contracted): `gemm` splits its threads over the few output tiles, so
        // split the contraction instead — one part per thread, the first into
        // `dst`, the others into scratch buffers that are added to it after.
        let parts = threads.min(k / 256).max(1);
        let chunk = k.div_ceil(parts);
        let sub = |p: usize| {
            let k0 = p * chunk;
            let kp = chunk.min(k - k0);
            let ap = MatRef {
                data: &a.data[k0 * a.cs..],
                ..a
            };
            let bp = MatRef {
                data: &b.data[k0 * b.rs..],
                ..b
            };
            (kp, ap, bp)
        };
        let mut scratch: Vec<Vec<T>> = (1..parts).map(|_| crate::pool::take::<T>(m * n)).collect();
        rayon::join(
            || {
                let (kp, ap, bp) = sub(0);
                matmul_into((m, n, kp), ap, bp, dst, drs, false, accumulate);
            },
            || {
                scratch.par_iter_mut().enumerate().for_each(|(p, buf)| {
                    let (kp, ap, bp) = sub(p + 1);
                    matmul_into((m, n, kp), ap, bp, buf, n, false, false);
                })
            },
        );
        for buf in &scratch {
            for i in 0..m {
                let row = &mut dst[i * drs..i * drs + n];
                for (d, s) in row.iter_mut().zip(&buf[i * n..(i + 1) * n]) {
                    *d = T::from_acc(d.to_acc().add(s.to_acc()));
                }
            }
        }
        for buf in scratch {
            crate::pool::give(T::wrap(buf));
        }
        return;
    }
    if is_gemm::<T>() {
        let par = if parallel && m * n * k >= PAR_WORK && threads > 1 {
            Parallelism::Rayon(0)
        } else {
            Parallelism::None
        };
        let one = T::from_acc(T::A::ONE);
        // SAFETY: `T` is f32, f64 or f16 (checked above), the only types besides
        // complex ones that `gemm::gemm` accepts; the asserts above guarantee every
        // index the product touches is inside `a.data`, `b.data` and `dst`; `dst`
        // is uniquely borrowed and does not alias the inputs.
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                dst.as_mut_ptr(),
                1,
                drs as isize,
                accumulate,
                a.data.as_ptr(),
                a.cs as isize,
                a.rs as isize,
                b.data.as_ptr(),
                b.cs as isize,
                b.rs as isize,
                if accumulate { one } else { zero },
                one,
                false,
                false,
                false,
                par,
            );
        }
        return;
    }
    let row = |(i, d): (usize, &mut [T])| {
        let mut acc = vec![T::A::ZERO; n];
        for kk in 0..k {
            let av = a.data[i * a.rs + kk * a.cs].to_acc();
            let brow = kk * b.rs;
            for (j, ac) in acc.iter_mut().enumerate() {
                *ac = ac.add(av.mul(b.data[brow + j * b.cs].to_acc()));
            }
        }
        for (d, ac) in d.iter_mut().zip(acc) {
            *d = if accumulate {
                T::from_acc(d.to_acc().add(ac))
            } else {
                T::from_acc(ac)
            };
        }
    };
    let rows = dst[..(m - 1) * drs + n].chunks_mut(drs);
    if parallel && m * n * k >= PAR_MIN {
        let rows: Vec<_> = rows.enumerate().collect();
        rows.into_par_iter().for_each(row);
    } else {
        rows.enumerate().for_each(row);
    }
}

/// The stride of `dims` (of a row-major tensor of this shape) taken together as
/// one axis, or `None` when their elements are not evenly spaced. Size-1 dims
/// are ignored; no dims at all (or only size-1 ones) give `Some(1)`.
fn group_stride(shape: &[usize], dims: &[usize]) -> Option<usize> {
    let stride = |d: usize| shape[d + 1..].iter().product::<usize>();
    let ds: Vec<usize> = dims.iter().copied().filter(|&d| shape[d] != 1).collect();
    for w in ds.windows(2) {
        if stride(w[0]) != stride(w[1]) * shape[w[1]] {
            return None;
        }
    }
    Some(ds.last().map_or(1, |&d| stride(d)))
}

/// A batch of strided matrices over one buffer: matrix `i` is the view
/// `data[offsets[i]..]` with strides `(rs, cs)`.
pub(crate) struct Batched<'a, T: Clone> {
    pub data: Cow<'a, [T]>,
    pub offsets: Vec<usize>,
    pub rs: usize,
    pub cs: usize,
}

impl<T: Clone> Batched<'_, T> {
    /// Matrix `i` of the batch.
    pub fn mat(&self, i: usize) -> MatRef<'_, T> {
        MatRef {
            data: &self.data[self.offsets[i]..],
            rs: self.rs,
            cs: self.cs,
        }
    }
}

/// Views `v` (a row-major tensor of `shape`) as a batch of `R x C` matrices,
/// `batch`, `rows` and `cols` naming its dims (all of them, each once). When
/// the rows and the columns are each evenly spaced (e.g. attention's
/// `(batch, seq, heads, head_dim)` with batch dims 0 and 2), the matrices are
/// strided views of `v` itself — `gemm` takes arbitrary strides — else `v` is
/// copied to `[batch, rows, cols]` order first.
pub(crate) fn as_matrices<'a, T: ceras_core::Element>(
    v: &'a [T],
    shape: &[usize],
    batch: &[usize],
    rows: &[usize],
    cols: &[usize],
) -> Batched<'a, T> {
    let nr: usize = rows.iter().map(|&d| shape[d]).product();
    let nc: usize = cols.iter().map(|&d| shape[d]).product();
    let nb: usize = batch.iter().map(|&d| shape[d]).product();
    if let (Some(rs), Some(cs)) = (group_stride(shape, rows), group_stride(shape, cols)) {
        // Offsets of the batch's matrices, the batch dims in the order given.
        let mut offsets = vec![0usize];
        for &d in batch {
            let stride: usize = shape[d + 1..].iter().product();
            offsets = offsets
                .iter()
                .flat_map(|&o| (0..shape[d]).map(move |i| o + i * stride))
                .collect();
        }
        debug_assert_eq!(offsets.len(), nb);
        return Batched {
            data: Cow::Borrowed(v),
            offsets,
            rs,
            cs,
        };
    }
    let p: Vec<usize> = batch.iter().chain(rows).chain(cols).copied().collect();
    Batched {
        data: Cow::Owned(transpose_vec(v, shape, &p)),
        offsets: (0..nb).map(|i| i * nr * nc).collect(),
        rs: nc,
        cs: 1,
    }
}

/// Contraction / batch dims of a `DotGeneral`.
pub(crate) struct DotDims<'a> {
    pub lc: &'a [usize],
    pub rc: &'a [usize],
    pub lb: &'a [usize],
    pub rb: &'a [usize],
}

fn dot_t<T: Num>(x: &[T], xs: &[usize], y: &[T], ys: &[usize], d: &DotDims<'_>) -> Vec<T> {
    let free = |s: &[usize], c: &[usize], b: &[usize]| -> Vec<usize> {
        (0..s.len())
            .filter(|i| !c.contains(i) && !b.contains(i))
            .collect()
    };
    let (lf, rf) = (free(xs, d.lc, d.lb), free(ys, d.rc, d.rb));
    let prod = |s: &[usize], dims: &[usize]| dims.iter().map(|&i| s[i]).product::<usize>();
    let (nb, m, k, n) = (prod(xs, d.lb), prod(xs, &lf), prod(xs, d.lc), prod(ys, &rf));
    // `matmul` writes every element, so a cached (stale) buffer will do.
    let mut out = crate::pool::take::<T>(nb * m * n);
    if out.is_empty() {
        return out;
    }
    let a = as_matrices(x, xs, d.lb, &lf, d.lc);
    let b = as_matrices(y, ys, d.rb, d.rc, &rf);
    let one = |i: usize, o: &mut [T], par: bool| matmul((m, n, k), a.mat(i), b.mat(i), o, n, par);
    if batch_parallel(nb, m, n, k) {
        out.par_chunks_mut(m * n)
            .enumerate()
            .for_each(|(i, o)| one(i, o, false));
    } else {
        out.chunks_mut(m * n)
            .enumerate()
            .for_each(|(i, o)| one(i, o, true));
    }
    out
}

/// `DotGeneral` on two operands of equal dtype.
pub(crate) fn dot_general(
    x: &HostData,
    xs: &[usize],
    y: &HostData,
    ys: &[usize],
    d: &DotDims<'_>,
) -> Result<HostData> {
    use HostData as H;
    Ok(match (x, y) {
        (H::F32(a), H::F32(b)) => H::F32(dot_t(a, xs, b, ys, d)),
        (H::F64(a), H::F64(b)) => H::F64(dot_t(a, xs, b, ys, d)),
        (H::F16(a), H::F16(b)) => H::F16(dot_t(a, xs, b, ys, d)),
        (H::BF16(a), H::BF16(b)) => {
            let r = dot_t(&map(a, bf16::to_f32), xs, &map(b, bf16::to_f32), ys, d);
            H::BF16(map(&r, bf16::from_f32))
        }
        (H::I8(a), H::I8(b)) => H::I8(dot_t(a, xs, b, ys, d)),
        (H::I16(a), H::I16(b)) => H::I16(dot_t(a, xs, b, ys, d)),
        (H::I32(a), H::I32(b)) => H::I32(dot_t(a, xs, b, ys, d)),
        (H::I64(a), H::I64(b)) => H::I64(dot_t(a, xs, b, ys, d)),
        (H::U8(a), H::U8(b)) => H::U8(dot_t(a, xs, b, ys, d)),
        (H::U16(a), H::U16(b)) => H::U16(dot_t(a, xs, b, ys, d)),
        (H::U32(a), H::U32(b)) => H::U32(dot_t(a, xs, b, ys, d)),
        (H::U64(a), H::U64(b)) => H::U64(dot_t(a, xs, b, ys, d)),
        (H::Bool(a), H::Bool(b)) => {
            let u = |v: &[bool]| v.iter().map(|&b| b as u64).collect::<Vec<u64>>();
            let r = dot_t(&u(a), xs, &u(b), ys, d);
            H::Bool(r.iter().map(|&c| c != 0).collect())
        }
        _ => {
            return Err(dtype_err(
                "dot_general",
                format!(
                    "operands must have equal dtypes, got {} and {}",
                    x.dtype(),
                    y.dtype()
                ),
            ))
        }
    })
}
