//! Display width and wrapping of styled text, measured by grapheme cluster.
//!
//! Terminals lay text out in cells: most characters take one, East Asian wide characters and
//! emoji take two, combining marks none. Everything here measures graphemes with
//! `unicode-width`, so that wrapped lines never exceed the terminal's width and the cursor is
//! put where the terminal will really draw it.

use unicode_segmentation::UnicodeSegmentation;
use unicode_width::UnicodeWidthChar;

use super::style::Style;
use crate::sanitize::sanitize;

/// A run of sanitized text in one style.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub text: String,
    pub style: Style,
}

/// One logical line of output, before wrapping.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StyledLine {
    pub spans: Vec<Span>,
}

impl StyledLine {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends text we wrote ourselves (labels, punctuation): it is trusted and not sanitized.
    pub fn push_trusted(&mut self, text: &str, style: Style) -> &mut Self {
        if !text.is_empty() {
            self.spans.push(Span {
                text: text.to_owned(),
                style,
            });
        }
        self
    }

    /// Appends text that came from a user: it is sanitized on the way in.
    pub fn push_user(&mut self, text: &str, style: Style) -> &mut Self {
        let clean = sanitize(text);
        if !clean.is_empty() {
            self.spans.push(Span { text: clean, style });
        }
        self
    }

    /// The text without styles.
    pub fn plain(&self) -> String {
        self.spans.iter().map(|s| s.text.as_str()).collect()
    }

    pub fn width(&self) -> usize {
        self.spans.iter().map(|s| text_width(&s.text)).sum()
    }
}

/// Cells a grapheme takes: the sum of its characters' widths, as `wcwidth` (and so xterm,
/// tmux, screen and the `vt100` crate our tests use) counts them. Terminals disagree about
/// emoji sequences (`👍🏽` is 2 cells in some, 4 in others); counting every character is the
/// choice under which a terminal that draws fewer cells only shortens a row, while the other
/// choice would let rows overflow and wrap where we do not expect it.
pub fn grapheme_width(grapheme: &str) -> usize {
    grapheme.chars().map(|c| c.width().unwrap_or(0)).sum()
}

/// Cells `text` takes on one row.
pub fn text_width(text: &str) -> usize {
    if crate::sanitize::is_printable_ascii(text) {
        return text.len();
    }
    text.graphemes(true).map(grapheme_width).sum()
}

/// A grapheme with its style and width: the unit wrapping works on.
#[derive(Debug, Clone, Copy)]
struct Cell<'a> {
    grapheme: &'a str,
    style: Style,
    width: usize,
}

impl Cell<'_> {
    fn is_space(&self) -> bool {
        self.grapheme == " "
    }
}

/// Splits `line` into rows of at most `width` cells, breaking after a space where it can and
/// inside a word where it must. A grapheme wider than the whole row is shown as `?`, so even a
/// one-cell terminal gets rows that fit. The spaces a row is broken at are dropped.
pub fn wrap(line: &StyledLine, width: usize) -> Vec<StyledLine> {
    let width = width.max(1);
    // Most lines fit: no need to take them apart.
    if line.width() <= width {
        return vec![line.clone()];
    }
    let cells: Vec<Cell<'_>> = line
        .spans
        .iter()
        .flat_map(|span| {
            span.text.graphemes(true).map(move |g| {
                let w = grapheme_width(g);
                if w > width {
                    Cell {
                        grapheme: "?",
                        style: span.style,
                        width: 1,
                    }
                } else {
                    Cell {
                        grapheme: g,
                        style: span.style,
                        width: w,
                    }
                }
            })
        })
        .collect();
    row_ranges(&cells, width)
        .into_iter()
        .map(|range| collect_line(&cells[range]))
        .collect()
}

fn row_ranges(cells: &[Cell<'_>], width: usize) -> Vec<std::ops::Range<usize>> {
    let mut rows = Vec::new();
    let mut start = 0;
    let mut col = 0;
    let mut i = 0;
    while i < cells.len() {
        let cell = cells[i];
        if col + cell.width > width && i > start {
            let (end, next) = if cell.is_space() {
                (i, i + 1)
            } else {
                last_break(cells, start, i).unwrap_or((i, i))
            };
            rows.push(start..end);
            start = next;
            i = i.max(next);
            col = cells[start..i].iter().map(|c| c.width).sum();
            continue;
        }
        col += cell.width;
        i += 1;
    }
    rows.push(start..cells.len());
    rows
}

/// The last place in `cells[start..before]` where a row may end: after a space (which is then
/// dropped) or beside a wide character (CJK text has no spaces and breaks between characters).
/// Returns where the row ends and where the next one starts.
fn last_break(cells: &[Cell<'_>], start: usize, before: usize) -> Option<(usize, usize)> {
    (start + 1..=before).rev().find_map(|b| {
        let (left, right) = (cells[b - 1], cells.get(b));
        if left.is_space() && b - 1 > start {
            Some((b - 1, b))
        } else if left.width == 2 || right.is_some_and(|r| r.width == 2) {
            Some((b, b))
        } else {
            None
        }
    })
}

fn collect_line(cells: &[Cell<'_>]) -> StyledLine {
    let mut line = StyledLine::new();
    for cell in cells {
        match line.spans.last_mut() {
            Some(span) if span.style == cell.style => span.text.push_str(cell.grapheme),
            _ => line.spans.push(Span {
                text: cell.grapheme.to_owned(),
                style: cell.style,
            }),
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn plain(text: &str) -> StyledLine {
        let mut line = StyledLine::new();
        line.push_user(text, Style::Plain);
        line
    }

    fn rows(text: &str, width: usize) -> Vec<String> {
        wrap(&plain(text), width)
            .iter()
            .map(StyledLine::plain)
            .collect()
    }

    #[test]
    fn short_lines_stay_whole() {
        assert_eq!(rows("hello", 10), ["hello"]);
        assert_eq!(rows("", 10), [""]);
    }

    #[test]
    fn wraps_at_spaces_when_it_can() {
        assert_eq!(rows("hello big world", 10), ["hello big", "world"]);
        assert_eq!(rows("hello worlds end", 11), ["hello", "worlds end"]);
        assert_eq!(rows("thumbs up please", 9), ["thumbs up", "please"]);
        assert_eq!(rows("abcdefghijkl", 5), ["abcde", "fghij", "kl"]);
    }

    #[test]
    fn wide_characters_never_straddle_a_row() {
        assert_eq!(rows("日本語です", 5), ["日本", "語で", "す"]);
        assert_eq!(rows("ab: 日本語です", 8), ["ab: 日本", "語です"]);
        assert_eq!(rows("👍🏽👍🏽👍🏽", 8), ["👍🏽👍🏽", "👍🏽"]);
    }

    #[test]
    fn too_wide_for_the_terminal_becomes_a_question_mark() {
        assert_eq!(rows("日x", 1), ["?", "x"]);
    }

    #[test]
    fn widths_are_per_grapheme() {
        assert_eq!(text_width("e\u{301}"), 1);
        assert_eq!(text_width("日本"), 4);
        assert_eq!(text_width("👍🏽"), 4);
    }

    proptest! {
        #[test]
        fn no_row_exceeds_the_width(text in any::<String>(), width in 1usize..100) {
            for row in wrap(&plain(&text), width) {
                prop_assert!(row.width() <= width, "{:?} at width {}", row.plain(), width);
            }
        }

        #[test]
        fn wrapping_loses_only_break_spaces(text in "[a-z ]{0,80}", width in 1usize..30) {
            let joined: String = wrap(&plain(&text), width).iter().map(StyledLine::plain).collect();
            let squeeze = |s: &str| s.replace(' ', "");
            prop_assert_eq!(squeeze(&joined), squeeze(&text));
        }
    }
}
