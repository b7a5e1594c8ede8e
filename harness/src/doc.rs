//! The `//!` doc comment of a program: extracting it from its source and finding its
//! parts (the opening paragraph, a section such as `# Migration`), as CommonMark
//! (pulldown-cmark, the parser rustdoc and mdBook use) reads it.

use std::ops::Range;

use pulldown_cmark::{Event, HeadingLevel, Parser, Tag, TagEnd};
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

/// The first paragraph, joined into one line.
pub fn first_paragraph(doc: &str) -> String {
    doc.lines()
        .skip_while(|l| l.trim().is_empty())
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
}

/// What follows the first paragraph (the rest of a header whose first paragraph is
/// shown on its own).
pub fn after_first_paragraph(doc: &str) -> &str {
    let start = doc.len() - doc.trim_start().len();
    match doc[start..].find("\n\n") {
        Some(i) => doc[start + i..].trim_start_matches('\n'),
        None => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_paragraph_and_the_rest() {
        let doc = "\nOne line,\nthen more.\n\nSecond.\n\nThird.\n";
        assert_eq!(first_paragraph(doc), "One line, then more.");
        assert_eq!(after_first_paragraph(doc), "Second.\n\nThird.\n");
        assert_eq!(after_first_paragraph("Only this."), "");
    }

    const SRC: &str = "//! UDP echo on tokio 1: one task.\n//!\n//! It multiplexes `ready()` and\n//! *waits*.\n//!\n//! ```text\n//! # not a heading\n//! nc -u 127.0.0.1 2000\n//! ```\n//!\n//! # Migration\n//!\n//! * The hand-written `impl Future for Server` becomes an\n//!   `async fn` loop.\n//!\n//! # Caveats\n//!\n//! None.\n\nuse std::io;\n//! not part of it\n";

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
        assert_eq!(
            section(&doc, "not a heading"),
            None,
            "a `#` line in a code block"
        );
    }
}
