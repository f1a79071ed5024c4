//! `/`: what this server is, how to connect, how to trust it, who is here.

use maud::{Markup, html};

use super::{Frame, copyable, layout};
use crate::config::SshInfo;

/// What the home page shows.
#[derive(Debug)]
pub struct Home<'a> {
    pub ssh: &'a SshInfo,
    pub motd: Option<&'a str>,
    /// Rooms with people in them, and how many, largest first.
    pub rooms: Vec<(String, usize)>,
    /// Whether only registered keys get in.
    pub registered_only: bool,
}

pub fn page(frame: Frame<'_>, home: &Home<'_>) -> Markup {
    let ssh = home.ssh;
    let body = html! {
        h1 { "Chat in your terminal" }
        p.lead {
            "This is a chat server you enter with " code { "ssh" } ", from any terminal: nothing to install. "
            "Your SSH key is your identity, so your name stays yours."
        }
        @if frame.signed_in {
            p { "You are signed in: " a href="/chat" { "chat in the browser" } ", or connect from a terminal below." }
        }
        @if let Some(motd) = home.motd {
            div.motd { h2 { "Message of the day" } p { (motd) } }
        }
        section aria-labelledby="connect" {
            h2 #connect { "Connect" }
            (copyable(&ssh.command(), "Command to connect"))
            @if home.registered_only {
                p { "Only registered keys get in here: " a href="/register" { "register yours first" } ", it takes a minute." }
            } @else {
                p { "Anyone with a key gets in; the first name your key uses becomes yours. "
                    a href="/register" { "Register" } " to pick it here first." }
            }
        }
        section aria-labelledby="rooms" {
            h2 #rooms { "Who is here" }
            @if home.rooms.is_empty() {
                p { "Nobody is chatting right now. Be the first." }
            } @else {
                ul.rooms {
                    @for (room, count) in &home.rooms {
                        li { span.room { (room) } " " span.count { (count) " " (if *count == 1 { "person" } else { "people" }) } }
                    }
                }
            }
        }
        section aria-labelledby="new" {
            h2 #new { "New to SSH keys?" }
            ol.steps {
                li {
                    p { strong { "Make a key" } " (once per computer). In a terminal (on Windows: PowerShell), type:" }
                    (copyable("ssh-keygen -t ed25519", "Command to make a key"))
                    p { "Press Enter to keep the usual file, " code { "~/.ssh/id_ed25519" } ", then pick a passphrase (or press Enter twice for none)." }
                }
                li {
                    p { strong { "Register your name" } " with that key: " a href="/register" { "register" } "." }
                }
                li {
                    p { strong { "Connect" } " with the command above. The first time, ssh asks whether to trust the server: check its fingerprint below, then type " code { "yes" } "." }
                }
            }
            p { "Registered already? " a href="/signin" { "Sign in" } " to manage your keys." }
        }
        section aria-labelledby="trust" {
            h2 #trust { "Check it is really this server" }
            p { "The first time you connect, " code { "ssh" } " shows the server's key fingerprint. It must be:" }
            (copyable(&ssh.host_fingerprint, "Host key fingerprint"))
            p { "Or add this line to " code { "~/.ssh/known_hosts" } " and ssh will not need to ask:" }
            (copyable(&ssh.known_hosts_line(), "known_hosts line"))
        }
    };
    layout(frame, "Chat in your terminal", body)
}
