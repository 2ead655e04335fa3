"""Automation: what a shop or an app tells Herald about people (customer events: carts, orders,
wishlists, milestones, anything custom), the product catalogue, and who watches a product (a
wishlist, or "tell me when it is back")."""

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import JSONType, UTCDateTime, utcnow


class CustomerEvent(db.Model):
    """One thing a person did, as the API reported it (`POST /events`), or Herald derived (a price
    drop, a restock): flows start and wait on these, segments ask about them, the person's page
    shows them. `idempotency_key`: the same key again is a duplicate, stored once."""

    __tablename__ = "customer_events"
    __table_args__ = (UniqueConstraint("workspace_id", "idempotency_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(60))
    properties: Mapped[dict] = mapped_column(JSONType, default=dict)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(10), default="api")  # api | herald (derived)


Index("ix_customer_events_person", CustomerEvent.subscriber_id, CustomerEvent.occurred_at)
Index("ix_customer_events_type", CustomerEvent.workspace_id, CustomerEvent.type, CustomerEvent.occurred_at)


class Product(db.Model):
    """A product of the workspace's shop, kept by `PUT /products/{sku}`."""

    __tablename__ = "products"
    __table_args__ = (UniqueConstraint("workspace_id", "sku"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    sku: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(300))
    url: Mapped[str | None] = mapped_column(String(2000))
    image_url: Mapped[str | None] = mapped_column(String(2000))
    price: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    currency: Mapped[str] = mapped_column(String(3))
    in_stock: Mapped[bool] = mapped_column(default=True)
    inventory: Mapped[int | None] = mapped_column()  # None: not counted
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ProductWatch(db.Model):
    """A person watching a product: on their wishlist (a lower price raises `price_dropped`, a
    restock `back_in_stock`), or asking to be told when it is back (`restock`, told once)."""

    __tablename__ = "product_watches"
    __table_args__ = (UniqueConstraint("subscriber_id", "product_id", "kind"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # wishlist | restock
    price_at: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))  # the price when they wished for it
    notified_price: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))  # the last drop told about
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Flow(db.Model):
    """An automation: a trigger and a sequence of steps (emails, waits, conditions…) people go
    through one by one (app/services/automation/flows.py). Editing a live flow makes a new version:
    new entrants follow it, people already inside finish the version they started."""

    __tablename__ = "flows"
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(10), default="draft")  # draft | active | paused | archived
    # {"type": "event", "event": "cart_updated", "filters": [...]} | list | segment | date | api
    trigger: Mapped[dict] = mapped_column(JSONType, default=dict)
    # The draft's steps (a tree: conditions hold "yes" and "no" lists), edited until activated.
    steps: Mapped[list] = mapped_column(JSONType, default=list)
    goals: Mapped[list] = mapped_column(JSONType, default=list)  # [{"event": "order_placed"}]: reached, they leave
    reentry: Mapped[dict] = mapped_column(
        JSONType, default=dict
    )  # {"mode": "once"} | {"mode": "again", "after_days": N}
    quiet_hours: Mapped[dict | None] = mapped_column(JSONType)  # {"start": 21, "end": 8}, the recipient's time
    recipe: Mapped[str | None] = mapped_column(String(40))  # the ready-made flow it started from
    # The version new entrants follow (no foreign key: versions point here).
    version_id: Mapped[int | None] = mapped_column()
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class FlowVersion(db.Model):
    """The steps as they were activated: `steps` (the tree) and `plan` (each step by id with where it
    leads: next, or yes/no), which the engine reads."""

    __tablename__ = "flow_versions"
    __table_args__ = (UniqueConstraint("flow_id", "number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    flow_id: Mapped[int] = mapped_column(ForeignKey("flows.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column()
    trigger: Mapped[dict] = mapped_column(JSONType, default=dict)
    steps: Mapped[list] = mapped_column(JSONType, default=list)
    plan: Mapped[dict] = mapped_column(JSONType, default=dict)
    first_step: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FlowEnrollment(db.Model):
    """A person in a flow: the step they are at and when it is due. One active enrollment per
    person and flow (a partial unique index); `cycle` counts their entries into the flow."""

    __tablename__ = "flow_enrollments"
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    flow_id: Mapped[int] = mapped_column(ForeignKey("flows.id", ondelete="CASCADE"))
    version_id: Mapped[int] = mapped_column(ForeignKey("flow_versions.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"), index=True)
    # active -> completed (the last step) | goal (a goal reached) | exited (an exit step, unsubscribed…)
    status: Mapped[str] = mapped_column(String(10), default="active")
    step_id: Mapped[str | None] = mapped_column(String(40))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    context: Mapped[dict] = mapped_column(JSONType, default=dict)  # the trigger's event, what waits saw
    cycle: Mapped[int] = mapped_column(default=1)
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    exit_reason: Mapped[str | None] = mapped_column(String(200))


Index("ix_flow_enrollments_due", FlowEnrollment.status, FlowEnrollment.due_at)
Index("ix_flow_enrollments_flow_step", FlowEnrollment.flow_id, FlowEnrollment.status, FlowEnrollment.step_id)
Index(
    "uq_flow_enrollments_active",
    FlowEnrollment.flow_id,
    FlowEnrollment.subscriber_id,
    unique=True,
    postgresql_where=FlowEnrollment.status == "active",
    sqlite_where=FlowEnrollment.status == "active",
)


class FlowStepRun(db.Model):
    """A step done for an enrollment, once (the unique key): what it did (sent, skipped and why,
    waited, which branch). The per-step counts of the flow's page are counts of these."""

    __tablename__ = "flow_step_runs"
    __table_args__ = (UniqueConstraint("enrollment_id", "step_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    enrollment_id: Mapped[int] = mapped_column(ForeignKey("flow_enrollments.id", ondelete="CASCADE"))
    flow_id: Mapped[int] = mapped_column(ForeignKey("flows.id", ondelete="CASCADE"))
    step_id: Mapped[str] = mapped_column(String(40))
    outcome: Mapped[str] = mapped_column(String(60))
    ran_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


Index("ix_flow_step_runs_flow_step", FlowStepRun.flow_id, FlowStepRun.step_id)
