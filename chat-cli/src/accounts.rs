//! `chat-cli accounts`: operators manage accounts in the same directory the server uses.
//!
//! It works while the server runs (SQLite shares the database file; DynamoDB is shared by
//! nature); the server sees a change within its cache's lifetime (15 s for a key that logs
//! in, 30 s, or 5 minutes with DynamoDB, for the list of names). Every change is audited in
//! the directory and logged under `chat::audit`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chat_core::name;
use chat_ssh::chat_server::accounts::describe_keys;
use chat_ssh::chat_server::keyfile;
use chat_ssh::chat_server::keys::{self, CheckedKey};
use chat_ssh::chat_store::directory::{Account, Actor, Directory, DirectoryError};
use chrono::Utc;
use clap::{Args, Subcommand};
use tracing::info;

use crate::directory::{DirectorySpec, database_path};

/// Which directory to work on: the same flags (and variables) as `serve`.
#[derive(Debug, Args)]
pub struct DirectoryArgs {
    /// Where accounts live: `sqlite` (in the database) or `dynamodb://TABLE?region=R[&endpoint=URL]`.
    #[arg(long, env = "CHAT_DIRECTORY", default_value = "sqlite")]
    pub directory: DirectorySpec,

    /// The server's data directory (for the SQLite database).
    #[arg(long, env = "CHAT_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// The database [default: DATA_DIR/chat.db].
    #[arg(long, env = "CHAT_DATABASE", value_name = "FILE")]
    pub database: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct AccountsArgs {
    #[command(flatten)]
    pub target: DirectoryArgs,

    #[command(subcommand)]
    pub command: AccountsCommand,
}

#[derive(Debug, Subcommand)]
pub enum AccountsCommand {
    /// List every account: name, keys, operator, created.
    List,
    /// Show one account and its keys.
    Show { name: String },
    /// Add the key in PUBKEY_FILE to the account NAME, creating the account if it is new.
    Add {
        name: String,
        pubkey_file: PathBuf,
        /// What to call the key [default: the key's comment].
        #[arg(long)]
        label: Option<String>,
    },
    /// Remove a key from whichever account holds it (never an account's last key).
    RemoveKey { fingerprint: String },
    /// Delete an account and all its keys; its name is free at once.
    Delete { name: String },
    /// Make an account's members operators (or, with --off, stop).
    Operator {
        name: String,
        #[arg(long)]
        off: bool,
    },
    /// Add every key of an authorized_keys file: one account per key comment (the part before
    /// any `@`), or all into `--name`.
    Import {
        authorized_keys_file: PathBuf,
        #[arg(long)]
        name: Option<String>,
    },
    /// Show the newest changes to the directory, and who made them.
    Audit {
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
}

type CliResult = Result<(), Box<dyn std::error::Error>>;

pub fn run(args: AccountsArgs) -> CliResult {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let directory = open(&args.target).await?;
        execute(directory.as_ref(), args.command, &mut std::io::stdout()).await
    })
}

pub async fn open(
    target: &DirectoryArgs,
) -> Result<Arc<dyn Directory>, Box<dyn std::error::Error>> {
    let database = database_path(&target.data_dir, target.database.as_ref());
    if target.directory == DirectorySpec::Sqlite && !database.exists() {
        return Err(format!(
            "there is no database at {}: is --data-dir (or --database) the server's?",
            database.display()
        )
        .into());
    }
    Ok(target.directory.open(&database).await?)
}

/// Who `chat-cli` acts as, for the audit trail.
fn operator() -> Actor {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".to_owned());
    Actor::new(format!("{user} (chat-cli accounts)"), None)
}

fn audited(actor: &Actor, action: &str) {
    info!(target: "chat::audit", by = %actor.who, action, "account change");
}

/// Carries out one command, writing what it did to `out`.
pub async fn execute(
    directory: &dyn Directory,
    command: AccountsCommand,
    out: &mut impl std::io::Write,
) -> CliResult {
    let actor = operator();
    match command {
        AccountsCommand::List => {
            let accounts = directory.accounts().await?;
            if accounts.is_empty() {
                writeln!(out, "no accounts yet")?;
            }
            let width = accounts
                .iter()
                .map(|a| a.name.chars().count())
                .max()
                .unwrap_or(4)
                .max(4);
            if !accounts.is_empty() {
                writeln!(out, "{:width$}  KEYS  OPERATOR  CREATED", "NAME")?;
            }
            for a in &accounts {
                writeln!(
                    out,
                    "{:width$}  {:4}  {:8}  {}",
                    a.name,
                    a.keys.len(),
                    if a.operator { "yes" } else { "no" },
                    a.created_at.format("%Y-%m-%d %H:%M")
                )?;
            }
        }
        AccountsCommand::Show { name } => {
            let account = by_name(directory, &name).await?;
            writeln!(
                out,
                "{}{}, created {} UTC (id {})",
                account.name,
                if account.operator { " (operator)" } else { "" },
                account.created_at.format("%Y-%m-%d %H:%M"),
                account.id
            )?;
            writeln!(out, "{}", describe_keys(&account, None))?;
        }
        AccountsCommand::Add {
            name,
            pubkey_file,
            label,
        } => {
            let key = one_key(&pubkey_file)?;
            let line = add(
                directory,
                &name,
                &key,
                label.as_deref().unwrap_or(""),
                &actor,
            )
            .await?;
            writeln!(out, "{line}")?;
        }
        AccountsCommand::RemoveKey { fingerprint } => {
            let account = directory
                .remove_key(&fingerprint, None, &actor)
                .await
                .map_err(|e| match e {
                    DirectoryError::LastKey => format!(
                        "{fingerprint} is its account's last key; to remove the account, use \
                         `chat-cli accounts delete NAME`"
                    ),
                    other => other.to_string(),
                })?;
            audited(
                &actor,
                &format!("remove key {fingerprint} from {}", account.name),
            );
            writeln!(out, "removed {fingerprint} from {}", account.name)?;
        }
        AccountsCommand::Delete { name } => {
            let account = by_name(directory, &name).await?;
            directory.delete_account(&account.id, &actor).await?;
            audited(&actor, &format!("delete account {}", account.name));
            writeln!(
                out,
                "deleted {} and its {} keys",
                account.name,
                account.keys.len()
            )?;
        }
        AccountsCommand::Operator { name, off } => {
            let account = by_name(directory, &name).await?;
            let account = directory.set_operator(&account.id, !off, &actor).await?;
            let what = if off { "is no longer" } else { "is now" };
            audited(&actor, &format!("{} {what} an operator", account.name));
            writeln!(out, "{} {what} an operator", account.name)?;
        }
        AccountsCommand::Import {
            authorized_keys_file,
            name,
        } => {
            import(
                directory,
                &authorized_keys_file,
                name.as_deref(),
                &actor,
                out,
            )
            .await?
        }
        AccountsCommand::Audit { limit } => {
            for entry in directory.audit_log(limit).await? {
                writeln!(
                    out,
                    "{} UTC  {}  {}",
                    entry.at.format("%Y-%m-%d %H:%M:%S"),
                    entry.actor.who,
                    entry.action
                )?;
            }
        }
    }
    Ok(())
}

async fn by_name(directory: &dyn Directory, name: &str) -> Result<Account, String> {
    directory
        .account_by_name(name)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("there is no account called {name}"))
}

/// The one public key in a file (a `.pub` file, or an `authorized_keys` file of one key).
fn one_key(path: &Path) -> Result<CheckedKey, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if keys::looks_private(&text) {
        return Err(format!(
            "{} is a PRIVATE key: give the public one (the .pub file beside it)",
            path.display()
        ));
    }
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    match lines.as_slice() {
        [line] => keys::check_line(line).map_err(|e| format!("{}: {e}", path.display())),
        [] => Err(format!("{} holds no key", path.display())),
        _ => Err(format!(
            "{} holds {} keys; give one, or use `chat-cli accounts import`",
            path.display(),
            lines.len()
        )),
    }
}

/// Adds `key` to the account `name`, creating the account if there is none. Returns what
/// was done, in words.
async fn add(
    directory: &dyn Directory,
    name: &str,
    key: &CheckedKey,
    label: &str,
    actor: &Actor,
) -> Result<String, String> {
    let clean = name::clean_name(name)
        .filter(|clean| clean == name)
        .ok_or_else(|| {
            format!(
                "{name:?} is not a name: use letters, digits and _ - . (at most {} of them)",
                name::MAX_NAME_CHARS
            )
        })?;
    let new_key = key.to_new_key(label);
    let existing = directory
        .account_by_name(&clean)
        .await
        .map_err(|e| e.to_string())?;
    let (account, done) = match existing {
        Some(account) => (
            directory
                .add_key(&account.id, new_key, actor, Utc::now())
                .await
                .map_err(|e| key_error(e, key))?,
            "added",
        ),
        None => (
            directory
                .create_account(&clean, new_key, false, actor, Utc::now())
                .await
                .map_err(|e| key_error(e, key))?,
            "created the account with",
        ),
    };
    let line = format!(
        "{}: {done} {} {}",
        account.name, key.algorithm, key.fingerprint
    );
    audited(actor, &line);
    Ok(line)
}

fn key_error(error: DirectoryError, key: &CheckedKey) -> String {
    match error {
        DirectoryError::KeyTaken { .. } => {
            format!("{} is already in an account", key.fingerprint)
        }
        other => other.to_string(),
    }
}

async fn import(
    directory: &dyn Directory,
    path: &Path,
    name: Option<&str>,
    actor: &Actor,
    out: &mut impl std::io::Write,
) -> CliResult {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if keys::looks_private(&text) {
        return Err(format!(
            "{} holds a PRIVATE key; nothing was imported",
            path.display()
        )
        .into());
    }
    let listed = keyfile::parse(&text)
        .map_err(|(line, reason)| format!("{}:{line}: {reason}", path.display()))?;
    let mut failures = 0;
    for entry in &listed {
        let result = match keys::check_key(entry.key.clone()) {
            Err(e) => Err(e.to_string()),
            Ok(key) => match name
                .map(str::to_owned)
                .or_else(|| name_from_comment(&key.comment))
            {
                None => Err("the key has no comment to name its account by; use --name".to_owned()),
                Some(account) => add(directory, &account, &key, "", actor).await,
            },
        };
        match result {
            Ok(done) => writeln!(out, "line {}: {done}", entry.line)?,
            Err(why) => {
                failures += 1;
                writeln!(out, "line {}: skipped: {why}", entry.line)?;
            }
        }
    }
    if failures > 0 {
        return Err(format!("{failures} of {} keys were not imported", listed.len()).into());
    }
    Ok(())
}

/// `alice@laptop` → `alice`: a key comment's user part, cleaned as names are.
fn name_from_comment(comment: &str) -> Option<String> {
    let user = comment.split('@').next().unwrap_or(comment);
    name::clean_name(user)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_ssh::chat_store::MemoryDirectory;

    const ALICE: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIh8wpbTszHvcXMbDCvnlD7LQXiJmPJ3/JrmlBspY3sO alice@laptop";

    async fn run(directory: &dyn Directory, command: AccountsCommand) -> Result<String, String> {
        let mut out = Vec::new();
        execute(directory, command, &mut out)
            .await
            .map_err(|e| e.to_string())?;
        Ok(String::from_utf8(out).unwrap())
    }

    fn file(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[tokio::test]
    async fn add_show_remove_and_delete() {
        let dir = tempfile::tempdir().unwrap();
        let d = MemoryDirectory::new();
        let key = file(dir.path(), "alice.pub", &format!("{ALICE}\n"));
        let done = run(
            &d,
            AccountsCommand::Add {
                name: "alice".into(),
                pubkey_file: key.clone(),
                label: Some("laptop".into()),
            },
        )
        .await
        .unwrap();
        assert!(
            done.starts_with("alice: created the account with ssh-ed25519 SHA256:"),
            "{done}"
        );
        let shown = run(
            &d,
            AccountsCommand::Show {
                name: "ALICE".into(),
            },
        )
        .await
        .unwrap();
        assert!(shown.contains("\"laptop\""), "{shown}");
        let listed = run(&d, AccountsCommand::List).await.unwrap();
        assert!(listed.contains("alice"), "{listed}");
        let again = run(
            &d,
            AccountsCommand::Add {
                name: "bob".into(),
                pubkey_file: key,
                label: None,
            },
        )
        .await
        .unwrap_err();
        assert!(again.contains("already in an account"), "{again}");
        let fingerprint = d.accounts().await.unwrap()[0].keys[0].fingerprint.clone();
        let last = run(&d, AccountsCommand::RemoveKey { fingerprint })
            .await
            .unwrap_err();
        assert!(last.contains("accounts delete"), "{last}");
        let gone = run(
            &d,
            AccountsCommand::Delete {
                name: "alice".into(),
            },
        )
        .await
        .unwrap();
        assert_eq!(gone, "deleted alice and its 1 keys\n");
        assert!(d.accounts().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn bad_input_is_refused_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let d = MemoryDirectory::new();
        let cases = [
            (
                "private",
                "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n",
                "alice",
                "PRIVATE key",
            ),
            ("garbage", "hello world\n", "alice", "not a public key line"),
            ("empty", "\n# nothing\n", "alice", "holds no key"),
            ("good", ALICE, "!!!", "is not a name"),
            ("good2", ALICE, "al ice", "is not a name"),
        ];
        for (file_name, text, name, expected) in cases {
            let path = file(dir.path(), file_name, text);
            let error = run(
                &d,
                AccountsCommand::Add {
                    name: name.into(),
                    pubkey_file: path,
                    label: None,
                },
            )
            .await
            .unwrap_err();
            assert!(error.contains(expected), "{file_name}: {error}");
        }
        let missing = run(
            &d,
            AccountsCommand::Add {
                name: "alice".into(),
                pubkey_file: dir.path().join("nope.pub"),
                label: None,
            },
        )
        .await
        .unwrap_err();
        assert!(missing.starts_with("cannot read"), "{missing}");
        let unknown = run(&d, AccountsCommand::Show { name: "zed".into() })
            .await
            .unwrap_err();
        assert_eq!(unknown, "there is no account called zed");
        assert!(d.accounts().await.unwrap().is_empty(), "nothing was made");
    }

    #[tokio::test]
    async fn import_makes_one_account_per_comment() {
        let dir = tempfile::tempdir().unwrap();
        let d = MemoryDirectory::new();
        let dsa = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../chat-server/tests/fixtures/keys/dsa.pub"
        ))
        .unwrap();
        let ecdsa = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../chat-server/tests/fixtures/keys/ecdsa.pub"
        ))
        .unwrap();
        let path = file(
            dir.path(),
            "authorized_keys",
            &format!("# team\n{ALICE}\n{ecdsa}{dsa}"),
        );
        let error = run(
            &d,
            AccountsCommand::Import {
                authorized_keys_file: path.clone(),
                name: None,
            },
        )
        .await
        .unwrap_err();
        assert_eq!(error, "1 of 3 keys were not imported");
        let names: Vec<String> = d
            .accounts()
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.name)
            .collect();
        assert_eq!(names, ["alice", "ecdsa"], "the DSA key was refused");
    }
}
