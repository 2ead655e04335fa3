#!/usr/bin/env bash
# The whole suite. PostgreSQL and Redis on 127.0.0.1 are used when they answer (in a database
# and a Redis db of the tests' own); otherwise the tests fall back to SQLite and a private Redis.
set -uo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m pytest "$@"
status=$?
# pytest's "no tests collected" is a failure here, not a silent pass.
exit $status
