//! Writes every row's legacy snippet into a function (see `../snippets.rs`).

include!("../snippets.rs");

fn main() {
    generate(
        "legacy_code",
        "#[allow(unused, deprecated, non_snake_case, unreachable_code, clippy::all)]\n\
         pub fn {name}(handle: &Handle, addr: SocketAddr) -> Result<(), Box<dyn std::error::Error>> {",
        "    Ok(())\n}",
    );
}
