#!/usr/bin/env bash
# Prepare the database and start web, worker, scheduler and the development mail catcher.
set -euo pipefail
cd "$(dirname "$0")/.."
export PORT="${PORT:-5000}"
# honcho gives every process its own PORT (web 5000, worker 5100...): the public origin that
# links in emails use must be fixed here, or the worker would build them on its own port.
export BASE_URL="${BASE_URL:-http://127.0.0.1:${PORT}}"
export REDIS_URL="$(.venv/bin/python scripts/dev_redis.py)"
export FLASK_APP=wsgi
mkdir -p instance
.venv/bin/flask --app wsgi db upgrade
echo
echo "  Herald is starting on http://127.0.0.1:${PORT}"
echo "  Open it and sign up: the first sign-up creates your workspace and its owner."
echo "  (Redis: ${REDIS_URL}; database: ${DATABASE_URL:-SQLite in ${HERALD_INSTANCE:-instance}/herald.db}; outbox SMTP on 127.0.0.1:${MAILCATCHER_PORT:-1025})"
echo
exec .venv/bin/honcho start -f Procfile
