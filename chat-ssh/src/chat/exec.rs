//! A one-shot command (`ssh host /who`): run as an invisible member, its output printed
//! (errors on standard error), its exit status 1 if it failed.

use std::sync::Arc;

use chat_core::render::{self, View};
use chat_core::{Event, JoinRequest, NoticeLevel, Request};
use chrono::Utc;
use tracing::debug;

use super::output::Output;
use super::{ChatStart, OnDrop};
use chat_server::hub::MemberOutbox;

pub(crate) async fn run_exec(start: ChatStart, command: String) {
    let shared = Arc::clone(&start.shared);
    shared.runtime.metrics.session_opened("exec");
    let _closed_session = OnDrop(|| shared.runtime.metrics.session_closed("exec"));
    // `ssh host who` means `/who`.
    let line = match command.trim() {
        c if c.starts_with('/') => c.to_owned(),
        c => format!("/{c}"),
    };
    let (outbox, mut ends) = MemberOutbox::channel(shared.runtime.config.outbox_capacity);
    let now = Utc::now();
    let mut request = JoinRequest::named(start.user.clone()).invisible();
    request.fingerprint = start.fingerprint.clone();
    request.ip = Some(start.ip);
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
    if let Some(Request::History { room, limit }) = outcome.request.clone() {
        let lines = shared.runtime.history(&room, limit).await;
        let header = format!("the last {} lines in {room}:", lines.len());
        events.push(Event::notice(now, NoticeLevel::Info, header));
        events.extend(lines);
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
        .finish(u32::from(outcome.failed), shared.config.stall_timeout)
        .await;
}

fn crlf(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + text.len() / 16);
    for &b in text {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}
