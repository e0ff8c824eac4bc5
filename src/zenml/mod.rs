//! The ZenML client: the only module that knows ZenML's HTTP API and its quirks
//! (observed on ZenML 0.98.0, see the project's `zenml/API.md`).
//!
//! It does network I/O and nothing else: no database, no wall clock (token expiry and
//! login backoff use `tokio::time::Instant`). Every failure is a [`TriggerError`]
//! sorted by what the caller should do next; credentials never appear in errors,
//! `Debug` output or logs.

mod auth;
mod classify;
mod client;
mod discovery;
mod error;
mod error_body;
pub mod hints;
mod model;
mod retry_after;

pub use auth::LOGIN_BACKOFF;
pub use classify::Operation;
pub use client::{ZenmlClient, IDEMPOTENCY_KEY};
pub use discovery::{CurrentUser, Project, RunsRoute, ServerInfo, TemplateDetail, TemplateInfo};
pub use error::{TriggerError, ZenmlError};
pub use error_body::ErrorBody;
pub use model::{RunInfo, RunRef, TemplateOrSnapshot, TriggerRequest};
pub use retry_after::MAX_RETRY_AFTER;
