"""Fixtures shared by every layer of tests.

The environment is set before the app is imported, so the app, the RQ jobs (which build
their own app) and any subprocess all use the same database, Redis db and mail catcher.
"""

import atexit
import os
import shutil
import socket
import tempfile
import time

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from tests.support import create_test_database, create_test_redis, free_port, reset_test_redis, run_worker

_DB_URL, _drop_db = create_test_database()
_REDIS_URL, _drop_redis = create_test_redis()
_INSTANCE = tempfile.mkdtemp(prefix="herald-test-instance-")
os.environ.update(
    {
        "DATABASE_URL": _DB_URL,
        "REDIS_URL": _REDIS_URL,
        "SECRET_KEY": "test-secret-key-not-for-production",
        "HERALD_INSTANCE": _INSTANCE,
        "BASE_URL": "http://herald.test",
        "MAILCATCHER_PORT": str(free_port()),
        "MAILIN_PORT": str(free_port()),
        "LOGIN_RATE_LIMIT": "1000 per minute",
        # Local servers play the providers' APIs: their error answers are shown as the real hosts'
        # would be, in the app and in every worker process the tests start.
        "PROVIDER_ANSWER_HOSTS": "localhost,127.0.0.1",
        # No MX lookups while campaigns materialize (they would ask the system's resolver, over UDP,
        # which the connection guard below cannot see); tests of them set a budget and a ZoneServer.
        "MX_LOOKUP_BUDGET": "0",
    }
)
# At exit, whether or not a test used the app: a run must leave no database or folder behind.
atexit.register(_drop_redis)
atexit.register(_drop_db)
atexit.register(shutil.rmtree, _INSTANCE, True)

from hypothesis import settings as hypothesis_settings  # noqa: E402

# CI must not fail on an example nobody has seen: there the property tests replay a fixed set;
# every developer run still explores new random examples.
hypothesis_settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from app.services.delivery.mailcatcher import AdvertisesPipelining  # noqa: E402


@pytest.fixture(scope="session")
def app():
    app = create_app()
    app.config.update(TESTING=True)
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(autouse=True)
def _clean_state(request):
    """Each test starts with empty tables and an empty Redis db."""
    yield
    if "app" not in request.fixturenames:
        return
    app = request.getfixturevalue("app")
    with app.app_context():
        db.session.remove()
        _empty_tables()
    reset_test_redis(_REDIS_URL)
    # Ids restart after the truncate, so per-process caches keyed by id must go too.
    from app.services.campaigns import messages
    from app.services.delivery import dkim, health
    from app.services.events import tracking

    messages._compiled.clear()
    tracking._links.clear()
    dkim.forget()
    health._affinity.clear()


def _empty_tables(attempts: int = 5) -> None:
    """Empty every table and restart the ids. A browser test's page may still be writing as it closes
    (the builder's closing save): PostgreSQL then picks one side of the deadlock, and this tries again."""
    tables = [t.name for t in reversed(db.metadata.sorted_tables)]  # children before their parents
    for attempt in range(attempts):
        try:
            with db.engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    _empty_postgresql(conn, tables)
                else:
                    for t in tables:
                        conn.exec_driver_sql(f"DELETE FROM {t}")
            return
        except OperationalError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))


# A table with more rows than this is emptied by one TRUNCATE of all of them (deleting rows one by one,
# each checked against every foreign key, would then cost more than the truncate's fixed ~0.5 s).
_DELETE_AT_MOST = 2000

# The sequences TRUNCATE … RESTART IDENTITY restarts (those owned by the tables' columns), if used.
_RESTART_USED_SEQUENCES = """
SELECT setval(seq.oid, ps.start_value, false)
FROM pg_class seq
JOIN pg_sequences ps ON ps.schemaname = seq.relnamespace::regnamespace::text AND ps.sequencename = seq.relname
JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = seq.oid AND d.deptype IN ('a', 'i')
JOIN pg_class owner ON owner.oid = d.refobjid
WHERE seq.relkind = 'S' AND ps.last_value IS NOT NULL AND owner.relname = ANY(%(tables)s)
"""


def _empty_postgresql(conn, tables: list[str]) -> None:
    """A TRUNCATE of every table costs ~0.5 s whatever they hold (new files for each table and index),
    and every test paid it. Most tests fill a few tables with a few rows: those rows are deleted instead
    (children first) and the used id sequences set back to their start, which is what the truncate did."""
    probe = " UNION ALL ".join(
        f"SELECT '{t}', EXISTS (SELECT 1 FROM {t} OFFSET {_DELETE_AT_MOST}) WHERE EXISTS (SELECT 1 FROM {t})"
        for t in tables
    )
    filled = dict(conn.exec_driver_sql(probe).all())  # table -> holds more than _DELETE_AT_MOST rows
    if not any(filled.values()):
        try:
            with conn.begin_nested():
                for t in tables:
                    if t in filled:
                        conn.exec_driver_sql(f"DELETE FROM {t}")
            conn.exec_driver_sql(_RESTART_USED_SEQUENCES, {"tables": tables})
            return
        except IntegrityError:  # a foreign key the models do not declare: the truncate empties them anyway
            pass
    conn.exec_driver_sql(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")


_real_connect = socket.socket.connect


@pytest.fixture(autouse=True)
def _no_outside_connections(monkeypatch):
    """Fail any test that tries to reach a host off this machine (a provider, a CDN, DNS)."""

    def guarded(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0]
            if not (host.startswith("127.") or host in ("::1", "localhost")):
                raise AssertionError(f"test tried to connect to {address!r}")
        return _real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture(scope="session")
def service_app(app):
    """A second app instance for calling services from tests.

    Requests made with `app.test_client()` then run in an app context of their own, as in
    production; sharing one context would leak `g` (the signed-in user) between clients.
    """
    other = create_app()
    other.config.update(TESTING=True)
    yield other
    with other.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def ctx(service_app):
    with service_app.app_context():
        yield
        db.session.remove()


@pytest.fixture
def redis_url():
    return _REDIS_URL


@pytest.fixture
def worker(app):
    """Call to run every queued job, as a burst RQ worker on the test Redis."""

    def run():
        run_worker(_REDIS_URL)
        # The jobs wrote through their own sessions: forget what this test's session cached.
        from flask import has_app_context

        if has_app_context():
            db.session.expire_all()

    return run


class SMTPSink(AdvertisesPipelining):
    """A real SMTP server (aiosmtpd) that keeps what it receives; can refuse chosen addresses.
    It offers PIPELINING, as production relays do (`PlainSMTPSink` does not)."""

    def __init__(self):
        self.messages = []
        self.refuse: dict[str, str] = {}

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.refuse:
            return self.refuse[address.lower()]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        import email
        from email import policy

        self.messages.append(
            {
                "at": time.time(),  # when the server took the message (rate limits are measured here)
                "mail_from": envelope.mail_from,
                "rcpt_tos": list(envelope.rcpt_tos),
                "raw": envelope.original_content,
                "message": email.message_from_bytes(envelope.original_content, policy=policy.default),
            }
        )
        return "250 2.0.0 queued"


class PlainSMTPSink(SMTPSink):
    """The same server without PIPELINING in its EHLO: commands go one at a time."""

    handle_EHLO = None


def _running_sink():
    from aiosmtpd.controller import Controller

    sink = SMTPSink()
    sink.port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()
    return sink, controller


@pytest.fixture
def smtp_sink():
    sink, controller = _running_sink()
    yield sink
    controller.stop()


@pytest.fixture
def second_sink():
    """Another SMTP server, for a second provider (routing, failover, pools)."""
    sink, controller = _running_sink()
    yield sink
    controller.stop()


@pytest.fixture
def mail_catcher(app):
    """The development outbox's SMTP catcher, on the port the app is configured with."""
    from app.services.delivery.mailcatcher import start_catcher

    controller = start_catcher(app, "127.0.0.1", app.config["MAILCATCHER_PORT"])
    yield controller
    controller.stop()


# Factories ------------------------------------------------------------------------------------

PASSWORD = "correct horse battery"


@pytest.fixture
def make_workspace(ctx):
    from tests.factories import create_workspace  # (tests.factories imports this module)

    counter = iter(range(1, 10_000))

    def make(name=None, email=None):
        n = next(counter)
        ws = create_workspace(name or f"Workspace {n}", email or f"owner{n}@example.com", PASSWORD)
        db.session.commit()
        return ws

    return make


@pytest.fixture
def workspace(make_workspace):
    return make_workspace("Acme", "owner@example.com")


@pytest.fixture
def client(app, workspace):
    """A browser session signed in as the workspace's owner."""
    import re

    c = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").get_data(as_text=True)).group(1)
    resp = c.post("/login", data={"email": "owner@example.com", "password": PASSWORD, "csrf_token": token})
    assert resp.status_code == 302, resp.data[:500]
    return c


@pytest.fixture
def api_key(workspace):
    from app.services.platform.workspaces import create_api_key

    _, plain = create_api_key(workspace.id, "tests")
    db.session.commit()
    return plain


@pytest.fixture
def api(app, api_key):
    """A JSON API client authenticated with the workspace's key."""

    class Api:
        def __init__(self, c, key):
            self.c, self.h = c, {"Authorization": f"Bearer {key}"}

        def get(self, path, **kw):
            return self.c.get("/api/v1" + path, headers=self.h, **kw)

        def post(self, path, json=None, **kw):
            return self.c.post("/api/v1" + path, json=json, headers=self.h, **kw)

        def put(self, path, json=None, **kw):
            return self.c.put("/api/v1" + path, json=json, headers=self.h, **kw)

        def delete(self, path, **kw):
            return self.c.delete("/api/v1" + path, headers=self.h, **kw)

    return Api(app.test_client(), api_key)


TEMPLATE_HTML = """<!doctype html><html><body>
<h1>Hello {{ subscriber.name or 'friend' }}</h1>
<p>Your plan: {{ subscriber.attributes.plan }}</p>
<p><a href="https://example.com/offer?a=1&amp;b=2">See the offer</a> and <a href="https://example.com/docs">docs</a></p>
<p><a href="{{ unsubscribe_url }}">Unsubscribe</a> · <a href="{{ view_in_browser_url }}">View in browser</a></p>
</body></html>"""


@pytest.fixture
def count_queries(app):
    """Count the SQL statements a block runs: `with count_queries() as n: ...; n()`."""
    from contextlib import contextmanager

    from sqlalchemy import event

    @contextmanager
    def counting():
        seen = []

        def on_execute(conn, cursor, statement, params, context, executemany):
            seen.append(statement)

        with app.app_context():
            engine = db.engine
        event.listen(engine, "before_cursor_execute", on_execute)
        try:
            yield lambda: len(seen)
        finally:
            event.remove(engine, "before_cursor_execute", on_execute)

    return counting


# The API's own document, and answers checked against it -----------------------------------------


@pytest.fixture
def document(app):
    return app.test_client().get("/api/v1/openapi.json").get_json()


@pytest.fixture
def conforms(document):
    """Check an answer against the schema the OpenAPI document publishes for it."""
    from jsonschema import Draft202012Validator

    def check(resp, schema_name: str, status: int = 200):
        assert resp.status_code == status, resp.get_data(as_text=True)[:1000]
        schema = {"$ref": f"#/components/schemas/{schema_name}", "components": document["components"]}
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in Draft202012Validator(schema).iter_errors(resp.json)]
        assert not errors, errors
        return resp.json

    return check


# DNS: a real server on loopback (tests/dns_support.py) --------------------------------------------


def _point_dns_at(app, nameservers: str, timeout: float):
    """Every lookup of the services (this context's app) and of the requests (`app`) goes there."""
    from flask import current_app

    configs = [app.config, current_app.config]
    saved = [(c, c.get("DNS_NAMESERVERS"), c.get("DNS_TIMEOUT")) for c in configs]
    for c in configs:
        c["DNS_NAMESERVERS"], c["DNS_TIMEOUT"] = nameservers, timeout
    return saved


def _restore_dns(saved) -> None:
    for c, nameservers, timeout in saved:
        c["DNS_NAMESERVERS"], c["DNS_TIMEOUT"] = nameservers, timeout


@pytest.fixture
def dns_server(app, ctx):
    """A zone server every lookup goes to, for the services (ctx) and the requests (app) alike."""
    from tests.dns_support import ZoneServer

    with ZoneServer() as server:
        saved = _point_dns_at(app, server.address, 2.0)
        yield server
    _restore_dns(saved)


@pytest.fixture
def dead_dns(app, ctx):
    """Every lookup goes to a port where no DNS server answers."""
    saved = _point_dns_at(app, f"127.0.0.1:{free_port()}", 0.5)
    yield
    _restore_dns(saved)


from tests.twilio_support import twilio_server  # noqa: E402, F401  (the local Twilio REST API fixture)
