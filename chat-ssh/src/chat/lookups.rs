//! What the hub asks the SSH front-end to do on a member's behalf, and showing the result on
//! the member's terminal.

use chat_core::{NoticeLevel, Request, Session};
use chrono::Utc;

use crate::server::Shared;

/// Does what the hub asked the edge to do for the member, and shows the result.
pub(super) async fn fulfil(
    shared: &Shared,
    session: &mut Session,
    my_key: Option<&str>,
    request: Request,
    out: &mut Vec<u8>,
) {
    match request {
        Request::History { room, limit } => {
            let lines = shared.runtime.history(&room, limit).await;
            session.show_history(&room, &lines, Utc::now(), out);
        }
        Request::Reload => {
            let (level, text) = match shared.runtime.reload() {
                Ok(summary) => (NoticeLevel::Info, format!("reloaded: {summary}")),
                Err(error) => (
                    NoticeLevel::Error,
                    format!("reload failed, the old lists stay: {error}"),
                ),
            };
            session.show_notice(Utc::now(), level, &text, out);
        }
        Request::Keys(command) => {
            let account = shared
                .runtime
                .hub
                .lock()
                .account_of(session.id())
                .map(str::to_owned);
            let result = match account {
                Some(account) => {
                    let name = session.me().name.clone();
                    shared
                        .runtime
                        .manage_keys(&account, &name, my_key, command)
                        .await
                }
                None => Err("you have no account".to_owned()),
            };
            let (level, text) = match result {
                Ok(text) => (NoticeLevel::Info, text),
                Err(text) => (NoticeLevel::Error, text),
            };
            session.show_notice(Utc::now(), level, &text, out);
        }
    }
}
