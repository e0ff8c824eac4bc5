//! Configuration: built-in defaults, then a file, then `ZENHOOK__SECTION__KEY` variables.
//!
//! Everything is validated here, at start-up, so a running service never meets a
//! half-valid setting: unknown keys, unresolvable secrets and contradictory source
//! settings are errors with the key that caused them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

use crate::event::{EnvelopeSpec, Locator, SenderKind};
use crate::verify::{self, Algorithm, Encoding, HmacScheme, Scheme, TokenScheme, Verifier};

/// The defaults file, compiled in so the binary runs with no file at all.
pub const DEFAULTS: &str = include_str!("../config/default.toml");

/// The prefix of configuration environment variables (`ZENHOOK__SERVER__LISTEN`).
pub const ENV_PREFIX: &str = "ZENHOOK";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("configuration: {key}: {message}")]
    Invalid { key: String, message: String },
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

/// The configuration as written, before secrets are resolved.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    server: ServerSettings,
    database: DatabaseSettings,
    intake: IntakeSettings,
    log: LogSettings,
    admin: RawAdmin,
    worker: WorkerSettings,
    retention: RetentionSettings,
    #[serde(default)]
    sources: BTreeMap<String, RawSource>,
    #[serde(default)]
    targets: BTreeMap<String, RawTarget>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAdmin {
    listen: String,
    tokens: Vec<RawToken>,
    #[serde(with = "humantime_serde")]
    rules_poll: Duration,
}

/// What is kept how long.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSettings {
    #[serde(with = "humantime_serde")]
    pub bodies: Duration,
    #[serde(with = "humantime_serde")]
    pub deliveries: Duration,
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    pub batch: i64,
}

/// Dedupe keys live as long as their delivery row: at least this long, so a sender's
/// manual redelivery weeks later is still recognised.
pub const MIN_DELIVERY_RETENTION: Duration = Duration::from_secs(30 * 86_400);

/// How the worker drains the job table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerSettings {
    pub concurrency: usize,
    pub max_attempts: u32,
    #[serde(with = "humantime_serde_vec")]
    pub retry_schedule: Vec<Duration>,
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
    #[serde(with = "humantime_serde")]
    pub busy_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub poll: Duration,
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    #[serde(with = "humantime_serde")]
    pub follow_interval: Duration,
    #[serde(with = "humantime_serde")]
    pub follow_max_interval: Duration,
    #[serde(with = "humantime_serde")]
    pub run_deadline: Duration,
}

/// A list of durations written as text ("5s", "2m").
mod humantime_serde_vec {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|text| humantime::parse_duration(text).map_err(serde::de::Error::custom))
            .collect()
    }
}

/// An admin token as written: a bare secret (scope `admin`), or named with a scope and
/// either the token itself or the hex SHA-256 of it (so the file need not hold it).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawToken {
    Named(NamedToken),
    Bare(SecretRef),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NamedToken {
    name: String,
    token: Option<SecretRef>,
    sha256: Option<String>,
    scope: Scope,
}

/// What an admin token may do; each scope includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Everything GET.
    Read,
    /// Also rules, replay, retry, cancel, stop-run.
    Write,
    /// Also reload and prune.
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }
}

/// An admin token, kept as the SHA-256 of its value.
#[derive(Clone)]
pub struct AdminToken {
    pub name: String,
    pub digest: [u8; 32],
    pub scope: Scope,
    /// The token itself, when the configuration gave it (the CLI uses it by default).
    pub secret: Option<SecretString>,
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AdminToken({}, {})", self.name, self.scope.as_str())
    }
}

fn sha256(text: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes()).into()
}

fn build_token(index: usize, raw: &RawToken) -> Result<AdminToken, ConfigError> {
    use secrecy::ExposeSecret;
    let key = format!("admin.tokens[{index}]");
    match raw {
        RawToken::Bare(secret) => {
            let secret = secret.resolve(&key)?;
            Ok(AdminToken {
                name: format!("token-{}", index + 1),
                digest: sha256(secret.expose_secret()),
                scope: Scope::Admin,
                secret: Some(secret),
            })
        }
        RawToken::Named(named) => {
            if named.name.trim().is_empty() {
                return Err(invalid(format!("{key}.name"), "give the token a name"));
            }
            let (digest, secret) = match (&named.token, &named.sha256) {
                (Some(token), None) => {
                    let secret = token.resolve(&format!("{key}.token"))?;
                    (sha256(secret.expose_secret()), Some(secret))
                }
                (None, Some(hex_digest)) => {
                    let bytes = hex::decode(hex_digest.trim())
                        .ok()
                        .filter(|b| b.len() == 32);
                    let Some(bytes) = bytes else {
                        return Err(invalid(
                            format!("{key}.sha256"),
                            "must be the 64 hex digits of the token's SHA-256",
                        ));
                    };
                    let mut digest = [0u8; 32];
                    digest.copy_from_slice(&bytes);
                    (digest, None)
                }
                _ => return Err(invalid(&key, "give exactly one of token and sha256")),
            };
            Ok(AdminToken {
                name: named.name.clone(),
                digest,
                scope: named.scope,
                secret,
            })
        }
    }
}

/// The admin API's settings.
#[derive(Debug)]
pub struct AdminSettings {
    /// `None`: served beside the webhooks.
    pub listen: Option<SocketAddr>,
    pub tokens: Vec<AdminToken>,
    pub rules_poll: Duration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    url: Option<String>,
    api_key: Option<SecretRef>,
    token: Option<SecretRef>,
    project: Option<String>,
    #[serde(default = "default_target_timeout", with = "humantime_serde")]
    timeout: Duration,
    ca_file: Option<PathBuf>,
    proxy: Option<String>,
    #[serde(default)]
    shadow: bool,
    rate_limit: Option<String>,
}

fn default_target_timeout() -> Duration {
    Duration::from_secs(30)
}

/// How zenhook authenticates to a ZenML workspace.
#[derive(Debug)]
pub enum Credential {
    /// A service-account API key, exchanged for a token at login.
    ApiKey(SecretString),
    /// A bearer token used as is.
    Token(SecretString),
}

/// A ZenML workspace that rules trigger runs on.
#[derive(Debug)]
pub struct Target {
    pub name: String,
    /// `None` only for shadow targets.
    pub url: Option<String>,
    pub credential: Option<Credential>,
    pub project: Option<String>,
    pub timeout: Duration,
    pub ca_file: Option<PathBuf>,
    pub proxy: Option<String>,
    pub shadow: bool,
    /// At most this many trigger calls per period, from this process.
    pub rate_limit: Option<(u32, Duration)>,
}

/// Parses "10/s", "100/m", "1000/h".
fn parse_rate(text: &str) -> Option<(u32, Duration)> {
    let (count, unit) = text.trim().split_once('/')?;
    let per = match unit.trim() {
        "s" | "sec" | "second" => Duration::from_secs(1),
        "m" | "min" | "minute" => Duration::from_secs(60),
        "h" | "hour" => Duration::from_secs(3600),
        _ => return None,
    };
    let count: u32 = count.trim().parse().ok().filter(|n| *n > 0)?;
    Some((count, per))
}

impl Target {
    /// The target used when none is configured: no calls, every job `shadowed`.
    pub fn implicit_shadow() -> Target {
        Target {
            name: "default".into(),
            url: None,
            credential: None,
            project: None,
            timeout: default_target_timeout(),
            ca_file: None,
            proxy: None,
            shadow: true,
            rate_limit: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    pub max_body_bytes: usize,
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: String,
    pub max_connections: u32,
    #[serde(with = "humantime_serde")]
    pub acquire_timeout: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntakeSettings {
    pub max_batch: usize,
    pub queue_capacity: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    pub level: String,
}

/// A secret as written: literally, or a reference to where it lives.
#[derive(Deserialize)]
#[serde(untagged)]
pub enum SecretRef {
    Literal(String),
    Env { env: String },
    File { file: PathBuf },
}

impl std::fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretRef::Literal(_) => f.write_str("SecretRef::Literal([REDACTED])"),
            SecretRef::Env { env } => write!(f, "SecretRef::Env({env})"),
            SecretRef::File { file } => write!(f, "SecretRef::File({})", file.display()),
        }
    }
}

impl SecretRef {
    /// Reads the secret. `key` names the setting in error messages; the value never appears.
    pub fn resolve(&self, key: &str) -> Result<SecretString, ConfigError> {
        let value = match self {
            SecretRef::Literal(value) => value.clone(),
            SecretRef::Env { env } => std::env::var(env)
                .map_err(|_| invalid(key, format!("the environment variable {env} is not set")))?,
            SecretRef::File { file } => std::fs::read_to_string(file)
                .map_err(|e| invalid(key, format!("cannot read {}: {e}", file.display())))?
                .trim_end_matches(['\r', '\n'])
                .to_owned(),
        };
        if value.is_empty() {
            return Err(invalid(key, "the secret is empty"));
        }
        Ok(SecretString::from(value))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    kind: SenderKind,
    #[serde(default)]
    secrets: Vec<SecretRef>,
    #[serde(default)]
    allow_sha1: bool,
    #[serde(default, with = "humantime_serde::option")]
    tolerance: Option<Duration>,
    #[serde(default, with = "humantime_serde::option")]
    dedupe_window: Option<Duration>,
    header: Option<String>,
    algorithm: Option<Algorithm>,
    encoding: Option<Encoding>,
    prefix: Option<String>,
    timestamp_header: Option<String>,
    signed_payload: Option<String>,
    event: Option<Locator>,
    delivery_id: Option<Locator>,
}

/// One webhook source, ready to verify and identify requests.
#[derive(Debug)]
pub struct Source {
    pub name: String,
    pub kind: SenderKind,
    pub verifier: Verifier,
    pub envelope: EnvelopeSpec,
    pub dedupe_window: Option<Duration>,
}

/// The validated configuration.
#[derive(Debug)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub intake: IntakeSettings,
    pub log: LogSettings,
    pub admin: AdminSettings,
    pub worker: WorkerSettings,
    pub retention: RetentionSettings,
    pub sources: BTreeMap<String, Source>,
    pub targets: BTreeMap<String, Target>,
    /// True when no target was configured and the implicit shadow `default` stands in.
    pub implicit_target: bool,
}

impl Settings {
    /// Loads defaults, then `file` if given, then the environment.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        Self::load_with_env(file, std::env::vars())
    }

    /// Like [`Settings::load`], with the environment passed in (tests use their own).
    pub fn load_with_env(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, ConfigError> {
        let mut builder = config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml));
        if let Some(file) = file {
            if !file.exists() {
                return Err(invalid(
                    "--config",
                    format!("{} does not exist", file.display()),
                ));
            }
            builder = builder.add_source(config::File::from(file).required(true));
        }
        let env: config::Map<String, String> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with(&format!("{ENV_PREFIX}__")))
            .collect();
        builder = builder.add_source(
            config::Environment::with_prefix(ENV_PREFIX)
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .source(Some(env)),
        );
        let raw: RawSettings = builder.build()?.try_deserialize()?;
        Settings::validate(raw)
    }

    fn validate(raw: RawSettings) -> Result<Settings, ConfigError> {
        if raw.server.max_body_bytes == 0 {
            return Err(invalid("server.max_body_bytes", "must be above zero"));
        }
        if raw.intake.max_batch == 0 || raw.intake.queue_capacity == 0 {
            return Err(invalid(
                "intake",
                "max_batch and queue_capacity must be above zero",
            ));
        }
        let mut sources = BTreeMap::new();
        for (name, source) in raw.sources {
            let source = build_source(&name, source)?;
            sources.insert(name, source);
        }
        let admin = AdminSettings {
            listen: match raw.admin.listen.trim() {
                "" => None,
                addr => Some(addr.parse().map_err(|e| {
                    invalid("admin.listen", format!("{addr:?} is not an address: {e}"))
                })?),
            },
            tokens: raw
                .admin
                .tokens
                .iter()
                .enumerate()
                .map(|(i, t)| build_token(i, t))
                .collect::<Result<_, _>>()?,
            rules_poll: raw.admin.rules_poll,
        };
        let worker = raw.worker;
        if worker.concurrency == 0 || worker.max_attempts == 0 || worker.retry_schedule.is_empty() {
            return Err(invalid(
                "worker",
                "concurrency, max_attempts and retry_schedule must not be zero or empty",
            ));
        }
        if worker.lease < Duration::from_secs(2) {
            return Err(invalid("worker.lease", "must be at least 2s"));
        }
        let retention = raw.retention;
        if retention.deliveries < MIN_DELIVERY_RETENTION {
            return Err(invalid(
                "retention.deliveries",
                "must be at least 30d: dedupe keys must outlive a sender's manual redelivery",
            ));
        }
        if retention.deliveries < retention.bodies {
            return Err(invalid(
                "retention.deliveries",
                "must be at least retention.bodies",
            ));
        }
        if retention.batch < 1 || retention.interval.is_zero() {
            return Err(invalid(
                "retention",
                "batch and interval must be above zero",
            ));
        }
        let implicit_target = raw.targets.is_empty();
        let mut targets = BTreeMap::new();
        for (name, target) in raw.targets {
            let target = build_target(&name, target)?;
            targets.insert(name, target);
        }
        if implicit_target {
            targets.insert("default".into(), Target::implicit_shadow());
        }
        if let Some(slow) = targets
            .values()
            .find(|t| !t.shadow && t.timeout >= worker.lease)
        {
            // A call that outlives its lease lets a second worker start the same job.
            return Err(invalid(
                format!("targets.{}.timeout", slow.name),
                "must be shorter than worker.lease",
            ));
        }
        Ok(Settings {
            server: raw.server,
            database: raw.database,
            intake: raw.intake,
            log: raw.log,
            admin,
            worker,
            retention,
            sources,
            targets,
            implicit_target,
        })
    }

    /// The settings every test and the embedded default start from: defaults, no file.
    pub fn defaults() -> Settings {
        Self::load_with_env(None, std::iter::empty()).expect("the built-in defaults are valid")
    }
}

fn build_target(name: &str, raw: RawTarget) -> Result<Target, ConfigError> {
    let key = format!("targets.{name}");
    if !valid_name(name) {
        return Err(invalid(
            &key,
            "a target name may use only letters, digits, '-' and '_' (at most 64)",
        ));
    }
    let credential = match (&raw.api_key, &raw.token) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                &key,
                "give api_key or token, not both (a service-account API key is the one to use)",
            ))
        }
        (Some(key_ref), None) => Some(Credential::ApiKey(
            key_ref.resolve(&format!("{key}.api_key"))?,
        )),
        (None, Some(token)) => Some(Credential::Token(token.resolve(&format!("{key}.token"))?)),
        (None, None) => None,
    };
    if !raw.shadow {
        let Some(url) = &raw.url else {
            return Err(invalid(
                format!("{key}.url"),
                "give the ZenML workspace URL (or set shadow = true)",
            ));
        };
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(invalid(
                format!("{key}.url"),
                format!("{url:?} is not an http(s) URL"),
            ));
        }
        if credential.is_none() {
            return Err(invalid(
                format!("{key}.api_key"),
                "give a service-account API key (api_key) or a token",
            ));
        }
    }
    let rate_limit = match &raw.rate_limit {
        None => None,
        Some(text) => Some(parse_rate(text).ok_or_else(|| {
            invalid(
                format!("{key}.rate_limit"),
                format!(
                    "{text:?} is not a rate: write calls per second, minute or hour, like \"10/s\""
                ),
            )
        })?),
    };
    Ok(Target {
        rate_limit,
        name: name.to_owned(),
        url: raw.url.map(|u| u.trim_end_matches('/').to_owned()),
        credential,
        project: raw.project,
        timeout: raw.timeout,
        ca_file: raw.ca_file,
        proxy: raw.proxy,
        shadow: raw.shadow,
    })
}

/// Source names become URL path segments and metric labels: keep them plain.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn build_source(name: &str, raw: RawSource) -> Result<Source, ConfigError> {
    let key = format!("sources.{name}");
    if !valid_name(name) {
        return Err(invalid(
            &key,
            "a source name may use only letters, digits, '-' and '_' (at most 64)",
        ));
    }
    if raw.secrets.is_empty() {
        return Err(invalid(
            format!("{key}.secrets"),
            "list at least one secret (several during a rotation)",
        ));
    }
    let secrets = raw
        .secrets
        .iter()
        .enumerate()
        .map(|(i, s)| s.resolve(&format!("{key}.secrets[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;

    let hmac_only = [
        ("algorithm", raw.algorithm.is_some()),
        ("encoding", raw.encoding.is_some()),
        ("timestamp_header", raw.timestamp_header.is_some()),
        ("signed_payload", raw.signed_payload.is_some()),
    ];
    let configurable = matches!(raw.kind, SenderKind::Hmac | SenderKind::Token);
    if raw.kind != SenderKind::Hmac {
        if let Some((field, _)) = hmac_only.iter().find(|(_, set)| *set) {
            return Err(invalid(
                format!("{key}.{field}"),
                format!("only sources of kind hmac take {field}"),
            ));
        }
    }
    if !configurable && (raw.header.is_some() || raw.prefix.is_some()) {
        return Err(invalid(
            format!("{key}.header"),
            "only sources of kind hmac or token take header and prefix",
        ));
    }
    let locators_allowed = configurable || raw.kind == SenderKind::Standard;
    if !locators_allowed && (raw.event.is_some() || raw.delivery_id.is_some()) {
        return Err(invalid(
            format!("{key}.event"),
            format!(
                "{} sources name their event and delivery id in their own headers; \
                 event and delivery_id are for standard, hmac and token sources",
                raw.kind
            ),
        ));
    }
    if raw.allow_sha1 && raw.kind != SenderKind::Github {
        return Err(invalid(
            format!("{key}.allow_sha1"),
            "only github sources take allow_sha1",
        ));
    }

    let tolerance = raw.tolerance.unwrap_or(Duration::from_secs(300));
    let scheme = match raw.kind {
        SenderKind::Github => Scheme::Github {
            allow_sha1: raw.allow_sha1,
        },
        SenderKind::Gitlab => Scheme::Gitlab,
        SenderKind::Bitbucket => Scheme::Bitbucket,
        SenderKind::Gitea => Scheme::Gitea,
        SenderKind::Forgejo => Scheme::Forgejo,
        SenderKind::Standard => Scheme::Standard { tolerance },
        SenderKind::Hmac => {
            let defaults = HmacScheme::default();
            Scheme::Hmac(HmacScheme {
                signature_header: raw.header.unwrap_or(defaults.signature_header),
                algorithm: raw.algorithm.unwrap_or(defaults.algorithm),
                encoding: raw.encoding.unwrap_or(defaults.encoding),
                prefix: raw.prefix.unwrap_or(defaults.prefix),
                timestamp_header: raw.timestamp_header,
                signed_payload: raw.signed_payload.unwrap_or(defaults.signed_payload),
                tolerance,
            })
        }
        SenderKind::Token => {
            let defaults = TokenScheme::default();
            Scheme::Token(TokenScheme {
                header: raw.header.unwrap_or(defaults.header),
                prefix: raw.prefix.unwrap_or(defaults.prefix),
            })
        }
    };
    let verifier = Verifier::new(scheme, secrets)
        .map_err(|e: verify::SchemeError| invalid(&key, e.to_string()))?;
    Ok(Source {
        name: name.to_owned(),
        kind: raw.kind,
        verifier,
        envelope: EnvelopeSpec {
            event: raw.event,
            delivery_id: raw.delivery_id,
        },
        dedupe_window: raw.dedupe_window,
    })
}
