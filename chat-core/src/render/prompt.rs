//! Drawing the prompt and the half-typed input beneath the conversation.
//!
//! The input line is written once and left to the terminal's own wrapping, so a long line
//! takes several rows. [`PromptArea`] remembers how many rows it drew and where it left the
//! cursor, so that it can erase exactly those rows before a message is printed above it, then
//! draw them again with the cursor back where it was. Positions are computed the way a VT100
//! lays out text: character by character by display width (as `wcwidth` terminals do), a wide character that does not fit moves whole
//! to the next row, and a row filled to its last column leaves the cursor in the "pending
//! wrap" state, which we always resolve explicitly so the cursor position never depends on a
//! terminal's quirks.
//!
//! When the input needs more rows than the screen has, only a window of it around the cursor
//! is shown, marked with `…`, so that moving back up never runs off the top of the screen.

use std::borrow::Cow;

use unicode_segmentation::UnicodeSegmentation;
use unicode_width::UnicodeWidthChar;

use super::text::{StyledLine, grapheme_width};
use super::{Style, encode_row};
use crate::prefs::Theme;
use crate::sanitize::{is_printable_ascii, sanitize};

/// The size of a terminal, in cells. Sizes below 1 are treated as 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TermSize {
    pub width: usize,
    pub height: usize,
}

impl TermSize {
    /// What a terminal that reports no size (`0×0`, as `ssh -tt` sends for piped input) gets.
    pub const DEFAULT: TermSize = TermSize {
        width: 80,
        height: 24,
    };

    /// Takes a size a client reported, replacing a zero (unknown) dimension by the default.
    pub fn from_reported(width: u32, height: u32) -> TermSize {
        let pick = |v: u32, default: usize| match v {
            0 => default,
            v => usize::try_from(v).unwrap_or(default).min(10_000),
        };
        TermSize {
            width: pick(width, Self::DEFAULT.width),
            height: pick(height, Self::DEFAULT.height),
        }
    }
}

impl Default for TermSize {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The prompt area as it was last drawn.
#[derive(Debug, Clone, Default)]
pub struct PromptArea {
    /// Whether the prompt is on screen now.
    drawn: bool,
    /// Rows from the first prompt row down to the cursor.
    cursor_row: usize,
}

/// A row and column, both from 0, relative to the first row of the prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pos {
    row: usize,
    col: usize,
}

/// Follows the terminal's cursor as text is written from column 0.
#[derive(Debug, Clone, Copy)]
struct Tracker {
    width: usize,
    row: usize,
    /// May equal `width`: the pending-wrap state after filling a row.
    col: usize,
}

impl Tracker {
    fn new(width: usize) -> Self {
        Self {
            width: width.max(1),
            row: 0,
            col: 0,
        }
    }

    /// Where a grapheme `w` cells wide will be drawn if written now.
    fn next_pos(&self, w: usize) -> Pos {
        if self.col + w.max(1) > self.width {
            Pos {
                row: self.row + 1,
                col: 0,
            }
        } else {
            Pos {
                row: self.row,
                col: self.col,
            }
        }
    }

    fn advance(&mut self, w: usize) {
        let at = self.next_pos(w);
        self.row = at.row;
        self.col = at.col + w;
    }

    /// Where a grapheme will start: where its first character with a width goes.
    fn next_pos_of(&self, grapheme: &str) -> Pos {
        self.next_pos(
            grapheme
                .chars()
                .map(char_width)
                .find(|&w| w > 0)
                .unwrap_or(0),
        )
    }

    /// Writes a grapheme the way a `wcwidth` terminal does: character by character, so the
    /// parts of a sequence like `👍🏽` can land on different rows. Zero-width characters join
    /// the cell before them and move nothing.
    fn write(&mut self, grapheme: &str) {
        for w in grapheme.chars().map(char_width) {
            // A character wider than the whole row is not drawn at all by a terminal.
            if w > 0 && w <= self.width {
                self.advance(w);
            }
        }
    }

    /// Where the cursor rests at the end, with a pending wrap resolved onto the next row.
    fn end(&self) -> Pos {
        self.next_pos(1)
    }
}

fn char_width(c: char) -> usize {
    c.width().unwrap_or(0)
}

/// One grapheme of input to draw: where it starts in the input, and its text.
#[derive(Debug)]
struct Glyph<'i> {
    offset: usize,
    text: Cow<'i, str>,
}

/// The input's graphemes, sanitized; one wider than a whole row (a character too wide for the
/// terminal, or a sequence like `👍🏽` on a 2-column one) is drawn as `?`, as
/// [`wrap`](super::wrap) does. Redrawn on every keystroke, so printable ASCII (one byte, one cell each)
/// is borrowed, not copied.
fn glyphs(input: &str, max_width: usize) -> Vec<Glyph<'_>> {
    if is_printable_ascii(input) {
        return (0..input.len())
            .map(|offset| Glyph {
                offset,
                text: Cow::Borrowed(&input[offset..=offset]),
            })
            .collect();
    }
    input
        .grapheme_indices(true)
        .map(|(offset, g)| {
            let clean = sanitize(g);
            let text = if grapheme_width(&clean) > max_width {
                Cow::Borrowed("?")
            } else if clean == g {
                Cow::Borrowed(g)
            } else {
                Cow::Owned(clean)
            };
            Glyph { offset, text }
        })
        .collect()
}

/// What will be drawn: an optional prefix (the prompt, maybe `…`) and a slice of the input.
struct Plan<'a> {
    prompt: Option<&'a StyledLine>,
    ellipsis: bool,
    glyphs: &'a [Glyph<'a>],
}

impl Plan<'_> {
    fn tracker_after_prefix(&self, width: usize) -> Tracker {
        let mut t = Tracker::new(width);
        if let Some(prompt) = self.prompt {
            for span in &prompt.spans {
                t.write(&span.text);
            }
        }
        if self.ellipsis {
            t.advance(1);
        }
        t
    }

    /// Where the cursor goes (before glyph `cursor`, or at the end) and where the text ends.
    fn layout(&self, width: usize, cursor: usize) -> Layout {
        let mut t = self.tracker_after_prefix(width);
        let mut at = None;
        for (i, glyph) in self.glyphs.iter().enumerate() {
            if i == cursor {
                at = Some(t.next_pos_of(&glyph.text));
            }
            t.write(&glyph.text);
        }
        let pending_wrap = t.col >= t.width;
        let cursor = at.unwrap_or_else(|| t.end());
        // With the cursor past the last row the text reached (at the end, or before glyphs
        // that draw nothing, such as a lone combining mark), a pending wrap is resolved onto a
        // new row, where the cursor must be shown; with the cursor inside the text, moving it
        // resolves it.
        let resolve_wrap = pending_wrap && cursor.row > t.row;
        Layout {
            cursor,
            last_row: t.row + usize::from(resolve_wrap),
            resolve_wrap,
        }
    }

    /// Rows the plan takes with the cursor before glyph `cursor`.
    fn rows(&self, width: usize, cursor: usize) -> usize {
        self.layout(width, cursor).last_row + 1
    }
}

/// The outcome of laying a plan out.
#[derive(Debug, Clone, Copy)]
struct Layout {
    cursor: Pos,
    /// The row the terminal's cursor is on once everything is written.
    last_row: usize,
    /// Whether the text filled its last row exactly with the cursor at its end: a `\r\n`
    /// then moves the cursor onto the next row, where it belongs.
    resolve_wrap: bool,
}

impl PromptArea {
    pub fn is_drawn(&self) -> bool {
        self.drawn
    }

    /// Erases the prompt area: back to its first row, then clear to the end of the screen.
    pub fn erase(&mut self, out: &mut Vec<u8>) {
        if !self.drawn {
            return;
        }
        move_up(self.cursor_row, out);
        out.extend_from_slice(b"\r\x1b[J");
        self.drawn = false;
    }

    /// Forgets what was drawn (after the screen was cleared).
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    /// Draws `prompt` and `input` with the cursor at byte `cursor` of `input`, erasing what was
    /// drawn before.
    pub fn draw(
        &mut self,
        prompt: &StyledLine,
        input: &str,
        cursor: usize,
        size: TermSize,
        theme: Theme,
        out: &mut Vec<u8>,
    ) {
        self.erase(out);
        let width = size.width.max(1);
        let max_rows = size.height.saturating_sub(1).max(1);
        let all = glyphs(input, width);
        let cursor_index = all.partition_point(|g| g.offset < cursor);
        let (plan, cursor_in_plan) = choose_window(prompt, &all, cursor_index, width, max_rows);

        if let Some(prompt) = plan.prompt {
            encode_row(prompt, theme, out);
        }
        if plan.ellipsis {
            let mut mark = StyledLine::new();
            mark.push_trusted("…", Style::System);
            encode_row(&mark, theme, out);
        }
        for glyph in plan.glyphs {
            out.extend_from_slice(glyph.text.as_bytes());
        }
        let layout = plan.layout(width, cursor_in_plan);
        if layout.resolve_wrap {
            out.extend_from_slice(b"\r\n");
        }
        let at = layout.cursor;
        move_up(layout.last_row - at.row, out);
        out.push(b'\r');
        move_right(at.col, out);
        self.drawn = true;
        self.cursor_row = at.row;
    }
}

/// Picks what to draw so that it fits in `max_rows` rows with the cursor visible.
fn choose_window<'a>(
    prompt: &'a StyledLine,
    all: &'a [Glyph<'a>],
    cursor: usize,
    width: usize,
    max_rows: usize,
) -> (Plan<'a>, usize) {
    let whole = Plan {
        prompt: Some(prompt),
        ellipsis: false,
        glyphs: all,
    };
    if whole.rows(width, cursor) <= max_rows {
        return (whole, cursor);
    }
    // Keep the prompt if it leaves room; drop it on a screen too small for it.
    let prompt = Some(prompt).filter(|p| {
        let prefix = Plan {
            prompt: Some(*p),
            ellipsis: true,
            glyphs: &[],
        };
        prefix.rows(width, 0) < max_rows
    });
    let plan = |start: usize, stop: usize| Plan {
        prompt: if start == 0 { whole.prompt } else { prompt },
        ellipsis: start > 0,
        glyphs: &all[start..stop],
    };
    // The first glyph to show: the smallest start that keeps the cursor on screen. Dropping
    // glyphs from the front never moves the cursor down, so a binary search finds it.
    // (The glyph under the cursor is included: a wide one may have to start a new row.)
    let under_cursor = (cursor + 1).min(all.len());
    let cursor_fits =
        |start: usize| plan(start, under_cursor).rows(width, cursor - start) <= max_rows;
    let start = if cursor_fits(0) {
        0
    } else {
        let (mut lo, mut hi) = (1, cursor.max(1));
        while lo < hi {
            let mid = (lo + hi) / 2;
            if cursor_fits(mid) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        lo.min(cursor)
    };
    // The last glyph to show: as many after the cursor as fit.
    let (mut lo, mut hi) = (under_cursor, all.len());
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if plan(start, mid).rows(width, cursor - start) <= max_rows {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    let chosen = plan(start, lo);
    if chosen.rows(width, cursor - start) <= max_rows {
        return (chosen, cursor - start);
    }
    // A screen too small for the prompt (kept above when the window starts at the input's
    // start) or for the `…` mark: the input alone from the cursor, which always fits one row.
    let bare = |stop: usize| Plan {
        prompt: None,
        ellipsis: false,
        glyphs: &all[cursor..stop],
    };
    let mut stop = under_cursor;
    while stop < all.len() && bare(stop + 1).rows(width, 0) <= max_rows {
        stop += 1;
    }
    (bare(stop), 0)
}

fn move_up(rows: usize, out: &mut Vec<u8>) {
    if rows > 0 {
        out.extend_from_slice(format!("\x1b[{rows}A").as_bytes());
    }
}

fn move_right(cols: usize, out: &mut Vec<u8>) {
    if cols > 0 {
        out.extend_from_slice(format!("\x1b[{cols}C").as_bytes());
    }
}

#[cfg(test)]
mod tests;
