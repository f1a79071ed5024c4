//! The pages, as maud templates compiled into the binary. Everything interpolated is
//! escaped by maud; nothing a user typed is ever written raw.
//!
//! Every page has one `h1`, a skip link, labelled fields whose errors are tied to them with
//! `aria-describedby`, and works without its small script (which only adds Copy buttons).

pub mod account;
pub mod chat;
pub mod home;
pub mod register;
pub mod signin;

use maud::{DOCTYPE, Markup, html};

use crate::challenge::Challenge;

/// What every page's frame needs to know.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// The server's host, in the title and header.
    pub host: &'a str,
    /// Whether the visitor is signed in (the menu changes).
    pub signed_in: bool,
}

/// A whole page: head, header with the menu, `main` with `body`, footer.
pub fn layout(frame: Frame<'_>, title: &str, body: Markup) -> Markup {
    layout_with(frame, title, None, body)
}

/// [`layout`], with one more script of ours (`/static/NAME.js`).
pub fn layout_with(frame: Frame<'_>, title: &str, script: Option<&str>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (frame.host) }
                link rel="stylesheet" href="/static/style.css";
                link rel="icon" href="/static/icon.svg" type="image/svg+xml";
                script src="/static/app.js" defer {}
                @if let Some(script) = script {
                    script src=(format!("/static/{script}.js")) defer {}
                }
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/" { span aria-hidden="true" { "> " } "chat" span.host { "@" (frame.host) } }
                    nav aria-label="Main" {
                        @if frame.signed_in {
                            a href="/chat" { "Chat" }
                            a href="/account" { "Your account" }
                        } @else {
                            a href="/register" { "Register" }
                            a href="/signin" { "Sign in" }
                        }
                    }
                }
                main #main { (body) }
                footer {
                    p { "A chat room you enter with " code { "ssh" } ". No passwords: your SSH key is who you are." }
                }
            }
        }
    }
}

/// A command or line to copy, in a block that wraps rather than scrolls on a phone.
pub fn copyable(text: &str, label: &str) -> Markup {
    html! {
        div.copy {
            pre data-copy data-label=(label) { code { (text) } }
        }
    }
}

/// The list of what was wrong, at the top of a form, linked to the fields.
pub fn error_summary(errors: &[(&str, &str)]) -> Markup {
    html! {
        @if !errors.is_empty() {
            div.errors role="alert" tabindex="-1" id="errors" {
                h2 { "Please fix this and send again" }
                ul {
                    @for (field, message) in errors {
                        li { a href={ "#" (field) } { (message) } }
                    }
                }
            }
        }
    }
}

/// A field's error, placed under its label.
pub fn field_error(field: &str, error: Option<&str>) -> Markup {
    html! {
        @if let Some(error) = error {
            p.field-error id={ (field) "-error" } { strong { "Error: " } (error) }
        }
    }
}

/// `aria-describedby` of a field: its hint, and its error when there is one.
pub fn described_by(field: &str, error: Option<&str>) -> String {
    match error {
        Some(_) => format!("{field}-hint {field}-error"),
        None => format!("{field}-hint"),
    }
}

/// The command that signs `challenge`, as a user types it.
pub fn sign_command(challenge: &Challenge) -> String {
    format!(
        "echo '{}' | ssh-keygen -Y sign -f ~/.ssh/id_ed25519 -n {}",
        challenge.text, challenge.namespace
    )
}

/// The proof-of-possession part of a form: the challenge, the command, the signature box,
/// and the hidden fields that carry the challenge back.
pub fn proof_fields(challenge: &Challenge, signature: &str, error: Option<&str>) -> Markup {
    html! {
        p { "Run this in your terminal. It signs this page's challenge with your private key, which never leaves your computer:" }
        (copyable(&sign_command(challenge), "Command that signs the challenge"))
        p.hint id="signature-hint" {
            "Change " code { "~/.ssh/id_ed25519" } " if your key is another file (the private one, without " code { ".pub" } "). "
            "Then paste everything it prints, from " code.nowrap { "-----BEGIN SSH SIGNATURE-----" } " to "
            code.nowrap { "-----END SSH SIGNATURE-----" } ". The challenge is valid until "
            (challenge.expires_at.format("%H:%M UTC")) "."
        }
        label for="signature" { "Signature" }
        (field_error("signature", error))
        textarea #signature name="signature" rows="6" spellcheck="false" autocomplete="off"
            autocapitalize="off" aria-describedby=(described_by("signature", error))
            aria-invalid=[error.map(|_| "true")] { (signature) }
        input type="hidden" name="challenge" value=(challenge.text);
        input type="hidden" name="namespace" value=(challenge.namespace);
    }
}

/// The hidden CSRF field every state-changing form carries.
pub fn csrf_field(token: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(token); }
}

/// A page that says one thing: an error, a refusal, a confirmation.
pub fn message(frame: Frame<'_>, title: &str, paragraphs: &[&str], link: (&str, &str)) -> Markup {
    layout(
        frame,
        title,
        html! {
            h1 { (title) }
            @for p in paragraphs { p { (p) } }
            p { a href=(link.0) { (link.1) } }
        },
    )
}
