//! Fuzz target: loading a `.keras` file from bytes must never panic, hang or
//! over-allocate — damaged zips, configs and weight files give errors.
//!
//! Run with `cargo +nightly fuzz run load_keras` from `fuzz/` (seed corpus in
//! `corpus/load_keras`: Keras-written models from tests/fixtures/keras).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ceras::saving::load_model_from_bytes(data, ceras::saving::LoadOptions::default());
});
