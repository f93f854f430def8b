//! Tells the crate it is built for ThreadSanitizer (`-Zsanitizer=thread`), which models
//! atomic accesses but not standalone fences: there, the few fences used to synchronize
//! become the equivalent acquire loads (see `pool/task.rs`). `cfg(sanitize = "thread")`
//! itself is unstable to name in code, but cargo passes it to build scripts.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let sanitize = std::env::var("CARGO_CFG_SANITIZE").unwrap_or_default();
    if sanitize.split(',').any(|s| s == "thread") {
        println!("cargo:rustc-cfg=heddle_sanitize_thread");
    }
}
