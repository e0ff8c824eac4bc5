-- Times are unix milliseconds (UTC) in both backends, so the two schemas and their
-- queries stay alike. JSON documents are stored as text.

CREATE TABLE deliveries (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL,
    sender_delivery_id TEXT,
    event_type TEXT,
    event_kind TEXT NOT NULL,
    outcome TEXT NOT NULL,
    body BYTEA NOT NULL,
    body_sha256 TEXT NOT NULL,
    headers TEXT NOT NULL,
    event TEXT NOT NULL,
    trace TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    body_pruned_at BIGINT,
    UNIQUE (source, sender_delivery_id)
);
-- Partial indexes cost nothing to insert a row they leave out: most deliveries carry a
-- sender's id and most jobs use no flow control.
CREATE INDEX deliveries_body_hash ON deliveries (source, body_sha256, received_at)
    WHERE sender_delivery_id IS NULL;
CREATE INDEX deliveries_received_at ON deliveries (received_at);

CREATE TABLE rules (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    version BIGINT NOT NULL,
    spec TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE rule_versions (
    rule_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    spec TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (rule_id, version)
);

CREATE TABLE revisions (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO revisions (name, value) VALUES ('rules', 0);

CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    delivery_id TEXT NOT NULL REFERENCES deliveries (id),
    delivery_seq BIGINT NOT NULL,
    rule_id TEXT NOT NULL,
    rule_version BIGINT NOT NULL,
    generation BIGINT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    target TEXT NOT NULL,
    target_kind TEXT NOT NULL,
    target_id TEXT NOT NULL,
    run_config TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    uncertain BIGINT NOT NULL DEFAULT 0,
    busy_since BIGINT,
    next_attempt_at BIGINT NOT NULL,
    lease_owner TEXT,
    lease_token TEXT,
    lease_expires_at BIGINT,
    run_id TEXT,
    run_name TEXT,
    run_status TEXT,
    run_status_at BIGINT,
    shadow_request TEXT,
    -- Flow control (rendered per event from the rule).
    debounce_key TEXT,
    debounce_first_at BIGINT,
    superseded_by TEXT,
    concurrency_key TEXT,
    max_running BIGINT,
    on_busy TEXT,
    ordered BIGINT NOT NULL DEFAULT 0,
    -- Following the run: 1 once it is terminal (or lost, or overdue), freeing its slot.
    run_terminal BIGINT NOT NULL DEFAULT 0,
    triggered_at BIGINT,
    run_checks BIGINT NOT NULL DEFAULT 0,
    next_check_at BIGINT,
    run_history TEXT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (delivery_id, rule_id, generation)
);
CREATE INDEX jobs_due ON jobs (status, next_attempt_at);
CREATE INDEX jobs_delivery ON jobs (delivery_id);
CREATE INDEX jobs_debounce ON jobs (rule_id, debounce_key, status)
    WHERE debounce_key IS NOT NULL;
CREATE INDEX jobs_concurrency ON jobs (concurrency_key, status)
    WHERE concurrency_key IS NOT NULL;
CREATE INDEX jobs_follow ON jobs (next_check_at)
    WHERE status = 'succeeded' AND run_terminal = 0;

CREATE TABLE job_attempts (
    job_id TEXT NOT NULL REFERENCES jobs (id),
    generation BIGINT NOT NULL,
    attempt BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    finished_at BIGINT NOT NULL,
    http_status BIGINT,
    outcome TEXT NOT NULL,
    error TEXT,
    PRIMARY KEY (job_id, generation, attempt)
);

CREATE TABLE audit_log (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at BIGINT NOT NULL,
    token_name TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    status BIGINT NOT NULL,
    before TEXT,
    after TEXT
);
CREATE INDEX audit_log_at ON audit_log (at);
