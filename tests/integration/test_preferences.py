"""Categories and the preference center: the service (on PostgreSQL and SQLite), the API, the dashboard,
and the public page a person changes their lists, categories and frequency on, without JavaScript."""

import re
from datetime import datetime, timezone

import pytest
from sqlalchemy import event, func, select

from app.extensions import db
from app.models import AuditEntry, Campaign, ListSubscriber, Subscriber, SubscriberPreference, Suppression, Workspace
from app.services.audience import contacts, preferences
from app.services.campaigns import lifecycle
from app.services.errors import Conflict, NotFound, ValidationError
from app.services.platform import branding
from tests.factories import create_campaign, create_list, create_template, people, smtp_campaign


def _person(workspace, email="ana@example.com", lists=()):
    sub = contacts.add_subscriber(workspace.id, email, "Ana", list_ids=[lst.id for lst in lists])
    db.session.commit()
    return sub


def _categories(workspace, *names):
    made = [preferences.create_category(workspace.id, name) for name in names]
    db.session.commit()
    return made


def _choices(workspace, sub) -> dict[str, tuple[bool, str]]:
    return {
        c.category.name: (c.subscribed, c.frequency) for c in preferences.subscriber_preferences(workspace.id, sub.id)
    }


def _state(sub_id: int) -> tuple:
    """Everything a preference center could change about a person, to compare before and after."""
    db.session.expire_all()
    sub = db.session.get(Subscriber, sub_id)
    rows = db.session.execute(
        select(SubscriberPreference.category_id, SubscriberPreference.subscribed, SubscriberPreference.frequency)
        .where(SubscriberPreference.subscriber_id == sub_id)
        .order_by(SubscriberPreference.category_id)
    ).all()
    lists = contacts.subscriber_list_ids(sub_id)
    suppressed = db.session.scalar(select(func.count()).select_from(Suppression))
    audits = db.session.scalar(select(func.count()).select_from(AuditEntry))
    return sub.status, sub.unsubscribed_at, [tuple(r) for r in rows], lists, suppressed, audits


# The service ------------------------------------------------------------------------------------


def test_categories_are_created_renamed_and_deleted_with_unique_names(workspace, make_workspace):
    promotions = preferences.create_category(workspace.id, "  Promotions  ", "Sales and offers")
    assert (promotions.name, promotions.description) == ("Promotions", "Sales and offers")
    with pytest.raises(Conflict, match="already a category named “Promotions”"):
        preferences.create_category(workspace.id, "PROMOTIONS")
    with pytest.raises(ValidationError) as empty:
        preferences.create_category(workspace.id, "   ")
    assert empty.value.fields == {"name": "Required."}
    with pytest.raises(ValidationError, match="under 100 characters"):
        preferences.create_category(workspace.id, "x" * 101)
    tips = preferences.create_category(workspace.id, "Tips")
    with pytest.raises(Conflict):
        preferences.update_category(workspace.id, tips.id, name="promotions")
    assert preferences.update_category(workspace.id, tips.id, name="TIPS").name == "TIPS"  # its own name, recased
    assert preferences.update_category(workspace.id, tips.id, description="How-tos").name == "TIPS"
    other = make_workspace("Other")
    assert preferences.create_category(other.id, "Promotions").id  # unique per workspace only
    with pytest.raises(NotFound):
        preferences.update_category(other.id, tips.id, name="Mine")
    with pytest.raises(NotFound):
        preferences.delete_category(other.id, tips.id)
    assert [c.name for c in preferences.list_categories(workspace.id)] == ["Promotions", "TIPS"]


def test_a_person_gets_every_category_immediately_until_they_choose(workspace):
    promotions, tips = _categories(workspace, "Promotions", "Tips")
    sub = _person(workspace)
    assert _choices(workspace, sub) == {"Promotions": (True, "immediate"), "Tips": (True, "immediate")}
    preferences.set_preferences(workspace.id, sub.id, {promotions.id: {"frequency": "weekly"}})
    preferences.set_preferences(workspace.id, sub.id, {str(tips.id): {"subscribed": False}})
    preferences.set_preferences(workspace.id, sub.id, {promotions.id: {"subscribed": True}})  # keeps weekly
    db.session.commit()
    assert _choices(workspace, sub) == {"Promotions": (True, "weekly"), "Tips": (False, "immediate")}


@pytest.mark.parametrize(
    "changes, field",
    [
        ("weekly", "preferences"),
        ({"abc": {"subscribed": False}}, "preferences.abc"),
        ({"{tips}": {"frequency": "hourly"}}, "preferences.{tips}.frequency"),
        ({"{tips}": {"subscribed": "no"}}, "preferences.{tips}.subscribed"),
        ({"{tips}": {"colour": "red"}}, "preferences.{tips}"),
        ({"{tips}": {}}, "preferences.{tips}"),
        ({"999999": {"subscribed": False}}, "preferences.999999"),
        ({"{theirs}": {"subscribed": False}}, "preferences.{theirs}"),
    ],
)
def test_preferences_that_are_not_a_choice_or_not_this_workspaces_change_nothing(
    workspace, make_workspace, changes, field
):
    promotions, tips = _categories(workspace, "Promotions", "Tips")
    theirs = preferences.create_category(make_workspace("Other").id, "Theirs")
    sub = _person(workspace)
    ids = {"tips": tips.id, "theirs": theirs.id}
    if isinstance(changes, dict):
        changes = {k.format(**ids): v for k, v in changes.items()}
        changes[str(promotions.id)] = {"subscribed": False}  # a good change beside the bad one
    with pytest.raises(ValidationError) as refused:
        preferences.set_preferences(workspace.id, sub.id, changes)
    assert field.format(**ids) in refused.value.fields
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(SubscriberPreference)) == 0


def test_counts_per_category_come_from_one_aggregate_and_leave_out_inactive_people(workspace):
    promotions, tips, news = _categories(workspace, "Promotions", "Tips", "News")
    subs = [_person(workspace, f"p{i}@example.com") for i in range(6)]
    choices = [
        {promotions.id: {"subscribed": False}, tips.id: {"frequency": "daily"}},
        {promotions.id: {"frequency": "weekly"}, tips.id: {"frequency": "daily"}},
        {promotions.id: {"frequency": "monthly", "subscribed": False}},
        {promotions.id: {"frequency": "immediate"}},
        {tips.id: {"frequency": "weekly"}},
    ]
    for sub, change in zip(subs, choices, strict=False):
        preferences.set_preferences(workspace.id, sub.id, change)
    contacts.unsubscribe(subs[4])  # their choices no longer count: they get nothing
    db.session.commit()
    workspace_id, statements = workspace.id, []
    count = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        counts = preferences.category_counts(workspace_id)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert len(statements) == 3  # however many people and categories
    assert counts[promotions.id] == preferences.CategoryCounts(opted_out=2, immediate=2, weekly=1)
    assert counts[tips.id] == preferences.CategoryCounts(immediate=3, daily=2)
    assert counts[news.id] == preferences.CategoryCounts(immediate=5)


def test_deleting_a_category_forgets_choices_and_leaves_its_campaigns_without_one(workspace):
    promotions, tips = _categories(workspace, "Promotions", "Tips")
    sub = _person(workspace, lists=[lst := create_list(workspace.id)])
    preferences.set_preferences(
        workspace.id, sub.id, {promotions.id: {"subscribed": False}, tips.id: {"frequency": "weekly"}}
    )
    camp = create_campaign(workspace.id, create_template(workspace.id).id, [lst.id], category_id=promotions.id)
    db.session.commit()
    assert camp.category_id == promotions.id
    preferences.delete_category(workspace.id, promotions.id)
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Campaign, camp.id).category_id is None
    assert _choices(workspace, sub) == {"Tips": (True, "weekly")}
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "category.delete"))
    assert entry.subject_id == promotions.id and entry.detail == {"name": "Promotions"}


def test_a_campaign_takes_only_a_category_of_its_workspace(workspace, make_workspace):
    [promotions] = _categories(workspace, "Promotions")
    theirs = preferences.create_category(make_workspace("Other").id, "Theirs")
    lst, tpl = create_list(workspace.id), create_template(workspace.id)
    with pytest.raises(ValidationError) as refused:
        create_campaign(workspace.id, tpl.id, [lst.id], category_id=theirs.id)
    assert refused.value.fields == {"category_id": "Choose one of this workspace's categories."}
    assert create_campaign(workspace.id, tpl.id, [lst.id], category_id=str(promotions.id)).category_id == promotions.id
    assert create_campaign(workspace.id, tpl.id, [lst.id], category_id="").category_id is None


def test_branding_takes_a_hex_colour_and_an_https_logo_only(workspace):
    ws = db.session.get(Workspace, workspace.id)
    for colour in ("red", "#12345", "#1234567", "#GGGGGG", "#fff;}body{display:none"):
        with pytest.raises(ValidationError) as refused:
            branding.update_branding(ws, None, colour)
        assert "brand_color" in refused.value.fields
    for url in ("http://example.com/logo.png", "javascript:alert(1)", 'https://x.example/a.png" onerror="x',
                "https://user:pw@x.example/a.png", "//x.example/a.png", "https://" + "a" * 1000 + ".example"):  # fmt: skip
        with pytest.raises(ValidationError) as refused:
            branding.update_branding(ws, url, None)
        assert "logo_url" in refused.value.fields
    branding.update_branding(ws, " https://cdn.example.com/logo.png ", "1A7F5A")
    db.session.commit()
    assert (ws.logo_url, ws.brand_color) == ("https://cdn.example.com/logo.png", "#1a7f5a")
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "workspace.settings"))
    assert entry.detail["changed"]["brand_color"] == [None, "#1a7f5a"]
    brand = branding.Brand.of(ws)
    assert (brand.color, brand.on_color, brand.logo_url) == ("#1a7f5a", "#ffffff", "https://cdn.example.com/logo.png")
    assert branding.Brand.of(Workspace(name="X", brand_color="#ffeb3b")).on_color == "#1d273b"  # dark on yellow
    assert branding.Brand.of(Workspace(name="X", brand_color="red}")).color == branding.DEFAULT_COLOR


def test_preferences_url_opens_the_persons_own_center_and_a_tampered_one_nothing(app, workspace):
    sub = _person(workspace)
    with app.test_request_context():
        url = preferences.preferences_url(sub.id)
    assert re.fullmatch(r"http://herald\.test/p/[0-9a-z]+\.[A-Za-z0-9_-]{16}", url)
    web = app.test_client()
    path = url.removeprefix("http://herald.test")
    assert "ana@example.com" in web.get(path).get_data(as_text=True)
    token = path.removeprefix("/p/")
    for bad in (token[:-1] + ("A" if token[-1] != "A" else "B"), "2" + token[1:], token + "x", "x", "é"):
        resp = web.get(f"/p/{bad}")
        assert resp.status_code == 404 and "This link does not work" in resp.get_data(as_text=True)
    # A campaign recipient's token is not a person's token, and the other way round.
    assert web.get(f"/preferences/{token}").status_code == 404


# The API ----------------------------------------------------------------------------------------


def test_categories_through_the_api(api, conforms, workspace, make_workspace):
    made = conforms(api.post("/categories", json={"name": "Promotions", "description": "Offers"}), "Category", 201)
    assert made["counts"] == {"opted_out": 0, "immediate": 0, "daily": 0, "weekly": 0, "monthly": 0}
    taken = api.post("/categories", json={"name": " promotions "})
    assert taken.status_code == 409 and taken.json["error"]["fields"]["name"].startswith("There is already")
    assert api.post("/categories", json={"name": ""}).status_code == 422
    assert api.post("/categories", json={"name": "Tips", "colour": "red"}).json["error"]["fields"] == {
        "colour": "Unknown field."
    }
    _person(workspace)
    conforms(api.post("/categories", json={"name": "Tips"}), "Category", 201)
    page = conforms(api.get("/categories"), "CategoryPage")
    assert [c["name"] for c in page["items"]] == ["Promotions", "Tips"]
    assert page["items"][1]["counts"]["immediate"] == 1
    renamed = conforms(
        api.c.patch(f"/api/v1/categories/{made['id']}", json={"name": "Offers"}, headers=api.h), "Category"
    )
    assert (renamed["name"], renamed["description"]) == ("Offers", "Offers")
    theirs = preferences.create_category(make_workspace("Other").id, "Theirs")
    db.session.commit()
    for method in ("get", "patch", "delete"):
        resp = api.c.open(
            f"/api/v1/categories/{theirs.id}", method=method.upper(), json={"name": "Mine"}, headers=api.h
        )
        assert resp.status_code == 404, method
    assert api.delete(f"/categories/{made['id']}").status_code == 204
    assert api.get(f"/categories/{made['id']}").status_code == 404


def test_a_subscribers_preferences_through_the_api(api, conforms, workspace, make_workspace):
    promotions, tips = _categories(workspace, "Promotions", "Tips")
    theirs = preferences.create_category(make_workspace("Other").id, "Theirs")
    db.session.commit()
    sub = conforms(api.post("/subscribers", json={"email": "ana@example.com"}), "Subscriber", 201)
    assert sub["preferences"] == {
        str(promotions.id): {"subscribed": True, "frequency": "immediate"},
        str(tips.id): {"subscribed": True, "frequency": "immediate"},
    }
    path = f"/api/v1/subscribers/{sub['id']}"
    patch = lambda prefs, **more: api.c.patch(path, json={"preferences": prefs, **more}, headers=api.h)  # noqa: E731
    changed = conforms(patch({str(promotions.id): {"frequency": "weekly"}, str(tips.id): {"subscribed": False}},
                             name="Ana"), "Subscriber")  # fmt: skip
    assert changed["name"] == "Ana" and changed["preferences"] == {
        str(promotions.id): {"subscribed": True, "frequency": "weekly"},
        str(tips.id): {"subscribed": False, "frequency": "immediate"},
    }
    shown = conforms(api.get(f"/subscribers/{sub['id']}"), "Subscriber")
    assert shown["preferences"] == changed["preferences"]
    refused = patch({str(theirs.id): {"subscribed": False}}, name="Changed")
    assert refused.status_code == 422 and f"preferences.{theirs.id}" in refused.json["error"]["fields"]
    assert patch({str(tips.id): {"frequency": "hourly"}}).status_code == 422
    assert patch({"tips": {"subscribed": True}}).status_code == 422
    assert patch({str(tips.id): {"subscribed": "yes"}}).status_code == 422
    other_person = contacts.add_subscriber(theirs.workspace_id, "bo@example.com")
    db.session.commit()
    theirs_path = f"/api/v1/subscribers/{other_person.id}"
    assert api.c.patch(theirs_path, json={"preferences": {}}, headers=api.h).status_code == 404
    after = conforms(api.get(f"/subscribers/{sub['id']}"), "Subscriber")
    assert (after["name"], after["preferences"]) == ("Ana", shown["preferences"])  # a refused change changed nothing


def test_a_campaigns_category_through_the_api(api, conforms, workspace, make_workspace):
    [promotions] = _categories(workspace, "Promotions")
    theirs = preferences.create_category(make_workspace("Other").id, "Theirs")
    lst, tpl = create_list(workspace.id), create_template(workspace.id)
    db.session.commit()
    body = {"name": "Sale", "template_id": tpl.id, "list_ids": [lst.id], "from_name": "Acme",
            "from_email": "news@acme.example.com"}  # fmt: skip
    made = conforms(api.post("/campaigns", json={**body, "category_id": promotions.id}), "Campaign", 201)
    assert made["category_id"] == promotions.id
    refused = api.post("/campaigns", json={**body, "category_id": theirs.id})
    assert refused.status_code == 422 and "category_id" in refused.json["error"]["fields"]
    cleared = api.c.patch(f"/api/v1/campaigns/{made['id']}", json={"category_id": None}, headers=api.h)
    assert conforms(cleared, "Campaign")["category_id"] is None
    assert conforms(api.post("/campaigns", json=body), "Campaign", 201)["category_id"] is None


def test_the_openapi_document_lists_categories_and_preferences(document):
    assert {"get", "post"} <= set(document["paths"]["/categories"])
    assert {"get", "patch", "delete"} <= set(document["paths"]["/categories/{category_id}"])
    assert "preferences" in document["components"]["schemas"]["SubscriberPatch"]["properties"]
    assert "category_id" in document["components"]["schemas"]["CampaignCreate"]["properties"]
    assert "preferences" in document["components"]["schemas"]["Subscriber"]["properties"]


# The dashboard ----------------------------------------------------------------------------------


def _token(client, path):
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def test_the_categories_page_creates_renames_and_deletes_with_names_escaped(client, workspace):
    token = _token(client, "/categories/")
    made = client.post("/categories/", data={"name": "<b>Promo</b>", "description": "<i>x</i>", "csrf_token": token})
    assert made.status_code == 302
    page = client.get("/categories/").get_data(as_text=True)
    assert "&lt;b&gt;Promo&lt;/b&gt;" in page and "<b>Promo</b>" not in page and "&lt;i&gt;x&lt;/i&gt;" in page
    again = client.post("/categories/", data={"name": "<B>promo</B>", "csrf_token": token})
    assert again.status_code == 422 and "There is already a category named" in again.get_data(as_text=True)
    [cat] = preferences.list_categories(workspace.id)
    sub = _person(workspace)
    preferences.set_preferences(workspace.id, sub.id, {cat.id: {"frequency": "weekly"}})
    db.session.commit()
    row = re.search(
        rf'<tr data-category="{cat.id}">(.*?)</tr>', client.get("/categories/").get_data(as_text=True), re.S
    )
    assert re.search(r'data-count="weekly">1<', row.group(1)) and re.search(r'data-count="immediate">0<', row.group(1))
    assert client.post(f"/categories/{cat.id}/edit", data={"name": "", "csrf_token": token}).status_code == 422
    client.post(f"/categories/{cat.id}/edit", data={"name": "Promotions", "description": "", "csrf_token": token})
    db.session.expire_all()
    assert (
        preferences.get_category(workspace.id, cat.id).name,
        preferences.get_category(workspace.id, cat.id).description,
    ) == ("Promotions", None)
    client.post(f"/categories/{cat.id}/delete", data={"csrf_token": token})
    assert preferences.list_categories(workspace.id) == []
    assert "Categories" in client.get("/lists/").get_data(as_text=True)  # in the Audience navigation


def test_another_workspaces_category_answers_404_on_the_dashboard(client, make_workspace):
    theirs = preferences.create_category(make_workspace("Other").id, "Theirs")
    db.session.commit()
    token = _token(client, "/categories/")
    assert client.get(f"/categories/{theirs.id}/edit").status_code == 404
    assert client.post(f"/categories/{theirs.id}/delete", data={"csrf_token": token}).status_code == 404
    assert preferences.get_category(theirs.workspace_id, theirs.id)


def test_the_subscriber_page_shows_and_changes_a_persons_preferences(client, workspace, make_workspace):
    promotions, tips = _categories(workspace, "Promotions", "Tips")
    theirs = preferences.create_category(make_workspace("Other").id, "Theirs")
    sub = _person(workspace)
    page = client.get(f"/subscribers/{sub.id}").get_data(as_text=True)
    assert "Email preferences" in page and "Open preference center" in page
    assert re.search(r'href="http://herald\.test/p/[^"]+"', page)
    token = _token(client, f"/subscribers/{sub.id}")
    form = {"csrf_token": token, "category_ids": [str(promotions.id), str(tips.id)],
            f"subscribed-{promotions.id}": "on", f"frequency-{promotions.id}": "monthly", f"frequency-{tips.id}": "daily"}  # fmt: skip
    assert client.post(f"/subscribers/{sub.id}/preferences", data=form).status_code == 302
    assert _choices(workspace, sub) == {"Promotions": (True, "monthly"), "Tips": (False, "daily")}
    page = client.get(f"/subscribers/{sub.id}").get_data(as_text=True)
    assert re.search(rf'name="frequency-{promotions.id}">.*?<option value="monthly" selected>', page, re.S)
    hostile = {"csrf_token": token, "category_ids": [str(theirs.id)], f"subscribed-{theirs.id}": "on"}
    client.post(f"/subscribers/{sub.id}/preferences", data=hostile)
    assert _choices(workspace, sub) == {"Promotions": (True, "monthly"), "Tips": (False, "daily")}
    assert db.session.scalar(select(func.count()).select_from(SubscriberPreference)) == 2


def test_the_campaign_form_offers_the_workspaces_categories(client, workspace):
    [promotions] = _categories(workspace, "Promotions")
    lst, tpl = create_list(workspace.id), create_template(workspace.id)
    db.session.commit()
    page = client.get("/campaigns/new").get_data(as_text=True)
    assert re.search(rf'<option value="{promotions.id}">Promotions</option>', page)
    token = _token(client, "/campaigns/new")
    form = {"csrf_token": token, "name": "Sale", "template_id": str(tpl.id), "list_ids": [str(lst.id)],
            "from_name": "Acme", "from_email": "news@acme.example.com", "category_id": str(promotions.id),
            "track_opens": "on"}  # fmt: skip
    made = client.post("/campaigns/new", data=form)
    assert made.status_code == 302, made.get_data(as_text=True)[:2000]
    camp = db.session.scalar(select(Campaign))
    assert camp.category_id == promotions.id
    edit = client.get(f"/campaigns/{camp.id}/edit").get_data(as_text=True)
    assert re.search(rf'<option value="{promotions.id}" selected>Promotions</option>', edit)


def test_branding_is_saved_on_the_settings_page_and_refused_with_the_fields_error(client, workspace):
    token = _token(client, "/settings/workspace")
    bad = client.post("/settings/branding", data={"csrf_token": token, "logo_url": "http://x.example/l.png",
                                                  "brand_color": "blue"})  # fmt: skip
    page = bad.get_data(as_text=True)
    assert bad.status_code == 422 and "must be an https://" in page and "is not a colour" in page
    assert 'value="http://x.example/l.png"' in page  # what was typed stays
    good = client.post("/settings/branding", data={"csrf_token": token, "logo_url": "https://x.example/l.png",
                                                   "brand_color": "#1A7F5A"})  # fmt: skip
    assert good.status_code == 302
    ws = db.session.get(Workspace, workspace.id)
    db.session.refresh(ws)
    assert (ws.logo_url, ws.brand_color) == ("https://x.example/l.png", "#1a7f5a")


# The public preference center --------------------------------------------------------------------


def _center(app, workspace, sub):
    with app.test_request_context():
        return preferences.preferences_url(sub.id).removeprefix("http://herald.test")


def test_the_center_is_branded_escapes_what_the_marketer_typed_and_a_get_changes_nothing(app, workspace):
    ws = db.session.get(Workspace, workspace.id)
    ws.name, ws.logo_url, ws.brand_color = "Acme <Shop>", "https://cdn.example.com/logo.png", "#ffeb3b"
    preferences.create_category(workspace.id, "<script>alert(1)</script>", '<img src=x onerror="alert(2)">')
    lst = contacts.create_list(workspace.id, "<b>News</b>")
    sub = _person(workspace, lists=[lst])
    path = _center(app, workspace, sub)
    before = _state(sub.id)
    web = app.test_client()
    for url in (path, path + "?done=unsubscribed", path + "/resubscribe", path + "?list_ids=1&lists_shown=1"):
        web.get(url)
    assert _state(sub.id) == before  # link scanners open pages too
    resp = web.get(path)
    page = resp.get_data(as_text=True)
    assert resp.headers["Cache-Control"].startswith("no-store")
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page and "&lt;b&gt;News&lt;/b&gt;" in page and "Acme &lt;Shop&gt;" in page
    assert '<img class="logo" src="https://cdn.example.com/logo.png"' in page
    assert "--brand:#ffeb3b;--on-brand:#1d273b" in page  # the colour, with dark text on yellow
    assert "overview" not in page.lower() and "navbar" not in page  # none of the dashboard's chrome
    assert "<script" not in page  # works without JavaScript


def test_a_person_leaves_a_list_and_changes_categories_in_one_save(app, workspace, make_workspace):
    promotions, tips = _categories(workspace, "Promotions", "Tips")
    news, offers = contacts.create_list(workspace.id, "News"), contacts.create_list(workspace.id, "Offers")
    sub = _person(workspace, lists=[news, offers])
    path = _center(app, workspace, sub)
    web = app.test_client()
    page = web.get(path).get_data(as_text=True)
    assert "At most once a week" in page and "At most once a day" in page
    form = {"lists_shown": "1", "list_ids": [str(news.id)], "category_ids": [str(promotions.id), str(tips.id)],
            f"subscribed-{promotions.id}": "on", f"frequency-{promotions.id}": "weekly",
            f"frequency-{tips.id}": "immediate"}  # fmt: skip
    saved = web.post(path, data=form)
    assert saved.status_code == 200 and "Your preferences are saved." in saved.get_data(as_text=True)
    assert contacts.subscriber_list_ids(sub.id) == [news.id]
    assert _choices(workspace, sub) == {"Promotions": (True, "weekly"), "Tips": (False, "immediate")}
    # Unticking every list sends no list_ids: the marker says the lists were there.
    web.post(path, data={"lists_shown": "1"})
    assert contacts.subscriber_list_ids(sub.id) == []
    assert _choices(workspace, sub)["Promotions"] == (True, "weekly")  # categories not on the form stay


def test_hostile_form_values_change_nothing(app, workspace, make_workspace):
    [promotions] = _categories(workspace, "Promotions")
    theirs = preferences.create_category(make_workspace("Other").id, "Theirs")
    news = contacts.create_list(workspace.id, "News")
    sub = _person(workspace, lists=[news])
    path = _center(app, workspace, sub)
    web = app.test_client()
    before = _state(sub.id)
    for form in (
        {"lists_shown": "1", "category_ids": [str(theirs.id)], f"subscribed-{theirs.id}": "on"},
        {"lists_shown": "1", "category_ids": [str(promotions.id)], f"frequency-{promotions.id}": "hourly"},
    ):
        resp = web.post(path, data=form)
        assert resp.status_code == 422 and "That choice is not available" in resp.get_data(as_text=True)
    assert _state(sub.id) == before
    ok = web.post(path, data={"list_ids": ["abc", "-1", "99999999999", str(news.id)], "category_ids": ["x", "0"]})
    assert ok.status_code == 200 and _state(sub.id) == before  # odd ids are ignored, not a 500


def test_unsubscribe_from_everything_then_subscribe_again_from_the_center(app, workspace):
    sub = _person(workspace, lists=[contacts.create_list(workspace.id, "News")])
    path = _center(app, workspace, sub)
    web = app.test_client()
    done = web.post(path + "/unsubscribe")
    assert done.status_code == 303 and done.headers["Location"].endswith("?done=unsubscribed")
    page = web.get(done.headers["Location"]).get_data(as_text=True)
    assert "You are unsubscribed from everything." in page and "Subscribe again" in page
    db.session.expire_all()
    assert db.session.get(Subscriber, sub.id).status == "unsubscribed"
    sup = db.session.scalar(select(Suppression))
    assert (sup.reason, sup.source) == ("unsubscribed", "preference center")
    back = web.post(path + "/resubscribe")
    assert back.status_code == 303 and "Welcome back" in web.get(back.headers["Location"]).get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Subscriber, sub.id).status == "active"
    assert db.session.scalar(select(func.count()).select_from(Suppression)) == 0


@pytest.mark.parametrize("status", ["bounced", "complained"])
def test_a_bounced_or_complained_address_is_never_resubscribed_from_the_center(app, workspace, status):
    sub = _person(workspace)
    sub.status = status
    contacts.suppress_address(workspace.id, sub.email, status)
    db.session.commit()
    path = _center(app, workspace, sub)
    web = app.test_client()
    page = web.get(path).get_data(as_text=True)
    assert "We no longer send email to this address" in page and "Subscribe again" not in page
    assert "Unsubscribe from everything" not in page
    before = _state(sub.id)
    web.post(path + "/unsubscribe")
    web.post(path + "/resubscribe")
    assert _state(sub.id) == before and db.session.get(Subscriber, sub.id).status == status


def test_a_person_downloads_their_data_as_json(app, workspace):
    [promotions] = _categories(workspace, "Promotions")
    sub = _person(workspace, lists=[contacts.create_list(workspace.id, "News")])
    preferences.set_preferences(workspace.id, sub.id, {promotions.id: {"frequency": "monthly"}})
    db.session.commit()
    path = _center(app, workspace, sub)
    web = app.test_client()
    assert web.get(path + "/export").status_code == 405  # a download is a POST: it is recorded
    resp = web.post(path + "/export")
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    assert resp.headers["Content-Disposition"].startswith("attachment;")
    data = resp.get_json()
    assert data["profile"]["email"] == "ana@example.com"
    assert [p["frequency"] for p in data["preferences"]] == ["monthly"]
    assert db.session.scalar(select(AuditEntry.action).where(AuditEntry.action == "subscriber.export"))


def test_an_erased_person_has_no_preference_center(app, workspace):
    sub = _person(workspace)
    path = _center(app, workspace, sub)
    sub.erased_at = datetime.now(timezone.utc)
    db.session.commit()
    assert app.test_client().get(path).status_code == 404


def test_a_campaigns_preference_link_opens_the_same_center_and_records_the_unsubscribe(
    app, workspace, smtp_sink, worker
):
    camp = smtp_campaign(workspace, smtp_sink, people(1, email="ana{i}@example.com"))
    [promotions] = _categories(workspace, "Promotions")
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    worker()
    html = smtp_sink.messages[0]["message"].get_body(("html",)).get_content()
    unsub = re.search(r'href="http://herald\.test(/u/[^"]+)"', html).group(1)
    web = app.test_client()
    prefs = re.search(r'href="(/preferences/[^"]+)"', web.get(unsub).get_data(as_text=True)).group(1)
    page = web.get(prefs).get_data(as_text=True)
    assert "ana0@example.com" in page and "Promotions" in page and "Customers" in page
    sub = db.session.scalar(select(Subscriber))
    form = {"lists_shown": "1", "list_ids": [str(lst) for lst in contacts.subscriber_list_ids(sub.id)],
            "category_ids": [str(promotions.id)], f"frequency-{promotions.id}": "daily"}  # fmt: skip
    assert "Your preferences are saved." in web.post(prefs, data=form).get_data(as_text=True)
    assert _choices(workspace, sub) == {"Promotions": (False, "daily")}
    web.post(prefs + "/unsubscribe")
    db.session.expire_all()
    assert db.session.get(Subscriber, sub.id).status == "unsubscribed"
    from app.models import Event

    event = db.session.scalar(select(Event).where(Event.event_type == "unsubscribe"))
    assert event.campaign_id == camp.id and event.data["source"] == "preference center"
    assert db.session.scalar(select(func.count()).select_from(ListSubscriber)) == 1  # lists kept
