//! What the fuzz targets share: how an input is cut into steps, and the oracles that judge what
//! the chat wrote to a terminal.
//!
//! The oracles are written here from the outside, not borrowed from chat-core: a target that
//! checked the sanitizer's output with the sanitizer's own `is_forbidden_char` would only prove
//! that the function agrees with itself.

use std::fmt::Write as _;

/// A piece of a fuzz input: bytes to feed, or an operation between them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Bytes(Vec<u8>),
    /// `0xFF` then this byte (anything but `0xFF`).
    Op(u8),
}

/// Cuts `data` at its markers: `0xFF` followed by an op byte ends a segment and stands for that
/// op; `0xFF 0xFF` is one literal `0xFF` byte (which a terminal may send too: it is no UTF-8).
/// Seed files are thus plain keystrokes with a few markers in them.
pub fn segments(data: &[u8]) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    let mut bytes = data.iter().copied();
    while let Some(byte) = bytes.next() {
        if byte != 0xFF {
            current.push(byte);
            continue;
        }
        match bytes.next() {
            Some(0xFF) => current.push(0xFF),
            Some(op) => {
                out.push(Segment::Bytes(std::mem::take(&mut current)));
                out.push(Segment::Op(op));
            }
            None => current.push(0xFF),
        }
    }
    out.push(Segment::Bytes(current));
    out
}

/// Whether `c` must never reach a terminal from user text: C0 controls, DEL, C1 controls, bidi
/// embeddings, overrides, isolates and marks, and the Unicode line and paragraph separators.
pub fn is_dangerous(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}'
        | '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        | '\u{2028}' | '\u{2029}')
}

/// What may appear in a terminal's byte stream besides clean text.
#[derive(Debug, Clone, Copy)]
pub struct Allowed {
    /// Whether `\r` and `\n` (`\n` is always allowed).
    pub cr: bool,
    /// Whether BEL (a mention's bell).
    pub bell: bool,
    /// The final bytes of the CSI sequences (`ESC [` digits and `;` then one of these) that
    /// the renderer itself writes; empty for none at all.
    pub csi_finals: &'static [u8],
}

impl Allowed {
    /// A session without a terminal: clean text and `\n`, nothing else.
    pub const PLAIN: Allowed = Allowed {
        cr: false,
        bell: false,
        csi_finals: b"",
    };
    /// What an interactive session writes: SGR colours, cursor up/right to redraw the prompt,
    /// erase below, and (after Ctrl-L only) home and clear screen.
    pub const TERMINAL: Allowed = Allowed {
        cr: true,
        bell: true,
        csi_finals: b"mACJH",
    };
    /// What rendered event rows hold: SGR colours only.
    pub const ROWS: Allowed = Allowed {
        cr: true,
        bell: false,
        csi_finals: b"m",
    };
}

/// Checks that `bytes` are UTF-8 and hold nothing that could move the cursor, change modes or
/// reorder text beyond what `allowed` lets the renderer write itself.
pub fn check_terminal_bytes(bytes: &[u8], allowed: Allowed) -> Result<(), String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        let context = || {
            let from = text.floor_char_boundary(at.saturating_sub(24));
            let to = text.ceil_char_boundary((at + 24).min(text.len()));
            format!("{:?}", &text[from..to])
        };
        match c {
            '\n' => {}
            '\r' if allowed.cr => {}
            '\u{7}' if allowed.bell => {}
            '\u{1b}' => {
                if chars.next().map(|(_, c)| c) != Some('[') {
                    return Err(format!(
                        "ESC not starting a CSI at byte {at} in {}",
                        context()
                    ));
                }
                let mut params = String::new();
                let final_byte = loop {
                    match chars.next() {
                        Some((_, c)) if c.is_ascii_digit() || c == ';' => params.push(c),
                        Some((_, c)) => break Some(c),
                        None => break None,
                    }
                };
                match final_byte {
                    Some(f) if f.is_ascii() && allowed.csi_finals.contains(&(f as u8)) => {}
                    other => {
                        return Err(format!(
                            "CSI {params:?} {other:?} is not one the renderer writes, at byte {at} in {}",
                            context()
                        ));
                    }
                }
            }
            c if is_dangerous(c) => {
                return Err(format!("{c:?} at byte {at} in {}", context()));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Checks that each `\r\n`-terminated row of `bytes` (as `write_lines` writes them) fits on
/// one row of a `width`-column terminal: written to a `vt100` terminal from its first column,
/// the cursor must still be on that row (a terminal wraps a row that is too wide, including a
/// wide character that would start in the last column).
pub fn check_rows_fit(bytes: &[u8], width: usize) -> Result<(), String> {
    if u16::try_from(width).is_err() {
        return Err(format!("width {width} too large to check"));
    }
    let mut terminal = terminal(2, width);
    let mut rest = bytes;
    let mut index = 0;
    while !rest.is_empty() {
        let Some(end) = rest.windows(2).position(|w| w == b"\r\n") else {
            return Err(format!(
                "row {index} does not end in \\r\\n: {:?}",
                lossy(rest)
            ));
        };
        let row = &rest[..end];
        terminal.process(b"\x1b[H\x1b[2J\x1b[0m");
        terminal.process(&for_vt100(row));
        let (line, col) = terminal.screen().cursor_position();
        if line != 0 {
            return Err(format!(
                "row {index} is wider than {width} columns (cursor at {line},{col}): {:?}",
                lossy(row)
            ));
        }
        rest = &rest[end + 2..];
        index += 1;
    }
    Ok(())
}

/// A `vt100` terminal of this size (each at least 1, at most `u16::MAX`), without scrollback.
pub fn terminal(rows: usize, cols: usize) -> vt100::Parser {
    let cells = |n: usize| {
        std::num::NonZeroU16::new(u16::try_from(n).unwrap_or(u16::MAX).max(1)).expect("at least 1")
    };
    vt100::Parser::new(cells(rows), cells(cols), 0)
}

/// `bytes` as a `vt100` terminal should get them to draw what a real one does: `vt100` leaves
/// U+FFFD (which a lossy decoding of bad UTF-8 puts in text) undrawn, where xterm draws it in
/// one cell, so it becomes `?`.
pub fn for_vt100(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while let Some(at) = rest.windows(3).position(|w| w == "\u{fffd}".as_bytes()) {
        out.extend_from_slice(&rest[..at]);
        out.push(b'?');
        rest = &rest[at + 3..];
    }
    out.extend_from_slice(rest);
    out
}

/// Bytes for a message: text where it is UTF-8.
pub fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The visible rows of a terminal, for a failure message.
pub fn screen_dump(terminal: &vt100::Parser) -> String {
    let screen = terminal.screen();
    let (_, cols) = screen.size();
    let mut out = String::new();
    for (i, row) in screen.rows(0, cols.get()).enumerate() {
        let _ = writeln!(out, "{i:3}|{row}");
    }
    let (row, col) = screen.cursor_position();
    let _ = write!(out, "cursor at {row},{col}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_cut_and_escape() {
        assert_eq!(
            segments(b"ab\xff\x01c\xff\xffd\xff"),
            [
                Segment::Bytes(b"ab".to_vec()),
                Segment::Op(1),
                Segment::Bytes(b"c\xffd\xff".to_vec()),
            ]
        );
    }

    #[test]
    fn the_oracle_refuses_what_it_should() {
        assert!(check_terminal_bytes(b"\x1b[31mred\x1b[0m\r\n\x07", Allowed::TERMINAL).is_ok());
        assert!(check_terminal_bytes(b"a\x1b]0;t\x07", Allowed::TERMINAL).is_err());
        assert!(check_terminal_bytes(b"a\x1b[2J", Allowed::ROWS).is_err());
        assert!(check_terminal_bytes("a\u{202e}b".as_bytes(), Allowed::TERMINAL).is_err());
        assert!(check_terminal_bytes("a\u{9b}2J".as_bytes(), Allowed::TERMINAL).is_err());
        assert!(check_terminal_bytes(b"a\r\n", Allowed::PLAIN).is_err());
        assert!(check_terminal_bytes(b"a\xff", Allowed::PLAIN).is_err());
    }

    #[test]
    fn rows_that_wrap_are_caught() {
        assert!(check_rows_fit(b"abcd\r\nef\r\n", 4).is_ok());
        assert!(check_rows_fit(b"abcde\r\n", 4).is_err());
        assert!(check_rows_fit("abc日\r\n".as_bytes(), 4).is_err());
        assert!(check_rows_fit(b"\x1b[1mabcd\x1b[0m\r\n", 4).is_ok());
        assert!(check_rows_fit("abc\u{fffd}\u{fffd}\r\n".as_bytes(), 4).is_err());
    }
}
