//! Lines the user submitted, to recall with Up/Down.

use std::collections::VecDeque;

/// The last few submitted lines, and where the user is while browsing them.
///
/// Browsing copies an entry into the line, so editing a recalled line never changes the
/// history; moving on to another entry drops such edits. The line that was being typed when
/// browsing began is kept as the `draft` and comes back when the user goes down past the newest
/// entry.
#[derive(Debug, Clone)]
pub(super) struct History {
    entries: VecDeque<String>,
    capacity: usize,
    /// `Some(index into entries)` while browsing.
    browsing: Option<usize>,
    draft: String,
}

impl History {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            // Allocated as lines are submitted: most sessions are idle, and 100 empty slots
            // per member add up.
            entries: VecDeque::new(),
            capacity,
            browsing: None,
            draft: String::new(),
        }
    }

    /// Remembers a submitted line, unless it is blank or repeats the newest entry, and stops
    /// browsing.
    pub(super) fn push(&mut self, line: &str) {
        self.reset();
        if self.capacity == 0
            || line.trim().is_empty()
            || self.entries.back().is_some_and(|last| last == line)
        {
            return;
        }
        if self.entries.len() == self.capacity {
            self.entries.pop_front();
        }
        self.entries.push_back(line.to_owned());
    }

    /// Stops browsing (the line was cleared or submitted) and forgets the draft.
    pub(super) fn reset(&mut self) {
        self.browsing = None;
        self.draft.clear();
    }

    /// The entry before the one shown, or `None` at the oldest. `current` is the line being
    /// typed, kept when browsing starts.
    pub(super) fn prev(&mut self, current: &str) -> Option<&str> {
        let index = match self.browsing {
            None if self.entries.is_empty() => return None,
            None => {
                self.draft = current.to_owned();
                self.entries.len() - 1
            }
            Some(0) => return None,
            Some(index) => index - 1,
        };
        self.browsing = Some(index);
        self.entries.get(index).map(String::as_str)
    }

    /// The entry after the one shown, the draft after the newest, or `None` when not browsing.
    pub(super) fn next(&mut self) -> Option<String> {
        let index = self.browsing? + 1;
        if let Some(entry) = self.entries.get(index) {
            self.browsing = Some(index);
            return Some(entry.clone());
        }
        self.browsing = None;
        Some(std::mem::take(&mut self.draft))
    }

    #[cfg(test)]
    pub(super) fn entries(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_entries_without_blanks_or_immediate_repeats() {
        let mut h = History::new(3);
        for line in ["a", "a", " ", "", "b", "a", "c", "d"] {
            h.push(line);
        }
        assert_eq!(h.entries().collect::<Vec<_>>(), ["a", "c", "d"]);
    }

    #[test]
    fn browsing_walks_back_then_returns_the_draft() {
        let mut h = History::new(10);
        h.push("one");
        h.push("two");
        assert_eq!(h.prev("dra"), Some("two"));
        assert_eq!(h.prev("two"), Some("one"));
        assert_eq!(h.prev("one"), None, "oldest");
        assert_eq!(h.next().as_deref(), Some("two"));
        assert_eq!(h.next().as_deref(), Some("dra"));
        assert_eq!(h.next(), None, "not browsing any more");
    }

    #[test]
    fn zero_capacity_remembers_nothing() {
        let mut h = History::new(0);
        h.push("x");
        assert_eq!(h.prev(""), None);
    }
}
