//! `keras.random`: counter-based random number generation that gives the same bits
//! on every backend.
//!
//! # The generator
//!
//! Every sampler is a pure function of a **key** (two `u32` words) and the output
//! shape. Bits come from **Threefry-2x32** with 20 rounds, exactly JAX's
//! `threefry_2x32` (Salmon et al., *Parallel random numbers: as easy as 1, 2, 3*,
//! SC'11), and the block function is expressed with primitives only (`uint32`
//! `add` / `xor` / `or` / `shift_left` / `shift_right` and `iota` for the counters),
//! so every backend computes the same bits: no backend has its own RNG.
//!
//! The mapping from keys to values follows JAX (≥ 0.5, `jax_threefry_partitionable`
//! on, its default) step by step, so for a given key the samplers return what
//! `jax.random` returns, and for a given integer seed or [`SeedGenerator`] what
//! `keras.random` returns on the JAX backend:
//!
//! * **Random bits** for a shape: element `i` (row-major) encrypts the 64-bit
//!   counter `i` split into words `(i >> 32, i & 0xffffffff)`; the two output words
//!   `(b1, b2)` give `b1 ^ b2` for 32-bit draws, `b1 ^ b2` truncated for 8/16-bit
//!   draws and `(b1 << 32) | b2` for 64-bit draws.
//! * **Splitting** a key into `n` keys encrypts the counters `0..n` the same way and
//!   uses `(b1, b2)` as the new keys ([`split`]); [`fold_in`] encrypts `(0, data)`.
//! * **Uniform floats** in `[0, 1)`: the top `nmant` bits of the random word (23 for
//!   float32, 52 for float64, 10 for float16, 7 for bfloat16 drawn from 8 bits) are
//!   the mantissa: `(bits >> (width - nmant)) * 2^-nmant`. JAX bit-casts
//!   `mantissa | bits(1.0)` and subtracts 1; the product is exactly the same value
//!   and needs no bitcast primitive. `[minval, maxval)` is then
//!   `max(minval, u * (maxval - minval) + minval)` in the target dtype.
//! * **Normal**: `sqrt(2) * erfinv(u)` with `u` uniform in
//!   `[nextafter(-1, 0), 1)`. **Truncated normal** (Keras: ±2 stddev): `u`
//!   uniform between `erf(-2 / sqrt 2)` and `erf(2 / sqrt 2)`, mapped the same way,
//!   then clipped into the open interval — inverse-CDF, no rejection.
//! * **randint**: JAX's double-width modulus: two split keys give high and low
//!   words `h`, `l`; the value is `minval + ((h % span) * (2^n % span) + l % span) % span`.
//! * **categorical**: Gumbel-max, `argmax(logits - log(-log(u)))` with `u` in
//!   `[tiny, 1)`. **dropout**: keep where `u < 1 - rate`, scale kept values by
//!   `1 / (1 - rate)`. **shuffle**: sort by random 32-bit keys,
//!   `ceil(3 ln(size) / ln(2^32 - 1))` rounds (one below ~1600 elements), each
//!   slice along `axis` independently (as `keras.random.shuffle` on JAX and NumPy).
//! * **gamma**: Marsaglia–Tsang with JAX's key schedule (one key per element from
//!   `split(key, size)`, `alpha < 1` boosted with `U^(1/alpha)`). The rejection
//!   loops run vectorised: every element keeps its own state and a `select` only
//!   advances the elements still rejecting. On concrete tensors the loops stop as
//!   soon as no element is rejecting (exactly JAX's `while_loop`); while tracing
//!   they run a fixed number of rounds ([`TRACED_GAMMA_ROUNDS`] outer,
//!   [`TRACED_GAMMA_INNER_ROUNDS`] inner; acceptance is ≥ 95% per round, so the
//!   chance that an element is still rejecting is below 1e-30).
//! * **beta**: `Ga / (Ga + Gb)` from two log-space gammas on split keys (as JAX).
//! * **binomial**: JAX's algorithm (TensorFlow's): inversion by summing geometric
//!   waiting times when `count * min(p, 1-p) <= 10`, else BTRS (Hörmann's
//!   transformed rejection), with the same key schedule, loops as for gamma.
//!
//! # Seeds
//!
//! A [`Seed`] is what Keras accepts as `seed=`:
//!
//! * an **integer** `s` becomes the key `[s & 0xffffffff, s >> 32]` — for seeds
//!   below 2^32 this is Keras's `draw_seed(s) = [s, 0]`, so `uniform(.., seed = 42)`
//!   equals `keras.random.uniform(.., seed=42)` on JAX;
//! * a [`SeedGenerator`] holds a state of two `u32` words (initially the key of its
//!   seed); [`SeedGenerator::next`] returns the state and adds `[0, 1]` to it,
//!   exactly as Keras's `SeedGenerator.next()`;
//! * [`Seed::Global`] (or `None`) draws from the global generator with Keras's
//!   unordered step (`state = (state + 1) * 5387 % 933199`). [`set_seed`] (like
//!   `keras.utils.set_random_seed`) resets it to the key of the seed; before that it
//!   is seeded from the clock;
//! * [`Seed::Key`] passes a raw key, like passing a JAX key array to Keras;
//!   [`prng_key`] derives JAX's `jax.random.PRNGKey(seed)` = `[seed >> 32, seed & 0xffffffff]`.
//!
//! # Fixed values
//!
//! ```text
//! uniform(&[4], 0.0, 1.0, None, 42) = [0.56672966, 0.06554866, 0.38167238, 0.71196353]
//! normal(&[4], 0.0, 1.0, None, 42)  = [0.16805424, -1.5097886, -0.30109137, 0.5591302]
//! ```
//!
//! The uniform values are bit-identical to `keras.random.uniform((4,), seed=42)`
//! on JAX; the normal ones agree to within an ulp (the backend's `erfinv`).
//! `tests/random.rs` pins them, together with JAX's values for bits, uniform
//! (float16 / bfloat16 / float32), normal, truncated normal, randint,
//! categorical, dropout, shuffle, gamma, beta and binomial
//! (`tools/random_golden.py`).
//!
//! ```
//! let block = ceras_core::random::threefry2x32_block([0x13198a2e, 0x03707344], [0x243f6a88, 0x85a308d3]);
//! assert_eq!(block, [0xc4923a9c, 0x483df7a0]);
//! ```

use crate::backend::Fused;
use crate::config;
use crate::dtype::DType;
use crate::error::{arg_err, dtype_err, shape_err, Result};
use crate::lax;
use crate::ops;
use crate::prim::{ArgOp, BinaryOp, CmpOp, ReduceOp, UnaryOp};
use crate::shape::{norm_axis, numel};
use crate::tensor::{IntoTensor, Tensor};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// A Threefry key: two 32-bit words.
pub type Key = [u32; 2];

/// Rounds of the outer Marsaglia–Tsang loop run while tracing (gamma, beta).
pub const TRACED_GAMMA_ROUNDS: usize = 24;
/// Rounds of the inner `v > 0` loop run while tracing (gamma, beta).
pub const TRACED_GAMMA_INNER_ROUNDS: usize = 12;
/// Rounds of the binomial inversion loop run while tracing.
pub const TRACED_BINOMIAL_INVERSION_ROUNDS: usize = 64;
/// Rounds of the binomial BTRS loop run while tracing.
pub const TRACED_BINOMIAL_BTRS_ROUNDS: usize = 32;
/// Safety cap on loops over concrete tensors (JAX loops without a cap; with the
/// acceptance rates involved this is never reached in practice).
const CONCRETE_MAX_ROUNDS: usize = 100_000;

const ROTATIONS: [[u32; 4]; 2] = [[13, 15, 26, 6], [17, 29, 16, 24]];
const PARITY: u32 = 0x1BD1_1BDA;

// ---------------------------------------------------------------------------
// Threefry-2x32
// ---------------------------------------------------------------------------

/// One Threefry-2x32 block (20 rounds) on the host: the reference the
/// primitive-based generator is tested against, and what key splitting uses.
///
/// ```
/// use ceras_core::random::threefry2x32_block;
/// assert_eq!(threefry2x32_block([0, 0], [0, 0]), [0x6b200159, 0x99ba4efe]);
/// ```
pub fn threefry2x32_block(key: Key, x: [u32; 2]) -> [u32; 2] {
    let ks = [key[0], key[1], key[0] ^ key[1] ^ PARITY];
    let mut x0 = x[0].wrapping_add(ks[0]);
    let mut x1 = x[1].wrapping_add(ks[1]);
    for i in 0..5 {
        for &r in &ROTATIONS[i % 2] {
            x0 = x0.wrapping_add(x1);
            x1 = x1.rotate_left(r);
            x1 ^= x0;
        }
        x0 = x0.wrapping_add(ks[(i + 1) % 3]);
        x1 = x1.wrapping_add(ks[(i + 2) % 3]).wrapping_add(i as u32 + 1);
    }
    [x0, x1]
}

/// Threefry-2x32 on tensors: `k0, k1, x0, x1` are `uint32` of one shape.
/// A backend's fused kernel ([`Fused::Threefry2x32`]) runs it when it has one
/// and nothing is traced; otherwise the primitive decomposition below.
fn threefry_t(k0: &Tensor, k1: &Tensor, x0: &Tensor, x1: &Tensor) -> Result<(Tensor, Tensor)> {
    let spec = x0.spec().clone();
    if let Some(mut v) = crate::ops::nn::try_fused_multi(
        "threefry2x32",
        &Fused::Threefry2x32,
        &[k0, k1, x0, x1],
        vec![spec.clone(), spec],
        true,
    )? {
        let y1 = v.pop();
        if let (Some(y0), Some(y1)) = (v.pop(), y1) {
            return Ok((y0, y1));
        }
    }
    threefry_decomposed(k0, k1, x0, x1)
}

/// Threefry-2x32 as primitives (what a trace records, and what backends
/// without a fused kernel run).
fn threefry_decomposed(
    k0: &Tensor,
    k1: &Tensor,
    x0: &Tensor,
    x1: &Tensor,
) -> Result<(Tensor, Tensor)> {
    let shape = x0.shape().to_vec();
    let mut consts: HashMap<u32, Tensor> = HashMap::new();
    let mut c = |v: u32| -> Result<Tensor> {
        if let Some(t) = consts.get(&v) {
            return Ok(t.clone());
        }
        let t = lax::full(&shape, v as f64, DType::U32)?;
        consts.insert(v, t.clone());
        Ok(t)
    };
    let xor = |a: &Tensor, b: &Tensor| lax::binary(BinaryOp::Xor, a, b);
    let k2 = xor(&xor(k0, k1)?, &c(PARITY)?)?;
    let ks = [k0.clone(), k1.clone(), k2];
    let mut x0 = lax::add(x0, &ks[0])?;
    let mut x1 = lax::add(x1, &ks[1])?;
    for i in 0..5 {
        for &r in &ROTATIONS[i % 2] {
            x0 = lax::add(&x0, &x1)?;
            let hi = lax::binary(BinaryOp::ShiftLeft, &x1, &c(r)?)?;
            let lo = lax::binary(BinaryOp::ShiftRight, &x1, &c(32 - r)?)?;
            x1 = lax::binary(BinaryOp::Or, &hi, &lo)?;
            x1 = xor(&x1, &x0)?;
        }
        x0 = lax::add(&x0, &ks[(i + 1) % 3])?;
        x1 = lax::add(&lax::add(&x1, &ks[(i + 2) % 3])?, &c(i as u32 + 1)?)?;
    }
    Ok((x0, x1))
}

/// JAX's `threefry_2x32(key, counts)`: the counts (any shape, `uint32`) are
/// flattened, padded with a zero to an even length, split into halves `x0`, `x1`
/// that are encrypted as pairs, and the outputs concatenated, trimmed and reshaped.
/// Computed with primitives, so it runs on (and agrees across) every backend.
pub fn threefry2x32(key: Key, counts: &Tensor) -> Result<Tensor> {
    if counts.dtype() != DType::U32 {
        return Err(dtype_err(
            "threefry2x32",
            format!("counts must be uint32, got {}", counts.dtype()),
        ));
    }
    let n = counts.size();
    if n == 0 {
        return Ok(counts.clone());
    }
    let flat = lax::reshape(counts, &[n])?;
    let flat = if n % 2 == 1 {
        lax::concatenate(&[&flat, &lax::full(&[1], 0.0, DType::U32)?], 0)?
    } else {
        flat
    };
    let h = flat.size() / 2;
    let x0 = lax::slice_axis(&flat, 0, 0, h)?;
    let x1 = lax::slice_axis(&flat, 0, h, 2 * h)?;
    let k0 = lax::full(&[h], key[0] as f64, DType::U32)?;
    let k1 = lax::full(&[h], key[1] as f64, DType::U32)?;
    let (y0, y1) = threefry_t(&k0, &k1, &x0, &x1)?;
    let out = lax::concatenate(&[&y0, &y1], 0)?;
    let out = lax::slice_axis(&out, 0, 0, n)?;
    lax::reshape(&out, counts.shape())
}

/// Splits a key into `n` keys (JAX's `jax.random.split`, fold-like scheme).
///
/// ```
/// let ks = ceras_core::random::split([0, 42], 2);
/// assert_eq!(ks.len(), 2);
/// ```
pub fn split(key: Key, n: usize) -> Vec<Key> {
    (0..n as u64)
        .map(|i| threefry2x32_block(key, [(i >> 32) as u32, i as u32]))
        .collect()
}

fn split2(key: Key) -> (Key, Key) {
    (
        threefry2x32_block(key, [0, 0]),
        threefry2x32_block(key, [0, 1]),
    )
}

/// Folds a 32-bit value into a key (JAX's `jax.random.fold_in`).
pub fn fold_in(key: Key, data: u32) -> Key {
    threefry2x32_block(key, [0, data])
}

/// JAX's `jax.random.PRNGKey(seed)`: `[seed >> 32, seed & 0xffffffff]`.
pub fn prng_key(seed: u64) -> Key {
    [(seed >> 32) as u32, seed as u32]
}

/// The key Keras uses for an integer seed: `[seed, 0]` for seeds below 2^32
/// (`[seed & 0xffffffff, seed >> 32]` in general).
pub fn key_from_seed(seed: u64) -> Key {
    [seed as u32, (seed >> 32) as u32]
}

// ---------------------------------------------------------------------------
// Seeds
// ---------------------------------------------------------------------------

/// Keras's `SeedGenerator`: a state of two `u32` words; every [`next`](Self::next)
/// returns a fresh key. Share it by reference (`&gen` is a [`Seed`]).
///
/// ```
/// use ceras_core::random::SeedGenerator;
/// let g = SeedGenerator::new(42);
/// assert_eq!(g.next(), [42, 0]);
/// assert_eq!(g.next(), [42, 1]);
/// ```
#[derive(Debug)]
pub struct SeedGenerator {
    state: Mutex<Key>,
    initial_seed: u64,
}

impl SeedGenerator {
    /// A generator whose state starts at the key of `seed` (`[seed, 0]`).
    pub fn new(seed: u64) -> SeedGenerator {
        SeedGenerator {
            state: Mutex::new(key_from_seed(seed)),
            initial_seed: seed,
        }
    }

    /// A generator with a seed in `[1, 1e9]` drawn from the clock (Keras's
    /// `SeedGenerator(seed=None)`).
    pub fn random() -> SeedGenerator {
        SeedGenerator::new(entropy_seed())
    }

    /// The seed it was created with.
    pub fn initial_seed(&self) -> u64 {
        self.initial_seed
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Key> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current state.
    pub fn state(&self) -> Key {
        *self.lock()
    }

    /// Replaces the state (e.g. when restoring a checkpoint).
    pub fn set_state(&self, state: Key) {
        *self.lock() = state;
    }

    /// Returns the current state as a key and advances the state by `[0, 1]`
    /// (Keras's `next(ordered=True)`).
    pub fn next(&self) -> Key {
        let mut s = self.lock();
        let out = *s;
        s[1] = s[1].wrapping_add(1);
        out
    }

    /// Returns the current state as a key and moves the state to
    /// `(state + 1) * 5387 % 933199` (Keras's `next(ordered=False)`).
    pub fn next_unordered(&self) -> Key {
        let mut s = self.lock();
        let out = *s;
        *s = unordered_step(out);
        out
    }
}

impl Clone for SeedGenerator {
    fn clone(&self) -> SeedGenerator {
        SeedGenerator {
            state: Mutex::new(self.state()),
            initial_seed: self.initial_seed,
        }
    }
}

fn unordered_step(s: Key) -> Key {
    s.map(|w| w.wrapping_add(1).wrapping_mul(5387) % 933_199)
}

fn entropy_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    if let Ok(d) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(d.as_nanos());
    }
    h.finish() % 1_000_000_000 + 1
}

fn global_state() -> &'static Mutex<Option<Key>> {
    static G: OnceLock<Mutex<Option<Key>>> = OnceLock::new();
    G.get_or_init(|| Mutex::new(None))
}

/// Seeds the global generator used when no seed is given (like
/// `keras.utils.set_random_seed`): afterwards unseeded calls are reproducible.
pub fn set_seed(seed: u64) {
    *global_state().lock().unwrap_or_else(|e| e.into_inner()) = Some(key_from_seed(seed));
}

fn global_next() -> Key {
    let mut g = global_state().lock().unwrap_or_else(|e| e.into_inner());
    let s = g.unwrap_or_else(|| key_from_seed(entropy_seed()));
    *g = Some(unordered_step(s));
    s
}

/// The `seed` argument of the samplers: an integer, a [`SeedGenerator`], a raw key
/// or the global generator. Integers, `&SeedGenerator`, `[u32; 2]` keys and
/// `Option<u64>` (`None`: global) convert into it.
#[derive(Clone, Copy, Debug)]
pub enum Seed<'a> {
    /// Draw from the global generator (Keras's `seed=None`).
    Global,
    /// A fixed integer seed: the key `[seed & 0xffffffff, seed >> 32]`.
    Int(u64),
    /// A raw Threefry key, used as is.
    Key(Key),
    /// Draw the next key from a generator (advancing it).
    Generator(&'a SeedGenerator),
}

impl Seed<'_> {
    /// The key this seed stands for (advances a generator).
    pub fn draw(self) -> Key {
        match self {
            Seed::Global => global_next(),
            Seed::Int(s) => key_from_seed(s),
            Seed::Key(k) => k,
            Seed::Generator(g) => g.next(),
        }
    }
}

macro_rules! seed_from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Seed<'_> {
            /// Negative seeds wrap to their two's-complement `u64`.
            fn from(s: $t) -> Self {
                Seed::Int(s as u64)
            }
        }
    )*};
}
seed_from_int!(u64, u32, usize, i64, i32);

impl From<Option<u64>> for Seed<'_> {
    fn from(s: Option<u64>) -> Self {
        s.map_or(Seed::Global, Seed::Int)
    }
}
impl<'a> From<&'a SeedGenerator> for Seed<'a> {
    fn from(g: &'a SeedGenerator) -> Self {
        Seed::Generator(g)
    }
}
impl From<Key> for Seed<'_> {
    fn from(k: Key) -> Self {
        Seed::Key(k)
    }
}

// ---------------------------------------------------------------------------
// Tensor keys and bits
// ---------------------------------------------------------------------------

/// A key, or a batch of keys (one per element), as `uint32` tensors.
#[derive(Clone)]
struct TKey {
    k0: Tensor,
    k1: Tensor,
}

impl TKey {
    fn scalar(k: Key) -> Result<TKey> {
        Ok(TKey {
            k0: lax::scalar(k[0] as f64, DType::U32)?,
            k1: lax::scalar(k[1] as f64, DType::U32)?,
        })
    }
    fn shape(&self) -> &[usize] {
        self.k0.shape()
    }
    /// JAX `split(key, n)` applied to every key of the batch.
    fn split(&self, n: usize) -> Result<Vec<TKey>> {
        let s = self.shape().to_vec();
        let zero = lax::full(&s, 0.0, DType::U32)?;
        (0..n)
            .map(|i| {
                let (k0, k1) = threefry_t(
                    &self.k0,
                    &self.k1,
                    &zero,
                    &lax::full(&s, i as f64, DType::U32)?,
                )?;
                Ok(TKey { k0, k1 })
            })
            .collect()
    }
    /// Keeps `self` where `keep` and takes `other` elsewhere.
    fn select(keep_new: &Tensor, new: &TKey, old: &TKey) -> Result<TKey> {
        Ok(TKey {
            k0: lax::select(keep_new, &new.k0, &old.k0)?,
            k1: lax::select(keep_new, &new.k1, &old.k1)?,
        })
    }
}

/// The two Threefry output words for every element of `key.shape ++ shape`.
fn raw_bits(key: &TKey, shape: &[usize]) -> Result<(Tensor, Tensor)> {
    let kshape = key.shape().to_vec();
    let mut full = kshape.clone();
    full.extend_from_slice(shape);
    let n = numel(shape);
    if n as u64 > u32::MAX as u64 {
        return Err(arg_err(
            "random",
            format!("cannot draw more than 2^32 - 1 values at once, got shape {shape:?}"),
        ));
    }
    if numel(&full) == 0 {
        let z = lax::full(&full, 0.0, DType::U32)?;
        return Ok((z.clone(), z));
    }
    let lo = lax::iota(&[n], DType::U32, 0)?;
    let lo = lax::reshape(&lo, shape)?;
    let kr = kshape.len();
    let lo = lax::broadcast_in_dim(&lo, &full, &(kr..full.len()).collect::<Vec<_>>())?;
    let hi = lax::full(&full, 0.0, DType::U32)?;
    let kd: Vec<usize> = (0..kr).collect();
    let k0 = lax::broadcast_in_dim(&key.k0, &full, &kd)?;
    let k1 = lax::broadcast_in_dim(&key.k1, &full, &kd)?;
    threefry_t(&k0, &k1, &hi, &lo)
}

fn uint_dtype(bits: usize) -> DType {
    match bits {
        8 => DType::U8,
        16 => DType::U16,
        32 => DType::U32,
        _ => DType::U64,
    }
}

/// Random unsigned integers of `width` bits (8, 16, 32 or 64) for `key.shape ++ shape`.
fn bits_t(key: &TKey, shape: &[usize], width: usize) -> Result<Tensor> {
    let (b1, b2) = raw_bits(key, shape)?;
    match width {
        64 => {
            let hi = lax::convert(&b1, DType::U64)?;
            let hi = lax::binary(BinaryOp::ShiftLeft, &hi, &lax::full_like(&hi, 32.0)?)?;
            let lo = lax::convert(&b2, DType::U64)?;
            lax::binary(BinaryOp::Or, &hi, &lo)
        }
        32 => lax::binary(BinaryOp::Xor, &b1, &b2),
        8 | 16 => {
            let x = lax::binary(BinaryOp::Xor, &b1, &b2)?;
            // Mask first so the conversion is exact whatever a backend does on overflow.
            let mask = ((1u64 << width) - 1) as f64;
            let x = lax::binary(BinaryOp::And, &x, &lax::full_like(&x, mask)?)?;
            lax::convert(&x, uint_dtype(width))
        }
        _ => Err(arg_err(
            "random_bits",
            format!("bit width must be 8, 16, 32 or 64, got {width}"),
        )),
    }
}

/// Uniformly distributed random bits (JAX's `jax.random.bits`) of an unsigned
/// dtype for a key.
pub fn bits(key: Key, shape: &[usize], dtype: DType) -> Result<Tensor> {
    if !dtype.is_unsigned_int() {
        return Err(dtype_err(
            "bits",
            format!("dtype must be an unsigned integer type, got {dtype}"),
        ));
    }
    bits_t(&TKey::scalar(key)?, shape, dtype.bits())
}

/// `(total bits, mantissa bits)` of a float dtype.
fn float_layout(op: &str, dtype: DType) -> Result<(usize, usize)> {
    Ok(match dtype {
        DType::F16 => (16, 10),
        DType::BF16 => (16, 7),
        DType::F32 => (32, 23),
        DType::F64 => (64, 52),
        d => {
            return Err(dtype_err(
                op,
                format!("requires a floating point dtype, got {d}"),
            ))
        }
    })
}

/// Uniform floats in `[0, 1)` for `key.shape ++ shape` (JAX's mantissa method).
fn unit_uniform(key: &TKey, shape: &[usize], dtype: DType) -> Result<Tensor> {
    let (nbits, nmant) = float_layout("uniform", dtype)?;
    let width = if nmant < 8 { 8 } else { nbits };
    let b = bits_t(key, shape, width)?;
    let m = lax::binary(
        BinaryOp::ShiftRight,
        &b,
        &lax::full_like(&b, (width - nmant) as f64)?,
    )?;
    let f = lax::convert(&m, dtype)?;
    lax::mul_scalar(&f, (-(nmant as f64)).exp2())
}

/// Uniform in `[minval, maxval)`; the bounds are tensors of `dtype` broadcastable
/// to the output shape. Same operations as JAX's `_uniform`.
fn uniform_t(
    key: &TKey,
    shape: &[usize],
    dtype: DType,
    minval: &Tensor,
    maxval: &Tensor,
) -> Result<Tensor> {
    let u = unit_uniform(key, shape, dtype)?;
    let full = u.shape().to_vec();
    let lo = lax::broadcast_to(minval, &full)?;
    let hi = lax::broadcast_to(maxval, &full)?;
    let v = lax::add(&lax::mul(&u, &lax::sub(&hi, &lo)?)?, &lo)?;
    lax::binary(BinaryOp::Max, &lo, &v)
}

fn uniform_c(key: &TKey, shape: &[usize], dtype: DType, lo: f64, hi: f64) -> Result<Tensor> {
    uniform_t(
        key,
        shape,
        dtype,
        &lax::scalar(lo, dtype)?,
        &lax::scalar(hi, dtype)?,
    )
}

/// Standard normal (JAX's `_normal_real`).
fn normal_t(key: &TKey, shape: &[usize], dtype: DType) -> Result<Tensor> {
    let (_, nmant) = float_layout("normal", dtype)?;
    // nextafter(-1, 0) in dtype.
    let lo = -(1.0 - (-(nmant as f64 + 1.0)).exp2());
    let u = uniform_c(key, shape, dtype, lo, 1.0)?;
    let e = lax::unary(UnaryOp::Erfinv, &u)?;
    lax::mul_scalar(&e, std::f64::consts::SQRT_2)
}

fn float_dtype_arg(op: &str, dtype: Option<DType>) -> Result<DType> {
    let d = dtype.unwrap_or_else(config::floatx);
    if !d.is_float() {
        return Err(dtype_err(
            op,
            format!("requires a floating point dtype, got {d}"),
        ));
    }
    Ok(d)
}

/// Converts a scalar-or-tensor parameter to `dtype` and broadcasts it to `shape`.
fn param(op: &str, x: impl IntoTensor, shape: &[usize], dtype: DType) -> Result<Tensor> {
    let t = x.into_tensor()?;
    let t = lax::convert(&t, dtype)?;
    crate::shape::broadcast_shapes(op, t.shape(), shape).and_then(|s| {
        if s != shape {
            Err(shape_err(
                op,
                format!(
                    "parameter of shape {:?} does not broadcast to the sample shape {shape:?}",
                    t.shape()
                ),
            ))
        } else {
            Ok(())
        }
    })?;
    lax::broadcast_to(&t, shape)
}

/// `sample * stddev + mean` with Keras's type promotion.
fn scale_shift(sample: Tensor, stddev: impl IntoTensor, mean: impl IntoTensor) -> Result<Tensor> {
    ops::add(ops::multiply(&sample, stddev)?, mean)
}

/// True when a flag tensor is concrete and false: the loop can stop.
fn concrete_false(flag: &Tensor) -> Result<bool> {
    if flag.is_traced() {
        return Ok(false);
    }
    Ok(!flag.item::<bool>()?)
}

fn any(mask: &Tensor) -> Result<Tensor> {
    let axes: Vec<usize> = (0..mask.ndim()).collect();
    lax::reduce(ReduceOp::Any, mask, &axes)
}

fn cmp_c(op: CmpOp, x: &Tensor, c: f64) -> Result<Tensor> {
    lax::compare(op, x, &lax::full_like(x, c)?)
}
fn and(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    lax::binary(BinaryOp::And, a, b)
}
fn or(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    lax::binary(BinaryOp::Or, a, b)
}
fn not(a: &Tensor) -> Result<Tensor> {
    lax::unary(UnaryOp::Not, a)
}
fn un(op: UnaryOp, x: &Tensor) -> Result<Tensor> {
    lax::unary(op, x)
}
/// `c - x` for a constant `c`.
fn rsub_c(c: f64, x: &Tensor) -> Result<Tensor> {
    lax::sub(&lax::full_like(x, c)?, x)
}
/// `c / x` for a constant `c`.
fn rdiv_c(c: f64, x: &Tensor) -> Result<Tensor> {
    lax::div(&lax::full_like(x, c)?, x)
}
fn sel(p: &Tensor, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    lax::select(p, a, b)
}

// ---------------------------------------------------------------------------
// keras.random
// ---------------------------------------------------------------------------

/// Samples from a normal distribution: `keras.random.normal`.
///
/// `dtype` defaults to `floatx`; `mean` and `stddev` are scalars or tensors
/// (`sample * stddev + mean`).
pub fn normal<'a>(
    shape: &[usize],
    mean: impl IntoTensor,
    stddev: impl IntoTensor,
    dtype: Option<DType>,
    seed: impl Into<Seed<'a>>,
) -> Result<Tensor> {
    let dtype = float_dtype_arg("normal", dtype)?;
    let key = TKey::scalar(seed.into().draw())?;
    scale_shift(normal_t(&key, shape, dtype)?, stddev, mean)
}

/// Samples uniformly from `[minval, maxval)`: `keras.random.uniform`.
/// Bounds are scalars or tensors broadcastable to `shape`.
pub fn uniform<'a>(
    shape: &[usize],
    minval: impl IntoTensor,
    maxval: impl IntoTensor,
    dtype: Option<DType>,
    seed: impl Into<Seed<'a>>,
) -> Result<Tensor> {
    let dtype = float_dtype_arg("uniform", dtype)?;
    let lo = param("uniform", minval, shape, dtype)?;
    let hi = param("uniform", maxval, shape, dtype)?;
    let key = TKey::scalar(seed.into().draw())?;
    uniform_t(&key, shape, dtype, &lo, &hi)
}

/// Samples from a normal distribution truncated to two standard deviations:
/// `keras.random.truncated_normal`. Inverse-CDF sampling (JAX's method): a pure
/// function of the bits, no rejection loop.
pub fn truncated_normal<'a>(
    shape: &[usize],
    mean: impl IntoTensor,
    stddev: impl IntoTensor,
    dtype: Option<DType>,
    seed: impl Into<Seed<'a>>,
) -> Result<Tensor> {
    let dtype = float_dtype_arg("truncated_normal", dtype)?;
    let key = TKey::scalar(seed.into().draw())?;
    let sqrt2 = lax::scalar(std::f64::consts::SQRT_2, dtype)?;
    let lower = lax::scalar(-2.0, dtype)?;
    let upper = lax::scalar(2.0, dtype)?;
    let a = un(UnaryOp::Erf, &lax::div(&lower, &sqrt2)?)?;
    let b = un(UnaryOp::Erf, &lax::div(&upper, &sqrt2)?)?;
    let u = uniform_t(&key, shape, dtype, &a, &b)?;
    let out = lax::mul(
        &lax::broadcast_to(&sqrt2, shape)?,
        &un(UnaryOp::Erfinv, &u)?,
    )?;
    // Clip into the open interval (lower, upper).
    let inf = f64::INFINITY;
    let lo = lax::binary(BinaryOp::NextAfter, &lower, &lax::scalar(inf, dtype)?)?;
    let hi = lax::binary(BinaryOp::NextAfter, &upper, &lax::scalar(-inf, dtype)?)?;
    let out = lax::binary(BinaryOp::Max, &out, &lax::broadcast_to(&lo, shape)?)?;
    let out = lax::binary(BinaryOp::Min, &out, &lax::broadcast_to(&hi, shape)?)?;
    scale_shift(out, stddev, mean)
}

/// Clamps an `i64` into the range of an integer dtype.
fn clip_to(v: i64, dtype: DType) -> i128 {
    let (lo, hi) = int_range(dtype);
    (v as i128).clamp(lo, hi)
}

fn int_range(dtype: DType) -> (i128, i128) {
    let b = dtype.bits() as u32;
    if dtype.is_signed_int() {
        (-(1i128 << (b - 1)), (1i128 << (b - 1)) - 1)
    } else {
        (0, (1i128 << b) - 1)
    }
}

/// Samples integers uniformly from `[minval, maxval)`: `keras.random.randint`.
/// `dtype` defaults to `int32` and must be an integer type. Uses JAX's
/// double-width modulus (bias ≈ span² / 2^(2·bits)); `maxval <= minval` gives
/// `minval`.
pub fn randint<'a>(
    shape: &[usize],
    minval: i64,
    maxval: i64,
    dtype: Option<DType>,
    seed: impl Into<Seed<'a>>,
) -> Result<Tensor> {
    let dtype = dtype.unwrap_or(DType::I32);
    if !dtype.is_int() {
        return Err(dtype_err(
            "randint",
            format!("requires an integer dtype, got {dtype}"),
        ));
    }
    let nbits = dtype.bits();
    let key = seed.into().draw();
    let (k1, k2) = split2(key);
    let hi_bits = bits_t(&TKey::scalar(k1)?, shape, nbits)?;
    let lo_bits = bits_t(&TKey::scalar(k2)?, shape, nbits)?;
    let udt = uint_dtype(nbits);
    let modulus: u128 = 1u128 << nbits;
    let (_, dmax) = int_range(dtype);
    let out_of_range = (maxval as i128) > dmax;
    let lo = clip_to(minval, dtype);
    let hi = clip_to(maxval, dtype);
    // span as an unsigned nbits word (0 means 2^nbits).
    let mut span: u128 = if hi <= lo {
        1
    } else {
        ((hi - lo) as u128) % modulus
    };
    if out_of_range && hi > lo {
        span = (span + 1) % modulus;
    }
    let offset = if span == 0 {
        // The full range: the remainders have no effect, the offset is the low word.
        lo_bits
    } else {
        let half = 1u128 << (nbits / 2);
        let mult = (half % span) * (half % span) % span;
        let sp = lax::full(shape, span as f64, udt)?;
        let rem = |x: &Tensor| lax::binary(BinaryOp::Rem, x, &sp);
        let m = lax::full(shape, mult as f64, udt)?;
        let off = lax::add(&lax::mul(&rem(&hi_bits)?, &m)?, &rem(&lo_bits)?)?;
        rem(&off)?
    };
    if nbits < 64 {
        let off = lax::convert(&offset, DType::I64)?;
        let r = lax::add(&off, &lax::full(shape, lo as f64, DType::I64)?)?;
        lax::convert(&r, dtype)
    } else {
        // Wrapping 64-bit addition in the unsigned domain.
        let base = lo.rem_euclid(modulus as i128) as u64;
        let base = lax::convert(
            &Tensor::from_vec(vec![base], Vec::<usize>::new())?,
            DType::U64,
        )?;
        let r = lax::add(&offset, &lax::broadcast_to(&base, shape)?)?;
        lax::convert(&r, dtype)
    }
}

/// Draws samples from a categorical distribution: `keras.random.categorical`.
/// `logits` is `[batch_size, num_classes]` (unnormalised log-probabilities); the
/// result is `[batch_size, num_samples]` of `dtype` (default `int32`). Gumbel-max.
pub fn categorical<'a>(
    logits: impl IntoTensor,
    num_samples: usize,
    dtype: Option<DType>,
    seed: impl Into<Seed<'a>>,
) -> Result<Tensor> {
    let logits = logits.into_tensor()?;
    if logits.ndim() != 2 {
        return Err(shape_err(
            "categorical",
            format!(
                "`logits` should be a 2-D tensor with shape [batch_size, num_classes], got shape {:?}",
                logits.shape()
            ),
        ));
    }
    let dtype = dtype.unwrap_or(DType::I32);
    if !dtype.is_int() {
        return Err(dtype_err(
            "categorical",
            format!("requires an integer dtype, got {dtype}"),
        ));
    }
    let logits = if logits.dtype().is_float() {
        logits.with_weak(false)
    } else {
        lax::convert(&logits, config::floatx())?
    };
    let fd = logits.dtype();
    let (b, k) = (logits.shape()[0], logits.shape()[1]);
    if k == 0 {
        return Err(shape_err("categorical", "`logits` has no classes"));
    }
    let key = TKey::scalar(seed.into().draw())?;
    let shape = [b, k, num_samples];
    let tiny = match fd {
        DType::F16 => (-14f64).exp2(),
        DType::F64 => f64::MIN_POSITIVE,
        _ => f32::MIN_POSITIVE as f64,
    };
    let u = uniform_c(&key, &shape, fd, tiny, 1.0)?;
    let g = un(
        UnaryOp::Neg,
        &un(UnaryOp::Log, &un(UnaryOp::Neg, &un(UnaryOp::Log, &u)?)?)?,
    )?;
    let l = lax::broadcast_in_dim(&logits, &shape, &[0, 1])?;
    let idx = lax::argreduce(ArgOp::ArgMax, &lax::add(&g, &l)?, 1, DType::I32)?;
    lax::convert(&idx, dtype)
}

/// Randomly sets inputs to zero with probability `rate` and scales the others by
/// `1 / (1 - rate)`: `keras.random.dropout`. `noise_shape` (broadcastable to the
/// input shape) shares the mask along its size-1 dimensions.
pub fn dropout<'a>(
    inputs: impl IntoTensor,
    rate: f64,
    noise_shape: Option<&[usize]>,
    seed: impl Into<Seed<'a>>,
) -> Result<Tensor> {
    let x = inputs.into_tensor()?;
    if !(0.0..=1.0).contains(&rate) {
        return Err(arg_err(
            "dropout",
            format!("rate must be in [0, 1], got {rate}"),
        ));
    }
    if rate == 1.0 {
        return lax::zeros_like(&x);
    }
    if rate == 0.0 {
        return Ok(x);
    }
    let key = TKey::scalar(seed.into().draw())?;
    let keep = 1.0 - rate;
    let ns = noise_shape.unwrap_or(x.shape()).to_vec();
    let u = unit_uniform(&key, &ns, DType::F32)?;
    let mask = cmp_c(CmpOp::Lt, &u, keep)?;
    let bshape = crate::shape::broadcast_shapes("dropout", &ns, x.shape())?;
    if bshape != x.shape() {
        return Err(shape_err(
            "dropout",
            format!(
                "noise_shape {ns:?} does not broadcast to the input shape {:?}",
                x.shape()
            ),
        ));
    }
    let mask = lax::broadcast_to(&mask, x.shape())?;
    let scaled = ops::divide(&x, keep)?;
    sel(&mask, &scaled, &lax::zeros_like(&scaled)?)
}

/// Shuffles the elements of `x` along `axis`: `keras.random.shuffle`. Like Keras on
/// JAX (`permutation(..., independent=True)`) and NumPy (`permuted`), every 1-D
/// slice along `axis` is permuted independently; for 1-D inputs this is a
/// permutation of the elements.
pub fn shuffle<'a>(x: impl IntoTensor, axis: i64, seed: impl Into<Seed<'a>>) -> Result<Tensor> {
    let x = x.into_tensor()?;
    if x.ndim() == 0 {
        return Err(shape_err("shuffle", "cannot shuffle a 0-d tensor"));
    }
    let ax = norm_axis("shuffle", axis, x.ndim())?;
    let mut key = seed.into().draw();
    let size = x.size().max(1) as f64;
    let rounds = (3.0 * size.ln() / (u32::MAX as f64).ln()).ceil() as usize;
    let mut x = x;
    for _ in 0..rounds {
        let (k, sub) = split2(key);
        key = k;
        let sort_keys = bits_t(&TKey::scalar(sub)?, x.shape(), 32)?;
        let (_, idx) = lax::sort(&sort_keys, ax, false)?;
        x = ops::take_along_axis(&x, &idx, Some(ax as i64))?;
    }
    Ok(x)
}

/// Marsaglia–Tsang for a batch of keys (one per element of `alpha`); JAX's
/// `_gamma_one` vectorised. Returns the sample, or its log when `log_space`.
fn gamma_one(keys: &TKey, alpha: &Tensor, log_space: bool) -> Result<Tensor> {
    let dtype = alpha.dtype();
    let boost_mask = cmp_c(CmpOp::Ge, alpha, 1.0)?;
    let alpha_orig = alpha.clone();
    let alpha = sel(&boost_mask, alpha, &lax::add_scalar(alpha, 1.0)?)?;
    let d = lax::sub(&alpha, &lax::full_like(&alpha, 1.0 / 3.0)?)?;
    let c = lax::div(&lax::full_like(&d, 1.0 / 3.0)?, &un(UnaryOp::Sqrt, &d)?)?;
    let ks = keys.split(2)?;
    let (mut key, subkey) = (ks[0].clone(), ks[1].clone());
    let mut xx = lax::full_like(&alpha, 0.0)?;
    let mut vv = lax::full_like(&alpha, 1.0)?;
    let mut uu = lax::full_like(&alpha, 2.0)?;
    let traced = alpha.is_traced();
    let max_outer = if traced {
        TRACED_GAMMA_ROUNDS
    } else {
        CONCRETE_MAX_ROUNDS
    };
    let max_inner = if traced {
        TRACED_GAMMA_INNER_ROUNDS
    } else {
        CONCRETE_MAX_ROUNDS
    };
    for _ in 0..max_outer {
        // JAX's cond: keep looping while the proposal is rejected.
        let sq = lax::mul(&lax::full_like(&xx, 0.0331)?, &lax::mul(&xx, &xx)?)?;
        let c1 = lax::compare(CmpOp::Ge, &uu, &rsub_c(1.0, &sq)?)?;
        let rhs = lax::add(
            &lax::mul_scalar(&xx, 0.5)?,
            &lax::mul(&d, &lax::add(&rsub_c(1.0, &vv)?, &un(UnaryOp::Log, &vv)?)?)?,
        )?;
        let c2 = lax::compare(CmpOp::Ge, &un(UnaryOp::Log, &uu)?, &rhs)?;
        let reject = and(&c1, &c2)?;
        if concrete_false(&any(&reject)?)? {
            break;
        }
        let k3 = key.split(3)?;
        let (nkey, x_key, u_key) = (&k3[0], &k3[1], &k3[2]);
        // Inner loop: draw x ~ N(0, 1) until v = 1 + c x > 0.
        let mut kx = x_key.clone();
        let mut x = lax::full_like(&alpha, 0.0)?;
        let mut v = lax::full_like(&alpha, -1.0)?;
        for _ in 0..max_inner {
            let active = cmp_c(CmpOp::Le, &v, 0.0)?;
            if concrete_false(&any(&active)?)? {
                break;
            }
            let k2 = kx.split(2)?;
            let xn = normal_t(&k2[1], &[], dtype)?;
            let vn = lax::add_scalar(&lax::mul(&xn, &c)?, 1.0)?;
            kx = TKey::select(&active, &k2[0], &kx)?;
            x = sel(&active, &xn, &x)?;
            v = sel(&active, &vn, &v)?;
        }
        let xn = lax::mul(&x, &x)?;
        let vn = lax::mul(&lax::mul(&v, &v)?, &v)?;
        let un_ = uniform_c(u_key, &[], dtype, 0.0, 1.0)?;
        key = TKey::select(&reject, nkey, &key)?;
        xx = sel(&reject, &xn, &xx)?;
        vv = sel(&reject, &vn, &vv)?;
        uu = sel(&reject, &un_, &uu)?;
    }
    let inv_alpha = rdiv_c(1.0, &alpha_orig)?;
    if log_space {
        let u = uniform_c(&subkey, &[], dtype, 0.0, 1.0)?;
        // -exponential = -(-log1p(-u)).
        let log_samples = un(UnaryOp::Log1p, &un(UnaryOp::Neg, &u)?)?;
        let zero = lax::full_like(&log_samples, 0.0)?;
        let is0 = lax::compare(CmpOp::Eq, &log_samples, &zero)?;
        let log_boost = sel(
            &or(&boost_mask, &is0)?,
            &zero,
            &lax::mul(&log_samples, &inv_alpha)?,
        )?;
        lax::add(
            &lax::add(&un(UnaryOp::Log, &d)?, &un(UnaryOp::Log, &vv)?)?,
            &log_boost,
        )
    } else {
        let samples = rsub_c(1.0, &uniform_c(&subkey, &[], dtype, 0.0, 1.0)?)?;
        let boost = sel(
            &boost_mask,
            &lax::full_like(&samples, 1.0)?,
            &lax::binary(BinaryOp::Pow, &samples, &inv_alpha)?,
        )?;
        lax::mul(&lax::mul(&d, &vv)?, &boost)
    }
}

/// JAX's `_gamma_impl`: one key per element from `split(key, size)`.
fn gamma_impl(key: Key, alpha: &Tensor, log_space: bool) -> Result<Tensor> {
    let shape = alpha.shape().to_vec();
    let n = alpha.size();
    if n == 0 {
        return Ok(alpha.clone());
    }
    let (k0, k1) = raw_bits(&TKey::scalar(key)?, &[n])?;
    let keys = TKey { k0, k1 };
    let a = lax::reshape(alpha, &[n])?;
    let s = gamma_one(&keys, &a, log_space)?;
    lax::reshape(&s, &shape)
}

/// Samples from the Gamma distribution with concentration `alpha` (scale 1):
/// `keras.random.gamma`. Marsaglia–Tsang (see the module docs for the loop
/// handling); `alpha` is a scalar or a tensor broadcastable to `shape`.
pub fn gamma<'a>(
    shape: &[usize],
    alpha: impl IntoTensor,
    dtype: Option<DType>,
    seed: impl Into<Seed<'a>>,
) -> Result<Tensor> {
    let dtype = float_dtype_arg("gamma", dtype)?;
    let a = param("gamma", alpha, shape, dtype)?;
    gamma_impl(seed.into().draw(), &a, false)
}

/// Samples from the Beta distribution: `keras.random.beta`. Computed as
/// `Ga / (Ga + Gb)` from two Gamma samples drawn in log space on split keys (JAX's
/// method), which stays accurate for small concentrations.
pub fn beta<'a>(
    shape: &[usize],
    alpha: impl IntoTensor,
    beta: impl IntoTensor,
    dtype: Option<DType>,
    seed: impl Into<Seed<'a>>,
) -> Result<Tensor> {
    let dtype = float_dtype_arg("beta", dtype)?;
    let a = param("beta", alpha, shape, dtype)?;
    let b = param("beta", beta, shape, dtype)?;
    let (ka, kb) = split2(seed.into().draw());
    let la = gamma_impl(ka, &a, true)?;
    let lb = gamma_impl(kb, &b, true)?;
    let m = lax::binary(BinaryOp::Max, &la, &lb)?;
    let ga = un(UnaryOp::Exp, &lax::sub(&la, &m)?)?;
    let gb = un(UnaryOp::Exp, &lax::sub(&lb, &m)?)?;
    lax::div(&ga, &lax::add(&ga, &gb)?)
}

/// JAX's `_stirling_approx_tail` (including its use of the clamped `k` in the
/// approximation).
fn stirling_tail(k: &Tensor) -> Result<Tensor> {
    const TAIL: [f64; 10] = [
        0.0810614667953272,
        0.0413406959554092,
        0.0276779256849983,
        0.02079067210376509,
        0.0166446911898211,
        0.0138761288230707,
        0.0118967099458917,
        0.0104112652619720,
        0.00925546218271273,
        0.00833056343336287,
    ];
    let dtype = k.dtype();
    let table = Tensor::from_f64s(&TAIL, vec![10], dtype)?;
    let use_tail = cmp_c(CmpOp::Le, k, 9.0)?;
    let kc = lax::binary(BinaryOp::Max, k, &lax::full_like(k, 0.0)?)?;
    let kc = lax::binary(BinaryOp::Min, &kc, &lax::full_like(k, 9.0)?)?;
    let kp1 = lax::add_scalar(&kc, 1.0)?;
    let kp1sq = lax::mul(&kp1, &kp1)?;
    let inner = lax::sub(
        &lax::full_like(k, 1.0 / 360.0)?,
        &lax::div(&lax::full_like(k, 1.0 / 1260.0)?, &kp1sq)?,
    )?;
    let approx = lax::div(
        &lax::sub(&lax::full_like(k, 1.0 / 12.0)?, &lax::div(&inner, &kp1sq)?)?,
        &kp1,
    )?;
    let idx = lax::convert(&un(UnaryOp::Floor, &kc)?, DType::I32)?;
    let tab = lax::gather(&table, &idx, 0)?;
    sel(&use_tail, &tab, &approx)
}

fn binomial_inversion(key: Key, count: &Tensor, prob: &Tensor, dtype: DType) -> Result<Tensor> {
    let shape = prob.shape().to_vec();
    let fd = prob.dtype();
    let log1mp = un(UnaryOp::Log1p, &un(UnaryOp::Neg, prob)?)?;
    // p == 0 would make every waiting time -inf (JAX loops forever): finish at once.
    let p0 = cmp_c(CmpOp::Eq, prob, 0.0)?;
    let inf = lax::full_like(prob, f64::INFINITY)?;
    let mut num_geom = lax::full_like(prob, 0.0)?;
    let mut geom_sum = lax::full_like(prob, 0.0)?;
    let mut key = key;
    let max = if prob.is_traced() {
        TRACED_BINOMIAL_INVERSION_ROUNDS
    } else {
        CONCRETE_MAX_ROUNDS
    };
    for _ in 0..max {
        let active = lax::compare(CmpOp::Le, &geom_sum, count)?;
        if concrete_false(&any(&active)?)? {
            break;
        }
        let (sub, k) = split2(key);
        key = k;
        num_geom = sel(&active, &lax::add_scalar(&num_geom, 1.0)?, &num_geom)?;
        let u = uniform_c(&TKey::scalar(sub)?, &shape, fd, 0.0, 1.0)?;
        let geom = un(UnaryOp::Ceil, &lax::div(&un(UnaryOp::Log, &u)?, &log1mp)?)?;
        let geom = sel(&p0, &inf, &geom)?;
        geom_sum = lax::add(&geom_sum, &geom)?;
    }
    lax::convert(&lax::add_scalar(&num_geom, -1.0)?, dtype)
}

fn binomial_btrs(key: Key, count: &Tensor, prob: &Tensor, dtype: DType) -> Result<Tensor> {
    let shape = prob.shape().to_vec();
    let fd = prob.dtype();
    let c = |v: f64| lax::full_like(prob, v);
    let one_m_p = rsub_c(1.0, prob)?;
    let stddev = un(UnaryOp::Sqrt, &lax::mul(&lax::mul(count, prob)?, &one_m_p)?)?;
    let b = lax::add(&c(1.15)?, &lax::mul(&c(2.53)?, &stddev)?)?;
    let a = lax::add(
        &lax::add(&c(-0.0873)?, &lax::mul(&c(0.0248)?, &b)?)?,
        &lax::mul(&c(0.01)?, prob)?,
    )?;
    let cc = lax::add(&lax::mul(count, prob)?, &c(0.5)?)?;
    let v_r = lax::sub(&c(0.92)?, &lax::div(&c(4.2)?, &b)?)?;
    let r = lax::div(prob, &one_m_p)?;
    let alpha = lax::mul(&lax::add(&c(2.83)?, &lax::div(&c(5.1)?, &b)?)?, &stddev)?;
    let m = un(
        UnaryOp::Floor,
        &lax::mul(&lax::add_scalar(count, 1.0)?, prob)?,
    )?;
    let log = |x: &Tensor| un(UnaryOp::Log, x);
    // Terms of the bound that do not depend on k.
    let n_m_1 = lax::add_scalar(&lax::sub(count, &m)?, 1.0)?;
    let t1 = lax::mul(
        &lax::add_scalar(&m, 0.5)?,
        &log(&lax::div(
            &lax::add_scalar(&m, 1.0)?,
            &lax::mul(&r, &n_m_1)?,
        )?)?,
    )?;
    let tail_m = stirling_tail(&m)?;
    let tail_nm = stirling_tail(&lax::sub(count, &m)?)?;
    let mut k_out = c(-1.0)?;
    let mut accepted = lax::full(&shape, 0.0, DType::Bool)?;
    let mut key = key;
    let max = if prob.is_traced() {
        TRACED_BINOMIAL_BTRS_ROUNDS
    } else {
        CONCRETE_MAX_ROUNDS
    };
    for _ in 0..max {
        // JAX stops only when every element has been accepted; until then later
        // acceptances overwrite earlier ones, so that is emulated exactly.
        let running = any(&not(&accepted)?)?;
        if concrete_false(&running)? {
            break;
        }
        let ks = split(key, 3);
        key = ks[0];
        let u = uniform_c(&TKey::scalar(ks[1])?, &shape, fd, 0.0, 1.0)?;
        let v = uniform_c(&TKey::scalar(ks[2])?, &shape, fd, 0.0, 1.0)?;
        let u = lax::sub(&u, &c(0.5)?)?;
        let us = rsub_c(0.5, &un(UnaryOp::Abs, &u)?)?;
        let accept1 = and(
            &cmp_c(CmpOp::Ge, &us, 0.07)?,
            &lax::compare(CmpOp::Le, &v, &v_r)?,
        )?;
        let k = lax::add(
            &lax::mul(
                &lax::add(&lax::div(&lax::mul(&c(2.0)?, &a)?, &us)?, &b)?,
                &u,
            )?,
            &cc,
        )?;
        let k = un(UnaryOp::Floor, &k)?;
        let reject = or(
            &cmp_c(CmpOp::Lt, &k, 0.0)?,
            &lax::compare(CmpOp::Gt, &k, count)?,
        )?;
        let v = log(&lax::div(
            &lax::mul(&v, &alpha)?,
            &lax::add(&lax::div(&a, &lax::mul(&us, &us)?)?, &b)?,
        )?)?;
        let n_k_1 = lax::add_scalar(&lax::sub(count, &k)?, 1.0)?;
        let t2 = lax::mul(
            &lax::add_scalar(count, 1.0)?,
            &log(&lax::div(&n_m_1, &n_k_1)?)?,
        )?;
        let t3 = lax::mul(
            &lax::add_scalar(&k, 0.5)?,
            &log(&lax::div(
                &lax::mul(&r, &n_k_1)?,
                &lax::add_scalar(&k, 1.0)?,
            )?)?,
        )?;
        let ub = lax::add(&lax::add(&t1, &t2)?, &t3)?;
        let ub = lax::add(&lax::add(&ub, &tail_m)?, &tail_nm)?;
        let ub = lax::sub(&ub, &stirling_tail(&k)?)?;
        let ub = lax::sub(&ub, &stirling_tail(&lax::sub(count, &k)?)?)?;
        let accept2 = lax::compare(CmpOp::Le, &v, &ub)?;
        let accept = or(&accept1, &and(&not(&reject)?, &accept2)?)?;
        // Under tracing the loop cannot stop early: freeze once all were accepted.
        let accept = and(&accept, &lax::broadcast_to(&running, &shape)?)?;
        k_out = sel(&accept, &k, &k_out)?;
        accepted = or(&accepted, &accept)?;
    }
    lax::convert(&k_out, dtype)
}

/// Samples from a binomial distribution with `counts` trials and success
/// probability `probabilities`: `keras.random.binomial`. `dtype` (default
/// `floatx`) is the dtype of the result; both parameters are scalars or tensors
/// broadcastable to `shape`.
///
/// Algorithm (JAX's and TensorFlow's): with `q = min(p, 1 - p)`, elements with
/// `counts * q <= 10` use inversion (summing geometric waiting times), the others
/// BTRS (Hörmann's transformed rejection); `p > 0.5` samples `counts - X(1 - p)`.
/// Invalid parameters (`p` outside `[0, 1]`, NaN, negative counts) give NaN and
/// infinite counts give infinity.
pub fn binomial<'a>(
    shape: &[usize],
    counts: impl IntoTensor,
    probabilities: impl IntoTensor,
    dtype: Option<DType>,
    seed: impl Into<Seed<'a>>,
) -> Result<Tensor> {
    let dtype = dtype.unwrap_or_else(config::floatx);
    let p = probabilities.into_tensor()?;
    let fd = if p.dtype().is_float() && !p.is_weak() {
        p.dtype()
    } else {
        DType::F32
    };
    let prob = param("binomial", &p, shape, fd)?;
    let count = param("binomial", counts, shape, fd)?;
    let key = seed.into().draw();
    let c = |v: f64| lax::full_like(&prob, v);
    let p_lt_half = cmp_c(CmpOp::Lt, &prob, 0.5)?;
    let q = sel(&p_lt_half, &prob, &rsub_c(1.0, &prob)?)?;
    let count_nan_or_neg = or(
        &un(UnaryOp::IsNan, &count)?,
        &cmp_c(CmpOp::Lt, &count, 0.0)?,
    )?;
    let count_inf = un(UnaryOp::IsInf, &count)?;
    let q_is_nan = un(UnaryOp::IsNan, &q)?;
    let q_l_0 = cmp_c(CmpOp::Lt, &q, 0.0)?;
    let q = sel(&or(&q_is_nan, &q_l_0)?, &c(0.01)?, &q)?;
    let use_inv = or(
        &count_nan_or_neg,
        &cmp_c(CmpOp::Le, &lax::mul(&count, &q)?, 10.0)?,
    )?;
    let count = un(UnaryOp::Floor, &count)?;
    let count_inv = sel(&use_inv, &count, &c(0.0)?)?;
    let count_btrs = sel(&use_inv, &c(1e4)?, &count)?;
    let q_btrs = sel(&use_inv, &c(0.5)?, &q)?;
    let inv = binomial_inversion(key, &count_inv, &q, dtype)?;
    let btrs = binomial_btrs(key, &count_btrs, &q_btrs, dtype)?;
    let samples = sel(&use_inv, &inv, &btrs)?;
    let invalid = or(&or(&q_l_0, &q_is_nan)?, &count_nan_or_neg)?;
    let samples = sel(&invalid, &lax::full_like(&samples, f64::NAN)?, &samples)?;
    let samples = sel(
        &and(&count_inf, &not(&invalid)?)?,
        &lax::full_like(&samples, f64::INFINITY)?,
        &samples,
    )?;
    let keep = or(
        &or(&or(&p_lt_half, &count_nan_or_neg)?, &q_is_nan)?,
        &count_inf,
    )?;
    let flipped = lax::sub(&lax::convert(&count, dtype)?, &samples)?;
    sel(&keep, &samples, &flipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threefry_known_answers() {
        // Random123 known-answer vectors (also in JAX's tests).
        assert_eq!(threefry2x32_block([0, 0], [0, 0]), [0x6b200159, 0x99ba4efe]);
        assert_eq!(
            threefry2x32_block([u32::MAX, u32::MAX], [u32::MAX, u32::MAX]),
            [0x1cb996fc, 0xbb002be7]
        );
        assert_eq!(
            threefry2x32_block([0x13198a2e, 0x03707344], [0x243f6a88, 0x85a308d3]),
            [0xc4923a9c, 0x483df7a0]
        );
    }

    #[test]
    fn seed_generator_steps() {
        let g = SeedGenerator::new(7);
        assert_eq!(g.next(), [7, 0]);
        assert_eq!(g.next(), [7, 1]);
        assert_eq!(g.state(), [7, 2]);
        let h = SeedGenerator::new(7);
        assert_eq!(h.next_unordered(), [7, 0]);
        assert_eq!(h.state(), [8 * 5387, 5387]); // 8 * 5387 < 933199, so no wrap
        assert_eq!(key_from_seed(42), [42, 0]);
        assert_eq!(prng_key(42), [0, 42]);
        assert_eq!(key_from_seed((3u64 << 32) | 5), [5, 3]);
    }

    #[test]
    fn seed_conversions() {
        let g = SeedGenerator::new(1);
        assert!(matches!(Seed::from(3), Seed::Int(3)));
        assert!(matches!(Seed::from(None), Seed::Global));
        assert!(matches!(Seed::from(&g), Seed::Generator(_)));
        assert!(matches!(Seed::from([1u32, 2]), Seed::Key([1, 2])));
    }
}
