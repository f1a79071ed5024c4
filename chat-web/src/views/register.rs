//! `/register`: a name, a public key, and a signature that proves the key is yours.

use maud::{Markup, html};

use super::{
    Frame, copyable, csrf_field, described_by, error_summary, field_error, layout, proof_fields,
};
use crate::challenge::Challenge;
use crate::config::SshInfo;

/// What was wrong with a registration, field by field.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Errors {
    pub name: Option<String>,
    pub public_key: Option<String>,
    pub signature: Option<String>,
}

impl Errors {
    pub fn is_empty(&self) -> bool {
        self.name.is_none() && self.public_key.is_none() && self.signature.is_none()
    }

    fn listed(&self) -> Vec<(&str, &str)> {
        [
            ("name", &self.name),
            ("public_key", &self.public_key),
            ("signature", &self.signature),
        ]
        .into_iter()
        .filter_map(|(field, e)| e.as_deref().map(|e| (field, e)))
        .collect()
    }
}

/// The registration form, as first shown or as sent back with what was wrong.
#[derive(Debug)]
pub struct RegisterForm<'a> {
    pub name: &'a str,
    pub public_key: &'a str,
    pub signature: &'a str,
    pub challenge: &'a Challenge,
    pub csrf: &'a str,
    pub errors: &'a Errors,
}

pub fn form(frame: Frame<'_>, form: &RegisterForm<'_>) -> Markup {
    let errors = form.errors;
    let body = html! {
        h1 { "Register your name" }
        p.lead { "Three steps: a name, your public key, and a signature that proves the key is yours. About a minute." }
        (error_summary(&errors.listed()))
        details.help open[form.public_key.is_empty() && errors.is_empty()] {
            summary { "No SSH key yet? Make one first" }
            p { "In a terminal (on Windows: PowerShell), type this, press Enter to keep the usual file, then choose a passphrase or press Enter twice:" }
            (copyable("ssh-keygen -t ed25519", "Command to make a key"))
        }
        form method="post" action="/register" novalidate {
            (csrf_field(form.csrf))
            fieldset {
                legend { span.step { "1" } " Pick a name" }
                label for="name" { "Your name in the chat" }
                p.hint id="name-hint" { "Up to 24 letters, digits, " code { "_" } ", " code { "-" } " or " code { "." } ". Case does not matter: nobody else can take Alice if you are alice." }
                (field_error("name", errors.name.as_deref()))
                input #name type="text" name="name" value=(form.name) autocomplete="username"
                    autocapitalize="off" spellcheck="false" maxlength="64"
                    aria-describedby=(described_by("name", errors.name.as_deref()))
                    aria-invalid=[errors.name.as_ref().map(|_| "true")];
            }
            fieldset {
                legend { span.step { "2" } " Paste your public key" }
                label for="public_key" { "Public key" }
                p.hint id="public_key-hint" {
                    "Print it with " code { "cat ~/.ssh/id_ed25519.pub" } " and paste the one line, which starts with "
                    code { "ssh-ed25519" } ". Only the " strong { ".pub" } " file: never paste a private key."
                }
                (field_error("public_key", errors.public_key.as_deref()))
                textarea #public_key name="public_key" rows="3" spellcheck="false" autocomplete="off"
                    autocapitalize="off"
                    aria-describedby=(described_by("public_key", errors.public_key.as_deref()))
                    aria-invalid=[errors.public_key.as_ref().map(|_| "true")] { (form.public_key) }
            }
            fieldset {
                legend { span.step { "3" } " Prove the key is yours" }
                (proof_fields(form.challenge, form.signature, errors.signature.as_deref()))
            }
            button type="submit" { "Register" }
        }
    };
    layout(frame, "Register", body)
}

/// Registered: what to type next.
pub fn done(frame: Frame<'_>, name: &str, fingerprint: &str, ssh: &SshInfo) -> Markup {
    let body = html! {
        h1 { "Welcome, " (name) "!" }
        p.lead role="status" { "Your key " code.fp { (fingerprint) } " is registered as " strong { (name) } ". You are signed in here too." }
        h2 { "Now connect" }
        p { "Type this in your terminal:" }
        (copyable(&ssh.command(), "Command to connect"))
        p { "If your key is not " code { "~/.ssh/id_ed25519" } ", say which one with " code { "-i" } ":" }
        (copyable(&format!("{} -i ~/.ssh/YOUR_KEY", ssh.command()), "Command to connect with another key"))
        p { "The first time, ssh asks whether to trust the server. Type " code { "yes" } " if the fingerprint it shows is:" }
        (copyable(&ssh.host_fingerprint, "Host key fingerprint"))
        p { "You arrive in " code { "#lobby" } " as " strong { (name) } ". Type " code { "/help" } " for the commands, " code { "/exit" } " to leave." }
        p { a href="/account" { "Your account" } ": add keys for your other computers, or label them." }
    };
    layout(frame, "Registered", body)
}
