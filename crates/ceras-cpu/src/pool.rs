//! A small cache of large, recently freed host vectors.
//!
//! Allocating a fresh multi-megabyte `Vec` costs more than filling it: the
//! allocator returns the pages to the OS on free, and every page of the next
//! allocation is faulted in and zeroed by the kernel before the kernel of the
//! op writes it again. Training loops and benchmarks free and allocate buffers
//! of the same sizes over and over, so the cpu backend keeps a few freed
//! buffers (those of at least [`MIN_BYTES`], at most [`MAX_BYTES`] in all) and
//! hands them out again for outputs of the same dtype and length — the same
//! idea as PyTorch's caching allocator. A reused vector still holds its old
//! values; callers overwrite every element.

use ceras_core::{Element, HostData};
use std::sync::Mutex;

/// Buffers smaller than this go straight back to the allocator.
pub const MIN_BYTES: usize = 256 << 10;
/// Most bytes the cache holds; the oldest buffers are released first.
pub const MAX_BYTES: usize = 512 << 20;

struct Pool {
    free: Vec<HostData>,
    bytes: usize,
}

static POOL: Mutex<Pool> = Mutex::new(Pool {
    free: Vec::new(),
    bytes: 0,
});

fn nbytes(d: &HostData) -> usize {
    d.len() * d.dtype().size_of()
}

/// Returns a freed buffer to the cache (or drops it if it is small).
pub(crate) fn give(d: HostData) {
    let b = nbytes(&d);
    if !(MIN_BYTES..=MAX_BYTES).contains(&b) {
        return;
    }
    let mut evicted = Vec::new();
    if let Ok(mut p) = POOL.lock() {
        while p.bytes + b > MAX_BYTES && !p.free.is_empty() {
            let old = p.free.remove(0);
            p.bytes -= nbytes(&old);
            evicted.push(old);
        }
        p.bytes += b;
        p.free.push(d);
    }
    // `evicted` is freed here, outside the lock.
}

/// A vector of `n` elements: a cached one of the same dtype and length if there
/// is one (holding stale values), else a fresh zeroed one.
pub(crate) fn take<T: Element>(n: usize) -> Vec<T> {
    if n * std::mem::size_of::<T>() >= MIN_BYTES {
        if let Ok(mut p) = POOL.lock() {
            if let Some(i) = p
                .free
                .iter()
                .rposition(|d| d.dtype() == T::DTYPE && d.len() == n)
            {
                let d = p.free.remove(i);
                p.bytes -= nbytes(&d);
                drop(p);
                if let Some(v) = T::unwrap(d) {
                    return v;
                }
            }
        }
    }
    vec![T::default(); n]
}

/// Releases every cached buffer to the allocator.
pub fn clear() {
    let freed = POOL.lock().map(|mut p| {
        p.bytes = 0;
        std::mem::take(&mut p.free)
    });
    drop(freed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_same_dtype_and_length_only() {
        let n = MIN_BYTES / 4 + 3;
        let v: Vec<f32> = vec![7.0; n];
        let ptr = v.as_ptr();
        give(HostData::F32(v));
        // Another dtype or length does not take it.
        assert_eq!(take::<i32>(n), vec![0; n]);
        assert!(take::<f32>(n + 1).iter().all(|&x| x == 0.0));
        let w = take::<f32>(n);
        assert_eq!(w.len(), n);
        assert_eq!(w.as_ptr(), ptr, "the cached vector is handed out again");
        // Small buffers are never cached.
        give(HostData::F32(vec![1.0; 4]));
        assert_eq!(take::<f32>(4), vec![0.0; 4]);
    }
}
