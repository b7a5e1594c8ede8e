//! The `//!` doc comment of a program: extracting it, splitting it into its parts
//! (the opening paragraph, the description, `# Migration`), demoting its headings for
//! the page it goes on, and rendering its Markdown as HTML with pulldown-cmark (the
//! CommonMark parser rustdoc and mdBook use).

use std::ops::Range;

use pulldown_cmark::{html, CowStr, Event, HeadingLevel, Options, Parser, Tag, TagEnd};

/// The leading `//!` block of a source file, without the comment markers.
pub fn inner_doc(src: &str) -> String {
    let mut out = Vec::new();
    for line in src.lines().skip_while(|l| l.trim().is_empty()) {
        let Some(text) = line.trim_start().strip_prefix("//!") else {
            break;
        };
        out.push(text.strip_prefix(' ').unwrap_or(text));
    }
    let mut text = out.join("\n");
    text.push('\n');
    text
}

/// One heading of a document: its level (1 for `#`), its text, and where it stands.
struct Heading {
    level: HeadingLevel,
    text: String,
    range: Range<usize>,
}

/// The headings of `doc`, as CommonMark sees them (a `#` line inside a code block is
/// not one).
fn headings(doc: &str) -> Vec<Heading> {
    let mut out: Vec<Heading> = Vec::new();
    let mut open = false;
    for (event, range) in Parser::new(doc).into_offset_iter() {
        match event {
            Event::Start(Tag::Heading { level, .. }) => {
                open = true;
                out.push(Heading {
                    level,
                    text: String::new(),
                    range,
                });
            }
            Event::End(TagEnd::Heading(_)) => open = false,
            Event::Text(t) | Event::Code(t) if open => {
                if let Some(h) = out.last_mut() {
                    h.text.push_str(&t);
                }
            }
            _ => {}
        }
    }
    out
}

/// The body of section `title` (`# Migration`), up to the next heading of the same or
/// a higher level.
pub fn section(doc: &str, title: &str) -> Option<String> {
    let all = headings(doc);
    let at = all
        .iter()
        .position(|h| h.text.trim().eq_ignore_ascii_case(title))?;
    let level = all[at].level;
    let end = all[at + 1..]
        .iter()
        .find(|h| h.level <= level)
        .map_or(doc.len(), |h| h.range.start);
    let body = doc[all[at].range.end..end].trim_matches('\n');
    (!body.trim().is_empty()).then(|| format!("{body}\n"))
}

/// `doc` without section `title` (and its subsections): the rest of a description
/// when its `# Migration` section is shown on its own.
pub fn without_section(doc: &str, title: &str) -> String {
    let all = headings(doc);
    let Some(at) = all
        .iter()
        .position(|h| h.text.trim().eq_ignore_ascii_case(title))
    else {
        return doc.to_string();
    };
    let level = all[at].level;
    let end = all[at + 1..]
        .iter()
        .find(|h| h.level <= level)
        .map_or(doc.len(), |h| h.range.start);
    format!("{}{}", &doc[..all[at].range.start], &doc[end..])
}

/// `md` with every heading `by` levels deeper (`#` → `###` for `by` = 2), so that a
/// doc comment's sections sit under the headings of the page it is shown on. Only
/// real headings move: a `#` line inside a code block is left alone.
pub fn demote_headings(md: &str, by: usize) -> String {
    let mut out = String::with_capacity(md.len() + 16);
    let mut last = 0;
    for h in headings(md) {
        let start = h.range.start;
        out.push_str(&md[last..start]);
        let src = &md[h.range.clone()];
        let depth = (h.level as usize + by).min(6);
        if src.trim_start().starts_with('#') {
            // ATX: `## Title` — replace the marker.
            let body = src.trim_start().trim_start_matches('#');
            out.push_str(&"#".repeat(depth));
            out.push_str(body);
        } else {
            // Setext (`Title` over `===`): rewrite as ATX.
            let first = src.lines().next().unwrap_or("").trim();
            out.push_str(&format!("{} {first}\n", "#".repeat(depth)));
        }
        last = h.range.end;
    }
    out.push_str(&md[last..]);
    out
}

/// The first paragraph, joined into one line.
pub fn first_paragraph(doc: &str) -> String {
    doc.lines()
        .skip_while(|l| l.trim().is_empty())
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
}

/// `&`, `<`, `>` and `"` escaped for HTML text and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

/// Renders the Markdown of a doc comment as HTML. Headings move down three levels
/// (`#` becomes `<h4>`): the page around it has its own. Code blocks carry the class
/// `doc-code`.
pub fn to_html(md: &str) -> String {
    let events = Parser::new_ext(md, Options::ENABLE_STRIKETHROUGH).map(|event| match event {
        Event::Start(Tag::Heading {
            level,
            id,
            classes,
            attrs,
        }) => Event::Start(Tag::Heading {
            level: lower(level),
            id,
            classes,
            attrs,
        }),
        Event::End(TagEnd::Heading(level)) => Event::End(TagEnd::Heading(lower(level))),
        Event::Start(Tag::CodeBlock(_)) => {
            Event::Html(CowStr::Borrowed("<pre class=\"doc-code\"><code>"))
        }
        Event::End(TagEnd::CodeBlock) => Event::Html(CowStr::Borrowed("</code></pre>\n")),
        other => other,
    });
    let mut out = String::new();
    html::push_html(&mut out, events);
    out
}

fn lower(level: HeadingLevel) -> HeadingLevel {
    match level {
        HeadingLevel::H1 => HeadingLevel::H4,
        HeadingLevel::H2 => HeadingLevel::H5,
        _ => HeadingLevel::H6,
    }
}

/// Raw HTML in `md` (`Arc<UdpSocket>` written outside backticks is a tag to a
/// Markdown reader, and vanishes from the page, as it would under rustdoc). A test
/// holds every program's header to none.
#[cfg(test)]
fn raw_html(md: &str) -> Vec<String> {
    Parser::new(md)
        .filter_map(|e| match e {
            Event::Html(h) | Event::InlineHtml(h) => Some(h.to_string()),
            _ => None,
        })
        .collect()
}

/// Inline Markdown (`code`, **strong**, *emphasis*, links) of one line of text as
/// HTML, without a paragraph around it.
pub fn inline(text: &str) -> String {
    let html = to_html(text);
    let html = html.trim_end();
    html.strip_prefix("<p>")
        .and_then(|h| h.strip_suffix("</p>"))
        .unwrap_or(html)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "//! UDP echo on tokio 1: one task.\n//!\n//! It multiplexes `ready()` and\n//! *waits*.\n//!\n//! ```text\n//! # not a heading\n//! nc -u 127.0.0.1 2000\n//! ```\n//!\n//! # Migration\n//!\n//! * The hand-written `impl Future for Server` becomes an\n//!   `async fn` loop.\n//! * `Core::run` becomes `block_on` <one thread>.\n//!\n//! # Caveats\n//!\n//! None.\n\nuse std::io;\n//! not part of it\n";

    #[test]
    fn doc_parts() {
        let doc = inner_doc(SRC);
        assert!(doc.starts_with("UDP echo on tokio 1: one task.\n\nIt multiplexes"));
        assert!(!doc.contains("not part of it"));
        assert_eq!(first_paragraph(&doc), "UDP echo on tokio 1: one task.");
        let migration = section(&doc, "Migration").unwrap();
        assert!(migration.starts_with("* The hand-written"));
        assert!(!migration.contains("Caveats") && !migration.contains("None."));
        assert_eq!(section(&doc, "Nothing"), None);
    }

    #[test]
    fn demoted_headings_and_a_section_left_out() {
        let doc = inner_doc(SRC);
        let rest = without_section(&doc, "Migration");
        assert!(rest.contains("# Caveats") && !rest.contains("hand-written"));
        assert!(rest.contains("# not a heading"), "code blocks are kept");
        let demoted = demote_headings(&rest, 2);
        assert!(demoted.contains("\n### Caveats\n"), "{demoted}");
        assert!(
            demoted.contains("\n# not a heading\n"),
            "a fenced `#` line stays: {demoted}"
        );
        assert_eq!(
            demote_headings("Title\n===\n\ntext\n", 1),
            "## Title\n\ntext\n"
        );
        assert_eq!(
            without_section("no headings\n", "Migration"),
            "no headings\n"
        );
    }

    #[test]
    fn markdown_to_html() {
        let doc = inner_doc(SRC);
        let html = to_html(&section(&doc, "Migration").unwrap());
        assert_eq!(
            html,
            "<ul>\n<li>The hand-written <code>impl Future for Server</code> becomes an\n<code>async fn</code> loop.</li>\n\
             <li><code>Core::run</code> becomes <code>block_on</code> <one thread>.</li>\n</ul>\n",
            "CommonMark: a soft break stays a line break, `<one thread>` is inline HTML"
        );
        let html = to_html(&without_section(&doc, "Migration"));
        assert!(html.contains("<p>It multiplexes <code>ready()</code> and\n<em>waits</em>.</p>"));
        assert!(html.contains(
            "<pre class=\"doc-code\"><code># not a heading\nnc -u 127.0.0.1 2000\n</code></pre>"
        ));
    }

    #[test]
    fn nested_lists_and_links() {
        let html =
            to_html("1. one\n   * a\n   * b\n2. two [docs](https://docs.rs/tokio)\n\nafter\n");
        assert_eq!(
            html,
            "<ol>\n<li>one\n<ul>\n<li>a</li>\n<li>b</li>\n</ul>\n</li>\n<li>two <a href=\"https://docs.rs/tokio\">docs</a></li>\n</ol>\n<p>after</p>\n"
        );
        assert!(to_html("# Caveats\n").contains("<h4>Caveats</h4>"));
    }

    #[test]
    fn no_program_header_holds_raw_html() {
        let catalogue = harness::Catalogue::load().unwrap();
        for p in catalogue.programs() {
            let main = std::fs::read_to_string(p.dir.join("src/main.rs")).unwrap();
            let html = raw_html(&inner_doc(&main));
            assert!(
                html.is_empty(),
                "{}: raw HTML {html:?} (put code in backticks)",
                p.package
            );
        }
        assert_eq!(raw_html("a `Arc<T>` b"), Vec::<String>::new());
        assert_eq!(raw_html("a Arc<T> b"), ["<T>"]);
    }

    #[test]
    fn lone_stars_and_escapes() {
        assert_eq!(inline("a * b * c"), "a * b * c");
        assert_eq!(inline("x < y && \"z\""), "x &lt; y &amp;&amp; \"z\"");
        assert_eq!(inline("**RFC** 862"), "<strong>RFC</strong> 862");
    }
}
