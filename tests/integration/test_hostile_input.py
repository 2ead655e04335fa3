"""Hostile and malformed input to the dashboard's forms: a clear 4xx or a handled page, never a 500."""

import re

import pytest

from tests.import_support import import_through_pages

HOSTILE = [
    "",
    " ",
    "x" * 100_000,
    "<script>alert(1)</script>",
    "{{ 7*7 }}",
    "{% for x in range(10**9) %}",
    "'; DROP TABLE subscribers; --",
    "\x00\x01",
    "é" * 300,
    "-1",
    "999999999999999999999",
]


def _token(client):
    return re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").get_data(as_text=True)).group(1)


FORMS = [
    ("/lists/", ["name", "description"]),
    ("/subscribers/new", ["email", "name", "attributes", "list_ids"]),
    ("/suppressions/", ["email", "detail"]),
    ("/templates/new", ["name", "subject", "body_html", "body_text", "preview_text", "category"]),
    ("/campaigns/new", ["name", "template_id", "list_ids", "from_name", "from_email", "reply_to", "provider_id"]),
    (
        "/providers/new",
        ["name", "host", "port", "use_tls", "username", "password", "max_sends_per_second", "max_sends_per_day"],
    ),
    ("/domains/", ["domain", "return_path_subdomain"]),
    ("/ips/", ["ip_address", "hostname", "provider_id", "pool_name"]),
    ("/pools/", ["name", "strategy", "default_for", "provider_ids", "domain_ids", "identity_ids", "ip_ids"]),
    ("/settings/workspace", ["name", "timezone"]),
    ("/settings/api-keys/", ["name"]),
]


@pytest.mark.parametrize("path,fields", FORMS, ids=[p for p, _ in FORMS])
def test_hostile_values_never_cause_a_server_error(client, path, fields):
    token = _token(client)
    for value in HOSTILE:
        r = client.post(path, data={"csrf_token": token, **{f: value for f in fields}})
        assert r.status_code < 500, (path, value[:40], r.get_data(as_text=True)[:500])
        assert "<script>alert(1)</script>" not in r.get_data(as_text=True)


@pytest.mark.parametrize(
    "path",
    [
        "/lists/999999",
        "/subscribers/999999",
        "/templates/999999/edit",
        "/campaigns/999999",
        "/providers/999999",
        "/outbox/999999",
        "/domains/999999",
        "/domains/999999/warming",
        "/ips/999999",
        "/ips/999999/warming",
        "/pools/999999",
        "/campaigns/abc",
        "/t/c/..%2f..%2fetc",
        "/u/x.y",
        "/preferences/zz",
        "/v/1.AAAA",
    ],
)
def test_unknown_ids_and_tokens_answer_404(client, path):
    assert client.get(path).status_code == 404


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xfe\x00garbage",
        b"email\n" + b"a" * 400 + b"@x.com\n",
        b'email,name\n"unclosed,quote\n',
        b"<html>not a csv</html>",
        b"email\n" * 3,
    ],
)
def test_bad_csv_uploads_get_a_clear_answer(client, data):
    r = import_through_pages(client, _token(client), data, "x.csv")
    assert r.status_code in (200, 422), r.get_data(as_text=True)[:500]
