//! # ceras — Keras 3, built in Rust
//!
//! The umbrella crate. Backends are cargo features (`cpu`, on by default) and
//! register themselves; model code never names one.
//!
//! ```
//! use ceras::{ops, Tensor};
//! let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], [3]).unwrap();
//! let y = ops::multiply(&x, 2.0).unwrap();
//! assert_eq!(y.to_vec::<f32>().unwrap(), vec![2.0, 4.0, 6.0]);
//! ```
#![warn(missing_docs)]

pub use ceras_core::{
    autodiff, backend, config, dtype, lax, npy, ops, prim, random, shape, storage, trace,
};
pub use ceras_core::{error, DType, Element, Error, HostData, IntoTensor, Result, Tensor};

pub mod activations;
pub mod callbacks;
pub mod datasets;
pub mod initializers;
pub mod layers;
pub mod losses;
pub mod metrics;
pub mod models;
pub mod optimizers;
pub mod regularizers;
pub mod saving;
mod variable;

pub use models::{Functional, Input, KerasTensor, Model, Sequential};
pub use variable::{in_stateless_scope, StatelessScope, Variable};

#[cfg(feature = "cpu")]
#[doc(hidden)]
pub use ceras_cpu as _cpu_backend;

#[cfg(feature = "torch")]
pub mod torch;

/// Makes sure the compiled-in backends are linked into the final binary (their
/// `inventory` registrations live in their crates). Called implicitly by nothing:
/// linking happens because this crate references them.
#[doc(hidden)]
pub fn link_backends() {
    #[cfg(feature = "cpu")]
    ceras_cpu::register();
    #[cfg(feature = "torch")]
    ceras_torch::register();
}
