//! The compiled snippets are the TOML's: one per row, each with the TOML's text.

use std::collections::BTreeMap;

#[test]
fn every_row_is_compiled_with_the_text_of_the_toml() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../map/api-map.toml");
    let doc: toml::Table = std::fs::read_to_string(path).unwrap().parse().unwrap();
    let rows = doc["row"].as_array().unwrap();
    let compiled: BTreeMap<&str, &str> = api_map_legacy::SNIPPETS.iter().copied().collect();
    let mut missing = Vec::new();
    for row in rows {
        let item = row["item"].as_str().unwrap();
        match row.get("legacy_code").and_then(toml::Value::as_str) {
            Some(code) => assert_eq!(compiled.get(item), Some(&code), "{item}: stale build"),
            None => missing.push(item),
        }
    }
    assert!(
        missing.is_empty(),
        "rows without a legacy snippet: {missing:?}"
    );
    assert_eq!(
        compiled.len(),
        rows.len(),
        "a row is compiled twice, or an item is listed twice"
    );
}
