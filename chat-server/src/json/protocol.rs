//! The messages of the JSON protocol, version [`PROTOCOL`], as serde types: what a client may
//! send ([`ClientMessage`]), what the server sends ([`ServerMessage`]), and the two
//! translations the server makes: a client message into the line a terminal user would type
//! ([`ClientMessage::to_line`]), and a hub [`Event`] into a server message ([`Encoder`]).
//!
//! No transport here: one message is one JSON object on one line. `docs/protocol.md` is the
//! contract, with a JSON Schema for every message under `docs/protocol/`; a test holds this
//! module, the doc and the schemas to each other.

use chat_core::event::{Event, EventKind, NoticeLevel};
use chat_core::reply::Reply;
use chat_core::sanitize::sanitize;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The version of the protocol this server speaks, sent in `hello`.
pub const PROTOCOL: u32 = 1;

/// Longest line (one message) a client may send, in bytes.
pub const MAX_LINE_BYTES: usize = 16 * 1024;

/// What a client sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// A line said in the member's room. A text starting with `/` is said as it is, not run.
    Say { text: String },
    /// An emote (`/me`).
    Emote { text: String },
    /// A private message to the member named `to`.
    Msg { to: String, text: String },
    /// Go to a room (`/join`).
    Join { room: String },
    /// Leave the room for the lobby (`/part`).
    Part,
    /// Any chat command as a terminal user types it, starting with `/`.
    Command { text: String },
    /// Asks for a `pong`, which carries `token` back.
    Ping {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<String>,
    },
}

/// The `type` of every client message, for telling an unknown type from a bad message.
pub const CLIENT_TYPES: &[&str] = &["say", "emote", "msg", "join", "part", "command", "ping"];

/// What the server sends: every message carries an id and a time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerMessage {
    #[serde(flatten)]
    pub body: ServerBody,
    /// Increases by one with every message on a connection, from 1; a gap never happens (the
    /// server says `missed` instead).
    pub id: u64,
    /// When it happened, RFC 3339 in UTC with milliseconds.
    #[serde(with = "rfc3339")]
    pub at: DateTime<Utc>,
}

/// The kinds of server message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerBody {
    /// The first message on every connection.
    Hello {
        protocol: u32,
        /// The server's name and version.
        server: String,
        /// The member's name (the SSH username, or what it became if taken).
        name: String,
        room: String,
        /// Always true here: a member on this protocol is shown as a bot.
        bot: bool,
    },
    Said {
        room: String,
        from: String,
        text: String,
    },
    Emote {
        room: String,
        from: String,
        text: String,
    },
    /// A private message to this member.
    Private { from: String, text: String },
    /// The echo of a private message this member sent.
    PrivateSent { to: String, text: String },
    /// Members entered a room (several at once as one message, as on the terminal).
    Joined {
        room: String,
        names: Vec<String>,
        /// How many are in the room now.
        count: usize,
    },
    /// Members left the server.
    Left {
        room: String,
        names: Vec<String>,
        /// How many are left in the room (when several left at once).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        count: Option<usize>,
        /// How long the one who left had been connected (when one left).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        connected_seconds: Option<i64>,
    },
    /// A member went from `room` to the room `to`.
    Moved {
        room: String,
        name: String,
        to: String,
    },
    /// A member was kicked or banned by an operator.
    Removed {
        room: String,
        name: String,
        by: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        banned: bool,
    },
    /// A nick change.
    Renamed {
        room: String,
        old: String,
        new: String,
    },
    /// Information from the server for this member (lines separated by `\n`).
    Notice { text: String },
    /// Something refused or malformed.
    Error { code: String, message: String },
    /// The answer to `/who`.
    Who {
        room: String,
        members: Vec<WhoMember>,
    },
    /// The answer to `/rooms`.
    Rooms { rooms: Vec<RoomInfo> },
    /// The answer to `/whois`.
    Whois {
        name: String,
        verified: bool,
        fingerprint: Option<String>,
        #[serde(with = "rfc3339")]
        connected_at: DateTime<Utc>,
        connected_seconds: i64,
        idle_seconds: i64,
        room: String,
        /// The away reason (`""` if none given), or null when not away.
        away: Option<String>,
        bot: bool,
    },
    /// This many messages were dropped because the client read too slowly.
    Missed { count: u64 },
    /// What was said in a room before this member entered it (on joining, and for
    /// `/history`): `said` and `emote` messages, oldest first.
    History {
        room: String,
        lines: Vec<ServerMessage>,
    },
    /// The answer to `ping`.
    Pong {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<String>,
    },
    /// The server is closing this connection, and why.
    Bye { reason: String },
}

/// One member in a `who` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhoMember {
    pub name: String,
    pub away: bool,
    pub bot: bool,
}

/// One room in a `rooms` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomInfo {
    pub name: String,
    pub members: usize,
}

/// Why a client's line was not a message the server could act on. Its [`code`](Self::code)
/// goes into the `error` message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProtocolError {
    #[error("not a JSON object: {0}")]
    Malformed(String),
    #[error("a message is a JSON object with a string \"type\"")]
    MissingType,
    #[error("unknown message type {0:?}; known: say, emote, msg, join, part, command, ping")]
    UnknownType(String),
    #[error("bad {kind} message: {detail}")]
    Invalid { kind: String, detail: String },
    #[error("a line is at most {MAX_LINE_BYTES} bytes; this one was dropped")]
    TooLong,
    #[error("a command starts with /; to say text, send a say message")]
    NotACommand,
    #[error("too many bad messages; the rest are dropped until you slow down")]
    TooManyErrors,
}

impl ProtocolError {
    /// The stable code a program can match on.
    pub fn code(&self) -> &'static str {
        match self {
            ProtocolError::Malformed(_) => "malformed",
            ProtocolError::MissingType => "missing_type",
            ProtocolError::UnknownType(_) => "unknown_type",
            ProtocolError::Invalid { .. } => "invalid_message",
            ProtocolError::TooLong => "line_too_long",
            ProtocolError::NotACommand => "not_a_command",
            ProtocolError::TooManyErrors => "too_many_errors",
        }
    }
}

/// Decodes one line from a client. Never panics, whatever the bytes.
pub fn decode(line: &[u8]) -> Result<ClientMessage, ProtocolError> {
    if line.len() > MAX_LINE_BYTES {
        return Err(ProtocolError::TooLong);
    }
    let value: serde_json::Value =
        serde_json::from_slice(line).map_err(|e| ProtocolError::Malformed(e.to_string()))?;
    let kind = match value.get("type") {
        Some(serde_json::Value::String(kind)) => kind.clone(),
        _ => return Err(ProtocolError::MissingType),
    };
    if !CLIENT_TYPES.contains(&kind.as_str()) {
        return Err(ProtocolError::UnknownType(sanitize(&kind)));
    }
    serde_json::from_value(value).map_err(|e| ProtocolError::Invalid {
        kind,
        detail: e.to_string(),
    })
}

impl ClientMessage {
    /// The line a terminal user would type for this message, for the hub; `None` for a
    /// message the connection answers itself (`ping`).
    pub fn to_line(&self) -> Result<Option<String>, ProtocolError> {
        let invalid = |kind: &str, detail: &str| ProtocolError::Invalid {
            kind: kind.to_owned(),
            detail: detail.to_owned(),
        };
        let one_line = |kind: &str, text: &str| {
            if text.contains(['\n', '\r']) {
                Err(invalid(kind, "text is one line: send one message per line"))
            } else {
                Ok(())
            }
        };
        let one_word = |kind: &str, field: &str, word: &str| {
            if word.is_empty() || word.contains(char::is_whitespace) {
                Err(invalid(kind, &format!("{field} is one word")))
            } else {
                Ok(())
            }
        };
        let line = match self {
            ClientMessage::Say { text } => {
                one_line("say", text)?;
                // `//text` says `/text` literally.
                if text.starts_with('/') {
                    format!("/{text}")
                } else {
                    text.clone()
                }
            }
            ClientMessage::Emote { text } => {
                one_line("emote", text)?;
                format!("/me {text}")
            }
            ClientMessage::Msg { to, text } => {
                one_word("msg", "to", to)?;
                one_line("msg", text)?;
                format!("/msg {to} {text}")
            }
            ClientMessage::Join { room } => {
                one_word("join", "room", room)?;
                format!("/join {room}")
            }
            ClientMessage::Part => "/part".to_owned(),
            ClientMessage::Command { text } => {
                one_line("command", text)?;
                if !text.starts_with('/') {
                    return Err(ProtocolError::NotACommand);
                }
                text.clone()
            }
            ClientMessage::Ping { .. } => return Ok(None),
        };
        Ok(Some(line))
    }
}

impl ServerMessage {
    /// The message as one line of JSON, newline included.
    pub fn to_line(&self) -> Vec<u8> {
        let mut line =
            serde_json::to_vec(self).expect("a server message is plain data that always encodes");
        line.push(b'\n');
        line
    }
}

/// Numbers a connection's messages and turns hub events into them.
#[derive(Debug, Clone)]
pub struct Encoder {
    last_id: u64,
}

impl Default for Encoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Encoder {
    pub fn new() -> Self {
        Self { last_id: 0 }
    }

    /// A message with the next id.
    pub fn message(&mut self, at: DateTime<Utc>, body: ServerBody) -> ServerMessage {
        self.last_id += 1;
        ServerMessage {
            body,
            id: self.last_id,
            at: millis(at),
        }
    }

    /// An `error` message.
    pub fn error(&mut self, at: DateTime<Utc>, error: &ProtocolError) -> ServerMessage {
        let body = ServerBody::Error {
            code: error.code().to_owned(),
            message: error.to_string(),
        };
        self.message(at, body)
    }

    /// What a hub event says to a program. User text is sanitized as for a terminal.
    pub fn event(&mut self, event: &Event) -> ServerMessage {
        let s = |text: &String| sanitize(text);
        let names = |names: &[String]| names.iter().map(|n| sanitize(n)).collect();
        let body = match &event.kind {
            EventKind::Said { room, from, text } => ServerBody::Said {
                room: s(room),
                from: s(from),
                text: s(text),
            },
            EventKind::Emote { room, from, text } => ServerBody::Emote {
                room: s(room),
                from: s(from),
                text: s(text),
            },
            EventKind::Joined { room, name, count } => ServerBody::Joined {
                room: s(room),
                names: vec![s(name)],
                count: *count,
            },
            EventKind::JoinedMany {
                room,
                names: n,
                count,
            } => ServerBody::Joined {
                room: s(room),
                names: names(n),
                count: *count,
            },
            EventKind::Left { room, name, after } => ServerBody::Left {
                room: s(room),
                names: vec![s(name)],
                count: None,
                connected_seconds: Some(after.num_seconds()),
            },
            EventKind::LeftMany {
                room,
                names: n,
                count,
            } => ServerBody::Left {
                room: s(room),
                names: names(n),
                count: Some(*count),
                connected_seconds: None,
            },
            EventKind::Moved { room, name, to } => ServerBody::Moved {
                room: s(room),
                name: s(name),
                to: s(to),
            },
            EventKind::Removed {
                room,
                name,
                by,
                reason,
                banned,
            } => ServerBody::Removed {
                room: s(room),
                name: s(name),
                by: s(by),
                reason: reason.as_ref().map(s),
                banned: *banned,
            },
            EventKind::Renamed { room, old, new } => ServerBody::Renamed {
                room: s(room),
                old: s(old),
                new: s(new),
            },
            EventKind::PrivateFrom { from, text } => ServerBody::Private {
                from: s(from),
                text: s(text),
            },
            EventKind::PrivateTo { to, text } => ServerBody::PrivateSent {
                to: s(to),
                text: s(text),
            },
            EventKind::Notice {
                level: NoticeLevel::Info,
                text,
            } => ServerBody::Notice {
                text: sanitize_lines(text),
            },
            EventKind::Notice {
                level: NoticeLevel::Error,
                text,
            } => ServerBody::Error {
                code: "refused".to_owned(),
                message: sanitize_lines(text),
            },
            EventKind::Missed { count } => ServerBody::Missed { count: *count },
            EventKind::History { room, lines } => ServerBody::History {
                room: s(room),
                lines: lines.iter().map(|line| self.event(line)).collect(),
            },
            EventKind::Reply(reply) => reply_body(reply),
        };
        self.message(event.at, body)
    }
}

/// Sanitizes each line of a multi-line text, keeping the line breaks.
fn sanitize_lines(text: &str) -> String {
    text.split('\n')
        .map(sanitize)
        .collect::<Vec<_>>()
        .join("\n")
}

fn reply_body(reply: &Reply) -> ServerBody {
    match reply {
        Reply::Who { room, members } => ServerBody::Who {
            room: sanitize(room),
            members: members
                .iter()
                .map(|m| WhoMember {
                    name: sanitize(&m.name),
                    away: m.away,
                    bot: m.bot,
                })
                .collect(),
        },
        Reply::Rooms { rooms } => ServerBody::Rooms {
            rooms: rooms
                .iter()
                .map(|r| RoomInfo {
                    name: sanitize(&r.name),
                    members: r.members,
                })
                .collect(),
        },
        Reply::Whois(w) => ServerBody::Whois {
            name: sanitize(&w.name),
            verified: w.verified,
            fingerprint: w.fingerprint.as_deref().map(sanitize),
            connected_at: millis(w.connected_at),
            connected_seconds: w.connected_for.num_seconds(),
            idle_seconds: w.idle.num_seconds(),
            room: sanitize(&w.room),
            away: w.away.as_deref().map(sanitize),
            bot: w.bot,
        },
    }
}

/// A time to the millisecond, as the protocol carries it.
fn millis(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap_or(at)
}

/// RFC 3339 in UTC (`2026-11-25T12:04:00.000Z`).
mod rfc3339 {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_time(*at))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

/// A time as the protocol writes it.
pub fn format_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}
