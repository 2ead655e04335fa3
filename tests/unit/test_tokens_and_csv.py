"""Signed tokens and CSV parsing, without a database."""

import pytest

from app.services.audience.contacts import parse_csv
from app.services.errors import ValidationError
from app.services.tokens import TokenMaker, read_token

SECRET = "unit-secret"


def test_token_round_trip_and_purpose_separation():
    t = TokenMaker(SECRET).make("click", 12345, 7)
    assert read_token("click", t, 2, secret=SECRET) == (12345, 7)
    assert read_token("unsubscribe", t, 2, secret=SECRET) is None
    assert read_token("click", t, 2, secret="other") is None


@pytest.mark.parametrize("bad", ["", "x", "1.2", "zz.zz.zz", "1.2." + "A" * 16, "a" * 500, "-1.2.xxxxxxxxxxxxxxxx"])
def test_forged_or_malformed_tokens_are_refused(bad):
    assert read_token("click", bad, 2, secret=SECRET) is None


def test_tampered_ids_are_refused():
    t = TokenMaker(SECRET).make("open", 41)
    assert read_token("open", "42" + t[2:], 1, secret=SECRET) is None


def test_csv_with_semicolons_bom_and_extra_columns():
    rows = parse_csv("\ufeffEmail;Name;Plan\nann@example.com;Ann;gold\n\nbob@example.com;;\n".encode())
    assert rows[0] == {
        "email": "ann@example.com",
        "name": "Ann",
        "timezone": None,
        "attributes": {"plan": "gold"},
        "tags": [],
        "_extra": False,
    }
    assert rows[1] is None  # the blank line keeps its row number
    assert rows[2]["attributes"] == {}


@pytest.mark.parametrize(
    "data,message",
    [
        (b"", "empty"),
        (b"name,city\nAnn,Lisbon\n", "no 'email' column"),
        (b"email,email\na@example.com,b@example.com\n", "names a column twice"),
    ],
)
def test_csv_errors_are_clear(data, message):
    with pytest.raises(ValidationError, match=message):
        parse_csv(data)


def test_csv_from_other_tools_is_understood_and_a_missing_column_is_named():
    rows = parse_csv(b"Email Address,Full Name,First Name\nann@example.com,Ann Lee,Ann\n")
    assert rows[0]["email"] == "ann@example.com" and rows[0]["name"] == "Ann Lee"
    assert rows[0]["attributes"] == {"first_name": "Ann"}  # usable as {{ subscriber.attributes.first_name }}
    with pytest.raises(ValidationError, match=r"found: Address, City"):
        parse_csv(b"Address,City\nx,y\n")
