//! The line being edited: the third of the editor's layers.
//!
//! [`LineBuffer`] is a `String` and a cursor. Every edit works on whole grapheme clusters (what a
//! person sees as one character: `👍🏽`, `é` written as `e` + U+0301, a flag), so Backspace never
//! leaves half an emoji behind. Because clusters can merge or split when text is inserted or
//! removed next to them (a ZWJ, a combining mark, two regional indicators meeting), each edit
//! ends by snapping the cursor to a cluster boundary. [`LineBuffer::assert_valid`] states the
//! invariants; tests call it after every step.

use crate::sanitize::is_forbidden_char;
use std::ops::Range;
use unicode_segmentation::{GraphemeCursor, UnicodeSegmentation};

/// A one-line text buffer with a cursor, edited by grapheme cluster and capped in `char`s.
///
/// Boundaries next to the cursor are found with a [`GraphemeCursor`] over the whole line, which
/// looks only as far back as it must (regional indicators pair up counting from the start of
/// their run), so a key press costs about one cluster, not one line: a peer streaming arrow keys
/// at a full line cannot make us segment it over and over. [`LineBuffer::assert_valid`] checks
/// against a plain segmentation of the whole line instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineBuffer {
    text: String,
    /// Byte offset into `text`, always on a grapheme-cluster boundary.
    cursor: usize,
    /// `text.chars().count()`, kept so a full line refuses a key without counting.
    chars: usize,
    /// The most `char`s `text` may hold.
    max_chars: usize,
    /// Bumped by every edit that changes `text` or `cursor`, so the editor can tell its caller
    /// whether to redraw without comparing lines.
    revision: u64,
}

impl LineBuffer {
    pub fn new(max_chars: usize) -> Self {
        Self {
            text: String::new(),
            cursor: 0,
            chars: 0,
            max_chars,
            revision: 0,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn cursor(&self) -> usize {
        self.cursor
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    pub fn char_count(&self) -> usize {
        self.chars
    }

    /// Changes whenever the text or the cursor changes.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Inserts `text` at the cursor and moves the cursor past it. Forbidden characters are left
    /// out; of the rest, only whole clusters that fit under the cap go in, in order, up to the
    /// first that does not. Returns `false` if anything was left out for lack of room.
    pub fn insert(&mut self, text: &str) -> bool {
        let clean: String = text.chars().filter(|&c| !is_forbidden_char(c)).collect();
        let mut room = self.max_chars.saturating_sub(self.chars);
        let mut fits = 0;
        for cluster in clean.graphemes(true) {
            let chars = cluster.chars().count();
            if chars > room {
                break;
            }
            room -= chars;
            fits += cluster.len();
        }
        let all_fit = fits == clean.len();
        if fits > 0 {
            self.chars = self.max_chars - room;
            self.text.insert_str(self.cursor, &clean[..fits]);
            // The cursor stays after the inserted text, even if it merged with what follows.
            self.cursor = self.snap_forward(self.cursor + fits);
            self.bump();
        }
        all_fit
    }

    /// Replaces the bytes in `range` with `text` and puts the cursor after it, all or nothing:
    /// returns `false` and changes nothing if `text` holds a forbidden character, would not fit
    /// under the cap, or `range` is not a slice of the line.
    pub fn replace(&mut self, range: Range<usize>, text: &str) -> bool {
        let Some(removed) = self.text.get(range.clone()) else {
            return false;
        };
        let new_count = self.chars.saturating_sub(removed.chars().count()) + text.chars().count();
        if text.chars().any(is_forbidden_char) || new_count > self.max_chars {
            return false;
        }
        self.chars = new_count;
        self.text.replace_range(range.clone(), text);
        self.cursor = self.snap_forward(range.start + text.len());
        self.bump();
        true
    }

    /// Empties the line and returns what it held.
    pub fn take(&mut self) -> String {
        if !self.text.is_empty() || self.cursor != 0 {
            self.bump();
        }
        self.cursor = 0;
        self.chars = 0;
        std::mem::take(&mut self.text)
    }

    /// Replaces the whole line (e.g. with a history entry), cursor at the end.
    pub fn set(&mut self, text: &str) {
        if self.text != text {
            self.take();
            self.insert(text);
        } else {
            self.set_cursor(self.text.len());
        }
    }

    pub fn move_left(&mut self) {
        self.set_cursor(self.prev_boundary(self.cursor));
    }

    pub fn move_right(&mut self) {
        self.set_cursor(self.next_boundary(self.cursor));
    }

    pub fn move_home(&mut self) {
        self.set_cursor(0);
    }

    pub fn move_end(&mut self) {
        self.set_cursor(self.text.len());
    }

    /// To the start of the word before the cursor (words are runs of non-whitespace).
    pub fn move_word_left(&mut self) {
        self.set_cursor(self.word_start_before(self.cursor));
    }

    /// To the end of the word after the cursor.
    pub fn move_word_right(&mut self) {
        let mut end = self.cursor;
        let mut seen_word = false;
        while end < self.text.len() {
            let next = self.next_boundary(end);
            let space = is_space(&self.text[end..next]);
            if space && seen_word {
                break;
            }
            seen_word |= !space;
            end = next;
        }
        self.set_cursor(end);
    }

    /// Deletes the cluster before the cursor; `false` if there is none.
    pub fn backspace(&mut self) -> bool {
        let start = self.prev_boundary(self.cursor);
        self.delete_range(start..self.cursor)
    }

    /// Deletes the cluster under the cursor; `false` if there is none.
    pub fn delete(&mut self) -> bool {
        let end = self.next_boundary(self.cursor);
        self.delete_range(self.cursor..end)
    }

    /// Deletes from the start of the line to the cursor.
    pub fn kill_to_start(&mut self) -> bool {
        self.delete_range(0..self.cursor)
    }

    /// Deletes from the cursor to the end of the line.
    pub fn kill_to_end(&mut self) -> bool {
        self.delete_range(self.cursor..self.text.len())
    }

    /// Deletes the word before the cursor and the whitespace between it and the cursor.
    pub fn delete_word_before(&mut self) -> bool {
        self.delete_range(self.word_start_before(self.cursor)..self.cursor)
    }

    /// Start of the word the cursor is in or after: whitespace before `pos` is skipped, then
    /// non-whitespace.
    pub fn word_start_before(&self, pos: usize) -> usize {
        let mut start = pos;
        let mut seen_word = false;
        while start > 0 {
            let prev = self.prev_boundary(start);
            let space = is_space(&self.text[prev..start]);
            if space && seen_word {
                break;
            }
            seen_word |= !space;
            start = prev;
        }
        start
    }

    /// Start of the run of non-whitespace that ends at `pos` (`pos` itself if whitespace or the
    /// start of the line precedes it).
    pub fn word_start_at(&self, pos: usize) -> usize {
        let mut start = pos;
        while start > 0 {
            let prev = self.prev_boundary(start);
            if is_space(&self.text[prev..start]) {
                break;
            }
            start = prev;
        }
        start
    }

    /// Panics unless the invariants hold: the cursor is inside the text on a cluster boundary,
    /// the text is within the cap and holds no forbidden character.
    pub fn assert_valid(&self) {
        assert!(
            self.cursor <= self.text.len(),
            "cursor {} past end {}",
            self.cursor,
            self.text.len()
        );
        assert!(
            whole_line_boundaries(&self.text).any(|b| b == self.cursor),
            "cursor {} inside a cluster of {:?}",
            self.cursor,
            self.text
        );
        let count = self.text.chars().count();
        assert_eq!(
            count, self.chars,
            "char count out of step in {:?}",
            self.text
        );
        assert!(
            count <= self.max_chars,
            "{count} chars over the cap {}",
            self.max_chars
        );
        assert!(
            !self.text.chars().any(is_forbidden_char),
            "forbidden char in {:?}",
            self.text
        );
    }

    fn delete_range(&mut self, range: Range<usize>) -> bool {
        let Some(removed) = self.text.get(range.clone()).filter(|r| !r.is_empty()) else {
            return false;
        };
        self.chars = self.chars.saturating_sub(removed.chars().count());
        let start = range.start;
        self.text.replace_range(range, "");
        // Clusters on either side may have merged (two regional indicators); land on the start
        // of the merged one.
        self.cursor = self.snap_back(start);
        self.bump();
        true
    }

    fn set_cursor(&mut self, pos: usize) {
        if pos != self.cursor {
            self.cursor = pos;
            self.bump();
        }
    }

    fn bump(&mut self) {
        self.revision = self.revision.wrapping_add(1);
    }

    /// Whether `pos` (a char boundary) is a cluster boundary.
    fn is_boundary(&self, pos: usize) -> bool {
        let mut cursor = GraphemeCursor::new(pos, self.text.len(), true);
        match cursor.is_boundary(&self.text, 0) {
            Ok(is) => is,
            // Only asked for when given part of the text; we give all of it. Never trusted blind.
            Err(_) => whole_line_boundaries(&self.text).any(|b| b == pos),
        }
    }

    /// The cluster boundary before `pos` (0 at the start).
    fn prev_boundary(&self, pos: usize) -> usize {
        let mut cursor = GraphemeCursor::new(pos, self.text.len(), true);
        match cursor.prev_boundary(&self.text, 0) {
            Ok(found) => found.unwrap_or(0),
            Err(_) => whole_line_boundaries(&self.text)
                .take_while(|&b| b < pos)
                .last()
                .unwrap_or(0),
        }
    }

    /// The cluster boundary after `pos` (the end at the end).
    fn next_boundary(&self, pos: usize) -> usize {
        let len = self.text.len();
        let mut cursor = GraphemeCursor::new(pos, len, true);
        match cursor.next_boundary(&self.text, 0) {
            Ok(found) => found.unwrap_or(len),
            Err(_) => whole_line_boundaries(&self.text)
                .find(|&b| b > pos)
                .unwrap_or(len),
        }
    }

    /// `pos` if it is a cluster boundary, else the one before it.
    fn snap_back(&self, pos: usize) -> usize {
        if self.is_boundary(pos) {
            pos
        } else {
            self.prev_boundary(pos)
        }
    }

    /// `pos` if it is a cluster boundary, else the one after it.
    fn snap_forward(&self, pos: usize) -> usize {
        if self.is_boundary(pos) {
            pos
        } else {
            self.next_boundary(pos)
        }
    }
}

/// Every cluster boundary of `text`, found by segmenting it from the start: starts of clusters,
/// then the end.
fn whole_line_boundaries(text: &str) -> impl Iterator<Item = usize> + '_ {
    let starts = text.grapheme_indices(true).map(|(index, _)| index);
    starts.chain(std::iter::once(text.len()))
}

fn is_space(cluster: &str) -> bool {
    cluster.chars().all(char::is_whitespace)
}

#[cfg(test)]
#[path = "buffer_tests.rs"]
mod tests;
