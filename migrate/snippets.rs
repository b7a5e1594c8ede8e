// The code generator that the build scripts of api-map-legacy and api-map-modern
// share (`include!`d by each): it reads the API map and writes one function per row,
// whose body is the row's snippet of that era, so that the compiler checks every
// row against the real crates. The TOML is the one source of truth; the generated
// file also carries each snippet's text, which the crate's tests compare with the
// TOML.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Writes `$OUT_DIR/snippets.rs`: the `SNIPPETS` table and one function per row.
/// `field` is the row's key of this era's code; `signature` opens each function
/// with `{name}` in place of its name; `close` ends its body.
fn generate(field: &str, signature: &str, close: &str) {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let map = manifest.join("../map/api-map.toml");
    println!("cargo::rerun-if-changed={}", map.display());
    let text = std::fs::read_to_string(&map).unwrap_or_else(|e| panic!("{}: {e}", map.display()));
    let doc: toml::Table = text.parse().unwrap_or_else(|e| panic!("{}: {e}", map.display()));
    let rows = doc.get("row").and_then(toml::Value::as_array).cloned().unwrap_or_default();
    let mut table = String::from("/// Each row's item and this era's snippet, as compiled below.\n");
    table.push_str("pub const SNIPPETS: &[(&str, &str)] = &[\n");
    let mut functions = String::new();
    for row in &rows {
        let item = row.get("item").and_then(toml::Value::as_str).expect("every row has an item");
        // A row without code fails the crate's tests (not the build), with its name.
        let Some(code) = row.get(field).and_then(toml::Value::as_str) else { continue };
        writeln!(table, "    ({item:?}, {code:?}),").unwrap();
        let name = function_name(item);
        writeln!(functions, "#[doc = {:?}]", format!("`{item}`")).unwrap();
        writeln!(functions, "{}\n{code}\n{close}\n", signature.replace("{name}", &name)).unwrap();
    }
    table.push_str("];\n\n");
    let out = Path::new(&std::env::var_os("OUT_DIR").expect("cargo sets it")).join("snippets.rs");
    std::fs::write(&out, table + &functions).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
}

/// `futures::future::Future::map` → `futures__future__Future__map`.
fn function_name(item: &str) -> String {
    item.replace("::", "__")
}
