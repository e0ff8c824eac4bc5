//! Credentials and the access token: login with the API key, cache, renew, back off.
//!
//! ZenML re-checks an API-key token against its key on every request, and tokens
//! only expire when the server sets `ZENML_SERVER_JWT_TOKEN_EXPIRE_MINUTES`, so the
//! token is kept until ZenML says otherwise (`expires_in`, or a 401).

use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{Client, StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::classify::{self, Operation, Reply, Secrets};
use super::error::TriggerError;
use super::error_body::ErrorBody;
use super::hints;

/// After a 429 on login, ZenML counts every further attempt against the per-minute
/// limit, so a client that retries sooner stays locked out.
pub const LOGIN_BACKOFF: Duration = Duration::from_secs(60);

/// After a refused key, another login cannot succeed until someone changes the key;
/// failed logins also count against ZenML's login rate limit and cost it a bcrypt check.
const REFUSED_KEY_MEMORY: Duration = Duration::from_secs(60);

/// Renew a token when less than this much of its life is left (10 %, at most 60 s).
fn renewal_margin(lifetime: Duration) -> Duration {
    (lifetime / 10).min(Duration::from_secs(60))
}

pub(crate) enum Credential {
    ApiKey(SecretString),
    Token(SecretString),
    None,
}

/// A token to send, and which login produced it (to tell a stale 401 from a fresh one).
pub(crate) struct Bearer {
    pub value: Option<SecretString>,
    generation: u64,
}

struct Cached {
    value: SecretString,
    renew_at: Option<Instant>,
}

#[derive(Default)]
struct State {
    token: Option<Cached>,
    /// Counts logins, so a caller whose token was refused can see whether another
    /// caller has already logged in again meanwhile.
    generation: u64,
    login_blocked_until: Option<Instant>,
    key_refused: Option<(Instant, TriggerError)>,
}

pub(crate) struct Auth {
    credential: Credential,
    login_url: Option<Url>,
    target: String,
    secrets: Secrets,
    /// Held across a login, so concurrent callers wait for one login instead of each
    /// starting their own.
    state: Mutex<State>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: Option<String>,
    expires_in: Option<u64>,
    authorization_url: Option<String>,
}

impl Auth {
    pub(crate) fn new(
        credential: Credential,
        login_url: Option<Url>,
        target: String,
        secrets: Secrets,
    ) -> Auth {
        Auth {
            credential,
            login_url,
            target,
            secrets,
            state: Mutex::new(State::default()),
        }
    }

    pub(crate) fn kind(&self) -> &'static str {
        match self.credential {
            Credential::ApiKey(_) => "api_key",
            Credential::Token(_) => "token",
            Credential::None => "none",
        }
    }

    /// True when a refused token can be replaced by logging in again.
    pub(crate) fn can_renew(&self) -> bool {
        matches!(self.credential, Credential::ApiKey(_))
    }

    /// The token to send now, logging in first when there is none or it is about to expire.
    pub(crate) async fn bearer(&self, http: &Client) -> Result<Bearer, TriggerError> {
        let key = match &self.credential {
            Credential::ApiKey(key) => key,
            Credential::Token(token) => {
                return Ok(Bearer {
                    value: Some(copy(token)),
                    generation: 0,
                })
            }
            Credential::None => {
                return Ok(Bearer {
                    value: None,
                    generation: 0,
                })
            }
        };
        let mut state = self.state.lock().await;
        if let Some(bearer) = current(&state) {
            return Ok(bearer);
        }
        self.login(http, key, &mut state).await
    }

    /// After ZenML refused `rejected` with 401: log in again, unless another caller
    /// already did since that token was issued.
    pub(crate) async fn renew_after_rejection(
        &self,
        http: &Client,
        rejected: &Bearer,
    ) -> Result<Bearer, TriggerError> {
        let Credential::ApiKey(key) = &self.credential else {
            return Err(self.rejected(None));
        };
        let mut state = self.state.lock().await;
        if state.generation != rejected.generation {
            if let Some(bearer) = current(&state) {
                return Ok(bearer);
            }
        }
        state.token = None;
        self.login(http, key, &mut state).await
    }

    /// The error for a 401 that logging in again cannot fix.
    pub(crate) fn rejected(&self, reply: Option<&Reply>) -> TriggerError {
        let zenml = reply
            .map(|r| ErrorBody::parse(&r.body).display())
            .unwrap_or_default();
        let hint = match self.credential {
            Credential::ApiKey(_) => hints::api_key_rejected(&self.target),
            Credential::Token(_) => hints::token_rejected(&self.target),
            Credential::None => hints::no_credential(&self.target),
        };
        classify::fatal(401, zenml, hint)
    }

    async fn login(
        &self,
        http: &Client,
        key: &SecretString,
        state: &mut State,
    ) -> Result<Bearer, TriggerError> {
        let now = Instant::now();
        if let Some(until) = state.login_blocked_until.filter(|until| now < *until) {
            return Err(TriggerError::Busy {
                message: "ZenML refused a login with 429 (rate limit): zenhook waits before logging in again".into(),
                retry_after: Some(until - now),
            });
        }
        if let Some((_, refused)) = state.key_refused.as_ref().filter(|(until, _)| now < *until) {
            return Err(refused.clone());
        }
        let Some(url) = &self.login_url else {
            return Err(TriggerError::Fatal {
                status: None,
                zenml: String::new(),
                hint: hints::shadow(&self.target),
            });
        };
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("password", key.expose_secret())
            .finish();
        let sent = http
            .post(url.clone())
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(ACCEPT, "application/json")
            .body(form)
            .send()
            .await;
        let response = sent
            .map_err(|e| classify::transport(Operation::Login, url.as_str(), &e, &self.secrets))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|e| classify::transport(Operation::Login, url.as_str(), &e, &self.secrets))?;
        let reply = Reply {
            status,
            headers,
            body: body.to_vec(),
        };
        match status {
            StatusCode::OK => self.accept(&reply, state),
            StatusCode::UNAUTHORIZED => {
                let refused = self.rejected(Some(&reply));
                tracing::warn!(target_name = %self.target, "ZenML refused the API key at login");
                state.key_refused = Some((Instant::now() + REFUSED_KEY_MEMORY, refused.clone()));
                Err(refused)
            }
            StatusCode::TOO_MANY_REQUESTS => {
                let wait = reply.retry_after().unwrap_or_default().max(LOGIN_BACKOFF);
                tracing::warn!(
                    target_name = %self.target,
                    wait_s = wait.as_secs(),
                    "ZenML rate-limited the login: not logging in again before the wait is over"
                );
                state.login_blocked_until = Some(Instant::now() + wait);
                Err(TriggerError::Busy {
                    message: ErrorBody::parse(&reply.body).display(),
                    retry_after: Some(wait),
                })
            }
            _ if status.is_success() => self.accept(&reply, state),
            _ => Err(classify::refusal(Operation::Login, &self.target, &reply)),
        }
    }

    fn accept(&self, reply: &Reply, state: &mut State) -> Result<Bearer, TriggerError> {
        let parsed: Option<TokenResponse> = serde_json::from_slice(&reply.body).ok();
        let status = reply.status.as_u16();
        let token = match parsed {
            Some(TokenResponse {
                access_token: Some(token),
                expires_in,
                ..
            }) if !token.is_empty() => (token, expires_in),
            Some(TokenResponse {
                authorization_url: Some(_),
                ..
            }) => {
                return Err(classify::fatal(
                    status,
                    "an external login redirect".into(),
                    hints::external_login(&self.target),
                ))
            }
            _ => {
                return Err(classify::fatal(
                    status,
                    "a login answer without access_token".into(),
                    hints::not_zenml(&self.target),
                ))
            }
        };
        let (value, expires_in) = token;
        let now = Instant::now();
        // A lifetime too long to add to the clock is as good as none.
        let renew_at = expires_in.and_then(|seconds| {
            let lifetime = Duration::from_secs(seconds);
            now.checked_add(lifetime - renewal_margin(lifetime))
        });
        state.generation += 1;
        state.key_refused = None;
        state.login_blocked_until = None;
        let value = SecretString::from(value);
        // Even a token that is due for renewal at once serves the request it was fetched for.
        let bearer = Bearer {
            value: Some(copy(&value)),
            generation: state.generation,
        };
        state.token = Some(Cached { value, renew_at });
        tracing::debug!(
            target_name = %self.target,
            expires_in_s = ?expires_in,
            "logged in to ZenML"
        );
        Ok(bearer)
    }
}

fn current(state: &State) -> Option<Bearer> {
    let cached = state.token.as_ref()?;
    let fresh = match cached.renew_at {
        Some(renew_at) => Instant::now() < renew_at,
        None => true,
    };
    fresh.then(|| Bearer {
        value: Some(copy(&cached.value)),
        generation: state.generation,
    })
}

fn copy(secret: &SecretString) -> SecretString {
    SecretString::from(secret.expose_secret().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_margin_is_a_tenth_capped_at_a_minute() {
        assert_eq!(
            renewal_margin(Duration::from_secs(60)),
            Duration::from_secs(6)
        );
        assert_eq!(
            renewal_margin(Duration::from_secs(300)),
            Duration::from_secs(30)
        );
        assert_eq!(
            renewal_margin(Duration::from_secs(86_400)),
            Duration::from_secs(60)
        );
        assert_eq!(renewal_margin(Duration::ZERO), Duration::ZERO);
    }
}
