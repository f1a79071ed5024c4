//! A directory in memory: for tests, and for a server run without a disk.

use std::collections::HashMap;

use async_trait::async_trait;
use chat_core::name;
use chrono::{DateTime, Utc};
use parking_lot::Mutex;

use super::{
    Account, AccountKey, Actor, Directory, DirectoryAudit, DirectoryError, Login,
    MAX_KEYS_PER_ACCOUNT, NewKey, check_name, clean_label, new_account_id,
};

#[derive(Debug, Default)]
struct State {
    accounts: HashMap<String, Account>,
    /// Folded name → account id.
    names: HashMap<String, String>,
    /// Fingerprint → account id.
    keys: HashMap<String, String>,
    audit: Vec<DirectoryAudit>,
}

impl State {
    fn account(&self, id: &str) -> Result<&Account, DirectoryError> {
        self.accounts.get(id).ok_or(DirectoryError::NoSuchAccount)
    }

    fn name_taken(&self, wanted: &str, except: Option<&str>) -> Option<DirectoryError> {
        let holder = self.names.get(&name::fold(wanted))?;
        if Some(holder.as_str()) == except {
            return None;
        }
        Some(DirectoryError::NameTaken {
            wanted: wanted.to_owned(),
            taken: self.accounts[holder].name.clone(),
        })
    }

    fn audit(&mut self, actor: &Actor, action: String) {
        self.audit.push(DirectoryAudit {
            at: Utc::now(),
            actor: actor.clone(),
            action,
        });
    }

    fn insert(&mut self, account: Account) -> Account {
        self.names
            .insert(name::fold(&account.name), account.id.clone());
        for key in &account.keys {
            self.keys
                .insert(key.fingerprint.clone(), account.id.clone());
        }
        self.accounts.insert(account.id.clone(), account.clone());
        account
    }
}

/// Every account in a `Mutex`, gone when dropped.
#[derive(Debug, Default)]
pub struct MemoryDirectory {
    state: Mutex<State>,
}

impl MemoryDirectory {
    pub fn new() -> Self {
        Self::default()
    }
}

fn key_row(key: NewKey, now: DateTime<Utc>) -> Result<AccountKey, DirectoryError> {
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
impl Directory for MemoryDirectory {
    fn describe(&self) -> String {
        "memory".to_owned()
    }

    async fn login(
        &self,
        fingerprint: &str,
        wanted_name: Option<&str>,
    ) -> Result<Login, DirectoryError> {
        let state = self.state.lock();
        let account = state
            .keys
            .get(fingerprint)
            .and_then(|id| state.accounts.get(id))
            .cloned();
        let name_owner = wanted_name
            .and_then(name::clean_name)
            .and_then(|wanted| state.names.get(&name::fold(&wanted)))
            .map(|id| (id.clone(), state.accounts[id].name.clone()));
        Ok(Login {
            account,
            name_owner,
        })
    }

    async fn account_by_name(&self, name: &str) -> Result<Option<Account>, DirectoryError> {
        let state = self.state.lock();
        Ok(state
            .names
            .get(&name::fold(name))
            .and_then(|id| state.accounts.get(id))
            .cloned())
    }

    async fn account_by_id(&self, id: &str) -> Result<Option<Account>, DirectoryError> {
        Ok(self.state.lock().accounts.get(id).cloned())
    }

    async fn accounts(&self) -> Result<Vec<Account>, DirectoryError> {
        let mut all: Vec<Account> = self.state.lock().accounts.values().cloned().collect();
        all.sort_by(|a, b| {
            a.name
                .to_lowercase()
                .cmp(&b.name.to_lowercase())
                .then_with(|| a.name.cmp(&b.name))
        });
        Ok(all)
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
        let key = key_row(key, now)?;
        let mut state = self.state.lock();
        if let Some(taken) = state.name_taken(name, None) {
            return Err(taken);
        }
        if state.keys.contains_key(&key.fingerprint) {
            return Err(DirectoryError::KeyTaken { account: None });
        }
        let action = format!("create account {name} with key {}", key.fingerprint);
        let account = state.insert(Account {
            id: new_account_id(),
            name: name.to_owned(),
            operator,
            created_at: now,
            keys: vec![key],
        });
        state.audit(actor, action);
        Ok(account)
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
        let mut state = self.state.lock();
        if state.accounts.contains_key(&account.id) {
            return Err(DirectoryError::Backend(format!(
                "an account with id {} exists",
                account.id
            )));
        }
        if let Some(taken) = state.name_taken(&account.name, None) {
            return Err(taken);
        }
        if account
            .keys
            .iter()
            .any(|k| state.keys.contains_key(&k.fingerprint))
        {
            return Err(DirectoryError::KeyTaken { account: None });
        }
        let action = format!(
            "import account {} with {} keys",
            account.name,
            account.keys.len()
        );
        let account = state.insert(account.clone());
        state.audit(actor, action);
        Ok(account)
    }

    async fn add_key(
        &self,
        account_id: &str,
        key: NewKey,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Account, DirectoryError> {
        let key = key_row(key, now)?;
        let mut state = self.state.lock();
        let account = state.account(account_id)?;
        if account.keys.len() >= MAX_KEYS_PER_ACCOUNT {
            return Err(DirectoryError::TooManyKeys {
                max: MAX_KEYS_PER_ACCOUNT,
            });
        }
        if state.keys.contains_key(&key.fingerprint) {
            return Err(DirectoryError::KeyTaken { account: None });
        }
        let action = format!("add key {} to {}", key.fingerprint, account.name);
        state
            .keys
            .insert(key.fingerprint.clone(), account_id.to_owned());
        let account = state
            .accounts
            .get_mut(account_id)
            .expect("checked above under the same lock");
        account.keys.push(key);
        let account = account.clone();
        state.audit(actor, action);
        Ok(account)
    }

    async fn remove_key(
        &self,
        fingerprint: &str,
        account_id: Option<&str>,
        actor: &Actor,
    ) -> Result<Account, DirectoryError> {
        let mut state = self.state.lock();
        let holder = state
            .keys
            .get(fingerprint)
            .filter(|holder| account_id.is_none_or(|only| only == holder.as_str()))
            .cloned()
            .ok_or_else(|| DirectoryError::NoSuchKey {
                fingerprint: fingerprint.to_owned(),
                in_account: account_id.is_some(),
            })?;
        let account = state.account(&holder)?;
        if account.keys.len() <= 1 {
            return Err(DirectoryError::LastKey);
        }
        let action = format!("remove key {fingerprint} from {}", account.name);
        state.keys.remove(fingerprint);
        let account = state
            .accounts
            .get_mut(&holder)
            .expect("checked above under the same lock");
        account.keys.retain(|k| k.fingerprint != fingerprint);
        let account = account.clone();
        state.audit(actor, action);
        Ok(account)
    }

    async fn rename_account(
        &self,
        account_id: &str,
        new_name: &str,
        actor: &Actor,
    ) -> Result<Account, DirectoryError> {
        check_name(new_name)?;
        let mut state = self.state.lock();
        let old = state.account(account_id)?.name.clone();
        if let Some(taken) = state.name_taken(new_name, Some(account_id)) {
            return Err(taken);
        }
        state.names.remove(&name::fold(&old));
        state
            .names
            .insert(name::fold(new_name), account_id.to_owned());
        let account = state
            .accounts
            .get_mut(account_id)
            .expect("checked above under the same lock");
        account.name = new_name.to_owned();
        let account = account.clone();
        state.audit(actor, format!("rename account {old} to {new_name}"));
        Ok(account)
    }

    async fn set_label(
        &self,
        account_id: &str,
        fingerprint: &str,
        label: &str,
        actor: &Actor,
    ) -> Result<Account, DirectoryError> {
        let label = clean_label(label)?;
        let mut state = self.state.lock();
        state.account(account_id)?;
        let account = state
            .accounts
            .get_mut(account_id)
            .expect("checked above under the same lock");
        let Some(key) = account
            .keys
            .iter_mut()
            .find(|k| k.fingerprint == fingerprint)
        else {
            return Err(DirectoryError::NoSuchKey {
                fingerprint: fingerprint.to_owned(),
                in_account: true,
            });
        };
        key.label = label.clone();
        let account = account.clone();
        state.audit(
            actor,
            format!("label key {fingerprint} of {} {label:?}", account.name),
        );
        Ok(account)
    }

    async fn set_operator(
        &self,
        account_id: &str,
        operator: bool,
        actor: &Actor,
    ) -> Result<Account, DirectoryError> {
        let mut state = self.state.lock();
        state.account(account_id)?;
        let account = state
            .accounts
            .get_mut(account_id)
            .expect("checked above under the same lock");
        account.operator = operator;
        let account = account.clone();
        let what = if operator { "make" } else { "unmake" };
        state.audit(actor, format!("{what} {} an operator", account.name));
        Ok(account)
    }

    async fn delete_account(&self, account_id: &str, actor: &Actor) -> Result<(), DirectoryError> {
        let mut state = self.state.lock();
        let account = state
            .accounts
            .remove(account_id)
            .ok_or(DirectoryError::NoSuchAccount)?;
        state.names.remove(&name::fold(&account.name));
        for key in &account.keys {
            state.keys.remove(&key.fingerprint);
        }
        state.audit(
            actor,
            format!(
                "delete account {} and its {} keys",
                account.name,
                account.keys.len()
            ),
        );
        Ok(())
    }

    async fn touch_key(
        &self,
        fingerprint: &str,
        algorithm: &str,
        public_key: &str,
        at: DateTime<Utc>,
    ) -> Result<(), DirectoryError> {
        let mut state = self.state.lock();
        let Some(id) = state.keys.get(fingerprint).cloned() else {
            return Ok(());
        };
        if let Some(key) = state
            .accounts
            .get_mut(&id)
            .and_then(|a| a.keys.iter_mut().find(|k| k.fingerprint == fingerprint))
        {
            key.last_used_at = Some(at);
            if key.algorithm.is_empty() {
                key.algorithm = algorithm.to_owned();
            }
            if key.public_key.is_empty() {
                key.public_key = public_key.to_owned();
            }
        }
        Ok(())
    }

    async fn audit_log(&self, limit: usize) -> Result<Vec<DirectoryAudit>, DirectoryError> {
        Ok(self
            .state
            .lock()
            .audit
            .iter()
            .rev()
            .take(limit)
            .cloned()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_memory_directory_conforms() {
        super::super::conformance::run_all(&|| {
            Box::pin(async { Arc::new(MemoryDirectory::new()) as Arc<dyn Directory> })
        })
        .await;
    }
}
