//! Answers to the commands that ask about the chat (`/who`, `/rooms`, `/whois`), as data.
//!
//! A terminal shows a [`Reply`] as a notice ([`Reply::text`]); a program (a bot on the JSON
//! protocol, the browser) reads its fields. One answer, two readers: the words a person sees
//! and the structure a program parses cannot drift apart.

use chrono::{DateTime, TimeDelta, Utc};

use crate::name::LOBBY;
use crate::render::humanize;

/// What a question command found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `/who`: the visible members of the asker's room, sorted by name.
    Who {
        room: String,
        members: Vec<WhoEntry>,
    },
    /// `/rooms`: rooms with people in them (and `#lobby`), by name.
    Rooms { rooms: Vec<RoomEntry> },
    /// `/whois NAME`.
    Whois(Whois),
}

/// One member in a `/who` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhoEntry {
    pub name: String,
    pub away: bool,
    /// Joined through the JSON protocol (a program, not a person at a terminal).
    pub bot: bool,
}

/// One room in a `/rooms` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomEntry {
    pub name: String,
    pub members: usize,
}

/// A `/whois` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Whois {
    pub name: String,
    /// The member's key belongs to the account that owns the name.
    pub verified: bool,
    /// The key the member proved, if any.
    pub fingerprint: Option<String>,
    pub connected_at: DateTime<Utc>,
    /// How long ago that was, when asked.
    pub connected_for: TimeDelta,
    /// Time since the member last said or did anything.
    pub idle: TimeDelta,
    pub room: String,
    /// `Some("")` when away without a reason.
    pub away: Option<String>,
    pub bot: bool,
}

impl Reply {
    /// The answer as a terminal shows it (lines separated by `\n`).
    pub fn text(&self) -> String {
        match self {
            Reply::Who { room, members } => {
                let place = if room == LOBBY {
                    String::new()
                } else {
                    format!(" in {room}")
                };
                if members.is_empty() {
                    return format!("nobody is connected{place}");
                }
                let names: Vec<String> = members
                    .iter()
                    .map(|m| {
                        let mut name = m.name.clone();
                        if m.bot {
                            name.push_str(" (bot)");
                        }
                        if m.away {
                            name.push_str(" (away)");
                        }
                        name
                    })
                    .collect();
                format!("{} connected{place}: {}", names.len(), names.join(", "))
            }
            Reply::Rooms { rooms } => {
                let list: Vec<String> = rooms
                    .iter()
                    .map(|r| format!("{} ({})", r.name, r.members))
                    .collect();
                format!("rooms: {}", list.join(", "))
            }
            Reply::Whois(w) => {
                let mut text = format!(
                    "name: {} ({}{})\nkey: {}\nconnected: {} UTC ({} ago)\nidle: {}\nroom: {}",
                    w.name,
                    if w.verified { "verified" } else { "unverified" },
                    if w.bot { ", a bot" } else { "" },
                    w.fingerprint.as_deref().unwrap_or("none"),
                    w.connected_at.format("%Y-%m-%d %H:%M"),
                    humanize(w.connected_for),
                    humanize(w.idle),
                    w.room,
                );
                if let Some(reason) = &w.away {
                    text.push_str(&format!(
                        "\naway: {}",
                        if reason.is_empty() { "yes" } else { reason }
                    ));
                }
                text
            }
        }
    }
}
