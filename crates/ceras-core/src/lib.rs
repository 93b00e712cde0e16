//! # ceras-core
//!
//! The backend-independent heart of ceras: [`Tensor`], [`DType`], the closed
//! [primitive set](prim::Prim), the object-safe [`Backend`](backend::Backend) trait,
//! reverse-mode [autodiff], [tracing](trace), the `keras.ops` namespace ([`ops`]),
//! [`random`] and [`config`]. It never names a concrete backend: backends register
//! themselves (see [`backend::BackendRegistration`]).
#![warn(missing_docs)]

pub mod autodiff;
pub mod backend;
pub mod config;
pub mod dispatch;
mod display;
pub mod dtype;
pub mod error;
pub mod lax;
pub mod npy;
pub mod ops;
pub mod prim;
pub mod random;
pub mod shape;
pub mod storage;
pub mod tensor;
mod tensor_ops;
pub mod trace;

pub use dtype::DType;
pub use error::{Error, Result};
pub use storage::{Element, HostData};
pub use tensor::{IntoTensor, Tensor};

// Re-exported so the `dispatch_dtype!` macro resolves `half::` in downstream crates.
#[doc(hidden)]
pub use half;
