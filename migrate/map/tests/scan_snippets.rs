//! The scanner finds each row's item in the row's own legacy snippet: the snippets
//! really use what their rows claim, and the scanner recognises every mapped item
//! the way code of the time wrote it.

use api_map::legacy::Model;
use api_map::scan::{scan_source, CrateNames};
use api_map::ApiMap;

/// A legacy snippet as api-map-legacy compiles it: after its prelude, in a
/// function with `handle` and `addr`.
fn as_compiled(code: &str) -> String {
    let prelude = include_str!("../../legacy-snippets/src/prelude.rs");
    format!("{prelude}\nfn snippet(handle: &Handle, addr: SocketAddr) {{\n{code}\n}}\n")
}

#[test]
fn each_rows_legacy_snippet_shows_its_item_to_the_scanner() {
    let model = Model::load().expect("the legacy crates' sources");
    let map = ApiMap::load().unwrap();
    let crates = CrateNames::usual();
    let mut missed = Vec::new();
    for row in &map.row {
        let findings = scan_source(
            &as_compiled(&row.legacy_code),
            "snippet",
            &crates,
            &model,
            &map,
        )
        .unwrap();
        if !findings.iter().any(|f| f.item == row.item) {
            missed.push(row.item.as_str());
        }
    }
    assert!(
        missed.is_empty(),
        "{} rows whose snippet the scanner does not see using the item:\n{}",
        missed.len(),
        missed.join("\n")
    );
}
