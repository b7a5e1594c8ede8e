//! Declares the one configuration this pitfall is built in besides the default:
//! `--cfg spawn_on_workers`, which spawns the connections with `tokio::spawn` and
//! shows the compiler's refusal (`cargo rustc -p bridge-tcp-echo-early-threads --
//! --cfg spawn_on_workers`; the suite's `compile-error` check holds its message).

fn main() {
    println!("cargo::rustc-check-cfg=cfg(spawn_on_workers)");
}
