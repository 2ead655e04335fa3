"""Migration 0022: tags that imports kept in the attribute `tags` move to the tags table, where the
dashboard, the API and segments read them; the other attributes stay."""

import importlib.util
from pathlib import Path

from sqlalchemy import select, text

from app.extensions import db
from app.models import Subscriber, SubscriberTag
from app.services.audience import segments

_PATH = Path(__file__).resolve().parents[2] / "migrations" / "versions" / "0022_tags_from_attributes.py"


def _statements() -> list[str]:
    spec = importlib.util.spec_from_file_location("migration_0022", _PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.POSTGRESQL if db.engine.dialect.name == "postgresql" else module.SQLITE


def test_tags_kept_as_an_attribute_move_to_the_tags_table(ctx, workspace):
    old = Subscriber(
        workspace_id=workspace.id,
        email="old@example.com",
        attributes={"tags": ["VIP", " beta ", "", "vip"], "plan": "pro"},
    )
    text_tags = Subscriber(workspace_id=workspace.id, email="odd@example.com", attributes={"tags": "not a list"})
    db.session.add_all([old, text_tags])
    db.session.commit()
    for statement in _statements():
        db.session.execute(text(statement))
    db.session.commit()
    db.session.expire_all()
    tags = set(db.session.scalars(select(SubscriberTag.tag).where(SubscriberTag.subscriber_id == old.id)))
    assert tags == {"vip", "beta"}
    assert db.session.get(Subscriber, old.id).attributes == {"plan": "pro"}
    assert db.session.get(Subscriber, text_tags.id).attributes == {"tags": "not a list"}  # not ours to read
    assert segments.count(workspace.id, {"field": "tags", "op": "contains", "value": "VIP"}).count == 1
