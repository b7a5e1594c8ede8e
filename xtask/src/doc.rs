//! The `//!` doc comment of a program: extracting it, splitting it into its parts
//! (the opening paragraph, the description, `# Migration`), and rendering the small
//! Markdown it uses (paragraphs, lists, code blocks, `code`, *emphasis*, **strong**,
//! links) as HTML.

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

/// Whether `line` opens or closes a fenced code block.
fn is_fence(line: &str) -> bool {
    line.trim_start().starts_with("```")
}

/// The heading text of a `# Title` line (any level).
fn heading(line: &str) -> Option<&str> {
    let t = line.trim_start_matches('#');
    (t.len() < line.len() && t.starts_with(' ')).then(|| t.trim())
}

/// The text before the first heading.
pub fn intro(doc: &str) -> String {
    let mut out = String::new();
    let mut fenced = false;
    for line in doc.lines() {
        if is_fence(line) {
            fenced = !fenced;
        }
        if !fenced && heading(line).is_some() {
            break;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The body of section `title` (`# Migration`), up to the next heading of the same or
/// a higher level.
pub fn section(doc: &str, title: &str) -> Option<String> {
    let mut out = None::<String>;
    let mut level = 0;
    let mut fenced = false;
    for line in doc.lines() {
        if is_fence(line) {
            fenced = !fenced;
        }
        let head = if fenced { None } else { heading(line) };
        match (&mut out, head) {
            (None, Some(h)) if h.eq_ignore_ascii_case(title) => {
                level = line.len() - line.trim_start_matches('#').len();
                out = Some(String::new());
            }
            (Some(_), Some(_)) if line.len() - line.trim_start_matches('#').len() <= level => break,
            (Some(body), _) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, None) | (None, Some(_)) => {}
        }
    }
    out.map(|s| s.trim_matches('\n').to_string() + "\n")
        .filter(|s| !s.trim().is_empty())
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

/// Inline Markdown: `code`, **strong**, *emphasis*, [text](http…) links; the rest is
/// escaped.
pub fn inline(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('`') {
            if let Some(end) = after.find('`') {
                out.push_str(&format!("<code>{}</code>", escape(&after[..end])));
                rest = &after[end + 1..];
                continue;
            }
        }
        if let Some(after) = rest.strip_prefix("**") {
            if let Some(end) = after.find("**").filter(|&e| e > 0) {
                out.push_str(&format!("<strong>{}</strong>", inline(&after[..end])));
                rest = &after[end + 2..];
                continue;
            }
        }
        if let Some(after) = rest.strip_prefix('*') {
            let end = after.find('*').filter(|&e| {
                e > 0
                    && !after.starts_with(' ')
                    && !after[..e].ends_with(' ')
                    && !after[..e].contains('`')
            });
            if let Some(end) = end {
                out.push_str(&format!("<em>{}</em>", inline(&after[..end])));
                rest = &after[end + 1..];
                continue;
            }
        }
        if let Some(after) = rest.strip_prefix('[') {
            if let Some((label, tail)) = after.split_once("](") {
                if let Some((url, tail)) = tail.split_once(')') {
                    if !label.contains(']')
                        && (url.starts_with("https://") || url.starts_with("http://"))
                    {
                        out.push_str(&format!(
                            "<a href=\"{}\">{}</a>",
                            escape(url),
                            inline(label)
                        ));
                        rest = tail;
                        continue;
                    }
                }
            }
        }
        let c = rest.chars().next().unwrap_or(' ');
        out.push_str(&escape(&c.to_string()));
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// A list item marker (`* `, `- `, `1. `) at the start of `line`: (indent, ordered,
/// text after the marker).
fn list_item(line: &str) -> Option<(usize, bool, &str)> {
    let indent = line.len() - line.trim_start().len();
    let t = line.trim_start();
    if let Some(rest) = t.strip_prefix("* ").or_else(|| t.strip_prefix("- ")) {
        return Some((indent, false, rest));
    }
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    if digits > 0 {
        if let Some(rest) = t[digits..].strip_prefix(". ") {
            return Some((indent, true, rest));
        }
    }
    None
}

/// Renders the Markdown of a doc comment as HTML. Headings become `<h4>`/`<h5>`: the
/// page around it has its own.
pub fn to_html(md: &str) -> String {
    let lines: Vec<&str> = md.lines().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if line.trim().is_empty() {
            i += 1;
        } else if is_fence(line) {
            let mut code = Vec::new();
            i += 1;
            while i < lines.len() && !is_fence(lines[i]) {
                code.push(lines[i]);
                i += 1;
            }
            i += 1;
            out.push_str(&format!(
                "<pre class=\"doc-code\"><code>{}</code></pre>\n",
                escape(&code.join("\n"))
            ));
        } else if let Some(h) = heading(line) {
            let level = if line.starts_with("##") { 5 } else { 4 };
            out.push_str(&format!("<h{level}>{}</h{level}>\n", inline(h)));
            i += 1;
        } else if let Some((indent, ordered, _)) = list_item(line) {
            let (html, next) = list(&lines, i, indent, ordered);
            out.push_str(&html);
            i = next;
        } else {
            let mut para = Vec::new();
            while i < lines.len()
                && !lines[i].trim().is_empty()
                && !is_fence(lines[i])
                && list_item(lines[i]).is_none()
                && heading(lines[i]).is_none()
            {
                para.push(lines[i].trim());
                i += 1;
            }
            out.push_str(&format!("<p>{}</p>\n", inline(&para.join(" "))));
        }
    }
    out
}

/// A list starting at `lines[start]` whose items sit at `indent`; returns its HTML and
/// the index of the first line after it.
fn list(lines: &[&str], start: usize, indent: usize, ordered: bool) -> (String, usize) {
    let tag = if ordered { "ol" } else { "ul" };
    let mut out = format!("<{tag}>\n");
    let mut i = start;
    while i < lines.len() {
        let Some((ind, _, first)) = list_item(lines[i]).filter(|(ind, _, _)| *ind == indent) else {
            break;
        };
        let mut text = vec![first.trim()];
        let mut nested = String::new();
        i += 1;
        while let Some(line) = lines.get(i) {
            if line.trim().is_empty() {
                // A blank line ends the item unless the list goes on after it.
                let continues = lines.get(i + 1).is_some_and(|l| {
                    list_item(l).is_some_and(|(n, _, _)| n >= indent)
                        || (l.len() - l.trim_start().len() > ind && !l.trim().is_empty())
                });
                if !continues {
                    break;
                }
                i += 1;
                continue;
            }
            match list_item(line) {
                Some((n, o, _)) if n > ind => {
                    let (html, next) = list(lines, i, n, o);
                    nested.push_str(&html);
                    i = next;
                }
                Some(_) => break,
                None if line.len() - line.trim_start().len() > ind => {
                    text.push(line.trim());
                    i += 1;
                }
                None => break,
            }
        }
        out.push_str(&format!("<li>{}{nested}</li>\n", inline(&text.join(" "))));
    }
    out.push_str(&format!("</{tag}>\n"));
    (out, i)
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
        let intro = intro(&doc);
        assert!(
            intro.contains("# not a heading"),
            "fenced lines are not headings"
        );
        assert!(!intro.contains("Migration"));
        let migration = section(&doc, "Migration").unwrap();
        assert!(migration.starts_with("* The hand-written"));
        assert!(!migration.contains("Caveats") && !migration.contains("None."));
        assert_eq!(section(&doc, "Nothing"), None);
    }

    #[test]
    fn markdown_to_html() {
        let doc = inner_doc(SRC);
        let html = to_html(&section(&doc, "Migration").unwrap());
        assert_eq!(
            html,
            "<ul>\n<li>The hand-written <code>impl Future for Server</code> becomes an <code>async fn</code> loop.</li>\n\
             <li><code>Core::run</code> becomes <code>block_on</code> &lt;one thread&gt;.</li>\n</ul>\n"
        );
        let html = to_html(&intro(&doc));
        assert!(html.contains("<p>It multiplexes <code>ready()</code> and <em>waits</em>.</p>"));
        assert!(html.contains(
            "<pre class=\"doc-code\"><code># not a heading\nnc -u 127.0.0.1 2000</code></pre>"
        ));
    }

    #[test]
    fn nested_lists_and_links() {
        let html =
            to_html("1. one\n   * a\n   * b\n2. two [docs](https://docs.rs/tokio)\n\nafter\n");
        assert_eq!(
            html,
            "<ol>\n<li>one<ul>\n<li>a</li>\n<li>b</li>\n</ul>\n</li>\n<li>two <a href=\"https://docs.rs/tokio\">docs</a></li>\n</ol>\n<p>after</p>\n"
        );
    }

    #[test]
    fn lone_stars_and_escapes() {
        assert_eq!(inline("a * b * c"), "a * b * c");
        assert_eq!(
            inline("x < y && \"z\""),
            "x &lt; y &amp;&amp; &quot;z&quot;"
        );
        assert_eq!(inline("**RFC** 862"), "<strong>RFC</strong> 862");
    }
}
