//! The plain-words summary printed at start-up: what is configured and what is missing.
//! A golden test keeps its wording.

use std::fmt::Write;

use crate::config::Settings;

/// What the service found when it started, beyond the configuration file.
pub struct Found {
    pub listen: std::net::SocketAddr,
    pub durability: String,
    pub rules: usize,
    pub enabled_rules: usize,
}

pub fn summary(settings: &Settings, found: &Found) -> String {
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
    if settings.sources.is_empty() {
        let _ = writeln!(
            out,
            "  Sources: none configured, so every webhook is answered 404. \
             Add a [sources.<name>] table with a kind and secrets to receive one."
        );
    } else {
        let _ = writeln!(out, "  Sources ({}):", settings.sources.len());
        for source in settings.sources.values() {
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
