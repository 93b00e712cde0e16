//! Exposes the resolved burn and candle versions (from Cargo.lock) to the
//! binary as BURN_VERSION / CANDLE_VERSION, so the JSON never goes stale.
use std::{env, fs, path::Path};

fn locked_version(lock: &str, name: &str) -> String {
    let needle = format!("name = \"{name}\"\nversion = \"");
    lock.find(&needle)
        .map(|i| {
            let rest = &lock[i + needle.len()..];
            rest[..rest.find('"').unwrap()].to_string()
        })
        .unwrap_or_else(|| "unknown".into())
}

fn main() {
    let lock = Path::new(&env::var("CARGO_MANIFEST_DIR").unwrap()).join("Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock.display());
    let lock = fs::read_to_string(lock).unwrap_or_default();
    println!(
        "cargo:rustc-env=BURN_VERSION={}",
        locked_version(&lock, "burn")
    );
    println!(
        "cargo:rustc-env=CANDLE_VERSION={}",
        locked_version(&lock, "candle-core")
    );
}
