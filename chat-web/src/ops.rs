//! The account changes the web makes, each done the way every front-end must: in the
//! directory (which enforces uniqueness), with an [`Actor`] for its audit trail, logged under
//! `chat::audit` and counted ([`Runtime::account_changed`]), the login cache told, and the
//! hub told at once so that a new name is protected and a deleted one freed without waiting
//! for the directory worker's next refresh.

use std::time::Duration;

use chat_server::Runtime;
use chat_server::chat_core::AccountRef;
use chat_server::chat_store::directory::{Account, Actor, DirectoryError};
use chat_server::keys::CheckedKey;
use chrono::{DateTime, Utc};

/// How long one directory call may take before the page says the key store is unavailable.
const DIRECTORY_TIMEOUT: Duration = Duration::from_secs(5);

async fn bounded<T>(
    call: impl Future<Output = Result<T, DirectoryError>>,
) -> Result<T, DirectoryError> {
    tokio::time::timeout(DIRECTORY_TIMEOUT, call)
        .await
        .unwrap_or_else(|_| {
            Err(DirectoryError::Unavailable(
                "no answer within 5 s".to_owned(),
            ))
        })
}

fn counted<T>(runtime: &Runtime, result: Result<T, DirectoryError>) -> Result<T, DirectoryError> {
    if let Err(error) = &result {
        runtime.directory.count_error(error);
    }
    result
}

/// Creates the account `name` holding `key`.
pub async fn create_account(
    runtime: &Runtime,
    name: &str,
    key: &CheckedKey,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Account, DirectoryError> {
    let directory = runtime.directory.directory();
    let created =
        bounded(directory.create_account(name, key.to_new_key(""), false, actor, now)).await;
    let account = counted(runtime, created)?;
    runtime.account_changed(
        &account,
        actor,
        &format!("create account {name} with key {}", key.fingerprint),
    );
    runtime.directory.forget_key(&key.fingerprint);
    runtime
        .hub
        .lock()
        .account_changed(&AccountRef::from(&account), now);
    Ok(account)
}

/// Adds `key` (labelled `label`) to the account.
pub async fn add_key(
    runtime: &Runtime,
    account_id: &str,
    key: &CheckedKey,
    label: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Account, DirectoryError> {
    let directory = runtime.directory.directory();
    let added = bounded(directory.add_key(account_id, key.to_new_key(label), actor, now)).await;
    let account = counted(runtime, added)?;
    runtime.account_changed(&account, actor, &format!("add key {}", key.fingerprint));
    runtime.directory.forget_key(&key.fingerprint);
    Ok(account)
}

/// Removes the key `fingerprint` from the account (never its last).
pub async fn remove_key(
    runtime: &Runtime,
    account_id: &str,
    fingerprint: &str,
    actor: &Actor,
) -> Result<Account, DirectoryError> {
    let directory = runtime.directory.directory();
    let removed = bounded(directory.remove_key(fingerprint, Some(account_id), actor)).await;
    let account = counted(runtime, removed)?;
    runtime.account_changed(&account, actor, &format!("remove key {fingerprint}"));
    runtime.directory.forget_key(fingerprint);
    Ok(account)
}

/// Labels a key of the account.
pub async fn set_label(
    runtime: &Runtime,
    account_id: &str,
    fingerprint: &str,
    label: &str,
    actor: &Actor,
) -> Result<Account, DirectoryError> {
    let directory = runtime.directory.directory();
    let labelled = bounded(directory.set_label(account_id, fingerprint, label, actor)).await;
    let account = counted(runtime, labelled)?;
    runtime.account_changed(
        &account,
        actor,
        &format!("label key {fingerprint} {label:?}"),
    );
    Ok(account)
}

/// Deletes the account: its keys no longer log in as it, and its name is free.
pub async fn delete_account(
    runtime: &Runtime,
    account: &Account,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(), DirectoryError> {
    let directory = runtime.directory.directory();
    let deleted = bounded(directory.delete_account(&account.id, actor)).await;
    counted(runtime, deleted)?;
    runtime.account_changed(account, actor, "delete account");
    for key in &account.keys {
        runtime.directory.forget_key(&key.fingerprint);
    }
    runtime.signin.forget_account(&account.id);
    runtime.hub.lock().account_deleted(&account.id, now);
    Ok(())
}

/// Reads an account, bounded like the changes.
pub async fn account(runtime: &Runtime, id: &str) -> Result<Option<Account>, DirectoryError> {
    let found = bounded(runtime.directory.directory().account_by_id(id)).await;
    counted(runtime, found)
}

/// The account holding the key `fingerprint`, if any.
pub async fn account_of_key(
    runtime: &Runtime,
    fingerprint: &str,
) -> Result<Option<Account>, DirectoryError> {
    let found = bounded(runtime.directory.directory().login(fingerprint, None)).await;
    counted(runtime, found).map(|login| login.account)
}
