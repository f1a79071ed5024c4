//! Where the directory lives, as the server's `--directory` flag says it:
//! `dynamodb://TABLE?region=R[&endpoint=URL]`, and the time bounds every call keeps.

use std::fmt;
use std::time::Duration;

use thiserror::Error;

/// A `--directory dynamodb://…` value that cannot be used, said so the operator can fix it.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("a DynamoDB directory is written dynamodb://TABLE?region=REGION, not {0:?}")]
    NotDynamo(String),
    #[error("dynamodb:// needs a table name: dynamodb://TABLE?region=REGION")]
    MissingTable,
    #[error(
        "{0:?} is not a DynamoDB table name (3 to 255 of the letters a-z, A-Z, digits, '_', '-' and '.')"
    )]
    BadTable(String),
    #[error("unknown parameter {0:?} in the directory URL (known: region, endpoint)")]
    UnknownParameter(String),
    #[error("the parameter {0:?} is given twice in the directory URL")]
    Repeated(String),
    #[error("the parameter {0:?} in the directory URL has no value (write {0}=VALUE)")]
    Empty(String),
    #[error("{0:?} is not an AWS region (like eu-west-1)")]
    BadRegion(String),
    #[error("bad endpoint {endpoint:?}: {reason}")]
    BadEndpoint { endpoint: String, reason: String },
    #[error(
        "no AWS region: add ?region=REGION to the directory URL, or set AWS_REGION (or a profile's region)"
    )]
    NoRegion,
    #[error("the AWS configuration could not be loaded in time ({0})")]
    Loading(String),
}

/// A parsed `dynamodb://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryUrl {
    pub table: String,
    /// `None`: the standard AWS chain decides (AWS_REGION, the profile, the instance).
    pub region: Option<String>,
    /// A DynamoDB-compatible server instead of AWS's (dynalite in tests, DynamoDB Local).
    pub endpoint: Option<String>,
}

impl DirectoryUrl {
    /// Parses `dynamodb://TABLE?region=R&endpoint=URL`; values may be percent-encoded.
    pub fn parse(url: &str) -> Result<Self, ConfigError> {
        let rest = url
            .strip_prefix("dynamodb://")
            .ok_or_else(|| ConfigError::NotDynamo(url.to_owned()))?;
        let (table, query) = rest.split_once('?').unwrap_or((rest, ""));
        let table = table.strip_suffix('/').unwrap_or(table);
        if table.is_empty() {
            return Err(ConfigError::MissingTable);
        }
        let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
        if !(3..=255).contains(&table.len()) || !table.chars().all(valid_char) {
            return Err(ConfigError::BadTable(table.to_owned()));
        }
        let mut parsed = DirectoryUrl {
            table: table.to_owned(),
            region: None,
            endpoint: None,
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode(value).ok_or_else(|| ConfigError::BadEndpoint {
                endpoint: value.to_owned(),
                reason: "bad percent-encoding".to_owned(),
            })?;
            let slot = match name {
                "region" => &mut parsed.region,
                "endpoint" => &mut parsed.endpoint,
                other => return Err(ConfigError::UnknownParameter(other.to_owned())),
            };
            if slot.is_some() {
                return Err(ConfigError::Repeated(name.to_owned()));
            }
            if value.is_empty() {
                return Err(ConfigError::Empty(name.to_owned()));
            }
            *slot = Some(value);
        }
        if let Some(region) = &parsed.region {
            let valid = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
            if region.len() > 32 || !region.chars().all(valid) {
                return Err(ConfigError::BadRegion(region.clone()));
            }
        }
        if let Some(endpoint) = &parsed.endpoint {
            check_endpoint(endpoint)?;
        }
        Ok(parsed)
    }
}

impl fmt::Display for DirectoryUrl {
    /// Back to a URL that parses to the same thing (for messages that say what to run).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "dynamodb://{}", self.table)?;
        let mut sep = '?';
        if let Some(region) = &self.region {
            write!(f, "{sep}region={region}")?;
            sep = '&';
        }
        if let Some(endpoint) = &self.endpoint {
            write!(f, "{sep}endpoint={endpoint}")?;
        }
        Ok(())
    }
}

/// An endpoint is `http://` or `https://`, a host, an optional port, and nothing after a
/// path: a typo here would otherwise surface only as a failed connection at the first login.
fn check_endpoint(endpoint: &str) -> Result<(), ConfigError> {
    let bad = |reason: &str| ConfigError::BadEndpoint {
        endpoint: endpoint.to_owned(),
        reason: reason.to_owned(),
    };
    let rest = endpoint
        .strip_prefix("http://")
        .or_else(|| endpoint.strip_prefix("https://"))
        .ok_or_else(|| bad("it must start with http:// or https://"))?;
    if rest.contains(['?', '#', '@', ' ']) || rest.chars().any(char::is_control) {
        return Err(bad("only a scheme, a host and a port are expected"));
    }
    let authority = rest.split('/').next().unwrap_or_default();
    let (host, port) = match authority.rsplit_once(':') {
        // An IPv6 literal (`[::1]`) has colons of its own; its port follows the bracket.
        Some((host, port)) if !port.contains(']') => (host, Some(port)),
        _ => (authority, None),
    };
    if host.is_empty() || host == "[]" {
        return Err(bad("no host"));
    }
    if let Some(port) = port
        && port.parse::<u16>().map_or(true, |p| p == 0)
    {
        return Err(bad("the port must be a number from 1 to 65535"));
    }
    Ok(())
}

/// Decodes `%XX` escapes; `None` if one is malformed or the result is not UTF-8.
fn percent_decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = value.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// How long any one call may take. The defaults keep a login well inside the SSH auth
/// deadline (20 s) even when DynamoDB is unreachable; tests shorten them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// To open a connection (TCP and TLS).
    pub connect: Duration,
    /// For one attempt of one request.
    pub attempt: Duration,
    /// For one request, retries and backoff included.
    pub operation: Duration,
    /// Attempts per request (throttling, 5xx and connection errors are retried with
    /// exponential backoff and jitter; other errors are not).
    pub attempts: u32,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(2),
            attempt: Duration::from_secs(2),
            operation: Duration::from_secs(5),
            attempts: 3,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<DirectoryUrl, ConfigError> {
        DirectoryUrl::parse(url)
    }

    #[test]
    fn a_full_url_parses_and_prints_back() {
        let url = parse("dynamodb://chat-accounts?region=eu-west-1&endpoint=http://127.0.0.1:8000")
            .unwrap();
        assert_eq!(url.table, "chat-accounts");
        assert_eq!(url.region.as_deref(), Some("eu-west-1"));
        assert_eq!(url.endpoint.as_deref(), Some("http://127.0.0.1:8000"));
        assert_eq!(parse(&url.to_string()).unwrap(), url);
        let bare = parse("dynamodb://chat.accounts_2").unwrap();
        assert_eq!((bare.region, bare.endpoint), (None, None));
        let encoded = parse("dynamodb://t_1?endpoint=http%3A%2F%2F%5B%3A%3A1%5D%3A8000").unwrap();
        assert_eq!(encoded.endpoint.as_deref(), Some("http://[::1]:8000"));
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        assert_eq!(
            parse("sqlite"),
            Err(ConfigError::NotDynamo("sqlite".to_owned()))
        );
        assert_eq!(parse("dynamodb://"), Err(ConfigError::MissingTable));
        assert_eq!(
            parse("dynamodb://?region=eu-west-1"),
            Err(ConfigError::MissingTable)
        );
        assert!(matches!(
            parse("dynamodb://ab"),
            Err(ConfigError::BadTable(_))
        ));
        assert!(matches!(
            parse("dynamodb://my table"),
            Err(ConfigError::BadTable(_))
        ));
        assert_eq!(
            parse("dynamodb://chat?regoin=eu-west-1"),
            Err(ConfigError::UnknownParameter("regoin".to_owned()))
        );
        assert_eq!(
            parse("dynamodb://chat?region=a&region=b"),
            Err(ConfigError::Repeated("region".to_owned()))
        );
        assert_eq!(
            parse("dynamodb://chat?region="),
            Err(ConfigError::Empty("region".to_owned()))
        );
        assert!(matches!(
            parse("dynamodb://chat?region=EU West"),
            Err(ConfigError::BadRegion(_))
        ));
        for endpoint in [
            "127.0.0.1:8000",
            "ftp://host",
            "http://",
            "http://host:99999",
            "http://host:0",
            "http://host:port",
            "http://host/?x=1",
            "http://%zz",
        ] {
            let error = parse(&format!("dynamodb://chat?endpoint={endpoint}")).unwrap_err();
            assert!(
                matches!(error, ConfigError::BadEndpoint { .. }),
                "{endpoint}: {error}"
            );
        }
    }

    #[test]
    fn messages_name_the_fix() {
        let message = parse("dynamodb://chat?foo=1").unwrap_err().to_string();
        assert!(message.contains("region, endpoint"), "{message}");
        let message = ConfigError::NoRegion.to_string();
        assert!(message.contains("AWS_REGION"), "{message}");
    }
}
