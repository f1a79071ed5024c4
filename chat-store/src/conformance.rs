//! The behaviour every [`Store`] must have, as one suite: run [`run_all`] against a new
//! implementation (the in-memory and SQLite stores both do, in their tests).

use std::time::Duration;

use chat_core::journal::{IgnoredAccount, OfflineMessage, Record, Settings, StoredLine};
use chat_core::prefs::{Prefs, Theme, TimestampMode, UtcOffset};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};

use crate::{Retention, Store};

/// One check: a name, and what it does to a fresh store.
type Check = (&'static str, fn(&dyn Store));

/// Makes a fresh, empty store for each check.
pub type MakeStore<'a> = &'a dyn Fn() -> Box<dyn Store>;

/// Runs every check; panics with the check's name on the first failure.
pub fn run_all(make: MakeStore<'_>) {
    let checks: &[Check] = &[
        (
            "history is kept per room, in order",
            history_is_kept_per_room_in_order,
        ),
        (
            "the snapshot holds the most recent rooms and lines",
            snapshot_holds_recent_rooms_and_lines,
        ),
        (
            "settings round-trip and are replaced whole",
            settings_round_trip,
        ),
        (
            "an unknown key has a default profile",
            unknown_keys_have_default_profiles,
        ),
        (
            "offline messages wait in order and go when delivered",
            offline_messages_wait_in_order,
        ),
        (
            "pruning keeps the newest lines per room",
            pruning_keeps_the_newest_lines,
        ),
        ("pruning by age", pruning_by_age),
        ("a batch applies in order", a_batch_applies_in_order),
    ];
    for (name, check) in checks {
        let store = make();
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(store.as_ref())));
        if let Err(panic) = outcome {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            panic!("store conformance check failed: {name}: {message}");
        }
    }
}

fn at(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap() + TimeDelta::minutes(minute)
}

fn line(room: &str, text: &str, minute: i64) -> StoredLine {
    StoredLine {
        room: room.into(),
        from: "alice".into(),
        text: text.into(),
        at: at(minute),
        emote: text.starts_with("waves"),
    }
}

fn lines(records: &[StoredLine]) -> Vec<Record> {
    records.iter().cloned().map(Record::Line).collect()
}

fn texts(lines: &[StoredLine]) -> Vec<&str> {
    lines.iter().map(|l| l.text.as_str()).collect()
}

fn history_is_kept_per_room_in_order(store: &dyn Store) {
    let written = [
        line("#lobby", "one", 0),
        line("#Rust", "r1", 1),
        line("#lobby", "two", 2),
        line("#rust", "waves", 3),
        line("#lobby", "three", 4),
    ];
    store.apply(&lines(&written)).unwrap();
    let lobby = store.history("#lobby", 10).unwrap();
    assert_eq!(texts(&lobby), ["one", "two", "three"]);
    assert_eq!(lobby[0], written[0], "every field comes back");
    assert_eq!(
        texts(&store.history("#LOBBY", 2).unwrap()),
        ["two", "three"]
    );
    let rust = store.history("#rust", 10).unwrap();
    assert_eq!(texts(&rust), ["r1", "waves"]);
    assert!(rust[1].emote);
    assert!(store.history("#nowhere", 10).unwrap().is_empty());
    assert_eq!(store.line_count().unwrap(), 5);
}

fn snapshot_holds_recent_rooms_and_lines(store: &dyn Store) {
    store
        .apply(&lines(&[
            line("#old", "o", 0),
            line("#lobby", "l1", 1),
            line("#new", "n", 2),
            line("#lobby", "l2", 3),
            line("#lobby", "l3", 4),
        ]))
        .unwrap();
    let snapshot = store.snapshot(2, 2).unwrap();
    let mut got: Vec<(String, String)> = snapshot
        .history
        .iter()
        .map(|l| (l.room.clone(), l.text.clone()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("#lobby".to_owned(), "l2".to_owned()),
            ("#lobby".to_owned(), "l3".to_owned()),
            ("#new".to_owned(), "n".to_owned())
        ],
        "the two most recent rooms, two lines each"
    );
    let lobby: Vec<&str> = snapshot
        .history
        .iter()
        .filter(|l| l.room == "#lobby")
        .map(|l| l.text.as_str())
        .collect();
    assert_eq!(lobby, ["l2", "l3"], "oldest first within a room");
}

fn settings_round_trip(store: &dyn Store) {
    let settings = Settings {
        prefs: Prefs {
            theme: Theme::Mono,
            timestamp: TimestampMode::DateTime,
            offset: UtcOffset::from_minutes(-330).unwrap(),
            quiet: true,
        },
        ignoring: vec![
            IgnoredAccount {
                account: "account-m".into(),
                name: "mallory".into(),
            },
            IgnoredAccount {
                account: "account-e".into(),
                name: "eve".into(),
            },
        ],
        last_room: Some("#rust".into()),
    };
    store
        .apply(&[Record::Profile {
            owner: "account-a".into(),
            settings: settings.clone(),
        }])
        .unwrap();
    assert_eq!(store.profile("account-a").unwrap().settings, settings);
    let fewer = Settings {
        ignoring: vec![],
        last_room: None,
        ..settings
    };
    store
        .apply(&[Record::Profile {
            owner: "account-a".into(),
            settings: fewer.clone(),
        }])
        .unwrap();
    assert_eq!(
        store.profile("account-a").unwrap().settings,
        fewer,
        "replaced whole"
    );
}

fn unknown_keys_have_default_profiles(store: &dyn Store) {
    let profile = store.profile("account-nobody").unwrap();
    assert_eq!(profile.settings, Settings::default());
    assert!(profile.offline.is_empty());
}

fn offline_messages_wait_in_order(store: &dyn Store) {
    let message = |text: &str, minute: i64| OfflineMessage {
        to: "account-a".into(),
        from: "bob".into(),
        text: text.into(),
        at: at(minute),
    };
    store
        .apply(&[
            Record::Offline(message("first", 0)),
            Record::Offline(message("second", 1)),
            Record::Offline(OfflineMessage {
                to: "account-other".into(),
                ..message("elsewhere", 2)
            }),
        ])
        .unwrap();
    let waiting = store.profile("account-a").unwrap().offline;
    assert_eq!(waiting, [message("first", 0), message("second", 1)]);
    let mut counts = store.snapshot(0, 0).unwrap().offline_counts;
    counts.sort();
    assert_eq!(
        counts,
        [("account-a".to_owned(), 2), ("account-other".to_owned(), 1)]
    );
    // One more arrives between reading the profile and delivering what it held.
    store
        .apply(&[Record::Offline(message("third", 3))])
        .unwrap();
    store
        .apply(&[Record::OfflineDelivered {
            owner: "account-a".into(),
            count: 2,
        }])
        .unwrap();
    assert_eq!(
        store.profile("account-a").unwrap().offline,
        [message("third", 3)],
        "the late one survives"
    );
}

fn pruning_keeps_the_newest_lines(store: &dyn Store) {
    let written: Vec<StoredLine> = (0..10)
        .map(|i| line(if i % 2 == 0 { "#a" } else { "#b" }, &format!("m{i}"), i))
        .chain([line("#c", "alone", 10)])
        .collect();
    store.apply(&lines(&written)).unwrap();
    let gone = store
        .prune(
            Retention {
                lines_per_room: 2,
                max_age: None,
            },
            at(100),
        )
        .unwrap();
    assert_eq!(gone, 6);
    assert_eq!(texts(&store.history("#a", 10).unwrap()), ["m6", "m8"]);
    assert_eq!(texts(&store.history("#b", 10).unwrap()), ["m7", "m9"]);
    assert_eq!(
        texts(&store.history("#c", 10).unwrap()),
        ["alone"],
        "a room under the limit keeps everything"
    );
}

fn pruning_by_age(store: &dyn Store) {
    store
        .apply(&lines(&[line("#a", "old", 0), line("#a", "new", 50)]))
        .unwrap();
    let gone = store
        .prune(
            Retention {
                lines_per_room: 100,
                max_age: Some(Duration::from_secs(30 * 60)),
            },
            at(60),
        )
        .unwrap();
    assert_eq!(gone, 1);
    assert_eq!(texts(&store.history("#a", 10).unwrap()), ["new"]);
}

fn a_batch_applies_in_order(store: &dyn Store) {
    let settings = |quiet: bool| Settings {
        prefs: Prefs {
            quiet,
            ..Prefs::default()
        },
        ..Settings::default()
    };
    store
        .apply(&[
            Record::Profile {
                owner: "account-a".into(),
                settings: settings(true),
            },
            Record::Profile {
                owner: "account-a".into(),
                settings: settings(false),
            },
        ])
        .unwrap();
    assert_eq!(
        store.profile("account-a").unwrap().settings,
        settings(false),
        "the later record wins"
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_memory_store_conforms() {
        super::run_all(&|| Box::new(crate::MemoryStore::new()));
    }
}
