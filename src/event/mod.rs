//! Webhook intake below verification: body parsing, the envelope (event name and delivery
//! id), and normalisation of each sender's payload into one [`Event`].

mod model;
pub use model::*;

mod bitbucket;
mod body;
mod envelope;
mod github;
mod gitlab;
mod json;
mod normalise;
mod paths;
mod refs;

pub use body::{parse_body, BodyError};
pub use envelope::{envelope, Envelope, EnvelopeSpec, Locator, LocatorError};
pub use normalise::normalise;
