//! Accounts as every front-end uses them: who may come in (at authentication, on the hot
//! path), what a newcomer's key registers, `/keys`, and keeping the hub in step with the key
//! directory.
//!
//! At most one directory round trip happens per new connection (the cached login lookup,
//! bounded by the caller's deadline), and never under the hub's lock. A key's first visit in
//! `open` mode adds one write (its new account); nothing else on a login writes, but for the
//! "last used" time, which is written in the background.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use chat_core::journal::Record;
use chat_core::{AccountRef, JoinRequest, KeysCommand};
use chat_store::directory::{Account, Actor, DirectoryError};
use chrono::Utc;
use tracing::{info, warn};

use crate::Runtime;
use crate::config::JoinPolicy;
use crate::directory::Lookup;
use crate::keys::{self, CheckedKey};
use crate::persist::DirectoryFeed;

/// How long a newcomer's registration (one directory write) may take before the newcomer
/// joins unverified instead.
const REGISTER_TIMEOUT: Duration = Duration::from_secs(3);
/// Attempts at a free name for a newcomer when others take them first.
const REGISTER_ATTEMPTS: usize = 3;

/// What authentication decided about a key.
#[derive(Debug, Clone)]
pub struct KeyVerdict {
    /// Why the key may not come in, in words for the client; `None` if it may.
    pub refusal: Option<String>,
    /// What the directory said (or could not say).
    pub lookup: Lookup,
}

/// Who is arriving, as a front-end knows it once authentication is done.
#[derive(Debug, Clone)]
pub struct Arrival {
    /// The name asked for (the SSH username).
    pub name: String,
    /// The key proved, if any, with what authentication learned of it.
    pub key: Option<(CheckedKey, Lookup)>,
    pub ip: Option<IpAddr>,
    /// A visible member (a shell): only these register a newcomer's name.
    pub visible: bool,
}

impl Runtime {
    /// Whether a client that proved `key` may come in: bans (of the key, its account or
    /// `ip`), the allowlist, and the join policy. Looks the key up in the directory within
    /// `deadline`.
    pub async fn check_key(
        &self,
        key: &CheckedKey,
        user: &str,
        ip: Option<IpAddr>,
        deadline: Duration,
    ) -> KeyVerdict {
        let lookup = self
            .directory
            .login(&key.fingerprint, Some(user), deadline)
            .await;
        let account = lookup.account().map(|a| a.id.clone());
        let refusal = self
            .banned(Some(&key.fingerprint), account.as_deref(), ip)
            .or_else(|| self.not_allowed(Some(&key.fingerprint)))
            .or_else(|| match (self.config.join, &lookup) {
                (JoinPolicy::Open, _) => None,
                (JoinPolicy::Registered, lookup) if lookup.account().is_some() => None,
                (JoinPolicy::Registered, lookup) if lookup.is_unknown() => Some(
                    "The key store is unavailable, so your key cannot be checked; try again in \
                     a minute."
                        .to_owned(),
                ),
                (JoinPolicy::Registered, _) => Some(format!(
                    "This chat server admits registered keys only, and yours ({}) is not \
                     registered. {}",
                    key.fingerprint, self.config.registration_hint
                )),
            });
        KeyVerdict { refusal, lookup }
    }

    /// Why someone without a key may not come in, if they may not.
    pub fn check_keyless(&self, ip: Option<IpAddr>) -> Option<String> {
        self.banned(None, None, ip)
            .or_else(|| self.not_allowed(None))
            .or_else(|| match self.config.join {
                JoinPolicy::Open => None,
                JoinPolicy::Registered => Some(format!(
                    "This chat server admits registered keys only, and you offered none. \
                     Connect with your key (ssh -i ...). {}",
                    self.config.registration_hint
                )),
            })
    }

    fn banned(
        &self,
        fingerprint: Option<&str>,
        account: Option<&str>,
        ip: Option<IpAddr>,
    ) -> Option<String> {
        let hub = self.hub.lock();
        let ban = hub.ban_for(fingerprint, account, ip, Utc::now())?;
        let until = ban.until.map_or_else(
            || "for good".to_owned(),
            |t| format!("until {} UTC", t.format("%Y-%m-%d %H:%M")),
        );
        Some(format!(
            "You are banned from this chat server {until}: {}",
            ban.reason
        ))
    }

    fn not_allowed(&self, fingerprint: Option<&str>) -> Option<String> {
        let access = self.access.read();
        match fingerprint {
            Some(fp) if !access.admits_key(fp) => Some(format!(
                "This chat server admits only listed keys, and yours ({fp}) is not on its \
                 allowlist. Ask an operator to add it."
            )),
            None if !access.admits_keyless() => Some(
                "This chat server admits only listed keys, and you offered none. Connect with \
                 your key (ssh -i ...) and ask an operator to add it."
                    .to_owned(),
            ),
            _ => None,
        }
    }

    /// What to ask the hub for this arrival: its account (registering a newcomer's name as
    /// a new account in `open` mode), and what the store remembers of it.
    pub async fn join_request(&self, arrival: Arrival) -> JoinRequest {
        let mut request = JoinRequest::named(arrival.name.clone());
        request.ip = arrival.ip;
        request.visible = arrival.visible;
        let Some((key, lookup)) = arrival.key else {
            Box::pin(self.reserve_name(&mut request)).await;
            return request;
        };
        request.fingerprint = Some(key.fingerprint.clone());
        let account = match lookup.account() {
            Some(account) => Some(account.clone()),
            None if arrival.visible
                && self.config.join == JoinPolicy::Open
                && !lookup.is_unknown() =>
            {
                self.register_newcomer(&arrival.name, &key).await
            }
            None => None,
        };
        if let Some(account) = account {
            self.note_login(&key);
            // Boxed: the store lookup's future is large, and inline it would size the caller.
            request.profile = Box::pin(self.load_profile(Some(&account.id))).await;
            request.account = Some(AccountRef::from(&account));
        }
        Box::pin(self.reserve_name(&mut request)).await;
        request
    }

    /// Registers the name a newcomer would get as an account holding its key. `None` if the
    /// directory refuses or fails: the newcomer then joins unverified.
    async fn register_newcomer(&self, asked: &str, key: &CheckedKey) -> Option<Account> {
        let actor = Actor::new(
            format!("{asked} (first login)"),
            Some(key.fingerprint.clone()),
        );
        for _ in 0..REGISTER_ATTEMPTS {
            let name = self.hub.lock().name_for_newcomer(asked);
            let created = tokio::time::timeout(
                REGISTER_TIMEOUT,
                self.directory.directory().create_account(
                    &name,
                    key.to_new_key(""),
                    false,
                    &actor,
                    Utc::now(),
                ),
            )
            .await;
            match created {
                Ok(Ok(account)) => {
                    self.metrics.account_changes.inc();
                    self.directory
                        .remember(&key.fingerprint, Some(account.clone()));
                    info!(target: "chat::audit", by = %actor.who, action = %format!("create account {name} with key {}", key.fingerprint), "account change");
                    return Some(account);
                }
                Ok(Err(DirectoryError::NameTaken { taken, .. })) => {
                    // Registered elsewhere a moment ago: learn it, and try the next name.
                    if let Ok(Some(owner)) =
                        self.directory.directory().account_by_name(&taken).await
                    {
                        self.hub.lock().learn_names(vec![(owner.name, owner.id)]);
                    }
                }
                Ok(Err(DirectoryError::KeyTaken { .. })) => {
                    // The key was registered meanwhile (on the web, say): use that account.
                    self.directory.forget_key(&key.fingerprint);
                    let lookup = self
                        .directory
                        .login(&key.fingerprint, None, REGISTER_TIMEOUT)
                        .await;
                    return lookup.account().cloned();
                }
                Ok(Err(error)) => {
                    self.directory.count_error(&error);
                    warn!(%error, "cannot register a newcomer's name; joining unverified");
                    return None;
                }
                Err(_) => {
                    self.metrics.directory_errors.inc();
                    warn!("registering a newcomer's name timed out; joining unverified");
                    return None;
                }
            }
        }
        None
    }

    /// Notes in the background that a key logged in (and fills in what a key migrated from a
    /// name claim lacked).
    fn note_login(&self, key: &CheckedKey) {
        let directory = Arc::clone(self.directory.directory());
        let (fingerprint, algorithm, line) = (
            key.fingerprint.clone(),
            key.algorithm.clone(),
            key.line.clone(),
        );
        let errors = self.metrics.directory_errors.clone();
        tokio::spawn(async move {
            let touch = directory.touch_key(&fingerprint, &algorithm, &line, Utc::now());
            match tokio::time::timeout(REGISTER_TIMEOUT, touch).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => {
                    errors.inc();
                }
            }
        });
    }

    /// Carries out `/keys` for a member of `account_id` logged in with `my_key`: the text to
    /// show, or why it failed.
    pub async fn manage_keys(
        &self,
        account_id: &str,
        my_name: &str,
        my_key: Option<&str>,
        command: KeysCommand,
    ) -> Result<String, String> {
        let directory = self.directory.directory();
        let actor = Actor::new(format!("{my_name} (/keys)"), my_key.map(str::to_owned));
        let failed = |error: DirectoryError| {
            self.directory.count_error(&error);
            error.to_string()
        };
        match command {
            KeysCommand::List => {
                let account = directory
                    .account_by_id(account_id)
                    .await
                    .map_err(failed)?
                    .ok_or_else(|| "your account is gone".to_owned())?;
                Ok(describe_keys(&account, my_key))
            }
            KeysCommand::Add { line } => {
                let key = keys::check_line(&line).map_err(|e| e.to_string())?;
                let account = directory
                    .add_key(account_id, key.to_new_key(""), &actor, Utc::now())
                    .await
                    .map_err(failed)?;
                self.account_changed(&account, &actor, &format!("add key {}", key.fingerprint));
                self.directory.forget_key(&key.fingerprint);
                Ok(format!(
                    "added {} {}; it logs in as {} from now on",
                    key.algorithm, key.fingerprint, account.name
                ))
            }
            KeysCommand::Remove {
                fingerprint,
                confirmed,
            } => {
                let fingerprint = normalize_fingerprint(&fingerprint);
                if Some(fingerprint.as_str()) == my_key && !confirmed {
                    return Err(format!(
                        "that is the key you are logged in with; to remove it anyway, type \
                         /keys remove {fingerprint} --yes"
                    ));
                }
                let account = directory
                    .remove_key(&fingerprint, Some(account_id), &actor)
                    .await
                    .map_err(|e| match e {
                        DirectoryError::LastKey => {
                            "that is your account's last key, and an account keeps at least one"
                                .to_owned()
                        }
                        other => failed(other),
                    })?;
                self.account_changed(&account, &actor, &format!("remove key {fingerprint}"));
                self.directory.forget_key(&fingerprint);
                Ok(format!(
                    "removed {fingerprint}; it can no longer log in as {}",
                    account.name
                ))
            }
            KeysCommand::Label { fingerprint, label } => {
                let fingerprint = normalize_fingerprint(&fingerprint);
                directory
                    .set_label(account_id, &fingerprint, &label, &actor)
                    .await
                    .map_err(failed)?;
                Ok(format!("{fingerprint} is labelled {:?}", label.trim()))
            }
        }
    }

    /// Logs a change to an account (under `chat::audit`), counts it, and forgets what the
    /// login cache knew of the account. Every front-end that changes an account calls it.
    pub fn account_changed(&self, account: &Account, actor: &Actor, action: &str) {
        self.metrics.account_changes.inc();
        info!(target: "chat::audit", by = %actor.who, by_fingerprint = actor.fingerprint.as_deref().unwrap_or("none"), account = %account.name, action, "account change");
        self.directory.forget_account(&account.id);
    }

    /// Carries out the account changes the hub recorded (renames, operator grants), in
    /// order, retrying while the directory is out; and keeps the hub's knowledge of names in
    /// step with the directory. Reports how far it got, so that an answer promising a change
    /// waits for it ([`crate::persist::PersistLink::hold_back`]).
    pub(crate) async fn run_directory_worker(self: Arc<Self>, feed: DirectoryFeed) {
        let DirectoryFeed {
            mut records,
            progress,
        } = feed;
        let mut refresh = tokio::time::interval(self.config.account_refresh);
        refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut known: HashMap<String, AccountRef> = HashMap::new();
        loop {
            tokio::select! {
                record = records.recv() => match record {
                    Some((seq, record)) => {
                        let mut backoff = Duration::from_millis(100);
                        while let Err(error) = self.apply_account_record(&record).await {
                            progress.failed(&error);
                            tokio::time::sleep(backoff).await;
                            backoff = (backoff * 2).min(Duration::from_secs(30));
                        }
                        if progress.done(seq) {
                            info!("the key directory is writable again");
                        }
                    }
                    None => return,
                },
                _ = refresh.tick() => self.refresh_accounts(&mut known).await,
            }
        }
    }

    /// Carries out one account change: the error if the directory is out and it should be
    /// tried again. A refusal is final, and the hub is told.
    async fn apply_account_record(&self, record: &Record) -> Result<(), DirectoryError> {
        let directory = self.directory.directory();
        let actor = Actor::new("chat", None);
        match record {
            Record::Claim { account, name } => {
                match directory.rename_account(account, name, &actor).await {
                    Ok(renamed) => {
                        self.account_changed(&renamed, &actor, &format!("rename to {name}"))
                    }
                    Err(DirectoryError::NameTaken { .. }) => {
                        let owner = directory
                            .account_by_name(name)
                            .await
                            .ok()
                            .flatten()
                            .map(|a| (a.id, a.name));
                        self.hub
                            .lock()
                            .claim_refused(account, name, owner, Utc::now());
                    }
                    Err(DirectoryError::NoSuchAccount) => {
                        self.hub.lock().account_deleted(account, Utc::now());
                    }
                    Err(error) => {
                        self.directory.count_error(&error);
                        if error.is_outage() {
                            warn!(%error, %account, %name, "cannot rename the account in the directory; will try again");
                            return Err(error);
                        }
                        warn!(%error, %account, %name, "the directory refused the rename; the name holds for this session");
                    }
                }
            }
            Record::Operator { account, granted } => {
                match directory.set_operator(account, *granted, &actor).await {
                    Ok(changed) => {
                        let what = if *granted {
                            "make operator"
                        } else {
                            "unmake operator"
                        };
                        self.account_changed(&changed, &actor, what);
                    }
                    Err(error) => {
                        self.directory.count_error(&error);
                        if error.is_outage() {
                            warn!(%error, %account, granted, "cannot store the operator grant in the directory; will try again");
                            return Err(error);
                        }
                        warn!(%error, %account, granted, "the directory refused the operator grant; it holds for this session");
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Reads every account again (what the hub needs of it, not its keys) and tells the hub
    /// what changed since the last time.
    async fn refresh_accounts(&self, known: &mut HashMap<String, AccountRef>) {
        let accounts = match self.directory.directory().account_refs().await {
            Ok(accounts) => accounts,
            Err(error) => {
                self.directory.count_error(&error);
                warn!(%error, "cannot read the accounts from the directory; will try again");
                return;
            }
        };
        let fresh: HashMap<String, AccountRef> =
            accounts.into_iter().map(|a| (a.id.clone(), a)).collect();
        let now = Utc::now();
        let mut hub = self.hub.lock();
        for (id, account) in &fresh {
            if known.get(id) != Some(account) {
                hub.account_changed(account, now);
            }
        }
        for id in known.keys().filter(|id| !fresh.contains_key(*id)) {
            hub.account_deleted(id, now);
        }
        drop(hub);
        *known = fresh;
    }
}

/// `SHA256:…` as typed, with the prefix added if it was left off.
fn normalize_fingerprint(text: &str) -> String {
    let text = text.trim();
    if text.starts_with("SHA256:") {
        text.to_owned()
    } else {
        format!("SHA256:{text}")
    }
}

/// `/keys`: one key per line, the one in use marked.
pub fn describe_keys(account: &Account, my_key: Option<&str>) -> String {
    let mut text = format!("keys of {}:", account.name);
    for key in &account.keys {
        let algorithm = if key.algorithm.is_empty() {
            "type unknown until its next login"
        } else {
            key.algorithm.as_str()
        };
        let label = if key.label.is_empty() {
            String::new()
        } else {
            format!(" \"{}\"", key.label)
        };
        let used = key.last_used_at.map_or_else(
            || "never used".to_owned(),
            |at| format!("last used {}", at.format("%Y-%m-%d %H:%M")),
        );
        let this = if Some(key.fingerprint.as_str()) == my_key {
            " (this session)"
        } else {
            ""
        };
        text.push_str(&format!(
            "\n  {} {algorithm}{label}, added {}, {used}{this}",
            key.fingerprint,
            key.added_at.format("%Y-%m-%d"),
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RuntimeConfig;
    use chat_store::directory::{Directory, SqliteDirectory, conformance::key};

    /// Waits (up to 10 s) until the hub says `name` is owned by `account`.
    async fn until_owner(runtime: &Runtime, name: &str, account: Option<&str>) {
        for _ in 0..1000 {
            if runtime.hub.lock().owner_of(name) == account {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the hub never had {name} owned by {account:?}");
    }

    #[tokio::test]
    async fn changes_made_elsewhere_in_the_directory_reach_the_hub_at_the_next_refresh() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("chat.db");
        let directory = Arc::new(SqliteDirectory::open(&database).unwrap());
        // Another process on the same file, as `chat-cli accounts` is.
        let elsewhere = SqliteDirectory::open(&database).unwrap();
        let actor = Actor::new("test", None);
        let runtime = Runtime::new(RuntimeConfig {
            directory: directory.clone(),
            account_refresh: Duration::from_millis(20),
            ..RuntimeConfig::default()
        })
        .unwrap();
        runtime.start();

        let alice = elsewhere
            .create_account("alice", key(1), false, &actor, Utc::now())
            .await
            .unwrap();
        until_owner(&runtime, "alice", Some(&alice.id)).await;
        elsewhere
            .rename_account(&alice.id, "alicia", &actor)
            .await
            .unwrap();
        until_owner(&runtime, "alicia", Some(&alice.id)).await;
        elsewhere
            .set_operator(&alice.id, true, &actor)
            .await
            .unwrap();
        for _ in 0..1000 {
            if runtime.hub.lock().is_operator(None, Some(&alice.id)) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(runtime.hub.lock().is_operator(None, Some(&alice.id)));
        elsewhere.delete_account(&alice.id, &actor).await.unwrap();
        until_owner(&runtime, "alicia", None).await;
        runtime.close().await;
    }
}
