"""What the SMS page and API tests share: a Twilio provider made through the API (pointed at a port
nobody listens on: these tests never send), and an audience of people with and without a number
and consent."""

from app.extensions import db
from app.models import Subscriber
from app.services.sms import consent
from tests.factories import create_list, create_subscribers

TWILIO = {
    "name": "Twilio",
    "provider_type": "twilio",
    "settings": {"from_numbers": ["+14155550100"], "api_base_url": "http://127.0.0.1:9"},
    "credentials": {"account_sid": "AC" + "0" * 32, "auth_token": "secret"},
}
# email -> (phone, consent): two can be texted, one never agreed, one has no number.
PEOPLE = {
    "ana@example.com": ("+14155550123", "subscribed"),
    "ben@example.com": ("+12125550199", "subscribed"),
    "cy@example.com": ("+447911123456", "none"),
    "dee@example.com": (None, "none"),
}


def add_twilio(api) -> int:
    resp = api.post("/providers", json=TWILIO)
    assert resp.status_code == 201, resp.json
    return resp.json["id"]


def texting_audience(workspace_id: int, name: str = "Customers", people: dict = PEOPLE) -> int:
    """A list of `people`, with their numbers and consent set as a signup form would; its id."""
    lst = create_list(workspace_id, name)
    create_subscribers(workspace_id, [{"email": e, "name": e.split("@")[0].title()} for e in people], lst.id)
    for sub in db.session.scalars(db.select(Subscriber).where(Subscriber.workspace_id == workspace_id)):
        phone, status = people.get(sub.email, (None, "none"))
        if phone:
            consent.set_phone(sub, phone)
            consent.set_status(sub, status, "test")
    db.session.commit()
    return lst.id
