//! The command language: one place that turns a submitted line into a [`Command`].
//!
//! Plain text is [`Command::Say`]; `//text` says a literal `/text`; `/name args` is a command.
//! A command nobody knows is [`Command::Unknown`], not an error, so the hub can answer it. A
//! known command with a missing or malformed argument is a [`ParseError`] whose message shows
//! the usage. [`Command`]'s `Display` writes the line that parses back to it.

use std::fmt;
use std::time::Duration;

use thiserror::Error;

use crate::prefs::{Theme, TimestampMode, UtcOffset};

/// A line a member submitted, understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Say `text` to the room.
    Say(String),
    /// `/me TEXT`
    Me(String),
    /// `/help`
    Help,
    /// `/who`, `/names`, `/list`
    Who,
    /// `/nick NAME`
    Nick(String),
    /// `/msg NAME TEXT`
    Msg { to: String, text: String },
    /// `/reply TEXT`
    Reply(String),
    /// `/away [REASON]`
    Away(Option<String>),
    /// `/back`
    Back,
    /// `/whois NAME`
    Whois(String),
    /// `/timestamp [off|time|datetime] [+HH:MM]`: with neither, show the setting.
    Timestamp {
        mode: Option<TimestampMode>,
        offset: Option<UtcOffset>,
    },
    /// `/theme [colors|mono]`: without a theme, show the setting.
    Theme(Option<Theme>),
    /// `/ignore [NAME]`: without a name, list who is ignored.
    Ignore(Option<String>),
    /// `/unignore NAME`
    Unignore(String),
    /// `/quiet`: toggle hiding joins and leaves.
    Quiet,
    /// `/join #ROOM`
    Join(String),
    /// `/rooms`
    Rooms,
    /// `/part`
    Part,
    /// `/motd [TEXT]`: show the message of the day, or (operators) set it.
    Motd(Option<String>),
    /// `/history [N]`: the last N lines of this room (default 20, at most 200).
    History(Option<usize>),
    /// `/keys ...`: the keys of the member's own account.
    Keys(KeysCommand),
    /// `/exit`, `/quit`
    Exit,
    /// `/kick NAME [REASON]` (operators)
    Kick {
        name: String,
        reason: Option<String>,
    },
    /// `/ban NAME|fingerprint:SHA256:…|ip:ADDR [DURATION] [REASON]` (operators)
    Ban {
        target: String,
        duration: Option<Duration>,
        reason: Option<String>,
    },
    /// `/unban NAME|fingerprint:SHA256:…|ip:ADDR` (operators)
    Unban(String),
    /// `/banned` (operators)
    Banned,
    /// `/mute NAME` (operators)
    Mute(String),
    /// `/unmute NAME` (operators)
    Unmute(String),
    /// `/op NAME` (operators)
    Op(String),
    /// `/deop NAME` (operators)
    Deop(String),
    /// `/rename NAME NEW` (operators)
    Rename { name: String, new: String },
    /// `/reload` (operators): read the admins and allowlist files again.
    Reload,
    /// A `/word` that is no command; `name` is without the slash.
    Unknown { name: String },
}

/// What `/keys` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeysCommand {
    /// `/keys`: list the account's keys.
    List,
    /// `/keys add LINE`: add the key of an `authorized_keys` line (the comment becomes its
    /// label).
    Add { line: String },
    /// `/keys remove FINGERPRINT [--yes]`: `--yes` confirms removing the key one is logged in
    /// with.
    Remove {
        fingerprint: String,
        confirmed: bool,
    },
    /// `/keys label FINGERPRINT LABEL`
    Label { fingerprint: String, label: String },
}

impl fmt::Display for KeysCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeysCommand::List => f.write_str("/keys"),
            KeysCommand::Add { line } => write!(f, "/keys add {line}"),
            KeysCommand::Remove {
                fingerprint,
                confirmed,
            } => {
                write!(f, "/keys remove {fingerprint}")?;
                if *confirmed {
                    f.write_str(" --yes")?;
                }
                Ok(())
            }
            KeysCommand::Label { fingerprint, label } => {
                write!(f, "/keys label {fingerprint} {label}")
            }
        }
    }
}

/// Why a line is not a valid command. Messages are written to be shown to the member as they are.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    #[error("nothing to send")]
    Empty,
    #[error("missing argument; usage: {usage}")]
    MissingArgument { usage: &'static str },
    #[error("{found:?} is not valid here; usage: {usage}")]
    InvalidArgument { found: String, usage: &'static str },
}

/// What `/help` and Tab completion know about a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandSpec {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub usage: &'static str,
    pub summary: &'static str,
    /// Only operators may use it (and only they see it in `/help`).
    pub operator: bool,
}

/// Every command, in the order `/help` lists them.
pub const COMMANDS: &[CommandSpec] = &[
    spec("/help", &[], "/help", "show this help"),
    spec("/who", &["/names", "/list"], "/who", "who is in this room"),
    spec("/nick", &[], "/nick NAME", "change your name"),
    spec("/msg", &[], "/msg NAME TEXT", "send a private message"),
    spec(
        "/reply",
        &[],
        "/reply TEXT",
        "answer your last private message",
    ),
    spec("/me", &[], "/me TEXT", "say what you are doing"),
    spec("/away", &[], "/away [REASON]", "mark yourself away"),
    spec("/back", &[], "/back", "mark yourself back"),
    spec(
        "/whois",
        &[],
        "/whois NAME",
        "who someone is, and how long idle",
    ),
    spec(
        "/timestamp",
        &[],
        "/timestamp [MODE] [OFFSET]",
        "times as off, time or datetime, at an offset like +02:00",
    ),
    spec("/theme", &[], "/theme [colors|mono]", "colours, or none"),
    spec(
        "/ignore",
        &[],
        "/ignore [NAME]",
        "hide someone's messages, or list them",
    ),
    spec("/unignore", &[], "/unignore NAME", "stop ignoring someone"),
    spec("/quiet", &[], "/quiet", "hide or show joins and leaves"),
    spec(
        "/join",
        &[],
        "/join #ROOM",
        "enter a room, creating it if needed",
    ),
    spec(
        "/rooms",
        &[],
        "/rooms",
        "list rooms and how many are in each",
    ),
    spec("/part", &[], "/part", "go back to #lobby"),
    spec(
        "/motd",
        &[],
        "/motd [TEXT]",
        "show the message of the day (operators: set it)",
    ),
    spec(
        "/history",
        &[],
        "/history [N]",
        "show the last N lines of this room (up to 200)",
    ),
    spec(
        "/keys",
        &[],
        "/keys [add|remove|label]",
        "list or change the keys of your account",
    ),
    spec("/exit", &["/quit"], "/exit", "leave the chat"),
    op_spec("/kick", "/kick NAME [REASON]", "disconnect someone"),
    op_spec(
        "/ban",
        "/ban NAME|fingerprint:SHA256:...|ip:ADDR [DURATION] [REASON]",
        "keep someone out (DURATION like 30m, 2h, 7d; forever without)",
    ),
    op_spec(
        "/unban",
        "/unban NAME|fingerprint:SHA256:...|ip:ADDR",
        "lift a ban",
    ),
    op_spec("/banned", "/banned", "list the bans"),
    op_spec("/mute", "/mute NAME", "let someone read but not talk"),
    op_spec("/unmute", "/unmute NAME", "let someone talk again"),
    op_spec("/op", "/op NAME", "make someone (with a key) an operator"),
    op_spec("/deop", "/deop NAME", "take operator rights away"),
    op_spec("/rename", "/rename NAME NEW", "change someone's name"),
    op_spec(
        "/reload",
        "/reload",
        "read the admins and allowlist files again",
    ),
];

const fn spec(
    name: &'static str,
    aliases: &'static [&'static str],
    usage: &'static str,
    summary: &'static str,
) -> CommandSpec {
    CommandSpec {
        name,
        aliases,
        usage,
        summary,
        operator: false,
    }
}

const fn op_spec(name: &'static str, usage: &'static str, summary: &'static str) -> CommandSpec {
    CommandSpec {
        name,
        aliases: &[],
        usage,
        summary,
        operator: true,
    }
}

/// Finds a command by its name or an alias, `/` included, ignoring case.
pub fn lookup(word: &str) -> Option<&'static CommandSpec> {
    COMMANDS.iter().find(|spec| {
        spec.name.eq_ignore_ascii_case(word)
            || spec.aliases.iter().any(|a| a.eq_ignore_ascii_case(word))
    })
}

impl Command {
    /// Understands one submitted line. Surrounding whitespace is ignored.
    pub fn parse(line: &str) -> Result<Command, ParseError> {
        let line = line.trim();
        if line.is_empty() {
            return Err(ParseError::Empty);
        }
        if let Some(literal) = line.strip_prefix("//") {
            return Ok(Command::Say(format!("/{literal}")));
        }
        let Some(rest) = line.strip_prefix('/') else {
            return Ok(Command::Say(line.to_owned()));
        };
        let (word, args) = split_word(rest);
        let Some(spec) = lookup(&format!("/{word}")) else {
            return Ok(Command::Unknown {
                name: word.to_owned(),
            });
        };
        parse_args(spec, args)
    }
}

/// Splits off the first whitespace-separated word; the rest has its leading whitespace removed.
fn split_word(text: &str) -> (&str, &str) {
    match text.split_once(char::is_whitespace) {
        Some((word, rest)) => (word, rest.trim_start()),
        None => (text, ""),
    }
}

fn parse_args(spec: &CommandSpec, args: &str) -> Result<Command, ParseError> {
    let usage = spec.usage;
    let missing = || ParseError::MissingArgument { usage };
    let text = || {
        (!args.is_empty())
            .then(|| args.to_owned())
            .ok_or_else(missing)
    };
    let one_word = || match split_word(args) {
        ("", _) => Err(missing()),
        (word, "") => Ok(word.to_owned()),
        (_, extra) => Err(ParseError::InvalidArgument {
            found: extra.to_owned(),
            usage,
        }),
    };
    let optional = || (!args.is_empty()).then(|| args.to_owned());
    Ok(match spec.name {
        "/help" => Command::Help,
        "/who" => Command::Who,
        "/nick" => Command::Nick(one_word()?),
        "/msg" => match split_word(args) {
            ("", _) | (_, "") => return Err(missing()),
            (to, text) => Command::Msg {
                to: to.to_owned(),
                text: text.to_owned(),
            },
        },
        "/reply" => Command::Reply(text()?),
        "/me" => Command::Me(text()?),
        "/away" => Command::Away(optional()),
        "/back" => Command::Back,
        "/whois" => Command::Whois(one_word()?),
        "/timestamp" => parse_timestamp(args)?,
        "/theme" => match args {
            "" => Command::Theme(None),
            name => Command::Theme(Some(Theme::from_name(name).ok_or_else(|| {
                ParseError::InvalidArgument {
                    found: name.to_owned(),
                    usage,
                }
            })?)),
        },
        "/ignore" => Command::Ignore(match args {
            "" => None,
            _ => Some(one_word()?),
        }),
        "/unignore" => Command::Unignore(one_word()?),
        "/quiet" => Command::Quiet,
        "/join" => Command::Join(one_word()?),
        "/rooms" => Command::Rooms,
        "/part" => Command::Part,
        "/motd" => Command::Motd(optional()),
        "/kick" => match split_word(args) {
            ("", _) => return Err(missing()),
            (name, reason) => Command::Kick {
                name: name.to_owned(),
                reason: (!reason.is_empty()).then(|| reason.to_owned()),
            },
        },
        "/ban" => {
            let (target, rest) = split_word(args);
            if target.is_empty() {
                return Err(missing());
            }
            let (first, after) = split_word(rest);
            let (duration, reason) = match parse_duration(first) {
                Some(d) => (Some(d), after),
                None => (None, rest),
            };
            Command::Ban {
                target: target.to_owned(),
                duration,
                reason: (!reason.is_empty()).then(|| reason.to_owned()),
            }
        }
        "/unban" => Command::Unban(one_word()?),
        "/banned" => Command::Banned,
        "/mute" => Command::Mute(one_word()?),
        "/unmute" => Command::Unmute(one_word()?),
        "/op" => Command::Op(one_word()?),
        "/deop" => Command::Deop(one_word()?),
        "/rename" => match split_word(args) {
            ("", _) | (_, "") => return Err(missing()),
            (name, new) => match split_word(new) {
                (new, "") => Command::Rename {
                    name: name.to_owned(),
                    new: new.to_owned(),
                },
                (_, extra) => {
                    return Err(ParseError::InvalidArgument {
                        found: extra.to_owned(),
                        usage,
                    });
                }
            },
        },
        "/reload" => Command::Reload,
        "/history" => match args {
            "" => Command::History(None),
            n => Command::History(Some(
                n.parse::<usize>().ok().filter(|&n| n > 0).ok_or_else(|| {
                    ParseError::InvalidArgument {
                        found: n.to_owned(),
                        usage,
                    }
                })?,
            )),
        },
        "/keys" => Command::Keys(parse_keys(args)?),
        "/exit" => Command::Exit,
        other => unreachable!("every command in COMMANDS has an arm here, but not {other}"),
    })
}

fn parse_keys(args: &str) -> Result<KeysCommand, ParseError> {
    // Spelled out in full: the short usage in /help only names the verbs.
    let usage =
        "/keys, /keys add LINE, /keys remove FINGERPRINT [--yes], /keys label FINGERPRINT LABEL";
    let missing = || ParseError::MissingArgument { usage };
    let invalid = |found: &str| ParseError::InvalidArgument {
        found: found.to_owned(),
        usage,
    };
    let (verb, rest) = split_word(args);
    Ok(match verb {
        "" | "list" if rest.is_empty() => KeysCommand::List,
        "add" if rest.is_empty() => return Err(missing()),
        "add" => KeysCommand::Add {
            line: rest.to_owned(),
        },
        "remove" => match split_word(rest) {
            ("", _) => return Err(missing()),
            (fingerprint, "") => KeysCommand::Remove {
                fingerprint: fingerprint.to_owned(),
                confirmed: false,
            },
            (fingerprint, "--yes" | "yes") => KeysCommand::Remove {
                fingerprint: fingerprint.to_owned(),
                confirmed: true,
            },
            (_, extra) => return Err(invalid(extra)),
        },
        "label" => match split_word(rest) {
            ("", _) => return Err(missing()),
            (fingerprint, label) => KeysCommand::Label {
                fingerprint: fingerprint.to_owned(),
                label: label.to_owned(),
            },
        },
        _ => return Err(invalid(args)),
    })
}

fn parse_timestamp(args: &str) -> Result<Command, ParseError> {
    // Spelled out in full: the short usage in /help names MODE and OFFSET without listing them.
    let usage = "/timestamp [off|time|datetime] [+HH:MM|-HH:MM]";
    let mut mode = None;
    let mut offset = None;
    for word in args.split_whitespace() {
        if mode.is_none()
            && let Some(m) = TimestampMode::from_name(word)
        {
            mode = Some(m);
        } else if offset.is_none()
            && let Some(o) = UtcOffset::parse(word)
        {
            offset = Some(o);
        } else {
            return Err(ParseError::InvalidArgument {
                found: word.to_owned(),
                usage,
            });
        }
    }
    Ok(Command::Timestamp { mode, offset })
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Say(text) if text.starts_with('/') => write!(f, "/{text}"),
            Command::Say(text) => f.write_str(text),
            Command::Me(text) => write!(f, "/me {text}"),
            Command::Help => f.write_str("/help"),
            Command::Who => f.write_str("/who"),
            Command::Nick(name) => write!(f, "/nick {name}"),
            Command::Msg { to, text } => write!(f, "/msg {to} {text}"),
            Command::Reply(text) => write!(f, "/reply {text}"),
            Command::Away(None) => f.write_str("/away"),
            Command::Away(Some(reason)) => write!(f, "/away {reason}"),
            Command::Back => f.write_str("/back"),
            Command::Whois(name) => write!(f, "/whois {name}"),
            Command::Timestamp { mode, offset } => {
                f.write_str("/timestamp")?;
                if let Some(mode) = mode {
                    write!(f, " {}", mode.as_str())?;
                }
                if let Some(offset) = offset {
                    write!(f, " {offset}")?;
                }
                Ok(())
            }
            Command::Theme(None) => f.write_str("/theme"),
            Command::Theme(Some(theme)) => write!(f, "/theme {}", theme.as_str()),
            Command::Ignore(None) => f.write_str("/ignore"),
            Command::Ignore(Some(name)) => write!(f, "/ignore {name}"),
            Command::Unignore(name) => write!(f, "/unignore {name}"),
            Command::Quiet => f.write_str("/quiet"),
            Command::Join(room) => write!(f, "/join {room}"),
            Command::Rooms => f.write_str("/rooms"),
            Command::Part => f.write_str("/part"),
            Command::Motd(None) => f.write_str("/motd"),
            Command::Motd(Some(text)) => write!(f, "/motd {text}"),
            Command::Kick { name, reason } => {
                write!(f, "/kick {name}")?;
                reason.iter().try_for_each(|r| write!(f, " {r}"))
            }
            Command::Ban {
                target,
                duration,
                reason,
            } => {
                write!(f, "/ban {target}")?;
                if let Some(duration) = duration {
                    write!(f, " {}", format_duration(*duration))?;
                }
                reason.iter().try_for_each(|r| write!(f, " {r}"))
            }
            Command::Unban(target) => write!(f, "/unban {target}"),
            Command::Banned => f.write_str("/banned"),
            Command::Mute(name) => write!(f, "/mute {name}"),
            Command::Unmute(name) => write!(f, "/unmute {name}"),
            Command::Op(name) => write!(f, "/op {name}"),
            Command::Deop(name) => write!(f, "/deop {name}"),
            Command::Rename { name, new } => write!(f, "/rename {name} {new}"),
            Command::Reload => f.write_str("/reload"),
            Command::History(None) => f.write_str("/history"),
            Command::History(Some(n)) => write!(f, "/history {n}"),
            Command::Keys(keys) => write!(f, "{keys}"),
            Command::Exit => f.write_str("/exit"),
            Command::Unknown { name } => write!(f, "/{name}"),
        }
    }
}

/// Reads a ban duration: a whole number and a unit, `s`, `m`, `h`, `d` or `w` (`30m`, `7d`).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let unit_at = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(unit_at);
    let n: u64 = number.parse().ok().filter(|&n| n > 0)?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return None,
    };
    n.checked_mul(seconds).map(Duration::from_secs)
}

/// Writes a duration the way [`parse_duration`] reads it, in the largest unit that is exact.
pub fn format_duration(duration: Duration) -> String {
    let secs = duration.as_secs().max(1);
    let (n, unit) = [(604_800, "w"), (86_400, "d"), (3600, "h"), (60, "m")]
        .into_iter()
        .find(|(size, _)| secs.is_multiple_of(*size))
        .map_or((secs, "s"), |(size, unit)| (secs / size, unit));
    format!("{n}{unit}")
}

/// The names of commands starting with `prefix` (which includes its `/`), for Tab completion.
pub fn complete(prefix: &str) -> Vec<String> {
    let prefix = prefix.to_lowercase();
    COMMANDS
        .iter()
        .flat_map(|spec| std::iter::once(spec.name).chain(spec.aliases.iter().copied()))
        .filter(|name| name.starts_with(&prefix))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests;
