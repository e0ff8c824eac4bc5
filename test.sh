#!/usr/bin/env bash
# Runs every test: unit, integration (SQLite and Postgres) and end to end.
# Needs PostgreSQL at 127.0.0.1:5432 (user postgres, trust auth); with CI set, the
# Postgres tests fail instead of skipping when it is unreachable.
set -euo pipefail
cd "$(dirname "$0")"

cargo test --locked --all-targets -- --test-threads 4
