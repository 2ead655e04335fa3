#!/usr/bin/env bash
# SpamAssassin's spamd for the advisor's spam score, offline (deploy/spamassassin), in the foreground.
# Without spamd installed (make setup installs Debian's spamassassin as root) it only says so and
# waits: honcho stops every process when one exits, and Herald works without it (the score then
# reads "spamd is not running").
cd "$(dirname "$0")/.."
if ! command -v spamd >/dev/null; then
  echo "spamd is not installed (apt-get install spamassassin): campaigns get no SpamAssassin score"
  exec sleep infinity
fi
exec spamd --siteconfigpath="$PWD/deploy/spamassassin" --listen "127.0.0.1:${SPAMD_PORT:-7833}" \
  --nouser-config --local --max-children "${SPAMD_CHILDREN:-2}" --syslog=stderr \
  $( [ "$(id -u)" = 0 ] && echo "--username=nobody" )
