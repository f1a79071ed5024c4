//! `chat-core`: the chat itself, with no network, no SSH, no threads and no clock.
//!
//! This crate is the hub of a hub-and-spoke chat server. It is *sans-IO*: every input is a
//! method call (with the current time passed in), every output is data returned or pushed into
//! a sink you supply. That makes it embeddable in any server (SSH, WebSocket, IRC, a plain TCP
//! socket, a test) and every behaviour testable in a plain `#[test]`.
//!
//! # The parts
//! - [`Hub`]: members, names, rooms, history and commands. It routes each [`Event`] into the
//!   [`Outbox`] of every member who should see it, and never waits on any of them.
//! - [`Session`]: one member's terminal: the [`LineEditor`](editor::LineEditor) for keystrokes,
//!   display preferences, and the [`render`] of events into terminal bytes.
//! - [`Command`]: the command language (`/nick`, `/msg`, ...), parsed in one place.
//! - [`sanitize`](sanitize::sanitize): what keeps one user's bytes from reaching another's
//!   terminal as control sequences.
//!
//! # Embedding
//! Keep one `Hub` for the whole server (behind a mutex if connections run on several threads;
//! never hold the lock while waiting on I/O). Then, per connection:
//!
//! 1. **Connect**: give the member an outbox (for example a bounded channel to the
//!    connection's task, wrapped to implement [`Outbox`] with a non-blocking send) and call
//!    [`Hub::join`]. Make a [`Session`] from the returned id and [`Hub::me`], as
//!    [`SessionKind::Interactive`] with the terminal size for a terminal or
//!    [`SessionKind::Plain`] for a pipe, and write what [`Session::start`] produces.
//! 2. **Type**: pass the bytes the client sent to [`Session::feed`] with something that
//!    implements [`Chat`] (the hub itself, or a wrapper that locks it per call), and write out
//!    the bytes it appended. If it returns [`Flow::Exit`], close the connection.
//! 3. **Receive**: when events arrive in the outbox, pass them to [`Session::show`] and write
//!    the bytes. If your outbox refused events while full, call [`Hub::flush_missed`] once it
//!    has drained, so the member learns how many it missed.
//! 4. **Resize**: call [`Session::resize`] with the new [`TermSize`].
//! 5. **Leave**: call [`Hub::leave`] when the connection ends, however it ends.
//!
//! `examples/tcp_chat.rs` does all of this over plain TCP in under 150 lines:
//!
//! ```
//! use chat_core::{Hub, HubConfig, JoinRequest, Session, SessionKind, outbox::Mailbox};
//! use chrono::Utc;
//!
//! let mut hub = Hub::new(HubConfig::default());
//! let alice_box = Mailbox::new(64);
//! let alice = hub.join(JoinRequest::named("alice"), alice_box.clone(), Utc::now());
//! let bob = hub.join(JoinRequest::named("bob"), Mailbox::new(64), Utc::now());
//!
//! let mut session = Session::new(bob, hub.me(bob).unwrap(), SessionKind::Plain, 1000);
//! let mut out = Vec::new();
//! session.feed(b"hello alice\n", Utc::now(), &mut hub, &mut out);
//!
//! let mut screen = Vec::new();
//! let mut alice_session = Session::new(alice, hub.me(alice).unwrap(), SessionKind::Plain, 1000);
//! alice_session.show(&alice_box.take(), &mut screen);
//! assert!(String::from_utf8(screen).unwrap().contains("bob: hello alice"));
//! ```

pub mod command;
pub mod editor;
pub mod event;
pub mod hub;
pub mod journal;
pub mod name;
pub mod outbox;
pub mod prefs;
pub mod rate;
pub mod render;
pub mod reply;
pub mod sanitize;
pub mod session;

pub use command::{Command, KeysCommand, ParseError};
pub use event::{Event, EventKind, NoticeLevel};
pub use hub::{
    AccountRef, Chat, Hub, HubConfig, HubStats, JoinRequest, Me, MemberId, Outbox, Outcome, Request,
};
pub use prefs::{Prefs, Theme, TimestampMode, UtcOffset};
pub use render::prompt::TermSize;
pub use reply::Reply;
pub use session::{Flow, Session, SessionKind};
