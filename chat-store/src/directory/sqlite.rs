//! The default directory: two tables in the chat's own SQLite file (`DATA_DIR/chat.db`).
//!
//! Names are unique by a `UNIQUE` constraint on their folded form and keys by their primary
//! key, so two racing creates cannot both succeed, whichever process makes them (the server
//! and `chat-cli accounts` share the file; SQLite's WAL mode lets one write while others
//! read). Every change and its audit entry are one transaction.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use chat_core::{AccountRef, name};
use chrono::{DateTime, TimeZone, Utc};
use parking_lot::Mutex;
use rusqlite::{
    Connection, ErrorCode, OptionalExtension, Transaction, TransactionBehavior, params,
};

use super::{
    Account, AccountKey, Actor, Directory, DirectoryAudit, DirectoryError, Login,
    MAX_KEYS_PER_ACCOUNT, NewKey, check_name, clean_label, new_account_id,
};
use crate::sqlite::open_connection;

/// More than the distinct statements this file runs (about 20).
const STATEMENTS: usize = 32;

/// Accounts in a SQLite file. Cloning shares the connection.
#[derive(Debug, Clone)]
pub struct SqliteDirectory {
    path: PathBuf,
    connection: Arc<Mutex<Connection>>,
}

impl SqliteDirectory {
    /// Opens (creating and migrating if needed) the database at `path`. Unlike
    /// [`SqliteStore::open`](crate::SqliteStore::open) this takes no lock: `chat-cli accounts`
    /// opens the file of a running server.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, crate::StoreError> {
        let path = path.as_ref().to_owned();
        let connection = open_connection(&path)?;
        // Room for every statement below, so that none is ever prepared twice.
        connection.set_prepared_statement_cache_capacity(STATEMENTS);
        Ok(Self {
            path,
            connection: Arc::new(Mutex::new(connection)),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `work` on the blocking pool with the connection.
    async fn run<T, F>(&self, work: F) -> Result<T, DirectoryError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, DirectoryError> + Send + 'static,
    {
        let connection = Arc::clone(&self.connection);
        tokio::task::spawn_blocking(move || work(&mut connection.lock()))
            .await
            .map_err(|e| DirectoryError::Backend(format!("the database task failed: {e}")))?
    }

    /// Runs `work` in an immediate (write) transaction, committed if it succeeds.
    async fn change<T, F>(&self, work: F) -> Result<T, DirectoryError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, DirectoryError> + Send + 'static,
    {
        self.run(move |connection| {
            let tx = connection
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sql)?;
            let value = work(&tx)?;
            tx.commit().map_err(sql)?;
            Ok(value)
        })
        .await
    }
}

/// An SQLite error as a directory error: a busy or locked file is an outage (retry), the
/// rest the backend's.
fn sql(e: rusqlite::Error) -> DirectoryError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            DirectoryError::Unavailable(format!("the database is busy: {e}"))
        }
        Some(ErrorCode::DiskFull) => DirectoryError::Unavailable("the disk is full".to_owned()),
        Some(ErrorCode::ReadOnly) => {
            DirectoryError::Unavailable("the database is read-only".to_owned())
        }
        _ => DirectoryError::Backend(e.to_string()),
    }
}

/// Runs one statement from the connection's cache of prepared statements: a login that
/// creates an account runs four, and preparing each afresh was a quarter of the work.
fn exec(c: &Connection, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<usize> {
    c.prepare_cached(sql)?.execute(params)
}

fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// A stored time; one out of range (a damaged row) reads as the epoch rather than failing.
fn time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

fn audit(tx: &Transaction<'_>, actor: &Actor, action: &str) -> Result<(), DirectoryError> {
    exec(
        tx,
        "INSERT INTO directory_audit (at_ms, who, fingerprint, action) VALUES (?1, ?2, ?3, ?4)",
        params![millis(Utc::now()), actor.who, actor.fingerprint, action],
    )
    .map_err(sql)?;
    Ok(())
}

/// Reads an account and its keys.
fn load(c: &Connection, id: &str) -> Result<Option<Account>, DirectoryError> {
    let account = c
        .prepare_cached("SELECT id, name, operator, created_ms FROM accounts WHERE id = ?1")
        .and_then(|mut s| {
            s.query_row(params![id], |row| {
                Ok(Account {
                    id: row.get(0)?,
                    name: row.get(1)?,
                    operator: row.get::<_, i64>(2)? != 0,
                    created_at: time(row.get(3)?),
                    keys: Vec::new(),
                })
            })
            .optional()
        })
        .map_err(sql)?;
    let Some(mut account) = account else {
        return Ok(None);
    };
    account.keys = c
        .prepare_cached(
            "SELECT fingerprint, algorithm, public_key, label, added_ms, last_used_ms
             FROM account_keys WHERE account_id = ?1 ORDER BY added_ms, rowid",
        )
        .and_then(|mut s| {
            s.query_map(params![id], |row| {
                Ok(AccountKey {
                    fingerprint: row.get(0)?,
                    algorithm: row.get(1)?,
                    public_key: row.get(2)?,
                    label: row.get(3)?,
                    added_at: time(row.get(4)?),
                    last_used_at: row.get::<_, Option<i64>>(5)?.map(time),
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(sql)?;
    Ok(Some(account))
}

fn id_by_name(c: &Connection, name: &str) -> Result<Option<(String, String)>, DirectoryError> {
    c.prepare_cached("SELECT id, name FROM accounts WHERE name_folded = ?1")
        .and_then(|mut s| {
            s.query_row(params![name::fold(name)], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .optional()
        })
        .map_err(sql)
}

fn id_by_key(c: &Connection, fingerprint: &str) -> Result<Option<String>, DirectoryError> {
    c.prepare_cached("SELECT account_id FROM account_keys WHERE fingerprint = ?1")
        .and_then(|mut s| {
            s.query_row(params![fingerprint], |row| row.get(0))
                .optional()
        })
        .map_err(sql)
}

fn must_load(c: &Connection, id: &str) -> Result<Account, DirectoryError> {
    load(c, id)?.ok_or(DirectoryError::NoSuchAccount)
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::ConstraintViolation
    )
}

/// Inserts the account row; a name clash is `NameTaken` with the holder's spelling.
fn insert_account(
    tx: &Transaction<'_>,
    id: &str,
    name: &str,
    operator: bool,
    created: DateTime<Utc>,
) -> Result<(), DirectoryError> {
    let inserted = exec(
        tx,
        "INSERT INTO accounts (id, name, name_folded, operator, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            id,
            name,
            name::fold(name),
            i64::from(operator),
            millis(created)
        ],
    );
    match inserted {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => match id_by_name(tx, name)? {
            Some((_, taken)) => Err(DirectoryError::NameTaken {
                wanted: name.to_owned(),
                taken,
            }),
            None => Err(DirectoryError::Backend(format!(
                "an account with id {id} exists"
            ))),
        },
        Err(e) => Err(sql(e)),
    }
}

/// Inserts a key row; a key in any account is `KeyTaken`.
fn insert_key(
    tx: &Transaction<'_>,
    account_id: &str,
    key: &AccountKey,
) -> Result<(), DirectoryError> {
    let inserted = exec(
        tx,
        "INSERT INTO account_keys (fingerprint, account_id, algorithm, public_key, label, added_ms, last_used_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            key.fingerprint,
            account_id,
            key.algorithm,
            key.public_key,
            key.label,
            millis(key.added_at),
            key.last_used_at.map(millis)
        ],
    );
    match inserted {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Err(DirectoryError::KeyTaken { account: None }),
        Err(e) => Err(sql(e)),
    }
}

fn new_key_row(key: NewKey, now: DateTime<Utc>) -> Result<AccountKey, DirectoryError> {
    Ok(AccountKey {
        label: clean_label(&key.label)?,
        fingerprint: key.fingerprint,
        algorithm: key.algorithm,
        public_key: key.public_key,
        added_at: now,
        last_used_at: None,
    })
}

#[async_trait]
impl Directory for SqliteDirectory {
    fn describe(&self) -> String {
        format!("sqlite:{}", self.path.display())
    }

    async fn login(
        &self,
        fingerprint: &str,
        wanted_name: Option<&str>,
    ) -> Result<Login, DirectoryError> {
        let fingerprint = fingerprint.to_owned();
        let wanted = wanted_name.and_then(name::clean_name);
        self.run(move |c| {
            let account = match id_by_key(c, &fingerprint)? {
                Some(id) => load(c, &id)?,
                None => None,
            };
            let name_owner = match &wanted {
                Some(wanted) => id_by_name(c, wanted)?,
                None => None,
            };
            Ok(Login {
                account,
                name_owner,
            })
        })
        .await
    }

    async fn account_by_name(&self, name: &str) -> Result<Option<Account>, DirectoryError> {
        let name = name.to_owned();
        self.run(move |c| match id_by_name(c, &name)? {
            Some((id, _)) => load(c, &id),
            None => Ok(None),
        })
        .await
    }

    async fn account_by_id(&self, id: &str) -> Result<Option<Account>, DirectoryError> {
        let id = id.to_owned();
        self.run(move |c| load(c, &id)).await
    }

    async fn accounts(&self) -> Result<Vec<Account>, DirectoryError> {
        self.run(|c| {
            let ids = c
                .prepare("SELECT id FROM accounts ORDER BY lower(name), name")
                .and_then(|mut s| {
                    s.query_map([], |row| row.get::<_, String>(0))?
                        .collect::<rusqlite::Result<Vec<_>>>()
                })
                .map_err(sql)?;
            Ok(ids
                .iter()
                .map(|id| load(c, id))
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .flatten()
                .collect())
        })
        .await
    }

    /// One query of the accounts table alone: the refresh's whole cost.
    async fn account_refs(&self) -> Result<Vec<AccountRef>, DirectoryError> {
        self.run(|c| {
            c.prepare_cached("SELECT id, name, operator FROM accounts")
                .and_then(|mut s| {
                    s.query_map([], |row| {
                        Ok(AccountRef {
                            id: row.get(0)?,
                            name: row.get(1)?,
                            operator: row.get::<_, i64>(2)? != 0,
                        })
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()
                })
                .map_err(sql)
        })
        .await
    }

    async fn create_account(
        &self,
        name: &str,
        key: NewKey,
        operator: bool,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Account, DirectoryError> {
        check_name(name)?;
        // Stored to the millisecond: the account returned is the one a read would give.
        let now = time(millis(now));
        let key = new_key_row(key, now)?;
        let (name, actor) = (name.to_owned(), actor.clone());
        self.change(move |tx| {
            let id = new_account_id();
            insert_account(tx, &id, &name, operator, now)?;
            insert_key(tx, &id, &key)?;
            audit(
                tx,
                &actor,
                &format!("create account {name} with key {}", key.fingerprint),
            )?;
            // Built from what was inserted rather than read back: reading it was a quarter
            // of a first-time login's work in the directory.
            Ok(Account {
                id,
                name,
                operator,
                created_at: now,
                keys: vec![key],
            })
        })
        .await
    }

    async fn import_account(
        &self,
        account: &Account,
        actor: &Actor,
    ) -> Result<Account, DirectoryError> {
        check_name(&account.name)?;
        for key in &account.keys {
            clean_label(&key.label)?;
        }
        let (account, actor) = (account.clone(), actor.clone());
        self.change(move |tx| {
            insert_account(
                tx,
                &account.id,
                &account.name,
                account.operator,
                account.created_at,
            )?;
            for key in &account.keys {
                insert_key(tx, &account.id, key)?;
            }
            audit(
                tx,
                &actor,
                &format!(
                    "import account {} with {} keys",
                    account.name,
                    account.keys.len()
                ),
            )?;
            must_load(tx, &account.id)
        })
        .await
    }

    async fn add_key(
        &self,
        account_id: &str,
        key: NewKey,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Account, DirectoryError> {
        let key = new_key_row(key, now)?;
        let (id, actor) = (account_id.to_owned(), actor.clone());
        self.change(move |tx| {
            let account = must_load(tx, &id)?;
            if account.keys.len() >= MAX_KEYS_PER_ACCOUNT {
                return Err(DirectoryError::TooManyKeys {
                    max: MAX_KEYS_PER_ACCOUNT,
                });
            }
            insert_key(tx, &id, &key)?;
            audit(
                tx,
                &actor,
                &format!("add key {} to {}", key.fingerprint, account.name),
            )?;
            must_load(tx, &id)
        })
        .await
    }

    async fn remove_key(
        &self,
        fingerprint: &str,
        account_id: Option<&str>,
        actor: &Actor,
    ) -> Result<Account, DirectoryError> {
        let (fingerprint, only, actor) = (
            fingerprint.to_owned(),
            account_id.map(str::to_owned),
            actor.clone(),
        );
        self.change(move |tx| {
            let holder = id_by_key(tx, &fingerprint)?
                .filter(|holder| only.as_ref().is_none_or(|only| only == holder))
                .ok_or_else(|| DirectoryError::NoSuchKey {
                    fingerprint: fingerprint.clone(),
                    in_account: only.is_some(),
                })?;
            let account = must_load(tx, &holder)?;
            if account.keys.len() <= 1 {
                return Err(DirectoryError::LastKey);
            }
            exec(
                tx,
                "DELETE FROM account_keys WHERE fingerprint = ?1",
                params![fingerprint],
            )
            .map_err(sql)?;
            audit(
                tx,
                &actor,
                &format!("remove key {fingerprint} from {}", account.name),
            )?;
            must_load(tx, &holder)
        })
        .await
    }

    async fn rename_account(
        &self,
        account_id: &str,
        new_name: &str,
        actor: &Actor,
    ) -> Result<Account, DirectoryError> {
        check_name(new_name)?;
        let (id, new_name, actor) = (account_id.to_owned(), new_name.to_owned(), actor.clone());
        self.change(move |tx| {
            let account = must_load(tx, &id)?;
            let renamed = exec(
                tx,
                "UPDATE accounts SET name = ?2, name_folded = ?3 WHERE id = ?1",
                params![id, new_name, name::fold(&new_name)],
            );
            match renamed {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => {
                    let taken = id_by_name(tx, &new_name)?
                        .map(|(_, n)| n)
                        .unwrap_or_default();
                    return Err(DirectoryError::NameTaken {
                        wanted: new_name,
                        taken,
                    });
                }
                Err(e) => return Err(sql(e)),
            }
            audit(
                tx,
                &actor,
                &format!("rename account {} to {new_name}", account.name),
            )?;
            must_load(tx, &id)
        })
        .await
    }

    async fn set_label(
        &self,
        account_id: &str,
        fingerprint: &str,
        label: &str,
        actor: &Actor,
    ) -> Result<Account, DirectoryError> {
        let label = clean_label(label)?;
        let (id, fingerprint, actor) =
            (account_id.to_owned(), fingerprint.to_owned(), actor.clone());
        self.change(move |tx| {
            let account = must_load(tx, &id)?;
            let changed = exec(
                tx,
                "UPDATE account_keys SET label = ?3 WHERE fingerprint = ?1 AND account_id = ?2",
                params![fingerprint, id, label],
            )
            .map_err(sql)?;
            if changed == 0 {
                return Err(DirectoryError::NoSuchKey {
                    fingerprint,
                    in_account: true,
                });
            }
            audit(
                tx,
                &actor,
                &format!("label key {fingerprint} of {} {label:?}", account.name),
            )?;
            must_load(tx, &id)
        })
        .await
    }

    async fn set_operator(
        &self,
        account_id: &str,
        operator: bool,
        actor: &Actor,
    ) -> Result<Account, DirectoryError> {
        let (id, actor) = (account_id.to_owned(), actor.clone());
        self.change(move |tx| {
            let account = must_load(tx, &id)?;
            exec(
                tx,
                "UPDATE accounts SET operator = ?2 WHERE id = ?1",
                params![id, i64::from(operator)],
            )
            .map_err(sql)?;
            let what = if operator { "make" } else { "unmake" };
            audit(tx, &actor, &format!("{what} {} an operator", account.name))?;
            must_load(tx, &id)
        })
        .await
    }

    async fn delete_account(&self, account_id: &str, actor: &Actor) -> Result<(), DirectoryError> {
        let (id, actor) = (account_id.to_owned(), actor.clone());
        self.change(move |tx| {
            let account = must_load(tx, &id)?;
            exec(
                tx,
                "DELETE FROM account_keys WHERE account_id = ?1",
                params![id],
            )
            .map_err(sql)?;
            exec(tx, "DELETE FROM accounts WHERE id = ?1", params![id]).map_err(sql)?;
            audit(
                tx,
                &actor,
                &format!(
                    "delete account {} and its {} keys",
                    account.name,
                    account.keys.len()
                ),
            )
        })
        .await
    }

    async fn touch_key(
        &self,
        fingerprint: &str,
        algorithm: &str,
        public_key: &str,
        at: DateTime<Utc>,
    ) -> Result<(), DirectoryError> {
        let (fingerprint, algorithm, public_key) = (
            fingerprint.to_owned(),
            algorithm.to_owned(),
            public_key.to_owned(),
        );
        self.run(move |c| {
            exec(
                c,
                "UPDATE account_keys SET last_used_ms = ?2,
                     algorithm = CASE WHEN algorithm = '' THEN ?3 ELSE algorithm END,
                     public_key = CASE WHEN public_key = '' THEN ?4 ELSE public_key END
                 WHERE fingerprint = ?1",
                params![fingerprint, millis(at), algorithm, public_key],
            )
            .map_err(sql)?;
            Ok(())
        })
        .await
    }

    async fn audit_log(&self, limit: usize) -> Result<Vec<DirectoryAudit>, DirectoryError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.run(move |c| {
            c.prepare(
                "SELECT at_ms, who, fingerprint, action FROM directory_audit ORDER BY id DESC LIMIT ?1",
            )
            .and_then(|mut s| {
                s.query_map(params![limit], |row| {
                    Ok(DirectoryAudit {
                        at: time(row.get(0)?),
                        actor: Actor {
                            who: row.get(1)?,
                            fingerprint: row.get(2)?,
                        },
                        action: row.get(3)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(sql)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_sqlite_directory_conforms() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_owned();
        let next = std::sync::atomic::AtomicU32::new(0);
        super::super::conformance::run_all(&move || {
            let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let path = root.join(format!("{n}.db"));
            Box::pin(
                async move { Arc::new(SqliteDirectory::open(path).unwrap()) as Arc<dyn Directory> },
            )
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_processes_racing_on_one_file_still_create_one_account() {
        // Two directories on one file are two connections, as the server and `chat-cli
        // accounts` are: the constraint, not the connection's mutex, keeps them apart.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chat.db");
        let first = SqliteDirectory::open(&path).unwrap();
        let second = SqliteDirectory::open(&path).unwrap();
        let actor = Actor::new("test", None);
        let now = Utc::now();
        let key = super::super::conformance::key;
        let (a, b) = tokio::join!(
            first.create_account("bob", key(1), false, &actor, now),
            second.create_account("Bob", key(2), false, &actor, now)
        );
        assert_eq!([a.is_ok(), b.is_ok()].iter().filter(|ok| **ok).count(), 1);
        assert_eq!(first.accounts().await.unwrap().len(), 1);
    }
}
