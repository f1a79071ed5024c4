//! What the hub asks to be remembered, and what it is given back.
//!
//! The hub does no I/O. When something happens that should outlive the process (a line said,
//! a name claimed by a key, a preference changed, a private message left for someone offline),
//! it hands a [`Record`] to its [`Journal`], a sink the edge supplies. The edge writes records
//! to a store in the background, never under the hub's lock. At start-up the edge gives the
//! hub what was remembered ([`Snapshot`]); when a member with a key joins, it gives the hub
//! that key's [`Profile`] with the [`JoinRequest`](crate::JoinRequest).

use chrono::{DateTime, Utc};

use crate::prefs::Prefs;

/// One fact to remember. Records are plain data, in the order the hub produced them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A said line or emote, for history.
    Line(StoredLine),
    /// `fingerprint` now owns `name` (a key owns one name: the last it used). Any name the key
    /// owned before is released.
    Claim { fingerprint: String, name: String },
    /// A key's settings changed: store the whole profile.
    Profile {
        fingerprint: String,
        settings: Settings,
    },
    /// A private message left for a key whose member is offline.
    Offline(OfflineMessage),
    /// The oldest `count` offline messages for this key were delivered; forget them. (A count,
    /// not "all": a message left while the member was joining must survive.)
    OfflineDelivered { fingerprint: String, count: usize },
}

/// A said line or emote as history keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLine {
    /// The room's display name, with `#`.
    pub room: String,
    pub from: String,
    pub text: String,
    pub at: DateTime<Utc>,
    pub emote: bool,
}

/// A private message waiting for its recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfflineMessage {
    pub to_fingerprint: String,
    pub from: String,
    pub text: String,
    pub at: DateTime<Utc>,
}

/// What a key keeps between visits, besides its name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Settings {
    pub prefs: Prefs,
    /// Keys this key ignores, with the name each had when ignored.
    pub ignoring: Vec<IgnoredKey>,
    /// The room the member was in when it last changed rooms (or left), with `#`.
    pub last_room: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredKey {
    pub fingerprint: String,
    pub name: String,
}

/// What the edge looked up about a key before it joined.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Profile {
    pub settings: Settings,
    /// Private messages left while the key was away, oldest first.
    pub offline: Vec<OfflineMessage>,
}

/// What the hub starts with after a restart.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// Names owned by keys: `(name, fingerprint)`.
    pub claims: Vec<(String, String)>,
    /// Recent lines per room, oldest first (at most the hub's history length each).
    pub history: Vec<StoredLine>,
    /// How many offline messages wait for each key.
    pub offline_counts: Vec<(String, usize)>,
}

/// Where the hub puts records. It must not block: queue and return.
pub trait Journal {
    fn record(&mut self, record: Record);
}

/// A journal that remembers nothing: the hub's default.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoJournal;

impl Journal for NoJournal {
    fn record(&mut self, _record: Record) {}
}

/// A journal that keeps records in a `Vec`: for tests and for edges that drain it themselves.
impl Journal for Vec<Record> {
    fn record(&mut self, record: Record) {
        self.push(record);
    }
}
