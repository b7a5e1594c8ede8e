//! The study tooling end to end: `study` writes a page with a section and a non-empty
//! diff for every program of the workspace (discovered, as the xtask does, from
//! `cargo metadata`), `diff` and `diff --stat` cover every pair, and `trace` says how to
//! get strace when it is missing. None of this runs the conformance suite or strace.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

use harness::Catalogue;

fn xtask(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .output()
        .expect("run xtask")
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn program_names() -> Vec<String> {
    let catalogue = Catalogue::load().expect("cargo metadata");
    let names: Vec<String> = catalogue.names().into_iter().map(String::from).collect();
    assert!(!names.is_empty(), "the workspace has programs");
    names
}

/// A fresh folder under the system's temporary directory.
fn temp_dir(tag: &str) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("xtask-{tag}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// The HTML of one program's section.
fn section<'a>(html: &'a str, program: &str) -> &'a str {
    let start = html
        .find(&format!(
            "<section class=\"program\" id=\"program-{program}\">"
        ))
        .unwrap_or_else(|| panic!("no section for {program}"));
    let rest = &html[start..];
    let end = rest.find("</section>").expect("section closes");
    &rest[..end]
}

#[test]
fn study_has_a_section_with_a_diff_for_every_program() {
    let out_dir = temp_dir("study");
    let conformance = fixture("conformance.json");
    let out = xtask(&[
        "study",
        "--out",
        out_dir.to_str().unwrap(),
        "--conformance-json",
        conformance.to_str().unwrap(),
        "--trace-json",
        fixture("trace.json").to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "study failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let index = out_dir.join("index.html");
    let html = std::fs::read_to_string(&index).expect("index.html written");

    // Self-contained: nothing to fetch, nothing to run.
    for needle in ["<script", "<link", " src=", "@import", "url("] {
        assert!(!html.contains(needle), "the page holds {needle:?}");
    }
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));

    for program in program_names() {
        assert!(
            html.contains(&format!("href=\"#program-{program}\"")),
            "the index links {program}"
        );
        let s = section(&html, &program);
        assert!(
            s.contains("<table class=\"diff mono\">"),
            "{program}: no diff table"
        );
        let changed =
            s.matches("<tr class=\"del\">").count() + s.matches("<tr class=\"ins\">").count();
        assert!(changed > 0, "{program}: the diff shows no changed line");
        assert!(
            s.contains("<h3>What it demonstrates</h3>"),
            "{program}: no summary"
        );
        assert!(
            s.contains("<h3>Migration notes</h3>"),
            "{program}: no notes heading"
        );
    }

    // The fixture's rows are shown where they exist, and their absence is said.
    let tokio = section(&html, "echo-tokio");
    assert!(tokio.contains("<span class=\"badge pass\">pass</span>"));
    assert!(tokio.contains("payloads-ipv4"), "the checks are listed");
    assert!(
        tokio.contains("<div class=\"migration\"><ul>"),
        "the migration notes are rendered as a list"
    );
    assert!(tokio.contains("<code>impl Future for Server</code>"));
    assert!(
        tokio.contains("epoll_wait"),
        "the trace fixture's figures are shown"
    );
    let mpsc = section(&html, "echo-mpsc");
    assert!(mpsc.contains("the given report has no row for it"));
    assert!(mpsc.contains("Not traced for this report"));

    std::fs::remove_dir_all(&out_dir).ok();
}

#[test]
fn study_without_conformance_says_not_run() {
    let out_dir = temp_dir("study-nc");
    let out = xtask(&[
        "study",
        "--out",
        out_dir.to_str().unwrap(),
        "--no-conformance",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(out_dir.join("index.html")).unwrap();
    assert!(html.contains("the suite was not run for this report"));
    assert!(!html.contains("badge pass"), "nothing is shown as passed");
    std::fs::remove_dir_all(&out_dir).ok();
}

#[test]
fn diff_stat_lists_every_program_and_diff_names_unknown_ones() {
    let out = xtask(&["diff", "--stat"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8(out.stdout).unwrap();
    let names = program_names();
    for program in &names {
        assert!(
            table
                .lines()
                .any(|l| l.split_whitespace().next() == Some(program.as_str())),
            "diff --stat has no row for {program}"
        );
    }

    let out = xtask(&["diff", "no-such-program"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a usage error, as for bad options"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown program 'no-such-program'"), "{err}");
    assert!(
        names.iter().all(|n| err.contains(n.as_str())),
        "the valid names are listed: {err}"
    );

    // Piped output is plain, and holds both sides of the pair.
    let out = xtask(&["diff", "echo-tokio"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains('\x1b'), "no colour when piped");
    assert!(text.contains("--- legacy/echo-tokio/src/main.rs"));
    assert!(text.contains("+++ modern/echo-tokio/src/main.rs"));
    assert!(
        text.contains("- tokio-core"),
        "the dependency change is shown"
    );
}

#[test]
fn trace_without_strace_says_how_to_install_it() {
    let empty = temp_dir("no-strace");
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["trace", "echo-tokio"])
        .env("PATH", &empty)
        .output()
        .expect("run xtask");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("apt-get install strace"), "{err}");
    std::fs::remove_dir_all(&empty).ok();
}
