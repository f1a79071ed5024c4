//! Styles and how each theme spells them as SGR escape codes.

use crate::prefs::Theme;

/// What a piece of output is, which the theme turns into colour (or nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Style {
    Plain,
    /// The timestamp in front of a line.
    Time,
    /// Joins, leaves, renames and the `->` of notices.
    System,
    /// A member's name, in its colour (an index into the palette).
    Name(u8),
    /// A line that mentions the reader.
    Mention,
    /// The `[PM from x]` tag.
    Private,
    Error,
}

/// Foreground colours names are drawn in: readable on dark and light backgrounds alike.
const NAME_PALETTE: [&str; 12] = [
    "31", "32", "33", "34", "35", "36", "91", "92", "93", "94", "95", "96",
];

/// A stable colour for a name: the same name gets the same colour for every reader, in every
/// session, on every server (FNV-1a of the lowercased name, not a per-process random hash).
pub fn name_colour(name: &str) -> Style {
    let hash = name
        .to_lowercase()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
    let index = (hash % NAME_PALETTE.len() as u64) as u8;
    Style::Name(index)
}

/// The SGR parameters for `style` in `theme`, or `None` when it is drawn without attributes.
pub fn sgr(style: Style, theme: Theme) -> Option<&'static str> {
    if theme == Theme::Mono {
        return None;
    }
    match style {
        Style::Plain => None,
        Style::Time | Style::System => Some("90"),
        Style::Name(i) => Some(NAME_PALETTE[usize::from(i) % NAME_PALETTE.len()]),
        Style::Mention => Some("1;93"),
        Style::Private => Some("1;35"),
        Style::Error => Some("31"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_colours_are_stable_and_ignore_case() {
        assert_eq!(name_colour("alice"), name_colour("Alice"));
        assert_eq!(name_colour("alice"), name_colour("alice"));
        let distinct: std::collections::HashSet<_> =
            ["alice", "bob", "carol", "dave", "eve", "mallory"]
                .map(name_colour)
                .into();
        assert!(distinct.len() > 3, "names should spread over the palette");
    }

    #[test]
    fn mono_has_no_attributes() {
        assert_eq!(sgr(Style::Error, Theme::Mono), None);
        assert_eq!(sgr(Style::Error, Theme::Colors), Some("31"));
    }
}
