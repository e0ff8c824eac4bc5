//! The two error types: building a client (configuration) and talking to ZenML.

use std::time::Duration;

/// A target that cannot become a client: the message names the setting at fault.
#[derive(Debug, Clone, thiserror::Error)]
#[error("targets.{target}.{field}: {message}")]
pub struct ZenmlError {
    pub target: String,
    pub field: &'static str,
    pub message: String,
}

/// Why a call to ZenML did not give its answer, sorted by what the caller should do next.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TriggerError {
    /// Nothing reached ZenML (connect, DNS or TLS failure, or a login or read that
    /// cannot have created a run): safe to resend.
    #[error("{}", self.summary())]
    Unreachable { message: String },
    /// The request may have reached ZenML (timeout after sending, connection dropped
    /// mid-response, a 2xx whose body is not a run): look the run up by tag before resending.
    #[error("{}", self.summary())]
    Ambiguous { message: String },
    /// 408, 500, 502, 503, 504 (and other 5xx): retry with backoff, resending the same
    /// `Idempotency-Key`. ZenML caches only successful answers, so a resend after a 5xx
    /// runs the request again; see [`TriggerError::may_have_created_run`] for when to
    /// look the run up first.
    #[error("{}", self.summary())]
    Retryable {
        status: u16,
        message: String,
        retry_after: Option<Duration>,
    },
    /// 429 (too many runs in flight, a concurrent request with the same key, login rate
    /// limit): retry later; this does not consume an attempt. ZenML deletes the run it
    /// refused with 429, so the resend is safe.
    #[error("{}", self.summary())]
    Busy {
        message: String,
        retry_after: Option<Duration>,
    },
    /// 409 `EntityExistsError` about the run name: the caller adopts the run if it
    /// carries the job's tag.
    #[error("{}", self.summary())]
    RunNameTaken { message: String },
    /// Will not work as is, however often it is sent: `hint` says what to change.
    #[error("{}", self.summary())]
    Fatal {
        status: Option<u16>,
        zenml: String,
        hint: String,
    },
}

impl TriggerError {
    /// The HTTP status ZenML answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            TriggerError::Unreachable { .. } | TriggerError::Ambiguous { .. } => None,
            TriggerError::Retryable { status, .. } => Some(*status),
            TriggerError::Busy { .. } => Some(429),
            TriggerError::RunNameTaken { .. } => Some(409),
            TriggerError::Fatal { status, .. } => *status,
        }
    }

    /// When to wait before the next attempt, if ZenML said (or, after a refused login, must).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            TriggerError::Retryable { retry_after, .. }
            | TriggerError::Busy { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// True when a trigger that failed this way may still have created a run, so the
    /// caller should look the run up by tag before resending: no answer at all, or a
    /// 500/502/504, which ZenML (an exception after the run was stored) or a proxy in
    /// front of it (gave up waiting for ZenML) can return after the run exists.
    pub fn may_have_created_run(&self) -> bool {
        match self {
            TriggerError::Ambiguous { .. } => true,
            TriggerError::Retryable { status, .. } => matches!(status, 500 | 502 | 504),
            _ => false,
        }
    }

    /// One line: the status, ZenML's message, and the hint.
    pub fn summary(&self) -> String {
        match self {
            TriggerError::Unreachable { message } => format!("ZenML unreachable: {message}"),
            TriggerError::Ambiguous { message } => {
                format!("no answer from ZenML, the run may exist: {message}")
            }
            TriggerError::Retryable {
                status,
                message,
                retry_after,
            } => format!("HTTP {status}: {message}{}", wait_note(*retry_after)),
            TriggerError::Busy {
                message,
                retry_after,
            } => format!("HTTP 429 (busy): {message}{}", wait_note(*retry_after)),
            TriggerError::RunNameTaken { message } => {
                format!("HTTP 409 (run name taken): {message}")
            }
            TriggerError::Fatal {
                status,
                zenml,
                hint,
            } => {
                let mut line = match status {
                    Some(status) => format!("HTTP {status}"),
                    None => String::from("refused"),
                };
                if !zenml.is_empty() {
                    line.push_str(": ");
                    line.push_str(zenml);
                }
                line.push_str(" — ");
                line.push_str(hint);
                line
            }
        }
    }
}

fn wait_note(retry_after: Option<Duration>) -> String {
    match retry_after {
        Some(wait) => format!(" (retry after {} s)", wait.as_secs()),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_fatal_has_status_message_and_hint() {
        let error = TriggerError::Fatal {
            status: Some(404),
            zenml: "KeyError: no template".into(),
            hint: "the template was deleted".into(),
        };
        assert_eq!(
            error.summary(),
            "HTTP 404: KeyError: no template — the template was deleted"
        );
        assert_eq!(error.to_string(), error.summary());
        assert_eq!(error.status(), Some(404));
    }

    #[test]
    fn summary_of_fatal_without_status_or_message() {
        let error = TriggerError::Fatal {
            status: None,
            zenml: String::new(),
            hint: "do this".into(),
        };
        assert_eq!(error.summary(), "refused — do this");
        assert_eq!(error.status(), None);
    }

    #[test]
    fn statuses_and_waits() {
        let busy = TriggerError::Busy {
            message: "m".into(),
            retry_after: Some(Duration::from_secs(60)),
        };
        assert_eq!(busy.status(), Some(429));
        assert_eq!(busy.retry_after(), Some(Duration::from_secs(60)));
        assert_eq!(busy.summary(), "HTTP 429 (busy): m (retry after 60 s)");
        let taken = TriggerError::RunNameTaken {
            message: "m".into(),
        };
        assert_eq!(taken.status(), Some(409));
        assert_eq!(
            TriggerError::Unreachable {
                message: "m".into()
            }
            .status(),
            None
        );
    }

    #[test]
    fn which_failures_may_have_created_a_run() {
        let retryable = |status| TriggerError::Retryable {
            status,
            message: String::new(),
            retry_after: None,
        };
        assert!(TriggerError::Ambiguous {
            message: String::new()
        }
        .may_have_created_run());
        assert!(retryable(500).may_have_created_run());
        assert!(retryable(502).may_have_created_run());
        assert!(retryable(504).may_have_created_run());
        assert!(!retryable(503).may_have_created_run());
        assert!(!retryable(408).may_have_created_run());
        assert!(!TriggerError::Unreachable {
            message: String::new()
        }
        .may_have_created_run());
        assert!(!TriggerError::Busy {
            message: String::new(),
            retry_after: None
        }
        .may_have_created_run());
    }
}
