//! Turns what came back from ZenML (a refusal, or no answer at all) into a [`TriggerError`].
//!
//! Status codes decide, not message text, with one exception: a 409 is a taken run
//! name only when ZenML says `EntityExistsError` about the run name.

use std::error::Error as _;

use reqwest::header::{HeaderMap, DATE, LOCATION, RETRY_AFTER};
use reqwest::StatusCode;

use super::error::TriggerError;
use super::error_body::ErrorBody;
use super::hints;
use super::model::TemplateOrSnapshot;
use super::retry_after;

/// Which call failed: hints and the meaning of "no answer" depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Login,
    Trigger(TemplateOrSnapshot),
    FindRun,
    GetRun,
    /// `GET /api/v1/info` (unauthenticated).
    Info,
    /// `GET /api/v1/current-user`.
    ReadUser,
    /// `GET /api/v1/projects/{name}`.
    ReadProject,
    /// `GET /api/v1/run_templates/{id}` or `/pipeline_snapshots/{id}`.
    ReadTemplate(TemplateOrSnapshot),
    /// `GET /api/v1/run_templates` or `/pipeline_snapshots`.
    ListTemplates(TemplateOrSnapshot),
    /// `POST .../not-a-uuid/runs`: whether the server has the runs route at all.
    ProbeRuns(TemplateOrSnapshot),
}

/// An answer, read in full.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub(crate) fn retry_after(&self) -> Option<std::time::Duration> {
        let value = self.headers.get(RETRY_AFTER)?.to_str().ok()?;
        let date = self.headers.get(DATE).and_then(|d| d.to_str().ok());
        retry_after::parse(value, date)
    }
}

/// A non-2xx answer (401 is handled by the caller, which may log in again first).
pub(crate) fn refusal(operation: Operation, target: &str, reply: &Reply) -> TriggerError {
    let status = reply.status.as_u16();
    let body = ErrorBody::parse(&reply.body);
    let zenml = body.display();
    match status {
        429 => TriggerError::Busy {
            message: zenml,
            retry_after: reply.retry_after(),
        },
        408 | 500..=599 if status != 501 => TriggerError::Retryable {
            status,
            message: zenml,
            retry_after: reply.retry_after(),
        },
        409 if matches!(operation, Operation::Trigger(_)) && names_the_run(&body) => {
            TriggerError::RunNameTaken { message: zenml }
        }
        300..=399 => {
            let location = reply
                .headers
                .get(LOCATION)
                .and_then(|l| l.to_str().ok())
                .unwrap_or("");
            fatal(status, zenml, hints::redirected(target, location))
        }
        // ZenML's own 404s name an exception class; a bare `Not Found` comes from the
        // router (or a proxy), which means the URL, not the template, is wrong.
        404 if body.class.is_none() && operation != Operation::Login => {
            fatal(status, zenml, hints::no_such_endpoint(target))
        }
        _ => fatal(status, zenml, hints::for_status(operation, status, target)),
    }
}

fn names_the_run(body: &ErrorBody) -> bool {
    body.class.as_deref() == Some("EntityExistsError")
        && body.message.to_ascii_lowercase().contains("run name")
}

pub(crate) fn fatal(status: u16, zenml: String, hint: String) -> TriggerError {
    TriggerError::Fatal {
        status: Some(status),
        zenml,
        hint,
    }
}

/// No usable answer. Only a trigger can leave a run behind, so only a trigger that
/// got past connecting is ambiguous; a login or a read is always safe to resend.
pub(crate) fn transport(
    operation: Operation,
    url: &str,
    error: &reqwest::Error,
    secrets: &Secrets,
) -> TriggerError {
    let what = if error.is_connect() {
        "cannot connect to"
    } else if error.is_timeout() {
        "no answer in time from"
    } else {
        "the connection broke during the request to"
    };
    let message = secrets.scrub(&format!("{what} {url}: {}", causes(error)));
    if error.is_connect() || !matches!(operation, Operation::Trigger(_)) {
        TriggerError::Unreachable { message }
    } else {
        TriggerError::Ambiguous { message }
    }
}

/// reqwest's own message repeats the URL (with its query); its causes say what happened.
fn causes(error: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        // hyper and hyper-util wrap one cause in another with the same words.
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    if parts.is_empty() {
        if error.is_timeout() {
            return "timed out".into();
        }
        return text_without_url(error);
    }
    parts.join(": ")
}

fn text_without_url(error: &reqwest::Error) -> String {
    let text = error.to_string();
    match text.find(" for url (") {
        Some(cut) => text[..cut].to_owned(),
        None => text,
    }
}

/// The credential values, so no error message can carry one even if a library echoes it.
#[derive(Clone, Default)]
pub(crate) struct Secrets(Vec<String>);

impl Secrets {
    pub(crate) fn new(values: impl IntoIterator<Item = String>) -> Secrets {
        Secrets(values.into_iter().filter(|v| v.len() >= 4).collect())
    }

    pub(crate) fn scrub(&self, text: &str) -> String {
        self.0.iter().fold(text.to_owned(), |text, secret| {
            text.replace(secret, "[REDACTED]")
        })
    }

    /// The same error with every message scrubbed: ZenML's own text included, in case
    /// a server or proxy ever echoes what it was sent.
    pub(crate) fn scrub_error(&self, error: TriggerError) -> TriggerError {
        if self.0.is_empty() {
            return error;
        }
        match error {
            TriggerError::Unreachable { message } => TriggerError::Unreachable {
                message: self.scrub(&message),
            },
            TriggerError::Ambiguous { message } => TriggerError::Ambiguous {
                message: self.scrub(&message),
            },
            TriggerError::Retryable {
                status,
                message,
                retry_after,
            } => TriggerError::Retryable {
                status,
                message: self.scrub(&message),
                retry_after,
            },
            TriggerError::Busy {
                message,
                retry_after,
            } => TriggerError::Busy {
                message: self.scrub(&message),
                retry_after,
            },
            TriggerError::RunNameTaken { message } => TriggerError::RunNameTaken {
                message: self.scrub(&message),
            },
            TriggerError::Fatal {
                status,
                zenml,
                hint,
            } => TriggerError::Fatal {
                status,
                zenml: self.scrub(&zenml),
                hint,
            },
        }
    }
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secrets({} redacted)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, body: &str) -> Reply {
        Reply {
            status: StatusCode::from_u16(status).expect("a status"),
            headers: HeaderMap::new(),
            body: body.as_bytes().to_vec(),
        }
    }

    const TEMPLATE: Operation = Operation::Trigger(TemplateOrSnapshot::Template);

    #[test]
    fn run_name_conflict_only_on_trigger_with_entity_exists() {
        let taken = reply(
            409,
            r#"{"detail":["EntityExistsError","Pipeline run name 'x' already exists in this project."]}"#,
        );
        assert!(matches!(
            refusal(TEMPLATE, "t", &taken),
            TriggerError::RunNameTaken { .. }
        ));
        let other = reply(409, r#"{"detail":["EntityExistsError","Tag 'x' exists"]}"#);
        assert!(matches!(
            refusal(TEMPLATE, "t", &other),
            TriggerError::Fatal {
                status: Some(409),
                ..
            }
        ));
        assert!(matches!(
            refusal(Operation::GetRun, "t", &taken),
            TriggerError::Fatal { .. }
        ));
    }

    #[test]
    fn bare_not_found_blames_the_url() {
        let TriggerError::Fatal { hint, .. } =
            refusal(TEMPLATE, "prod", &reply(404, r#"{"detail":"Not Found"}"#))
        else {
            panic!("fatal expected");
        };
        assert!(hint.contains("targets.prod.url"), "{hint}");
        let TriggerError::Fatal { hint, .. } = refusal(
            TEMPLATE,
            "prod",
            &reply(
                404,
                r#"{"detail":["KeyError","No run template with this ID found"]}"#,
            ),
        ) else {
            panic!("fatal expected");
        };
        assert!(hint.contains("template was deleted"), "{hint}");
    }

    #[test]
    fn redirects_are_fatal_and_name_the_location() {
        let mut moved = reply(308, "");
        moved.headers.insert(
            LOCATION,
            "https://zenml.example/api/v1/login"
                .parse()
                .expect("a value"),
        );
        let TriggerError::Fatal { hint, .. } = refusal(Operation::Login, "prod", &moved) else {
            panic!("fatal expected");
        };
        assert!(
            hint.contains("https://zenml.example/api/v1/login"),
            "{hint}"
        );
    }

    #[test]
    fn other_5xx_retry_but_501_is_fatal() {
        assert!(matches!(
            refusal(TEMPLATE, "t", &reply(507, "")),
            TriggerError::Retryable { status: 507, .. }
        ));
        assert!(matches!(
            refusal(TEMPLATE, "t", &reply(501, "")),
            TriggerError::Fatal {
                status: Some(501),
                ..
            }
        ));
    }

    #[test]
    fn secrets_are_scrubbed() {
        let secrets = Secrets::new(["ZENKEY_abc".to_owned(), "x".to_owned()]);
        assert_eq!(secrets.scrub("bad ZENKEY_abc x"), "bad [REDACTED] x");
        assert_eq!(format!("{secrets:?}"), "Secrets(1 redacted)");
    }
}
