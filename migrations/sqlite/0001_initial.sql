-- Times are unix milliseconds (UTC) in both backends, so the two schemas and their
-- queries stay alike. JSON documents are stored as text.

CREATE TABLE deliveries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,        -- monotonically increasing, never reused
    id TEXT NOT NULL UNIQUE,                      -- our UUID
    source TEXT NOT NULL,
    sender_delivery_id TEXT,                      -- the sender's id; NULL when it sent none
    event_type TEXT,                              -- the sender's event name as sent
    event_kind TEXT NOT NULL,                     -- the normalised kind, for filtering
    outcome TEXT NOT NULL,                        -- matched | unmatched | pong
    body BLOB NOT NULL,                           -- the raw body, byte for byte
    body_sha256 TEXT NOT NULL,
    headers TEXT NOT NULL,                        -- JSON object, credentials removed
    event TEXT NOT NULL,                          -- JSON: the normalised event
    trace TEXT NOT NULL,                          -- JSON: one entry per rule evaluated
    received_at INTEGER NOT NULL,
    body_pruned_at INTEGER,                       -- set when retention removed body and headers
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
    version INTEGER NOT NULL,
    spec TEXT NOT NULL,                           -- JSON: the rule as written
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Every version of every rule, so a job can be traced to the exact rule text that made it.
CREATE TABLE rule_versions (
    rule_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    spec TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (rule_id, version)
);

-- Bumped on every rule change; replicas compare it to know their cache is stale.
CREATE TABLE revisions (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT INTO revisions (name, value) VALUES ('rules', 0);

CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    delivery_id TEXT NOT NULL REFERENCES deliveries (id),
    delivery_seq INTEGER NOT NULL,
    rule_id TEXT NOT NULL,
    rule_version INTEGER NOT NULL,
    generation INTEGER NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,         -- one UUID per generation, sent to ZenML
    target TEXT NOT NULL,
    target_kind TEXT NOT NULL,                    -- template | snapshot
    target_id TEXT NOT NULL,
    run_config TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    -- 1 when a trigger may have reached ZenML without us hearing the answer (timeout,
    -- dropped connection, lost lease, crash): look the run up by tag before resending.
    uncertain INTEGER NOT NULL DEFAULT 0,
    busy_since INTEGER,
    next_attempt_at INTEGER NOT NULL,
    lease_owner TEXT,
    lease_token TEXT,
    lease_expires_at INTEGER,
    run_id TEXT,
    run_name TEXT,
    run_status TEXT,
    run_status_at INTEGER,
    shadow_request TEXT,                          -- what a shadow target would have sent
    -- Flow control (rendered per event from the rule).
    debounce_key TEXT,
    debounce_first_at INTEGER,
    superseded_by TEXT,
    concurrency_key TEXT,
    max_running INTEGER,
    on_busy TEXT,
    ordered INTEGER NOT NULL DEFAULT 0,
    -- Following the run: 1 once it is terminal (or lost, or overdue), freeing its slot.
    run_terminal INTEGER NOT NULL DEFAULT 0,
    triggered_at INTEGER,
    run_checks INTEGER NOT NULL DEFAULT 0,
    next_check_at INTEGER,
    run_history TEXT,                             -- JSON: [{"status", "at"}] as the run went
    last_error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
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
    generation INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    finished_at INTEGER NOT NULL,
    http_status INTEGER,
    outcome TEXT NOT NULL,
    error TEXT,
    PRIMARY KEY (job_id, generation, attempt)
);

-- Every change made through the admin API: who, what, on what, before and after.
CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    token_name TEXT NOT NULL,
    action TEXT NOT NULL,                         -- rule.create, job.retry, admin.reload, ...
    target TEXT NOT NULL,                         -- what it acted on (a rule name, a job id)
    status INTEGER NOT NULL,                      -- the HTTP status answered
    before TEXT,                                  -- JSON, for rules
    after TEXT                                    -- JSON, for rules
);
CREATE INDEX audit_log_at ON audit_log (at);
