"""Other tools' exports are read as a marketer expects: names, timezones, tags, and a mapping they can correct."""

from pathlib import Path

import pytest

from app.services.audience import import_columns
from app.services.audience.contacts import parse_csv
from app.services.errors import ValidationError

FIXTURES = Path(__file__).parent.parent / "fixtures" / "imports"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def people(name: str) -> dict:
    return {row["email"]: row for row in parse_csv(fixture(name)) if row}


def test_the_fixtures_are_shaped_like_real_exports():
    assert fixture("mailchimp_subscribed.csv").startswith(b"\xef\xbb\xbfEmail Address,First Name")
    assert b"\r\n" in fixture("mailchimp_subscribed.csv") and b"\r\n" in fixture("brevo_contacts_fr.csv")
    assert fixture("brevo_contacts_fr.csv").startswith(b"\xef\xbb\xbfEMAIL;NOM;PRENOM")


@pytest.mark.parametrize(
    "name,source",
    [
        ("mailchimp_subscribed.csv", "Mailchimp"),
        ("listmonk_subscribers.csv", "listmonk"),
        ("mautic_contacts.csv", "Mautic"),
        ("klaviyo_profiles.csv", "Klaviyo"),
        ("brevo_contacts.csv", "Brevo"),
        ("brevo_contacts_fr.csv", "Brevo"),
    ],
)
def test_each_tools_export_is_recognised(name, source):
    table = import_columns.read_table(fixture(name))
    assert import_columns.guess_columns(table.header).source == source


def test_a_plain_file_is_not_claimed_to_come_from_some_tool():
    assert import_columns.guess_columns(["email", "name", "plan"]).source is None
    assert import_columns.guess_columns(["Email", "First Name"]).source is None  # not enough to say Klaviyo


def test_a_mailchimp_export_gives_first_last_names_timezones_and_tags_without_quotes():
    rows = people("mailchimp_subscribed.csv")
    zoe = rows["zoe@example.com"]
    assert zoe["name"] == "Zoë Müller-Lüdenscheidt"
    assert zoe["attributes"]["first_name"] == "Zoë" and zoe["attributes"]["last_name"] == "Müller-Lüdenscheidt"
    assert zoe["timezone"] == "Europe/Berlin"
    assert zoe["tags"] == ["vip", "newsletter"] and "tags" not in zoe["attributes"]  # the person's tags
    assert zoe["attributes"]["member_rating"] == "4" and zoe["attributes"]["optin_ip"] == "203.0.113.5"
    assert not {"leid", "euid", "gmtoff", "dstoff", "last_changed", "timezone"} & set(zoe["attributes"])
    assert not zoe["_extra"]
    assert rows["jose@example.com"]["name"] == "José Núñez" and rows["jose@example.com"]["tags"] == ["customer"]
    assert rows["haruto@example.jp"]["name"] == "陽翔 佐藤" and rows["haruto@example.jp"]["timezone"] == "Asia/Tokyo"
    ana = rows["nobody-tz@example.com"]
    assert ana["name"] == "Ana" and ana["timezone"] is None  # a first name alone, trimmed
    assert ana["tags"] == ["vip, gold", "newsletter"]  # a comma inside a quoted tag stays


def test_a_listmonk_export_merges_its_json_attributes():
    rows = people("listmonk_subscribers.csv")
    assert rows["zoe@example.com"]["name"] == "Zoë Müller-Lüdenscheidt"
    assert rows["zoe@example.com"]["attributes"] == {"city": "Köln", "plan": "gold", "status": "enabled"}
    assert rows["haruto@example.jp"]["name"] == "佐藤 陽翔"


def test_mautic_klaviyo_and_brevo_exports_give_names_timezones_and_tags():
    mautic = people("mautic_contacts.csv")
    assert mautic["JOSE@example.com"]["name"] == "José Núñez"
    assert mautic["JOSE@example.com"]["tags"] == ["customer", "spain"]
    assert mautic["JOSE@example.com"]["timezone"] == "Europe/Madrid" and "id" not in mautic["JOSE@example.com"]
    klaviyo = people("klaviyo_profiles.csv")
    assert (
        klaviyo["haruto@example.jp"]["name"] == "陽翔 佐藤" and klaviyo["haruto@example.jp"]["timezone"] == "Asia/Tokyo"
    )
    assert klaviyo["haruto@example.jp"]["attributes"]["city"] == "東京"
    brevo = people("brevo_contacts_fr.csv")  # semicolons, a BOM and CRLF, as European Excel saves them
    assert brevo["zoe@example.com"]["name"] == "Zoë Müller-Lüdenscheidt"
    assert brevo["zoe@example.com"]["phone"] == "+4915112345678" and "sms" not in brevo["zoe@example.com"]["attributes"]
    assert brevo["jose@example.com"]["name"] == "José Núñez" and brevo["jose@example.com"]["timezone"] is None
    assert people("brevo_contacts.csv")["hana@example.jp"]["name"] == "花子 山田"


@pytest.mark.parametrize(
    "cell,tags",
    [
        ('"vip","newsletter"', ["vip", "newsletter"]),
        ('"vip", "vip" ,"spring sale"', ["vip", "spring sale"]),
        ("vip, newsletter", ["vip", "newsletter"]),
        ("vip;newsletter", ["vip", "newsletter"]),
        ("", []),
    ],
)
def test_tags_lose_their_quotes_and_repeats(cell, tags):
    assert import_columns.parse_tags(cell) == tags


def test_a_chosen_mapping_wins_over_the_guess():
    data = "E-Mail;Vorname;Nachname;Zeitzone;Kundennummer\nlena@example.com;Lena;Groß;Europe/Vienna;K-17\n"
    mapping = {"E-Mail": "email", "Vorname": "first_name", "Zeitzone": "timezone", "Kundennummer": "attribute:customer"}
    [row] = parse_csv(data.encode(), mapping)
    assert row["name"] == "Lena" and row["timezone"] == "Europe/Vienna"  # Nachname was left out: ignored
    assert row["attributes"] == {"first_name": "Lena", "customer": "K-17"}


@pytest.mark.parametrize(
    "mapping,field,message",
    [
        ({"First Name": "name"}, "mapping", "Choose the column that holds the email addresses"),
        (
            {"Email Address": "email", "First Name": "name", "Last Name": "name"},
            "mapping.Last Name",
            "'First Name' and 'Last Name' would both become the name",
        ),
        (
            {"Email Address": "email", "First Name": "first_name", "NOTES": "attribute:first_name"},
            "mapping.NOTES",
            "would both become the attribute first_name",
        ),
        ({"Email Address": "email", "Emial": "name"}, "mapping.Emial", "The file has no column 'Emial'"),
        ({"Email Address": "email", "TAGS": "labels"}, "mapping.TAGS", "'labels' is not something a column can become"),
        ({"Email Address": "email", "TAGS": "attribute:"}, "mapping.TAGS", "Give the attribute a name"),
        (["email"], "mapping", "one target per column"),
        ({"Email Address": 3}, "mapping", "object of column names and targets"),
    ],
)
def test_a_bad_mapping_is_refused_with_a_sentence_naming_the_column(mapping, field, message):
    with pytest.raises(ValidationError, match=message) as caught:
        parse_csv(fixture("mailchimp_subscribed.csv"), mapping)
    assert field in caught.value.fields


def test_a_guess_never_gives_two_columns_the_same_target():
    guess = import_columns.guess_columns(["Email", "E-mail address", "Name", "Full name", ""])
    assert guess.columns == ["email", "attribute:e_mail_address", "name", "attribute:full_name", "ignore"]
    import_columns.check_columns(["Email", "E-mail address", "Name", "Full name", ""], guess.columns)
