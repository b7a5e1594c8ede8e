//! The map against the legacy crates' own sources and this workspace: every row
//! names a public item, the modules the issue names are covered at 95 % or more,
//! every left-out entry says why, and each `shown_in` line still shows its item.

use api_map::legacy::Model;
use api_map::{ApiMap, Coverage};

#[test]
fn every_row_and_left_out_entry_names_public_items() {
    let model = Model::load().unwrap();
    let map = ApiMap::load().unwrap();
    let not_items: Vec<&str> = map
        .row
        .iter()
        .map(|r| r.item.as_str())
        .filter(|i| model.item(i).is_none())
        .collect();
    assert!(
        not_items.is_empty(),
        "rows for paths that are no public item: {not_items:?}"
    );
    for entry in &map.left_out {
        assert!(
            model.items.iter().any(|i| entry.covers(&i.path)),
            "{} leaves out nothing",
            entry.item
        );
        assert!(
            entry.reason.len() > 20,
            "{}: the reason says too little",
            entry.item
        );
        // An item leaves out that one item; `path::*` leaves out what has no row under it.
        if !entry.item.ends_with("::*") {
            assert!(
                map.row(&entry.item).is_none(),
                "{} is both mapped and left out",
                entry.item
            );
        } else {
            let rest = model
                .items
                .iter()
                .filter(|i| entry.covers(&i.path) && map.row(&i.path).is_none())
                .count();
            assert!(rest > 0, "{}: every item under it has a row", entry.item);
        }
    }
}

#[test]
fn the_named_modules_are_covered_at_95_percent() {
    let model = Model::load().unwrap();
    let map = ApiMap::load().unwrap();
    let coverage = Coverage::compute(&model, &map);
    for group in api_map::coverage::REQUIRED {
        let c = coverage.under(group);
        assert!(
            c.found > 10,
            "{group}: only {} items found: is the enumeration broken?",
            c.found
        );
        assert!(
            c.ratio() >= 0.95,
            "{group}: {}/{} mapped; not mapped: {:?}",
            c.mapped,
            c.found,
            c.unmapped
        );
        assert!(
            c.unmapped.is_empty(),
            "{group}: items neither mapped nor left out on purpose: {:?}",
            c.unmapped
        );
    }
}

#[test]
fn the_enumeration_finds_what_the_crates_document() {
    let model = Model::load().unwrap();
    for path in [
        "futures::future::Future::and_then",
        "futures::stream::Stream::for_each",
        "futures::future::Join3",
        "futures::future::join_all",
        "futures::sync::mpsc::channel",
        "tokio_core::net::TcpListener::incoming",
        "tokio_core::reactor::Handle::spawn",
        "tokio_io::io::write_all",
        "tokio_io::codec::Decoder",
        "tokio_io::AsyncRead::split",
        "futures_cpupool::CpuPool::spawn_fn",
        "tokio_signal::unix::Signal::new",
    ] {
        assert!(model.item(path).is_some(), "{path} is not enumerated");
    }
    // Private modules, Windows-only code and trait impls are not public items.
    for path in [
        "futures::future::map::Map",
        "tokio_signal::windows::Event",
        "tokio_core::net::Incoming::poll",
    ] {
        assert!(model.item(path).is_none(), "{path} is enumerated");
    }
    assert!(model
        .item("futures::future::Future::boxed")
        .is_some_and(|i| i.deprecated && i.hidden));
    assert!(model
        .item("futures::future::Future")
        .is_some_and(|i| i.aliases.iter().any(|a| a == "futures::Future")));
}

#[test]
fn each_shown_line_still_shows_its_item() {
    let map = ApiMap::load().unwrap();
    let root = harness::project_root();
    let mut broken = Vec::new();
    for row in &map.row {
        let Some(shown) = &row.shown_in else { continue };
        let text = std::fs::read_to_string(root.join(&shown.file)).unwrap_or_default();
        if !text
            .lines()
            .any(|l| is_code(l) && l.contains(&shown.pattern))
        {
            broken.push(format!(
                "{}: {} has no line with {:?}",
                row.item, shown.file, shown.pattern
            ));
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

#[test]
fn each_shown_legacy_line_uses_its_item() {
    // In a legacy program the scanner confirms it: the line uses the row's item.
    let model = Model::load().unwrap();
    let map = ApiMap::load().unwrap();
    let root = harness::project_root();
    let mut broken = Vec::new();
    for row in &map.row {
        let Some(shown) = row
            .shown_in
            .as_ref()
            .filter(|s| s.file.starts_with("legacy/"))
        else {
            continue;
        };
        let path = root.join(&shown.file);
        let text = std::fs::read_to_string(&path).unwrap();
        let Some(line) = text
            .lines()
            .position(|l| is_code(l) && l.contains(&shown.pattern))
            .map(|i| i + 1)
        else {
            continue;
        };
        let crates = api_map::scan::CrateNames::for_file(&path);
        let findings =
            api_map::scan::scan_source(&text, &shown.file, &crates, &model, &map).unwrap();
        if !findings
            .iter()
            .any(|f| f.line == line && f.item == row.item)
        {
            broken.push(format!("{}:{line} does not use {}", shown.file, row.item));
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

/// A line of code, not of a comment.
fn is_code(line: &str) -> bool {
    !line.trim_start().starts_with("//")
}
