//! The configuration layering, the secret forms, the packaging files and the start-up
//! summary's wording.

use std::path::Path;

use clap::Parser;
use zenhook::cli::{Cli, Command};
use zenhook::config::Settings;

fn load(toml: &str, env: &[(&str, &str)]) -> Result<Settings, String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zenhook.toml");
    std::fs::write(&path, toml).unwrap();
    let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    Settings::load_with_env(Some(&path), env).map_err(|e| e.to_string())
}

#[test]
fn defaults_need_no_file() {
    let settings = Settings::defaults();
    assert_eq!(settings.server.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(settings.server.max_body_bytes, 26_214_400);
    assert_eq!(settings.database.url, "sqlite://zenhook.db");
    assert!(settings.sources.is_empty());
}

#[test]
fn file_then_environment() {
    let settings = load(
        "[server]\nlisten = \"127.0.0.1:9000\"\n[database]\nurl = \"sqlite://from-file.db\"\n",
        &[("ZENHOOK__DATABASE__URL", "sqlite://from-env.db")],
    )
    .unwrap();
    assert_eq!(settings.server.listen.to_string(), "127.0.0.1:9000");
    assert_eq!(settings.database.url, "sqlite://from-env.db");
}

#[test]
fn unknown_keys_are_errors() {
    let error = load("[server]\nlisen = \"127.0.0.1:9000\"\n", &[]).unwrap_err();
    assert!(error.contains("lisen"), "{error}");
    let error = load("[srever]\nlisten = \"x\"\n", &[]).unwrap_err();
    assert!(error.contains("srever"), "{error}");
    let error = load(
        "[sources.gh]\nkind = \"github\"\nsecrets = [\"s\"]\nsecret = \"typo\"\n",
        &[],
    )
    .unwrap_err();
    assert!(error.contains("secret"), "{error}");
}

#[test]
fn secrets_literal_env_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secret");
    std::fs::write(&file, "from-a-file\n").unwrap();
    std::env::set_var("ZENHOOK_TEST_SECRET_FORMS", "from-env");
    let toml = format!(
        "[sources.gh]\nkind = \"github\"\nsecrets = [\"literal\", {{ env = \"ZENHOOK_TEST_SECRET_FORMS\" }}, {{ file = \"{}\" }}]\n",
        file.display()
    );
    let settings = load(&toml, &[]).unwrap();
    let source = &settings.sources["gh"];
    assert_eq!(source.verifier.secret_count(), 3);
    // Secrets never reach Debug output.
    let debug = format!("{:?}", settings.sources);
    for secret in ["literal", "from-env", "from-a-file"] {
        assert!(!debug.contains(secret), "{secret} leaked into {debug}");
    }
}

#[test]
fn secret_errors_name_the_key_not_the_value() {
    let error = load(
        "[sources.gh]\nkind = \"github\"\nsecrets = [{ env = \"ZENHOOK_TEST_SURELY_UNSET\" }]\n",
        &[],
    )
    .unwrap_err();
    assert!(error.contains("sources.gh.secrets[0]"), "{error}");
    assert!(error.contains("ZENHOOK_TEST_SURELY_UNSET"), "{error}");
    let error = load("[sources.gh]\nkind = \"github\"\nsecrets = []\n", &[]).unwrap_err();
    assert!(error.contains("sources.gh.secrets"), "{error}");
    let error = load(
        "[sources.gh]\nkind = \"github\"\nsecrets = [{ file = \"/nonexistent/zenhook\" }]\n",
        &[],
    )
    .unwrap_err();
    assert!(error.contains("/nonexistent/zenhook"), "{error}");
}

#[test]
fn source_settings_that_do_not_fit_the_kind() {
    let cases = [
        (
            "kind = \"github\"\nsecrets = [\"s\"]\nalgorithm = \"sha1\"",
            "algorithm",
        ),
        (
            "kind = \"gitlab\"\nsecrets = [\"s\"]\nallow_sha1 = true",
            "allow_sha1",
        ),
        (
            "kind = \"github\"\nsecrets = [\"s\"]\nevent = { header = \"X\" }",
            "event",
        ),
        (
            "kind = \"standard\"\nsecrets = [\"not-a-whsec-key\"]",
            "whsec_",
        ),
        ("kind = \"nonsense\"\nsecrets = [\"s\"]", "nonsense"),
    ];
    for (body, expected) in cases {
        let error = load(&format!("[sources.x]\n{body}\n"), &[]).unwrap_err();
        assert!(error.contains(expected), "{body}: {error}");
    }
    let error = load(
        "[sources.\"bad name\"]\nkind = \"github\"\nsecrets = [\"s\"]\n",
        &[],
    )
    .unwrap_err();
    assert!(error.contains("letters, digits"), "{error}");
}

#[test]
fn every_compose_variable_is_a_configuration_key() {
    let compose =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docker-compose.yml"))
            .unwrap();
    let compose: serde_yaml::Value = serde_yaml::from_str(&compose).unwrap();
    let env = compose["services"]["zenhook"]["environment"]
        .as_mapping()
        .expect("zenhook has an environment");
    assert!(!env.is_empty());
    let vars: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().unwrap().to_owned(),
                v.as_str().expect("values are strings").to_owned(),
            )
        })
        .collect();
    for (key, _) in &vars {
        assert!(key.starts_with("ZENHOOK__"), "{key} is not a zenhook key");
    }
    // Loading with these variables succeeds (unknown keys would fail) and applies them.
    let settings = Settings::load_with_env(None, vars.clone()).expect("compose variables load");
    assert_eq!(settings.server.listen.to_string(), "0.0.0.0:8080");
    assert!(settings.database.url.starts_with("postgres://"));
    // And one misspelt variable would have been caught.
    let mut wrong = vars;
    wrong.push(("ZENHOOK__SERVER__LISTN".into(), "x".into()));
    assert!(Settings::load_with_env(None, wrong).is_err());
}

#[test]
fn dockerfile_command_parses() {
    let dockerfile =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Dockerfile")).unwrap();
    let cmd = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("CMD "))
        .expect("a CMD line");
    let argv: Vec<String> = serde_json::from_str(cmd).expect("exec-form CMD");
    let cli = Cli::try_parse_from(&argv).expect("the CLI accepts the Dockerfile's command");
    assert!(matches!(
        cli.command,
        Command::Serve {
            config: Some(_),
            ..
        }
    ));
}

/// The summary as `serve` prints it: sources are read from the reloadable part.
fn summary_of(mut settings: Settings, found: &zenhook::startup::Found) -> String {
    let live = zenhook::live::LiveConfig::build(&mut settings).expect("targets build");
    zenhook::startup::summary(&settings, &live, found)
}

#[test]
fn startup_summary_wording() {
    use zenhook::startup::Found;
    let found = Found {
        listen: "127.0.0.1:8080".parse().unwrap(),
        durability: "sqlite journal_mode=wal synchronous=FULL".into(),
        rules: 0,
        enabled_rules: 0,
    };
    assert_eq!(
        summary_of(Settings::defaults(), &found),
        "zenhook 0.1.0 is running.
  Webhooks: POST http://127.0.0.1:8080/hooks/<source>
  Database: sqlite://zenhook.db (sqlite journal_mode=wal synchronous=FULL)
  Sources: none configured, so every webhook is answered 404. Add a [sources.<name>] table with a kind and secrets to receive one.
  Targets: none configured, so jobs go to a shadow target named default that records the request it would send. Add a [targets.<name>] table with url and api_key to trigger ZenML runs.
  Rules: none yet, so deliveries are stored but trigger nothing. Add rules with `zenhook rules apply FILE`.
"
    );
    let settings = load(
        "[database]\nurl = \"postgres://zenhook:hunter2@db/zenhook\"\n\
         [sources.gh]\nkind = \"github\"\nsecrets = [\"a\", \"b\"]\n\
         [sources.sched]\nkind = \"standard\"\nsecrets = [\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"]\n\
         [targets.prod]\nurl = \"https://zenml.example.com/\"\napi_key = \"ZENKEY_x\"\n\
         [targets.try]\nshadow = true\n",
        &[],
    )
    .unwrap();
    let found = Found {
        rules: 3,
        enabled_rules: 2,
        durability: "postgres synchronous_commit=on fsync=on".into(),
        ..found
    };
    assert_eq!(
        summary_of(settings, &found),
        "zenhook 0.1.0 is running.
  Webhooks: POST http://127.0.0.1:8080/hooks/<source>
  Database: postgres://zenhook:***@db/zenhook (postgres synchronous_commit=on fsync=on)
  Sources (2):
    - gh: github webhooks at /hooks/gh, 2 secrets
    - sched: standard webhooks at /hooks/sched, 1 secret, timestamps checked
  Targets (2):
    - prod: https://zenml.example.com, service-account API key
    - try: shadow: no calls, jobs record the request they would send
  Rules: 3 (2 enabled).
"
    );
}

#[test]
fn admin_tokens_bare_named_and_hashed() {
    use zenhook::config::Scope;
    let hash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"; // sha256("test")
    let settings = load(
        &format!(
            "[admin]\ntokens = [\"bare-secret\", {{ name = \"ci\", token = \"ci-secret\", scope = \"read\" }}, \
             {{ name = \"ops\", sha256 = \"{hash}\", scope = \"admin\" }}]\n"
        ),
        &[],
    )
    .unwrap();
    let tokens = &settings.admin.tokens;
    assert_eq!(tokens.len(), 3);
    assert_eq!(
        (tokens[0].name.as_str(), tokens[0].scope),
        ("token-1", Scope::Admin)
    );
    assert_eq!(
        (tokens[1].name.as_str(), tokens[1].scope),
        ("ci", Scope::Read)
    );
    assert_eq!(hex::encode(tokens[2].digest), hash);
    assert!(
        tokens[2].secret.is_none(),
        "a hashed token's value is not known"
    );
    let debug = format!("{:?}", settings.admin);
    assert!(
        !debug.contains("bare-secret") && !debug.contains("ci-secret"),
        "{debug}"
    );

    for (entry, expected) in [
        (
            "{ name = \"x\", sha256 = \"abc\", scope = \"read\" }",
            "64 hex digits",
        ),
        (
            "{ name = \"x\", scope = \"read\" }",
            "exactly one of token and sha256",
        ),
        ("{ name = \"x\", token = \"t\", scope = \"root\" }", "root"),
    ] {
        let error = load(&format!("[admin]\ntokens = [{entry}]\n"), &[]).unwrap_err();
        assert!(
            error.contains(expected) || error.contains("admin"),
            "{entry}: {error}"
        );
    }
}

#[test]
fn retention_and_rate_limits_are_checked() {
    let error = load("[retention]\ndeliveries = \"7d\"\n", &[]).unwrap_err();
    assert!(error.contains("at least 30d"), "{error}");
    let error = load(
        "[targets.t]\nurl = \"http://z\"\napi_key = \"k\"\nrate_limit = \"fast\"\n",
        &[],
    )
    .unwrap_err();
    assert!(error.contains("targets.t.rate_limit"), "{error}");
    let settings = load(
        "[targets.t]\nurl = \"http://z\"\napi_key = \"k\"\nrate_limit = \"10/s\"\n",
        &[],
    )
    .unwrap();
    assert_eq!(
        settings.targets["t"].rate_limit,
        Some((10, std::time::Duration::from_secs(1)))
    );
    let error = load(
        "[targets.t]\nurl = \"http://z\"\napi_key = \"k\"\ntimeout = \"90s\"\n",
        &[],
    )
    .unwrap_err();
    assert!(error.contains("shorter than worker.lease"), "{error}");
}
