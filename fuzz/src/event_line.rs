//! Target `event_line`: one line of a program's stdout, as the conformance suite and
//! the bench read it (`Event::from_str`).
//!
//! Properties:
//!
//! * A line that parses prints back to a line that parses to the same event, and
//!   printing is a fixed point (the printed line prints as itself).
//! * A printed event is one line when the line read was.
//! * A line that does not parse is reported with the line itself.

use shared::event::Event;

pub fn check(data: &[u8]) {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    match line.parse::<Event>() {
        Ok(event) => {
            let printed = event.to_string();
            let again: Event = printed
                .parse()
                .unwrap_or_else(|e| panic!("{line:?} parsed, printed as {printed:?}: {e}"));
            assert_eq!(again, event, "{line:?} printed as {printed:?}");
            assert_eq!(again.to_string(), printed);
            if !line.contains('\n') {
                assert!(!printed.contains('\n'), "{line:?} printed as {printed:?}");
            }
        }
        Err(e) => assert_eq!(e.line, line),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::vectors::events::{LINES, NOT_LINES};

    #[test]
    fn every_vector_holds() {
        for line in LINES.iter().chain(NOT_LINES) {
            check(line.as_bytes());
        }
    }
}
