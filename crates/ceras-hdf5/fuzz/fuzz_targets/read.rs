//! Fuzz target: `read` must never panic, hang or over-allocate; whatever it
//! accepts must survive a write/read round trip.
//!
//! Run with `cargo +nightly fuzz run read` from `crates/ceras-hdf5/fuzz`
//! (seed corpus in `corpus/read`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(tree) = ceras_hdf5::read(data) {
        // Trees read from hostile input may hold names or strings the writer
        // refuses (e.g. NUL bytes); everything it accepts must read back.
        if let Ok(bytes) = ceras_hdf5::write(&tree) {
            let back = ceras_hdf5::read(&bytes).expect("writer output must be readable");
            assert_eq!(back.members.len(), tree.members.len());
        }
    }
});
