//! `keras.initializers`: the same distributions, defaults and fan computations.
//!
//! ```
//! use ceras::initializers::Initializer;
//! let w = Initializer::from("glorot_uniform").init(&[64, 10], None).unwrap();
//! let limit = (6.0f32 / 74.0).sqrt();
//! assert!(w.to_vec::<f32>().unwrap().iter().all(|v| v.abs() <= limit));
//! ```

use crate::error::arg_err;
use crate::random::{self, Seed};
use crate::{config, ops, DType, Result, Tensor};
use std::sync::Arc;

/// Fan mode of [`Initializer::VarianceScaling`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FanMode {
    /// `fan_in`
    FanIn,
    /// `fan_out`
    FanOut,
    /// `fan_avg`
    FanAvg,
}

/// Distribution of [`Initializer::VarianceScaling`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Distribution {
    /// `truncated_normal` (stddev corrected for the truncation)
    TruncatedNormal,
    /// `untruncated_normal`
    UntruncatedNormal,
    /// `uniform`
    Uniform,
}

type InitFn = Arc<dyn Fn(&[usize], DType) -> Result<Tensor> + Send + Sync>;

/// An initializer: a Keras name (`"glorot_uniform"`), a typed value, or a closure.
#[derive(Clone)]
pub enum Initializer {
    /// `Zeros`
    Zeros,
    /// `Ones`
    Ones,
    /// `Constant(value)`
    Constant(f64),
    /// `RandomNormal(mean=0.0, stddev=0.05)`
    RandomNormal {
        /// mean
        mean: f64,
        /// standard deviation
        stddev: f64,
        /// seed (`None`: the global generator)
        seed: Option<u64>,
    },
    /// `RandomUniform(minval=-0.05, maxval=0.05)`
    RandomUniform {
        /// lower bound
        minval: f64,
        /// upper bound
        maxval: f64,
        /// seed
        seed: Option<u64>,
    },
    /// `TruncatedNormal(mean=0.0, stddev=0.05)`
    TruncatedNormal {
        /// mean
        mean: f64,
        /// standard deviation (before truncation)
        stddev: f64,
        /// seed
        seed: Option<u64>,
    },
    /// `VarianceScaling(scale=1.0, mode="fan_in", distribution="truncated_normal")`;
    /// Glorot, He and LeCun initializers are instances of it.
    VarianceScaling {
        /// scale
        scale: f64,
        /// fan mode
        mode: FanMode,
        /// distribution
        distribution: Distribution,
        /// seed
        seed: Option<u64>,
    },
    /// `Identity(gain=1.0)` (2-D only)
    Identity(f64),
    /// `Orthogonal(gain=1.0)`: an orthogonal matrix (QR of a normal sample, signs
    /// fixed by the diagonal of R), reshaped to the weight shape.
    Orthogonal {
        /// multiplier
        gain: f64,
        /// seed
        seed: Option<u64>,
    },
    /// A user function of (shape, dtype).
    Custom(String, InitFn),
    /// An unknown name, reported when used.
    Unknown(String),
}

impl std::fmt::Debug for Initializer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Initializer::Custom(n, _) => write!(f, "Custom({n})"),
            Initializer::Zeros => write!(f, "Zeros"),
            Initializer::Ones => write!(f, "Ones"),
            Initializer::Constant(v) => write!(f, "Constant({v})"),
            Initializer::RandomNormal { mean, stddev, .. } => {
                write!(f, "RandomNormal({mean}, {stddev})")
            }
            Initializer::RandomUniform { minval, maxval, .. } => {
                write!(f, "RandomUniform({minval}, {maxval})")
            }
            Initializer::TruncatedNormal { mean, stddev, .. } => {
                write!(f, "TruncatedNormal({mean}, {stddev})")
            }
            Initializer::VarianceScaling {
                scale,
                mode,
                distribution,
                ..
            } => write!(f, "VarianceScaling({scale}, {mode:?}, {distribution:?})"),
            Initializer::Identity(g) => write!(f, "Identity({g})"),
            Initializer::Orthogonal { gain, .. } => write!(f, "Orthogonal({gain})"),
            Initializer::Unknown(n) => write!(f, "Unknown({n})"),
        }
    }
}

fn vs(scale: f64, mode: FanMode, distribution: Distribution) -> Initializer {
    Initializer::VarianceScaling {
        scale,
        mode,
        distribution,
        seed: None,
    }
}

impl From<&str> for Initializer {
    fn from(s: &str) -> Self {
        use Distribution::*;
        use FanMode::*;
        let key: String = s
            .chars()
            .filter(|c| *c != '_')
            .collect::<String>()
            .to_lowercase();
        match key.as_str() {
            "zeros" | "zero" => Initializer::Zeros,
            "ones" | "one" => Initializer::Ones,
            "constant" => Initializer::Constant(0.0),
            "randomnormal" | "normal" => Initializer::RandomNormal {
                mean: 0.0,
                stddev: 0.05,
                seed: None,
            },
            "randomuniform" | "uniform" => Initializer::RandomUniform {
                minval: -0.05,
                maxval: 0.05,
                seed: None,
            },
            "truncatednormal" => Initializer::TruncatedNormal {
                mean: 0.0,
                stddev: 0.05,
                seed: None,
            },
            "variancescaling" => vs(1.0, FanIn, TruncatedNormal),
            "glorotuniform" => vs(1.0, FanAvg, Uniform),
            "glorotnormal" => vs(1.0, FanAvg, TruncatedNormal),
            "heuniform" => vs(2.0, FanIn, Uniform),
            "henormal" => vs(2.0, FanIn, TruncatedNormal),
            "lecununiform" => vs(1.0, FanIn, Uniform),
            "lecunnormal" => vs(1.0, FanIn, TruncatedNormal),
            "identity" => Initializer::Identity(1.0),
            "orthogonal" => Initializer::Orthogonal {
                gain: 1.0,
                seed: None,
            },
            _ => Initializer::Unknown(s.to_string()),
        }
    }
}

/// Keras's `compute_fans`: `(fan_in, fan_out)` of a weight shape.
pub fn compute_fans(shape: &[usize]) -> (f64, f64) {
    match shape.len() {
        0 => (1.0, 1.0),
        1 => (shape[0] as f64, shape[0] as f64),
        2 => (shape[0] as f64, shape[1] as f64),
        n => {
            let receptive: usize = shape[..n - 2].iter().product();
            (
                (shape[n - 2] * receptive) as f64,
                (shape[n - 1] * receptive) as f64,
            )
        }
    }
}

fn seed_of<'a>(s: Option<u64>) -> Seed<'a> {
    match s {
        Some(v) => Seed::Int(v),
        None => Seed::Global,
    }
}

impl Initializer {
    /// A custom initializer from a closure of (shape, dtype).
    pub fn custom(
        name: &str,
        f: impl Fn(&[usize], DType) -> Result<Tensor> + Send + Sync + 'static,
    ) -> Initializer {
        Initializer::Custom(name.into(), Arc::new(f))
    }

    /// `GlorotUniform` with a seed.
    pub fn glorot_uniform(seed: Option<u64>) -> Initializer {
        Initializer::VarianceScaling {
            scale: 1.0,
            mode: FanMode::FanAvg,
            distribution: Distribution::Uniform,
            seed,
        }
    }

    /// Keras's class name (for configs and summaries).
    pub fn class_name(&self) -> String {
        match self {
            Initializer::Zeros => "Zeros".into(),
            Initializer::Ones => "Ones".into(),
            Initializer::Constant(_) => "Constant".into(),
            Initializer::RandomNormal { .. } => "RandomNormal".into(),
            Initializer::RandomUniform { .. } => "RandomUniform".into(),
            Initializer::TruncatedNormal { .. } => "TruncatedNormal".into(),
            Initializer::VarianceScaling {
                scale,
                mode,
                distribution,
                ..
            } => match (*scale, mode, distribution) {
                (1.0, FanMode::FanAvg, Distribution::Uniform) => "GlorotUniform".into(),
                (1.0, FanMode::FanAvg, Distribution::TruncatedNormal) => "GlorotNormal".into(),
                (2.0, FanMode::FanIn, Distribution::Uniform) => "HeUniform".into(),
                (2.0, FanMode::FanIn, Distribution::TruncatedNormal) => "HeNormal".into(),
                (1.0, FanMode::FanIn, Distribution::Uniform) => "LecunUniform".into(),
                (1.0, FanMode::FanIn, Distribution::TruncatedNormal) => "LecunNormal".into(),
                _ => "VarianceScaling".into(),
            },
            Initializer::Identity(_) => "Identity".into(),
            Initializer::Orthogonal { .. } => "Orthogonal".into(),
            Initializer::Custom(n, _) => n.clone(),
            Initializer::Unknown(n) => n.clone(),
        }
    }

    /// A tensor of `shape` and `dtype` (`None`: floatx).
    pub fn init(&self, shape: &[usize], dtype: Option<DType>) -> Result<Tensor> {
        let dtype = match dtype {
            Some(d) => d,
            None => config::floatx(),
        };
        match self {
            Initializer::Zeros => ops::zeros(shape, Some(dtype)),
            Initializer::Ones => ops::ones(shape, Some(dtype)),
            Initializer::Constant(v) => ops::full(shape, *v, Some(dtype)),
            Initializer::RandomNormal { mean, stddev, seed } => {
                random::normal(shape, *mean, *stddev, Some(dtype), seed_of(*seed))
            }
            Initializer::RandomUniform {
                minval,
                maxval,
                seed,
            } => random::uniform(shape, *minval, *maxval, Some(dtype), seed_of(*seed)),
            Initializer::TruncatedNormal { mean, stddev, seed } => {
                random::truncated_normal(shape, *mean, *stddev, Some(dtype), seed_of(*seed))
            }
            Initializer::VarianceScaling {
                scale,
                mode,
                distribution,
                seed,
            } => {
                let (fi, fo) = compute_fans(shape);
                let fan = match mode {
                    FanMode::FanIn => fi,
                    FanMode::FanOut => fo,
                    FanMode::FanAvg => (fi + fo) / 2.0,
                };
                let scale = scale / fan.max(1.0);
                match distribution {
                    Distribution::TruncatedNormal => {
                        // Stddev of a unit normal truncated to [-2, 2].
                        let stddev = scale.sqrt() / 0.879_625_661_034_239_8;
                        random::truncated_normal(shape, 0.0, stddev, Some(dtype), seed_of(*seed))
                    }
                    Distribution::UntruncatedNormal => {
                        random::normal(shape, 0.0, scale.sqrt(), Some(dtype), seed_of(*seed))
                    }
                    Distribution::Uniform => {
                        let limit = (3.0 * scale).sqrt();
                        random::uniform(shape, -limit, limit, Some(dtype), seed_of(*seed))
                    }
                }
            }
            Initializer::Identity(gain) => {
                if shape.len() != 2 {
                    return Err(arg_err(
                        "Identity initializer",
                        format!("needs a 2-D shape, got {shape:?}"),
                    ));
                }
                ops::multiply(ops::eye(shape[0], Some(shape[1]), 0, Some(dtype))?, *gain)
            }
            Initializer::Orthogonal { gain, seed } => orthogonal(shape, *gain, *seed, dtype),
            Initializer::Custom(_, f) => f(shape, dtype),
            Initializer::Unknown(n) => Err(arg_err(
                "initializers.get",
                format!(
                    "unknown initializer '{n}'; expected one of zeros, ones, constant, \
                     random_normal, random_uniform, truncated_normal, variance_scaling, \
                     glorot_uniform, glorot_normal, he_uniform, he_normal, lecun_uniform, \
                     lecun_normal, identity, orthogonal"
                ),
            )),
        }
    }
}

/// Keras's `Orthogonal`: for a weight of shape `(..., cols)` with `rows` the
/// product of the other dims, QR-decompose a normal `(max, min)` sample, flip the
/// columns of Q by the signs of R's diagonal, transpose when `rows < cols`.
fn orthogonal(shape: &[usize], gain: f64, seed: Option<u64>, dtype: DType) -> Result<Tensor> {
    if shape.len() < 2 {
        return Err(arg_err(
            "Orthogonal initializer",
            format!("needs a shape of at least 2 dimensions, got {shape:?}"),
        ));
    }
    let cols = shape[shape.len() - 1];
    let rows: usize = shape[..shape.len() - 1].iter().product();
    let (m, n) = (rows.max(cols), rows.min(cols));
    let a = random::normal(&[m, n], 0.0, 1.0, Some(DType::F64), seed_of(seed))?.to_vec::<f64>()?;
    // Householder QR of the m×n sample (m >= n): Q's first n columns.
    let mut r = a; // row-major m×n, becomes R in the upper triangle
    let mut vs: Vec<Vec<f64>> = Vec::with_capacity(n);
    for k in 0..n {
        let norm = (k..m).map(|i| r[i * n + k].powi(2)).sum::<f64>().sqrt();
        let mut v: Vec<f64> = (k..m).map(|i| r[i * n + k]).collect();
        let alpha = if v[0] >= 0.0 { -norm } else { norm };
        v[0] -= alpha;
        let vnorm = v.iter().map(|x| x * x).sum::<f64>();
        if vnorm > 0.0 {
            for j in k..n {
                let dot: f64 = (k..m).map(|i| v[i - k] * r[i * n + j]).sum();
                let f = 2.0 * dot / vnorm;
                for i in k..m {
                    r[i * n + j] -= f * v[i - k];
                }
            }
        }
        vs.push(v);
    }
    // Q = H_0 H_1 … H_{n-1} applied to the first n columns of the identity.
    let mut q = vec![0.0f64; m * n];
    for j in 0..n {
        q[j * n + j] = 1.0;
    }
    for k in (0..n).rev() {
        let v = &vs[k];
        let vnorm = v.iter().map(|x| x * x).sum::<f64>();
        if vnorm == 0.0 {
            continue;
        }
        for j in 0..n {
            let dot: f64 = (k..m).map(|i| v[i - k] * q[i * n + j]).sum();
            let f = 2.0 * dot / vnorm;
            for i in k..m {
                q[i * n + j] -= f * v[i - k];
            }
        }
    }
    for j in 0..n {
        let d = r[j * n + j];
        let s = if d < 0.0 {
            -1.0
        } else if d > 0.0 {
            1.0
        } else {
            0.0
        };
        for i in 0..m {
            q[i * n + j] *= s * gain;
        }
    }
    let q = Tensor::from_vec(q, [m, n])?;
    let q = if rows < cols {
        ops::transpose(&q, None)?
    } else {
        q
    };
    let shape_i: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
    ops::cast(ops::reshape(&q, &shape_i)?, dtype)
}
