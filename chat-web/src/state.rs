//! What every request handler shares ([`AppState`]) and what each one knows of its visitor
//! ([`Ctx`], and [`SignedIn`] for pages that need a session).
//!
//! `SignedIn` is the one way to know who a browser is: any later route (a browser chat at
//! `/chat`, its WebSocket at `/ws`) takes it as an extractor and gets the session's account,
//! or a redirect to `/signin`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use chat_server::Runtime;
use chrono::{DateTime, TimeDelta, Utc};
use maud::Markup;

use crate::challenge::Challenges;
use crate::clock::Clock;
use crate::config::{PublicUrl, SshInfo, WebLimits};
use crate::form::Form;
use crate::ratelimit::{RateLimiter, retry_after_secs};
use crate::secret::{self, Secret};
use crate::session::{Cookies, Session, Sessions, read_cookie};
use crate::views::{self, Frame};

/// Shared by every request.
#[derive(Debug)]
pub struct AppState {
    pub runtime: Arc<Runtime>,
    pub public_url: PublicUrl,
    pub ssh: SshInfo,
    pub limits: WebLimits,
    pub clock: Arc<dyn Clock>,
    pub secret: Secret,
    pub challenges: Challenges,
    pub sessions: Sessions,
    pub cookies: Cookies,
    pub per_ip: RateLimiter,
    pub per_account: RateLimiter,
}

/// The peer of the connection a request came on; the accept loop puts it in the request's
/// extensions.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// A browser with a live session.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The cookie's token (to sign out).
    pub token: String,
    pub session: Session,
}

impl SignedIn {
    pub fn account_id(&self) -> &str {
        &self.session.account_id
    }
}

/// What a handler knows of the request: when, from where, and who.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub now: DateTime<Utc>,
    /// The client's address (see [`client_ip`]).
    pub ip: IpAddr,
    pub signed_in: Option<SignedIn>,
    /// The visitor cookie anonymous forms' CSRF tokens are bound to.
    visitor: String,
    /// The visitor cookie is new: this response must set it, and no form can have been
    /// bound to it yet.
    fresh_visitor: bool,
}

impl FromRequestParts<Arc<AppState>> for Ctx {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let now = state.clock.now();
        let peer = parts
            .extensions
            .get::<Peer>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |p| p.0.ip());
        let signed_in = signed_in(&parts.headers, state, now);
        let (visitor, fresh_visitor) = match read_cookie(&parts.headers, state.cookies.visitor()) {
            Some(token) => (token, false),
            None => (secret::random_hex(16), true),
        };
        Ok(Ctx {
            now,
            ip: client_ip(peer, &parts.headers),
            signed_in,
            visitor,
            fresh_visitor,
        })
    }
}

impl FromRequestParts<Arc<AppState>> for SignedIn {
    type Rejection = Redirect;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        signed_in(&parts.headers, state, state.clock.now()).ok_or(Redirect::to("/signin"))
    }
}

fn signed_in(headers: &HeaderMap, state: &AppState, now: DateTime<Utc>) -> Option<SignedIn> {
    let token = read_cookie(headers, state.cookies.session())?;
    let session = state.sessions.get(&token, now)?;
    Some(SignedIn { token, session })
}

/// The client's address: the connection's peer, unless the peer is this machine (a reverse
/// proxy such as Caddy) and says whom it forwards for in `X-Forwarded-For` (its last entry,
/// the one the proxy itself added). Remote peers cannot set it.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap) -> IpAddr {
    if !peer.is_loopback() {
        return peer;
    }
    // Only the very last entry: anything before it is what the client sent, so an entry
    // the proxy wrote badly must not let an earlier, client-written one count instead.
    headers
        .get_all("x-forwarded-for")
        .iter()
        .next_back()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|entry| entry.trim().parse::<IpAddr>().ok())
        .unwrap_or(peer)
}

impl Ctx {
    pub fn frame<'a>(&self, state: &'a AppState) -> Frame<'a> {
        Frame {
            host: &state.public_url.host,
            signed_in: self.signed_in.is_some(),
        }
    }

    /// The CSRF token for this page's forms.
    pub fn csrf(&self, state: &AppState) -> String {
        match &self.signed_in {
            Some(signed_in) => signed_in.session.csrf.clone(),
            None => visitor_csrf(state, &self.visitor),
        }
    }

    /// Whether `form` carries a CSRF token this browser was given: its session's, or the
    /// one bound to its visitor cookie (an anonymous page it loaded before signing in).
    pub fn csrf_ok(&self, state: &AppState, form: &Form) -> bool {
        let sent = form.get("csrf");
        let by_session = self
            .signed_in
            .as_ref()
            .is_some_and(|s| secret::same(&s.session.csrf, sent));
        let by_visitor =
            !self.fresh_visitor && secret::same(&visitor_csrf(state, &self.visitor), sent);
        by_session || by_visitor
    }

    /// A page, with the visitor cookie if it is new.
    pub fn page(&self, state: &AppState, status: StatusCode, markup: Markup) -> Response {
        let mut response = (status, Html(markup.into_string())).into_response();
        if self.fresh_visitor {
            let cookie =
                state
                    .cookies
                    .set(state.cookies.visitor(), &self.visitor, TimeDelta::days(1));
            response.headers_mut().append(header::SET_COOKIE, cookie);
        }
        response
    }

    /// Takes a token from this client's address and, if given, from `account`'s bucket
    /// (`acct:ID`, or `key:FINGERPRINT` while registering); refuses with a 429 page if
    /// either is empty.
    #[expect(
        clippy::result_large_err,
        reason = "the error is the page the handler returns at once; boxing it buys nothing"
    )]
    pub fn limit(&self, state: &AppState, account: Option<&str>) -> Result<(), Response> {
        let by_ip = state.per_ip.take(&self.ip.to_string(), self.now);
        let by_account = match (by_ip, account) {
            (Ok(()), Some(account)) => state.per_account.take(account, self.now),
            (other, _) => other,
        };
        by_account.map_err(|wait| {
            let secs = retry_after_secs(wait);
            let minutes = secs.div_ceil(60);
            let text = format!(
                "Too many attempts from here in a short time. Wait {} and try again.",
                if secs < 60 {
                    format!("{secs} seconds")
                } else {
                    format!("{minutes} minute{}", if minutes == 1 { "" } else { "s" })
                }
            );
            let markup = views::message(self.frame(state), "Slow down", &[&text], ("/", "Home"));
            let mut response = self.page(state, StatusCode::TOO_MANY_REQUESTS, markup);
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_str(&secs.to_string()).expect("digits are a valid header"),
            );
            tracing::info!(target: "chat::web", ip = %self.ip, account, retry_after = secs, "rate limited");
            response
        })
    }

    /// The page for a form without a valid CSRF token.
    pub fn forbidden(&self, state: &AppState) -> Response {
        tracing::info!(target: "chat::web", ip = %self.ip, "refused a form without a valid CSRF token");
        let markup = views::message(
            self.frame(state),
            "This form cannot be sent",
            &[
                "It did not come from this site's own page, or it is too old. Nothing was changed.",
                "Go back, reload the page, and send it again.",
            ],
            ("/", "Home"),
        );
        self.page(state, StatusCode::FORBIDDEN, markup)
    }

    /// A `Set-Cookie` header value that starts a session with `token`.
    pub fn session_cookie(state: &AppState, token: &str) -> HeaderValue {
        state
            .cookies
            .set(state.cookies.session(), token, state.sessions.lifetime())
    }
}

/// The CSRF token of anonymous forms for the visitor cookie `visitor`.
fn visitor_csrf(state: &AppState, visitor: &str) -> String {
    secret::hex(&state.secret.sign("csrf", &[visitor.as_bytes()]))[..32].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_local_proxy_may_say_who_the_client_is() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("10.9.9.9, 203.0.113.7"),
        );
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let remote: IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(
            client_ip(local, &headers),
            "203.0.113.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_ip(remote, &headers), remote);
        assert_eq!(client_ip(local, &HeaderMap::new()), local);
    }

    #[test]
    fn a_bad_last_forwarded_entry_does_not_let_an_earlier_one_count() {
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("203.0.113.7, garbage"),
        );
        assert_eq!(client_ip(local, &headers), local);
        headers.append("x-forwarded-for", HeaderValue::from_static("198.51.100.9"));
        assert_eq!(
            client_ip(local, &headers),
            "198.51.100.9".parse::<IpAddr>().unwrap(),
            "the last header is the proxy's"
        );
    }
}
