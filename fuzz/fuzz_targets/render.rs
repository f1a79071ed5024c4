//! The sanitizer and the renderer: any event, with any user text in it, for any reader at any
//! width; and the prompt with any input at any terminal size.
//!
//! Input: a 22-byte header (event kind, width, preferences, UTC offset, time, a number), then
//! text fields separated by `0xFF` markers: the reader's name, then the event's names and text.
//!
//! Invariants: no panic; sanitized text holds no control or bidi character, is clean, and is
//! its own sanitization; rendered rows hold no bytes but clean text, SGR colours and `\r\n`,
//! and each fits the width on a `vt100` terminal; a plain session's text holds no escape byte
//! at all and exactly one `\n` per line; the prompt, drawn and then erased beneath a line of
//! conversation, leaves that line where it was and nothing else on the screen.
#![no_main]

use chat_core::event::{Event, EventKind, NoticeLevel};
use chat_core::prefs::{Prefs, Theme, TimestampMode, UtcOffset};
use chat_core::render::prompt::{PromptArea, TermSize};
use chat_core::render::{
    self, Style, StyledLine, View, event_lines, format_time, humanize, mentions, write_lines,
    write_plain,
};
use chat_core::sanitize::{is_clean, sanitize};
use chat_fuzz::{
    Allowed, Segment, check_rows_fit, check_terminal_bytes, for_vt100, is_dangerous, lossy,
    screen_dump, segments, terminal,
};
use chrono::{DateTime, TimeDelta, Utc};
use libfuzzer_sys::fuzz_target;

/// The widest terminal the `vt100` checks are run at (wider ones are still rendered).
const MAX_CHECKED_WIDTH: usize = 1000;

fuzz_target!(|data: &[u8]| {
    let mut header = [0u8; 22];
    let split = data.len().min(header.len());
    header[..split].copy_from_slice(&data[..split]);
    let fields: Vec<String> = segments(&data[split..])
        .into_iter()
        .filter_map(|s| match s {
            Segment::Bytes(b) => Some(lossy(&b)),
            Segment::Op(_) => None,
        })
        .collect();
    let field = |i: usize| fields.get(i).cloned().unwrap_or_default();

    let kind = header[0];
    let width = usize::from(u16::from_le_bytes([header[1], header[2]]));
    let prefs = Prefs {
        theme: if header[3] & 1 == 0 {
            Theme::Colors
        } else {
            Theme::Mono
        },
        timestamp: match (header[3] >> 1) & 3 {
            0 => TimestampMode::Off,
            2 => TimestampMode::DateTime,
            _ => TimestampMode::Time,
        },
        offset: UtcOffset::from_minutes(i16::from_le_bytes([header[4], header[5]]) % 1440)
            .unwrap_or_default(),
        quiet: header[3] & 8 != 0,
    };
    let millis = i64::from_le_bytes(header[6..14].try_into().unwrap());
    let at = DateTime::<Utc>::from_timestamp_millis(millis).unwrap_or_default();
    let number = u64::from_le_bytes(header[14..22].try_into().unwrap());

    for text in &fields {
        let clean = sanitize(text);
        assert!(
            !clean.chars().any(is_dangerous),
            "{text:?} sanitized to {clean:?}"
        );
        assert!(is_clean(&clean), "{clean:?}");
        assert_eq!(sanitize(&clean), clean, "not idempotent on {text:?}");
        if is_clean(text) {
            assert_eq!(&clean, text, "clean text changed");
        }
        assert!(clean.chars().count() <= text.chars().count());
    }

    let me = field(0);
    let event = Event::new(at, event_kind(kind, &fields, number));
    let view = View {
        me: &me,
        prefs: &prefs,
    };
    let rendered = event_lines(&event, &view);

    let mut rows = Vec::new();
    write_lines(&rendered.lines, width, prefs.theme, &mut rows);
    check_terminal_bytes(&rows, Allowed::ROWS).unwrap_or_else(|e| panic!("{event:?}: {e}"));
    if width <= MAX_CHECKED_WIDTH {
        check_rows_fit(&rows, width).unwrap_or_else(|e| panic!("{event:?}: {e}"));
    }
    let row_count = rows.windows(2).filter(|w| w == b"\r\n").count();
    assert!(row_count >= rendered.lines.len());

    let mut plain = Vec::new();
    write_plain(&rendered.lines, &mut plain);
    check_terminal_bytes(&plain, Allowed::PLAIN).unwrap_or_else(|e| panic!("{event:?}: {e}"));
    assert_eq!(
        plain.iter().filter(|&&b| b == b'\n').count(),
        rendered.lines.len()
    );

    let _ = mentions(&field(2), &me);
    let _ = format_time(at, &prefs);
    let _ = humanize(TimeDelta::try_milliseconds(millis).unwrap_or_default());

    prompt(&me, &field(2), number, width, prefs.theme);
});

fn event_kind(kind: u8, fields: &[String], number: u64) -> EventKind {
    let field = |i: usize| fields.get(i).cloned().unwrap_or_default();
    let (room, a, b) = (field(3), field(1), field(2));
    match kind % 13 {
        0 => EventKind::Said {
            room,
            from: a,
            text: b,
        },
        1 => EventKind::Emote {
            room,
            from: a,
            text: b,
        },
        2 => EventKind::Joined {
            room,
            name: a,
            count: number as usize,
        },
        3 => EventKind::Left {
            room,
            name: a,
            after: TimeDelta::try_seconds(number as i64).unwrap_or(TimeDelta::MAX),
        },
        4 => EventKind::Moved {
            room,
            name: a,
            to: b,
        },
        5 => EventKind::Removed {
            room,
            name: a,
            by: b,
            reason: fields.get(4).cloned(),
            banned: number & 1 != 0,
        },
        6 => EventKind::JoinedMany {
            room,
            names: fields.iter().skip(1).cloned().collect(),
            count: number as usize,
        },
        7 => EventKind::LeftMany {
            room,
            names: fields.iter().skip(1).cloned().collect(),
            count: number as usize,
        },
        8 => EventKind::Renamed {
            room,
            old: a,
            new: b,
        },
        9 => EventKind::PrivateFrom { from: a, text: b },
        10 => EventKind::PrivateTo { to: a, text: b },
        11 => EventKind::Notice {
            level: if number & 1 == 0 {
                NoticeLevel::Info
            } else {
                NoticeLevel::Error
            },
            text: b,
        },
        _ => EventKind::Missed { count: number },
    }
}

/// Draws a prompt with `input` beneath a line of conversation, then erases it: the line must be
/// untouched, the rest of the screen blank, and the cursor back at the start of the prompt.
fn prompt(name: &str, input: &str, number: u64, width: usize, theme: Theme) {
    // The editor never holds a control character: give the prompt what it could be given.
    let input: String = input.chars().filter(|c| !is_dangerous(*c)).collect();
    let cursor = input.floor_char_boundary((number as usize) % (input.len() + 1));
    let width = width % 200 + 1;
    let height = usize::from((number >> 16) as u8 % 40) + 1;
    let size = TermSize { width, height };
    let mut line = StyledLine::new();
    line.push_trusted("[", Style::Plain);
    line.push_user(name, render::name_colour(name));
    line.push_trusted("] ", Style::Plain);

    let mut out = Vec::new();
    let mut area = PromptArea::default();
    area.draw(&line, &input, cursor, size, theme, &mut out);
    check_terminal_bytes(&out, Allowed::TERMINAL).unwrap_or_else(|e| panic!("prompt: {e}"));
    // The prompt may take all rows but one; a one-row screen has no room for the line above.
    let mut terminal = terminal(height.max(2), width);
    terminal.process(b"a\r\n");
    terminal.process(&for_vt100(&out));
    let mut erase = Vec::new();
    area.erase(&mut erase);
    terminal.process(&erase);
    let screen = terminal.screen();
    let rows: Vec<String> = screen.rows(0, width as u16).collect();
    let ok = rows[0] == "a"
        && rows[1..].iter().all(|r| r.is_empty())
        && screen.cursor_position() == (1, 0);
    assert!(
        ok,
        "prompt {size:?} with {input:?} at {cursor} did not erase cleanly ({:?} then {:?}):\n{}",
        lossy(&out),
        lossy(&erase),
        screen_dump(&terminal)
    );
}
