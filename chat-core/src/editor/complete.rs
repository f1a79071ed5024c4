//! Tab completion: asks a [`Completer`] for the words that could replace the one before the
//! cursor, then completes, extends or lists them the way shells do.

use super::buffer::LineBuffer;
use super::{Completer, EditorEvent};
use crate::sanitize::is_forbidden_char;
use unicode_segmentation::UnicodeSegmentation;

/// Completes the word before the cursor. Returns the event to report, if any: `Bell` when there
/// is nothing to complete or the completion does not fit, `Candidates` when the choice is the
/// user's.
pub(super) fn complete(
    buffer: &mut LineBuffer,
    completer: &mut dyn Completer,
) -> Option<EditorEvent> {
    let cursor = buffer.cursor();
    let start = buffer.word_start_at(cursor);
    let line = buffer.as_str();
    let word = &line[start..cursor];
    let first_word = line[..start].trim().is_empty();

    let mut candidates = completer.candidates(word, first_word);
    // A candidate with a control or bidi character must never reach the line or the screen.
    candidates.retain(|c| !c.is_empty() && !c.chars().any(is_forbidden_char));
    candidates.sort();
    candidates.dedup();

    match candidates.as_slice() {
        [] => Some(EditorEvent::Bell),
        [only] => {
            // No second space if one already follows; step over it instead.
            let space_follows = line[cursor..].starts_with(char::is_whitespace);
            let replacement = if space_follows {
                only.clone()
            } else {
                format!("{only} ")
            };
            if !buffer.replace(start..cursor, &replacement) {
                return Some(EditorEvent::Bell);
            }
            if space_follows {
                buffer.move_right();
            }
            None
        }
        several @ [first, ..] => {
            // Keep the spelling of a candidate that matches what was typed exactly, if any.
            let base = several
                .iter()
                .find(|c| c.starts_with(word))
                .unwrap_or(first);
            let prefix = common_prefix(base, several);
            if prefix.chars().count() <= word.chars().count() {
                return Some(EditorEvent::Candidates(candidates));
            }
            (!buffer.replace(start..cursor, prefix)).then_some(EditorEvent::Bell)
        }
    }
}

/// The longest prefix of `base`, in whole clusters, that every one of `others` starts with,
/// ignoring case.
fn common_prefix<'a>(base: &'a str, others: &[String]) -> &'a str {
    let mut end = base.len();
    for other in others {
        let mut common = 0;
        for ((index, a), b) in base.grapheme_indices(true).zip(other.graphemes(true)) {
            if !same_ignoring_case(a, b) {
                break;
            }
            common = index + a.len();
        }
        end = end.min(common);
    }
    &base[..end]
}

fn same_ignoring_case(a: &str, b: &str) -> bool {
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidates(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn common_prefix_ignores_case_and_keeps_the_base_spelling() {
        let list = candidates(&["Alice", "alicia", "ALIBI"]);
        assert_eq!(common_prefix("alicia", &list), "ali");
        assert_eq!(common_prefix("Alice", &list), "Ali");
        assert_eq!(common_prefix("x", &list), "");
    }

    #[test]
    fn common_prefix_never_splits_a_cluster() {
        let list = candidates(&["e\u{301}a", "eb"]);
        assert_eq!(common_prefix("e\u{301}a", &list), "");
    }
}
