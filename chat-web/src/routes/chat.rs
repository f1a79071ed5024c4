//! `/chat`, the chat in the browser, and `/ws`, its WebSocket: the JSON protocol
//! (`docs/protocol.md`) with one message per text frame, a thin adapter over
//! [`chat_server::json::run_as`]. Only a signed-in browser gets in, from this site's own pages
//! (the `Origin` must be the public URL), as its account with the key it signed in with, past
//! the same checks as an SSH login (bans, the join policy).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chat_server::accounts::{Arrival, KeyVerdict};
use chat_server::json::{self, InputLimits, JsonInput, JsonSink, JsonSource};
use chat_server::keys::{self, CheckedKey};
use futures_util::stream::SplitStream;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::ops;
use crate::state::{AppState, Ctx, SignedIn};
use crate::views;

/// Bytes queued for a socket past which the driver stops taking its events (the hub then
/// counts what it misses), as for an SSH channel.
const BACKLOG_LIMIT: usize = 64 * 1024;

/// How long the key store may take to say whether the key may come in.
const LOOKUP_DEADLINE: Duration = Duration::from_secs(5);

/// Time to say goodbye before the socket is closed anyway.
const GOODBYE: Duration = Duration::from_secs(2);

/// `GET /chat`: the page; its script connects to `/ws`.
pub async fn show(ctx: Ctx, State(state): State<Arc<AppState>>, _me: SignedIn) -> Response {
    let markup = views::chat::page(ctx.frame(&state));
    ctx.page(&state, StatusCode::OK, markup)
}

fn refuse(status: StatusCode, text: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{text}\n"),
    )
        .into_response()
}

/// Whether `headers` say the request comes from a page of `public_url` (browsers always
/// send `Origin` with a WebSocket handshake; a page of another site cannot forge it).
fn same_origin(headers: &HeaderMap, public_url: &str) -> bool {
    headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|origin| {
            origin
                .trim_end_matches('/')
                .eq_ignore_ascii_case(public_url)
        })
}

/// `GET /ws`: the WebSocket of a signed-in browser.
pub async fn socket(
    ctx: Ctx,
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let Some(me) = ctx.signed_in.clone() else {
        return refuse(StatusCode::UNAUTHORIZED, "sign in first: /signin");
    };
    if !same_origin(&headers, &state.public_url.url) {
        info!(target: "chat::web", ip = %ctx.ip, "refused a WebSocket from another origin");
        return refuse(StatusCode::FORBIDDEN, "not from this site's own page");
    }
    let Ok(upgrade) = upgrade else {
        return refuse(StatusCode::BAD_REQUEST, "this is a WebSocket endpoint");
    };
    let account = match ops::account(&state.runtime, me.account_id()).await {
        Ok(Some(account)) => account,
        Ok(None) => {
            state.sessions.end(&me.token);
            return refuse(StatusCode::UNAUTHORIZED, "the account is gone");
        }
        Err(error) => {
            warn!(target: "chat::web", %error, "the key store failed a WebSocket");
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "the key store is unavailable",
            );
        }
    };
    // The key the session signed in with, as the directory stores it: the member's identity,
    // as its SSH login would be.
    let checked: Option<CheckedKey> = me.session.fingerprint.as_deref().and_then(|fingerprint| {
        let stored = account.keys.iter().find(|k| k.fingerprint == fingerprint)?;
        keys::check_line(&stored.public_key)
            .ok()
            .filter(|k| k.fingerprint == fingerprint)
    });
    let Some(checked) = checked else {
        return refuse(
            StatusCode::FORBIDDEN,
            "the key you signed in with is no longer on your account; sign in again",
        );
    };
    let KeyVerdict { refusal, lookup } = Box::pin(state.runtime.check_key(
        &checked,
        &account.name,
        Some(ctx.ip),
        LOOKUP_DEADLINE,
    ))
    .await;
    if let Some(refusal) = refusal {
        info!(target: "chat::web", ip = %ctx.ip, account = %account.name, %refusal, "refused a WebSocket");
        return refuse(StatusCode::FORBIDDEN, &refusal);
    }
    let arrival = Arrival {
        name: account.name.clone(),
        key: Some((checked, lookup)),
        ip: Some(ctx.ip),
        visible: true,
    };
    upgrade
        .max_message_size(json::protocol::MAX_LINE_BYTES * 2)
        .on_upgrade(move |socket| run(state, socket, arrival))
}

async fn run(state: Arc<AppState>, socket: WebSocket, arrival: Arrival) {
    let (writer, reader) = socket.split();
    let limits = InputLimits {
        burst_bytes: state.limits.ws_input_burst_bytes,
        bytes_per_second: state.limits.ws_input_bytes_per_second,
    };
    let (sink, task) = Sink::spawn(writer, state.limits.ws_stall_timeout);
    let mut source = Source(reader);
    let ending = json::run_as(&state.runtime, arrival, limits, false, &mut source, &sink).await;
    // Dropping the queue lets the writer send what is left, then a close frame.
    drop(sink);
    if tokio::time::timeout(GOODBYE, task).await.is_err() {
        info!(target: "chat::web", ?ending, "a WebSocket did not take its goodbye in time");
    }
}

/// The socket's incoming frames as the driver reads them.
struct Source(SplitStream<WebSocket>);

impl JsonSource for Source {
    async fn recv(&mut self) -> Option<JsonInput> {
        loop {
            match self.0.next().await? {
                Ok(Message::Text(text)) => {
                    return Some(JsonInput::Message(text.as_bytes().to_vec()));
                }
                // Not JSON, so the driver answers with a `malformed` error, as for any bad message.
                Ok(Message::Binary(_)) => {
                    return Some(JsonInput::Message(
                        b"(a binary frame: send each message as a text frame)".to_vec(),
                    ));
                }
                Ok(Message::Ping(_) | Message::Pong(_)) => {}
                Ok(Message::Close(_)) | Err(_) => return None,
            }
        }
    }
}

/// The socket's outgoing side: a queue a writer task empties, one text frame per line.
struct Sink {
    queue: mpsc::UnboundedSender<Vec<u8>>,
    backlog: Arc<AtomicUsize>,
    drained: Arc<Notify>,
    stopped: CancellationToken,
}

impl Sink {
    fn spawn<W>(writer: W, stall: Duration) -> (Self, tokio::task::JoinHandle<()>)
    where
        W: futures_util::Sink<Message> + Unpin + Send + 'static,
    {
        let (queue, rx) = mpsc::unbounded_channel();
        let sink = Sink {
            queue,
            backlog: Arc::new(AtomicUsize::new(0)),
            drained: Arc::new(Notify::new()),
            stopped: CancellationToken::new(),
        };
        let task = tokio::spawn(write(
            writer,
            rx,
            Arc::clone(&sink.backlog),
            Arc::clone(&sink.drained),
            sink.stopped.clone(),
            stall,
        ));
        (sink, task)
    }
}

/// Sends the queued lines, one text frame each; cuts the socket off if one frame cannot go
/// out within `stall` (the client stopped reading), and ends on the queue's end with a close.
async fn write<W: futures_util::Sink<Message> + Unpin>(
    mut writer: W,
    mut rx: mpsc::UnboundedReceiver<Vec<u8>>,
    backlog: Arc<AtomicUsize>,
    drained: Arc<Notify>,
    stopped: CancellationToken,
    stall: Duration,
) {
    let cut = |why: &str| {
        warn!(target: "chat::web", ?stall, why, "closing a WebSocket");
        stopped.cancel();
    };
    while let Some(bytes) = rx.recv().await {
        for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            // The driver's lines are JSON it encoded: UTF-8 always.
            let text = String::from_utf8_lossy(line).into_owned();
            let sent =
                tokio::time::timeout(stall, writer.feed(Message::Text(Utf8Bytes::from(text))));
            match sent.await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return cut("the socket is gone"),
                Err(_) => return cut("the client stopped reading"),
            }
        }
        match tokio::time::timeout(stall, writer.flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return cut("the socket is gone"),
            Err(_) => return cut("the client stopped reading"),
        }
        backlog.fetch_sub(bytes.len(), Ordering::AcqRel);
        drained.notify_waiters();
    }
    let _ = tokio::time::timeout(GOODBYE, writer.send(Message::Close(None))).await;
    stopped.cancel();
}

impl JsonSink for Sink {
    fn send(&self, bytes: Vec<u8>) {
        if bytes.is_empty() || self.stopped.is_cancelled() {
            return;
        }
        self.backlog.fetch_add(bytes.len(), Ordering::AcqRel);
        if self.queue.send(bytes).is_err() {
            self.stopped.cancel();
        }
    }

    fn is_backed_up(&self) -> bool {
        self.backlog.load(Ordering::Acquire) >= BACKLOG_LIMIT
    }

    async fn drained(&self) {
        let notified = self.drained.notified();
        if !self.is_backed_up() {
            return;
        }
        tokio::select! {
            () = notified => {}
            () = self.stopped.cancelled() => {}
        }
    }

    async fn stopped(&self) {
        self.stopped.cancelled().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use tokio_util::sync::PollSender;

    #[tokio::test]
    async fn each_line_goes_out_as_one_text_frame_without_its_newline() {
        let (tx, mut rx) = mpsc::channel(16);
        let (sink, task) = Sink::spawn(PollSender::new(tx), Duration::from_secs(5));
        sink.send(b"{\"type\":\"a\"}\n{\"type\":\"b\"}\n".to_vec());
        assert!(!sink.is_backed_up());
        drop(sink);
        let mut frames = Vec::new();
        while let Some(frame) = rx.recv().await {
            frames.push(frame);
        }
        task.await.unwrap();
        assert_eq!(
            frames,
            [
                Message::Text(r#"{"type":"a"}"#.into()),
                Message::Text(r#"{"type":"b"}"#.into()),
                Message::Close(None),
            ]
        );
    }

    #[tokio::test]
    async fn a_client_that_stops_reading_is_cut_off_after_the_stall_limit() {
        // A socket that takes one frame and then never another.
        let (tx, _never_read) = mpsc::channel(1);
        let (sink, _task) = Sink::spawn(PollSender::new(tx), Duration::from_millis(200));
        sink.send(b"{}\n{}\n{}\n".to_vec());
        tokio::time::timeout(Duration::from_secs(5), sink.stopped())
            .await
            .expect("cut off within the stall limit");
        sink.send(b"{}\n".to_vec());
        assert!(
            !sink.is_backed_up(),
            "nothing more is queued for a socket that is gone"
        );
    }

    #[tokio::test]
    async fn a_backlog_past_the_limit_is_backed_up_until_it_drains() {
        let (tx, mut rx) = mpsc::channel(1);
        let (sink, _task) = Sink::spawn(PollSender::new(tx), Duration::from_secs(5));
        let line = [vec![b'x'; 1023], vec![b'\n']].concat();
        for _ in 0..(BACKLOG_LIMIT / line.len() + 1) {
            sink.send(line.clone());
        }
        assert!(sink.is_backed_up());
        let reader = tokio::spawn(async move { while rx.recv().await.is_some() {} });
        tokio::time::timeout(Duration::from_secs(5), async {
            while sink.is_backed_up() {
                sink.drained().await;
            }
        })
        .await
        .expect("the backlog drains once the client reads");
        drop(sink);
        reader.await.unwrap();
    }

    #[test]
    fn only_the_public_origin_is_the_same_origin() {
        let url = "https://chat.example.org";
        let mut headers = HeaderMap::new();
        assert!(!same_origin(&headers, url), "no Origin is refused");
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://chat.example.org"),
        );
        assert!(same_origin(&headers, url));
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(!same_origin(&headers, url));
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://chat.example.org"),
        );
        assert!(
            !same_origin(&headers, url),
            "another scheme is another origin"
        );
    }
}
