//! A simple [`Outbox`] for tests and single-threaded embedders.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;

use crate::event::Event;
use crate::hub::Outbox;

/// A bounded queue of events: the hub offers into one clone, the reader takes from another.
/// When it holds `capacity` events it refuses more, as a slow member's outbox would.
#[derive(Debug, Clone)]
pub struct Mailbox {
    queue: Rc<RefCell<VecDeque<Arc<Event>>>>,
    capacity: usize,
}

impl Mailbox {
    pub fn new(capacity: usize) -> Self {
        Self {
            queue: Rc::default(),
            capacity,
        }
    }

    /// Takes everything queued so far.
    pub fn take(&self) -> Vec<Arc<Event>> {
        self.queue.borrow_mut().drain(..).collect()
    }

    pub fn len(&self) -> usize {
        self.queue.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.borrow().is_empty()
    }
}

impl Outbox for Mailbox {
    fn offer(&self, event: Arc<Event>) -> bool {
        let mut queue = self.queue.borrow_mut();
        if queue.len() >= self.capacity {
            return false;
        }
        queue.push_back(event);
        true
    }
}
