//! Passes on the libtorch library directory torch-sys linked against, so that
//! crates using this backend can give their binaries an rpath to it, and gives
//! this crate's own test binaries that rpath.

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:libtorch_lib={lib}");
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    }
}
