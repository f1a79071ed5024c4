//! Rendering: from an [`Event`] to what one reader's terminal shows.
//!
//! Each reader sees an event through their own [`View`]: their name (for mentions), theme and
//! timestamp settings. [`event_lines`] builds styled lines from the event; [`write_lines`]
//! wraps them to the terminal's width and encodes them as bytes with `\r\n` line ends. All text
//! that came from users goes through [`crate::sanitize`] on the way, via
//! [`StyledLine::push_user`]. The prompt and the half-typed input beneath the messages are
//! drawn by [`prompt`].

pub mod prompt;
mod style;
mod text;

use chrono::{DateTime, Datelike, TimeDelta, Timelike, Utc};

use crate::event::{Event, EventKind, NoticeLevel};
use crate::prefs::{Prefs, Theme, TimestampMode};
pub use style::{Style, name_colour, sgr};
pub use text::{Span, StyledLine, grapheme_width, text_width, wrap};

/// Who is reading, and how they like to read.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    /// The reader's name: lines that mention it are highlighted.
    pub me: &'a str,
    pub prefs: &'a Prefs,
}

/// The lines an event shows as, and whether it should ring the reader's bell (a mention or a
/// private message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub lines: Vec<StyledLine>,
    pub bell: bool,
}

/// Builds the lines `event` shows as in `view`, before wrapping.
pub fn event_lines(event: &Event, view: &View<'_>) -> Rendered {
    let mut line = StyledLine::new();
    let mut bell = false;
    let stamp = |line: &mut StyledLine| {
        if let Some(time) = format_time(event.at, view.prefs) {
            line.push_trusted(&time, Style::Time);
            line.push_trusted(" ", Style::Plain);
        }
    };
    match &event.kind {
        EventKind::Said { from, text, .. } => {
            stamp(&mut line);
            line.push_user(from, name_colour(from));
            line.push_trusted(": ", Style::Plain);
            bell = push_body(&mut line, from, text, view);
        }
        EventKind::Emote { from, text, .. } => {
            stamp(&mut line);
            line.push_trusted("** ", Style::System);
            line.push_user(from, name_colour(from));
            line.push_trusted(" ", Style::Plain);
            bell = push_body(&mut line, from, text, view);
        }
        EventKind::Joined { name, count, .. } => {
            stamp(&mut line);
            line.push_trusted("* ", Style::System);
            line.push_user(name, Style::System);
            line.push_trusted(&format!(" joined. (Connected: {count})"), Style::System);
        }
        EventKind::JoinedMany { names, count, .. } => {
            stamp(&mut line);
            line.push_trusted("* ", Style::System);
            push_names(&mut line, names);
            line.push_trusted(&format!(" joined. (Connected: {count})"), Style::System);
        }
        EventKind::LeftMany { names, count, .. } => {
            stamp(&mut line);
            line.push_trusted("* ", Style::System);
            push_names(&mut line, names);
            line.push_trusted(&format!(" left. (Connected: {count})"), Style::System);
        }
        EventKind::Left { name, after, .. } => {
            stamp(&mut line);
            line.push_trusted("* ", Style::System);
            line.push_user(name, Style::System);
            line.push_trusted(
                &format!(" left. (After {})", humanize(*after)),
                Style::System,
            );
        }
        EventKind::Moved { name, to, .. } => {
            stamp(&mut line);
            line.push_trusted("* ", Style::System);
            line.push_user(name, Style::System);
            line.push_trusted(" left for ", Style::System);
            line.push_user(to, Style::System);
            line.push_trusted(".", Style::System);
        }
        EventKind::Removed {
            name,
            by,
            reason,
            banned,
            ..
        } => {
            stamp(&mut line);
            line.push_trusted("* ", Style::System);
            line.push_user(name, Style::System);
            line.push_trusted(
                if *banned {
                    " was banned by "
                } else {
                    " was kicked out by "
                },
                Style::System,
            );
            line.push_user(by, Style::System);
            if let Some(reason) = reason {
                line.push_trusted(": ", Style::System);
                line.push_user(reason, Style::System);
            }
            line.push_trusted(".", Style::System);
        }
        EventKind::Renamed { old, new, .. } => {
            stamp(&mut line);
            line.push_trusted("* ", Style::System);
            line.push_user(old, Style::System);
            line.push_trusted(" is now known as ", Style::System);
            line.push_user(new, Style::System);
            line.push_trusted(".", Style::System);
        }
        EventKind::PrivateFrom { from, text } => {
            stamp(&mut line);
            line.push_trusted("[PM from ", Style::Private);
            line.push_user(from, Style::Private);
            line.push_trusted("] ", Style::Private);
            line.push_user(text, Style::Plain);
            bell = true;
        }
        EventKind::PrivateTo { to, text } => {
            stamp(&mut line);
            line.push_trusted("[PM to ", Style::Private);
            line.push_user(to, Style::Private);
            line.push_trusted("] ", Style::Private);
            line.push_user(text, Style::Plain);
        }
        EventKind::Notice { level, text } => {
            let style = match level {
                NoticeLevel::Info => Style::Plain,
                NoticeLevel::Error => Style::Error,
            };
            let lines = text
                .split('\n')
                .enumerate()
                .map(|(i, part)| {
                    let mut line = StyledLine::new();
                    line.push_trusted(if i == 0 { "-> " } else { "   " }, Style::System);
                    line.push_user(part, style);
                    line
                })
                .collect();
            return Rendered { lines, bell };
        }
        EventKind::Reply(reply) => {
            let notice = Event::notice(event.at, NoticeLevel::Info, reply.text());
            return event_lines(&notice, view);
        }
        EventKind::History { lines, .. } => {
            // As the lines one by one: a mention among them rings as it did before they
            // were batched.
            let mut all = Vec::with_capacity(lines.len());
            for line in lines {
                let rendered = event_lines(line, view);
                bell |= rendered.bell;
                all.extend(rendered.lines);
            }
            return Rendered { lines: all, bell };
        }
        EventKind::Missed { count } => {
            line.push_trusted("-> ", Style::System);
            let noun = if *count == 1 { "message" } else { "messages" };
            line.push_trusted(&format!("{count} {noun} skipped"), Style::Error);
        }
    }
    Rendered {
        lines: vec![line],
        bell,
    }
}

/// Names in a line about several people: a few by name, the rest counted.
fn push_names(line: &mut StyledLine, names: &[String]) {
    const SHOWN: usize = 3;
    let shown = names.len().min(if names.len() > SHOWN + 1 {
        SHOWN
    } else {
        names.len()
    });
    for (i, name) in names.iter().take(shown).enumerate() {
        if i > 0 {
            let last = i + 1 == shown && shown == names.len();
            line.push_trusted(if last { " and " } else { ", " }, Style::System);
        }
        line.push_user(name, Style::System);
    }
    let others = names.len() - shown;
    if others > 0 {
        line.push_trusted(&format!(" and {others} others"), Style::System);
    }
}

/// Appends what someone said, highlighted if it mentions the reader; returns whether it does
/// (and so should ring the reader's bell). Your own lines never ring.
fn push_body(line: &mut StyledLine, from: &str, text: &str, view: &View<'_>) -> bool {
    let mentioned = from != view.me && mentions(text, view.me);
    let style = if mentioned {
        Style::Mention
    } else {
        Style::Plain
    };
    line.push_user(text, style);
    mentioned
}

/// The timestamp a line gets in front of it, per the reader's settings.
pub fn format_time(at: DateTime<Utc>, prefs: &Prefs) -> Option<String> {
    let local = at.with_timezone(&prefs.offset.to_fixed());
    // Written out rather than with chrono's format strings, which are parsed on every call:
    // this runs for every line every reader sees.
    match prefs.timestamp {
        TimestampMode::Off => None,
        TimestampMode::Time => Some(format!("{:02}:{:02}", local.hour(), local.minute())),
        TimestampMode::DateTime => Some(format!(
            "{:04}-{:02}-{:02} {:02}:{:02}",
            local.year(),
            local.month(),
            local.day(),
            local.hour(),
            local.minute()
        )),
    }
}

/// Whether `text` mentions `name` as a whole word (case ignored, an `@` in front allowed).
pub fn mentions(text: &str, name: &str) -> bool {
    if name.is_empty() {
        return false;
    }
    let is_name_char = |c: char| c.is_alphanumeric() || matches!(c, '_' | '-');
    if text.is_ascii() && name.is_ascii() {
        // Every reader checks every line: no allocation for the common case.
        let (hay, needle) = (text.as_bytes(), name.as_bytes());
        return hay.len() >= needle.len()
            && (0..=hay.len() - needle.len()).any(|at| {
                hay[at..at + needle.len()].eq_ignore_ascii_case(needle)
                    && !at
                        .checked_sub(1)
                        .is_some_and(|b| is_name_char(char::from(hay[b])))
                    && !hay
                        .get(at + needle.len())
                        .is_some_and(|&b| is_name_char(char::from(b)))
            });
    }
    let text = text.to_lowercase();
    let name = name.to_lowercase();
    text.match_indices(&name).any(|(at, found)| {
        let before = text[..at].chars().next_back();
        let after = text[at + found.len()..].chars().next();
        !before.is_some_and(is_name_char) && !after.is_some_and(is_name_char)
    })
}

/// "3 minutes", "1 hour 5 minutes", "12 seconds": how long, to a person.
pub fn humanize(span: TimeDelta) -> String {
    let secs = span.num_seconds().max(0);
    let unit = |n: i64, one: &str| format!("{n} {one}{}", if n == 1 { "" } else { "s" });
    match secs {
        0..60 => unit(secs, "second"),
        60..3600 => unit(secs / 60, "minute"),
        3600..86_400 => match (secs / 60) % 60 {
            0 => unit(secs / 3600, "hour"),
            m => format!("{} {}", unit(secs / 3600, "hour"), unit(m, "minute")),
        },
        _ => match (secs / 3600) % 24 {
            0 => unit(secs / 86_400, "day"),
            h => format!("{} {}", unit(secs / 86_400, "day"), unit(h, "hour")),
        },
    }
}

/// Wraps `lines` to `width` and appends them to `out` as terminal bytes, each row ending in
/// `\r\n` (a PTY needs the carriage return). Styles become SGR codes unless the theme is mono.
pub fn write_lines(lines: &[StyledLine], width: usize, theme: Theme, out: &mut Vec<u8>) {
    for line in lines {
        for row in wrap(line, width) {
            encode_row(&row, theme, out);
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// Appends one row's text with its SGR codes.
pub fn encode_row(row: &StyledLine, theme: Theme, out: &mut Vec<u8>) {
    for span in &row.spans {
        match sgr(span.style, theme) {
            Some(code) => {
                out.extend_from_slice(b"\x1b[");
                out.extend_from_slice(code.as_bytes());
                out.push(b'm');
                out.extend_from_slice(span.text.as_bytes());
                out.extend_from_slice(b"\x1b[0m");
            }
            None => out.extend_from_slice(span.text.as_bytes()),
        }
    }
}

/// Appends `lines` for a session without a terminal: one line each, `\n` ends, no wrapping and
/// no escape bytes of any kind.
pub fn write_plain(lines: &[StyledLine], out: &mut Vec<u8>) {
    for line in lines {
        out.extend_from_slice(line.plain().as_bytes());
        out.push(b'\n');
    }
}

#[cfg(test)]
mod tests;
