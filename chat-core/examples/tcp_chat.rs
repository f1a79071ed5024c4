//! The same chat over plain TCP: `cargo run -p chat-core --example tcp_chat -- 127.0.0.1:7000`,
//! then `nc localhost 7000` in a few terminals. Each connection is a plain session: type a
//! line and press Enter; `/help` lists the commands.
//!
//! This is the whole recipe for embedding chat-core: one hub behind a mutex, and per
//! connection an outbox (a bounded channel), a session, and a task that moves bytes.

use std::sync::{Arc, Mutex};

use chat_core::{
    Chat, Event, Flow, Hub, HubConfig, JoinRequest, MemberId, Outbox, Outcome, Session, SessionKind,
};
use chrono::Utc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// How many events may wait for one connection before the hub drops some for it.
const OUTBOX_CAPACITY: usize = 256;

/// A member's outbox: a bounded channel to its connection's task. `try_send` never waits.
struct ChannelOutbox(mpsc::Sender<Arc<Event>>);

impl Outbox for ChannelOutbox {
    fn offer(&self, event: Arc<Event>) -> bool {
        self.0.try_send(event).is_ok()
    }
}

type SharedHub = Arc<Mutex<Hub<ChannelOutbox>>>;

/// Gives a session the hub, locking it for each call and never across an `.await`.
struct Locked<'a>(&'a SharedHub);

impl Chat for Locked<'_> {
    fn submit(&mut self, id: MemberId, line: &str, now: chrono::DateTime<Utc>) -> Outcome {
        self.0
            .lock()
            .expect("a panic while holding the hub lock is a bug")
            .submit(id, line, now)
    }

    fn complete(&mut self, id: MemberId, word: &str) -> Vec<String> {
        self.0
            .lock()
            .expect("a panic while holding the hub lock is a bug")
            .complete(id, word)
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7000".to_owned());
    let listener = TcpListener::bind(&addr).await?;
    println!(
        "chat on {addr}: connect with `nc {}`",
        addr.replace(':', " ")
    );
    let hub: SharedHub = Arc::new(Mutex::new(Hub::new(HubConfig::default())));
    loop {
        let (stream, peer) = listener.accept().await?;
        let hub = Arc::clone(&hub);
        tokio::spawn(async move {
            if let Err(error) = serve(stream, format!("tcp{}", peer.port()), hub).await {
                eprintln!("{peer}: {error}");
            }
        });
    }
}

/// One connection: join, then move bytes both ways until either side is done, then leave.
async fn serve(mut stream: TcpStream, name: String, hub: SharedHub) -> std::io::Result<()> {
    let (tx, mut rx) = mpsc::channel(OUTBOX_CAPACITY);
    let (id, me, max_chars) = {
        let mut hub = hub.lock().expect("hub lock");
        let id = hub.join(JoinRequest::named(name), ChannelOutbox(tx), Utc::now());
        let me = hub.me(id).expect("a member that just joined exists");
        (id, me, hub.config().max_message_chars)
    };
    let mut session = Session::new(id, me, SessionKind::Plain, max_chars);
    let result = pump(&mut stream, &mut session, &mut rx, &hub).await;
    hub.lock().expect("hub lock").leave(id, Utc::now());
    result
}

async fn pump(
    stream: &mut TcpStream,
    session: &mut Session,
    rx: &mut mpsc::Receiver<Arc<Event>>,
    hub: &SharedHub,
) -> std::io::Result<()> {
    let mut buf = [0u8; 4096];
    let mut out = Vec::new();
    loop {
        out.clear();
        tokio::select! {
            read = stream.read(&mut buf) => {
                let n = read?;
                let flow = if n == 0 {
                    session.end_of_input(Utc::now(), &mut Locked(hub), &mut out)
                } else {
                    session.feed(&buf[..n], Utc::now(), &mut Locked(hub), &mut out)
                };
                stream.write_all(&out).await?;
                if flow == Flow::Exit {
                    return Ok(());
                }
            }
            Some(first) = rx.recv() => {
                // Take whatever else is waiting too: one write for a burst of events.
                let mut events = vec![first];
                while let Ok(event) = rx.try_recv() {
                    events.push(event);
                }
                session.show(&events, &mut out);
                stream.write_all(&out).await?;
                hub.lock().expect("hub lock").flush_missed(session.id(), Utc::now());
            }
        }
    }
}
