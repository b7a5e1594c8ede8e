//! The study tooling end to end: `study` builds the book — a page per program of the
//! workspace (discovered, as the xtask does, from `cargo metadata`) in chapter and
//! story order, with its diff, figures from the results it finds, and for what it does
//! not find, why and the command that makes it; `diff` and `diff --stat` cover every
//! pair, and `trace` says how to get strace when it is missing. None of this runs the
//! conformance suite, strace or the bench: results come from `tests/fixtures/results`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

use harness::{Catalogue, Chapter};

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

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Builds the book into a fresh folder; returns the folder.
fn build(tag: &str, extra: &[&str]) -> PathBuf {
    let out = temp_dir(tag);
    let mut args = vec!["study", "--out", out.to_str().unwrap()];
    args.extend(extra);
    let run = xtask(&args);
    assert!(
        run.status.success(),
        "study failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let printed = String::from_utf8_lossy(&run.stdout);
    assert_eq!(
        printed.trim(),
        out.join("book/index.html").display().to_string(),
        "study prints where the book is"
    );
    out
}

/// The book paths of SUMMARY.md, in order.
fn summary_paths(out: &Path) -> Vec<String> {
    read(&out.join("src/SUMMARY.md"))
        .lines()
        .filter_map(|l| Some(l[l.find("](")? + 2..l.rfind(')')?].to_string()))
        .collect()
}

#[test]
fn the_book_has_a_page_per_program_in_chapter_order_with_figures() {
    let results = fixture("results");
    let conformance = fixture("conformance.json");
    let out = build(
        "study-book",
        &[
            "--results",
            results.to_str().unwrap(),
            "--conformance-json",
            conformance.to_str().unwrap(),
        ],
    );
    let paths = summary_paths(&out);
    assert_eq!(paths[0], "index.md", "the book opens with what was found");

    // Chapters in Chapter::ALL order, every program once, in the catalogue's order.
    let chapters: Vec<&str> = paths
        .iter()
        .filter(|p| p.ends_with("/index.md"))
        .map(String::as_str)
        .collect();
    let titles: Vec<String> = Chapter::ALL
        .iter()
        .map(|c| {
            let slug: String = c
                .title()
                .chars()
                .map(|ch| {
                    if ch.is_ascii_alphanumeric() {
                        ch.to_ascii_lowercase()
                    } else {
                        '-'
                    }
                })
                .collect();
            slug.split('-')
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join("-")
        })
        .collect();
    let expected: Vec<String> = titles
        .iter()
        .filter(|t| chapters.iter().any(|c| c.starts_with(t.as_str())))
        .map(|t| format!("{t}/index.md"))
        .collect();
    assert_eq!(chapters, expected, "chapters in the README's order");
    let programs: Vec<String> = paths
        .iter()
        .filter(|p| p.contains('/') && !p.ends_with("/index.md"))
        .map(|p| {
            p.rsplit('/')
                .next()
                .unwrap()
                .trim_end_matches(".md")
                .to_string()
        })
        .collect();
    assert_eq!(
        programs,
        program_names(),
        "a page per program, in story order"
    );

    // Every page was rendered; every pair page has a highlighted diff with changes.
    let site = out.join("book");
    for p in &paths {
        let html = read(&site.join(p.replace(".md", ".html")));
        assert!(
            html.contains("id=\"mdbook-sidebar\"") || html.contains("class=\"sidebar\""),
            "{p}: no sidebar"
        );
    }
    for (path, program) in paths
        .iter()
        .filter(|p| p.contains('/') && !p.ends_with("/index.md"))
        .zip(&programs)
    {
        let html = read(&site.join(path.replace(".md", ".html")));
        assert!(
            html.contains("<table class=\"diff\">"),
            "{program}: no diff"
        );
        let changed =
            html.matches("<tr class=\"del\">").count() + html.matches("<tr class=\"ins\">").count();
        assert!(changed > 0, "{program}: the diff shows no changed line");
        assert!(
            html.contains("class=\"hljs-keyword\""),
            "{program}: the diff is not highlighted"
        );
        assert!(
            html.contains("What it demonstrates") && html.contains("Migration notes"),
            "{program}"
        );
        // A figure, or the reason there is none and the command that makes it.
        let figures = html.matches("<figure class=\"fig\">").count();
        let missing = html.matches("<div class=\"missing\">").count();
        assert!(
            figures + missing > 0,
            "{program}: nothing under What it costs"
        );
        if missing > 0 {
            assert!(
                html.contains("To measure it: <code>cargo xtask"),
                "{program}: a gap without its command"
            );
        }
    }

    // The fixtures' results are used: echo-tokio traced and benched, polls swept.
    let tokio = read(&site.join("udp-echo/echo-tokio.html"));
    assert!(
        tokio.contains("echo-tokio-syscalls.svg"),
        "its trace as a figure"
    );
    assert!(
        tokio.contains("Measured with <code>cargo xtask trace"),
        "the figure says which run"
    );
    assert!(
        tokio.contains("<span class=\"badge pass\">pass</span>"),
        "conformance rows"
    );
    let join = read(&site.join("multiple-sockets/multisocket-join.html"));
    assert!(join.contains("multisocket-join-polls.svg"));
    assert!(read(&site.join("figures/multisocket-join-polls.svg")).contains("30 futures"));
    // A pair the fixtures did not trace says so, with the command.
    let select = read(&site.join("udp-echo/echo-select.html"));
    assert!(
        select.contains("not in this book: no trace of echo-select"),
        "the gap is explained"
    );
    assert!(select.contains("<code>cargo xtask trace echo-select</code>"));

    // What was found: every finding has a figure from the fixtures, and its date.
    let index = read(&site.join("index.html"));
    let findings = index.matches("<p class=\"finding\">").count();
    assert!(findings >= 5, "{findings} findings");
    assert_eq!(
        index.matches("<figure class=\"fig\">").count(),
        findings,
        "one figure each"
    );
    assert!(
        !index.contains("Not measured yet"),
        "the fixtures hold every finding's data"
    );
    assert!(
        index.contains("epoll_wait"),
        "the trace finding names its system call"
    );
    assert!(index.contains(" UTC ("), "each figure is dated");
    for f in std::fs::read_dir(site.join("figures")).unwrap().flatten() {
        if f.path().extension().is_some_and(|e| e == "svg") {
            let svg = read(&f.path());
            assert!(
                svg.starts_with("<svg") && svg.contains("<text"),
                "{}",
                f.path().display()
            );
        }
    }
    // The conformance matrix names the checks that did not pass.
    let matrix = read(&site.join("conformance.html"));
    assert!(matrix.contains("id=\"echo-tokio\""));
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn without_results_the_book_says_what_is_missing_and_how_to_measure_it() {
    let empty = temp_dir("study-no-results");
    let out = build(
        "study-empty",
        &["--results", empty.to_str().unwrap(), "--no-conformance"],
    );
    let site = out.join("book");
    let index = read(&site.join("index.html"));
    assert!(!index.contains("<figure"), "no figure without data");
    for command in [
        "cargo xtask trace --all",
        "cargo xtask bench",
        "cargo xtask study --run-missing",
    ] {
        assert!(
            index.contains(command),
            "the opening page says how to measure: {command}"
        );
    }
    let tokio = read(&site.join("udp-echo/echo-tokio.html"));
    assert!(tokio.contains("the suite was not run for this book"));
    assert!(!tokio.contains("badge pass"), "nothing is shown as passed");
    assert!(tokio.contains("not in this book"));
    let sources = read(&site.join("sources.html"));
    assert!(sources.contains("not traced yet"));
    std::fs::remove_dir_all(&out).ok();
    std::fs::remove_dir_all(&empty).ok();
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
