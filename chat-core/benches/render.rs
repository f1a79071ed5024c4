//! Rendering: one said line for one recipient, and a batch of 50 events shown on an
//! interactive session (which erases and redraws the prompt and half-typed input around them).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use chat_core::outbox::Mailbox;
use chat_core::render::{self, View};
use chat_core::{
    Event, EventKind, Hub, HubConfig, JoinRequest, Prefs, Session, SessionKind, TermSize, Theme,
};
use chrono::Utc;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn said(from: &str, text: &str) -> Event {
    Event::new(
        Utc::now(),
        EventKind::Said {
            room: "#lobby".to_owned(),
            from: from.to_owned(),
            text: text.to_owned(),
        },
    )
}

fn render(c: &mut Criterion) {
    let mut group = c.benchmark_group("render");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));

    let event = said(
        "alice",
        "hello everyone, this is a fairly typical line of chat",
    );
    for theme in [Theme::Colors, Theme::Mono] {
        let prefs = Prefs {
            theme,
            ..Prefs::default()
        };
        let view = View {
            me: "bob",
            prefs: &prefs,
        };
        let mut out = Vec::with_capacity(256);
        group.bench_function(BenchmarkId::new("said_line", theme.as_str()), |b| {
            b.iter(|| {
                out.clear();
                let rendered = render::event_lines(black_box(&event), &view);
                render::write_lines(&rendered.lines, 80, theme, &mut out);
                black_box(&out);
            });
        });
    }

    let mut hub = Hub::new(HubConfig::default());
    let bob = hub.join(JoinRequest::named("bob"), Mailbox::new(64), Utc::now());
    let me = hub.me(bob).expect("bob just joined");
    let size = TermSize {
        width: 80,
        height: 24,
    };
    let mut session = Session::new(bob, me, SessionKind::Interactive(size), 1000);
    let mut out = Vec::new();
    session.start(&mut out);
    session.feed(b"half-typed input", Utc::now(), &mut hub, &mut out);
    let names = ["alice", "carol", "dave", "erin", "frank"];
    let events: Vec<Arc<Event>> = (0..50)
        .map(|i| {
            let text = format!("line {i}: hello everyone, this is a fairly typical line of chat");
            Arc::new(said(names[i % names.len()], &text))
        })
        .collect();
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("session_show_50_events", |b| {
        b.iter(|| {
            out.clear();
            session.show(black_box(&events), &mut out);
            black_box(&out);
        });
    });
    group.finish();
}

criterion_group!(benches, render);
criterion_main!(benches);
