//! The embedded default: one SQLite file (`DATA_DIR/chat.db`), WAL mode, versioned schema.
//!
//! A store holds a lock on a file beside the database (`chat.db.lock`), so a second server
//! pointed at the same data directory gets a clear "locked by another process" instead of two
//! processes quietly sharing state; other processes (`chat-cli accounts`) still open the
//! database itself, which SQLite's WAL mode shares safely. `synchronous = NORMAL` in WAL mode
//! means a committed transaction survives the process being killed (it is in the WAL file);
//! only a power cut can lose the last moments.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chat_core::journal::{
    Ban, BanTarget, IgnoredAccount, OfflineMessage, Profile, Record, Settings, Snapshot, StoredLine,
};
use chat_core::name;
use chat_core::prefs::{Prefs, Theme, TimestampMode, UtcOffset};
use chrono::{DateTime, TimeZone, Utc};
use parking_lot::Mutex;
use rusqlite::{
    Connection, ErrorCode, OpenFlags, OptionalExtension, Transaction, TransactionBehavior, params,
};

use crate::{Retention, Store, StoreError};

/// Each entry moves the schema from version `index` to `index + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    "CREATE TABLE lines (
         id INTEGER PRIMARY KEY,
         room TEXT NOT NULL,          -- folded room name, for lookups
         room_display TEXT NOT NULL,
         sender TEXT NOT NULL,
         body TEXT NOT NULL,
         at_ms INTEGER NOT NULL,
         emote INTEGER NOT NULL
     );
     CREATE INDEX lines_by_room ON lines (room, id);
     CREATE TABLE claims (
         fingerprint TEXT PRIMARY KEY,
         name TEXT NOT NULL,
         name_folded TEXT NOT NULL UNIQUE
     );
     CREATE TABLE profiles (
         fingerprint TEXT PRIMARY KEY,
         theme TEXT NOT NULL,
         timestamp TEXT NOT NULL,
         offset_minutes INTEGER NOT NULL,
         quiet INTEGER NOT NULL,
         last_room TEXT
     );
     CREATE TABLE ignores (
         fingerprint TEXT NOT NULL,
         ignored TEXT NOT NULL,
         name TEXT NOT NULL,
         PRIMARY KEY (fingerprint, ignored)
     );
     CREATE TABLE offline (
         id INTEGER PRIMARY KEY,
         to_fingerprint TEXT NOT NULL,
         sender TEXT NOT NULL,
         body TEXT NOT NULL,
         at_ms INTEGER NOT NULL
     );
     CREATE INDEX offline_by_recipient ON offline (to_fingerprint, id);",
    // 2: moderation.
    "CREATE TABLE bans (
         target TEXT PRIMARY KEY,     -- fingerprint:SHA256:... or ip:ADDR
         name TEXT,
         until_ms INTEGER,            -- NULL: forever
         reason TEXT NOT NULL,
         banned_by TEXT NOT NULL,
         at_ms INTEGER NOT NULL
     );
     CREATE TABLE operators (fingerprint TEXT PRIMARY KEY);
     CREATE TABLE audit (
         id INTEGER PRIMARY KEY,
         at_ms INTEGER NOT NULL,
         by_name TEXT NOT NULL,
         by_fingerprint TEXT,
         action TEXT NOT NULL
     );",
    // 3: accounts. Each name a key owned becomes an account with that one key (its type and
    // line are filled in at its next login); operators made with /op become operator
    // accounts. What was kept per key (settings, ignores, messages waiting, bans by name) is
    // kept per account from now on. The claims and operators tables go: the directory holds
    // who owns which name, and who is an operator.
    "CREATE TABLE accounts (
         id TEXT PRIMARY KEY,
         name TEXT NOT NULL,
         name_folded TEXT NOT NULL UNIQUE,
         operator INTEGER NOT NULL DEFAULT 0,
         created_ms INTEGER NOT NULL
     );
     CREATE TABLE account_keys (
         fingerprint TEXT PRIMARY KEY,
         account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
         algorithm TEXT NOT NULL DEFAULT '',
         public_key TEXT NOT NULL DEFAULT '',
         label TEXT NOT NULL DEFAULT '',
         added_ms INTEGER NOT NULL,
         last_used_ms INTEGER
     );
     CREATE INDEX account_keys_by_account ON account_keys (account_id, added_ms);
     CREATE TABLE directory_audit (
         id INTEGER PRIMARY KEY,
         at_ms INTEGER NOT NULL,
         who TEXT NOT NULL,
         fingerprint TEXT,
         action TEXT NOT NULL
     );
     CREATE TEMP TABLE claim_accounts AS
         SELECT lower(hex(randomblob(16))) AS id, fingerprint, name, name_folded FROM claims;
     INSERT INTO accounts (id, name, name_folded, operator, created_ms)
         SELECT id, name, name_folded,
                fingerprint IN (SELECT fingerprint FROM operators),
                CAST(strftime('%s', 'now') AS INTEGER) * 1000
         FROM claim_accounts;
     INSERT INTO account_keys (fingerprint, account_id, label, added_ms)
         SELECT fingerprint, id, '', CAST(strftime('%s', 'now') AS INTEGER) * 1000
         FROM claim_accounts;
     INSERT INTO directory_audit (at_ms, who, action)
         SELECT CAST(strftime('%s', 'now') AS INTEGER) * 1000, 'schema upgrade',
                'create account ' || name || ' with key ' || fingerprint || ' from its name claim'
         FROM claim_accounts;
     UPDATE profiles SET fingerprint =
         (SELECT id FROM claim_accounts c WHERE c.fingerprint = profiles.fingerprint);
     DELETE FROM profiles WHERE fingerprint IS NULL;
     ALTER TABLE profiles RENAME COLUMN fingerprint TO owner;
     UPDATE ignores SET
         fingerprint = (SELECT id FROM claim_accounts c WHERE c.fingerprint = ignores.fingerprint),
         ignored = (SELECT id FROM claim_accounts c WHERE c.fingerprint = ignores.ignored);
     DELETE FROM ignores WHERE fingerprint IS NULL OR ignored IS NULL;
     ALTER TABLE ignores RENAME COLUMN fingerprint TO owner;
     ALTER TABLE ignores RENAME COLUMN ignored TO ignored_account;
     UPDATE offline SET to_fingerprint =
         (SELECT id FROM claim_accounts c WHERE c.fingerprint = offline.to_fingerprint);
     DELETE FROM offline WHERE to_fingerprint IS NULL;
     ALTER TABLE offline RENAME COLUMN to_fingerprint TO to_account;
     UPDATE bans SET target = 'account:' ||
         (SELECT id FROM claim_accounts c WHERE 'fingerprint:' || c.fingerprint = bans.target)
     WHERE name IS NOT NULL
       AND target IN (SELECT 'fingerprint:' || fingerprint FROM claim_accounts);
     DROP TABLE claim_accounts;
     DROP TABLE claims;
     DROP TABLE operators;",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// How long a connection waits for another (process or connection) that holds the write
/// lock: writes are short, so this is only ever exceeded by a stuck process.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A store in one SQLite file.
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    connection: Mutex<Connection>,
    /// Held while the store is open: one server per database.
    _lock: File,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `path`, takes the lock that keeps a second
    /// server away, and migrates its schema forward. Every failure names the file and says
    /// what to do.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_owned();
        let lock = take_lock(&path)?;
        let connection = open_connection(&path)?;
        Ok(Self {
            path,
            connection: Mutex::new(connection),
            _lock: lock,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn error(&self, e: rusqlite::Error) -> StoreError {
        classify(&self.path, e)
    }
}

/// The lock file beside the database (`chat.db.lock`), locked for as long as the returned
/// file is open. The lock goes with the process, however it ends.
fn take_lock(path: &Path) -> Result<File, StoreError> {
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let lock_path = PathBuf::from(lock_path);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| StoreError::Open {
            path: lock_path.clone(),
            reason: e.to_string(),
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Locked {
            path: path.to_owned(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(StoreError::Open {
            path: lock_path,
            reason: e.to_string(),
        }),
    }
}

/// Opens a connection to the database at `path` (creating it if missing) with the settings
/// every user of the file shares, and migrates the schema forward.
pub(crate) fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut connection = Connection::open_with_flags(path, flags).map_err(|e| classify(path, e))?;
    let setup = |c: &Connection| -> rusqlite::Result<()> {
        c.busy_timeout(BUSY_TIMEOUT)?;
        c.pragma_update(None, "journal_mode", "WAL")?;
        c.pragma_update(None, "synchronous", "NORMAL")?;
        c.pragma_update(None, "foreign_keys", "ON")
    };
    setup(&connection).map_err(|e| classify(path, e))?;
    migrate(&mut connection).map_err(|e| match e {
        Migration::TooNew(found) => StoreError::TooNew {
            path: path.to_owned(),
            found,
            supported: SCHEMA_VERSION,
        },
        Migration::Sql(e) => classify(path, e),
    })?;
    Ok(connection)
}

enum Migration {
    TooNew(i64),
    Sql(rusqlite::Error),
}

impl From<rusqlite::Error> for Migration {
    fn from(e: rusqlite::Error) -> Self {
        Migration::Sql(e)
    }
}

fn migrate(connection: &mut Connection) -> Result<(), Migration> {
    // Read the version inside a write transaction: two processes opening a new file at once
    // must not both migrate it.
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(Migration::TooNew(version));
    }
    for (from, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(version).unwrap_or(0))
    {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", from as i64 + 1)?;
    }
    tx.commit()?;
    Ok(())
}

/// Turns an SQLite error into one an operator can act on.
fn classify(path: &Path, e: rusqlite::Error) -> StoreError {
    let path = path.to_owned();
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
            path,
            reason: e.to_string(),
        },
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Locked { path },
        Some(ErrorCode::ReadOnly) => StoreError::ReadOnly { path },
        Some(ErrorCode::DiskFull) => StoreError::DiskFull { path },
        Some(ErrorCode::CannotOpen | ErrorCode::PermissionDenied) => StoreError::Open {
            path,
            reason: e.to_string(),
        },
        // SQLite says only "disk I/O error" when the file system under it has turned
        // read-only (ext4 does after an error): ask the file system, so the operator reads
        // what is wrong.
        Some(ErrorCode::SystemIoFailure) if on_read_only_file_system(&path) => {
            StoreError::ReadOnly { path }
        }
        _ => StoreError::Other {
            path,
            reason: e.to_string(),
        },
    }
}

/// Whether the database file cannot be opened for writing because its file system is
/// read-only.
fn on_read_only_file_system(path: &Path) -> bool {
    OpenOptions::new()
        .write(true)
        .open(path)
        .is_err_and(|e| e.kind() == std::io::ErrorKind::ReadOnlyFilesystem)
}

fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// A stored time; one out of range (a damaged row) reads as the epoch rather than failing.
fn time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

fn line_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredLine> {
    Ok(StoredLine {
        room: row.get(0)?,
        from: row.get(1)?,
        text: row.get(2)?,
        at: time(row.get(3)?),
        emote: row.get::<_, i64>(4)? != 0,
    })
}

fn write(tx: &Transaction<'_>, record: &Record) -> rusqlite::Result<()> {
    match record {
        Record::Line(line) => {
            tx.prepare_cached(
                "INSERT INTO lines (room, room_display, sender, body, at_ms, emote) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                name::fold(&line.room),
                line.room,
                line.from,
                line.text,
                millis(line.at),
                i64::from(line.emote)
            ])?;
        }
        // Names belong to accounts, which the directory keeps.
        Record::Claim { .. } => {}
        Record::Profile { owner, settings } => {
            let prefs = settings.prefs;
            tx.execute(
                "INSERT INTO profiles (owner, theme, timestamp, offset_minutes, quiet, last_room)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (owner) DO UPDATE SET theme = ?2, timestamp = ?3,
                     offset_minutes = ?4, quiet = ?5, last_room = ?6",
                params![
                    owner,
                    prefs.theme.as_str(),
                    prefs.timestamp.as_str(),
                    i64::from(prefs.offset.minutes()),
                    i64::from(prefs.quiet),
                    settings.last_room
                ],
            )?;
            tx.execute("DELETE FROM ignores WHERE owner = ?1", params![owner])?;
            for ignored in &settings.ignoring {
                tx.execute(
                    "INSERT OR REPLACE INTO ignores (owner, ignored_account, name) VALUES (?1, ?2, ?3)",
                    params![owner, ignored.account, ignored.name],
                )?;
            }
        }
        Record::Offline(message) => {
            tx.execute(
                "INSERT INTO offline (to_account, sender, body, at_ms) VALUES (?1, ?2, ?3, ?4)",
                params![message.to, message.from, message.text, millis(message.at)],
            )?;
        }
        Record::Ban(ban) => {
            tx.execute(
                "INSERT OR REPLACE INTO bans (target, name, until_ms, reason, banned_by, at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    ban.target.to_string(),
                    ban.name,
                    ban.until.map(millis),
                    ban.reason,
                    ban.by,
                    millis(ban.at)
                ],
            )?;
        }
        Record::Unban(target) => {
            tx.execute(
                "DELETE FROM bans WHERE target = ?1",
                params![target.to_string()],
            )?;
        }
        // Operators are accounts', which the directory keeps.
        Record::Operator { .. } => {}
        Record::Audit(entry) => {
            tx.execute(
                "INSERT INTO audit (at_ms, by_name, by_fingerprint, action) VALUES (?1, ?2, ?3, ?4)",
                params![millis(entry.at), entry.by, entry.by_fingerprint, entry.action],
            )?;
        }
        Record::OfflineDelivered { owner, count } => {
            tx.execute(
                "DELETE FROM offline WHERE id IN
                     (SELECT id FROM offline WHERE to_account = ?1 ORDER BY id LIMIT ?2)",
                params![owner, i64::try_from(*count).unwrap_or(i64::MAX)],
            )?;
        }
    }
    Ok(())
}

impl Store for SqliteStore {
    fn snapshot(&self, lines_per_room: usize, rooms: usize) -> Result<Snapshot, StoreError> {
        let connection = self.connection.lock();
        let run = || -> rusqlite::Result<Snapshot> {
            let recent_rooms = connection
                .prepare("SELECT room FROM lines GROUP BY room ORDER BY MAX(id) DESC LIMIT ?1")?
                .query_map(params![to_i64(rooms)], |row| row.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()?;
            let mut history = Vec::new();
            let mut lines = connection.prepare(
                "SELECT room_display, sender, body, at_ms, emote FROM
                     (SELECT * FROM lines WHERE room = ?1 ORDER BY id DESC LIMIT ?2)
                 ORDER BY id",
            )?;
            for room in recent_rooms.iter().rev() {
                let room_lines = lines
                    .query_map(params![room, to_i64(lines_per_room)], line_from_row)?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                history.extend(room_lines);
            }
            let offline_counts = connection
                .prepare("SELECT to_account, COUNT(*) FROM offline GROUP BY to_account")?
                .query_map([], |row| {
                    Ok((
                        row.get(0)?,
                        usize::try_from(row.get::<_, i64>(1)?).unwrap_or(0),
                    ))
                })?
                .collect::<rusqlite::Result<Vec<(String, usize)>>>()?;
            let bans = connection
                .prepare("SELECT target, name, until_ms, reason, banned_by, at_ms FROM bans")?
                .query_map([], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        Ban {
                            target: BanTarget::Key(String::new()),
                            name: row.get(1)?,
                            until: row.get::<_, Option<i64>>(2)?.map(time),
                            reason: row.get(3)?,
                            by: row.get(4)?,
                            at: time(row.get(5)?),
                        },
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?
                .into_iter()
                // A target this build cannot read is skipped, not fatal.
                .filter_map(|(target, ban)| {
                    Some(Ban {
                        target: BanTarget::parse(&target)?,
                        ..ban
                    })
                })
                .collect();
            Ok(Snapshot {
                // Names belong to accounts, which the directory keeps.
                claims: Vec::new(),
                history,
                offline_counts,
                bans,
                // Operators are accounts', which the directory keeps.
                operators: Vec::new(),
            })
        };
        run().map_err(|e| self.error(e))
    }

    fn profile(&self, owner: &str) -> Result<Profile, StoreError> {
        let connection = self.connection.lock();
        let run = || -> rusqlite::Result<Profile> {
            let settings = connection
                .prepare_cached(
                    "SELECT theme, timestamp, offset_minutes, quiet, last_room FROM profiles WHERE owner = ?1",
                )?
                .query_row(
                    params![owner],
                    |row| {
                        // Values this build does not know fall back to the defaults.
                        let prefs = Prefs {
                            theme: Theme::from_name(&row.get::<_, String>(0)?).unwrap_or_default(),
                            timestamp: TimestampMode::from_name(&row.get::<_, String>(1)?).unwrap_or_default(),
                            offset: i16::try_from(row.get::<_, i64>(2)?)
                                .ok()
                                .and_then(UtcOffset::from_minutes)
                                .unwrap_or_default(),
                            quiet: row.get::<_, i64>(3)? != 0,
                        };
                        Ok(Settings {
                            prefs,
                            ignoring: Vec::new(),
                            last_room: row.get(4)?,
                        })
                    },
                )
                .optional()?;
            let mut settings = settings.unwrap_or_default();
            settings.ignoring = connection
                .prepare_cached(
                    "SELECT ignored_account, name FROM ignores WHERE owner = ?1 ORDER BY rowid",
                )?
                .query_map(params![owner], |row| {
                    Ok(IgnoredAccount {
                        account: row.get(0)?,
                        name: row.get(1)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let offline = connection
                .prepare_cached(
                    "SELECT sender, body, at_ms FROM offline WHERE to_account = ?1 ORDER BY id",
                )?
                .query_map(params![owner], |row| {
                    Ok(OfflineMessage {
                        to: owner.to_owned(),
                        from: row.get(0)?,
                        text: row.get(1)?,
                        at: time(row.get(2)?),
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Profile { settings, offline })
        };
        run().map_err(|e| self.error(e))
    }

    fn apply(&self, records: &[Record]) -> Result<(), StoreError> {
        let mut connection = self.connection.lock();
        let run = |connection: &mut Connection| -> rusqlite::Result<()> {
            // Immediate: a deferred transaction that reads before it writes fails at once
            // (SQLITE_BUSY, no waiting) if the directory's connection to the same file
            // commits in between; taking the write lock first waits for it instead.
            let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for record in records {
                write(&tx, record)?;
            }
            tx.commit()
        };
        run(&mut connection).map_err(|e| self.error(e))
    }

    fn history(&self, room: &str, limit: usize) -> Result<Vec<StoredLine>, StoreError> {
        let connection = self.connection.lock();
        let run = || -> rusqlite::Result<Vec<StoredLine>> {
            connection
                .prepare_cached(
                    "SELECT room_display, sender, body, at_ms, emote FROM
                         (SELECT * FROM lines WHERE room = ?1 ORDER BY id DESC LIMIT ?2)
                     ORDER BY id",
                )?
                .query_map(params![name::fold(room), to_i64(limit)], line_from_row)?
                .collect()
        };
        run().map_err(|e| self.error(e))
    }

    fn prune(&self, retention: Retention, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let mut connection = self.connection.lock();
        let run = |connection: &mut Connection| -> rusqlite::Result<usize> {
            let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut gone = 0;
            if let Some(max_age) = retention.max_age {
                let age = chrono::TimeDelta::from_std(max_age).unwrap_or(chrono::TimeDelta::MAX);
                let cutoff = now
                    .checked_sub_signed(age)
                    .unwrap_or(DateTime::<Utc>::MIN_UTC);
                gone += tx.execute(
                    "DELETE FROM lines WHERE at_ms < ?1",
                    params![millis(cutoff)],
                )?;
            }
            // Room by room, everything older than the room's Nth newest line, found on the
            // (room, id) index. A window function over the whole table did the same in one
            // statement, but sorted every line into a temporary b-tree first: at 14,000 lines
            // its largest allocation was 512 KiB, this one's 87 KiB (sqlite3's `.stats`).
            let rooms: Vec<String> = tx
                .prepare("SELECT DISTINCT room FROM lines")?
                .query_map([], |row| row.get(0))?
                .collect::<Result<_, _>>()?;
            let mut delete = tx.prepare(
                "DELETE FROM lines WHERE room = ?1 AND id <= (
                     SELECT id FROM lines WHERE room = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
            )?;
            for room in rooms {
                gone += delete.execute(params![room, to_i64(retention.lines_per_room)])?;
            }
            drop(delete);
            tx.commit()?;
            Ok(gone)
        };
        run(&mut connection).map_err(|e| self.error(e))
    }

    fn line_count(&self) -> Result<usize, StoreError> {
        let connection = self.connection.lock();
        connection
            .query_row("SELECT COUNT(*) FROM lines", [], |row| row.get::<_, i64>(0))
            .map(|n| usize::try_from(n).unwrap_or(0))
            .map_err(|e| self.error(e))
    }
}

fn to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_is_not_a_database_is_reported_as_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chat.db");
        std::fs::write(&path, vec![0x42u8; 8192]).unwrap();
        let error = SqliteStore::open(&path).unwrap_err();
        assert!(matches!(error, StoreError::Corrupt { .. }), "{error}");
        let message = error.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("move it aside"), "{message}");
    }

    #[test]
    fn a_second_process_on_the_same_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chat.db");
        let _first = SqliteStore::open(&path).unwrap();
        let error = SqliteStore::open(&path).unwrap_err();
        assert!(matches!(error, StoreError::Locked { .. }), "{error}");
        assert!(error.to_string().contains("another chat server"), "{error}");
    }

    #[test]
    fn a_newer_schema_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chat.db");
        {
            let c = Connection::open(&path).unwrap();
            c.pragma_update(None, "user_version", SCHEMA_VERSION + 5)
                .unwrap();
        }
        let error = SqliteStore::open(&path).unwrap_err();
        assert!(
            matches!(error, StoreError::TooNew { found, .. } if found == SCHEMA_VERSION + 5),
            "{error}"
        );
        let c = Connection::open(&path).unwrap();
        let version: i64 = c
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION + 5, "untouched");
    }

    #[test]
    fn reopening_keeps_the_schema_and_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chat.db");
        let line = StoredLine {
            room: "#lobby".into(),
            from: "a".into(),
            text: "kept".into(),
            at: Utc::now(),
            emote: false,
        };
        SqliteStore::open(&path)
            .unwrap()
            .apply(&[Record::Line(line)])
            .unwrap();
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.line_count().unwrap(), 1);
    }

    #[test]
    fn every_record_kind_round_trips_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        crate::conformance::run_all(&|| {
            Box::new(SqliteStore::open(dir.path().join(format!("{}.db", unique()))).unwrap())
        });
    }

    fn unique() -> u64 {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        NEXT.fetch_add(1, Ordering::Relaxed)
    }
}
