//! A whole `Session` fed any bytes and resizes, in a hub with two other members: `alice` at an
//! interactive terminal and `bob` in a plain session, whose screens show what they receive.
//!
//! Input: a 4-byte header (bit 0: the fuzzed member is plain; bit 1: it has a key; its
//! terminal width and height; alice's width), then keystrokes cut by `0xFF` markers into
//! chunks, each marker an operation: `R` resize (two bytes of the next chunk: width, height),
//! `T` wait (one byte: seconds), `S` alice says the next chunk, `J` leave and join again named
//! the next chunk, `E` end of input, `K` the hub's tick; any other byte only cuts.
//!
//! Invariants: no panic; what anyone's terminal gets is UTF-8 with no control byte, escape or
//! bidi control but the renderer's own (SGR, cursor up/right, erase, CR/LF, bell; bob's plain
//! text has only `\n`); the fuzzed member's half-typed line is clean; and whatever the fuzzed
//! member does, alice's screen (a `vt100` terminal) ends every delivery with her prompt
//! `[alice] ` on the cursor's row and the cursor right after it.
#![no_main]

use std::sync::Arc;

use chat_core::outbox::Mailbox;
use chat_core::{
    Flow, Hub, HubConfig, JoinRequest, MemberId, Request, Session, SessionKind, TermSize,
};
use chat_fuzz::{
    Allowed, Segment, check_terminal_bytes, for_vt100, is_dangerous, lossy, screen_dump, segments,
    terminal,
};
use chrono::{DateTime, TimeDelta, Utc};
use libfuzzer_sys::fuzz_target;

/// What alice's terminal may get: as any interactive session, but never a screen clear, which
/// only her own Ctrl-L asks for.
const ALICE: Allowed = Allowed {
    csi_finals: b"mACJ",
    ..Allowed::TERMINAL
};
const ALICE_PROMPT: &str = "[alice] ";
/// Steps run at most, so that a long input stays fast.
const MAX_STEPS: usize = 400;

struct Member {
    id: MemberId,
    session: Session,
    mailbox: Mailbox,
    allowed: Allowed,
}

impl Member {
    fn join(
        hub: &mut Hub<Mailbox>,
        request: JoinRequest,
        kind: SessionKind,
        now: DateTime<Utc>,
    ) -> Self {
        let plain = kind == SessionKind::Plain;
        let mailbox = Mailbox::new(if plain { 32 } else { 16 });
        let id = hub.join(request, mailbox.clone(), now);
        let me = hub.me(id).expect("a member that just joined is in the hub");
        let max = hub.config().max_message_chars;
        let mut member = Self {
            id,
            session: Session::new(id, me, kind, max),
            mailbox,
            allowed: if plain {
                Allowed::PLAIN
            } else {
                Allowed::TERMINAL
            },
        };
        let mut out = Vec::new();
        member.session.start(&mut out);
        member.check(&out, "start");
        member
    }

    /// Shows the member what its outbox holds (and what it missed, and any history it asked
    /// for); returns the bytes its terminal gets.
    fn deliver(&mut self, hub: &mut Hub<Mailbox>, now: DateTime<Utc>) -> Vec<u8> {
        let mut out = Vec::new();
        for _ in 0..2 {
            let events = self.mailbox.take();
            self.session.show(&events, &mut out);
            hub.flush_missed(self.id, now);
        }
        for request in self.session.take_requests() {
            if let Request::History { room, limit } = request {
                let lines: Vec<_> = hub
                    .recent_history(&room, limit)
                    .iter()
                    .map(|e| Arc::unwrap_or_clone(e.clone()))
                    .collect();
                self.session.show_history(&room, &lines, now, &mut out);
            }
        }
        self.check(&out, "delivery");
        out
    }

    fn check(&self, out: &[u8], what: &str) {
        if let Err(e) = check_terminal_bytes(out, self.allowed) {
            panic!("{}'s {what}: {e}", self.session.me().name);
        }
    }
}

/// The hub and the two members who watch.
struct World {
    hub: Hub<Mailbox>,
    alice: Member,
    alice_size: TermSize,
    alice_screen: vt100::Parser,
    bob: Member,
}

impl World {
    /// Delivers what everyone's outbox holds and checks what their terminals get.
    fn observe(&mut self, mallory: &mut Member, now: DateTime<Utc>) {
        mallory.deliver(&mut self.hub, now);
        let input = mallory.session.input();
        assert!(!input.chars().any(is_dangerous), "half-typed {input:?}");
        self.bob.deliver(&mut self.hub, now);
        let bytes = self.alice.deliver(&mut self.hub, now);
        self.alice_screen.process(&for_vt100(&bytes));
        let screen = self.alice_screen.screen();
        let (row, col) = screen.cursor_position();
        let shown = screen.rows(0, self.alice_size.width as u16).nth(row.into());
        assert!(
            usize::from(col) == ALICE_PROMPT.len()
                && shown.as_deref().map(str::trim_end) == Some(ALICE_PROMPT.trim_end()),
            "alice's prompt is not where it should be after {:?}:\n{}",
            lossy(&bytes),
            screen_dump(&self.alice_screen)
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let mut header = [0u8; 4];
    let split = data.len().min(header.len());
    header[..split].copy_from_slice(&data[..split]);
    let mut steps = segments(&data[split..])
        .into_iter()
        .take(MAX_STEPS)
        .peekable();

    let config = HubConfig {
        history_len: 20,
        max_message_chars: 200,
        presence_window: TimeDelta::seconds(1),
        ..HubConfig::default()
    };
    let mut hub: Hub<Mailbox> = Hub::new(config);
    let mut now = DateTime::<Utc>::from_timestamp(1_780_000_000, 0).unwrap();

    let alice_size = TermSize {
        width: usize::from(header[3] % 190) + 10,
        height: 24,
    };
    let mut alice = Member::join(
        &mut hub,
        JoinRequest::named("alice"),
        SessionKind::Interactive(alice_size),
        now,
    );
    alice.allowed = ALICE;
    let bob = Member::join(&mut hub, JoinRequest::named("bob"), SessionKind::Plain, now);
    let mut world = World {
        hub,
        alice,
        alice_size,
        alice_screen: terminal(alice_size.height, alice_size.width),
        bob,
    };

    let kind = if header[0] & 1 == 1 {
        SessionKind::Plain
    } else {
        SessionKind::Interactive(TermSize::from_reported(header[1].into(), header[2].into()))
    };
    let request = |name: &str| {
        let request = JoinRequest::named(name);
        if header[0] & 2 == 2 {
            request.with_key("SHA256:fuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzzfuz")
        } else {
            request
        }
    };
    let mut mallory = Member::join(&mut world.hub, request("mallory"), kind, now);
    world.observe(&mut mallory, now);

    while let Some(step) = steps.next() {
        let mut payload = |n: usize| -> Vec<u8> {
            match steps.peek_mut() {
                Some(Segment::Bytes(bytes)) => bytes.drain(..n.min(bytes.len())).collect(),
                _ => Vec::new(),
            }
        };
        let hub = &mut world.hub;
        let mut out = Vec::new();
        let mut flow = Flow::Continue;
        match step {
            Segment::Bytes(bytes) => {
                flow = mallory.session.feed(&bytes, now, hub, &mut out);
            }
            Segment::Op(b'R') => {
                let size = payload(2);
                let (w, h) = (size.first().copied(), size.get(1).copied());
                let size = TermSize::from_reported(w.unwrap_or(0).into(), h.unwrap_or(0).into());
                mallory.session.resize(size, &mut out);
            }
            Segment::Op(b'T') => {
                let secs = payload(1).first().copied().unwrap_or(1);
                now += TimeDelta::seconds(secs.into());
            }
            Segment::Op(b'S') => {
                let text = lossy(&payload(usize::MAX));
                hub.submit(world.alice.id, &text, now);
            }
            Segment::Op(b'J') => {
                let name = lossy(&payload(usize::MAX));
                hub.leave(mallory.id, now);
                mallory = Member::join(hub, request(&name), kind, now);
            }
            Segment::Op(b'E') => {
                flow = mallory.session.end_of_input(now, hub, &mut out);
            }
            Segment::Op(b'K') => hub.tick(now),
            Segment::Op(_) => {}
        }
        mallory.check(&out, "output");
        if flow == Flow::Exit {
            world.hub.leave(mallory.id, now);
            world.observe(&mut mallory, now);
            mallory = Member::join(&mut world.hub, request("mallory"), kind, now);
        }
        world.observe(&mut mallory, now);
    }
    now += TimeDelta::seconds(5);
    world.hub.tick(now);
    world.hub.leave(mallory.id, now);
    world.hub.tick(now);
    world.observe(&mut mallory, now);
});
