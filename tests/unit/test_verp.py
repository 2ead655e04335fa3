"""VERP return paths: every ref Herald makes reads back, nothing forged or mangled does."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.services.delivery.verp import MAX_REF_LEN, read_return_path, return_path

SECRET = "test-secret"
refs = st.one_of(
    st.builds(lambda c, r: f"c-{c}-{r}", st.integers(1, 10**12), st.integers(1, 10**12)),
    st.builds(lambda m: f"m-{m}", st.integers(1, 10**15)),
)


def test_format():
    address = return_path("c-12-345", "bounces.example.com", SECRET)
    local, domain = address.split("@")
    assert domain == "bounces.example.com"
    assert local.startswith("b+c-12-345.") and len(local.rsplit(".", 1)[1]) == 8
    assert read_return_path(address, SECRET) == "c-12-345"


@given(refs, st.sampled_from(["bounces.example.com", "b.shop.example.co.uk", "localhost"]))
def test_round_trip(ref, domain):
    address = return_path(ref, domain, SECRET)
    assert read_return_path(address, SECRET) == ref
    assert read_return_path(f"<{address}>", SECRET) == ref
    # Relays that fold case (local part or domain) do not make our own addresses unreadable.
    assert read_return_path(address.upper(), SECRET) == ref
    assert read_return_path(address.replace(domain, "elsewhere.example"), SECRET) == ref


@given(refs)
def test_another_secret_does_not_read_it(ref):
    assert read_return_path(return_path(ref, "bounces.example.com", SECRET), "other-secret") is None


@given(refs, st.data())
def test_tampered_addresses_are_refused(ref, data):
    address = return_path(ref, "bounces.example.com", SECRET)
    local = address.split("@")[0]
    i = data.draw(st.integers(2, len(local) - 1))  # any character after "b+"
    c = data.draw(st.sampled_from("0123456789abcdefm-"))
    tampered = local[:i] + c + local[i + 1 :]
    if tampered.lower() != local.lower():
        assert read_return_path(tampered + "@bounces.example.com", SECRET) is None


@pytest.mark.parametrize(
    "address",
    [
        "",
        "nobody@example.com",
        "b+c-1-2@bounces.example.com",  # no signature
        "b+c-1-2.@bounces.example.com",
        "b+c-1-2.zzzzzzzz@bounces.example.com",
        "b+c-1-2.0123456@bounces.example.com",  # 7 characters
        "b+.01234567@bounces.example.com",
        "b+c-1-2.01234567",  # no domain
        "b+c-1-2.01234567@",
        "@bounces.example.com",
        "x+c-1-2.01234567@bounces.example.com",
        '"b+c-1-2.01234567"@bounces.example.com',
        "b+c-1-2.０１２３４５６７@bounces.example.com",  # full-width digits
        "b+c-1-\u212a.01234567@bounces.example.com",  # KELVIN SIGN folds to "k"
        "b+" + "1" * 200 + ".01234567@bounces.example.com",
        "a" * 10_000,
    ],
)
def test_malformed_addresses_are_refused(address):
    assert read_return_path(address, SECRET) is None


def test_forged_signature_for_a_real_ref_is_refused():
    good = return_path("c-1-2", "bounces.example.com", SECRET)
    sig = good.split("@")[0].rsplit(".", 1)[1]
    forged = "0" * 8 if sig != "0" * 8 else "1" * 8
    assert read_return_path(f"b+c-1-2.{forged}@bounces.example.com", SECRET) is None
    # The signature of one ref does not vouch for another.
    assert read_return_path(f"b+c-1-3.{sig}@bounces.example.com", SECRET) is None


def test_return_path_refuses_refs_it_could_not_read_back():
    for ref in ("C-1-2", "c.1.2", "c 1", "", "c-1@2", "x" * (MAX_REF_LEN + 1)):
        with pytest.raises(ValueError):
            return_path(ref, "bounces.example.com", SECRET)
    with pytest.raises(ValueError):
        return_path("c-1-2", "", SECRET)
    assert len(return_path("x" * MAX_REF_LEN, "d.example", SECRET).split("@")[0]) == 64


def test_non_string_input_is_refused():
    assert read_return_path(None, SECRET) is None  # type: ignore[arg-type]
