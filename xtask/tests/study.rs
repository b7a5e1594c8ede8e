//! The reading tools end to end: `study` builds the book from results it is given
//! (the fixtures, a real run of every measuring command) — every chapter of
//! `book/src`, a page per program, every generated part filled — and from none says
//! what is missing and how to measure it; the diff of the CLI and of the book are the
//! same hunks; usage errors exit 2 with a hint; `diff --stat` covers every program.
//! None of this runs the suite, strace or the bench.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use harness::Catalogue;

mod common;
use common::{fixture, temp_dir};

fn xtask(args: &[&str]) -> Output {
    let xtask = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .output();
    xtask.expect("run xtask")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Builds the book from `results` into a fresh folder; returns the folder and what
/// the study said on stderr.
fn build(tag: &str, results: &Path) -> (PathBuf, String) {
    let out = temp_dir(tag);
    let run = xtask(&[
        "study",
        "--out",
        out.to_str().unwrap(),
        "--results",
        results.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&run.stderr).to_string();
    assert!(run.status.success(), "study failed: {err}");
    let printed = String::from_utf8_lossy(&run.stdout);
    assert_eq!(
        printed.trim(),
        out.join("book/index.html").display().to_string(),
        "prints where the book is"
    );
    (out, err)
}

/// The pages of the built book, from its expanded SUMMARY.md.
fn pages(out: &Path) -> Vec<String> {
    let summary = read(&out.join("src/SUMMARY.md"));
    let link = |l: &str| Some(l[l.find("](")? + 2..l.rfind(')')?].to_string());
    summary.lines().filter_map(link).collect()
}

#[test]
fn the_book_has_every_chapter_a_page_per_program_and_its_figures() {
    let (out, err) = build("study", &fixture("results"));
    let pages = pages(&out);
    let chapters =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../book/src")).unwrap();
    assert!(chapters.count() > 5, "book/src holds the chapters");
    for page in &pages {
        let html = out.join("book").join(page.replace(".md", ".html"));
        assert!(html.is_file(), "{page} is listed but not built");
    }
    let catalogue = Catalogue::load().unwrap();
    for name in catalogue.names() {
        assert!(
            pages.iter().any(|p| p.ends_with(&format!("/{name}.md"))),
            "{name} has no page"
        );
    }
    // The fixtures hold a run of each measuring command: every figure is drawn.
    let figures = std::fs::read_dir(out.join("src/figures")).unwrap().count();
    assert!(figures >= 15, "{figures} figures");
    let findings = read(&out.join("book/findings.html"));
    assert!(
        findings.matches("<figure class=\"fig\">").count() >= 8,
        "every finding has its figure"
    );
    assert!(!findings.contains("not in this book"), "{findings}");
    assert!(
        !err.contains("nothing to show"),
        "every part the chapters include has its data: {err}"
    );
    let suite = read(&out.join("book/suite.html"));
    assert!(
        suite.contains("id=\"echo-tokio\"") && suite.contains("badge pass"),
        "the matrix"
    );
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn without_results_the_book_says_what_is_missing_and_how_to_measure_it() {
    let empty = temp_dir("study-no-results");
    let (out, err) = build("study-empty", &empty);
    let findings = read(&out.join("book/findings.html"));
    assert!(!findings.contains("<figure"), "no figure without data");
    for command in ["cargo xtask trace --all", "cargo xtask bench"] {
        assert!(
            findings.contains(command),
            "the page says how to measure: {command}"
        );
    }
    assert!(err.contains("nothing to show"), "{err}");
    let tokio = read(&out.join("book/udp-echo/echo-tokio.html"));
    assert!(!tokio.contains("badge pass"), "nothing is shown as passed");
    assert!(tokio.contains("not run"), "{tokio}");
    std::fs::remove_dir_all(&out).ok();
    std::fs::remove_dir_all(&empty).ok();
}

/// The hunk headers of a unified diff as `cargo xtask diff` prints it.
fn cli_hunks(text: &str) -> Vec<String> {
    let header = |l: &str| {
        l.starts_with("@@ ")
            .then(|| l[..l[3..].find(" @@").unwrap() + 6].to_string())
    };
    text.lines().filter_map(header).collect()
}

#[test]
fn the_cli_and_the_book_show_the_same_hunks() {
    let out = xtask(&["diff", "echo-mpsc", "--color", "never"]);
    assert!(out.status.success());
    let cli = cli_hunks(&String::from_utf8(out.stdout).unwrap());
    assert!(cli.len() > 5, "{cli:?}");
    let (book, _) = build("study-hunks", &temp_dir("study-hunks-results"));
    let page = read(&book.join("book/udp-echo/echo-mpsc.html"));
    // The page shows each step, then the whole way: the last diff is legacy → modern.
    let whole = &page[page.rfind("The whole way").expect("the whole-way diff")..];
    let drawn: Vec<String> = (whole.split("data-hunk=\"").skip(1))
        .map(|s| s[..s.find('"').unwrap()].to_string())
        .collect();
    assert_eq!(drawn, cli, "the book's hunks are the CLI's");
    std::fs::remove_dir_all(&book).ok();
}

#[test]
fn a_usage_error_exits_2_with_a_hint() {
    let nowhere = temp_dir("nowhere").join("missing");
    for args in [
        vec!["conformance", "nope"],
        vec!["conformance", "--jobs", "0"],
        vec!["diff", "nope"],
        vec!["trace", "nope"],
        vec!["bench", "nope"],
        vec!["study", "--results", nowhere.to_str().unwrap()],
    ] {
        let out = xtask(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("try") && err.contains("--help"),
            "{args:?}: {err}"
        );
        assert!(
            !err.contains("pinned"),
            "{args:?}: rejected before anything runs: {err}"
        );
    }
}

#[test]
fn diff_stat_lists_every_program_and_the_diff_is_plain_when_piped() {
    let out = xtask(&["diff", "--stat"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8(out.stdout).unwrap();
    let catalogue = Catalogue::load().unwrap();
    for program in catalogue.names() {
        let row = |l: &str| l.split_whitespace().next() == Some(program);
        assert!(
            table.lines().any(row),
            "diff --stat has no row for {program}"
        );
    }
    assert!(table.lines().all(|l| l.chars().count() <= 100), "{table}");
    let out = xtask(&["diff", "echo-tokio"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains('\x1b'), "no colour when piped");
    assert!(text.contains("--- legacy/echo-tokio/src/main.rs"));
    assert!(text.contains("+++ modern/echo-tokio/src/main.rs"));
}

#[test]
fn trace_without_strace_says_how_to_install_it() {
    // A PATH with cargo and rustc (the catalogue asks cargo) and nothing else.
    let empty = temp_dir("no-strace");
    for tool in ["cargo", "rustc"] {
        let found = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .map(|d| d.join(tool))
            .find(|p| p.is_file());
        std::os::unix::fs::symlink(found.expect("cargo and rustc on PATH"), empty.join(tool))
            .unwrap();
    }
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
