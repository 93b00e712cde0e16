//! Saving and loading: Keras's `.keras` model files and `.weights.h5` weight
//! files (interchangeable with Python Keras 3), object configs
//! ([`serialize`]), the layer registry ([`registry`]), and ceras's own
//! `.weights.npz` files.
//!
//! Every file is written atomically: to a temporary file in the same directory,
//! then renamed over the target, so a crash never leaves a half-written file.

pub mod compile_config;
pub mod keras;
pub mod legacy_h5;
mod npz;
pub mod registry;
pub mod serialize;

pub use keras::{
    load_model, load_model_from_bytes, load_model_with, model_from_config, save_model, LoadOptions,
    LoadedModel,
};
pub use npz::{load_weights, save_weights};
