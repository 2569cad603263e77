//! Link libcapbroker.
//!
//! `CAPBROKER_LIB_DIR` set: link the library in that directory (the
//! build tree, `make rust-check`) and record the directory as an rpath
//! of this package's tests and examples, so they load that library and
//! not an installed one.  Unset: ask pkg-config for `capbroker` (the
//! `capbroker.pc` that `make install` installs).

use std::env;
use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=CAPBROKER_LIB_DIR");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    println!("cargo:rerun-if-changed=build.rs");
    if let Some(dir) = env::var_os("CAPBROKER_LIB_DIR") {
        let dir = Path::new(&dir);
        if !dir.join("libcapbroker.so").exists() {
            panic!(
                "CAPBROKER_LIB_DIR={} has no libcapbroker.so: build it \
                 first (make O=<dir> all) or unset CAPBROKER_LIB_DIR to \
                 use pkg-config",
                dir.display()
            );
        }
        println!("cargo:rustc-link-search=native={}", dir.display());
        println!("cargo:rustc-link-lib=dylib=capbroker");
        // Only this package's own tests and examples get the rpath:
        // a dependent crate links through the search path above and
        // finds the library at run time as any program would.
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
        return;
    }
    match pkg_config() {
        Ok(dirs) => {
            for d in dirs {
                println!("cargo:rustc-link-search=native={}", d);
            }
            println!("cargo:rustc-link-lib=dylib=capbroker");
        }
        Err(why) => panic!(
            "cannot find libcapbroker: {}.\n\
             Either install it (make install; its capbroker.pc must be \
             on PKG_CONFIG_PATH) or set CAPBROKER_LIB_DIR to a directory \
             holding libcapbroker.so (e.g. the C build directory).",
            why
        ),
    }
}

/// The -L directories of `pkg-config --libs capbroker`.
fn pkg_config() -> Result<Vec<String>, String> {
    let out = Command::new("pkg-config")
        .args(["--libs", "capbroker"])
        .output()
        .map_err(|e| format!("pkg-config could not be run ({})", e))?;
    if !out.status.success() {
        return Err(format!(
            "pkg-config --libs capbroker failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let libs = String::from_utf8_lossy(&out.stdout).into_owned();
    Ok(libs
        .split_whitespace()
        .filter_map(|f| f.strip_prefix("-L"))
        .map(str::to_owned)
        .collect())
}
