//! Member and room names: what characters they may hold and when two of them are "the same".

/// The longest name, in characters.
pub const MAX_NAME_CHARS: usize = 24;

/// What a name that cleans to nothing becomes (then numbered like any other taken name).
pub const DEFAULT_NAME: &str = "anon";

/// Keeps letters, digits and `_ - .` of `raw`, at most [`MAX_NAME_CHARS`] of them. Returns
/// `None` when nothing is left, so the caller decides between an error and a default.
///
/// Unicode letters are allowed (people are called `zoë` and `日向`), but nothing else: no
/// spaces, no punctuation that could be mistaken for chat syntax (`:` `*` `[`), no controls.
pub fn clean_name(raw: &str) -> Option<String> {
    let cleaned: String = raw
        .chars()
        .filter(|&c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
        .take(MAX_NAME_CHARS)
        .collect();
    (!cleaned.is_empty()).then_some(cleaned)
}

/// The key under which a name is unique: two names that fold to the same key cannot be held at
/// the same time. Neither case nor look-alike characters make a different name: `Bob`, `bob`,
/// `b0b`, `ЬоЬ` (Cyrillic) and `rnallory`/`mallory` each fold to one key.
///
/// The fold is the Unicode confusable skeleton (UTS #39) of the lowercased name, lowercased
/// again (the skeleton maps `0` to `O`), with `i` folded into `l`: lowercasing first turns a
/// capital `I`, which looks like `l`, into `i`, so the two must meet.
pub fn fold(name: &str) -> String {
    let lower = name.to_lowercase();
    unicode_security::skeleton(&lower)
        .flat_map(char::to_lowercase)
        .map(|c| if c == 'i' { 'l' } else { c })
        .collect()
}

/// Whether `a` and `b` are the same name but for case (as opposed to merely alike).
pub fn same_but_case(a: &str, b: &str) -> bool {
    a.to_lowercase() == b.to_lowercase()
}

/// Numbered variants of `base` to try when it is taken: `bob2`, `bob3`, ... each cut so that it
/// still fits in [`MAX_NAME_CHARS`].
pub fn numbered_variants(base: &str) -> impl Iterator<Item = String> + '_ {
    (2u32..).map(move |n| {
        let suffix = n.to_string();
        let keep = MAX_NAME_CHARS.saturating_sub(suffix.len());
        let mut name: String = base.chars().take(keep).collect();
        name.push_str(&suffix);
        name
    })
}

/// The room everyone starts in and returns to with `/part`.
pub const LOBBY: &str = "#lobby";

/// Cleans a room name the way [`clean_name`] cleans member names, and gives it its `#`.
pub fn clean_room(raw: &str) -> Option<String> {
    let bare = clean_name(raw.trim_start_matches('#'))?;
    Some(format!("#{bare}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keeps_letters_digits_and_three_punctuation_marks() {
        assert_eq!(clean_name("al ice!:*").as_deref(), Some("alice"));
        assert_eq!(clean_name("j.r_r-t").as_deref(), Some("j.r_r-t"));
        assert_eq!(clean_name("@bob").as_deref(), Some("bob"));
        assert_eq!(clean_name("zoë").as_deref(), Some("zoë"));
        assert_eq!(clean_name("\u{1b}[31m").as_deref(), Some("31m"));
        assert_eq!(clean_name("!!!"), None);
        assert_eq!(clean_name(""), None);
    }

    #[test]
    fn long_names_are_cut() {
        let long = "a".repeat(40);
        assert_eq!(clean_name(&long).unwrap().chars().count(), MAX_NAME_CHARS);
    }

    #[test]
    fn variants_are_numbered_and_fit() {
        let v: Vec<_> = numbered_variants("bob").take(2).collect();
        assert_eq!(v, ["bob2", "bob3"]);
        let long = "x".repeat(MAX_NAME_CHARS);
        let first = numbered_variants(&long).next().unwrap();
        assert_eq!(first.chars().count(), MAX_NAME_CHARS);
        assert!(first.ends_with('2'));
    }

    #[test]
    fn look_alike_names_fold_together() {
        for (a, b) in [
            ("bob", "Bob"),
            ("bob", "b0b"),
            ("alice", "aIice"),
            ("alice", "al1ce"),
            ("alice", "ALICE"),
            ("mallory", "rnallory"),
            ("paypal", "\u{0440}\u{0430}ypal"), // Cyrillic er and a
        ] {
            assert_eq!(fold(a), fold(b), "{a} vs {b}");
        }
        assert_ne!(fold("alice"), fold("bob"));
        assert_ne!(fold("anna"), fold("anne"));
        assert!(same_but_case("Bob", "bOB"));
        assert!(!same_but_case("bob", "b0b"));
    }

    #[test]
    fn rooms_get_one_hash() {
        assert_eq!(clean_room("rust").as_deref(), Some("#rust"));
        assert_eq!(clean_room("##rust").as_deref(), Some("#rust"));
        assert_eq!(clean_room("#"), None);
    }

    proptest! {
        #[test]
        fn clean_names_are_valid(raw in any::<String>()) {
            if let Some(name) = clean_name(&raw) {
                prop_assert!((1..=MAX_NAME_CHARS).contains(&name.chars().count()));
                prop_assert!(name.chars().all(|c| c.is_alphanumeric() || "_-.".contains(c)));
                prop_assert_eq!(clean_name(&name), Some(name.clone()));
            }
        }
    }
}
