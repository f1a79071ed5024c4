//! Per-member display preferences: how a member's terminal shows events.

use std::fmt;

use chrono::FixedOffset;

/// Colours or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Theme {
    /// Names in stable colours, system lines dimmed, mentions highlighted.
    #[default]
    Colors,
    /// No colours or text attributes at all.
    Mono,
}

impl Theme {
    pub const ALL: [Theme; 2] = [Theme::Colors, Theme::Mono];

    pub fn as_str(self) -> &'static str {
        match self {
            Theme::Colors => "colors",
            Theme::Mono => "mono",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(name))
    }
}

/// How much of the time to show in front of each broadcast line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TimestampMode {
    Off,
    /// `12:04`
    #[default]
    Time,
    /// `2026-11-25 12:04`
    DateTime,
}

impl TimestampMode {
    pub const ALL: [TimestampMode; 3] = [Self::Off, Self::Time, Self::DateTime];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Time => "time",
            Self::DateTime => "datetime",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(name))
    }
}

/// A whole-minute offset from UTC, -23:59 to +23:59, in which timestamps are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct UtcOffset {
    minutes: i16,
}

impl UtcOffset {
    pub const UTC: UtcOffset = UtcOffset { minutes: 0 };
    const LIMIT: i16 = 24 * 60;

    /// `None` unless `-23:59 <= minutes <= +23:59`.
    pub fn from_minutes(minutes: i16) -> Option<Self> {
        (minutes.abs() < Self::LIMIT).then_some(Self { minutes })
    }

    pub fn minutes(self) -> i16 {
        self.minutes
    }

    /// Parses `+HH:MM`, `-HH:MM`, `+HH`, `-HH`, `Z` or `UTC`.
    pub fn parse(text: &str) -> Option<Self> {
        if text.eq_ignore_ascii_case("utc") || text.eq_ignore_ascii_case("z") {
            return Some(Self::UTC);
        }
        let (sign, rest) = match text.as_bytes().first()? {
            b'+' => (1, &text[1..]),
            b'-' => (-1, &text[1..]),
            _ => return None,
        };
        let (hours, minutes) = rest.split_once(':').unwrap_or((rest, "0"));
        let all_digits =
            |s: &str| !s.is_empty() && s.len() <= 2 && s.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(hours) || !all_digits(minutes) {
            return None;
        }
        let hours: i16 = hours.parse().ok()?;
        let minutes: i16 = minutes.parse().ok()?;
        if minutes >= 60 {
            return None;
        }
        Self::from_minutes(sign * (hours * 60 + minutes))
    }

    pub fn to_fixed(self) -> FixedOffset {
        FixedOffset::east_opt(i32::from(self.minutes) * 60)
            .expect("UtcOffset is always within a day, which FixedOffset accepts")
    }
}

impl fmt::Display for UtcOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.minutes < 0 { '-' } else { '+' };
        let abs = self.minutes.unsigned_abs();
        write!(f, "{sign}{:02}:{:02}", abs / 60, abs % 60)
    }
}

/// Everything a member can set about how they see the chat. The hub keeps it (so it can be
/// remembered per key) and hands a copy to the member's session after every command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Prefs {
    pub theme: Theme,
    pub timestamp: TimestampMode,
    pub offset: UtcOffset,
    /// Hide joins and leaves.
    pub quiet: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn offsets_parse_in_their_usual_spellings() {
        assert_eq!(UtcOffset::parse("+02:00").unwrap().minutes(), 120);
        assert_eq!(UtcOffset::parse("-05:30").unwrap().minutes(), -330);
        assert_eq!(UtcOffset::parse("+9").unwrap().minutes(), 540);
        assert_eq!(UtcOffset::parse("UTC"), Some(UtcOffset::UTC));
        for bad in ["", "+", "2:00", "+24:00", "+01:60", "+1:2:3", "+aa", "+123"] {
            assert_eq!(UtcOffset::parse(bad), None, "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn offsets_round_trip_through_display(minutes in -1439i16..=1439) {
            let offset = UtcOffset::from_minutes(minutes).unwrap();
            prop_assert_eq!(UtcOffset::parse(&offset.to_string()), Some(offset));
        }
    }
}
