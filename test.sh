#!/usr/bin/env bash
# Runs every test: unit, integration (SQLite and Postgres), crash tests (the
# `failpoints` feature) and, when ZENHOOK_ZENML_ENV & co. point at running ZenML servers
# (.ci/run starts them), the end-to-end tests against real ZenML.
# Needs PostgreSQL at 127.0.0.1:5432 (user postgres, trust auth); with CI set, the
# Postgres and ZenML tests fail instead of skipping when what they need is missing.
set -euo pipefail
cd "$(dirname "$0")"

cargo test --locked --all-targets --features failpoints -- --test-threads 4
