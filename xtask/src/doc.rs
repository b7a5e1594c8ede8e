//! A program's `//!` doc comment on a page of the book: its Markdown rendered as HTML
//! with pulldown-cmark (the parser mdBook uses), and text escaped for HTML.

use pulldown_cmark::{html, CowStr, Event, HeadingLevel, Options, Parser, Tag, TagEnd};

pub use harness::doc::first_paragraph;

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
    use harness::doc::inner_doc;

    const SRC: &str = "//! UDP echo on tokio 1: one task.\n//!\n//! It multiplexes `ready()` and\n//! *waits*.\n//!\n//! ```text\n//! # not a heading\n//! nc -u 127.0.0.1 2000\n//! ```\n//!\n//! # Migration\n//!\n//! * The hand-written `impl Future for Server` becomes an\n//!   `async fn` loop.\n//! * `Core::run` becomes `block_on` <one thread>.\n//!\n//! # Caveats\n//!\n//! None.\n\nuse std::io;\n//! not part of it\n";

    #[test]
    fn markdown_to_html() {
        let doc = inner_doc(SRC);
        let html = to_html(&harness::doc::section(&doc, "Migration").unwrap());
        assert_eq!(
            html,
            "<ul>\n<li>The hand-written <code>impl Future for Server</code> becomes an\n<code>async fn</code> loop.</li>\n\
             <li><code>Core::run</code> becomes <code>block_on</code> <one thread>.</li>\n</ul>\n",
            "CommonMark: a soft break stays a line break, `<one thread>` is inline HTML"
        );
        let html = to_html(&doc);
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
