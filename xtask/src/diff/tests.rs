use harness::{Declared, Family, Program};

use super::*;
use harness::diff as hunks;
use harness::diff::count::{self, SideStat};

fn program(name: &str, flavor: Flavor, sibling: Option<&str>) -> Program {
    Program {
        name: name.into(),
        flavor,
        step: None,
        package: format!("{flavor}-{name}"),
        dir: std::path::PathBuf::from(format!("/w/{flavor}/{name}")),
        family: Ok(Family::UdpEcho),
        declared: Declared {
            sibling: sibling.map(String::from),
            ..Default::default()
        },
    }
}

fn pair(name: &str, eras: bool, next: Option<Option<&str>>) -> Pair {
    Pair {
        name: name.into(),
        legacy: eras.then(|| program(name, Flavor::Legacy, None)),
        modern: eras.then(|| program(name, Flavor::Modern, None)),
        others: (next
            .map(|sibling| program(name, Flavor::Next, sibling))
            .into_iter())
        .collect(),
    }
}

#[test]
fn a_next_program_is_set_against_its_sibling_or_the_one_named() {
    let all = vec![
        pair("echo-edge", true, None),
        pair("echo-ready", true, None),
        pair("echo-ring", false, Some(Some("echo-edge"))),
        pair("echo-lone", false, Some(None)),
    ];
    let ring = &all[2];
    let c = against(&all, ring, None, None).unwrap().unwrap();
    let (l, r) = (c.legacy.as_ref().unwrap(), c.modern.as_ref().unwrap());
    assert_eq!((l.name.as_str(), l.flavor), ("echo-edge", Flavor::Modern));
    assert_eq!((r.name.as_str(), r.flavor), ("echo-ring", Flavor::Next));
    assert_eq!(c.name, "echo-ring", "still the next program's name");
    let c = against(&all, ring, Some("echo-ready"), Some(FlavorArg::Legacy));
    let c = c.unwrap().unwrap();
    let l = c.legacy.as_ref().unwrap();
    assert_eq!((l.name.as_str(), l.flavor), ("echo-ready", Flavor::Legacy));
    // A pair of the two eras shows its own diff unless asked otherwise.
    assert!(against(&all, &all[0], None, None).unwrap().is_none());
    let e = against(&all, &all[0], Some("echo-ready"), None).unwrap_err();
    assert!(e.to_string().contains("has no next side"), "{e}");
    assert!(
        e.downcast_ref::<UsageError>().is_some(),
        "a usage error: exit 2"
    );
    let e = against(&all, &all[3], None, None).unwrap_err();
    assert!(e.to_string().contains("--against"), "{e}");
    let e = against(&all, ring, Some("nope"), None).unwrap_err();
    assert!(e.to_string().contains("unknown program 'nope'"), "{e}");
}

#[test]
fn plain_output_has_no_escapes_and_side_by_side_fits() {
    let old = "fn main() {\n    old line\n}\n";
    let new = "fn main() {\n    new line that is a good deal longer than the column allows\n}\n";
    let hunks = hunks::hunks(old, new, 3);
    let plain = Style { on: false };
    let mut out = String::new();
    for h in &hunks {
        let mut one = String::new();
        super::render::tests_side_by_side(&mut one, h, &plain, 60);
        out += &one;
    }
    assert!(!out.contains('\x1b'), "{out}");
    assert!(out.lines().all(|l| l.chars().count() <= 60), "{out}");
    assert!(out.contains("   2 -    old line"), "{out}");
    assert!(out.contains('…'), "the long line is cut visibly: {out}");
}

#[test]
fn tables_mark_missing_sides_pitfalls_and_what_is_kept() {
    let side = |lines| SideStat {
        code_lines: lines,
        future_impls: 0,
        unsafe_blocks: 0,
        dependencies: 2,
    };
    let stat = |name: &str, legacy: Option<SideStat>| count::PairStat {
        name: name.into(),
        legacy,
        modern: Some(side(90)),
        changed: 40,
        kept: (
            if legacy.is_some() { 57 } else { 0 },
            if legacy.is_some() { 100 } else { 0 },
        ),
    };
    let t = stat::pairs_table(&[stat("echo-mpsc", Some(side(100))), stat("echo-new", None)]);
    let row = |name: &str| t.lines().find(|l| l.starts_with(name)).unwrap().to_string();
    assert!(
        row("echo-mpsc").contains("57%") && row("echo-mpsc").contains("2/2"),
        "{t}"
    );
    assert!(
        row("echo-new").contains("—/90") || row("echo-new").contains('—'),
        "{t}"
    );
    assert!(
        t.contains("difflib's matching blocks"),
        "the definition is printed: {t}"
    );
    assert!(t.lines().all(|l| l.chars().count() <= 100), "{t}");
    let rung = |label: &str, pitfall: Option<&str>, kept: Option<usize>| stat::RungStat {
        ladder: "echo-mpsc".into(),
        label: label.into(),
        pitfall: pitfall.map(String::from),
        side: side(100),
        from_previous: kept.map(|k| count::PairStat {
            kept: (k, 100),
            ..stat("x", Some(side(1)))
        }),
        compat: 3,
        old_deps: 2,
        new_deps: 1,
    };
    let rows = [
        rung("legacy", None, None),
        rung("bridge-1", None, Some(66)),
        rung("bridge-1", Some("echo-mpsc-wrong"), Some(80)),
    ];
    let t = stat::ladders_table(&rows);
    let lines: Vec<&str> = t.lines().collect();
    assert!(
        lines[1].starts_with("echo-mpsc") && lines[2].starts_with(' '),
        "grouped: {t}"
    );
    assert!(lines[2].contains("66%") && lines[1].contains('—'), "{t}");
    assert!(
        lines[3].starts_with("echo-mpsc-wrong") && lines[3].contains("bridge-1 ✗"),
        "{t}"
    );
}
