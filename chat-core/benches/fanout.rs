//! The hub's fan-out: one said line submitted to a room of 10 to 10,000 members.
//!
//! Two kinds of outbox: `sink` accepts and drops each event (the hub's own routing cost), and
//! `mpsc` is a bounded tokio channel per member like the SSH server's, drained between
//! submits (outside the timed part) so that it never fills. The clock is virtual and moves a
//! second per line, so no rate limit ever refuses one.

use std::cell::Cell;
use std::hint::black_box;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chat_core::{Event, Hub, HubConfig, JoinRequest, MemberId, Outbox};
use chrono::{DateTime, TimeDelta, Utc};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tokio::sync::mpsc;

/// Events a member's channel holds, as in the server.
const CAPACITY: usize = 256;

/// An outbox that, while `live` is off (as members join), accepts and drops everything.
struct BenchOutbox {
    channel: Option<mpsc::Sender<Arc<Event>>>,
    live: Rc<Cell<bool>>,
}

impl Outbox for BenchOutbox {
    fn offer(&self, event: Arc<Event>) -> bool {
        match &self.channel {
            Some(channel) if self.live.get() => channel.try_send(event).is_ok(),
            _ => {
                black_box(event);
                true
            }
        }
    }
}

/// A hub with its members in the lobby, and the receiving ends of their channels.
struct Room {
    hub: Hub<BenchOutbox>,
    ids: Vec<MemberId>,
    receivers: Vec<mpsc::Receiver<Arc<Event>>>,
    /// The virtual clock.
    now: DateTime<Utc>,
}

impl Room {
    fn new(members: usize, channels: bool) -> Self {
        let mut hub = Hub::new(HubConfig::default());
        let live = Rc::new(Cell::new(false));
        let mut now = Utc::now();
        let mut ids = Vec::with_capacity(members);
        let mut receivers = Vec::new();
        for i in 0..members {
            let channel = channels.then(|| {
                let (tx, rx) = mpsc::channel(CAPACITY);
                receivers.push(rx);
                tx
            });
            let outbox = BenchOutbox {
                channel,
                live: Rc::clone(&live),
            };
            ids.push(hub.join(JoinRequest::named(format!("user{i}")), outbox, now));
            now += TimeDelta::milliseconds(1);
        }
        live.set(true);
        Self {
            hub,
            ids,
            receivers,
            now,
        }
    }
}

fn fanout(c: &mut Criterion) {
    let line = "hello everyone, this is a fairly typical line of chat";
    let mut group = c.benchmark_group("fanout");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for members in [10, 100, 1_000, 10_000] {
        group.throughput(Throughput::Elements(members as u64));
        for channels in [false, true] {
            let name = if channels { "mpsc" } else { "sink" };
            let mut room = Room::new(members, channels);
            let mut turn = 0;
            group.bench_function(BenchmarkId::new(name, members), |b| {
                b.iter_custom(|iters| {
                    let mut spent = Duration::ZERO;
                    for _ in 0..iters {
                        let from = room.ids[turn % room.ids.len().min(10)];
                        turn += 1;
                        room.now += TimeDelta::seconds(1);
                        let start = Instant::now();
                        black_box(room.hub.submit(from, line, room.now));
                        spent += start.elapsed();
                        for receiver in &mut room.receivers {
                            while receiver.try_recv().is_ok() {}
                        }
                    }
                    spent
                });
            });
        }
    }
    group.finish();
}

criterion_group!(benches, fanout);
criterion_main!(benches);
