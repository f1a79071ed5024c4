//! Rooms and the routing of events into members' outboxes.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{Hub, MemberId, Outbox};
use crate::event::{Event, EventKind, NoticeLevel};
use crate::journal::{Journal, Record, StoredLine};
use crate::name::{self, LOBBY};

impl<O: Outbox, J: Journal> Hub<O, J> {
    pub(super) fn room_name(&self, key: &str) -> String {
        self.rooms
            .get(key)
            .map_or_else(|| LOBBY.to_owned(), |r| r.name.clone())
    }

    /// Puts a visible member in a room (creating it), replays the room's history to it and
    /// announces it there.
    pub(super) fn enter_room(&mut self, id: MemberId, key: String, now: DateTime<Utc>) {
        // The caller creates the room; should it be missing, make it rather than lose the member.
        let room = self
            .rooms
            .entry(key.clone())
            .or_insert_with(|| super::Room::new(key.clone()));
        room.members.push(id);
        let history: Vec<Arc<Event>> = room.history.iter().cloned().collect();
        let room_name = room.name.clone();
        let Some(member) = self.members.get_mut(&id) else {
            return;
        };
        member.room = key.clone();
        let lines: Vec<Arc<Event>> = history
            .into_iter()
            .filter(|event| !member.ignores_name_in(event))
            .collect();
        if !lines.is_empty() {
            // One event for the lot: a crowd's history does not fill a newcomer's outbox.
            let kind = EventKind::History {
                room: room_name,
                lines,
            };
            member.deliver(Arc::new(Event::new(now, kind)), &mut self.stats);
        }
        let name = member.name.clone();
        self.announce_join(&key, name, now);
    }

    pub(super) fn exit_room(&mut self, id: MemberId, key: &str) {
        if let Some(room) = self.rooms.get_mut(key)
            && let Some(pos) = room.members.iter().position(|m| *m == id)
        {
            room.members.swap_remove(pos);
        }
    }

    /// A room nobody is in goes, unless it has history to show the next visitor; then it
    /// stays, within `max_idle_rooms` (past that, the idle room with the oldest last line goes).
    pub(super) fn drop_room_if_idle(&mut self, key: &str) {
        let lobby = name::fold(LOBBY);
        let Some(room) = self.rooms.get(key) else {
            return;
        };
        if key == lobby || !room.members.is_empty() || !room.remote.is_empty() {
            return;
        }
        if room.history.is_empty() {
            self.rooms.remove(key);
            return;
        }
        let idle: Vec<(&String, Option<DateTime<Utc>>)> = self
            .rooms
            .iter()
            .filter(|(k, r)| {
                **k != lobby && r.members.is_empty() && r.remote.is_empty() && !r.history.is_empty()
            })
            .map(|(k, r)| (k, r.history.back().map(|e| e.at)))
            .collect();
        if idle.len() > self.config.max_idle_rooms
            && let Some((oldest, _)) = idle.into_iter().min_by_key(|(_, at)| *at)
        {
            let oldest = oldest.clone();
            self.rooms.remove(&oldest);
        }
    }

    pub(super) fn broadcast(&mut self, key: &str, from: Option<MemberId>, event: Arc<Event>) {
        let Some(room) = self.rooms.get(key) else {
            return;
        };
        let sender_key = from
            .and_then(|id| self.members.get(&id))
            .map(|m| m.account.clone());
        let presence = event.is_presence();
        for id in &room.members {
            let Some(member) = self.members.get_mut(id) else {
                continue;
            };
            if presence && member.prefs.quiet {
                continue;
            }
            if let (Some(from), Some(account)) = (from, &sender_key)
                && member.ignores(from, account.as_deref())
            {
                continue;
            }
            member.deliver(Arc::clone(&event), &mut self.stats);
        }
    }

    /// A said line or emote: into the room's history, to the journal, and out to the room.
    pub(super) fn say(&mut self, from: MemberId, event: Event) {
        let Some(key) = self.members.get(&from).map(|m| m.room.clone()) else {
            return;
        };
        self.stats.said += 1;
        if self.is_clustered() {
            // The bus gives the line its place in the room's order and hands it back to
            // every node, this one included (`line_arrived`), which stores and delivers it.
            if let Some(line) = StoredLine::from_event(&event) {
                let account = self.members.get(&from).and_then(|m| m.account.clone());
                self.publish(super::cluster::BusEvent::Line {
                    sender: from,
                    line,
                    account,
                });
            }
            return;
        }
        if let Some(line) = StoredLine::from_event(&event) {
            // Recorded before it is broadcast, so an edge can hold deliveries until the line is
            // stored and nothing anyone has seen is lost in a crash.
            self.remember(Record::Line(line));
        }
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

    pub(super) fn notify(
        &mut self,
        id: MemberId,
        now: DateTime<Utc>,
        level: NoticeLevel,
        text: impl Into<String>,
    ) {
        self.deliver_to(id, Arc::new(Event::notice(now, level, text)));
    }

    /// The answer to a question command, for the member who asked.
    pub(super) fn answer(&mut self, id: MemberId, now: DateTime<Utc>, reply: crate::reply::Reply) {
        self.deliver_to(id, Arc::new(Event::new(now, EventKind::Reply(reply))));
    }

    /// An event for one member.
    pub(super) fn deliver_to(&mut self, id: MemberId, event: Arc<Event>) {
        if let Some(member) = self.members.get_mut(&id) {
            member.deliver(event, &mut self.stats);
        }
    }
}
