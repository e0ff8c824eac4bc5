//! The plain-words summary printed at start-up: what is configured and what is missing.
//! A golden test keeps its wording.

use std::fmt::Write;

use crate::config::{Credential, Settings};
use crate::live::LiveConfig;

/// What the service found when it started, beyond the configuration file.
pub struct Found {
    pub listen: std::net::SocketAddr,
    pub durability: String,
    pub rules: usize,
    pub enabled_rules: usize,
}

pub fn summary(settings: &Settings, live: &LiveConfig, found: &Found) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "zenhook {} is running.", env!("CARGO_PKG_VERSION"));
    let _ = writeln!(
        out,
        "  Webhooks: POST http://{}/hooks/<source>",
        found.listen
    );
    let _ = writeln!(
        out,
        "  Database: {} ({})",
        redact_url(&settings.database.url),
        found.durability
    );
    if live.sources.is_empty() {
        let _ = writeln!(
            out,
            "  Sources: none configured, so every webhook is answered 404. \
             Add a [sources.<name>] table with a kind and secrets to receive one."
        );
    } else {
        let _ = writeln!(out, "  Sources ({}):", live.sources.len());
        for source in live.sources.values() {
            let secrets = source.verifier.secret_count();
            let _ = writeln!(
                out,
                "    - {}: {} webhooks at /hooks/{}, {} secret{}{}",
                source.name,
                source.kind,
                source.name,
                secrets,
                if secrets == 1 { "" } else { "s" },
                if source.verifier.resists_replay() {
                    ", timestamps checked"
                } else {
                    ""
                }
            );
        }
    }
    if settings.implicit_target {
        let _ = writeln!(
            out,
            "  Targets: none configured, so jobs go to a shadow target named default that \
             records the request it would send. Add a [targets.<name>] table with url and \
             api_key to trigger ZenML runs."
        );
    } else {
        let _ = writeln!(out, "  Targets ({}):", settings.targets.len());
        for target in settings.targets.values() {
            let how = match (&target.url, target.shadow, &target.credential) {
                (_, true, _) => {
                    "shadow: no calls, jobs record the request they would send".to_string()
                }
                (Some(url), false, Some(Credential::ApiKey(_))) => {
                    format!("{url}, service-account API key")
                }
                (Some(url), false, Some(Credential::Token(_))) => format!(
                    "{url}, a bearer token used as is: it expires; use a service-account API key"
                ),
                (url, _, _) => url.clone().unwrap_or_default(),
            };
            let _ = writeln!(out, "    - {}: {how}", target.name);
        }
    }
    if found.rules == 0 {
        let _ = writeln!(
            out,
            "  Rules: none yet, so deliveries are stored but trigger nothing. \
             Add rules with `zenhook rules apply FILE`."
        );
    } else {
        let _ = writeln!(
            out,
            "  Rules: {} ({} enabled).",
            found.rules, found.enabled_rules
        );
    }
    out
}

/// A database URL without its password, for logs and the summary.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}
