use super::*;
use proptest::prelude::*;

fn parse(line: &str) -> Result<Command, ParseError> {
    Command::parse(line)
}

#[test]
fn plain_text_is_said() {
    assert_eq!(parse("hello world"), Ok(Command::Say("hello world".into())));
    assert_eq!(parse("  padded  "), Ok(Command::Say("padded".into())));
}

#[test]
fn double_slash_says_a_literal_slash() {
    assert_eq!(parse("//shrug"), Ok(Command::Say("/shrug".into())));
    assert_eq!(Command::Say("/shrug".into()).to_string(), "//shrug");
}

#[test]
fn blank_lines_are_empty() {
    assert_eq!(parse(""), Err(ParseError::Empty));
    assert_eq!(parse("  \t "), Err(ParseError::Empty));
}

#[test]
fn aliases_and_case_are_accepted() {
    assert_eq!(parse("/names"), Ok(Command::Who));
    assert_eq!(parse("/LIST"), Ok(Command::Who));
    assert_eq!(parse("/quit"), Ok(Command::Exit));
    assert_eq!(parse("/Nick Bob"), Ok(Command::Nick("Bob".into())));
}

#[test]
fn unknown_commands_are_a_variant() {
    assert_eq!(
        parse("/frobnicate now"),
        Ok(Command::Unknown {
            name: "frobnicate".into()
        })
    );
}

#[test]
fn missing_arguments_show_the_usage() {
    for (line, usage) in [
        ("/nick", "/nick NAME"),
        ("/msg", "/msg NAME TEXT"),
        ("/msg bob", "/msg NAME TEXT"),
        ("/me", "/me TEXT"),
        ("/reply   ", "/reply TEXT"),
        ("/whois", "/whois NAME"),
        ("/join", "/join #ROOM"),
        ("/unignore", "/unignore NAME"),
    ] {
        assert_eq!(
            parse(line),
            Err(ParseError::MissingArgument { usage }),
            "{line}"
        );
    }
    let message = parse("/nick").unwrap_err().to_string();
    assert_eq!(message, "missing argument; usage: /nick NAME");
}

#[test]
fn one_word_arguments_refuse_extra_words() {
    assert_eq!(
        parse("/nick two words"),
        Err(ParseError::InvalidArgument {
            found: "words".into(),
            usage: "/nick NAME"
        })
    );
}

#[test]
fn msg_keeps_the_text_as_typed() {
    assert_eq!(
        parse("/msg bob  hello   there "),
        Ok(Command::Msg {
            to: "bob".into(),
            text: "hello   there".into()
        })
    );
}

#[test]
fn optional_arguments() {
    assert_eq!(parse("/away"), Ok(Command::Away(None)));
    assert_eq!(
        parse("/away at lunch"),
        Ok(Command::Away(Some("at lunch".into())))
    );
    assert_eq!(parse("/ignore"), Ok(Command::Ignore(None)));
    assert_eq!(parse("/theme"), Ok(Command::Theme(None)));
    assert_eq!(parse("/theme MONO"), Ok(Command::Theme(Some(Theme::Mono))));
    assert!(matches!(
        parse("/theme neon"),
        Err(ParseError::InvalidArgument { .. })
    ));
}

#[test]
fn timestamp_takes_a_mode_and_an_offset_in_either_order() {
    let plus2 = UtcOffset::parse("+02:00");
    assert_eq!(
        parse("/timestamp datetime +02:00"),
        Ok(Command::Timestamp {
            mode: Some(TimestampMode::DateTime),
            offset: plus2
        })
    );
    assert_eq!(
        parse("/timestamp +02:00 off"),
        Ok(Command::Timestamp {
            mode: Some(TimestampMode::Off),
            offset: plus2
        })
    );
    assert_eq!(
        parse("/timestamp"),
        Ok(Command::Timestamp {
            mode: None,
            offset: None
        })
    );
    assert!(matches!(
        parse("/timestamp +25:00"),
        Err(ParseError::InvalidArgument { .. })
    ));
    assert!(matches!(
        parse("/timestamp time time"),
        Err(ParseError::InvalidArgument { .. })
    ));
}

#[test]
fn ban_takes_a_target_an_optional_duration_and_a_reason() {
    use std::time::Duration;
    assert_eq!(
        parse("/ban bob 2h spamming the room"),
        Ok(Command::Ban {
            target: "bob".into(),
            duration: Some(Duration::from_secs(7200)),
            reason: Some("spamming the room".into())
        })
    );
    assert_eq!(
        parse("/ban ip:10.0.0.7 being rude"),
        Ok(Command::Ban {
            target: "ip:10.0.0.7".into(),
            duration: None,
            reason: Some("being rude".into())
        })
    );
    assert_eq!(parse_duration("30m"), Some(Duration::from_secs(1800)));
    assert_eq!(parse_duration("7d"), Some(Duration::from_secs(604_800)));
    for bad in ["", "m", "0m", "5x", "h5", "99999999999999999999w"] {
        assert_eq!(parse_duration(bad), None, "{bad}");
    }
    assert_eq!(format_duration(Duration::from_secs(7200)), "2h");
    assert_eq!(format_duration(Duration::from_secs(90)), "90s");
}

#[test]
fn completion_lists_commands_and_aliases() {
    assert_eq!(complete("/wh"), ["/who", "/whois"]);
    assert_eq!(complete("/Q"), ["/quiet", "/quit"]);
    assert!(complete("/zzz").is_empty());
}

#[test]
fn every_command_spec_parses() {
    for spec in COMMANDS {
        let filled = spec
            .usage
            .replace("[MODE] [OFFSET]", "time +01:00")
            .replace("[add|remove|label]", "")
            .replace("NAME|fingerprint:SHA256:...|ip:ADDR", "ip:10.1.2.3")
            .replace("[DURATION]", "2h")
            .replace("NEW", "robert")
            .replace("[colors|mono]", "mono")
            .replace("#ROOM", "#rust")
            .replace(['[', ']'], "")
            .replace("NAME", "bob")
            .replace("TEXT", "hi there")
            .replace("REASON", "lunch")
            .replace(" N", " 5");
        let parsed = parse(&filled);
        assert!(
            matches!(parsed, Ok(ref c) if !matches!(c, Command::Unknown { .. } | Command::Say(_))),
            "{filled} -> {parsed:?}"
        );
    }
}

fn word() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_.#@-]{1,12}"
}

/// Text as a member would type it: non-empty, no surrounding whitespace.
fn text() -> impl Strategy<Value = String> {
    "[^\\s/]\\PC{0,30}"
        .prop_map(|s| s.trim().to_owned())
        .prop_filter("non-empty", |s| !s.is_empty())
}

fn command() -> impl Strategy<Value = Command> {
    let mode = prop::option::of(prop::sample::select(TimestampMode::ALL.to_vec()));
    let offset =
        prop::option::of((-1439i16..=1439).prop_map(|m| UtcOffset::from_minutes(m).unwrap()));
    prop_oneof![
        text().prop_map(Command::Say),
        text().prop_map(|t| Command::Say(format!("/{t}"))),
        text().prop_map(Command::Me),
        Just(Command::Help),
        Just(Command::Who),
        word().prop_map(Command::Nick),
        (word(), text()).prop_map(|(to, text)| Command::Msg { to, text }),
        text().prop_map(Command::Reply),
        prop::option::of(text()).prop_map(Command::Away),
        Just(Command::Back),
        word().prop_map(Command::Whois),
        (mode, offset).prop_map(|(mode, offset)| Command::Timestamp { mode, offset }),
        prop::option::of(prop::sample::select(Theme::ALL.to_vec())).prop_map(Command::Theme),
        prop::option::of(word()).prop_map(Command::Ignore),
        word().prop_map(Command::Unignore),
        Just(Command::Quiet),
        word().prop_map(Command::Join),
        Just(Command::Rooms),
        Just(Command::Part),
        prop::option::of(text()).prop_map(Command::Motd),
        (word(), prop::option::of(text()))
            .prop_map(|(name, reason)| Command::Kick { name, reason }),
        (
            prop_oneof![
                word(),
                "fingerprint:SHA256:[A-Za-z0-9+/]{8}",
                Just("ip:10.0.0.1".to_owned())
            ],
            prop::option::of((1u64..100_000).prop_map(|s| std::time::Duration::from_secs(s * 60))),
            prop::option::of("[a-z][a-z ]{0,20}[a-z]"),
        )
            .prop_map(|(target, duration, reason)| Command::Ban {
                target,
                duration,
                reason
            }),
        word().prop_map(Command::Unban),
        Just(Command::Banned),
        word().prop_map(Command::Mute),
        word().prop_map(Command::Unmute),
        word().prop_map(Command::Op),
        word().prop_map(Command::Deop),
        (word(), word()).prop_map(|(name, new)| Command::Rename { name, new }),
        Just(Command::Reload),
        prop::option::of(1usize..100_000).prop_map(Command::History),
        prop_oneof![
            Just(KeysCommand::List),
            text().prop_map(|line| KeysCommand::Add { line }),
            (word(), any::<bool>()).prop_map(|(fingerprint, confirmed)| KeysCommand::Remove {
                fingerprint,
                confirmed
            }),
            (word(), text())
                .prop_map(|(fingerprint, label)| KeysCommand::Label { fingerprint, label }),
        ]
        .prop_map(Command::Keys),
        Just(Command::Exit),
        "[a-z][a-z0-9]{0,8}"
            .prop_filter("not a command", |n| lookup(&format!("/{n}")).is_none())
            .prop_map(|name| Command::Unknown { name }),
    ]
}

proptest! {
    #[test]
    fn parse_of_display_round_trips(cmd in command()) {
        prop_assert_eq!(parse(&cmd.to_string()), Ok(cmd));
    }

    #[test]
    fn parse_never_panics(line in any::<String>()) {
        let _ = parse(&line);
    }
}
