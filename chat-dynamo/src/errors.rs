//! What DynamoDB's failures mean for the directory.
//!
//! Everything that says "try again later" (timeouts, refused connections, throttling, 5xx)
//! becomes [`DirectoryError::Unavailable`] with a short reason, so the server answers from
//! its cache and recovers by itself; a missing table or a refused permission becomes
//! [`DirectoryError::NotSetUp`], which an operator must fix; anything else is
//! [`DirectoryError::Backend`]. A cancelled transaction is taken apart by [`transaction`]:
//! which element's condition failed decides between `NameTaken`, `KeyTaken` and a retry.

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use chat_store::directory::DirectoryError;

/// Messages from the server are cut to this many characters: enough to diagnose, short
/// enough for a log line or a user's screen.
const MAX_REASON_CHARS: usize = 200;

fn short(text: &str) -> String {
    let mut cut: String = text.chars().take(MAX_REASON_CHARS).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    cut
}

/// What to tell an operator whose table is missing: where, and the two ways to make it.
pub fn missing_table(table: &str, url: &str) -> DirectoryError {
    DirectoryError::NotSetUp(format!(
        "the DynamoDB table {table} does not exist; create it with \
         `chat-cli directory create-table --directory {url}` or apply the Terraform in terraform/"
    ))
}

/// Maps a failed SDK call. `table` and `url` say which table, for a missing one.
pub fn sdk<E, R>(error: SdkError<E, R>, table: &str, url: &str) -> DirectoryError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match &error {
        SdkError::TimeoutError(_) => {
            DirectoryError::Unavailable("DynamoDB did not answer in time".to_owned())
        }
        SdkError::DispatchFailure(failure) if failure.is_timeout() => {
            DirectoryError::Unavailable("timed out connecting to DynamoDB".to_owned())
        }
        SdkError::DispatchFailure(failure) if failure.is_io() => DirectoryError::Unavailable(
            format!("cannot connect to DynamoDB: {}", short(&root_cause(&error))),
        ),
        SdkError::DispatchFailure(_) => DirectoryError::Unavailable(format!(
            "the request could not be sent: {}",
            short(&root_cause(&error))
        )),
        SdkError::ResponseError(_) => DirectoryError::Unavailable(format!(
            "DynamoDB's answer could not be read: {}",
            short(&root_cause(&error))
        )),
        SdkError::ServiceError(_) => service(
            error.code().unwrap_or_default(),
            error.message().unwrap_or_default(),
            table,
            url,
        ),
        _ => DirectoryError::Backend(short(&DisplayErrorContext(&error).to_string())),
    }
}

/// The innermost error's words: "Connection refused (os error 111)", not the SDK's chain.
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

/// A service error by its code, which is the same for every operation.
fn service(code: &str, message: &str, table: &str, url: &str) -> DirectoryError {
    match code {
        "ResourceNotFoundException" => missing_table(table, url),
        "ProvisionedThroughputExceededException"
        | "ThrottlingException"
        | "RequestLimitExceeded"
        | "LimitExceededException" => {
            DirectoryError::Unavailable("DynamoDB is throttling requests".to_owned())
        }
        "InternalServerError" | "ServiceUnavailable" | "InternalFailure" => {
            DirectoryError::Unavailable(format!("DynamoDB failed: {}", short(message)))
        }
        "AccessDeniedException" => DirectoryError::NotSetUp(format!(
            "not allowed on table {table} (see chat-dynamo/README.md for the IAM actions): {}",
            short(message)
        )),
        "UnrecognizedClientException"
        | "InvalidSignatureException"
        | "MissingAuthenticationTokenException"
        | "ExpiredTokenException"
        | "IncompleteSignatureException" => DirectoryError::Unavailable(format!(
            "DynamoDB refused the credentials ({code}): {}",
            short(message)
        )),
        _ => DirectoryError::Backend(format!("{code}: {}", short(message))),
    }
}

/// How a `TransactWriteItems` failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cancelled {
    /// The conditions of these elements (by index) failed: the items were not as read.
    Conditions(Vec<usize>),
    /// Another transaction held an item: nothing is wrong, try again.
    Conflict,
    /// The directory failed (unavailable, not set up, or otherwise).
    Failed(DirectoryError),
}

/// Takes a failed transaction apart.
pub fn transaction<R>(
    error: SdkError<TransactWriteItemsError, R>,
    table: &str,
    url: &str,
) -> Cancelled
where
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let SdkError::ServiceError(service_error) = &error else {
        return Cancelled::Failed(sdk(error, table, url));
    };
    match service_error.err() {
        TransactWriteItemsError::TransactionCanceledException(cancelled) => {
            let codes: Vec<&str> = cancelled
                .cancellation_reasons()
                .iter()
                .map(|reason| reason.code().unwrap_or("None"))
                .collect();
            cancellation(&codes)
        }
        TransactWriteItemsError::TransactionInProgressException(_) => Cancelled::Conflict,
        other if other.code() == Some("TransactionConflictException") => Cancelled::Conflict,
        _ => Cancelled::Failed(sdk(error, table, url)),
    }
}

/// Cancellation reasons, one code per element, as DynamoDB lists them.
fn cancellation(codes: &[&str]) -> Cancelled {
    let failed: Vec<usize> = codes
        .iter()
        .enumerate()
        .filter(|(_, code)| **code == "ConditionalCheckFailed")
        .map(|(i, _)| i)
        .collect();
    if !failed.is_empty() {
        return Cancelled::Conditions(failed);
    }
    if codes.contains(&"TransactionConflict") {
        return Cancelled::Conflict;
    }
    if codes
        .iter()
        .any(|code| matches!(*code, "ProvisionedThroughputExceeded" | "ThrottlingError"))
    {
        return Cancelled::Failed(DirectoryError::Unavailable(
            "DynamoDB is throttling requests".to_owned(),
        ));
    }
    Cancelled::Failed(DirectoryError::Backend(format!(
        "DynamoDB cancelled the change: [{}]",
        short(&codes.join(", "))
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancellation_reasons_say_which_condition_failed() {
        assert_eq!(
            cancellation(&[
                "None",
                "ConditionalCheckFailed",
                "None",
                "ConditionalCheckFailed"
            ]),
            Cancelled::Conditions(vec![1, 3])
        );
        assert_eq!(
            cancellation(&["None", "TransactionConflict"]),
            Cancelled::Conflict
        );
        // A failed condition is final even if another element also conflicted.
        assert_eq!(
            cancellation(&["TransactionConflict", "ConditionalCheckFailed"]),
            Cancelled::Conditions(vec![1])
        );
        assert!(matches!(
            cancellation(&["ThrottlingError"]),
            Cancelled::Failed(DirectoryError::Unavailable(_))
        ));
        assert!(matches!(
            cancellation(&["ValidationError", "None"]),
            Cancelled::Failed(DirectoryError::Backend(_))
        ));
        assert!(matches!(cancellation(&[]), Cancelled::Failed(_)));
    }

    #[test]
    fn service_errors_map_by_code() {
        let missing = service("ResourceNotFoundException", "", "chat", "dynamodb://chat");
        let message = missing.to_string();
        assert!(matches!(missing, DirectoryError::NotSetUp(_)));
        assert!(message.contains("chat-cli directory create-table --directory dynamodb://chat"));
        assert!(message.contains("Terraform"), "{message}");
        for throttled in [
            "ProvisionedThroughputExceededException",
            "ThrottlingException",
            "RequestLimitExceeded",
        ] {
            assert!(service(throttled, "", "t", "u").is_outage(), "{throttled}");
        }
        assert!(matches!(
            service("AccessDeniedException", "no", "t", "u"),
            DirectoryError::NotSetUp(_)
        ));
        assert!(matches!(
            service("ValidationException", &"x".repeat(5000), "t", "u"),
            DirectoryError::Backend(m) if m.chars().count() < 300
        ));
    }
}
