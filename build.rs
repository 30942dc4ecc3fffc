//! Build script: generates `include/ponynet.h` with cbindgen and sets the
//! shared library's soname.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

#[path = "build/sockopt.rs"]
mod sockopt;

const SONAME: &str = "libponynet.so.0";

fn main() {
    let crate_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));

    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=build.rs");

    if env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{SONAME}");
    }

    sockopt::generate(&crate_dir, &out_dir);
    generate_header(&crate_dir, &out_dir);
    compile_pony_runtime_imports();
}

/// Weak imports of the Pony runtime (PONY_MODE.md §4): stable Rust cannot
/// declare weak symbols, so a small C file does.
fn compile_pony_runtime_imports() {
    println!("cargo:rerun-if-changed=src/host/pony_runtime.c");
    cc::Build::new()
        .file("src/host/pony_runtime.c")
        .flag_if_supported("-fvisibility=hidden")
        .warnings(true)
        .extra_warnings(true)
        .warnings_into_errors(true)
        .compile("ponynet_pony_runtime");
}

/// Writes the header to `OUT_DIR` (what the freshness test compares with the
/// committed copy) and to `include/` when its content changed.
fn generate_header(crate_dir: &Path, out_dir: &Path) {
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("cbindgen.toml is valid");
    let bindings = match cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
    {
        Ok(b) => b,
        Err(e) => panic!("cbindgen failed: {e}"),
    };
    let generated = out_dir.join("ponynet.h");
    bindings.write_to_file(&generated);

    let committed = crate_dir.join("include").join("ponynet.h");
    let new = fs::read(&generated).expect("read generated header");
    if fs::read(&committed).ok().as_deref() != Some(new.as_slice()) {
        fs::create_dir_all(committed.parent().expect("include dir")).expect("mkdir include");
        fs::write(&committed, &new).expect("write include/ponynet.h");
    }
}
