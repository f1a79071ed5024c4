//! [`RedisStore`]: what the chat remembers (history, settings, offline messages, bans, the
//! audit trail), kept in Redis so that every node of a cluster shares it. It passes the same
//! conformance suite as the SQLite store.
//!
//! Keys (under the prefix, `chat:` by default):
//! - `history:{room}`: a stream per room (folded name), one entry per line, trimmed to the
//!   retention. The cluster bus writes the same stream when a line takes its place in the
//!   room's order, in the same script, so history is the room's order.
//! - `rooms`: a sorted set of rooms by their last line, for the start-up snapshot.
//! - `settings`: a hash, account id → settings (JSON).
//! - `offline:{account}`: a list of waiting private messages; `offline-owners` the accounts
//!   that have some.
//! - `bans`: a hash, target → ban (JSON).
//! - `audit`: a stream of operator actions.
//!
//! Calls block on the network (the edge makes them off its async runtime); each is bounded by
//! a timeout, and a broken connection is made again on the next call.

use std::time::Duration;

use chat_core::journal::{Profile, Record, Snapshot, StoredLine};
use chat_core::name;
use chat_store::{Retention, Store, StoreError};
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use redis::{Connection, Value};

use crate::codec;

/// How long one call to Redis may take.
const TIMEOUT: Duration = Duration::from_secs(3);

/// The keys of one chat in Redis.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    pub fn history(&self, room: &str) -> String {
        format!("{}history:{}", self.prefix, name::fold(room))
    }
    pub fn rooms(&self) -> String {
        format!("{}rooms", self.prefix)
    }
    pub fn settings(&self) -> String {
        format!("{}settings", self.prefix)
    }
    pub fn offline(&self, owner: &str) -> String {
        format!("{}offline:{owner}", self.prefix)
    }
    pub fn offline_owners(&self) -> String {
        format!("{}offline-owners", self.prefix)
    }
    pub fn bans(&self) -> String {
        format!("{}bans", self.prefix)
    }
    pub fn audit(&self) -> String {
        format!("{}audit", self.prefix)
    }
    /// The cluster's log: one stream every node reads.
    pub fn log(&self) -> String {
        format!("{}log", self.prefix)
    }
    pub fn dedup(&self, uid: &str) -> String {
        format!("{}seen:{uid}", self.prefix)
    }
    pub fn name(&self, folded: &str) -> String {
        format!("{}name:{folded}", self.prefix)
    }
    pub fn nodes(&self) -> String {
        format!("{}nodes", self.prefix)
    }
    pub fn alive(&self, node: &str) -> String {
        let (before, after) = self.alive_parts();
        format!("{before}{node}{after}")
    }
    /// What comes before and after the node's name in its liveness key, for the scripts that
    /// look a name's holder up.
    pub fn alive_parts(&self) -> (String, &'static str) {
        (format!("{}node:", self.prefix), ":alive")
    }
    pub fn members(&self, node: &str) -> String {
        format!("{}node:{node}:members", self.prefix)
    }
}

/// The fields of a history entry.
pub(crate) fn line_fields(line: &StoredLine) -> [(&'static str, String); 5] {
    [
        ("r", line.room.clone()),
        ("f", line.from.clone()),
        ("t", line.text.clone()),
        ("a", codec::millis(line.at).to_string()),
        ("e", if line.emote { "1" } else { "0" }.to_owned()),
    ]
}

fn line_from_fields(fields: &[(String, String)]) -> Option<StoredLine> {
    let get = |k: &str| fields.iter().find(|(f, _)| f == k).map(|(_, v)| v.clone());
    Some(StoredLine {
        room: get("r")?,
        from: get("f")?,
        text: get("t")?,
        at: codec::from_millis(get("a")?.parse().ok()?)?,
        emote: get("e")? == "1",
    })
}

/// Stream entries (`XRANGE`, `XREVRANGE`) as id and field pairs.
pub(crate) fn entries(value: Value) -> Vec<(String, Vec<(String, String)>)> {
    let Value::Array(items) = value else {
        return Vec::new();
    };
    items
        .into_iter()
        .filter_map(|item| {
            let Value::Array(mut parts) = item else {
                return None;
            };
            if parts.len() != 2 {
                return None;
            }
            let fields = parts.pop()?;
            let id: String = redis::from_redis_value(parts.pop()?).ok()?;
            let flat: Vec<String> = redis::from_redis_value(fields).ok()?;
            let pairs = flat
                .chunks(2)
                .filter(|c| c.len() == 2)
                .map(|c| (c[0].clone(), c[1].clone()))
                .collect();
            Some((id, pairs))
        })
        .collect()
}

/// The chat's durable state in Redis. Cheap to share behind an `Arc`.
pub struct RedisStore {
    client: redis::Client,
    keys: Keys,
    url: String,
    connection: Mutex<Option<Connection>>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A store in the Redis at `url` (`redis://HOST:PORT[/DB]`), its keys under `prefix`.
    /// Checks that Redis answers.
    pub fn open(url: &str, prefix: &str) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(|e| remote(url, &e))?;
        let store = Self {
            client,
            keys: Keys::new(prefix),
            url: url.to_owned(),
            connection: Mutex::new(None),
        };
        store.call(|c| redis::cmd("PING").query::<String>(c))?;
        Ok(store)
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// Runs `f` on the connection, making it first if there is none; a failed call drops it.
    fn call<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> redis::RedisResult<T>,
    ) -> Result<T, StoreError> {
        let mut slot = self.connection.lock();
        if slot.is_none() {
            let connection = self
                .client
                .get_connection_with_timeout(TIMEOUT)
                .map_err(|e| remote(&self.url, &e))?;
            connection
                .set_read_timeout(Some(TIMEOUT))
                .and_then(|()| connection.set_write_timeout(Some(TIMEOUT)))
                .map_err(|e| remote(&self.url, &e))?;
            *slot = Some(connection);
        }
        let connection = slot.as_mut().expect("made above");
        f(connection).map_err(|e| {
            *slot = None;
            remote(&self.url, &e)
        })
    }

    fn read_history(
        &self,
        c: &mut Connection,
        room: &str,
        limit: usize,
    ) -> redis::RedisResult<Vec<StoredLine>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let value: Value = redis::cmd("XREVRANGE")
            .arg(self.keys.history(room))
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(limit)
            .query(c)?;
        let mut lines: Vec<StoredLine> = entries(value)
            .iter()
            .filter_map(|(_, fields)| line_from_fields(fields))
            .collect();
        lines.reverse();
        Ok(lines)
    }

    fn room_keys(&self, c: &mut Connection) -> redis::RedisResult<Vec<String>> {
        redis::cmd("ZRANGE")
            .arg(self.keys.rooms())
            .arg(0)
            .arg(-1)
            .query(c)
    }
}

fn remote(url: &str, error: &redis::RedisError) -> StoreError {
    StoreError::Remote {
        store: url.to_owned(),
        reason: error.to_string(),
    }
}

/// Appends one line to its room's history (the pipeline's caller runs it).
fn add_line(pipe: &mut redis::Pipeline, keys: &Keys, line: &StoredLine) {
    let mut xadd = redis::cmd("XADD");
    xadd.arg(keys.history(&line.room)).arg("*");
    for (field, value) in line_fields(line) {
        xadd.arg(field).arg(value);
    }
    pipe.add_command(xadd).ignore();
    pipe.cmd("ZADD")
        .arg(keys.rooms())
        .arg(codec::millis(line.at))
        .arg(name::fold(&line.room))
        .ignore();
}

impl Store for RedisStore {
    fn snapshot(&self, lines_per_room: usize, rooms: usize) -> Result<Snapshot, StoreError> {
        self.call(|c| {
            let mut snapshot = Snapshot::default();
            if rooms > 0 {
                let recent: Vec<String> = redis::cmd("ZREVRANGE")
                    .arg(self.keys.rooms())
                    .arg(0)
                    .arg(rooms - 1)
                    .query(c)?;
                for room in recent {
                    snapshot
                        .history
                        .extend(self.read_history(c, &room, lines_per_room)?);
                }
            }
            let owners: Vec<String> = redis::cmd("SMEMBERS")
                .arg(self.keys.offline_owners())
                .query(c)?;
            for owner in owners {
                let count: usize = redis::cmd("LLEN").arg(self.keys.offline(&owner)).query(c)?;
                if count > 0 {
                    snapshot.offline_counts.push((owner, count));
                }
            }
            let bans: Vec<String> = redis::cmd("HVALS").arg(self.keys.bans()).query(c)?;
            let now = Utc::now();
            snapshot.bans = bans
                .iter()
                .filter_map(|b| codec::ban_from(&serde_json::from_str(b).ok()?))
                .filter(|b| b.is_active(now))
                .collect();
            Ok(snapshot)
        })
    }

    fn profile(&self, owner: &str) -> Result<Profile, StoreError> {
        self.call(|c| {
            let settings: Option<String> = redis::cmd("HGET")
                .arg(self.keys.settings())
                .arg(owner)
                .query(c)?;
            let offline: Vec<String> = redis::cmd("LRANGE")
                .arg(self.keys.offline(owner))
                .arg(0)
                .arg(-1)
                .query(c)?;
            Ok(Profile {
                settings: settings
                    .and_then(|s| codec::settings_from(&serde_json::from_str(&s).ok()?))
                    .unwrap_or_default(),
                offline: offline
                    .iter()
                    .filter_map(|m| codec::offline_from(&serde_json::from_str(m).ok()?))
                    .collect(),
            })
        })
    }

    fn apply(&self, records: &[Record]) -> Result<(), StoreError> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        for record in records {
            match record {
                Record::Line(line) => add_line(&mut pipe, &self.keys, line),
                Record::Profile { owner, settings } => {
                    pipe.cmd("HSET")
                        .arg(self.keys.settings())
                        .arg(owner)
                        .arg(codec::settings_json(settings).to_string())
                        .ignore();
                }
                Record::Offline(message) => {
                    pipe.cmd("RPUSH")
                        .arg(self.keys.offline(&message.to))
                        .arg(codec::offline_json(message).to_string())
                        .ignore();
                    pipe.cmd("SADD")
                        .arg(self.keys.offline_owners())
                        .arg(&message.to)
                        .ignore();
                }
                Record::OfflineDelivered { owner, count } => {
                    pipe.cmd("LTRIM")
                        .arg(self.keys.offline(owner))
                        .arg(*count)
                        .arg(-1)
                        .ignore();
                }
                Record::Ban(ban) => {
                    pipe.cmd("HSET")
                        .arg(self.keys.bans())
                        .arg(ban.target.to_string())
                        .arg(codec::ban_json(ban).to_string())
                        .ignore();
                }
                Record::Unban(target) => {
                    pipe.cmd("HDEL")
                        .arg(self.keys.bans())
                        .arg(target.to_string())
                        .ignore();
                }
                Record::Audit(entry) => {
                    pipe.cmd("XADD")
                        .arg(self.keys.audit())
                        .arg("MAXLEN")
                        .arg("~")
                        .arg(100_000)
                        .arg("*")
                        .arg("at")
                        .arg(codec::millis(entry.at))
                        .arg("by")
                        .arg(&entry.by)
                        .arg("fingerprint")
                        .arg(entry.by_fingerprint.as_deref().unwrap_or(""))
                        .arg("action")
                        .arg(&entry.action)
                        .ignore();
                }
                // Names and operators are the key directory's.
                Record::Claim { .. } | Record::Operator { .. } => {}
            }
        }
        self.call(|c| pipe.query::<()>(c))
    }

    fn history(&self, room: &str, limit: usize) -> Result<Vec<StoredLine>, StoreError> {
        self.call(|c| self.read_history(c, room, limit))
    }

    fn prune(&self, retention: Retention, now: DateTime<Utc>) -> Result<usize, StoreError> {
        self.call(|c| {
            let mut gone = 0;
            for room in self.room_keys(c)? {
                let key = self.keys.history(&room);
                let trimmed: usize = redis::cmd("XTRIM")
                    .arg(&key)
                    .arg("MAXLEN")
                    .arg(retention.lines_per_room)
                    .query(c)?;
                gone += trimmed;
                if let Some(age) = retention.max_age {
                    let age = chrono::TimeDelta::from_std(age).unwrap_or(chrono::TimeDelta::MAX);
                    let oldest = codec::millis(now.checked_sub_signed(age).unwrap_or(now));
                    // Entry ids are their time of writing, not of saying: check each line's own.
                    let value: Value = redis::cmd("XRANGE").arg(&key).arg("-").arg("+").query(c)?;
                    let old: Vec<String> = entries(value)
                        .into_iter()
                        .filter(|(_, fields)| {
                            line_from_fields(fields).is_some_and(|l| codec::millis(l.at) < oldest)
                        })
                        .map(|(id, _)| id)
                        .collect();
                    if !old.is_empty() {
                        let deleted: usize = redis::cmd("XDEL").arg(&key).arg(&old).query(c)?;
                        gone += deleted;
                    }
                }
            }
            Ok(gone)
        })
    }

    fn line_count(&self) -> Result<usize, StoreError> {
        self.call(|c| {
            let mut count = 0;
            for room in self.room_keys(c)? {
                let len: usize = redis::cmd("XLEN").arg(self.keys.history(&room)).query(c)?;
                count += len;
            }
            Ok(count)
        })
    }
}
