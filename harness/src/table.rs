//! The one way the tools print a table for people (`comfy-table`): columns aligned,
//! no borders, at most [`WIDTH`] characters wide, long cells wrapped rather than the
//! table widened.

use comfy_table::{presets, CellAlignment, ColumnConstraint, ContentArrangement, Table, Width};

/// The widest a table may be, in characters.
pub const WIDTH: u16 = 100;

/// `header` and `rows` as an aligned table; columns after the first two that hold
/// numbers are right-aligned.
pub fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(WIDTH)
        .set_header(header.iter().map(|h| h.to_string()));
    let numeric: Vec<bool> = (0..header.len())
        .map(|i| i > 0 && rows.iter().all(|r| r.get(i).is_none_or(|c| is_number(c))))
        .collect();
    // A column is never narrower than its longest word: cells wrap at blanks, and a
    // name is never cut in two.
    let longest_word = |i: usize| {
        let cells = rows.iter().filter_map(|r| r.get(i)).map(String::as_str);
        let words = cells.chain([header[i]]).flat_map(str::split_whitespace);
        words.map(|w| w.chars().count()).max().unwrap_or(1).min(40) as u16
    };
    let floors: Vec<u16> = (0..header.len()).map(longest_word).collect();
    for row in rows {
        t.add_row(row);
    }
    for (i, column) in t.column_iter_mut().enumerate() {
        // Two spaces between columns, none at the edges.
        column.set_padding((0, 2));
        let floor = floors.get(i).copied().unwrap_or(4) + 2;
        column.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed(floor)));
        if numeric.get(i).copied().unwrap_or(false) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    let text = t.to_string();
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    lines.join("\n") + "\n"
}

/// A note under a table: `text` wrapped at [`WIDTH`], ending in a newline.
pub fn note(text: &str) -> String {
    textwrap::fill(text, WIDTH as usize) + "\n"
}

/// `1,234`, `2.50 (2.00–3.00)`, `94%`, `—` or empty: a cell that reads as a figure.
fn is_number(cell: &str) -> bool {
    let first = cell.split_whitespace().next().unwrap_or("—");
    let bare = first.trim_end_matches(['%', '×']).replace(',', "");
    first == "—" || bare.parse::<f64>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_and_never_wider_than_the_width() {
        let t = table(
            &["program", "flavor", "echoes/s"],
            vec![
                vec!["echo-tokio".into(), "modern".into(), "12,000".into()],
                vec!["echo-select".into(), "legacy".into(), "900".into()],
            ],
        );
        let lines: Vec<&str> = t.lines().collect();
        assert!(
            lines[0].contains("program") && lines[0].contains("echoes/s"),
            "{t}"
        );
        let end = |l: &str| l.len();
        assert_eq!(
            end(lines[lines.len() - 1]),
            end(lines[lines.len() - 2]),
            "{t}"
        );
        let long = "a reason that goes on and on ".repeat(10);
        let t = table(&["check", "why"], vec![vec!["x".into(), long]]);
        assert!(
            t.lines().all(|l| l.chars().count() <= WIDTH as usize),
            "{t}"
        );
        assert!(t.lines().count() > 3, "the long cell is wrapped: {t}");
        for cell in ["1,234", "2.50 (2.00–3.00)", "94%", "—", "", "0.55×"] {
            assert!(is_number(cell), "{cell}");
        }
        for cell in ["10/10 passed", "legacy", "error"] {
            assert!(!is_number(cell), "{cell}");
        }
    }
}
