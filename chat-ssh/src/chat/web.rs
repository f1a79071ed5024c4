//! `ssh host web` (or `/web`): a one-time link that signs a browser in as the key's account.
//!
//! The link is issued by the runtime both front-ends share ([`chat_server::signin`]), so
//! this crate and the web front-end never meet. Without an account, or with the web
//! front-end off, it says so and exits 1.

use chat_server::signin::LINK_TTL;
use chrono::Utc;
use tracing::info;

use super::output::Output;
use super::{ChatStart, OnDrop};

/// Whether an exec command asks for a sign-in link.
pub(crate) fn is_web(line: &str) -> bool {
    line == "/web"
}

pub(crate) async fn run_web(start: ChatStart) {
    let shared = std::sync::Arc::clone(&start.shared);
    let runtime = &shared.runtime;
    runtime.metrics.session_opened("exec");
    let _closed_session = OnDrop(|| runtime.metrics.session_closed("exec"));
    let account = start
        .key
        .as_deref()
        .and_then(|(key, lookup)| lookup.account().map(|account| (key, account)));
    let (text, failed) = match (&runtime.config.web_url, account) {
        (None, _) => (
            "The web front-end is off on this server, so there is no link to sign in with.\n"
                .to_owned(),
            true,
        ),
        (Some(url), None) if start.key.is_none() => (
            format!(
                "You connected without a key, so there is no account to sign in to. Connect \
                 with your key (ssh -i ...), or register one at {url}/register\n"
            ),
            true,
        ),
        (Some(url), None) => (
            format!(
                "Your key has no account on this server. Register it at {url}/register, then \
                 ask again.\n"
            ),
            true,
        ),
        (Some(url), Some((key, account))) => {
            let token = runtime
                .signin
                .issue(&account.id, Some(&key.fingerprint), Utc::now());
            info!(account = %account.name, fingerprint = %key.fingerprint, "issued a web sign-in link");
            (
                format!(
                    "Open this link in your browser to sign in as {} (it works once, within {} \
                     minutes):\n{url}/signin/{token}\n",
                    account.name,
                    LINK_TTL.num_minutes()
                ),
                false,
            )
        }
    };
    let mut bytes = text.into_bytes();
    if start.size.is_some() {
        // A PTY needs carriage returns.
        bytes = super::exec::crlf(&bytes);
    }
    let output = Output::spawn(start.target());
    if failed {
        output.send_stderr(bytes);
    } else {
        output.send(&mut bytes);
    }
    output
        .finish(u32::from(failed), shared.config.stall_timeout)
        .await;
}
