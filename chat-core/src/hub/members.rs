//! One member as the hub keeps it, and how events reach it.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{HubStats, Outbox};
use crate::event::{Event, EventKind};
use crate::name;
use crate::prefs::Prefs;
use crate::rate::TokenBucket;
use std::net::IpAddr;

/// A member's handle in the hub. Ids are never reused, so a stale id finds nobody.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MemberId(u64);

impl MemberId {
    pub(crate) fn new(raw: u64) -> Self {
        Self(raw)
    }

    pub fn get(self) -> u64 {
        self.0
    }
}

/// Someone a member ignores: matched by session while it lasts and by account after, so a
/// reconnect (with any of the account's keys) stays ignored and a rename does not escape it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ignored {
    /// The session ignored, if it was online when ignored (a restored entry has none).
    pub id: Option<MemberId>,
    pub account: Option<String>,
    /// Their name when ignored, for `/ignore`'s list and `/unignore` once they have gone.
    pub name: String,
}

#[derive(Debug)]
pub(crate) struct Member<O> {
    pub name: String,
    pub fingerprint: Option<String>,
    /// The id of the member's account, if it has one: what it is remembered by.
    pub account: Option<String>,
    /// The folded key of the member's room.
    pub room: String,
    pub outbox: O,
    /// Events refused by the outbox since the member was last told.
    pub missed: u64,
    pub visible: bool,
    /// Joined through the JSON protocol: a program, shown as a bot.
    pub bot: bool,
    pub connected_at: DateTime<Utc>,
    /// The last time the member submitted a line: idle time is measured from here.
    pub last_active: DateTime<Utc>,
    pub away: Option<String>,
    pub prefs: Prefs,
    pub ignoring: Vec<Ignored>,
    /// Who sent the member its last private message, for `/reply`.
    pub reply_to: Option<MemberId>,
    /// ...or a member of another node did (in a cluster), with when it connected: a node
    /// that restarts numbers its members afresh, so the id alone could name someone else.
    pub reply_remote: Option<(super::cluster::RemoteId, DateTime<Utc>)>,
    /// The address it connected from, if the edge knows one (for bans of keyless members).
    pub ip: Option<IpAddr>,
    /// An operator (its key is an admin's or was granted `/op`).
    pub op: bool,
    /// Muted by an operator: it can read but not talk.
    pub muted: bool,
    /// Lines it may submit: a burst, then a steady rate.
    pub lines: TokenBucket,
    /// Told it is too fast and not yet let through since: so a flood gets one notice.
    pub throttled: bool,
}

impl<O: Outbox> Member<O> {
    pub fn new(
        name: String,
        fingerprint: Option<String>,
        room: String,
        outbox: O,
        visible: bool,
        lines: TokenBucket,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            name,
            fingerprint,
            account: None,
            room,
            outbox,
            missed: 0,
            visible,
            bot: false,
            connected_at: now,
            last_active: now,
            away: None,
            prefs: Prefs::default(),
            ignoring: Vec::new(),
            reply_to: None,
            reply_remote: None,
            ip: None,
            op: false,
            muted: false,
            lines,
            throttled: false,
        }
    }

    /// Offers an event, first telling the member what it missed if anything. A refused event
    /// is counted, never retried: the hub does not wait for anyone.
    pub fn deliver(&mut self, event: Arc<Event>, stats: &mut HubStats) {
        if self.missed > 0 && !self.offer_missed(event.at) {
            self.missed += 1;
            stats.dropped += 1;
            return;
        }
        if self.outbox.offer(event) {
            stats.delivered += 1;
        } else {
            self.missed += 1;
            stats.dropped += 1;
        }
    }

    pub fn flush_missed(&mut self, now: DateTime<Utc>) {
        if self.missed > 0 {
            self.offer_missed(now);
        }
    }

    fn offer_missed(&mut self, at: DateTime<Utc>) -> bool {
        let notice = Event::new(at, EventKind::Missed { count: self.missed });
        let accepted = self.outbox.offer(Arc::new(notice));
        if accepted {
            self.missed = 0;
        }
        accepted
    }
}

impl<O> Member<O> {
    /// Whether this member ignores the sender `from` (of `account`, if it has one).
    pub fn ignores(&self, from: super::MemberId, account: Option<&str>) -> bool {
        self.ignoring
            .iter()
            .any(|i| i.id == Some(from) || (account.is_some() && i.account.as_deref() == account))
    }

    /// Whether a replayed history line comes from someone this member ignores. History holds
    /// names, not sessions, so it is matched by the name they had when ignored.
    pub fn ignores_name_in(&self, event: &Event) -> bool {
        let from = match &event.kind {
            EventKind::Said { from, .. } | EventKind::Emote { from, .. } => from,
            _ => return false,
        };
        let from = name::fold(from);
        self.ignoring.iter().any(|i| name::fold(&i.name) == from)
    }
}
