//! One process of a run split over processes: `bench ARGS --shard I/K --tag TAG`, started by
//! its parent (see `parent`). It opens its share of the sessions and goes through the phases
//! as the parent says, telling it how far it is and, at the end, what it measured (see
//! [`shard`](super::shard) for the messages). It does not read the server: the parent does,
//! between the phases.
//!
//! When its stdin closes (the parent is gone) or says `stop`, it cuts the run short as Ctrl-C
//! would, and so stops within a few seconds.

use std::io::{BufRead, Write};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::client::Shared;
use super::progress::Progress;
use super::readings::Readings;
use super::run::{self, Shard};
use super::shard::{self, FromShard, ShardOf, Spread, ToShard};
use super::token::Tag;
use super::{BenchArgs, BenchError};

/// How often a process tells its parent its counters, whatever it is doing.
pub(super) const HEARTBEAT: Duration = Duration::from_millis(500);

/// Runs process `me` of a split run against `addr_text`, with run tag `tag`.
pub(super) async fn run(
    args: &BenchArgs,
    addr_text: &str,
    me: ShardOf,
    tag: Tag,
) -> Result<(), BenchError> {
    let stop = run::stop_on_ctrl_c();
    let mut commands = listen(stop.clone());
    let (out, writer) = speak(stop.clone());
    let addrs = run::resolve_all(args, addr_text).await?;
    let plan = shard::plan(
        args.users + args.slow_readers,
        args.senders,
        args.connect_concurrency,
        me.count,
    )
    .swap_remove(me.index as usize);
    let mut shard = Shard::new(args, addrs, plan, tag, stop.clone(), Progress::hidden());
    let heartbeat = tokio::spawn(heartbeat(Arc::clone(shard.shared()), out.clone()));

    shard.connect().await;
    let _ = out.send(FromShard::Connected {
        senders: shard.senders(),
    });
    next(&mut commands, &stop).await; // settle
    shard.settle().await;
    let _ = out.send(FromShard::Quiet);
    // Stopped before the word to send: nothing is sent, and nothing expected.
    let spread = match next(&mut commands, &stop).await {
        Some(ToShard::Send { first, of }) => Spread { first, of },
        _ => Spread { first: 0, of: 0 },
    };
    shard.send(&mut Readings::none(), spread).await;
    let _ = out.send(FromShard::Done(Box::new(shard.outcome())));
    next(&mut commands, &stop).await; // close

    heartbeat.abort();
    let _ = heartbeat.await;
    drop(out);
    // Everything said is written before the process exits.
    let _ = writer.join();
    shard.close().await;
    Ok(())
}

/// The parent's next word; `None` once stopped.
async fn next(
    commands: &mut mpsc::UnboundedReceiver<ToShard>,
    stop: &CancellationToken,
) -> Option<ToShard> {
    tokio::select! {
        command = commands.recv() => command,
        () = stop.cancelled() => None,
    }
}

/// Reads the parent's words from stdin; `stop`, a line that is no message, and the end of
/// stdin cancel `stop`.
fn listen(stop: CancellationToken) -> mpsc::UnboundedReceiver<ToShard> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            match line.map(|l| serde_json::from_str::<ToShard>(&l)) {
                Ok(Ok(ToShard::Stop)) => stop.cancel(),
                Ok(Ok(command)) => {
                    let _ = tx.send(command);
                }
                Ok(Err(error)) => {
                    eprintln!("chat-cli bench: a word from the parent is garbled: {error}");
                    break;
                }
                Err(_) => break,
            }
        }
        stop.cancel();
    });
    rx
}

/// Writes what is said to stdout, a line each, from a thread of its own so that a slow
/// reader never holds up the sessions. A write that fails (the parent is gone) cancels `stop`.
fn speak(
    stop: CancellationToken,
) -> (
    mpsc::UnboundedSender<FromShard>,
    std::thread::JoinHandle<()>,
) {
    let (tx, mut rx) = mpsc::unbounded_channel::<FromShard>();
    let writer = std::thread::spawn(move || {
        let mut stdout = std::io::stdout().lock();
        while let Some(message) = rx.blocking_recv() {
            let line = shard::encode(&message);
            if writeln!(stdout, "{line}")
                .and_then(|()| stdout.flush())
                .is_err()
            {
                stop.cancel();
                return;
            }
        }
    });
    (tx, writer)
}

async fn heartbeat(shared: Arc<Shared>, out: mpsc::UnboundedSender<FromShard>) {
    let mut tick = tokio::time::interval(HEARTBEAT);
    loop {
        tick.tick().await;
        let said = out.send(FromShard::Progress {
            set_up: shared.set_up.load(Ordering::Relaxed),
            failed: shared.failed.load(Ordering::Relaxed),
            deliveries: shared.deliveries.load(Ordering::Relaxed),
        });
        if said.is_err() {
            return;
        }
    }
}
