//! Events: what the hub routes to members, as plain data.
//!
//! An event says who did what, when, and in which room; it holds no terminal bytes. The
//! [`render`](crate::render) module turns one into what a particular recipient's terminal
//! shows. Keeping events as data means they can later cross a process boundary (a store, a
//! cluster bus) unchanged, and that one `Arc<Event>` serves every recipient of a broadcast.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};

use crate::reply::Reply;

/// One thing that happened, stamped with when it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub at: DateTime<Utc>,
    pub kind: EventKind,
    /// Set on a command's answer that promises something was stored: a message kept for
    /// someone offline, a ban, a setting, an operator grant. The edge shows such an answer
    /// only once the store has committed what the command recorded, and says plainly if it
    /// could not: a member who was told "they will get your message" must not lose it to a
    /// crash the next moment.
    pub promise: bool,
}

/// Whether a notice reports success or information, or an error the member should act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeLevel {
    Info,
    Error,
}

/// What happened. Text fields hold what the user typed, unsanitized-at-rest is never assumed:
/// the hub sanitizes bodies when it creates events and the renderer sanitizes again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// A line said in a room: `alice: hello`.
    Said {
        room: String,
        from: String,
        text: String,
    },
    /// An emote (`/me waves`): `** alice waves`.
    Emote {
        room: String,
        from: String,
        text: String,
    },
    /// A member entered a room; `count` is how many are in it now.
    Joined {
        room: String,
        name: String,
        count: usize,
    },
    /// A member left a room, `after` being how long they had been connected.
    Left {
        room: String,
        name: String,
        after: TimeDelta,
    },
    /// A member went from this room to another one (`/join`, `/part`).
    Moved {
        room: String,
        name: String,
        to: String,
    },
    /// A member was removed by an operator (kicked, or banned).
    Removed {
        room: String,
        name: String,
        by: String,
        reason: Option<String>,
        banned: bool,
    },
    /// Several members entered a room together (announced as one line); `count` is how many
    /// are in it now.
    JoinedMany {
        room: String,
        names: Vec<String>,
        count: usize,
    },
    /// Several members left a room together; `count` is how many are left.
    LeftMany {
        room: String,
        names: Vec<String>,
        count: usize,
    },
    /// A member changed name.
    Renamed {
        room: String,
        old: String,
        new: String,
    },
    /// A private message, as its recipient sees it.
    PrivateFrom { from: String, text: String },
    /// A private message, as its sender sees it (the echo).
    PrivateTo { to: String, text: String },
    /// A message from the server to one member; lines are separated by `\n`.
    Notice { level: NoticeLevel, text: String },
    /// The member's outbox was full and this many events were dropped for it.
    Missed { count: u64 },
    /// What was said in a room before the member entered it, shown on entering: said lines
    /// and emotes, oldest first, each with its own time.
    History {
        room: String,
        lines: Vec<Arc<Event>>,
    },
    /// The answer to a question command (`/who`, `/rooms`, `/whois`), as data.
    Reply(Reply),
}

impl Event {
    pub fn new(at: DateTime<Utc>, kind: EventKind) -> Self {
        Self {
            at,
            kind,
            promise: false,
        }
    }

    /// A notice for one member.
    pub fn notice(at: DateTime<Utc>, level: NoticeLevel, text: impl Into<String>) -> Self {
        Self::new(
            at,
            EventKind::Notice {
                level,
                text: text.into(),
            },
        )
    }

    /// Who said it, for a said line or an emote (what history keeps); `None` otherwise.
    pub fn said_by(&self) -> Option<&str> {
        match &self.kind {
            EventKind::Said { from, .. } | EventKind::Emote { from, .. } => Some(from),
            _ => None,
        }
    }

    /// Whether this is an error notice (what an `exec` session turns into a failing status).
    pub fn is_error(&self) -> bool {
        matches!(
            self.kind,
            EventKind::Notice {
                level: NoticeLevel::Error,
                ..
            }
        )
    }

    /// Whether `/quiet` hides this event.
    pub fn is_presence(&self) -> bool {
        matches!(
            self.kind,
            EventKind::Joined { .. }
                | EventKind::Left { .. }
                | EventKind::JoinedMany { .. }
                | EventKind::LeftMany { .. }
                | EventKind::Moved { .. }
        )
    }
}
