"""The advisor's content checks, on campaigns rendered the way the send pipeline renders them:
the builder's starter designs stay quiet; each bad input makes its own check speak."""

import pytest

from app.extensions import db
from app.services.advisor import content_checks
from app.services.advisor.outgoing import outgoing_message
from app.services.designs import compile_design
from app.services.designs.starters import STARTERS, load_starter
from app.services.errors import NotFound
from tests.factories import create_campaign, create_list, create_subscribers, create_template, people

BASE = "http://127.0.0.1:5000"
FOOTER = '<p>Questions? Reply to this email. <a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'
HEALTHY_TEXT = (
    "<p>Our spring collection has arrived: linen shirts, light jackets and the canvas bags you asked for. "
    "Everything is made in small batches in our Porto workshop, and every order ships the next day.</p>"
)


def campaign_of(workspace, html, subject="Spring is here", text=None, preview="New linen, just in", **fields):
    lst = create_list(workspace.id, f"List {subject[:20]} {len(html)}")
    create_subscribers(workspace.id, people(2, email="c{i}@example.org"), lst.id)
    tpl = create_template(
        workspace.id,
        subject=subject,
        html=html,
        name=f"T {len(html)} {subject[:30]}",
        body_text=text,
        preview_text=preview,
    )
    camp = create_campaign(workspace.id, tpl.id, [lst.id], **fields)
    db.session.commit()
    return camp


def checks(workspace, html, **kw):
    return content_checks.check_campaign(workspace.id, campaign_of(workspace, html, **kw).id, spam=False)


def names(findings):
    return {f["check"] for f in findings}


def page(body):
    return f"<!doctype html><html><body>{body}{FOOTER}</body></html>"


# The starters a campaign sends (the cart and receipt ones read an event's data, which campaigns have not).
CAMPAIGN_STARTERS = [s["key"] for s in STARTERS if s["key"] not in ("abandoned_cart", "receipt")]


@pytest.mark.parametrize("key", CAMPAIGN_STARTERS)
def test_starter_designs_raise_nothing(workspace, key):
    start = load_starter(key, BASE)
    compiled = compile_design(start["design"])
    found = checks(
        workspace, compiled.html, subject=start["subject"], text=compiled.text, preview=start["preview_text"]
    )
    assert found == [], found


def test_the_message_is_the_one_that_goes_out(workspace, app):
    camp = campaign_of(workspace, page(HEALTHY_TEXT + '<p><a href="https://shop.example.com/new">New in</a></p>'))
    msg = outgoing_message(workspace.id, camp.id)
    assert msg.recipient_email == "c0@example.org"  # a real recipient of the campaign
    assert "/t/c/" in msg.html and "https://shop.example.com/new" not in msg.html  # links tracked as sent
    assert "/t/o/" in msg.html  # the open pixel
    assert msg.links == ["https://shop.example.com/new"]
    assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" in msg.raw
    assert b"multipart/alternative" in msg.raw


def test_another_workspace_campaign_is_not_found(workspace, make_workspace):
    camp = campaign_of(workspace, page(HEALTHY_TEXT))
    other = make_workspace()
    with pytest.raises(NotFound):
        content_checks.check_campaign(other.id, camp.id, spam=False)


def test_empty_audience_uses_the_sample_person(workspace):
    tpl = create_template(workspace.id, html=page(HEALTHY_TEXT), name="Lonely")
    camp = create_campaign(workspace.id, tpl.id, [create_list(workspace.id, "Empty").id])
    db.session.commit()
    assert outgoing_message(workspace.id, camp.id).recipient_email == "jane.doe@example.com"


def test_image_only_email(workspace):
    imgs = "".join(f'<img src="https://cdn.example.com/p{i}.png" width="600" height="400">' for i in range(3))
    found = checks(workspace, page(imgs), text=None)
    by = {f["check"]: f for f in found}
    assert by["image_only"]["severity"] == "critical"
    assert by["image_only"]["evidence"]["images"] == 3
    assert by["image_alt_text"]["evidence"] == {
        "without_alt": 3,
        "images": 3,
        "sources": [f"https://cdn.example.com/p{i}.png" for i in range(3)],
    }
    assert by["image_alt_text"]["fix"]["action"] == "open_builder"


def test_nearly_image_only_is_a_warning(workspace):
    imgs = "".join(f'<img src="https://cdn.example.com/p{i}.png" alt="Shirt {i}">' for i in range(4))
    found = checks(workspace, page("<p>Our new shirts, in four colours, all linen.</p>" + imgs))
    by = {f["check"]: f for f in found}
    assert by["image_ratio"]["severity"] == "warning"
    assert "image_alt_text" not in by


def test_no_text_part_worth_the_name(workspace):
    html = '<html><body><img src="https://cdn.example.com/a.png" alt="Sale"><a href="{{ unsubscribe_url }}">Unsubscribe</a></body></html>'
    (text,) = [f for f in checks(workspace, html) if f["check"] == "text_part"]
    assert text["severity"] == "warning" and text["evidence"]["own_text_part"] is False


def test_shortener_link(workspace):
    found = checks(workspace, page(HEALTHY_TEXT + '<p><a href="https://bit.ly/3xYz">See the collection</a></p>'))
    (short,) = [f for f in found if f["check"] == "link_shortener"]
    assert short["evidence"]["urls"] == ["https://bit.ly/3xYz"]
    assert short["evidence"]["shortened"] == 1


def test_link_text_showing_another_domain(workspace):
    body = HEALTHY_TEXT + (
        '<p><a href="https://evil.example.net/login">www.mybank.com</a> and '
        '<a href="https://www.shop.example.com/a">shop.example.com</a></p>'
    )
    (bad,) = [f for f in checks(workspace, page(body)) if f["check"] == "link_text_mismatch"]
    assert bad["severity"] == "critical"
    assert bad["evidence"]["examples"] == [{"text": "www.mybank.com", "href": "https://evil.example.net/login"}]


def test_subject_checks(workspace):
    assert "subject_length" in names(checks(workspace, page(HEALTHY_TEXT), subject="A" + " long words" * 10))
    shouting = {f["check"]: f for f in checks(workspace, page(HEALTHY_TEXT), subject="HUGE SALE today!!! $$$")}
    assert shouting["subject_caps"]["evidence"]["capitalized_words"] == ["HUGE", "SALE"]
    assert shouting["subject_punctuation"]["evidence"]["runs"] == ["!!!", "$$$"]
    empty = checks(workspace, page(HEALTHY_TEXT), subject="{{ '' }}")
    assert [f["severity"] for f in empty if f["check"] == "subject"] == ["critical"]


def test_missing_preheader_and_short_text_part(workspace):
    found = checks(workspace, page(HEALTHY_TEXT * 2), preview=None, text="Hi.\n\nUnsubscribe: {{ unsubscribe_url }}")
    by = {f["check"]: f for f in found}
    assert by["preheader"]["severity"] == "info"
    assert by["text_part"]["evidence"]["own_text_part"] is True


def test_html_over_gmail_clip(workspace):
    big = page(HEALTHY_TEXT * 600)
    (size,) = [f for f in checks(workspace, big) if f["check"] == "html_size"]
    assert size["severity"] == "critical" and size["evidence"]["html_bytes"] > 102 * 1024


def test_a_failing_template_is_a_finding(workspace):
    found = checks(workspace, page(HEALTHY_TEXT + "{{ 1 / 0 }}"))
    assert [f["check"] for f in found] == ["template_renders"]
    assert "divides by zero" in found[0]["message"]


# A/B variants -----------------------------------------------------------------------------------


def ab_draft(workspace, variants, html=None):
    """A draft of a healthy-but-for-a-shortener message, A/B-tested with `variants`, committed."""
    body = HEALTHY_TEXT + '<p><a href="https://bit.ly/3xYz">See the collection</a></p>'
    ab_test = {"test_percent": 20, "metric": "opens", "wait_minutes": 60, "auto_pick": True}
    return campaign_of(workspace, page(body) if html is None else html, ab_test=ab_test, variants=variants)


def test_a_variant_is_checked_for_what_it_changes_and_named(workspace):
    unlabelled = create_template(workspace.id, subject="Unused", name="Pictures", preview_text="Linen, just in",
                                 html=page(HEALTHY_TEXT + '<img src="https://cdn.example.com/linen.png">'))  # fmt: skip
    db.session.commit()
    camp = ab_draft(workspace, [{}, {"subject": "HUGE SPRING SALE TODAY", "template_id": unlabelled.id},
                                {"subject": "Spring is here, Ana", "from_name": "Ana at Acme"}])  # fmt: skip

    found = {f["check"]: f for f in content_checks.check_campaign(workspace.id, camp.id, spam=False)}
    # The campaign's shortener is said once: variant A is the campaign's message, C changes no link.
    assert set(found) == {"link_shortener", "subject_caps:b", "image_alt_text:b"}
    caps, alt = found["subject_caps:b"], found["image_alt_text:b"]
    assert caps["message"].startswith("Variant B: The subject shouts")
    assert caps["evidence"] == {"variant": "B", "capitalized_words": ["HUGE", "SPRING", "SALE", "TODAY"], "words": 4}
    assert alt["message"].startswith("Variant B: 1 of 1 images have no alt text")
    assert alt["evidence"]["sources"] == ["https://cdn.example.com/linen.png"] and alt["evidence"]["variant"] == "B"


def test_a_variant_sharing_the_campaigns_problem_adds_nothing(workspace):
    camp = ab_draft(workspace, [{"subject": "Spring is HERE"}, {"preview_text": "Fresh linen"}])
    found = content_checks.check_campaign(workspace.id, camp.id, spam=False)
    assert [f["check"] for f in found] == ["link_shortener"]


def test_a_variants_findings_show_in_the_advisor_and_the_api(workspace, api, client, conforms):
    unlabelled = create_template(workspace.id, subject="Unused", name="Pictures", preview_text="Linen, just in",
                                 html=page(HEALTHY_TEXT + '<img src="https://cdn.example.com/linen.png">'))  # fmt: skip
    db.session.commit()
    camp = ab_draft(workspace, [{}, {"subject": "HUGE SPRING SALE TODAY", "template_id": unlabelled.id}],
                    html=page(HEALTHY_TEXT))  # fmt: skip

    body = conforms(api.get(f"/campaigns/{camp.id}/advisor"), "RecommendationPage")
    by = {r["check"]: r for r in body["items"] if r["check"].startswith("content_")}
    assert set(by) == {"content_subject_caps:b", "content_image_alt_text:b"}
    assert by["content_subject_caps:b"]["message"].startswith("Variant B: ")
    assert by["content_image_alt_text:b"]["evidence"]["variant"] == "B"
    assert by["content_image_alt_text:b"]["fix"]["action"] == "open_builder"
    text = client.get("/advisor/").get_data(as_text=True)
    assert "Capitals in the subject (variant B)" in text and "Alt text (variant B)" in text
