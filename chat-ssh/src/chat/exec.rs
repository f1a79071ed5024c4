//! A one-shot command (`ssh host /who`): run as an invisible member, its output printed
//! (errors on standard error), its exit status 1 if it failed. `web` is its own
//! command ([`super::web`]): it needs no member in the hub.

use std::sync::Arc;

use chat_core::render::{self, View};
use chat_core::{Event, NoticeLevel, Request};
use chrono::Utc;
use tracing::debug;

use super::output::Output;
use super::{ChatStart, OnDrop};
use chat_server::accounts::Arrival;
use chat_server::hub::MemberOutbox;

pub(crate) async fn run_exec(start: ChatStart, command: String) {
    // `ssh host who` means `/who`.
    let line = match command.trim() {
        c if c.starts_with('/') => c.to_owned(),
        c => format!("/{c}"),
    };
    if super::web::is_web(&line) {
        return super::web::run_web(start).await;
    }
    let shared = Arc::clone(&start.shared);
    shared.runtime.metrics.session_opened("exec");
    let _closed_session = OnDrop(|| shared.runtime.metrics.session_closed("exec"));
    let (outbox, mut ends) = MemberOutbox::channel(shared.runtime.config.outbox_capacity);
    let now = Utc::now();
    let request = Box::pin(shared.runtime.join_request(Arrival {
        name: start.user.clone(),
        key: start.key.as_deref().cloned(),
        ip: Some(start.ip),
        visible: false,
    }))
    .await;
    let account = request.account.as_ref().map(|a| a.id.clone());
    let outcome = {
        let mut hub = shared.runtime.hub.lock();
        let id = hub.join(request, outbox, now);
        let outcome = hub.submit(id, &line, now);
        hub.leave(id, now);
        outcome
    };
    debug!(command = %line, failed = outcome.failed, "exec");
    let mut events: Vec<Event> = std::iter::from_fn(|| ends.events.try_recv().ok())
        .map(|e| (*e).clone())
        .collect();
    let mut failed = outcome.failed;
    match outcome.request.clone() {
        Some(Request::History { room, limit }) => {
            let lines = shared.runtime.history(&room, limit).await;
            let header = format!("the last {} lines in {room}:", lines.len());
            events.push(Event::notice(now, NoticeLevel::Info, header));
            events.extend(lines);
        }
        Some(Request::Keys(command)) => {
            let my_key = start
                .key
                .as_deref()
                .map(|(key, _)| key.fingerprint.as_str());
            let result = match &account {
                Some(account) => {
                    let name = outcome.me.name.clone();
                    Box::pin(shared.runtime.manage_keys(account, &name, my_key, command)).await
                }
                None => Err("you have no account".to_owned()),
            };
            let (level, text) = match result {
                Ok(text) => (NoticeLevel::Info, text),
                Err(text) => {
                    failed = true;
                    (NoticeLevel::Error, text)
                }
            };
            events.push(Event::notice(now, level, text));
        }
        Some(Request::Reload) => {
            let (level, text) = match shared.runtime.reload() {
                Ok(summary) => (NoticeLevel::Info, format!("reloaded: {summary}")),
                Err(error) => {
                    failed = true;
                    (
                        NoticeLevel::Error,
                        format!("reload failed, the old lists stay: {error}"),
                    )
                }
            };
            events.push(Event::notice(now, level, text));
        }
        None => {}
    }
    // "they will get your message" is printed only once the message is stored.
    let mut reader = chat_server::persist::Reader::new(outcome.me.name.clone());
    if let Some(warning) = shared.runtime.persist.hold_back(&events, &mut reader).await {
        events.push(warning);
    }
    let view = View {
        me: &outcome.me.name,
        prefs: &outcome.me.prefs,
    };
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    for event in &events {
        let target = if event.is_error() {
            &mut stderr
        } else {
            &mut stdout
        };
        render::write_plain(&render::event_lines(event, &view).lines, target);
    }
    if start.size.is_some() {
        // A PTY needs carriage returns.
        stdout = crlf(&stdout);
        stderr = crlf(&stderr);
    }
    let output = Output::spawn(start.target());
    output.send(&mut stdout);
    output.send_stderr(stderr);
    output
        .finish(u32::from(failed), shared.config.stall_timeout)
        .await;
}

pub(super) fn crlf(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + text.len() / 16);
    for &b in text {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}
