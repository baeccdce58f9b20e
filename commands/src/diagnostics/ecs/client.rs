//! Purpose: the AWS clients of one run, and an SDK error in the words an
//! engineer acts on.
//!
//! - HTTPS is the SDK's hyper client with rustls on **ring**, built here
//!   (docs/crates.md § AWS SDK): the SDK's default client would bring
//!   aws-lc-rs, a second crypto provider, into the tree. It is built once
//!   per process (it loads the system's root certificates).
//! - Retries: two attempts. A diagnostic is one look; a second attempt
//!   absorbs one dropped connection or throttle, more would only hide
//!   the answer behind the check's timeout.
//! - Timeouts sit inside the check's own, so a silent endpoint is
//!   reported in the SDK's words ("timed out") rather than as a check
//!   that never answered.
//! - Errors never carry the secret key: the SDK does not echo it, and
//!   every finding passes the target's redactor (which knows it) anyway.

use std::error::Error as StdError;
use std::sync::OnceLock;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_ecs::config::{Credentials, Region, SharedHttpClient};
use aws_sdk_ecs::error::{ProvideErrorMetadata, SdkError};
use secrecy::ExposeSecret;

use super::EcsTarget;
use crate::model::report::{Finding, Status};

/// Where the read-only policy is written down, for a denied call.
const POLICY_HINT: &str =
    "The read-only IAM policy medic needs is in the README (\"ECS targets\").";

/// The SDK's HTTPS client on rustls with ring, made once.
fn http_client() -> SharedHttpClient {
    static CLIENT: OnceLock<SharedHttpClient> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
            aws_smithy_http_client::Builder::new()
                .tls_provider(Provider::Rustls(CryptoMode::Ring))
                .build_https()
        })
        .clone()
}

/// The ECS and CloudWatch Logs clients of one run.
#[derive(Debug, Clone)]
pub struct Clients {
    /// ECS.
    pub ecs: aws_sdk_ecs::Client,
    /// CloudWatch Logs.
    pub logs: aws_sdk_cloudwatchlogs::Client,
}

impl Clients {
    /// Resolves region and credentials for `target` and builds the
    /// clients. Credentials are checked here, so "no credentials" is one
    /// finding, not one per call.
    pub async fn connect(target: &EcsTarget) -> Result<Clients, AwsError> {
        let budget = target.timeout.mul_f64(0.9);
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http_client())
            .retry_config(RetryConfig::standard().with_max_attempts(2))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(budget.min(Duration::from_secs(3)))
                    .operation_timeout(budget)
                    .build(),
            );
        if let Some(region) = &target.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(profile) = &target.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(url) = &target.endpoint_url {
            loader = loader.endpoint_url(url.expose().trim_end_matches('/'));
        }
        if let (Some(id), Some(secret)) = (&target.access_key_id, &target.secret_access_key) {
            loader = loader.credentials_provider(Credentials::new(
                id,
                secret.expose_secret(),
                None,
                None,
                "medic-target-config",
            ));
        }
        let config = loader.load().await;
        if config.region().is_none() {
            return Err(AwsError {
                kind: ErrorKind::Config,
                call: "configuration",
                text: "no AWS region: set `region` on the target (or AWS_REGION, or the profile's region)".into(),
            });
        }
        if let Some(provider) = config.credentials_provider() {
            use aws_credential_types::provider::ProvideCredentials;
            if let Err(e) = provider.provide_credentials().await {
                return Err(AwsError::credentials(&e));
            }
        }
        Ok(Clients {
            ecs: aws_sdk_ecs::Client::new(&config),
            logs: aws_sdk_cloudwatchlogs::Client::new(&config),
        })
    }
}

/// What went wrong, as far as the caller branches on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// No region, or another setting the SDK refused.
    Config,
    /// No credentials found, or AWS refused them (unknown key, bad
    /// signature, expired token).
    Credentials,
    /// The endpoint could not be reached (refused, DNS, TLS).
    Unreachable,
    /// The endpoint did not answer in time.
    TimedOut,
    /// The credentials may not make this call.
    Denied,
    /// The cluster, service or log group does not exist.
    NotFound,
    /// AWS asked medic to slow down.
    Throttled,
    /// Anything else AWS answered.
    Other,
}

/// An SDK error in words: its kind, the call (`ecs:DescribeServices`),
/// and the text that says why.
#[derive(Debug, Clone)]
pub struct AwsError {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// The IAM action of the call that failed.
    pub call: &'static str,
    /// The error, with its causes.
    pub text: String,
}

impl AwsError {
    fn credentials(e: &CredentialsError) -> AwsError {
        AwsError {
            kind: ErrorKind::Credentials,
            call: "credentials",
            text: causes(e),
        }
    }

    /// Reads an SDK error of `call` (its IAM action name).
    pub fn from_sdk<E, R>(call: &'static str, err: SdkError<E, R>) -> AwsError
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        let text = causes(&err);
        let kind = match &err {
            _ if has_source::<CredentialsError>(&err) => ErrorKind::Credentials,
            SdkError::ConstructionFailure(_) => ErrorKind::Config,
            SdkError::TimeoutError(_) => ErrorKind::TimedOut,
            SdkError::DispatchFailure(d) if d.is_timeout() => ErrorKind::TimedOut,
            SdkError::DispatchFailure(d) if d.is_io() => ErrorKind::Unreachable,
            SdkError::DispatchFailure(_) => ErrorKind::Unreachable,
            SdkError::ResponseError(_) => ErrorKind::Other,
            SdkError::ServiceError(s) => kind_of_code(s.err().code().unwrap_or_default()),
            // SdkError is non-exhaustive; a new variant reads as "other".
            _ => ErrorKind::Other,
        };
        let text = match &err {
            SdkError::ServiceError(s) => match (s.err().code(), s.err().message()) {
                (Some(code), Some(msg)) => format!("{code}: {msg}"),
                (Some(code), None) => code.to_string(),
                _ => text,
            },
            _ => text,
        };
        AwsError { kind, call, text }
    }

    /// The finding for check `check`: what failed, against which
    /// endpoint, and what to do about it.
    pub fn finding(&self, check: &str, target: &EcsTarget) -> Finding {
        let at = target.endpoint_shown();
        let (status, summary, hint): (Status, String, String) = match self.kind {
            ErrorKind::Config => (
                Status::Unknown,
                format!("AWS is not configured for cluster {}: {}", target.cluster, self.text),
                "Set `region` on the target, or AWS_REGION in medic's environment.".into(),
            ),
            ErrorKind::Credentials => (
                Status::Unknown,
                format!("No usable AWS credentials for {at}"),
                match (&target.profile, &target.access_key_id) {
                    (Some(p), _) => format!("The profile `{p}` (in ~/.aws/config or ~/.aws/credentials of medic's user) gave none, or AWS refused them."),
                    (None, Some(_)) => "AWS refused the target's access_key_id/secret_access_key: a deleted, inactive or mistyped key.".into(),
                    (None, None) => "medic looked in the usual chain (AWS_ACCESS_KEY_ID, the default profile, web identity, the ECS task role, the EC2 instance role); set `profile` or run medic with a role.".into(),
                },
            ),
            ErrorKind::Unreachable => (
                Status::Critical,
                format!("Cannot reach the AWS API at {at}"),
                "medic's host cannot connect there: its network, a proxy or firewall, or a VPC endpoint.".into(),
            ),
            ErrorKind::TimedOut => (
                Status::Critical,
                format!("The AWS API at {at} did not answer in time"),
                "A firewall dropping packets, or a proxy or VPC endpoint that accepts and never answers.".into(),
            ),
            ErrorKind::Denied => (
                Status::Unknown,
                format!("medic may not call {} on cluster {}", self.call, target.cluster),
                format!("Allow {} to medic's IAM identity. {POLICY_HINT}", self.call),
            ),
            ErrorKind::NotFound => (
                Status::Critical,
                format!("{} on cluster {}: not found", self.call, target.cluster),
                format!("Check `cluster` (a name or ARN) and `region` ({}).", target.region.as_deref().unwrap_or("the default")),
            ),
            ErrorKind::Throttled => (
                Status::Unknown,
                format!("AWS throttled {} on cluster {}", self.call, target.cluster),
                "The account's API rate for this call is used up; try again in a minute.".into(),
            ),
            ErrorKind::Other => (
                Status::Unknown,
                format!("{} on cluster {} failed", self.call, target.cluster),
                String::new(),
            ),
        };
        let mut f = Finding::new(check, status, summary).with_evidence(self.text.clone());
        if !hint.is_empty() {
            f = f.with_detail(hint);
        }
        f
    }
}

/// An error code's kind; the codes are those of the ECS and CloudWatch
/// Logs API references ("Common Errors") and IAM's.
fn kind_of_code(code: &str) -> ErrorKind {
    match code {
        "AccessDeniedException" | "AccessDenied" | "UnauthorizedOperation" => ErrorKind::Denied,
        "UnrecognizedClientException"
        | "InvalidClientTokenId"
        | "InvalidSignatureException"
        | "SignatureDoesNotMatch"
        | "ExpiredTokenException"
        | "ExpiredToken"
        | "IncompleteSignature"
        | "MissingAuthenticationToken" => ErrorKind::Credentials,
        "ClusterNotFoundException" | "ServiceNotFoundException" | "ResourceNotFoundException" => {
            ErrorKind::NotFound
        }
        "ThrottlingException" | "Throttling" | "TooManyRequestsException" => ErrorKind::Throttled,
        _ => ErrorKind::Other,
    }
}

/// An error and its causes, each said once: "dispatch failure: io error:
/// tcp connect error: Connection refused (os error 111)". (The SDK's
/// `DisplayErrorContext` adds the whole Debug form, too long for chat.)
fn causes(err: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        if !text.is_empty() && !parts.last().is_some_and(|p| p.ends_with(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

/// Whether an error of type `T` is among `err`'s causes.
fn has_source<T: StdError + 'static>(err: &(dyn StdError + 'static)) -> bool {
    let mut next: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = next {
        if e.is::<T>() {
            return true;
        }
        next = e.source();
    }
    false
}
