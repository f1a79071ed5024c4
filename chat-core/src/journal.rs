//! What the hub asks to be remembered, and what it is given back.
//!
//! The hub does no I/O. When something happens that should outlive the process (a line said,
//! an account renamed, a preference changed, a private message left for someone offline),
//! it hands a [`Record`] to its [`Journal`], a sink the edge supplies. The edge writes records
//! to a store (and account changes to the key directory) in the background, never under the
//! hub's lock. At start-up the edge gives the hub what was remembered ([`Snapshot`]); when a
//! member with an account joins, it gives the hub that account's [`Profile`] with the
//! [`JoinRequest`](crate::JoinRequest).
//!
//! What is remembered about a person is keyed by their **account id** (see
//! [`AccountRef`](crate::hub::AccountRef)): an account may hold several keys, and the same
//! settings, messages and bans follow whichever key its owner logs in with. Members without
//! an account (no key, or a key the directory could not be asked about) leave nothing behind.

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use crate::prefs::Prefs;

/// One fact to remember. Records are plain data, in the order the hub produced them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A said line or emote, for history.
    Line(StoredLine),
    /// The account `account` is now called `name` (an account has one name: the last it
    /// used). Its old name is free. The edge renames the account in the directory, and tells
    /// the hub if the directory refuses ([`Hub::claim_refused`](crate::Hub::claim_refused)).
    Claim { account: String, name: String },
    /// An account's settings changed: store the whole profile.
    Profile { owner: String, settings: Settings },
    /// A private message left for a key whose member is offline.
    Offline(OfflineMessage),
    /// The oldest `count` offline messages for this account were delivered; forget them. (A
    /// count, not "all": a message left while the member was joining must survive.)
    OfflineDelivered { owner: String, count: usize },
    /// A ban, to enforce until it expires (or forever).
    Ban(Ban),
    /// A ban lifted.
    Unban(BanTarget),
    /// An account was made an operator (`granted`) or stopped being one.
    Operator { account: String, granted: bool },
    /// An operator did something: kept for the audit trail.
    Audit(AuditEntry),
}

impl Record {
    /// Whether a member is told this was kept (an answer such as "they will get your
    /// message" or "banned"), so that answer must wait until the record is stored. Said lines
    /// have their own gate (nobody sees one before it is stored); the audit trail and the
    /// bookkeeping of delivered messages promise nobody anything.
    pub fn is_promised(&self) -> bool {
        !matches!(
            self,
            Record::Line(_) | Record::Audit(_) | Record::OfflineDelivered { .. }
        )
    }
}

/// Who a ban keeps out: an account (every key it holds), one key, or an address (for people
/// without a key).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BanTarget {
    Account(String),
    Key(String),
    Ip(IpAddr),
}

impl BanTarget {
    /// Parses `account:ID`, `fingerprint:SHA256:…` or `ip:ADDR`; anything else is not a
    /// target (a name, which the hub resolves).
    pub fn parse(text: &str) -> Option<BanTarget> {
        if let Some(fp) = text.strip_prefix("fingerprint:") {
            return fp
                .starts_with("SHA256:")
                .then(|| BanTarget::Key(fp.to_owned()));
        }
        if let Some(id) = text.strip_prefix("account:") {
            return (!id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
                .then(|| BanTarget::Account(id.to_owned()));
        }
        text.strip_prefix("ip:")?.parse().ok().map(BanTarget::Ip)
    }
}

impl std::fmt::Display for BanTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BanTarget::Account(id) => write!(f, "account:{id}"),
            BanTarget::Key(fp) => write!(f, "fingerprint:{fp}"),
            BanTarget::Ip(ip) => write!(f, "ip:{ip}"),
        }
    }
}

/// A ban as it is enforced and remembered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ban {
    pub target: BanTarget,
    /// The name the banned member had, if banned by name.
    pub name: Option<String>,
    /// When it ends; `None` is forever.
    pub until: Option<DateTime<Utc>>,
    pub reason: String,
    /// The operator who banned.
    pub by: String,
    pub at: DateTime<Utc>,
}

impl Ban {
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.until.is_none_or(|until| now < until)
    }
}

/// One operator action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    /// The operator's name and key.
    pub by: String,
    pub by_fingerprint: Option<String>,
    /// What was done, in words: `kick bob (spamming)`.
    pub action: String,
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
    /// The recipient's account id.
    pub to: String,
    pub from: String,
    pub text: String,
    pub at: DateTime<Utc>,
}

/// What an account keeps between visits, besides its name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Settings {
    pub prefs: Prefs,
    /// Accounts this account ignores, with the name each had when ignored.
    pub ignoring: Vec<IgnoredAccount>,
    /// The room the member was in when it last changed rooms (or left), with `#`.
    pub last_room: Option<String>,
}

/// Someone an account ignores, by account, so a rename or another key does not escape it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredAccount {
    pub account: String,
    pub name: String,
}

/// What the edge looked up about an account before it joined.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Profile {
    pub settings: Settings,
    /// Private messages left while the key was away, oldest first.
    pub offline: Vec<OfflineMessage>,
}

/// What the hub starts with after a restart.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// Names of accounts: `(name, account id)`. The edge fills it from the key directory.
    pub claims: Vec<(String, String)>,
    /// Recent lines per room, oldest first (at most the hub's history length each).
    pub history: Vec<StoredLine>,
    /// How many offline messages wait for each account.
    pub offline_counts: Vec<(String, usize)>,
    /// Bans in force.
    pub bans: Vec<Ban>,
    /// Accounts that are operators. The edge fills it from the key directory.
    pub operators: Vec<String>,
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
