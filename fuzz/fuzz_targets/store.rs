//! The SQLite store reading back whatever its tables hold: rows of any values (NULLs, numbers
//! where text belongs, blobs, text that is not UTF-8, times out of range), as a damaged,
//! hand-edited or older database could hold them.
//!
//! Invariants: no panic; opening the database works (its schema is intact); every read
//! (snapshot, profile, history, count, prune) gives a value or an error that names the file;
//! and whatever is read is safe to use: a hub restored from the snapshot, joined by keys with
//! the profiles read, shows members history, offline messages and answers with no control
//! byte, escape or bidi control but the renderer's own.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use chat_core::outbox::Mailbox;
use chat_core::{AccountRef, Hub, HubConfig, JoinRequest, Session, SessionKind, TermSize};
use chat_fuzz::{Allowed, check_terminal_bytes};
use chat_store::{Retention, SqliteStore, Store, StoreError};
use chrono::{DateTime, Utc};
use libfuzzer_sys::fuzz_target;
use rusqlite::types::Value as Sql;

#[derive(Debug, Arbitrary)]
enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
    /// Bytes stored as TEXT, UTF-8 or not.
    RawText(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
enum Row {
    Line([Value; 6]),
    Account([Value; 5]),
    Profile([Value; 6]),
    Ignore([Value; 3]),
    Offline([Value; 4]),
    Ban([Value; 6]),
    AccountKey([Value; 7]),
    Audit([Value; 4]),
}

#[derive(Debug, Arbitrary)]
struct Input {
    rows: Vec<Row>,
    lines_per_room: u8,
    rooms: u8,
    keep_lines: u8,
    keep_secs: Option<u32>,
}

impl Row {
    fn insert(&self) -> (&'static str, &'static [&'static str], Vec<&Value>) {
        match self {
            Row::Line(v) => (
                "lines",
                &["room", "room_display", "sender", "body", "at_ms", "emote"],
                v.iter().collect(),
            ),
            Row::Account(v) => (
                "accounts",
                &["id", "name", "name_folded", "operator", "created_ms"],
                v.iter().collect(),
            ),
            Row::Profile(v) => (
                "profiles",
                &[
                    "owner",
                    "theme",
                    "timestamp",
                    "offset_minutes",
                    "quiet",
                    "last_room",
                ],
                v.iter().collect(),
            ),
            Row::Ignore(v) => (
                "ignores",
                &["owner", "ignored_account", "name"],
                v.iter().collect(),
            ),
            Row::Offline(v) => (
                "offline",
                &["to_account", "sender", "body", "at_ms"],
                v.iter().collect(),
            ),
            Row::Ban(v) => (
                "bans",
                &["target", "name", "until_ms", "reason", "banned_by", "at_ms"],
                v.iter().collect(),
            ),
            Row::AccountKey(v) => (
                "account_keys",
                &[
                    "fingerprint",
                    "account_id",
                    "algorithm",
                    "public_key",
                    "label",
                    "added_ms",
                    "last_used_ms",
                ],
                v.iter().collect(),
            ),
            Row::Audit(v) => (
                "audit",
                &["at_ms", "by_name", "by_fingerprint", "action"],
                v.iter().collect(),
            ),
        }
    }

    /// The text that would name a key or a room in this row, to look up afterwards.
    fn lookups(&self) -> (Option<String>, Option<String>) {
        let text = |v: &Value| match v {
            Value::Text(t) => Some(t.clone()),
            Value::RawText(b) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        };
        match self {
            Row::Line(v) => (None, text(&v[1]).or_else(|| text(&v[0]))),
            Row::Profile(v) => (text(&v[0]), None),
            Row::Ignore(v) => (text(&v[0]), None),
            Row::Offline(v) => (text(&v[0]), None),
            _ => (None, None),
        }
    }
}

/// An empty database with the current schema, made once.
fn template() -> &'static [u8] {
    static TEMPLATE: OnceLock<Vec<u8>> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let path = scratch().join("template.db");
        remove(&path);
        drop(SqliteStore::open(&path).expect("a new database opens"));
        let bytes = std::fs::read(&path).expect("the new database can be read");
        remove(&path);
        bytes
    })
}

/// A directory of this process's own, in memory where the system has one.
fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let shm = Path::new("/dev/shm");
        let base = if shm.is_dir() {
            shm.to_owned()
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("chat-fuzz-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("the scratch directory can be made");
        dir
    })
}

fn remove(db: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut file = db.as_os_str().to_owned();
        file.push(suffix);
        let _ = std::fs::remove_file(file);
    }
}

fn check_error(error: &StoreError, path: &Path) {
    let message = error.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
}

fuzz_target!(|input: Input| {
    let path = scratch().join("chat.db");
    remove(&path);
    std::fs::write(&path, template()).expect("the scratch database can be written");
    {
        let raw = rusqlite::Connection::open(&path).expect("the scratch database opens");
        raw.pragma_update(None, "synchronous", "OFF").unwrap();
        for row in &input.rows {
            let (table, columns, values) = row.insert();
            let params: Vec<String> = values
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::RawText(_) => format!("CAST(?{} AS TEXT)", i + 1),
                    _ => format!("?{}", i + 1),
                })
                .collect();
            let sql = format!(
                "INSERT INTO {table} ({}) VALUES ({})",
                columns.join(", "),
                params.join(", ")
            );
            let values = values.iter().map(|v| match v {
                Value::Null => Sql::Null,
                Value::Int(n) => Sql::Integer(*n),
                Value::Real(x) => Sql::Real(*x),
                Value::Text(t) => Sql::Text(t.clone()),
                Value::Blob(b) | Value::RawText(b) => Sql::Blob(b.clone()),
            });
            // A row the schema refuses (NULL where NOT NULL, a duplicate key) is not stored,
            // which is fine: only what the database holds can be read back.
            let _ = raw.execute(&sql, rusqlite::params_from_iter(values));
        }
    }

    let store = SqliteStore::open(&path).expect("a database with a sound schema opens");
    let now = DateTime::<Utc>::from_timestamp(1_780_000_000, 0).unwrap();
    let mut hub: Hub<Mailbox> = Hub::new(HubConfig::default());
    match store.snapshot(input.lines_per_room.into(), input.rooms.into()) {
        Ok(snapshot) => hub.restore(snapshot),
        Err(e) => check_error(&e, &path),
    }
    let watcher = Mailbox::new(1000);
    let watcher_id = hub.join(JoinRequest::named("watcher"), watcher.clone(), now);
    let mut watching = Session::new(
        watcher_id,
        hub.me(watcher_id).unwrap(),
        SessionKind::Interactive(TermSize::DEFAULT),
        1000,
    );
    let show = |session: &mut Session, mailbox: &Mailbox| {
        let mut out = Vec::new();
        session.show(&mailbox.take(), &mut out);
        check_terminal_bytes(&out, Allowed::TERMINAL).unwrap_or_else(|e| panic!("{e}"));
    };

    let (mut keys, mut rooms) = (vec!["SHA256:nobody".to_owned()], vec!["#lobby".to_owned()]);
    for row in input.rows.iter().take(16) {
        let (key, room) = row.lookups();
        keys.extend(key);
        rooms.extend(room);
    }
    for key in keys.iter().take(8) {
        match store.profile(key) {
            Ok(profile) => {
                let mailbox = Mailbox::new(1000);
                // What the store keeps belongs to an account: join as one, so its settings
                // and waiting messages are shown.
                let request = JoinRequest::named("reader")
                    .with_key("SHA256:reader")
                    .with_account(AccountRef {
                        id: key.clone(),
                        name: "reader".to_owned(),
                        operator: false,
                    })
                    .with_profile(profile);
                let id = hub.join(request, mailbox.clone(), now);
                let mut session = Session::new(
                    id,
                    hub.me(id).unwrap(),
                    SessionKind::Interactive(TermSize::DEFAULT),
                    1000,
                );
                show(&mut session, &mailbox);
                let mut out = Vec::new();
                session.feed(b"/who\r/history 50\r/rooms\r", now, &mut hub, &mut out);
                show(&mut session, &mailbox);
                hub.leave(id, now);
            }
            Err(e) => check_error(&e, &path),
        }
    }
    for room in rooms.iter().take(8) {
        match store.history(room, 50) {
            Ok(lines) => {
                let events: Vec<_> = lines.iter().map(|l| l.to_event()).collect();
                let mut out = Vec::new();
                watching.show_history(room, &events, now, &mut out);
                check_terminal_bytes(&out, Allowed::TERMINAL).unwrap_or_else(|e| panic!("{e}"));
            }
            Err(e) => check_error(&e, &path),
        }
    }
    show(&mut watching, &watcher);

    if let Err(e) = store.line_count() {
        check_error(&e, &path);
    }
    let retention = Retention {
        lines_per_room: input.keep_lines.into(),
        max_age: input
            .keep_secs
            .map(|s| std::time::Duration::from_secs(s.into())),
    };
    if let Err(e) = store.prune(retention, now) {
        check_error(&e, &path);
    }
});
