//! With the `torch` feature: gives the tests, examples and benchmarks of this
//! crate an rpath to libtorch (so they run without LD_LIBRARY_PATH), and links
//! libtorch's CUDA library when it is installed (`CERAS_TORCH_CUDA=1
//! tools/setup_torch.sh`): nothing references its symbols, so the linker would
//! otherwise drop it and libtorch would not see the GPU.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_TORCH").is_none() {
        return;
    }
    println!("cargo:rerun-if-env-changed=DEP_CERAS_TORCH_LIBTORCH_LIB");
    if let Ok(lib) = std::env::var("DEP_CERAS_TORCH_LIBTORCH_LIB") {
        // For crates that depend on ceras (the CLI): DEP_CERAS_LIBTORCH_LIB.
        println!("cargo:libtorch_lib={lib}");
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
        if std::path::Path::new(&lib).join("libtorch_cuda.so").exists() {
            println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
            println!("cargo:rustc-link-arg=-ltorch_cuda");
            println!("cargo:rustc-link-arg=-Wl,--as-needed");
        }
    }
}
