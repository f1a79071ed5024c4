//! The hub: members, their names, rooms and recent history, and the routing of events.
//!
//! The hub is plain data behind `&mut self`. Every input is a method call with the current time
//! passed in; every output is an [`Event`] pushed into the [`Outbox`] of each member who should
//! see it, or a [`Record`] handed to the [`Journal`] for the edge to store. The hub never waits
//! on a member: an outbox that refuses an event (because it is full) loses that event for that
//! member alone, and the member is told how many it missed the next time an event gets through
//! (or when the edge calls [`Hub::flush_missed`]).

mod accounts;
pub mod cluster;
mod commands;
mod members;
mod moderation;
mod names;
mod presence;
mod routing;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};

use crate::event::{Event, EventKind, NoticeLevel};
use crate::journal::{Ban, Journal, NoJournal, Profile, Record, Snapshot, StoredLine};
use crate::name::{self, LOBBY};
use crate::prefs::Prefs;
use crate::rate::TokenBucket;
pub use members::MemberId;
use members::{Ignored, Member};
use names::Claims;

/// Where the hub puts the events meant for one member. The edge supplies it: a bounded channel
/// to the connection's task in a server, a `Vec` in a test.
pub trait Outbox {
    /// Queues `event` for the member without waiting. Returns `false` if it could not be
    /// queued (the outbox is full or closed); the hub then counts the event as missed.
    fn offer(&self, event: Arc<Event>) -> bool;

    /// The member has been removed from the hub (replaced by a newer session of its key, or
    /// removed by an operator): the edge should close its connection, whatever state its
    /// outbox is in. `reason` is for the member to read.
    fn disconnect(&self, reason: &str) {
        let _ = reason;
    }
}

/// Settings of a hub, fixed when it is made.
#[derive(Debug, Clone, PartialEq)]
pub struct HubConfig {
    /// How many said lines and emotes each room keeps and replays to whoever enters it.
    pub history_len: usize,
    /// The longest message, in characters.
    pub max_message_chars: usize,
    /// Shown to each member on joining and by `/motd`.
    pub motd: Option<String>,
    /// How many private messages may wait for one offline key.
    pub max_offline_messages: usize,
    /// How many rooms nobody is in keep their history in memory (the oldest go first).
    pub max_idle_rooms: usize,
    /// Lines a member may submit at once...
    pub line_burst: u32,
    /// ...and per second after that. A fast typist never notices; a flood is refused.
    pub lines_per_second: f64,
    /// Joins and leaves in a room this close together are announced together, in one line
    /// (see [`Hub::tick`]). Zero announces each at once.
    pub presence_window: TimeDelta,
    /// ...lengthened by this much per member of the room: an announcement goes to everyone in
    /// it, so in a room of N members a window of N × this costs the same per second whatever
    /// the room's size (at 100 µs, a crowd joining a room of 10,000 is announced once a
    /// second, instead of N deliveries every `presence_window`).
    pub presence_window_per_member: TimeDelta,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            history_len: 50,
            max_message_chars: 1000,
            motd: None,
            max_offline_messages: 50,
            max_idle_rooms: 256,
            line_burst: 10,
            lines_per_second: 2.0,
            presence_window: TimeDelta::zero(),
            presence_window_per_member: TimeDelta::zero(),
        }
    }
}

/// The account a member logs in as, as the key directory holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRef {
    /// Stable and opaque: what the hub and the store remember the member by.
    pub id: String,
    /// The account's name: the member gets it, and nobody else may hold it.
    pub name: String,
    /// The account's members are operators.
    pub operator: bool,
}

/// Who wants to join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinRequest {
    /// The name asked for (an SSH username, say); it is cleaned and, if taken, numbered. A
    /// member with an account gets the account's name instead.
    pub name: String,
    /// The SHA256 fingerprint of the member's key, if they proved one.
    pub fingerprint: Option<String>,
    /// The account the key belongs to, if the edge found one in the key directory.
    pub account: Option<AccountRef>,
    /// A visible member is in a room, listed and announced. An invisible one (a one-shot
    /// `exec` command) can run commands and send private messages, but nobody sees it come
    /// and go and it receives no broadcasts.
    pub visible: bool,
    /// What the store remembers about the account: settings and waiting messages.
    pub profile: Option<Profile>,
    /// The address the member connects from, if known: a keyless member is banned by it.
    pub ip: Option<IpAddr>,
    /// In a cluster: the name the bus reserved for the member across every node. The member
    /// gets exactly it.
    pub reserved: Option<String>,
    /// A program speaking the JSON protocol: `/who` and `/whois` show it as a bot.
    pub bot: bool,
}

impl JoinRequest {
    /// A visible member asking for `name`, without a key.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            fingerprint: None,
            account: None,
            visible: true,
            profile: None,
            ip: None,
            reserved: None,
            bot: false,
        }
    }

    /// The same request, proven by the key with this fingerprint.
    pub fn with_key(mut self, fingerprint: impl Into<String>) -> Self {
        self.fingerprint = Some(fingerprint.into());
        self
    }

    /// The same request, from a member of this account.
    pub fn with_account(mut self, account: AccountRef) -> Self {
        self.account = Some(account);
        self
    }

    /// The same request, for an invisible member.
    pub fn invisible(mut self) -> Self {
        self.visible = false;
        self
    }

    /// The same request, with what the store remembers about the key.
    pub fn with_profile(mut self, profile: Profile) -> Self {
        self.profile = Some(profile);
        self
    }
}

/// What a member's session needs to know about its member: kept up to date through
/// [`Outcome`] after every submitted line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Me {
    pub name: String,
    pub room: String,
    pub prefs: Prefs,
}

/// Something for the edge to do on the member's behalf, which the hub cannot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Show the last `limit` lines of `room` (display name) from the store (an edge without
    /// one answers from [`Hub::recent_history`]).
    History { room: String, limit: usize },
    /// An operator asked to read the admins and allowlist files again.
    Reload,
    /// The member manages the keys of its account (`/keys ...`): the directory is the edge's.
    Keys(crate::command::KeysCommand),
}

/// The result of a submitted line, for the member's own session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The member as they are now (name, room and preferences may have changed).
    pub me: Me,
    /// The member asked to leave (`/exit`); the edge should close the session and call
    /// [`Hub::leave`].
    pub exit: bool,
    /// The line failed (a parse error or a command that could not be carried out).
    pub failed: bool,
    /// Something for the edge to do on the member's behalf.
    pub request: Option<Request>,
}

/// Counters the edge can export as metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HubStats {
    /// Events accepted by an outbox.
    pub delivered: u64,
    /// Events refused by a full outbox.
    pub dropped: u64,
    /// Lines said and emotes made.
    pub said: u64,
    /// Lines refused because their sender was too fast.
    pub rate_limited: u64,
}

/// A room: who is in it and what was said lately.
#[derive(Debug)]
struct Room {
    /// Its display name, with `#`.
    name: String,
    members: Vec<MemberId>,
    /// Members of other nodes in it (in a cluster).
    remote: BTreeSet<cluster::RemoteId>,
    history: VecDeque<Arc<Event>>,
    /// Joins and leaves waiting to be announced together.
    presence: presence::Presence,
}

impl Room {
    fn new(name: String) -> Self {
        Self {
            name,
            members: Vec::new(),
            remote: BTreeSet::new(),
            history: VecDeque::new(),
            presence: presence::Presence::default(),
        }
    }
}

/// The chat: everyone in it, their rooms, and what they said.
#[derive(Debug)]
pub struct Hub<O, J = NoJournal> {
    config: HubConfig,
    members: HashMap<MemberId, Member<O>>,
    /// Folded name → member online, so names are unique regardless of case.
    by_name: HashMap<String, MemberId>,
    /// Account id → its members online, so that news of one account (the directory's
    /// refresh reports every account created since the last, thousands while a crowd
    /// arrives) touches its members only instead of scanning everyone.
    by_account: HashMap<String, BTreeSet<MemberId>>,
    /// Names owned by accounts, online or not, as far as the hub knows (the key directory
    /// is the authority; the edge keeps the hub informed).
    claims: Claims,
    /// Folded room name → room. `#lobby` always exists; other rooms go when they empty and
    /// have no history, or when too many idle rooms keep theirs.
    rooms: BTreeMap<String, Room>,
    /// How many private messages wait for each offline key.
    offline_counts: HashMap<String, usize>,
    /// Keys listed in the admins file: operators that `/deop` cannot touch.
    admins: HashSet<String>,
    /// Accounts that are operators (in the directory, or made so with `/op`).
    operators: HashSet<String>,
    /// Bans in force (expired ones are dropped as they are noticed).
    bans: Vec<Ban>,
    /// Rooms with joins or leaves waiting to be announced.
    presence_due: presence::Due,
    journal: J,
    /// Where what other nodes must hear goes, in a cluster.
    bus: Option<Box<dyn cluster::Bus>>,
    /// Members of other nodes, as they described themselves.
    remote: HashMap<cluster::RemoteId, cluster::RemoteMember>,
    /// Folded name → member of another node holding it.
    remote_names: HashMap<String, cluster::RemoteId>,
    /// Node → the ids of its members in `remote`: which nodes the hub mirrors is asked every
    /// heartbeat, and a node's members when it goes or sends a snapshot, so neither scans
    /// every remote member.
    remote_by_node: HashMap<String, BTreeSet<u64>>,
    next_id: u64,
    stats: HubStats,
    /// Whether the command being carried out recorded something its answer promises (see
    /// [`Record::is_promised`]); [`commands::submit`] marks the answer a promise.
    promised: bool,
}

/// What a member's session calls into: the hub itself, or at a concurrent edge a wrapper that
/// locks the shared hub for each call.
pub trait Chat {
    /// Carries out one line the member submitted: a command, or text to say.
    fn submit(&mut self, id: MemberId, line: &str, now: DateTime<Utc>) -> Outcome;
    /// Candidates to complete `word` (a name, an `@name` or a `#room`) with.
    fn complete(&mut self, id: MemberId, word: &str) -> Vec<String>;
}

impl<O: Outbox, J: Journal> Chat for Hub<O, J> {
    fn submit(&mut self, id: MemberId, line: &str, now: DateTime<Utc>) -> Outcome {
        Hub::submit(self, id, line, now)
    }

    fn complete(&mut self, id: MemberId, word: &str) -> Vec<String> {
        Hub::complete(self, id, word)
    }
}

impl<O: Outbox> Hub<O, NoJournal> {
    /// A hub that remembers nothing beyond its memory.
    pub fn new(config: HubConfig) -> Self {
        Self::with_journal(config, NoJournal)
    }
}

impl<O: Outbox, J: Journal> Hub<O, J> {
    /// A hub that hands what must be remembered to `journal`.
    pub fn with_journal(config: HubConfig, journal: J) -> Self {
        let mut rooms = BTreeMap::new();
        rooms.insert(name::fold(LOBBY), Room::new(LOBBY.to_owned()));
        Self {
            config,
            members: HashMap::new(),
            by_name: HashMap::new(),
            by_account: HashMap::new(),
            claims: Claims::default(),
            rooms,
            offline_counts: HashMap::new(),
            admins: HashSet::new(),
            operators: HashSet::new(),
            bans: Vec::new(),
            presence_due: presence::Due::new(),
            journal,
            bus: None,
            remote: HashMap::new(),
            remote_names: HashMap::new(),
            remote_by_node: HashMap::new(),
            next_id: 1,
            stats: HubStats::default(),
            promised: false,
        }
    }

    /// Takes back what was remembered: account names, recent history and offline message
    /// counts. Call it once, before anyone joins.
    pub fn restore(&mut self, snapshot: Snapshot) {
        self.learn_names(snapshot.claims);
        for line in snapshot.history {
            let Some(display) = name::clean_room(&line.room) else {
                continue;
            };
            let key = name::fold(&display);
            let limit = self.config.history_len;
            let room = self.rooms.entry(key).or_insert_with(|| Room::new(display));
            if limit > 0 {
                if room.history.len() >= limit {
                    room.history.pop_front();
                }
                room.history.push_back(Arc::new(line.to_event()));
            }
        }
        self.offline_counts = snapshot.offline_counts.into_iter().collect();
        self.bans = snapshot.bans;
        self.operators = snapshot.operators.into_iter().collect();
    }

    pub fn config(&self) -> &HubConfig {
        &self.config
    }

    pub fn stats(&self) -> HubStats {
        self.stats
    }

    pub fn journal(&self) -> &J {
        &self.journal
    }

    pub fn journal_mut(&mut self) -> &mut J {
        &mut self.journal
    }

    /// Hands a record to the journal, noting whether the answer being made promises it.
    fn remember(&mut self, record: Record) {
        self.promised |= record.is_promised();
        self.journal.record(record);
    }

    /// How many members are connected, invisible ones included.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The member's current name, if they are connected.
    pub fn name_of(&self, id: MemberId) -> Option<&str> {
        self.members.get(&id).map(|m| m.name.as_str())
    }

    /// The id of the member's account, if it has one.
    pub fn account_of(&self, id: MemberId) -> Option<&str> {
        self.members.get(&id)?.account.as_deref()
    }

    /// The member's current room, if they are connected.
    pub fn room_of(&self, id: MemberId) -> Option<&str> {
        let member = self.members.get(&id)?;
        self.rooms.get(&member.room).map(|r| r.name.as_str())
    }

    /// The member with this name (any case), if connected.
    pub fn find(&self, name: &str) -> Option<MemberId> {
        self.by_name.get(&name::fold(name)).copied()
    }

    /// The account that owns `name`, if any.
    pub fn owner_of(&self, name: &str) -> Option<&str> {
        self.claims.owner(name)
    }

    /// The name the hub would give a newcomer asking for `asked` who has no account yet:
    /// cleaned, and numbered past names held online or owned by accounts. The edge registers
    /// it as the newcomer's account before it joins.
    pub fn name_for_newcomer(&self, asked: &str) -> String {
        let wanted = name::clean_name(asked).unwrap_or_else(|| name::DEFAULT_NAME.to_owned());
        self.free_name(&wanted, None, None)
    }

    /// The names of visible members in `room` (any case), sorted.
    pub fn names_in(&self, room: &str) -> Vec<String> {
        let Some(room) = self.rooms.get(&name::fold(room)) else {
            return Vec::new();
        };
        let mut names: Vec<String> = room
            .members
            .iter()
            .filter_map(|id| self.members.get(id))
            .map(|m| m.name.clone())
            .chain(
                room.remote
                    .iter()
                    .filter_map(|id| self.remote.get(id))
                    .map(|r| r.state.name.clone()),
            )
            .collect();
        names.sort_by_key(|n| name::fold(n));
        names
    }

    /// Rooms with members and how many are in each, largest first (for metrics).
    pub fn room_sizes(&self) -> Vec<(String, usize)> {
        let mut sizes: Vec<(String, usize)> = self
            .rooms
            .values()
            .filter(|room| !room.members.is_empty())
            .map(|room| (room.name.clone(), room.members.len()))
            .collect();
        sizes.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        sizes
    }

    /// The last `limit` lines said in `room` that the hub still holds, oldest first.
    pub fn recent_history(&self, room: &str, limit: usize) -> Vec<Arc<Event>> {
        let Some(room) = self.rooms.get(&name::fold(room)) else {
            return Vec::new();
        };
        let skip = room.history.len().saturating_sub(limit);
        room.history.iter().skip(skip).cloned().collect()
    }

    /// Adds a member and gives it a name: its account's, else the one it asked for,
    /// numbered if someone else holds it or an account owns it. A visible member is then put
    /// in its last room (or `#lobby`), shown the MOTD, the room's history and any private
    /// messages left for it, and announced. A visible session of the same account already
    /// holding the name is replaced; anyone else holding it is moved aside.
    pub fn join(&mut self, request: JoinRequest, outbox: O, now: DateTime<Utc>) -> MemberId {
        let id = MemberId::new(self.next_id);
        self.next_id += 1;
        let fingerprint = request.fingerprint.clone();
        let account = request.account.clone();
        if let Some(account) = &account {
            // The directory is the authority on an account's name and rights.
            self.claims.claim(&account.id, &account.name);
            if account.operator {
                self.operators.insert(account.id.clone());
            }
        }
        let owner = account.as_ref().map(|a| a.id.clone());
        let wanted = account
            .as_ref()
            .map(|a| a.name.clone())
            .or_else(|| name::clean_name(&request.name))
            .unwrap_or_else(|| name::DEFAULT_NAME.to_owned());
        // Only a visible session replaces a ghost: a one-shot `exec` of the same account must
        // not throw out the member's interactive session.
        if let Some(owner) = owner.as_deref().filter(|_| request.visible) {
            self.replace_ghost(&wanted, owner, now);
            self.move_aside(&wanted, owner, now);
        }
        let reserved = request
            .reserved
            .clone()
            .filter(|n| !self.by_name.contains_key(&name::fold(n)));
        let why_renamed = match &reserved {
            Some(n) if *n == wanted => None,
            Some(_) => Some(self.why_taken(&wanted, owner.as_deref())),
            None => (!self.name_is_free(&wanted, owner.as_deref(), None))
                .then(|| self.why_taken(&wanted, owner.as_deref())),
        };
        let name = reserved.unwrap_or_else(|| self.free_name(&wanted, owner.as_deref(), None));
        self.by_name.insert(name::fold(&name), id);
        let profile = request.profile.unwrap_or_default();
        let mut member = Member::new(
            name.clone(),
            fingerprint.clone(),
            name::fold(LOBBY),
            outbox,
            request.visible,
            TokenBucket::new(
                f64::from(self.config.line_burst),
                self.config.lines_per_second,
            ),
            now,
        );
        member.prefs = profile.settings.prefs;
        member.ip = request.ip;
        member.bot = request.bot;
        member.account = owner.clone();
        member.op = self.is_operator(fingerprint.as_deref(), owner.as_deref());
        member.ignoring = profile
            .settings
            .ignoring
            .iter()
            .map(|i| Ignored {
                id: None,
                account: Some(i.account.clone()),
                name: i.name.clone(),
            })
            .collect();
        if let Some(account) = owner {
            self.by_account.entry(account).or_default().insert(id);
        }
        self.members.insert(id, member);
        if !request.visible {
            return id;
        }
        if let Some(motd) = self.config.motd.clone() {
            self.notify(id, now, NoticeLevel::Info, motd);
        }
        let mut welcome = format!("Welcome, {name}! Type /help for the commands.");
        if let Some(why) = why_renamed {
            welcome = format!("{why}, so you are {name}. {welcome}");
        }
        self.notify(id, now, NoticeLevel::Info, welcome);
        let room = profile
            .settings
            .last_room
            .as_deref()
            .and_then(name::clean_room)
            .unwrap_or_else(|| LOBBY.to_owned());
        let key = name::fold(&room);
        self.rooms
            .entry(key.clone())
            .or_insert_with(|| Room::new(room));
        self.enter_room(id, key, now);
        self.deliver_offline(id, profile.offline);
        self.publish_state(id, cluster::Change::Joined);
        id
    }

    /// Removes a member and tells its room it left. Unknown ids are ignored, so calling this
    /// twice is harmless.
    pub fn leave(&mut self, id: MemberId, now: DateTime<Utc>) {
        let Some(member) = self.members.get(&id) else {
            return;
        };
        let (name, room, visible) = (member.name.clone(), member.room.clone(), member.visible);
        let after = now - member.connected_at;
        if self.by_name.get(&name::fold(&name)) == Some(&id) {
            self.by_name.remove(&name::fold(&name));
        }
        if visible {
            self.exit_room(id, &room);
            if self.is_clustered() {
                self.publish(cluster::BusEvent::Gone {
                    member: id.get(),
                    name: name.clone(),
                    room: self.room_name(&room),
                    how: cluster::Departure::Left,
                });
            }
            self.announce_leave(&room, Some(id), name, after, now);
            self.drop_room_if_idle(&room);
        }
        if let Some(account) = self.members.remove(&id).and_then(|m| m.account) {
            self.forget_account_member(&account, id);
        }
    }

    /// Carries out one submitted line.
    pub fn submit(&mut self, id: MemberId, line: &str, now: DateTime<Utc>) -> Outcome {
        commands::submit(self, id, line, now)
    }

    /// Tells a member how many events it missed, if any; the edge calls this when the
    /// member's outbox has drained after refusing events, so the count is not held back until
    /// the next message arrives.
    pub fn flush_missed(&mut self, id: MemberId, now: DateTime<Utc>) {
        if let Some(member) = self.members.get_mut(&id) {
            member.flush_missed(now);
        }
    }

    /// Names, `@names` or `#rooms` that start with `word` (any case), for Tab completion.
    pub fn complete(&self, id: MemberId, word: &str) -> Vec<String> {
        let (sigil, prefix) = match word.chars().next() {
            Some(c @ ('@' | '#')) => (Some(c), &word[1..]),
            _ => (None, word),
        };
        let prefix = name::fold(prefix);
        if sigil == Some('#') {
            return self
                .rooms
                .iter()
                .filter(|(key, room)| {
                    key[1..].starts_with(&prefix)
                        && (!room.members.is_empty()
                            || !room.remote.is_empty()
                            || *key == &name::fold(LOBBY))
                })
                .map(|(_, room)| room.name.clone())
                .collect();
        }
        let remote = self.remote.values().map(|r| &r.state.name);
        self.members
            .iter()
            .filter(|(other, m)| **other != id && m.visible)
            .map(|(_, m)| &m.name)
            .chain(remote)
            .filter(|n| name::fold(n).starts_with(&prefix))
            .map(|n| match sigil {
                Some(s) => format!("{s}{n}"),
                None => n.clone(),
            })
            .collect()
    }

    /// Replaces a member's preferences (chosen by the edge for the member's terminal). The
    /// member's session learns them with its next [`Outcome`], or at once through [`Hub::me`].
    pub fn set_prefs(&mut self, id: MemberId, prefs: Prefs) {
        if let Some(member) = self.members.get_mut(&id) {
            member.prefs = prefs;
        }
    }

    /// What the member's session needs to know about it.
    pub fn me(&self, id: MemberId) -> Option<Me> {
        let member = self.members.get(&id)?;
        Some(Me {
            name: member.name.clone(),
            room: self.room_name(&member.room),
            prefs: member.prefs,
        })
    }

    /// Remembers the settings (preferences, ignore list, room) of a member with an account.
    fn save_settings(&mut self, id: MemberId) {
        let Some(member) = self.members.get(&id) else {
            return;
        };
        let Some(owner) = member.account.clone() else {
            return;
        };
        let settings = crate::journal::Settings {
            prefs: member.prefs,
            ignoring: member
                .ignoring
                .iter()
                .filter_map(|i| {
                    Some(crate::journal::IgnoredAccount {
                        account: i.account.clone()?,
                        name: i.name.clone(),
                    })
                })
                .collect(),
            last_room: Some(self.room_name(&member.room)),
        };
        self.remember(Record::Profile { owner, settings });
    }

    /// Shows a joining member the private messages left for it, and forgets them.
    fn deliver_offline(&mut self, id: MemberId, messages: Vec<crate::journal::OfflineMessage>) {
        let Some(owner) = self.members.get(&id).and_then(|m| m.account.clone()) else {
            return;
        };
        if messages.is_empty() {
            return;
        }
        let count = messages.len();
        for message in messages {
            let kind = EventKind::PrivateFrom {
                from: message.from,
                text: message.text,
            };
            self.deliver_to(id, Arc::new(Event::new(message.at, kind)));
        }
        if let Some(waiting) = self.offline_counts.get_mut(&owner) {
            *waiting = waiting.saturating_sub(count);
        }
        self.remember(Record::OfflineDelivered { owner, count });
    }
}

impl StoredLine {
    /// The event this line was.
    pub fn to_event(&self) -> Event {
        let (room, from, text) = (self.room.clone(), self.from.clone(), self.text.clone());
        let kind = if self.emote {
            EventKind::Emote { room, from, text }
        } else {
            EventKind::Said { room, from, text }
        };
        Event::new(self.at, kind)
    }

    /// The line an event was, if it is a said line or an emote.
    pub fn from_event(event: &Event) -> Option<StoredLine> {
        let (room, from, text, emote) = match &event.kind {
            EventKind::Said { room, from, text } => (room, from, text, false),
            EventKind::Emote { room, from, text } => (room, from, text, true),
            _ => return None,
        };
        Some(StoredLine {
            room: room.clone(),
            from: from.clone(),
            text: text.clone(),
            at: event.at,
            emote,
        })
    }
}
