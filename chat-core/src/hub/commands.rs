//! Carrying out commands: each [`Command`] variant's effect on the hub.
//!
//! Failures are answered with an error notice to the member who typed the line, and nobody
//! else; the [`Outcome`] says whether the line failed so a one-shot `exec` can exit non-zero.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::cluster::{BusEvent, Change, RemoteId, Target};
use super::{Hub, Ignored, MemberId, Outbox, Outcome, Request, Room};
use crate::command::{COMMANDS, Command, ParseError};
use crate::event::{Event, EventKind, NoticeLevel};
use crate::journal::{Journal, OfflineMessage, Record};
use crate::name::{self, LOBBY, MAX_NAME_CHARS};
use crate::reply::{Reply as Answer, RoomEntry, WhoEntry, Whois};
use crate::sanitize::sanitize;

/// Lines `/history` shows without a number, and at most.
const DEFAULT_HISTORY_QUERY: usize = 20;
const MAX_HISTORY_QUERY: usize = 200;

/// A command that could not be carried out: the message is shown to the member.
pub(super) struct Refusal(pub String);

/// What a command answers the member: a notice, or nothing (its effect speaks for itself).
pub(super) type Reply = Result<Option<String>, Refusal>;

pub(super) fn refuse<T>(message: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal(message.into()))
}

pub(super) fn submit<O: Outbox, J: Journal>(
    hub: &mut Hub<O, J>,
    id: MemberId,
    line: &str,
    now: DateTime<Utc>,
) -> Outcome {
    let mut exit = false;
    let mut request = None;
    hub.promised = false;
    let result = match hub.members.get_mut(&id) {
        None => refuse("you are not connected"),
        Some(_) if line.trim().is_empty() => Ok(None),
        Some(member) => {
            if member.lines.try_take(now, 1.0) {
                member.last_active = now;
                member.throttled = false;
                match Command::parse(line) {
                    Err(ParseError::Empty) => Ok(None),
                    Err(error) => refuse(error.to_string()),
                    Ok(Command::Exit) => {
                        exit = true;
                        Ok(None)
                    }
                    Ok(command) => {
                        let wanted = edge_request(hub, id, &command);
                        let reply = execute(hub, id, command, now);
                        if reply.is_ok() {
                            request = wanted;
                        }
                        reply
                    }
                }
            } else {
                hub.stats.rate_limited += 1;
                if std::mem::replace(&mut member.throttled, true) {
                    // Told once per flood; the rest are dropped quietly.
                    return outcome(hub, id, false, true, None);
                }
                refuse(format!(
                    "you are sending too fast; nothing was sent. Wait a moment \
                     (at most {} lines at once, then {} a second)",
                    hub.config.line_burst, hub.config.lines_per_second
                ))
            }
        }
    };
    let failed = match result {
        Ok(None) => false,
        Ok(Some(text)) => {
            let mut answer = Event::notice(now, NoticeLevel::Info, text);
            answer.promise = std::mem::take(&mut hub.promised);
            hub.deliver_to(id, Arc::new(answer));
            false
        }
        Err(Refusal(text)) => {
            hub.notify(id, now, NoticeLevel::Error, text);
            true
        }
    };
    outcome(hub, id, exit, failed, request)
}

/// What the edge must do for a command the hub cannot finish itself (it still runs through
/// `execute`, which checks who may use it).
fn edge_request<O: Outbox, J: Journal>(
    hub: &Hub<O, J>,
    id: MemberId,
    command: &Command,
) -> Option<Request> {
    match command {
        Command::History(limit) => Some(Request::History {
            room: hub.room_name(&hub.members[&id].room),
            limit: limit
                .unwrap_or(DEFAULT_HISTORY_QUERY)
                .min(MAX_HISTORY_QUERY),
        }),
        Command::Reload => Some(Request::Reload),
        Command::Keys(keys) => Some(Request::Keys(keys.clone())),
        _ => None,
    }
}

fn outcome<O: Outbox, J: Journal>(
    hub: &Hub<O, J>,
    id: MemberId,
    exit: bool,
    failed: bool,
    request: Option<Request>,
) -> Outcome {
    let me = hub.me(id).unwrap_or_else(|| super::Me {
        name: String::new(),
        room: LOBBY.to_owned(),
        prefs: Default::default(),
    });
    Outcome {
        me,
        exit,
        failed,
        request,
    }
}

fn execute<O: Outbox, J: Journal>(
    hub: &mut Hub<O, J>,
    id: MemberId,
    command: Command,
    now: DateTime<Utc>,
) -> Reply {
    let remembered = matches!(
        command,
        Command::Timestamp { .. }
            | Command::Theme(Some(_))
            | Command::Ignore(Some(_))
            | Command::Unignore(_)
            | Command::Quiet
            | Command::Join(_)
            | Command::Part
    );
    if super::moderation::is_operator_command(&command) {
        if !hub.members[&id].op {
            return refuse(format!(
                "only operators can use {}",
                command.to_string().split(' ').next().unwrap_or("that")
            ));
        }
        return super::moderation::execute(hub, id, command, now);
    }
    let talking = matches!(
        command,
        Command::Say(_)
            | Command::Me(_)
            | Command::Msg { .. }
            | Command::Reply(_)
            | Command::Nick(_)
    );
    if talking && hub.members[&id].muted {
        return refuse("you are muted: an operator has stopped you from talking");
    }
    let reply = carry_out(hub, id, command, now);
    if remembered && reply.is_ok() {
        hub.save_settings(id);
    }
    reply
}

fn carry_out<O: Outbox, J: Journal>(
    hub: &mut Hub<O, J>,
    id: MemberId,
    command: Command,
    now: DateTime<Utc>,
) -> Reply {
    match command {
        Command::Say(text) => say(hub, id, &text, now, |room, from, text| EventKind::Said {
            room,
            from,
            text,
        }),
        Command::Me(text) => say(hub, id, &text, now, |room, from, text| EventKind::Emote {
            room,
            from,
            text,
        }),
        Command::Help => Ok(Some(help(
            hub.config.max_message_chars,
            hub.members[&id].op,
        ))),
        Command::Who => {
            let reply = who(hub, id);
            hub.answer(id, now, reply);
            Ok(None)
        }
        Command::Nick(new) => nick(hub, id, &new, now),
        Command::Msg { to, text } => match hub.target(&to) {
            Some(Target::Local(target)) => private(hub, id, target, &text, now),
            Some(Target::Remote(target)) => private_remote(hub, id, target, &text, now),
            None => {
                let not_here = resolve(hub, &to).map(|_| None);
                leave_message(hub, id, &to, &text, now).unwrap_or(not_here)
            }
        },
        Command::Reply(text) => {
            let member = &hub.members[&id];
            let target = member.reply_to.filter(|t| hub.members.contains_key(t));
            let remote = member
                .reply_remote
                .clone()
                .filter(|(r, since)| {
                    hub.remote_state(r)
                        .is_some_and(|s| s.connected_at == *since)
                })
                .map(|(r, _)| r);
            match (target, remote) {
                (Some(target), _) => private(hub, id, target, &text, now),
                (None, Some(remote)) => private_remote(hub, id, remote, &text, now),
                (None, None) => {
                    refuse("nobody to reply to: no one still here has sent you a private message")
                }
            }
        }
        Command::Away(reason) => {
            let reason = reason
                .map(|r| cap_chars(&sanitize(&r), 200))
                .unwrap_or_default();
            let member = member_mut(hub, id);
            member.away = Some(reason.clone());
            hub.publish_state(id, Change::Updated);
            Ok(Some(if reason.is_empty() {
                "you are marked away".to_owned()
            } else {
                format!("you are marked away: {reason}")
            }))
        }
        Command::Back => match member_mut(hub, id).away.take() {
            Some(_) => {
                hub.publish_state(id, Change::Updated);
                Ok(Some(
                    "welcome back; you are no longer marked away".to_owned(),
                ))
            }
            None => refuse("you were not marked away"),
        },
        Command::Whois(name) => match hub.target(&name) {
            Some(Target::Local(target)) => {
                let reply = whois(hub, target, now);
                hub.answer(id, now, reply);
                Ok(None)
            }
            Some(Target::Remote(target)) => Ok(Some(hub.remote_whois(&target, now))),
            None => resolve(hub, &name).map(|_| None),
        },
        Command::Timestamp { mode, offset } => {
            let prefs = &mut member_mut(hub, id).prefs;
            if let Some(mode) = mode {
                prefs.timestamp = mode;
            }
            if let Some(offset) = offset {
                prefs.offset = offset;
            }
            let verb = if mode.is_none() && offset.is_none() {
                "are"
            } else {
                "are now"
            };
            Ok(Some(format!(
                "timestamps {verb}: {}, UTC{} (change with /timestamp [off|time|datetime] [+HH:MM])",
                prefs.timestamp.as_str(),
                prefs.offset
            )))
        }
        Command::Theme(theme) => {
            let prefs = &mut member_mut(hub, id).prefs;
            match theme {
                Some(theme) => {
                    prefs.theme = theme;
                    Ok(Some(format!("theme set to {}", theme.as_str())))
                }
                None => Ok(Some(format!(
                    "your theme is {}; choose one with /theme colors or /theme mono",
                    prefs.theme.as_str()
                ))),
            }
        }
        Command::Ignore(None) => {
            let names: Vec<&str> = hub.members[&id]
                .ignoring
                .iter()
                .map(|i| i.name.as_str())
                .collect();
            Ok(Some(if names.is_empty() {
                "you are not ignoring anyone".to_owned()
            } else {
                format!("ignoring: {}", names.join(", "))
            }))
        }
        Command::Ignore(Some(name)) => ignore(hub, id, &name),
        Command::Unignore(name) => {
            // Someone online is matched as they are now; someone gone, by the name they had.
            let folded = name::fold(name.trim_start_matches('@'));
            let online = hub
                .find(&folded)
                .map(|other| (Some(other), hub.members[&other].account.clone()))
                .or_else(|| {
                    let remote = hub.remote_holder(&folded)?;
                    Some((None, hub.remote_state(remote)?.account.clone()))
                });
            let member = member_mut(hub, id);
            let before = member.ignoring.len();
            member.ignoring.retain(|i| match &online {
                Some((Some(other), key)) => {
                    i.id != Some(*other) && (key.is_none() || i.account != *key)
                }
                Some((None, key)) => {
                    name::fold(&i.name) != folded && (key.is_none() || i.account != *key)
                }
                None => name::fold(&i.name) != folded,
            });
            if member.ignoring.len() == before {
                refuse(format!("you are not ignoring {name}"))
            } else {
                Ok(Some(format!("no longer ignoring {name}")))
            }
        }
        Command::Quiet => {
            let prefs = &mut member_mut(hub, id).prefs;
            prefs.quiet = !prefs.quiet;
            Ok(Some(
                if prefs.quiet {
                    "quiet mode on: joins and leaves are hidden"
                } else {
                    "quiet mode off: joins and leaves are shown"
                }
                .to_owned(),
            ))
        }
        Command::Join(room) => join_room(hub, id, &room, now),
        Command::Part => {
            if hub.members[&id].room == name::fold(LOBBY) {
                refuse(format!("you are already in {LOBBY}"))
            } else {
                join_room(hub, id, LOBBY, now)
            }
        }
        Command::Rooms => {
            let reply = rooms(hub);
            hub.answer(id, now, reply);
            Ok(None)
        }
        Command::Motd(_) => match &hub.config.motd {
            Some(motd) => Ok(Some(motd.clone())),
            None => Ok(Some("there is no message of the day".to_owned())),
        },
        Command::Exit | Command::History(_) => Ok(None),
        Command::Keys(_) if hub.members[&id].account.is_none() => refuse(
            "you have no account: only members who logged in with a registered key have keys to manage",
        ),
        // The directory is the edge's: it answers.
        Command::Keys(_) => Ok(None),
        Command::Unknown { name } => refuse(format!(
            "unknown command /{}; type /help for the list",
            cap_chars(&name, 40)
        )),
        operator => refuse(format!("{operator} needs an operator")),
    }
}

fn member_mut<O, J>(hub: &mut Hub<O, J>, id: MemberId) -> &mut super::Member<O> {
    hub.members
        .get_mut(&id)
        .expect("submit checks that the member exists before executing")
}

fn cap_chars(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// Checks a message body against the length limit and cleans it.
fn body<O: Outbox, J: Journal>(hub: &Hub<O, J>, text: &str) -> Result<String, Refusal> {
    let chars = text.chars().count();
    let max = hub.config.max_message_chars;
    if chars > max {
        return refuse(format!(
            "message too long: {chars} characters, the limit is {max}; nothing was sent"
        ));
    }
    let clean = sanitize(text);
    if clean.trim().is_empty() {
        return refuse("nothing to send: the message held only control characters");
    }
    Ok(clean)
}

fn say<O: Outbox, J: Journal>(
    hub: &mut Hub<O, J>,
    id: MemberId,
    text: &str,
    now: DateTime<Utc>,
    kind: fn(String, String, String) -> EventKind,
) -> Reply {
    let text = body(hub, text)?;
    let member = &hub.members[&id];
    if !member.visible {
        return refuse("this session is not in a room; connect interactively to chat");
    }
    let event = Event::new(
        now,
        kind(hub.room_name(&member.room), member.name.clone(), text),
    );
    hub.say(id, event);
    Ok(None)
}

/// Finds a connected, visible member by name (an `@` in front is allowed).
pub(super) fn resolve<O: Outbox, J: Journal>(
    hub: &Hub<O, J>,
    name: &str,
) -> Result<MemberId, Refusal> {
    let bare = name.trim_start_matches('@');
    match hub.by_name.get(&name::fold(bare)) {
        Some(id) if hub.members.get(id).is_some_and(|m| m.visible) => Ok(*id),
        _ => refuse(format!(
            "no one here is called {}",
            cap_chars(bare, MAX_NAME_CHARS + 8)
        )),
    }
}

fn private<O: Outbox, J: Journal>(
    hub: &mut Hub<O, J>,
    from: MemberId,
    to: MemberId,
    text: &str,
    now: DateTime<Utc>,
) -> Reply {
    let text = body(hub, text)?;
    let sender = &hub.members[&from];
    let (sender_name, sender_key) = (sender.name.clone(), sender.account.clone());
    let target = member_mut(hub, to);
    let target_name = target.name.clone();
    if !target.ignores(from, sender_key.as_deref()) {
        target.reply_to = Some(from);
        let event = Event::new(
            now,
            EventKind::PrivateFrom {
                from: sender_name,
                text: text.clone(),
            },
        );
        hub.deliver_to(to, Arc::new(event));
    }
    let echo = Event::new(
        now,
        EventKind::PrivateTo {
            to: target_name,
            text,
        },
    );
    hub.deliver_to(from, Arc::new(echo));
    Ok(None)
}

/// A private message for a member of another node: the bus takes it there.
fn private_remote<O: Outbox, J: Journal>(
    hub: &mut Hub<O, J>,
    from: MemberId,
    to: RemoteId,
    text: &str,
    now: DateTime<Utc>,
) -> Reply {
    let text = body(hub, text)?;
    let sender = &hub.members[&from];
    let (sender_name, sender_account) = (sender.name.clone(), sender.account.clone());
    let target_name = hub
        .remote_state(&to)
        .map(|s| s.name.clone())
        .unwrap_or_default();
    hub.publish(BusEvent::Private {
        to,
        from_member: from.get(),
        from: sender_name,
        from_account: sender_account,
        text: text.clone(),
        at: now,
    });
    let echo = Event::new(
        now,
        EventKind::PrivateTo {
            to: target_name,
            text,
        },
    );
    hub.deliver_to(from, Arc::new(echo));
    Ok(None)
}

fn nick<O: Outbox, J: Journal>(
    hub: &mut Hub<O, J>,
    id: MemberId,
    asked: &str,
    now: DateTime<Utc>,
) -> Reply {
    if hub.is_clustered() && hub.members[&id].visible {
        // Asked of the whole cluster first: the rename happens when the bus grants it.
        let new = check_rename(hub, id, asked)?;
        hub.publish(BusEvent::WantName {
            member: id,
            name: new,
        });
        return Ok(None);
    }
    let visible = rename(hub, id, asked, now)?;
    let new = &hub.members[&id].name;
    Ok((!visible).then(|| format!("you are now {new}")))
}

/// Gives member `id` the name `asked` if it is free (for `/nick`, and an operator's
/// `/rename`); a keyed member's key comes to own it. Returns whether the member is visible
/// (and so its room was told).
pub(super) fn rename<O: Outbox, J: Journal>(
    hub: &mut Hub<O, J>,
    id: MemberId,
    asked: &str,
    now: DateTime<Utc>,
) -> Result<bool, Refusal> {
    let new = check_rename(hub, id, asked)?;
    let member = &hub.members[&id];
    let (old, account, visible) = (member.name.clone(), member.account.clone(), member.visible);
    hub.by_name.remove(&name::fold(&old));
    hub.by_name.insert(name::fold(&new), id);
    member_mut(hub, id).name = new.clone();
    if let Some(account) = account.filter(|_| visible) {
        hub.claims.claim(&account, &new);
        hub.remember(Record::Claim {
            account,
            name: new.clone(),
        });
    }
    if visible {
        let room = hub.members[&id].room.clone();
        let kind = EventKind::Renamed {
            room: hub.room_name(&room),
            old: old.clone(),
            new,
        };
        hub.broadcast(&room, None, Arc::new(Event::new(now, kind)));
        hub.publish_state(id, Change::Renamed { old });
    }
    Ok(visible)
}

/// The name member `id` would get for `asked`, if it may have it.
pub(super) fn check_rename<O: Outbox, J: Journal>(
    hub: &Hub<O, J>,
    id: MemberId,
    asked: &str,
) -> Result<String, Refusal> {
    let Some(new) = name::clean_name(asked) else {
        return refuse("a name holds letters, digits and _ - . (1 to 24 of them)");
    };
    let member = &hub.members[&id];
    let (old, account) = (member.name.clone(), member.account.clone());
    if new == old {
        return refuse(format!("the name is already {old}"));
    }
    if let Some(holder) = hub.find(&new).filter(|holder| *holder != id) {
        let theirs = &hub.members[&holder].name;
        return refuse(if name::same_but_case(theirs, &new) {
            format!("the name {new} is taken")
        } else {
            format!("the name {new} looks too much like {theirs}, who is here")
        });
    }
    if let Some(holder) = hub.remote_holder(&new)
        && let Some(theirs) = hub.remote_state(holder).map(|s| s.name.clone())
    {
        return refuse(if name::same_but_case(&theirs, &new) {
            format!("the name {new} is taken")
        } else {
            format!("the name {new} looks too much like {theirs}, who is here")
        });
    }
    if let Some(owner) = hub
        .claims
        .owner(&new)
        .filter(|owner| Some(*owner) != account.as_deref())
    {
        let theirs = hub.claims.owned_by(owner).unwrap_or(&new).to_owned();
        return refuse(if name::same_but_case(&theirs, &new) {
            format!("the name {new} is registered to someone else")
        } else {
            format!(
                "the name {new} looks too much like {theirs}, which is registered to someone else"
            )
        });
    }
    Ok(new)
}

/// A private message for someone offline whose name an account owns: kept for the account
/// and delivered when it next joins. `None` if nobody owns the name (there is nobody to keep
/// it for).
fn leave_message<O: Outbox, J: Journal>(
    hub: &mut Hub<O, J>,
    from: MemberId,
    to: &str,
    text: &str,
    now: DateTime<Utc>,
) -> Option<Reply> {
    let bare = to.trim_start_matches('@');
    let owner = hub.claims.owner(bare)?.to_owned();
    let name = hub.claims.owned_by(&owner).unwrap_or(bare).to_owned();
    Some(keep_message(hub, from, owner, name, text, now))
}

fn keep_message<O: Outbox, J: Journal>(
    hub: &mut Hub<O, J>,
    from: MemberId,
    owner: String,
    name: String,
    text: &str,
    now: DateTime<Utc>,
) -> Reply {
    let text = body(hub, text)?;
    let waiting = hub.offline_counts.get(&owner).copied().unwrap_or(0);
    if waiting >= hub.config.max_offline_messages {
        return refuse(format!(
            "{name} is offline and already has {waiting} messages waiting; try again when they are back"
        ));
    }
    let sender = hub.members[&from].name.clone();
    hub.offline_counts.insert(owner.clone(), waiting + 1);
    hub.remember(Record::Offline(OfflineMessage {
        to: owner,
        from: sender,
        text: text.clone(),
        at: now,
    }));
    let echo = Event::new(
        now,
        EventKind::PrivateTo {
            to: name.clone(),
            text,
        },
    );
    hub.deliver_to(from, Arc::new(echo));
    Ok(Some(format!(
        "{name} is offline; they will get your message when they next join"
    )))
}

fn ignore<O: Outbox, J: Journal>(hub: &mut Hub<O, J>, id: MemberId, name: &str) -> Reply {
    if let Some(Target::Remote(remote)) = hub.target(name) {
        let state = hub.remote_state(&remote).cloned().expect("target found it");
        let member = member_mut(hub, id);
        let folded = name::fold(&state.name);
        let already = member.ignoring.iter().any(|i| {
            (state.account.is_some() && i.account == state.account) || name::fold(&i.name) == folded
        });
        if already {
            return refuse(format!("you are already ignoring {}", state.name));
        }
        member.ignoring.push(Ignored {
            id: None,
            account: state.account.clone(),
            name: state.name.clone(),
        });
        return Ok(Some(format!(
            "ignoring {0}; /unignore {0} to stop",
            state.name
        )));
    }
    let target = resolve(hub, name)?;
    if target == id {
        return refuse("you cannot ignore yourself");
    }
    let (target_name, account) = {
        let t = &hub.members[&target];
        (t.name.clone(), t.account.clone())
    };
    let member = member_mut(hub, id);
    if member.ignores(target, account.as_deref()) {
        return refuse(format!("you are already ignoring {target_name}"));
    }
    member.ignoring.push(Ignored {
        id: Some(target),
        account,
        name: target_name.clone(),
    });
    Ok(Some(format!(
        "ignoring {target_name}; /unignore {target_name} to stop"
    )))
}

fn join_room<O: Outbox, J: Journal>(
    hub: &mut Hub<O, J>,
    id: MemberId,
    asked: &str,
    now: DateTime<Utc>,
) -> Reply {
    let Some(display) = name::clean_room(asked) else {
        return refuse("a room name holds letters, digits and _ - . (1 to 24 of them), like #rust");
    };
    let key = name::fold(&display);
    let member = &hub.members[&id];
    if !member.visible {
        return refuse("this session is not in a room");
    }
    let old = member.room.clone();
    if old == key {
        return refuse(format!("you are already in {display}"));
    }
    let name = member.name.clone();
    hub.exit_room(id, &old);
    let to = hub
        .rooms
        .entry(key.clone())
        .or_insert_with(|| Room::new(display))
        .name
        .clone();
    let moved = EventKind::Moved {
        room: hub.room_name(&old),
        name,
        to,
    };
    hub.broadcast(&old, Some(id), Arc::new(Event::new(now, moved)));
    hub.drop_room_if_idle(&old);
    let from = hub.room_name(&old);
    hub.enter_room(id, key, now);
    hub.publish_state(id, Change::Moved { from });
    Ok(None)
}

fn help(max_chars: usize, operator: bool) -> String {
    let shown = |spec: &&crate::command::CommandSpec| operator || !spec.operator;
    let width = COMMANDS
        .iter()
        .filter(shown)
        .map(|c| c.usage.len())
        .max()
        .unwrap_or(0);
    let mut text = String::from("Commands:");
    for spec in COMMANDS.iter().filter(|s| !s.operator) {
        text.push_str(&format!("\n{:width$}  {}", spec.usage, spec.summary));
        if !spec.aliases.is_empty() {
            text.push_str(&format!(" (also {})", spec.aliases.join(", ")));
        }
    }
    if operator {
        text.push_str("\nOperator commands:");
        for spec in COMMANDS.iter().filter(|s| s.operator) {
            text.push_str(&format!("\n{:width$}  {}", spec.usage, spec.summary));
        }
    }
    text.push_str(&format!(
        "\nMessages are up to {max_chars} characters. Start a line with // to say a literal /."
    ));
    text
}

fn who<O: Outbox, J: Journal>(hub: &Hub<O, J>, id: MemberId) -> Answer {
    let member = &hub.members[&id];
    let room = hub.room_name(&member.room);
    let members = hub
        .names_in(&room)
        .into_iter()
        .map(|name| {
            let local = hub.find(&name).map(|m| &hub.members[&m]);
            let away = match local {
                Some(m) => m.away.is_some(),
                None => hub
                    .remote_holder(&name)
                    .and_then(|r| hub.remote_state(r))
                    .is_some_and(|s| s.away.is_some()),
            };
            WhoEntry {
                away,
                bot: local.is_some_and(|m| m.bot),
                name,
            }
        })
        .collect();
    Answer::Who { room, members }
}

fn whois<O: Outbox, J: Journal>(hub: &Hub<O, J>, id: MemberId, now: DateTime<Utc>) -> Answer {
    let m = &hub.members[&id];
    // A name is verified when the member's key belongs to the account that owns it.
    let verified = m
        .account
        .as_deref()
        .is_some_and(|account| hub.claims.owner(&m.name) == Some(account));
    Answer::Whois(Whois {
        name: m.name.clone(),
        verified,
        fingerprint: m.fingerprint.clone(),
        connected_at: m.connected_at,
        connected_for: now - m.connected_at,
        idle: now - m.last_active,
        room: hub.room_name(&m.room),
        away: m.away.clone(),
        bot: m.bot,
    })
}

fn rooms<O: Outbox, J: Journal>(hub: &Hub<O, J>) -> Answer {
    let lobby = name::fold(LOBBY);
    let rooms = hub
        .rooms
        .iter()
        .filter(|(key, room)| !room.members.is_empty() || !room.remote.is_empty() || **key == lobby)
        .map(|(_, room)| RoomEntry {
            name: room.name.clone(),
            members: room.members.len() + room.remote.len(),
        })
        .collect();
    Answer::Rooms { rooms }
}
