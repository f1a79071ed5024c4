//! The hub: members, their names, rooms and recent history, and the routing of events.
//!
//! The hub is plain data behind `&mut self`. Every input is a method call with the current time
//! passed in; every output is an [`Event`] pushed into the [`Outbox`] of each member who should
//! see it. The hub never waits on a member: an outbox that refuses an event (because it is
//! full) loses that event for that member alone, and the member is told how many it missed
//! the next time an event gets through (or when the edge calls [`Hub::flush_missed`]).

mod commands;
mod members;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::event::{Event, EventKind, NoticeLevel};
use crate::name::{self, LOBBY};
use crate::prefs::Prefs;
pub use members::MemberId;
use members::{Ignored, Member};

/// Where the hub puts the events meant for one member. The edge supplies it: a bounded channel
/// to the connection's task in a server, a `Vec` in a test.
pub trait Outbox {
    /// Queues `event` for the member without waiting. Returns `false` if it could not be
    /// queued (the outbox is full or closed); the hub then counts the event as missed.
    fn offer(&self, event: Arc<Event>) -> bool;
}

/// Settings of a hub, fixed when it is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubConfig {
    /// How many said lines and emotes each room keeps and replays to whoever enters it.
    pub history_len: usize,
    /// The longest message, in characters.
    pub max_message_chars: usize,
    /// Shown to each member on joining and by `/motd`.
    pub motd: Option<String>,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            history_len: 50,
            max_message_chars: 1000,
            motd: None,
        }
    }
}

/// Who wants to join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinRequest {
    /// The name asked for (an SSH username, say); it is cleaned and, if taken, numbered.
    pub name: String,
    /// The SHA256 fingerprint of the member's key, if they proved one.
    pub fingerprint: Option<String>,
    /// A visible member is in a room, listed and announced. An invisible one (a one-shot
    /// `exec` command) can run commands and send private messages, but nobody sees it come
    /// and go and it receives no broadcasts.
    pub visible: bool,
}

impl JoinRequest {
    /// A visible member asking for `name`, without a key.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            fingerprint: None,
            visible: true,
        }
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
}

/// A room: who is in it and what was said lately.
#[derive(Debug)]
struct Room {
    /// Its display name, with `#`.
    name: String,
    members: Vec<MemberId>,
    history: VecDeque<Arc<Event>>,
}

impl Room {
    fn new(name: String) -> Self {
        Self {
            name,
            members: Vec::new(),
            history: VecDeque::new(),
        }
    }
}

/// The chat: everyone in it, their rooms, and what they said.
#[derive(Debug)]
pub struct Hub<O> {
    config: HubConfig,
    members: HashMap<MemberId, Member<O>>,
    /// Folded name → member, so names are unique regardless of case.
    by_name: HashMap<String, MemberId>,
    /// Folded room name → room. `#lobby` always exists; other rooms go when they empty.
    rooms: BTreeMap<String, Room>,
    next_id: u64,
    stats: HubStats,
}

/// What a member's session calls into: the hub itself, or at a concurrent edge a wrapper that
/// locks the shared hub for each call.
pub trait Chat {
    /// Carries out one line the member submitted: a command, or text to say.
    fn submit(&mut self, id: MemberId, line: &str, now: DateTime<Utc>) -> Outcome;
    /// Candidates to complete `word` (a name, an `@name` or a `#room`) with.
    fn complete(&mut self, id: MemberId, word: &str) -> Vec<String>;
}

impl<O: Outbox> Chat for Hub<O> {
    fn submit(&mut self, id: MemberId, line: &str, now: DateTime<Utc>) -> Outcome {
        Hub::submit(self, id, line, now)
    }

    fn complete(&mut self, id: MemberId, word: &str) -> Vec<String> {
        Hub::complete(self, id, word)
    }
}

impl<O: Outbox> Hub<O> {
    pub fn new(config: HubConfig) -> Self {
        let mut rooms = BTreeMap::new();
        rooms.insert(name::fold(LOBBY), Room::new(LOBBY.to_owned()));
        Self {
            config,
            members: HashMap::new(),
            by_name: HashMap::new(),
            rooms,
            next_id: 1,
            stats: HubStats::default(),
        }
    }

    pub fn config(&self) -> &HubConfig {
        &self.config
    }

    pub fn stats(&self) -> HubStats {
        self.stats
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

    /// The member's current room, if they are connected.
    pub fn room_of(&self, id: MemberId) -> Option<&str> {
        let member = self.members.get(&id)?;
        self.rooms.get(&member.room).map(|r| r.name.as_str())
    }

    /// The member with this name (any case), if connected.
    pub fn find(&self, name: &str) -> Option<MemberId> {
        self.by_name.get(&name::fold(name)).copied()
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
            .collect();
        names.sort_by_key(|n| name::fold(n));
        names
    }

    /// Adds a member, gives it a unique name, and (if visible) puts it in `#lobby`, shows it
    /// the MOTD and the lobby's history, and announces it.
    pub fn join(&mut self, request: JoinRequest, outbox: O, now: DateTime<Utc>) -> MemberId {
        let id = MemberId::new(self.next_id);
        self.next_id += 1;
        let asked = name::clean_name(&request.name);
        let name = self.unique_name(asked.as_deref().unwrap_or(name::DEFAULT_NAME), None);
        self.by_name.insert(name::fold(&name), id);
        let lobby = name::fold(LOBBY);
        let member = Member::new(
            name.clone(),
            request.fingerprint,
            lobby.clone(),
            outbox,
            request.visible,
            now,
        );
        self.members.insert(id, member);
        if !request.visible {
            return id;
        }
        if let Some(motd) = self.config.motd.clone() {
            self.notify(id, now, NoticeLevel::Info, motd);
        }
        let mut welcome = format!("Welcome, {name}! Type /help for the commands.");
        if let Some(asked) = asked.filter(|a| *a != name) {
            welcome = format!("{asked} is taken, so you are {name}. {welcome}");
        }
        self.notify(id, now, NoticeLevel::Info, welcome);
        self.enter_room(id, lobby, now);
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
        self.by_name.remove(&name::fold(&name));
        if visible {
            self.exit_room(id, &room);
            let kind = EventKind::Left {
                room: self.room_name(&room),
                name,
                after,
            };
            self.broadcast(&room, Some(id), Arc::new(Event::new(now, kind)));
            self.drop_room_if_empty(&room);
        }
        self.members.remove(&id);
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
                .filter(|(key, _)| key[1..].starts_with(&prefix))
                .map(|(_, room)| room.name.clone())
                .collect();
        }
        self.members
            .iter()
            .filter(|(other, m)| {
                **other != id && m.visible && name::fold(&m.name).starts_with(&prefix)
            })
            .map(|(_, m)| match sigil {
                Some(s) => format!("{s}{}", m.name),
                None => m.name.clone(),
            })
            .collect()
    }

    /// Replaces a member's preferences (restored from a store, or chosen by the edge for the
    /// member's terminal). The member's session learns them with its next [`Outcome`], or at
    /// once if the edge reads [`Hub::me`].
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

    /// `base`, or its first numbered variant that is free (a name held by `except` counts as
    /// free, so a member can change the case of its own name).
    fn unique_name(&self, base: &str, except: Option<MemberId>) -> String {
        let free = |n: &str| match self.by_name.get(&name::fold(n)) {
            None => true,
            Some(holder) => Some(*holder) == except,
        };
        if free(base) {
            return base.to_owned();
        }
        name::numbered_variants(base)
            .find(|n| free(n))
            .expect("the numbered variants of a name are endless, and members are finite")
    }

    fn room_name(&self, key: &str) -> String {
        self.rooms
            .get(key)
            .map_or_else(|| LOBBY.to_owned(), |r| r.name.clone())
    }

    /// Puts a visible member in a room (creating it), replays the room's history to it and
    /// announces it there.
    fn enter_room(&mut self, id: MemberId, key: String, now: DateTime<Utc>) {
        let room = self
            .rooms
            .get_mut(&key)
            .expect("the caller creates the room before entering it");
        room.members.push(id);
        let count = room.members.len();
        let room_name = room.name.clone();
        let history: Vec<Arc<Event>> = room.history.iter().cloned().collect();
        let Some(member) = self.members.get_mut(&id) else {
            return;
        };
        member.room = key.clone();
        for event in history {
            if !member.ignores_name_in(&event) {
                member.deliver(event, &mut self.stats);
            }
        }
        let name = member.name.clone();
        let kind = EventKind::Joined {
            room: room_name,
            name,
            count,
        };
        self.broadcast(&key, None, Arc::new(Event::new(now, kind)));
    }

    fn exit_room(&mut self, id: MemberId, key: &str) {
        if let Some(room) = self.rooms.get_mut(key)
            && let Some(pos) = room.members.iter().position(|m| *m == id)
        {
            room.members.swap_remove(pos);
        }
    }

    fn drop_room_if_empty(&mut self, key: &str) {
        if key != name::fold(LOBBY) && self.rooms.get(key).is_some_and(|r| r.members.is_empty()) {
            self.rooms.remove(key);
        }
    }

    /// Sends an event to every member of a room who wants it: not to those ignoring its
    /// sender (`from`), and not presence events to those who asked for quiet.
    fn broadcast(&mut self, key: &str, from: Option<MemberId>, event: Arc<Event>) {
        let Some(room) = self.rooms.get(key) else {
            return;
        };
        let sender_key = from
            .and_then(|id| self.members.get(&id))
            .map(|m| m.fingerprint.clone());
        let presence = event.is_presence();
        for id in &room.members {
            let Some(member) = self.members.get_mut(id) else {
                continue;
            };
            if presence && member.prefs.quiet {
                continue;
            }
            if let (Some(from), Some(fingerprint)) = (from, &sender_key)
                && member.ignores(from, fingerprint.as_deref())
            {
                continue;
            }
            member.deliver(Arc::clone(&event), &mut self.stats);
        }
    }

    /// A said line or emote: into the room's history and out to its members.
    fn say(&mut self, from: MemberId, event: Event) {
        let Some(key) = self.members.get(&from).map(|m| m.room.clone()) else {
            return;
        };
        self.stats.said += 1;
        let event = Arc::new(event);
        if let Some(room) = self.rooms.get_mut(&key)
            && self.config.history_len > 0
        {
            if room.history.len() >= self.config.history_len {
                room.history.pop_front();
            }
            room.history.push_back(Arc::clone(&event));
        }
        self.broadcast(&key, Some(from), event);
    }

    /// A notice to one member.
    fn notify(
        &mut self,
        id: MemberId,
        now: DateTime<Utc>,
        level: NoticeLevel,
        text: impl Into<String>,
    ) {
        self.deliver_to(id, Arc::new(Event::notice(now, level, text)));
    }

    /// An event for one member.
    fn deliver_to(&mut self, id: MemberId, event: Arc<Event>) {
        if let Some(member) = self.members.get_mut(&id) {
            member.deliver(event, &mut self.stats);
        }
    }
}
