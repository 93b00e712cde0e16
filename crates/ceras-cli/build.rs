//! When ceras is built with its `torch` feature (this crate's `torch` feature,
//! or feature unification in the workspace), gives the `ceras` binary and its
//! tests an rpath to libtorch, so they run without LD_LIBRARY_PATH.

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_CERAS_LIBTORCH_LIB");
    if let Ok(lib) = std::env::var("DEP_CERAS_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    }
}
