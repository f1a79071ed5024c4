//! `/signin` and `/signin/TOKEN`: signing in without a password.

use maud::{Markup, html};

use super::{Frame, copyable, csrf_field, error_summary, layout, proof_fields};
use crate::challenge::Challenge;
use crate::config::SshInfo;

/// The sign-in page: the link way first, the signature way second.
#[derive(Debug)]
pub struct SigninForm<'a> {
    pub ssh: &'a SshInfo,
    pub challenge: &'a Challenge,
    pub signature: &'a str,
    pub csrf: &'a str,
    pub error: Option<&'a str>,
}

pub fn form(frame: Frame<'_>, form: &SigninForm<'_>) -> Markup {
    let errors: Vec<(&str, &str)> = form.error.map(|e| ("signature", e)).into_iter().collect();
    let body = html! {
        h1 { "Sign in" }
        p.lead { "No password: you sign in with your SSH key." }
        (error_summary(&errors))
        section aria-labelledby="link" {
            h2 #link { "The quick way: a link from the chat server" }
            p { "In your terminal, type:" }
            (copyable(&format!("{} /web", form.ssh.command()), "Command that prints a sign-in link"))
            p { "It prints a link that signs this browser in. It works once, for 5 minutes." }
        }
        section aria-labelledby="sign" {
            h2 #sign { "Or sign a challenge" }
            form method="post" action="/signin" novalidate {
                (csrf_field(form.csrf))
                (proof_fields(form.challenge, form.signature, form.error))
                button type="submit" { "Sign in" }
            }
        }
        p { "No account yet? " a href="/register" { "Register" } "." }
    };
    layout(frame, "Sign in", body)
}

/// `/signin/TOKEN` before it is spent: one button, so a link preview cannot spend it.
pub fn confirm(frame: Frame<'_>, name: &str, token: &str, csrf: &str) -> Markup {
    let body = html! {
        h1 { "Sign in as " (name) "?" }
        p { "This link came from " code { "ssh … /web" } ". Sign in only if you asked for it yourself." }
        form method="post" action={ "/signin/" (token) } {
            (csrf_field(csrf))
            button type="submit" { "Sign in as " (name) }
        }
    };
    layout(frame, "Sign in", body)
}

/// A link that is not (or no longer) valid.
pub fn bad_link(frame: Frame<'_>, ssh: &SshInfo) -> Markup {
    let body = html! {
        h1 { "This sign-in link does not work" }
        p { "Sign-in links work once, for 5 minutes. This one has expired, was used already, or was not copied whole." }
        p { "Get a new one: type this in your terminal, and open the link it prints." }
        (copyable(&format!("{} /web", ssh.command()), "Command that prints a sign-in link"))
        p { a href="/signin" { "Other ways to sign in" } }
    };
    layout(frame, "Sign-in link", body)
}
