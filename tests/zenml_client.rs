//! The ZenML client against a mock that answers like ZenML 0.98.0 (bodies from
//! `shared/zenml/samples`, errors from `shared/zenml/API.md`), plus one test against a
//! real server when `ZENHOOK_ZENML_ENV` names the env file of `zenml_server.sh start`.

mod zenml_support;

use std::time::Duration;

use secrecy::SecretString;
use serde_json::json;
use uuid::Uuid;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};
use zenhook::config::{Credential, Target};
use zenhook::zenml::{
    ErrorBody, RunRef, TemplateOrSnapshot, TriggerError, TriggerRequest, ZenmlClient,
    IDEMPOTENCY_KEY, LOGIN_BACKOFF,
};
use zenml_support::*;

fn client(target: &Target) -> ZenmlClient {
    ZenmlClient::new(target).expect("a valid target")
}

fn sample_run_ref() -> RunRef {
    RunRef {
        id: RUN_ID.into(),
        name: RUN_NAME.into(),
    }
}

fn fatal_parts(error: TriggerError) -> (Option<u16>, String, String) {
    match error {
        TriggerError::Fatal {
            status,
            zenml,
            hint,
        } => (status, zenml, hint),
        other => panic!("expected Fatal, got {other:?}"),
    }
}

// ---------------------------------------------------------------- login and trigger

#[tokio::test]
async fn login_then_trigger_template_sends_the_run_config_as_is() {
    let server = MockServer::start().await;
    mount_login(&server, &sample_token(), None, 1).await;
    let req = template_request("zenhook-job-1");
    Mock::given(method("POST"))
        .and(path(template_runs_path()))
        .and(header(
            "authorization",
            format!("Bearer {}", sample_token()),
        ))
        .and(header(IDEMPOTENCY_KEY, req.idempotency_key.to_string()))
        .and(header("content-type", "application/json"))
        .and(body_json(run_config("zenhook-job-1")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(sample("run-template-runs-200.json"), "application/json"),
        )
        .expect(1)
        .mount(&server)
        .await;

    let run = client(&target(&server.uri()))
        .trigger(&req)
        .await
        .expect("a run");
    assert_eq!(run, sample_run_ref());
}

#[tokio::test]
async fn snapshot_trigger_wraps_the_run_config() {
    let server = MockServer::start().await;
    mount_login(&server, &sample_token(), None, 1).await;
    let req = TriggerRequest {
        kind: TemplateOrSnapshot::Snapshot,
        id: SNAPSHOT_ID.parse().expect("a uuid"),
        ..template_request("zenhook-job-2")
    };
    Mock::given(method("POST"))
        .and(path(format!(
            "/api/v1/pipeline_snapshots/{SNAPSHOT_ID}/runs"
        )))
        .and(header(IDEMPOTENCY_KEY, req.idempotency_key.to_string()))
        .and(body_json(
            json!({"run_configuration": run_config("zenhook-job-2")}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(run_body("initializing", &[])))
        .expect(1)
        .mount(&server)
        .await;

    let run = client(&target(&server.uri()))
        .trigger(&req)
        .await
        .expect("a run");
    assert_eq!(run, sample_run_ref());
}

#[tokio::test]
async fn describe_trigger_is_what_trigger_sends_without_credentials() {
    let server = MockServer::start().await;
    mount_login(&server, &sample_token(), None, 1).await;
    mount_trigger(
        &server,
        ResponseTemplate::new(200).set_body_json(run_body("initializing", &[])),
    )
    .await;
    let zenml = client(&target(&server.uri()));
    let req = template_request("zenhook-job-3");

    let described = zenml.describe_trigger(&req);
    zenml.trigger(&req).await.expect("a run");

    let received = server.received_requests().await.expect("recording");
    let sent = received
        .iter()
        .find(|r| r.url.path() == template_runs_path())
        .expect("the trigger");
    assert_eq!(described["method"], "POST");
    // wiremock records the URL with its own host name: compare the path.
    assert_eq!(
        described["url"],
        format!("{}{}", server.uri(), sent.url.path())
    );
    assert_eq!(
        described["headers"][IDEMPOTENCY_KEY],
        sent.headers[IDEMPOTENCY_KEY].to_str().expect("ascii")
    );
    let sent_body: serde_json::Value = serde_json::from_slice(&sent.body).expect("json");
    assert_eq!(described["body"], sent_body);
    let text = described.to_string();
    assert!(
        !text.to_ascii_lowercase().contains("authorization"),
        "{text}"
    );
    assert!(
        !text.contains(&sample_token()) && !text.contains(API_KEY),
        "{text}"
    );
}

#[tokio::test]
async fn shadow_target_describes_but_never_sends() {
    let shadow = Target {
        url: None,
        credential: None,
        shadow: true,
        ..target("http://unused")
    };
    let zenml = client(&shadow);
    let req = template_request("zenhook-job-4");
    let described = zenml.describe_trigger(&req);
    assert_eq!(described["url"], template_runs_path());
    assert_eq!(described["body"], run_config("zenhook-job-4"));

    let (status, _, hint) = fatal_parts(zenml.trigger(&req).await.expect_err("shadow"));
    assert_eq!(status, None);
    assert!(hint.contains("shadow"), "{hint}");

    let with_base = ZenmlClient::describe_trigger_at(Some("https://zenml.example/ws/"), &req);
    assert_eq!(
        with_base["url"],
        format!("https://zenml.example/ws/api/v1/run_templates/{TEMPLATE_ID}/runs")
    );
}

// ---------------------------------------------------------------- the token

#[tokio::test]
async fn token_is_cached_across_calls() {
    let server = MockServer::start().await;
    mount_login(&server, &sample_token(), None, 1).await;
    mount_trigger(
        &server,
        ResponseTemplate::new(200).set_body_json(run_body("initializing", &[])),
    )
    .await;
    let zenml = client(&target(&server.uri()));
    for n in 0..3 {
        zenml
            .trigger(&template_request(&format!("zenhook-job-{n}")))
            .await
            .expect("a run");
    }
    // A clone shares the token too.
    zenml
        .clone()
        .trigger(&template_request("zenhook-job-9"))
        .await
        .expect("a run");
    server.verify().await;
}

#[tokio::test]
async fn concurrent_callers_share_one_login() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/login"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(login_body(&sample_token(), None))
                .set_delay(Duration::from_millis(300)),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/runs"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(vec![])))
        .expect(4)
        .mount(&server)
        .await;
    let zenml = client(&target(&server.uri()));
    let calls: Vec<_> = (0..4)
        .map(|n| {
            let zenml = zenml.clone();
            tokio::spawn(async move { zenml.find_run_by_tag(&format!("tag-{n}")).await })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.expect("joined").expect("a page"), None);
    }
    server.verify().await;
}

#[tokio::test]
async fn token_with_expires_in_is_renewed_before_it_expires() {
    let server = MockServer::start().await;
    mount_login(&server, &sample_token(), Some(1), 2).await;
    mount_trigger(
        &server,
        ResponseTemplate::new(200).set_body_json(run_body("initializing", &[])),
    )
    .await;
    let zenml = client(&target(&server.uri()));

    zenml.trigger(&template_request("a")).await.expect("a run");
    zenml.trigger(&template_request("b")).await.expect("a run");
    // 1 s lifetime: renewed once less than 10 % of it is left.
    tokio::time::sleep(Duration::from_millis(950)).await;
    zenml.trigger(&template_request("c")).await.expect("a run");
    server.verify().await;
}

#[tokio::test]
async fn a_401_logs_in_again_once_and_resends_with_the_same_idempotency_key() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/login"))
        .respond_with(ResponseTemplate::new(200).set_body_json(login_body("stale-token", None)))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    mount_login(&server, &sample_token(), None, 1).await;
    Mock::given(method("POST"))
        .and(path(template_runs_path()))
        .and(header("authorization", "Bearer stale-token"))
        .respond_with(zenml_error(
            401,
            json!({"detail": ["CredentialsNotValid", "Authentication error: error decoding access token: Invalid JWT token: Signature has expired."]}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    mount_trigger(
        &server,
        ResponseTemplate::new(200).set_body_json(run_body("initializing", &[])),
    )
    .await;

    let req = template_request("zenhook-job-5");
    let run = client(&target(&server.uri()))
        .trigger(&req)
        .await
        .expect("a run");
    assert_eq!(run, sample_run_ref());

    let received = server.received_requests().await.expect("recording");
    let keys: Vec<_> = received
        .iter()
        .filter(|r| r.url.path() == template_runs_path())
        .map(|r| {
            r.headers[IDEMPOTENCY_KEY]
                .to_str()
                .expect("ascii")
                .to_owned()
        })
        .collect();
    assert_eq!(keys, vec![req.idempotency_key.to_string(); 2]);
    server.verify().await;
}

#[tokio::test]
async fn a_401_after_a_fresh_login_is_fatal_with_the_key_hint() {
    let server = MockServer::start().await;
    mount_login(&server, &sample_token(), None, 2).await;
    mount_trigger(
        &server,
        zenml_error(
            401,
            json!({"detail": ["CredentialsNotValid", "Authentication error: API key rot associated with service account webhook-bridge is not active"]}),
        ),
    )
    .await;

    let error = client(&target(&server.uri()))
        .trigger(&template_request("x"))
        .await
        .expect_err("401");
    let summary = error.summary();
    let (status, zenml, hint) = fatal_parts(error);
    assert_eq!(status, Some(401));
    assert!(zenml.starts_with("CredentialsNotValid: "), "{zenml}");
    assert_eq!(
        hint,
        "the API key was rotated or deactivated: create a new key for the service account and update `targets.prod.api_key`"
    );
    assert!(
        summary.contains("HTTP 401") && summary.contains(&hint),
        "{summary}"
    );
    server.verify().await;
}

#[tokio::test]
async fn a_refused_key_at_login_is_fatal_and_not_retried_at_once() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/login"))
        .respond_with(zenml_error(
            401,
            json!({"detail": ["CredentialsNotValid", "Authentication error: could not verify key value for API key second"]}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let zenml = client(&target(&server.uri()));
    for _ in 0..2 {
        let (status, _, hint) = fatal_parts(
            zenml
                .trigger(&template_request("x"))
                .await
                .expect_err("401"),
        );
        assert_eq!(status, Some(401));
        assert!(hint.contains("targets.prod.api_key"), "{hint}");
    }
    server.verify().await;
}

#[tokio::test]
async fn a_token_credential_is_used_as_is_and_a_401_is_fatal() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/login"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(template_runs_path()))
        .and(header("authorization", "Bearer static-token"))
        .respond_with(zenml_error(401, json!({"detail": "Not authenticated"})))
        .expect(1)
        .mount(&server)
        .await;
    let error = client(&token_target(&server.uri(), "static-token"))
        .trigger(&template_request("x"))
        .await
        .expect_err("401");
    let (status, _, hint) = fatal_parts(error);
    assert_eq!(status, Some(401));
    assert_eq!(
        hint,
        "the token was rejected or expired: use a service-account API key (targets.prod.api_key)"
    );
    server.verify().await;
}

#[tokio::test]
async fn login_429_backs_off_for_a_minute_without_calling_login_again() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/login"))
        .respond_with(zenml_error(
            429,
            json!({"detail": "Minute request limit exceeded."}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let zenml = client(&target(&server.uri()));

    match zenml.trigger(&template_request("x")).await {
        Err(TriggerError::Busy {
            message,
            retry_after: Some(wait),
        }) => {
            assert!(wait >= LOGIN_BACKOFF, "{wait:?}");
            assert_eq!(message, "Minute request limit exceeded.");
        }
        other => panic!("expected Busy, got {other:?}"),
    }
    match zenml.find_run_by_tag("x").await {
        Err(TriggerError::Busy {
            retry_after: Some(wait),
            ..
        }) => assert!(wait > Duration::ZERO && wait <= LOGIN_BACKOFF, "{wait:?}"),
        other => panic!("expected Busy, got {other:?}"),
    }
    server.verify().await;
}

#[tokio::test]
async fn login_429_honours_a_longer_retry_after() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/login"))
        .respond_with(
            zenml_error(429, json!({"detail": "Daily request limit exceeded."}))
                .insert_header("retry-after", "600"),
        )
        .mount(&server)
        .await;
    let error = client(&target(&server.uri()))
        .trigger(&template_request("x"))
        .await
        .expect_err("429");
    assert_eq!(error.retry_after(), Some(Duration::from_secs(600)));
}

// ---------------------------------------------------------------- refusals

#[tokio::test]
async fn trigger_429_is_busy_with_and_without_retry_after() {
    let cases = [
        (
            zenml_error(429, json!({"detail": ["MaxConcurrentTasksError", "Maximum number of concurrent snapshot tasks reached."]}))
                .insert_header("retry-after", "30"),
            Some(Duration::from_secs(30)),
            "MaxConcurrentTasksError: Maximum number of concurrent snapshot tasks reached.",
        ),
        (
            zenml_error(429, json!({"error": "Server too busy. Please try again later."})),
            None,
            "Server too busy. Please try again later.",
        ),
        (
            zenml_error(429, json!({"detail": "busy"}))
                .insert_header("date", "Sun, 06 Nov 1994 08:49:37 GMT")
                .insert_header("retry-after", "Sun, 06 Nov 1994 08:51:07 GMT"),
            Some(Duration::from_secs(90)),
            "busy",
        ),
        (
            zenml_error(429, json!({"detail": "busy"})).insert_header("retry-after", "86400"),
            Some(Duration::from_secs(3600)),
            "busy",
        ),
    ];
    for (response, expected_wait, expected_message) in cases {
        let server = MockServer::start().await;
        mount_login(&server, &sample_token(), None, 1).await;
        mount_trigger(&server, response).await;
        let error = client(&target(&server.uri()))
            .trigger(&template_request("x"))
            .await
            .expect_err("429");
        assert_eq!(error.status(), Some(429));
        match error {
            TriggerError::Busy {
                message,
                retry_after,
            } => {
                assert_eq!(message, expected_message);
                assert_eq!(retry_after, expected_wait);
            }
            other => panic!("expected Busy, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn server_errors_and_408_are_retryable() {
    let cases = [
        (
            408,
            ResponseTemplate::new(408).set_body_json(json!({"detail": "Request Timeout"})),
        ),
        (
            500,
            ResponseTemplate::new(500).set_body_raw("Internal Server Error", "text/plain"),
        ),
        (
            502,
            ResponseTemplate::new(502)
                .set_body_raw("<html><body>502 Bad Gateway</body></html>", "text/html"),
        ),
        (
            503,
            zenml_error(503, json!({"detail": ["LogStoreError", "unavailable"]}))
                .insert_header("retry-after", "5"),
        ),
        (504, ResponseTemplate::new(504)),
    ];
    for (status, response) in cases {
        let server = MockServer::start().await;
        mount_login(&server, &sample_token(), None, 1).await;
        mount_trigger(&server, response).await;
        let error = client(&target(&server.uri()))
            .trigger(&template_request("x"))
            .await
            .expect_err("a refusal");
        assert!(
            matches!(error, TriggerError::Retryable { status: s, .. } if s == status),
            "{status}: {error:?}"
        );
        assert_eq!(
            error.may_have_created_run(),
            matches!(status, 500 | 502 | 504)
        );
        if status == 500 {
            assert_eq!(error.summary(), "HTTP 500: Internal Server Error");
        }
        if status == 503 {
            assert_eq!(error.retry_after(), Some(Duration::from_secs(5)));
        }
    }
}

#[tokio::test]
async fn refusals_that_will_not_change_are_fatal_with_hints() {
    let cases = [
        (
            400,
            json!({"detail": ["ValueError", "Can't set pipeline parameters when running a static pipeline via the REST API."]}),
            "ZenML refused the run configuration: fix the rule's run_config",
        ),
        (
            422,
            json!(["ValueError", "1 validation error:\n  {'type': 'bool_parsing', 'loc': ('body', 'enable_cache')}"]),
            "ZenML refused the run configuration: fix the rule's run_config",
        ),
        (
            402,
            json!({"detail": ["SubscriptionUpgradeRequiredError", "Upgrade your plan"]}),
            "this ZenML plan cannot run templates: upgrade the workspace's ZenML Pro plan, or trigger on a workspace whose plan includes it",
        ),
        (
            403,
            json!({"detail": ["IllegalOperationError", "not allowed"]}),
            "the service account is not allowed to run this template: give it that permission in ZenML",
        ),
        (
            404,
            json!({"detail": ["KeyError", "\"Unable to get run template with ID '7c4e': No run template with this ID found\""]}),
            "the template was deleted or belongs to another project or workspace",
        ),
        (
            405,
            json!({"detail": "Method Not Allowed"}),
            "this ZenML server cannot run templates (an open-source server without a workload manager): point `targets.prod.url` at a ZenML Pro workspace",
        ),
        (
            501,
            json!({"detail": ["NotImplementedError", "nope"]}),
            "this ZenML server does not implement the operation: check the server's version and edition",
        ),
        (
            409,
            json!({"detail": ["EntityExistsError", "A tag with this name already exists."]}),
            "ZenML reports a conflict other than a taken run name: see its message",
        ),
    ];
    for (status, body, expected_hint) in cases {
        let server = MockServer::start().await;
        mount_login(&server, &sample_token(), None, 1).await;
        mount_trigger(&server, zenml_error(status, body)).await;
        let error = client(&target(&server.uri()))
            .trigger(&template_request("x"))
            .await
            .expect_err("a refusal");
        assert!(!error.may_have_created_run());
        let summary = error.summary();
        assert!(!summary.contains('\n'), "{summary}");
        let (got_status, zenml, hint) = fatal_parts(error);
        assert_eq!(got_status, Some(status));
        assert_eq!(hint, expected_hint, "{status}");
        assert!(!zenml.is_empty(), "{status}");
        assert!(
            summary.starts_with(&format!("HTTP {status}: ")),
            "{summary}"
        );
    }
}

#[tokio::test]
async fn snapshot_hints_name_the_snapshot() {
    let server = MockServer::start().await;
    mount_login(&server, &sample_token(), None, 1).await;
    Mock::given(method("POST"))
        .and(path(format!(
            "/api/v1/pipeline_snapshots/{SNAPSHOT_ID}/runs"
        )))
        .respond_with(zenml_error(405, json!({"detail": "Method Not Allowed"})))
        .mount(&server)
        .await;
    let req = TriggerRequest {
        kind: TemplateOrSnapshot::Snapshot,
        id: SNAPSHOT_ID.parse().expect("a uuid"),
        ..template_request("x")
    };
    let (_, _, hint) = fatal_parts(
        client(&target(&server.uri()))
            .trigger(&req)
            .await
            .expect_err("405"),
    );
    assert!(hint.contains("cannot run snapshots"), "{hint}");
}

#[tokio::test]
async fn a_409_about_the_run_name_is_run_name_taken() {
    let server = MockServer::start().await;
    mount_login(&server, &sample_token(), None, 1).await;
    mount_trigger(
        &server,
        zenml_error(
            409,
            json!({"detail": ["EntityExistsError", "Pipeline run name 'fixed-name' already exists in this project. Each pipeline run must have a unique name."]}),
        ),
    )
    .await;
    let error = client(&target(&server.uri()))
        .trigger(&template_request("x"))
        .await
        .expect_err("409");
    match error {
        TriggerError::RunNameTaken { message } => {
            assert!(message.starts_with("EntityExistsError: Pipeline run name 'fixed-name'"))
        }
        other => panic!("expected RunNameTaken, got {other:?}"),
    }
}

#[tokio::test]
async fn a_bare_not_found_blames_the_url() {
    let server = MockServer::start().await;
    mount_login(&server, &sample_token(), None, 1).await;
    mount_trigger(&server, zenml_error(404, json!({"detail": "Not Found"}))).await;
    let (_, zenml, hint) = fatal_parts(
        client(&target(&server.uri()))
            .trigger(&template_request("x"))
            .await
            .expect_err("404"),
    );
    assert_eq!(zenml, "Not Found");
    assert!(hint.contains("`targets.prod.url`"), "{hint}");
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let server = MockServer::start().await;
    mount_login(&server, &sample_token(), None, 1).await;
    mount_trigger(
        &server,
        ResponseTemplate::new(307)
            .insert_header("location", "https://zenml.example/api/v1/run_templates"),
    )
    .await;
    let (status, _, hint) = fatal_parts(
        client(&target(&server.uri()))
            .trigger(&template_request("x"))
            .await
            .expect_err("307"),
    );
    assert_eq!(status, Some(307));
    assert!(
        hint.contains("https://zenml.example/api/v1/run_templates"),
        "{hint}"
    );
}

#[tokio::test]
async fn a_2xx_that_is_not_a_run_is_ambiguous() {
    let server = MockServer::start().await;
    mount_login(&server, &sample_token(), None, 1).await;
    mount_trigger(
        &server,
        ResponseTemplate::new(200).set_body_raw("<html>ok</html>", "text/html"),
    )
    .await;
    let error = client(&target(&server.uri()))
        .trigger(&template_request("x"))
        .await
        .expect_err("not a run");
    assert!(matches!(error, TriggerError::Ambiguous { .. }), "{error:?}");
}

#[test]
fn error_body_shapes() {
    let cases: [(&str, Option<&str>, &str); 7] = [
        (
            r#"{"detail":"Not authenticated"}"#,
            None,
            "Not authenticated",
        ),
        (
            r#"{"detail":["KeyError","No run template with this ID found"]}"#,
            Some("KeyError"),
            "No run template with this ID found",
        ),
        (
            r#"["ValueError","1 validation error:\n  {'type': 'uuid_parsing'}"]"#,
            Some("ValueError"),
            "1 validation error: {'type': 'uuid_parsing'}",
        ),
        (
            r#"{"error":"Server too busy. Please try again later."}"#,
            None,
            "Server too busy. Please try again later.",
        ),
        ("Internal Server Error", None, "Internal Server Error"),
        (r#"{"unexpected":true}"#, None, r#"{"unexpected":true}"#),
        ("", None, ""),
    ];
    for (body, class, message) in cases {
        let parsed = ErrorBody::parse(body.as_bytes());
        assert_eq!(parsed.class.as_deref(), class, "{body}");
        assert_eq!(parsed.message, message, "{body}");
    }
    let long = format!(r#"{{"detail":"{}"}}"#, "x".repeat(5000));
    assert!(ErrorBody::parse(long.as_bytes()).message.chars().count() <= 301);
}

// ---------------------------------------------------------------- no answer

#[tokio::test]
async fn a_timeout_after_sending_is_ambiguous() {
    let server = MockServer::start().await;
    mount_login(&server, &sample_token(), None, 1).await;
    mount_trigger(
        &server,
        ResponseTemplate::new(200)
            .set_body_json(run_body("initializing", &[]))
            .set_delay(Duration::from_secs(3)),
    )
    .await;
    let impatient = Target {
        timeout: Duration::from_millis(300),
        ..target(&server.uri())
    };
    let error = client(&impatient)
        .trigger(&template_request("x"))
        .await
        .expect_err("timeout");
    match &error {
        TriggerError::Ambiguous { message } => {
            assert!(message.contains(&template_runs_path()), "{message}")
        }
        other => panic!("expected Ambiguous, got {other:?}"),
    }
    assert!(error.may_have_created_run());
}

#[tokio::test]
async fn a_timeout_on_a_read_is_safe_to_resend() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/api/v1/runs/{RUN_ID}")))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
        .mount(&server)
        .await;
    let impatient = Target {
        timeout: Duration::from_millis(300),
        ..token_target(&server.uri(), "t0ken")
    };
    let error = client(&impatient)
        .get_run(RUN_ID)
        .await
        .expect_err("timeout");
    assert!(
        matches!(error, TriggerError::Unreachable { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn connection_refused_is_unreachable_and_names_the_url() {
    let port = closed_port().await;
    let url = format!("http://127.0.0.1:{port}");

    let error = client(&target(&url))
        .trigger(&template_request("x"))
        .await
        .expect_err("refused");
    match &error {
        TriggerError::Unreachable { message } => {
            assert!(
                message.contains(&format!("{url}/api/v1/login")),
                "{message}"
            )
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }

    let error = client(&token_target(&url, "t0ken"))
        .trigger(&template_request("x"))
        .await
        .expect_err("refused");
    match &error {
        TriggerError::Unreachable { message } => {
            assert!(message.starts_with("cannot connect to "), "{message}");
            assert!(
                message.contains(&format!("{url}{}", template_runs_path())),
                "{message}"
            );
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
    assert!(!error.may_have_created_run());
}

#[tokio::test]
async fn a_tls_failure_is_unreachable_and_names_the_url() {
    // A plain-HTTP server spoken to over TLS: the handshake fails.
    let server = MockServer::start().await;
    let url = server.uri().replace("http://", "https://");
    let error = client(&target(&url))
        .trigger(&template_request("x"))
        .await
        .expect_err("tls");
    match &error {
        TriggerError::Unreachable { message } => {
            assert!(
                message.contains(&format!("{url}/api/v1/login")),
                "{message}"
            )
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
}

#[tokio::test]
async fn a_dropped_connection_is_ambiguous_for_a_trigger_only() {
    let url = hang_up_server().await;

    let error = client(&token_target(&url, "t0ken"))
        .trigger(&template_request("x"))
        .await
        .expect_err("dropped");
    assert!(matches!(error, TriggerError::Ambiguous { .. }), "{error:?}");

    let error = client(&token_target(&url, "t0ken"))
        .find_run_by_tag("x")
        .await
        .expect_err("dropped");
    assert!(
        matches!(error, TriggerError::Unreachable { .. }),
        "{error:?}"
    );

    // Nothing can have been created by a login.
    let error = client(&target(&url))
        .trigger(&template_request("x"))
        .await
        .expect_err("dropped");
    assert!(
        matches!(error, TriggerError::Unreachable { .. }),
        "{error:?}"
    );
}

// ---------------------------------------------------------------- runs

#[tokio::test]
async fn find_run_by_tag_hit_and_miss() {
    let server = MockServer::start().await;
    mount_login(&server, &sample_token(), None, 1).await;
    let tag = "zenhook-job-4d2676a2-ae9d-43aa-ad04-dd343eefdce2";
    Mock::given(method("GET"))
        .and(path("/api/v1/runs"))
        .and(query_param("tags", format!("equals:{tag}")))
        .and(query_param("size", "5"))
        .and(query_param("project", PROJECT_ID))
        .and(header(
            "authorization",
            format!("Bearer {}", sample_token()),
        ))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(page(vec![run_body("failed", &[tag])])),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/runs"))
        .and(query_param(
            "tags",
            "equals:zenhook-job-00000000-0000-0000-0000-000000000000",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(vec![])))
        .expect(1)
        .mount(&server)
        .await;
    let in_project = Target {
        project: Some(PROJECT_ID.into()),
        ..target(&server.uri())
    };
    let zenml = client(&in_project);

    assert_eq!(
        zenml.find_run_by_tag(tag).await.expect("a page"),
        Some(sample_run_ref())
    );
    assert_eq!(
        zenml
            .find_run_by_tag("zenhook-job-00000000-0000-0000-0000-000000000000")
            .await
            .expect("a page"),
        None
    );
    server.verify().await;
}

#[tokio::test]
async fn get_run_reads_body_status_not_in_progress() {
    let server = MockServer::start().await;
    mount_login(&server, &sample_token(), None, 1).await;
    let run = run_body("failed", &["webhook", "zenhook-job-1"]);
    assert_eq!(run["body"]["in_progress"], true);
    Mock::given(method("GET"))
        .and(path(format!("/api/v1/runs/{RUN_ID}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(run))
        .mount(&server)
        .await;
    let info = client(&target(&server.uri()))
        .get_run(RUN_ID)
        .await
        .expect("a run");
    assert_eq!(info.id, RUN_ID);
    assert_eq!(info.name, RUN_NAME);
    assert_eq!(info.status, "failed");
    assert_eq!(info.tags, ["webhook", "zenhook-job-1"]);
}

#[tokio::test]
async fn get_run_of_a_deleted_run_is_fatal() {
    let server = MockServer::start().await;
    mount_login(&server, &sample_token(), None, 1).await;
    Mock::given(method("GET"))
        .and(path(format!("/api/v1/runs/{RUN_ID}")))
        .respond_with(zenml_error(
            404,
            json!({"detail": ["KeyError", "No pipeline run with this ID found"]}),
        ))
        .mount(&server)
        .await;
    let (status, _, hint) = fatal_parts(
        client(&target(&server.uri()))
            .get_run(RUN_ID)
            .await
            .expect_err("404"),
    );
    assert_eq!(status, Some(404));
    assert!(hint.contains("run was deleted"), "{hint}");
}

#[tokio::test]
async fn find_run_in_an_unknown_project_blames_the_project() {
    let server = MockServer::start().await;
    mount_login(&server, &sample_token(), None, 1).await;
    Mock::given(method("GET"))
        .and(path("/api/v1/runs"))
        .respond_with(zenml_error(
            404,
            json!({"detail": ["KeyError", "\"Unable to get project with name or ID 'nope': 'nope' is not a valid UUID and no project with this name exists.\""]}),
        ))
        .mount(&server)
        .await;
    let in_project = Target {
        project: Some("nope".into()),
        ..target(&server.uri())
    };
    let (status, _, hint) = fatal_parts(
        client(&in_project)
            .find_run_by_tag("x")
            .await
            .expect_err("404"),
    );
    assert_eq!(status, Some(404));
    assert!(hint.contains("`targets.prod.project`"), "{hint}");
}

// ---------------------------------------------------------------- secrets and config

#[tokio::test]
async fn credentials_never_show_in_debug_or_errors() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/login"))
        .respond_with(zenml_error(
            401,
            json!({"detail": ["CredentialsNotValid", format!("cannot decode {API_KEY}")]}),
        ))
        .mount(&server)
        .await;
    let zenml = client(&target(&server.uri()));
    let debug = format!("{zenml:?}");
    assert!(
        debug.contains("prod") && debug.contains("api_key"),
        "{debug}"
    );
    assert!(
        !debug.contains(API_KEY) && !debug.contains("ZENKEY"),
        "{debug}"
    );

    let error = zenml
        .trigger(&template_request("x"))
        .await
        .expect_err("401");
    let shown = format!("{error:?} {error}");
    assert!(!shown.contains(API_KEY), "{shown}");
    assert!(shown.contains("[REDACTED]"), "{shown}");

    let token_client = client(&token_target(&server.uri(), "s3cret-token-value"));
    assert!(!format!("{token_client:?}").contains("s3cret-token-value"));
}

#[test]
fn bad_targets_are_refused_with_the_setting_at_fault() {
    let missing_ca = Target {
        ca_file: Some("/nonexistent/ca.pem".into()),
        ..target("https://zenml.example")
    };
    let error = ZenmlClient::new(&missing_ca).expect_err("no file");
    assert_eq!(error.field, "ca_file");
    assert!(
        error.to_string().starts_with("targets.prod.ca_file: "),
        "{error}"
    );

    let not_pem = Target {
        ca_file: Some(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml").into()),
        ..target("https://zenml.example")
    };
    assert_eq!(
        ZenmlClient::new(&not_pem).expect_err("not pem").field,
        "ca_file"
    );

    let good_ca = Target {
        ca_file: Some(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/zenml/ca.pem").into()),
        proxy: Some("http://user:pw@proxy.example:3128".into()),
        ..target("https://zenml.example/")
    };
    assert!(ZenmlClient::new(&good_ca).is_ok());

    let zero = Target {
        timeout: Duration::ZERO,
        ..target("https://zenml.example")
    };
    assert_eq!(ZenmlClient::new(&zero).expect_err("zero").field, "timeout");

    for url in [
        "ftp://zenml.example",
        "https://u:p@zenml.example",
        "zenml.example",
    ] {
        assert_eq!(
            ZenmlClient::new(&target(url)).expect_err(url).field,
            "url",
            "{url}"
        );
    }
    let no_url = Target {
        url: None,
        ..target("x")
    };
    assert_eq!(ZenmlClient::new(&no_url).expect_err("no url").field, "url");
}

// ---------------------------------------------------------------- a real server

/// Logs in, triggers the template ONCE with a unique tag, finds the run by that tag
/// and reads its status. Each run costs the server ~5 s of CPU: keep it to one.
#[tokio::test]
async fn real_zenml_server_trigger_find_and_get() {
    let Ok(env_file) = std::env::var("ZENHOOK_ZENML_ENV") else {
        eprintln!("skipped: set ZENHOOK_ZENML_ENV to the env file of `zenml_server.sh start`");
        return;
    };
    let env = read_env_file(&env_file);
    let value = |key: &str| {
        env.get(key)
            .cloned()
            .unwrap_or_else(|| panic!("{env_file} has no {key}"))
    };
    let real = Target {
        name: "real".into(),
        url: Some(value("ZENML_URL")),
        credential: Some(Credential::ApiKey(SecretString::from(value(
            "ZENML_API_KEY",
        )))),
        project: Some(value("ZENML_PROJECT_ID")),
        timeout: Duration::from_secs(30),
        ca_file: None,
        proxy: None,
        shadow: false,
        rate_limit: None,
    };
    let zenml = client(&real);
    let tag = format!("zenhook-test-{}", Uuid::new_v4());
    assert_eq!(zenml.find_run_by_tag(&tag).await.expect("a page"), None);

    if env.get("ZENML_TEMPLATE_RUNS_ENABLED").map(String::as_str) != Some("true") {
        let req = TriggerRequest {
            kind: TemplateOrSnapshot::Template,
            id: value("ZENML_TEMPLATE_ID").parse().expect("a uuid"),
            run_config: json!({}),
            idempotency_key: Uuid::new_v4(),
        };
        let (status, _, _) = fatal_parts(zenml.trigger(&req).await.expect_err("405"));
        assert_eq!(status, Some(405));
        eprintln!("this server cannot run templates: checked the 405 only");
        return;
    }
    let req = TriggerRequest {
        kind: TemplateOrSnapshot::Template,
        id: value("ZENML_TEMPLATE_ID").parse().expect("a uuid"),
        run_config: json!({"tags": ["zenhook-test", tag]}),
        idempotency_key: Uuid::new_v4(),
    };
    let run = zenml.trigger(&req).await.expect("ZenML started a run");
    assert!(!run.id.is_empty() && !run.name.is_empty());

    let found = zenml.find_run_by_tag(&tag).await.expect("a page");
    assert_eq!(found, Some(run.clone()));

    let info = zenml.get_run(&run.id).await.expect("the run");
    assert_eq!(info.id, run.id);
    assert_eq!(info.name, run.name);
    assert!(info.tags.contains(&tag), "{:?}", info.tags);
    const STATUSES: [&str; 16] = [
        "initializing",
        "provisioning",
        "queued",
        "running",
        "failed",
        "completed",
        "cached",
        "skipped",
        "retrying",
        "retried",
        "cancelling",
        "cancelled",
        "paused",
        "resuming",
        "stopped",
        "stopping",
    ];
    assert!(STATUSES.contains(&info.status.as_str()), "{}", info.status);
    eprintln!(
        "real ZenML: run {} ({}) is {}",
        run.name, run.id, info.status
    );
}
