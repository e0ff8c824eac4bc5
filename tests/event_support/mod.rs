//! Loads webhook fixtures (body + documented headers) and runs them through the event module.

#![allow(dead_code)] // each test crate uses a different part

use std::path::PathBuf;

use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use zenhook::event::*;

/// Where a fixture lives.
#[derive(Debug, Clone, Copy)]
pub enum Root {
    /// The project's shared fixtures, `../shared/fixtures/webhooks/`.
    Shared,
    /// This module's own, `tests/fixtures/webhooks/`.
    Own,
}

pub fn fixture_path(root: Root, relative: &str) -> PathBuf {
    let base = match root {
        Root::Shared => concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures/webhooks/"),
        Root::Own => concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/webhooks/"),
    };
    PathBuf::from(base).join(relative)
}

fn read(root: Root, relative: &str) -> Vec<u8> {
    let path = fixture_path(root, relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The `headers` object of `<host>/headers/<name>.json`, as a HeaderMap.
pub fn fixture_headers(root: Root, host: &str, name: &str) -> HeaderMap {
    let file: Value = serde_json::from_slice(&read(root, &format!("{host}/headers/{name}.json")))
        .expect("headers file is JSON");
    let mut headers = HeaderMap::new();
    for (key, value) in file["headers"].as_object().expect("a headers object") {
        headers.append(
            HeaderName::from_bytes(key.as_bytes()).expect("header name"),
            HeaderValue::from_str(value.as_str().expect("string header value"))
                .expect("header value"),
        );
    }
    headers
}

/// The parsed body of `<host>/<name>.json`.
pub fn fixture_payload(root: Root, host: &str, name: &str) -> Value {
    parse_body(
        Some("application/json"),
        &read(root, &format!("{host}/{name}.json")),
    )
    .expect("fixture body is a JSON object")
}

pub struct Delivery {
    pub headers: HeaderMap,
    pub payload: Value,
    pub envelope: Envelope,
    pub event: Event,
}

/// A fixture delivered as the intake would: parse, envelope, normalise.
pub fn deliver(kind: SenderKind, root: Root, host: &str, name: &str) -> Delivery {
    let headers = fixture_headers(root, host, name);
    let payload = fixture_payload(root, host, name);
    let envelope = envelope(kind, &EnvelopeSpec::default(), &headers, &payload);
    let event = normalise(kind, &envelope, &headers, &payload);
    Delivery {
        headers,
        payload,
        envelope,
        event,
    }
}

/// Every `<host>/<name>.json` that has a `<host>/headers/<name>.json`, as (root, host, name).
pub fn all_fixtures() -> Vec<(Root, String, String)> {
    let mut found = fixtures_under(Root::Shared);
    found.extend(fixtures_under(Root::Own));
    found
}

fn fixtures_under(root: Root) -> Vec<(Root, String, String)> {
    let mut found = Vec::new();
    let base = fixture_path(root, "");
    let Ok(hosts) = std::fs::read_dir(&base) else {
        return found;
    };
    for host in hosts.flatten().filter(|e| e.path().is_dir()) {
        let host_name = host.file_name().to_string_lossy().into_owned();
        let Ok(headers) = std::fs::read_dir(host.path().join("headers")) else {
            continue;
        };
        for file in headers.flatten() {
            let file_name = file.file_name().to_string_lossy().into_owned();
            if let Some(name) = file_name.strip_suffix(".json") {
                found.push((root, host_name.clone(), name.to_owned()));
            }
        }
    }
    found.sort_by(|a, b| (&a.1, &a.2).cmp(&(&b.1, &b.2)));
    found
}

/// The sender kind a fixture folder holds.
pub fn sender_of(host: &str) -> SenderKind {
    match host {
        "github" => SenderKind::Github,
        "gitlab" => SenderKind::Gitlab,
        "bitbucket" | "bitbucket-dc" => SenderKind::Bitbucket,
        "gitea" => SenderKind::Gitea,
        "forgejo" => SenderKind::Forgejo,
        other => panic!("unknown fixture folder {other}"),
    }
}

pub fn s(value: &str) -> Option<String> {
    Some(value.to_owned())
}

pub fn paths(added: &[&str], modified: &[&str], removed: &[&str], complete: bool) -> ChangedPaths {
    let own = |list: &[&str]| list.iter().map(|p| p.to_string()).collect();
    ChangedPaths {
        added: own(added),
        modified: own(modified),
        removed: own(removed),
        complete,
    }
}
