//! The modern side of every row of the API map (`migrate/map/api-map.toml`), one
//! function per row, written by `build.rs` from the TOML: a row whose modern snippet
//! stops compiling against the real crates of this era fails the build, and so
//! `cargo test --workspace`.

#[allow(unused_imports)]
mod rows {
    include!("prelude.rs");
    include!(concat!(env!("OUT_DIR"), "/snippets.rs"));
}

pub use rows::SNIPPETS;
