//! Operators and what they can do: kick, ban, mute, grant operator rights, rename, set the
//! MOTD. Every action is recorded for the audit trail. A kick or ban works whatever state the
//! member's connection is in: the hub removes the member and asks the edge to disconnect it
//! through [`Outbox::disconnect`], which does not depend on the member reading anything.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::cluster::{BusEvent, Departure, RemoteAct, RemoteId, Target};
use super::commands::{Refusal, Reply, refuse};
use super::{Hub, MemberId, Outbox};
use crate::command::{Command, format_duration};
use crate::event::{Event, EventKind, NoticeLevel};
use crate::journal::{AuditEntry, Ban, BanTarget, Journal, Record};
use crate::name;

impl<O: Outbox, J: Journal> Hub<O, J> {
    /// Replaces the keys of the admins file (on start-up and reload). Members online gain or
    /// lose operator rights at once.
    pub fn set_admins(&mut self, admins: HashSet<String>) {
        self.admins = admins;
        let ids: Vec<MemberId> = self.members.keys().copied().collect();
        for id in ids {
            self.refresh_operator(id);
        }
    }

    /// The ban that keeps out a connection with this key, account or address, if any. The
    /// edge asks at accept (address) and at authentication (key and its account).
    pub fn ban_for(
        &self,
        fingerprint: Option<&str>,
        account: Option<&str>,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Option<&Ban> {
        self.bans.iter().find(|ban| {
            ban.is_active(now)
                && match &ban.target {
                    BanTarget::Account(id) => Some(id.as_str()) == account,
                    BanTarget::Key(fp) => Some(fp.as_str()) == fingerprint,
                    BanTarget::Ip(addr) => Some(*addr) == ip,
                }
        })
    }

    pub(super) fn refresh_operator(&mut self, id: MemberId) {
        let Some(member) = self.members.get(&id) else {
            return;
        };
        let op = self.is_operator(member.fingerprint.as_deref(), member.account.as_deref());
        if let Some(member) = self.members.get_mut(&id) {
            member.op = op;
        }
    }

    /// Removes a member for moderation: its room is told, the edge is told to disconnect it,
    /// and no "left" line follows.
    pub(super) fn remove(
        &mut self,
        id: MemberId,
        by: &str,
        reason: Option<&str>,
        banned: bool,
        now: DateTime<Utc>,
    ) {
        let Some(member) = self.members.get(&id) else {
            return;
        };
        let (name, room, visible) = (member.name.clone(), member.room.clone(), member.visible);
        let what = if banned { "banned" } else { "kicked out" };
        let told = match reason {
            Some(reason) => format!("you were {what} by {by}: {reason}"),
            None => format!("you were {what} by {by}"),
        };
        member.outbox.disconnect(&told);
        if self.by_name.get(&name::fold(&name)) == Some(&id) {
            self.by_name.remove(&name::fold(&name));
        }
        if visible {
            self.exit_room(id, &room);
            if self.is_clustered() {
                self.publish(BusEvent::Gone {
                    member: id.get(),
                    name: name.clone(),
                    room: self.room_name(&room),
                    how: Departure::Removed {
                        by: by.to_owned(),
                        reason: reason.map(str::to_owned),
                        banned,
                    },
                });
            }
            let kind = EventKind::Removed {
                room: self.room_name(&room),
                name,
                by: by.to_owned(),
                reason: reason.map(str::to_owned),
                banned,
            };
            self.broadcast(&room, None, Arc::new(Event::new(now, kind)));
            self.drop_room_if_idle(&room);
        }
        self.members.remove(&id);
    }

    fn audit(&mut self, by: MemberId, action: String, now: DateTime<Utc>) {
        let Some(member) = self.members.get(&by) else {
            return; // cannot happen: an operator's own action never removes them
        };
        let entry = AuditEntry {
            at: now,
            by: member.name.clone(),
            by_fingerprint: member.fingerprint.clone(),
            action,
        };
        self.remember(Record::Audit(entry));
    }
}

/// Whether a command needs an operator.
pub(super) fn is_operator_command(command: &Command) -> bool {
    matches!(
        command,
        Command::Kick { .. }
            | Command::Ban { .. }
            | Command::Unban(_)
            | Command::Banned
            | Command::Mute(_)
            | Command::Unmute(_)
            | Command::Op(_)
            | Command::Deop(_)
            | Command::Rename { .. }
            | Command::Reload
            | Command::Motd(Some(_))
    )
}

/// Carries out an operator command; the caller has checked that `by` is an operator.
pub(super) fn execute<O: Outbox, J: Journal>(
    hub: &mut Hub<O, J>,
    by: MemberId,
    command: Command,
    now: DateTime<Utc>,
) -> Reply {
    let op_name = hub.members[&by].name.clone();
    match command {
        Command::Kick { name, reason } => {
            if let Some(Target::Remote(target)) = hub.target(&name) {
                let target_name = remote_name(hub, &target);
                hub.publish(BusEvent::Act {
                    target,
                    act: RemoteAct::Kick {
                        by: op_name,
                        reason: reason.clone(),
                    },
                });
                hub.audit(by, format!("kick {target_name}{}", because(&reason)), now);
                return Ok(Some(format!("{target_name} was kicked out")));
            }
            let target = super::commands::resolve(hub, &name)?;
            if target == by {
                return refuse("you cannot kick yourself; /exit leaves");
            }
            let target_name = hub.members[&target].name.clone();
            hub.remove(target, &op_name, reason.as_deref(), false, now);
            hub.audit(by, format!("kick {target_name}{}", because(&reason)), now);
            Ok(Some(format!("{target_name} was kicked out")))
        }
        Command::Ban {
            target,
            duration,
            reason,
        } => ban(hub, by, &op_name, &target, duration, reason, now),
        Command::Unban(target) => {
            let before = hub.bans.len();
            let parsed = BanTarget::parse(&target);
            let folded = name::fold(&target);
            let mut lifted = Vec::new();
            hub.bans.retain(|ban| {
                let matches = Some(&ban.target) == parsed.as_ref()
                    || ban.name.as_deref().is_some_and(|n| name::fold(n) == folded);
                if matches {
                    lifted.push(ban.target.clone());
                }
                !matches
            });
            for target in lifted {
                hub.remember(Record::Unban(target.clone()));
                hub.publish(BusEvent::Unban(target));
            }
            if hub.bans.len() == before {
                return refuse(format!(
                    "nothing is banned as {target}; /banned lists the bans"
                ));
            }
            hub.audit(by, format!("unban {target}"), now);
            Ok(Some(format!("{target} is no longer banned")))
        }
        Command::Banned => {
            hub.bans.retain(|ban| ban.is_active(now));
            if hub.bans.is_empty() {
                return Ok(Some("nobody is banned".to_owned()));
            }
            let lines: Vec<String> = hub.bans.iter().map(describe_ban).collect();
            Ok(Some(format!("bans:\n{}", lines.join("\n"))))
        }
        Command::Mute(name) => set_muted(hub, by, &op_name, &name, true, now),
        Command::Unmute(name) => set_muted(hub, by, &op_name, &name, false, now),
        Command::Op(name) => set_operator(hub, by, &name, true, now),
        Command::Deop(name) => set_operator(hub, by, &name, false, now),
        Command::Rename { name, new } => {
            if let Some(Target::Remote(target)) = hub.target(&name) {
                let old = remote_name(hub, &target);
                hub.publish(BusEvent::Act {
                    target,
                    act: RemoteAct::Rename {
                        by: op_name,
                        new: new.clone(),
                    },
                });
                hub.audit(by, format!("rename {old} to {new}"), now);
                return Ok(Some(format!(
                    "asked {old}'s server to rename them to {new}"
                )));
            }
            let target = super::commands::resolve(hub, &name)?;
            let old = hub.members[&target].name.clone();
            super::commands::rename(hub, target, &new, now)?;
            let new = hub.members[&target].name.clone();
            hub.notify(
                target,
                now,
                NoticeLevel::Info,
                format!("{op_name} renamed you to {new}"),
            );
            hub.audit(by, format!("rename {old} to {new}"), now);
            Ok(None)
        }
        Command::Motd(Some(text)) => {
            hub.config.motd = Some(text.clone());
            hub.audit(by, format!("set the motd to {text:?}"), now);
            Ok(Some("the message of the day is set".to_owned()))
        }
        Command::Reload => {
            hub.audit(by, "reload the access files".to_owned(), now);
            Ok(None)
        }
        other => refuse(format!("{other} is not an operator command")),
    }
}

fn set_muted<O: Outbox, J: Journal>(
    hub: &mut Hub<O, J>,
    by: MemberId,
    op_name: &str,
    name: &str,
    mute: bool,
    now: DateTime<Utc>,
) -> Reply {
    if let Some(Target::Remote(target)) = hub.target(name) {
        let state = hub.remote_state(&target).cloned().expect("target found it");
        // Not refused when the mirror says it is so already: the mirror may not yet show a
        // mute made a moment ago (an unmute right after a mute would be lost). The member's
        // own node decides, and does nothing if nothing changes.
        hub.publish(BusEvent::Act {
            target,
            act: RemoteAct::Mute {
                by: op_name.to_owned(),
                muted: mute,
            },
        });
        hub.audit(
            by,
            format!("{} {}", if mute { "mute" } else { "unmute" }, state.name),
            now,
        );
        return Ok(Some(format!(
            "{} is {}",
            state.name,
            if mute { "muted" } else { "unmuted" }
        )));
    }
    let target = super::commands::resolve(hub, name)?;
    let member = hub
        .members
        .get_mut(&target)
        .expect("resolve finds members that exist");
    let target_name = member.name.clone();
    if member.muted == mute {
        return refuse(format!(
            "{target_name} is {} muted",
            if mute { "already" } else { "not" }
        ));
    }
    member.muted = mute;
    hub.publish_state(target, super::cluster::Change::Updated);
    let told = if mute {
        format!("{op_name} muted you: you can read, but what you say reaches nobody")
    } else {
        format!("{op_name} unmuted you: you can talk again")
    };
    hub.notify(target, now, NoticeLevel::Info, told);
    hub.audit(
        by,
        format!("{} {target_name}", if mute { "mute" } else { "unmute" }),
        now,
    );
    Ok(Some(format!(
        "{target_name} is {}",
        if mute { "muted" } else { "unmuted" }
    )))
}

fn because(reason: &Option<String>) -> String {
    reason
        .as_ref()
        .map(|r| format!(" ({r})"))
        .unwrap_or_default()
}

fn describe_ban(ban: &Ban) -> String {
    let who = ban
        .name
        .as_ref()
        .map(|n| format!(" ({n})"))
        .unwrap_or_default();
    let until = match ban.until {
        Some(until) => format!("until {} UTC", until.format("%Y-%m-%d %H:%M")),
        None => "forever".to_owned(),
    };
    format!("{}{who} {until}, by {}: {}", ban.target, ban.by, ban.reason)
}

#[allow(clippy::too_many_arguments)]
fn ban<O: Outbox, J: Journal>(
    hub: &mut Hub<O, J>,
    by: MemberId,
    op_name: &str,
    target: &str,
    duration: Option<Duration>,
    reason: Option<String>,
    now: DateTime<Utc>,
) -> Reply {
    let (target, name) = match BanTarget::parse(target) {
        Some(parsed) => (parsed, None),
        None if target.starts_with("fingerprint:") || target.starts_with("ip:") => {
            return refuse(format!(
                "{target} is not a fingerprint:SHA256:... or an ip:ADDR"
            ));
        }
        None => ban_target_for_name(hub, target)?,
    };
    let me = &hub.members[&by];
    let myself = match &target {
        BanTarget::Key(fp) => me.fingerprint.as_deref() == Some(fp.as_str()),
        BanTarget::Account(id) => me.account.as_deref() == Some(id.as_str()),
        BanTarget::Ip(ip) => me.ip == Some(*ip),
    };
    if myself {
        return refuse(match &target {
            BanTarget::Ip(ip) => {
                format!("you connect from {ip} yourself: banning it would shut you out too")
            }
            _ => "you cannot ban yourself".to_owned(),
        });
    }
    let until = match duration {
        Some(d) => Some(
            now + TimeDelta::from_std(d).map_err(|_| Refusal("that ban is too long".to_owned()))?,
        ),
        None => None,
    };
    let ban = Ban {
        target: target.clone(),
        name: name.clone(),
        until,
        reason: reason
            .clone()
            .unwrap_or_else(|| "no reason given".to_owned()),
        by: op_name.to_owned(),
        at: now,
    };
    hub.bans.retain(|b| b.target != target);
    hub.bans.push(ban.clone());
    hub.remember(Record::Ban(ban.clone()));
    hub.publish(BusEvent::Ban(ban));
    // Everyone the ban covers goes at once (on other nodes, when they hear of it).
    let covered = hub.covered_by(&target);
    for id in covered {
        hub.remove(id, op_name, reason.as_deref(), true, now);
    }
    let span = duration.map_or_else(
        || "forever".to_owned(),
        |d| format!("for {}", format_duration(d)),
    );
    let label = name.unwrap_or_else(|| target.to_string());
    hub.audit(
        by,
        format!("ban {label} ({target}) {span}{}", because(&reason)),
        now,
    );
    Ok(Some(format!("{label} is banned {span}")))
}

/// What banning a name means: the member's account if it has one (every key of it), else
/// its key, else its address; for someone offline, the account that owns the name.
fn ban_target_for_name<O: Outbox, J: Journal>(
    hub: &Hub<O, J>,
    raw: &str,
) -> Result<(BanTarget, Option<String>), Refusal> {
    let bare = raw.trim_start_matches('@');
    if let Some(Target::Remote(remote)) = hub.target(bare) {
        let m = hub.remote_state(&remote).expect("target found it");
        let target = match (&m.account, &m.fingerprint, m.ip) {
            (Some(account), _, _) => BanTarget::Account(account.clone()),
            (None, Some(fp), _) => BanTarget::Key(fp.clone()),
            (None, None, Some(ip)) => BanTarget::Ip(ip),
            (None, None, None) => {
                return refuse(format!(
                    "{} has neither a key nor an address to ban",
                    m.name
                ));
            }
        };
        return Ok((target, Some(m.name.clone())));
    }
    if let Some(id) = hub.find(bare) {
        let member = &hub.members[&id];
        let target = match (&member.account, &member.fingerprint, member.ip) {
            (Some(account), _, _) => BanTarget::Account(account.clone()),
            (None, Some(fp), _) => BanTarget::Key(fp.clone()),
            (None, None, Some(ip)) => BanTarget::Ip(ip),
            (None, None, None) => {
                return refuse(format!(
                    "{} has neither a key nor an address to ban",
                    member.name
                ));
            }
        };
        return Ok((target, Some(member.name.clone())));
    }
    match hub.claims.owner(bare) {
        Some(owner) => Ok((BanTarget::Account(owner.to_owned()), Some(bare.to_owned()))),
        None => refuse(format!(
            "no one here is called {bare}, and no account has that name"
        )),
    }
}

fn set_operator<O: Outbox, J: Journal>(
    hub: &mut Hub<O, J>,
    by: MemberId,
    name: &str,
    grant: bool,
    now: DateTime<Utc>,
) -> Reply {
    let (target, target_name, fingerprint, account) = match hub.target(name) {
        Some(Target::Remote(remote)) => {
            let m = hub.remote_state(&remote).expect("target found it");
            (
                None,
                m.name.clone(),
                m.fingerprint.clone(),
                m.account.clone(),
            )
        }
        _ => {
            let target = super::commands::resolve(hub, name)?;
            let member = &hub.members[&target];
            (
                Some(target),
                member.name.clone(),
                member.fingerprint.clone(),
                member.account.clone(),
            )
        }
    };
    let Some(account) = account else {
        return refuse(format!(
            "{target_name} has no account; only members with a registered key can be operators"
        ));
    };
    if grant {
        if hub.is_operator(fingerprint.as_deref(), Some(&account)) {
            return refuse(format!("{target_name} is already an operator"));
        }
        hub.operators.insert(account.clone());
    } else {
        if fingerprint
            .as_deref()
            .is_some_and(|fp| hub.admins.contains(fp))
        {
            return refuse(format!(
                "{target_name} is an admin (from the admins file); edit the file to change that"
            ));
        }
        if !hub.operators.remove(&account) {
            return refuse(format!("{target_name} is not an operator"));
        }
    }
    hub.remember(Record::Operator {
        account: account.clone(),
        granted: grant,
    });
    for id in hub.members_of(&account) {
        hub.refresh_operator(id);
    }
    let op_name = hub.members[&by].name.clone();
    hub.publish(BusEvent::Operator {
        account: account.clone(),
        granted: grant,
        by: op_name.clone(),
    });
    let (told, done) = if grant {
        (
            format!("{op_name} made you an operator; /help lists your commands"),
            "op",
        )
    } else {
        (format!("{op_name} took your operator rights away"), "deop")
    };
    if let Some(target) = target {
        hub.notify(target, now, NoticeLevel::Info, told);
    }
    hub.audit(by, format!("{done} {target_name}"), now);
    Ok(Some(if grant {
        format!("{target_name} is now an operator")
    } else {
        format!("{target_name} is no longer an operator")
    }))
}

/// The name of a member of another node, as this hub last heard it.
fn remote_name<O: Outbox, J: Journal>(hub: &Hub<O, J>, id: &RemoteId) -> String {
    hub.remote_state(id)
        .map(|s| s.name.clone())
        .unwrap_or_default()
}
