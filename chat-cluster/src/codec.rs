//! What crosses Redis, as JSON: the hub's [`BusEvent`]s and the store's records.
//!
//! Written by hand rather than derived: chat-core stays free of serde, and the wire format is
//! one place to read. Decoding never panics: a field that is missing or malformed makes the
//! whole entry `None`, which the reader logs and skips.

use std::net::IpAddr;

use chat_core::hub::cluster::{BusEvent, Change, Departure, MemberState, RemoteAct, RemoteId};
use chat_core::journal::{Ban, BanTarget, IgnoredAccount, OfflineMessage, Settings, StoredLine};
use chat_core::prefs::{Prefs, Theme, TimestampMode, UtcOffset};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Map, Value, json};

/// One entry of the cluster's log, as a node reads it.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    /// A line, in its room's order.
    Line {
        line: StoredLine,
        account: Option<String>,
    },
    /// Something else a node's hub published.
    Event(BusEvent),
    /// Everything a node has: sent when it (re)connects.
    Snapshot(Vec<MemberState>),
}

pub fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

pub fn from_millis(ms: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(ms).single()
}

fn opt_str(value: &Option<String>) -> Value {
    value
        .as_ref()
        .map_or(Value::Null, |s| Value::String(s.clone()))
}

fn get_str(map: &Map<String, Value>, key: &str) -> Option<String> {
    map.get(key)?.as_str().map(str::to_owned)
}

fn get_opt_str(map: &Map<String, Value>, key: &str) -> Option<Option<String>> {
    match map.get(key) {
        None | Some(Value::Null) => Some(None),
        Some(Value::String(s)) => Some(Some(s.clone())),
        Some(_) => None,
    }
}

fn get_time(map: &Map<String, Value>, key: &str) -> Option<DateTime<Utc>> {
    from_millis(map.get(key)?.as_i64()?)
}

pub fn line_json(line: &StoredLine) -> Value {
    json!({"room": line.room, "from": line.from, "text": line.text, "at": millis(line.at), "emote": line.emote})
}

pub fn line_from(value: &Value) -> Option<StoredLine> {
    let m = value.as_object()?;
    Some(StoredLine {
        room: get_str(m, "room")?,
        from: get_str(m, "from")?,
        text: get_str(m, "text")?,
        at: get_time(m, "at")?,
        emote: m.get("emote")?.as_bool()?,
    })
}

pub fn state_json(s: &MemberState) -> Value {
    json!({
        "member": s.member, "name": s.name, "room": s.room, "account": opt_str(&s.account),
        "fingerprint": opt_str(&s.fingerprint), "ip": s.ip.map(|ip| ip.to_string()),
        "connected_at": millis(s.connected_at), "away": opt_str(&s.away), "muted": s.muted,
    })
}

pub fn state_from(value: &Value) -> Option<MemberState> {
    let m = value.as_object()?;
    let ip = match get_opt_str(m, "ip")? {
        Some(text) => Some(text.parse::<IpAddr>().ok()?),
        None => None,
    };
    Some(MemberState {
        member: m.get("member")?.as_u64()?,
        name: get_str(m, "name")?,
        room: get_str(m, "room")?,
        account: get_opt_str(m, "account")?,
        fingerprint: get_opt_str(m, "fingerprint")?,
        ip,
        connected_at: get_time(m, "connected_at")?,
        away: get_opt_str(m, "away")?,
        muted: m.get("muted")?.as_bool()?,
    })
}

pub fn ban_json(ban: &Ban) -> Value {
    json!({
        "target": ban.target.to_string(), "name": opt_str(&ban.name),
        "until": ban.until.map(millis), "reason": ban.reason, "by": ban.by, "at": millis(ban.at),
    })
}

pub fn ban_from(value: &Value) -> Option<Ban> {
    let m = value.as_object()?;
    let until = match m.get("until") {
        None | Some(Value::Null) => None,
        Some(v) => Some(from_millis(v.as_i64()?)?),
    };
    Some(Ban {
        target: BanTarget::parse(&get_str(m, "target")?)?,
        name: get_opt_str(m, "name")?,
        until,
        reason: get_str(m, "reason")?,
        by: get_str(m, "by")?,
        at: get_time(m, "at")?,
    })
}

pub fn settings_json(s: &Settings) -> Value {
    let ignoring: Vec<Value> = s
        .ignoring
        .iter()
        .map(|i| json!({"account": i.account, "name": i.name}))
        .collect();
    json!({
        "theme": s.prefs.theme.as_str(), "timestamp": s.prefs.timestamp.as_str(),
        "offset": s.prefs.offset.minutes(), "quiet": s.prefs.quiet,
        "ignoring": ignoring, "last_room": opt_str(&s.last_room),
    })
}

pub fn settings_from(value: &Value) -> Option<Settings> {
    let m = value.as_object()?;
    let offset = i16::try_from(m.get("offset")?.as_i64()?).ok()?;
    let prefs = Prefs {
        theme: Theme::from_name(&get_str(m, "theme")?)?,
        timestamp: TimestampMode::from_name(&get_str(m, "timestamp")?)?,
        offset: UtcOffset::from_minutes(offset)?,
        quiet: m.get("quiet")?.as_bool()?,
    };
    let ignoring = m
        .get("ignoring")?
        .as_array()?
        .iter()
        .map(|i| {
            let i = i.as_object()?;
            Some(IgnoredAccount {
                account: get_str(i, "account")?,
                name: get_str(i, "name")?,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Settings {
        prefs,
        ignoring,
        last_room: get_opt_str(m, "last_room")?,
    })
}

pub fn offline_json(o: &OfflineMessage) -> Value {
    json!({"to": o.to, "from": o.from, "text": o.text, "at": millis(o.at)})
}

pub fn offline_from(value: &Value) -> Option<OfflineMessage> {
    let m = value.as_object()?;
    Some(OfflineMessage {
        to: get_str(m, "to")?,
        from: get_str(m, "from")?,
        text: get_str(m, "text")?,
        at: get_time(m, "at")?,
    })
}

fn remote_json(id: &RemoteId) -> Value {
    json!({"node": id.node, "member": id.member})
}

fn remote_from(value: &Value) -> Option<RemoteId> {
    let m = value.as_object()?;
    Some(RemoteId {
        node: get_str(m, "node")?,
        member: m.get("member")?.as_u64()?,
    })
}

/// An event as the log's `kind` and `data` fields; `None` for what never goes in the log.
pub fn event_json(event: &BusEvent) -> Option<(&'static str, Value)> {
    Some(match event {
        BusEvent::Line { line, account, .. } => (
            "line",
            json!({"line": line_json(line), "account": opt_str(account)}),
        ),
        BusEvent::Present { state, change } => {
            let (change, detail) = match change {
                Change::Joined => ("joined", Value::Null),
                Change::Moved { from } => ("moved", json!(from)),
                Change::Renamed { old } => ("renamed", json!(old)),
                Change::Updated => ("updated", Value::Null),
            };
            (
                "present",
                json!({"state": state_json(state), "change": change, "detail": detail}),
            )
        }
        BusEvent::Gone {
            member,
            name,
            room,
            how,
        } => {
            let how = match how {
                Departure::Left => json!({"left": true}),
                Departure::Removed { by, reason, banned } => {
                    json!({"by": by, "reason": opt_str(reason), "banned": banned})
                }
            };
            (
                "gone",
                json!({"member": member, "name": name, "room": room, "how": how}),
            )
        }
        BusEvent::WantName { .. } => return None,
        BusEvent::Private {
            to,
            from_member,
            from,
            from_account,
            text,
            at,
        } => (
            "private",
            json!({"to": remote_json(to), "from_member": from_member, "from": from,
                   "from_account": opt_str(from_account), "text": text, "at": millis(*at)}),
        ),
        BusEvent::Act { target, act } => {
            let act = match act {
                RemoteAct::Kick { by, reason } => {
                    json!({"do": "kick", "by": by, "reason": opt_str(reason)})
                }
                RemoteAct::Mute { by, muted } => json!({"do": "mute", "by": by, "muted": muted}),
                RemoteAct::Rename { by, new } => json!({"do": "rename", "by": by, "new": new}),
                RemoteAct::Replace => json!({"do": "replace"}),
                RemoteAct::MoveAside => json!({"do": "move_aside"}),
            };
            ("act", json!({"target": remote_json(target), "act": act}))
        }
        BusEvent::Ban(ban) => ("ban", ban_json(ban)),
        BusEvent::Unban(target) => ("unban", json!({"target": target.to_string()})),
        BusEvent::Operator {
            account,
            granted,
            by,
        } => (
            "operator",
            json!({"account": account, "granted": granted, "by": by}),
        ),
    })
}

pub fn snapshot_json(states: &[MemberState]) -> Value {
    Value::Array(states.iter().map(state_json).collect())
}

/// An entry of the log from its `kind` and `data` fields.
pub fn entry_from(kind: &str, data: &str) -> Option<Entry> {
    let value: Value = serde_json::from_str(data).ok()?;
    if kind == "snapshot" {
        let states = value
            .as_array()?
            .iter()
            .map(state_from)
            .collect::<Option<Vec<_>>>()?;
        return Some(Entry::Snapshot(states));
    }
    let m = value.as_object()?;
    let event = match kind {
        "line" => {
            return Some(Entry::Line {
                line: line_from(m.get("line")?)?,
                account: get_opt_str(m, "account")?,
            });
        }
        "present" => {
            let detail = || m.get("detail").and_then(Value::as_str).map(str::to_owned);
            let change = match m.get("change")?.as_str()? {
                "joined" => Change::Joined,
                "moved" => Change::Moved { from: detail()? },
                "renamed" => Change::Renamed { old: detail()? },
                "updated" => Change::Updated,
                _ => return None,
            };
            BusEvent::Present {
                state: state_from(m.get("state")?)?,
                change,
            }
        }
        "gone" => {
            let how = m.get("how")?.as_object()?;
            let how = if how.contains_key("left") {
                Departure::Left
            } else {
                Departure::Removed {
                    by: get_str(how, "by")?,
                    reason: get_opt_str(how, "reason")?,
                    banned: how.get("banned")?.as_bool()?,
                }
            };
            BusEvent::Gone {
                member: m.get("member")?.as_u64()?,
                name: get_str(m, "name")?,
                room: get_str(m, "room")?,
                how,
            }
        }
        "private" => BusEvent::Private {
            to: remote_from(m.get("to")?)?,
            from_member: m.get("from_member")?.as_u64()?,
            from: get_str(m, "from")?,
            from_account: get_opt_str(m, "from_account")?,
            text: get_str(m, "text")?,
            at: get_time(m, "at")?,
        },
        "act" => {
            let act = m.get("act")?.as_object()?;
            let by = || get_str(act, "by");
            let act = match act.get("do")?.as_str()? {
                "kick" => RemoteAct::Kick {
                    by: by()?,
                    reason: get_opt_str(act, "reason")?,
                },
                "mute" => RemoteAct::Mute {
                    by: by()?,
                    muted: act.get("muted")?.as_bool()?,
                },
                "rename" => RemoteAct::Rename {
                    by: by()?,
                    new: get_str(act, "new")?,
                },
                "replace" => RemoteAct::Replace,
                "move_aside" => RemoteAct::MoveAside,
                _ => return None,
            };
            BusEvent::Act {
                target: remote_from(m.get("target")?)?,
                act,
            }
        }
        "ban" => BusEvent::Ban(ban_from(&value)?),
        "unban" => BusEvent::Unban(BanTarget::parse(&get_str(m, "target")?)?),
        "operator" => BusEvent::Operator {
            account: get_str(m, "account")?,
            granted: m.get("granted")?.as_bool()?,
            by: get_str(m, "by")?,
        },
        _ => return None,
    };
    Some(Entry::Event(event))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap()
    }

    fn state() -> MemberState {
        MemberState {
            member: 7,
            name: "zoë".into(),
            room: "#rust".into(),
            account: Some("acct".into()),
            fingerprint: None,
            ip: Some("192.0.2.1".parse().unwrap()),
            connected_at: at(),
            away: Some("lunch \"now\"".into()),
            muted: true,
        }
    }

    #[test]
    fn every_event_in_the_log_round_trips() {
        let id = RemoteId {
            node: "b".into(),
            member: 3,
        };
        let events = vec![
            BusEvent::Present {
                state: state(),
                change: Change::Moved {
                    from: "#lobby".into(),
                },
            },
            BusEvent::Present {
                state: state(),
                change: Change::Joined,
            },
            BusEvent::Gone {
                member: 1,
                name: "bob".into(),
                room: "#lobby".into(),
                how: Departure::Removed {
                    by: "op".into(),
                    reason: None,
                    banned: true,
                },
            },
            BusEvent::Private {
                to: id.clone(),
                from_member: 2,
                from: "alice".into(),
                from_account: None,
                text: "psst\n\u{1b}[2J".into(),
                at: at(),
            },
            BusEvent::Act {
                target: id.clone(),
                act: RemoteAct::Rename {
                    by: "op".into(),
                    new: "x".into(),
                },
            },
            BusEvent::Act {
                target: id,
                act: RemoteAct::Replace,
            },
            BusEvent::Ban(Ban {
                target: BanTarget::Ip("::1".parse().unwrap()),
                name: None,
                until: Some(at()),
                reason: "spam".into(),
                by: "op".into(),
                at: at(),
            }),
            BusEvent::Unban(BanTarget::Key("SHA256:x".into())),
            BusEvent::Operator {
                account: "a".into(),
                granted: false,
                by: "op".into(),
            },
        ];
        for event in events {
            let (kind, data) = event_json(&event).unwrap();
            let back = entry_from(kind, &data.to_string());
            assert_eq!(back, Some(Entry::Event(event)));
        }
        let line = StoredLine {
            room: "#lobby".into(),
            from: "a".into(),
            text: "hi".into(),
            at: at(),
            emote: true,
        };
        let data = json!({"line": line_json(&line), "account": "acct"}).to_string();
        assert_eq!(
            entry_from("line", &data),
            Some(Entry::Line {
                line,
                account: Some("acct".into())
            })
        );
        let snapshot = snapshot_json(&[state()]).to_string();
        assert_eq!(
            entry_from("snapshot", &snapshot),
            Some(Entry::Snapshot(vec![state()]))
        );
    }

    #[test]
    fn malformed_entries_are_none_not_panics() {
        for (kind, data) in [
            ("line", "{}"),
            ("present", "[1,2]"),
            ("gone", "not json"),
            ("ban", r#"{"target":"nonsense"}"#),
            ("unknown", "{}"),
            ("snapshot", r#"[{"member":-1}]"#),
        ] {
            assert_eq!(entry_from(kind, data), None, "{kind} {data}");
        }
    }

    #[test]
    fn settings_round_trip() {
        let settings = Settings {
            prefs: Prefs {
                theme: Theme::Mono,
                timestamp: TimestampMode::DateTime,
                offset: UtcOffset::from_minutes(-90).unwrap(),
                quiet: true,
            },
            ignoring: vec![IgnoredAccount {
                account: "a".into(),
                name: "n".into(),
            }],
            last_room: Some("#rust".into()),
        };
        assert_eq!(settings_from(&settings_json(&settings)), Some(settings));
    }
}
