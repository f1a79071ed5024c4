//! The one piece of state connections share: the hub, behind a mutex, and the outbox that
//! connects it to a connection's task.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chat_core::{Chat, Event, Hub, MemberId, Outbox, Outcome};
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::persist::EdgeJournal;

/// The hub as every connection sees it. Lock it for a method call at a time and never across
/// an `.await` (a `parking_lot` guard is not `Send`, so the compiler enforces this).
pub type SharedHub = Arc<Mutex<Hub<MemberOutbox, EdgeJournal>>>;

/// A member's outbox: the sending side of a bounded channel to its connection's task.
#[derive(Debug)]
pub struct MemberOutbox {
    events: mpsc::Sender<Arc<Event>>,
    /// Set when an event was refused, so the task asks the hub to report the count once it
    /// has caught up.
    refused: Arc<AtomicBool>,
    closing: Closing,
}

/// The hub's request to close a member's connection, and why.
#[derive(Debug, Clone, Default)]
pub struct Closing {
    token: CancellationToken,
    reason: Arc<Mutex<Option<String>>>,
}

impl Closing {
    /// Fires once the hub has asked for the connection to close.
    pub fn token(&self) -> CancellationToken {
        self.token.clone()
    }

    /// Why the hub closed the connection, if it did.
    pub fn reason(&self) -> Option<String> {
        if self.token.is_cancelled() {
            Some(self.reason.lock().clone().unwrap_or_default())
        } else {
            None
        }
    }
}

/// Both ends of a member's outbox, as the connection task holds them.
#[derive(Debug)]
pub struct OutboxEnds {
    pub events: mpsc::Receiver<Arc<Event>>,
    pub refused: Arc<AtomicBool>,
    pub closing: Closing,
}

impl MemberOutbox {
    /// An outbox holding at most `capacity` events, and the ends the connection task keeps.
    pub fn channel(capacity: usize) -> (Self, OutboxEnds) {
        let (events, receiver) = mpsc::channel(capacity.max(1));
        let refused = Arc::new(AtomicBool::new(false));
        let closing = Closing::default();
        let outbox = Self {
            events,
            refused: Arc::clone(&refused),
            closing: closing.clone(),
        };
        let ends = OutboxEnds {
            events: receiver,
            refused,
            closing,
        };
        (outbox, ends)
    }
}

impl Outbox for MemberOutbox {
    fn offer(&self, event: Arc<Event>) -> bool {
        let accepted = self.events.try_send(event).is_ok();
        if !accepted {
            self.refused.store(true, Ordering::Relaxed);
        }
        accepted
    }

    fn disconnect(&self, reason: &str) {
        *self.closing.reason.lock() = Some(reason.to_owned());
        self.closing.token.cancel();
    }
}

/// Lets a session call into the shared hub, taking the lock for each call.
#[derive(Debug)]
pub struct Locked<'a>(pub &'a SharedHub);

impl Chat for Locked<'_> {
    fn submit(&mut self, id: MemberId, line: &str, now: DateTime<Utc>) -> Outcome {
        self.0.lock().submit(id, line, now)
    }

    fn complete(&mut self, id: MemberId, word: &str) -> Vec<String> {
        self.0.lock().complete(id, word)
    }
}
