//! The book's generated parts: every row with its anchor, a link to its snippets and
//! to its step; and the scan of echo-mpsc whose last rung holds nothing legacy.

use api_map::legacy::Model;
use api_map::map::anchor;
use api_map::{markdown, scan_echo_mpsc, ApiMap};

#[test]
fn the_table_links_every_row_to_its_snippets_and_step() {
    let model = Model::load().unwrap();
    let map = ApiMap::load().unwrap();
    let link = |file: &str, line: usize| format!("src/{file}#L{line}");
    let md = markdown(&map, &model, &link).unwrap();
    for row in &map.row {
        let id = anchor(&row.item);
        assert!(
            md.contains(&format!(
                "<a id=\"{id}\"></a>[`{}`](#snippet-{id})",
                row.item
            )),
            "{}: no row",
            row.item
        );
        assert!(
            md.contains(&format!("<details id=\"snippet-{id}\">")),
            "{}: no snippets",
            row.item
        );
        assert!(md.contains(&format!("(#step-{})", row.step)));
    }
    for step in &map.step {
        assert!(md.contains(&format!("<a id=\"step-{}\"></a>", step.key)));
    }
    // A shown line becomes a link with its line number.
    assert!(
        md.contains("[legacy/echo-mpsc/src/main.rs:"),
        "no link to a program's line"
    );
    for entry in &map.left_out {
        assert!(md.contains(&format!("| `{}` |", entry.item)));
    }
}

#[test]
fn the_scan_of_echo_mpsc_empties_along_its_ladder() {
    let model = Model::load().unwrap();
    let map = ApiMap::load().unwrap();
    let link = |file: &str, line: usize| format!("src/{file}#L{line}");
    let md = scan_echo_mpsc(&model, &map, &link).unwrap();
    assert!(md.contains("0 unknown"), "{md}");
    assert!(
        md.contains("[`futures::sync::mpsc::channel`](#row-futures-sync-mpsc-channel)"),
        "{md}"
    );
    assert!(md.contains("(src/legacy/echo-mpsc/src/main.rs#L"), "{md}");
    let rung = |name: &str| {
        md.lines()
            .find(|l| l.contains(name))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(rung("(`modern/echo-mpsc`)").contains("| 0 | 0 |"), "{md}");
    assert!(
        !rung("(`bridge/echo-mpsc-step3`)").contains("| 0 | 0 |"),
        "step 3 keeps the futures 0.1 channel: {md}"
    );
}
