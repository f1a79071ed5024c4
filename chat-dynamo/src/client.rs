//! The SDK client: region, endpoint, credentials, TLS and the time bounds.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{Credentials, Region};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

use crate::Options;
use crate::config::{ConfigError, DirectoryUrl};

/// Loading the AWS configuration may ask an instance-metadata service for the region;
/// this bounds it, so a misconfigured machine fails at start-up instead of hanging.
const LOAD_TIMEOUT: Duration = Duration::from_secs(10);

/// Builds the client, and says which region it uses.
pub async fn build(url: &DirectoryUrl, options: &Options) -> Result<(Client, String), ConfigError> {
    let t = options.timeouts;
    // rustls on ring: russh already compiles ring, and aws-lc (the SDK's default) is a long
    // C build on a small machine. Certificates come from the system's store.
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(t.connect)
        .operation_attempt_timeout(t.attempt)
        .operation_timeout(t.operation)
        .build();
    // The standard strategy retries throttling, 5xx and connection errors with exponential
    // backoff and jitter; the first backoff is short because a login is waiting.
    let retries = RetryConfig::standard()
        .with_max_attempts(t.attempts.max(1))
        .with_initial_backoff(Duration::from_millis(100))
        .with_max_backoff(Duration::from_secs(1));
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .timeout_config(timeouts)
        .retry_config(retries);
    if let Some(region) = &url.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(endpoint) = &url.endpoint {
        loader = loader.endpoint_url(endpoint.clone());
    }
    if let Some((id, secret)) = &options.static_credentials {
        loader = loader.credentials_provider(Credentials::new(
            id.clone(),
            secret.clone(),
            None,
            None,
            "chat-dynamo static credentials",
        ));
    }
    let config = tokio::time::timeout(LOAD_TIMEOUT, loader.load())
        .await
        .map_err(|_| ConfigError::Loading(format!("nothing after {LOAD_TIMEOUT:?}")))?;
    let region = config
        .region()
        .map(|r| r.as_ref().to_owned())
        .ok_or(ConfigError::NoRegion)?;
    Ok((Client::new(&config), region))
}
