"""The scheduled health probe checks every provider for real, as "Test" does, and records it."""

from app.extensions import db
from app.services.delivery import providers
from tests.support import free_port


def test_the_probe_marks_a_reachable_provider_ok_and_an_unreachable_one_failed_with_the_reason(
    workspace, smtp_sink, httpserver
):
    up = providers.create_provider(workspace.id, "Relay", "smtp", {"host": "127.0.0.1", "port": smtp_sink.port}, {})
    down = providers.create_provider(workspace.id, "Gone", "smtp", {"host": "127.0.0.1", "port": free_port()}, {})
    # Postmark's GET /server answers 401 with its JSON error when the token is revoked.
    httpserver.expect_request("/server", method="GET").respond_with_json(
        {
            "ErrorCode": 10,
            "Message": "The Server Token you provided in the X-Postmark-Server-Token header was invalid.",
        },
        status=401,
    )
    revoked = providers.create_provider(
        workspace.id, "Postmark", "postmark", {"api_base_url": httpserver.url_for("").rstrip("/")},
        {"server_token": "revoked"},
    )  # fmt: skip
    db.session.commit()
    counts = providers.probe_all()
    assert counts == {"ok": 1, "failed": 2}
    db.session.expire_all()
    assert db.session.get(type(up), up.id).last_check_status == "ok"
    gone = db.session.get(type(down), down.id)
    assert gone.last_check_status == "failed" and "cannot connect" in gone.last_error
    pm = db.session.get(type(revoked), revoked.id)
    assert pm.last_check_status == "failed" and "token" in pm.last_error.lower()
    assert pm.last_check_at is not None
