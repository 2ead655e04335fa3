"""Settings read from the environment (DESIGN.md §4)."""

import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

INSTANCE_DIR = Path(os.environ.get("HERALD_INSTANCE", Path(__file__).resolve().parent.parent / "instance"))


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one generated once and kept in instance/."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    path = INSTANCE_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


class Config:
    def __init__(self, **overrides):
        env = os.environ
        self._read_processes(env)
        self._read_providers(env)
        self._read_sending(env)
        self._read_uploads(env)
        self._set_web_defaults(env)
        for key, value in overrides.items():
            setattr(self, key, value)
        self._derive(overrides)

    def _read_processes(self, env) -> None:
        """Where the data lives and where this process and its listeners answer."""
        self.SECRET_KEY = _secret_key()
        self.SQLALCHEMY_DATABASE_URI = _normalize_db_url(
            env.get("DATABASE_URL") or f"sqlite:///{INSTANCE_DIR / 'herald.db'}"
        )
        # A read replica for insights pages, the overview and the insights API (events/reads.py); unset: the
        # primary. Only reads that may lag the primary by a moment go there.
        self.INSIGHTS_DATABASE_URL = _normalize_db_url(env.get("INSIGHTS_DATABASE_URL") or "") or None
        self.REDIS_URL = env.get("REDIS_URL", "redis://127.0.0.1:6379/0")
        self.PORT = int(env.get("PORT", "5000"))
        # Set BASE_URL explicitly wherever several processes run (make run does): the fallback
        # uses this process's PORT, which under honcho differs between web and worker.
        self.BASE_URL = env.get("BASE_URL", f"http://127.0.0.1:{self.PORT}").rstrip("/")
        self.MAILCATCHER_HOST = env.get("MAILCATCHER_HOST", "127.0.0.1")
        self.MAILCATCHER_PORT = int(env.get("MAILCATCHER_PORT", "1025"))
        # The inbound SMTP listener for bounces, complaints and replies (`flask mailin`).
        self.MAILIN_HOST = env.get("MAILIN_HOST", "127.0.0.1")
        self.MAILIN_PORT = int(env.get("MAILIN_PORT", "2525"))
        # The public name of that listener: sending domains' bounce subdomains publish it as their
        # MX, and DMARC aggregate reports go to DMARC_RUA (an address it receives).
        self.MAILIN_HOSTNAME = (env.get("MAILIN_HOSTNAME") or urlsplit(self.BASE_URL).hostname or "localhost").lower()
        self.DMARC_RUA = env.get("DMARC_RUA") or f"dmarc@{self.MAILIN_HOSTNAME}"
        # SpamAssassin's spamd (Procfile `spamd`, offline config in deploy/spamassassin): host:port.
        self.SPAMD_ADDRESS = env.get("SPAMD_ADDRESS", "127.0.0.1:7833")
        # Every DNS lookup Herald makes goes to these (comma-separated host[:port]); empty: the system's.
        self.DNS_NAMESERVERS = env.get("DNS_NAMESERVERS", "")
        self.DNS_TIMEOUT = float(env.get("DNS_TIMEOUT", "5"))
        # Seconds a campaign's materialization may spend looking up recipient domains' MX (those not
        # cached); a domain not answered by then has no mailbox provider for that campaign. 0: no lookups.
        self.MX_LOOKUP_BUDGET = float(env.get("MX_LOOKUP_BUDGET", "3"))

    def _read_providers(self, env) -> None:
        """How Herald talks to sending providers and trusts what they send back."""
        # HTTP providers (SES, SendGrid, Mailgun, Postmark): seconds to wait for an answer. A message
        # whose request got no answer in time is `unknown` (the provider may have it), never resent.
        self.PROVIDER_HTTP_TIMEOUT = float(env.get("PROVIDER_HTTP_TIMEOUT", "15"))
        # Error answers are shown (in Test results and send failures) only from each provider's own
        # API host; list here, comma-separated, any other API host you trust (e.g. your own relay).
        self.PROVIDER_ANSWER_HOSTS = tuple(
            h.strip().lower() for h in env.get("PROVIDER_ANSWER_HOSTS", "").split(",") if h.strip()
        )
        # SNS signing certificates: where they may come from (AWS's own pattern) and, for tests or
        # a private CA, which CA bundle verifies the HTTPS fetch (None: the system's).
        self.SNS_CERT_HOST_PATTERN = env.get("SNS_CERT_HOST_PATTERN") or None
        self.SNS_CA_FILE = env.get("SNS_CA_FILE") or None
        # Soft bounces in a row before an address is suppressed (deliverability.md §7.2).
        self.SOFT_BOUNCE_LIMIT = int(env.get("SOFT_BOUNCE_LIMIT", "3"))

    def _read_sending(self, env) -> None:
        """Batch sizes, retries, rates and claims of the campaign engine."""
        self.SEND_BATCH_SIZE = int(env.get("SEND_BATCH_SIZE", "500"))
        # A recipient refused for now (4xx) is retried after 1, 2, 4 × this (plus jitter).
        self.SEND_RETRY_BASE_SECONDS = float(env.get("SEND_RETRY_BASE_SECONDS", "60"))
        # Every campaign of a workspace together sends at most this many messages a minute
        # (0: no workspace-wide cap; each provider's own limits still hold).
        self.CAMPAIGN_SEND_RATE_PER_MINUTE = int(env.get("CAMPAIGN_SEND_RATE_PER_MINUTE", "0")) or None
        # A claim older than this belongs to a worker that died mid-hand-off (see recover_stale_claims).
        self.SEND_CLAIM_TTL_SECONDS = float(env.get("SEND_CLAIM_TTL_SECONDS", "600"))
        # Throttling per (From domain × mailbox provider), AIMD (app/services/delivery/throttle.py): a
        # deferral halves the pair's rate (×THROTTLE_BACKOFF, not below THROTTLE_MIN_RATE, once per
        # cooldown); each THROTTLE_STEP_SECONDS without one adds THROTTLE_STEP messages/s, up to
        # THROTTLE_MAX_RATE, where the pair is free again (0: never throttle).
        self.THROTTLE_MAX_RATE = float(env.get("THROTTLE_MAX_RATE", "100"))
        self.THROTTLE_MIN_RATE = float(env.get("THROTTLE_MIN_RATE", "0.2"))
        self.THROTTLE_BACKOFF = float(env.get("THROTTLE_BACKOFF", "0.5"))
        self.THROTTLE_COOLDOWN_SECONDS = float(env.get("THROTTLE_COOLDOWN_SECONDS", "2"))
        self.THROTTLE_STEP = float(env.get("THROTTLE_STEP", "1"))
        self.THROTTLE_STEP_SECONDS = float(env.get("THROTTLE_STEP_SECONDS", "5"))

    def _read_uploads(self, env) -> None:
        """Size limits for imports and designs, and where email images are stored."""
        self.IMPORT_MAX_BYTES = int(env.get("IMPORT_MAX_BYTES", str(50 * 1024 * 1024)))
        self.IMPORT_INLINE_BYTES = int(env.get("IMPORT_INLINE_BYTES", str(512 * 1024)))
        self.MAX_CONTENT_LENGTH = self.IMPORT_MAX_BYTES + 1024 * 1024
        # A design is posted whole on every builder save (up to 2 MB): room for it in a form field.
        self.MAX_FORM_MEMORY_SIZE = 3 * 1024 * 1024
        # Images for emails: local files under the instance folder, or an S3-compatible bucket.
        self.MEDIA_DIR = env.get("MEDIA_DIR", str(INSTANCE_DIR / "media"))
        self.MEDIA_MAX_BYTES = int(env.get("MEDIA_MAX_BYTES", str(5 * 1024 * 1024)))
        self.S3_BUCKET = env.get("S3_BUCKET") or None
        self.S3_ENDPOINT_URL = env.get("S3_ENDPOINT_URL") or None
        self.S3_REGION = env.get("S3_REGION", "us-east-1")
        self.S3_PUBLIC_URL = (env.get("S3_PUBLIC_URL") or "").rstrip("/") or None
        self.S3_PREFIX = env.get("S3_PREFIX", "herald/")

    def _set_web_defaults(self, env) -> None:
        """Sign-up, login limits, cookies and the Flask extensions' fixed settings."""
        self.ALLOW_SIGNUP = env.get("ALLOW_SIGNUP", "1") not in ("0", "false", "no")
        self.LOGIN_RATE_LIMIT = env.get("LOGIN_RATE_LIMIT", "10 per minute")
        # Posts to one signup form from one IP address (hosted page and embedded copies alike).
        self.SIGNUP_RATE_LIMIT = env.get("SIGNUP_RATE_LIMIT", "10 per 10 minutes")
        # A segment's exact count may take this long; past it the count is an estimate (0: always estimate).
        self.SEGMENT_COUNT_TIMEOUT_MS = int(env.get("SEGMENT_COUNT_TIMEOUT_MS", "2000"))
        # Behind a reverse proxy (nginx, a load balancer): how many hops set X-Forwarded-For and
        # X-Forwarded-Proto, so tracking, rate limits and login throttling see the visitor (ProxyFix).
        self.TRUSTED_PROXY_COUNT = max(0, int(env.get("TRUSTED_PROXY_COUNT", "0") or 0))
        # Machine opens and clicks (events/verdicts.py): where refreshed address lists are kept, and
        # where to fetch them from (unset: the repository's lists only).
        self.MACHINE_RANGES_DIR = env.get("MACHINE_RANGES_DIR", str(INSTANCE_DIR))
        self.APPLE_RELAY_RANGES_URL = env.get("APPLE_RELAY_RANGES_URL") or None
        self.SCANNER_RANGES_URL = env.get("SCANNER_RANGES_URL") or None
        self.SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
        self.WTF_CSRF_TIME_LIMIT = None
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.REMEMBER_COOKIE_HTTPONLY = True
        self.REMEMBER_COOKIE_SAMESITE = "Lax"
        self.RATELIMIT_HEADERS_ENABLED = True
        self.TESTING = False

    def _derive(self, overrides: dict) -> None:
        """Settings that follow others, computed after the overrides so they follow those too."""
        if self.INSIGHTS_DATABASE_URL:
            self.SQLALCHEMY_BINDS = {"insights": self.INSIGHTS_DATABASE_URL}
        if "RATELIMIT_STORAGE_URI" not in overrides:
            self.RATELIMIT_STORAGE_URI = self.REDIS_URL
        # Always from BASE_URL (an override of these two is not kept): https means secure cookies.
        self.SESSION_COOKIE_SECURE = self.BASE_URL.startswith("https://")
        self.REMEMBER_COOKIE_SECURE = self.SESSION_COOKIE_SECURE


def _normalize_db_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whatever scheme the operator wrote."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
