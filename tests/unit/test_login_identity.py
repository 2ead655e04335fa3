"""Every spelling of a sign-in address is one identity: one account, one count of guesses."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.services.errors import ValidationError
from app.services.platform.workspaces import login_email, login_throttle_key
from tests.integration.test_login_security import SPELLINGS


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_every_spelling_of_an_address_is_one_login_identity(spelling):
    assert login_email(spelling) == "owner@example.com"
    assert login_throttle_key(spelling) == login_throttle_key("owner@example.com")


def test_a_punycode_domain_and_its_unicode_spelling_are_one_address():
    assert login_email("Ana@xn--mller-kva.DE") == login_email("ana@MÜLLER.de") == "ana@müller.de"


def test_text_that_is_no_address_is_refused_with_a_sentence_but_still_counted():
    with pytest.raises(ValidationError, match="is not an email address"):
        login_email("owner＠example")
    assert login_throttle_key("ＯＷＮＥＲ") == login_throttle_key(" owner ")


TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
DOMAINS = st.sampled_from(["example.com", "EXAMPLE。com", "xn--mller-kva.de", "müller.DE", "ｅｘａｍｐｌｅ．com"])


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.builds(lambda local, domain: f"{local}@{domain}", TEXT, DOMAINS), TEXT))
def test_the_one_form_of_an_address_is_its_own_one_form(raw):
    login_throttle_key(raw)  # any text at all has a key
    try:
        once = login_email(raw)
    except ValidationError:
        return
    assert login_email(once) == once
