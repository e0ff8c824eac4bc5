//! Where the CLI finds the admin API: flags and environment first, the service's own
//! configuration for whatever they leave out.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use anyhow::Context;
use secrecy::ExposeSecret;

use super::AdminArgs;
use crate::config::Settings;

/// The admin API to talk to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub url: String,
    pub token: Option<String>,
}

/// Resolves `--url` and `--token` (or ZENHOOK_URL / ZENHOOK_TOKEN), reading the
/// configuration only for what they leave unset.
pub fn resolve_connection(args: &AdminArgs) -> anyhow::Result<Connection> {
    let url = args.url.clone().filter(|u| !u.trim().is_empty());
    let token = args.token.clone().filter(|t| !t.trim().is_empty());
    if let (Some(url), Some(token)) = (&url, &token) {
        return Ok(Connection {
            url: url.clone(),
            token: Some(token.clone()),
        });
    }
    let settings = Settings::load(args.config.as_deref()).context(
        "cannot read the configuration for the admin URL and token (or give --url and --token)",
    )?;
    Ok(Connection {
        url: url
            .unwrap_or_else(|| base_url(settings.admin.listen.unwrap_or(settings.server.listen))),
        token: token.or_else(|| {
            settings
                .admin
                .tokens
                .iter()
                .find_map(|t| t.secret.as_ref())
                .map(|t| t.expose_secret().to_owned())
        }),
    })
}

/// The URL that reaches a listen address from this machine: a wildcard address
/// (0.0.0.0, ::) is reached on the loopback.
pub fn base_url(listen: SocketAddr) -> String {
    let host = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(host, listen.port()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_listen_addresses_are_reached_on_the_loopback() {
        assert_eq!(
            base_url("0.0.0.0:8080".parse().unwrap()),
            "http://127.0.0.1:8080"
        );
        assert_eq!(base_url("[::]:9000".parse().unwrap()), "http://[::1]:9000");
        assert_eq!(
            base_url("10.0.0.5:8081".parse().unwrap()),
            "http://10.0.0.5:8081"
        );
    }

    #[test]
    fn flags_win_without_reading_any_configuration() {
        let args = AdminArgs {
            url: Some("http://zenhook:8080".into()),
            token: Some("t".into()),
            config: Some("/does/not/exist.toml".into()),
        };
        let connection = resolve_connection(&args).expect("no file read");
        assert_eq!(connection.url, "http://zenhook:8080");
        assert_eq!(connection.token.as_deref(), Some("t"));
    }

    #[test]
    fn the_configuration_fills_in_url_and_token() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("zenhook.toml");
        std::fs::write(
            &path,
            "[server]\nlisten = \"0.0.0.0:7000\"\n[admin]\nlisten = \"127.0.0.1:7001\"\ntokens = [\"first\", \"second\"]\n",
        )
        .unwrap();
        let args = AdminArgs {
            url: None,
            token: None,
            config: Some(path),
        };
        let connection = resolve_connection(&args).expect("valid config");
        assert_eq!(connection.url, "http://127.0.0.1:7001");
        assert_eq!(connection.token.as_deref(), Some("first"));
    }
}
