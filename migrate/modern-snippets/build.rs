//! Writes every row's modern snippet into an async function (see `../snippets.rs`).

include!("../snippets.rs");

fn main() {
    generate(
        "modern_code",
        "#[allow(unused, deprecated, non_snake_case, unreachable_code, clippy::all)]\n\
         pub async fn {name}(addr: SocketAddr) -> Result<(), Box<dyn std::error::Error>> {",
        "    Ok(())\n}",
    );
}
