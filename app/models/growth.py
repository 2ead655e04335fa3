"""Growth: referral programs (a code per person, a landing page, rewards once), loyalty (points
with a ledger whose sum is the balance, never below zero) and gift cards (a balance ledger)."""

from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import JSONType, UTCDateTime, utcnow


class ReferralProgram(db.Model):
    """What a referrer and their friend get (percent, fixed amount or points), for a first order of at
    least `min_order_amount`, within `expiry_days` of the friend signing up."""

    __tablename__ = "referral_programs"
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(10), default="active")  # active | paused | archived
    referrer_reward: Mapped[dict] = mapped_column(JSONType, default=dict)  # {"type": percent|fixed|points, "value"}
    friend_reward: Mapped[dict] = mapped_column(JSONType, default=dict)
    min_order_amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    currency: Mapped[str | None] = mapped_column(String(3))
    expiry_days: Mapped[int] = mapped_column(default=30)
    list_id: Mapped[int | None] = mapped_column(ForeignKey("lists.id", ondelete="SET NULL"))  # friends sign up here
    landing: Mapped[dict] = mapped_column(JSONType, default=dict)  # the landing page's title and text
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ReferralCode(db.Model):
    """A person's unguessable code in a program, and its share link's visits."""

    __tablename__ = "referral_codes"
    __table_args__ = (UniqueConstraint("program_id", "subscriber_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    program_id: Mapped[int] = mapped_column(ForeignKey("referral_programs.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    visits: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Referral(db.Model):
    """A friend who came through a code: pending -> completed (a qualifying first order) -> rewarded
    (once), or expired. One per friend and program."""

    __tablename__ = "referrals"
    __table_args__ = (UniqueConstraint("program_id", "friend_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("referral_programs.id", ondelete="CASCADE"))
    code_id: Mapped[int] = mapped_column(ForeignKey("referral_codes.id", ondelete="CASCADE"))
    referrer_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"), index=True)
    friend_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending | completed | rewarded | expired
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"))
    rewards: Mapped[dict | None] = mapped_column(JSONType)  # what each side got (a code, points)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rewarded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LoyaltyProgram(db.Model):
    """The workspace's points: earned per currency unit spent, redeemed at `redemption_rate` points per
    unit of discount, expiring after `expiry_days` (None: never), with optional tiers."""

    __tablename__ = "loyalty_programs"
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), unique=True)
    status: Mapped[str] = mapped_column(String(10), default="active")  # active | paused
    points_per_unit: Mapped[Decimal] = mapped_column(Numeric(10, 4), default=1)
    redemption_rate: Mapped[Decimal] = mapped_column(Numeric(10, 4), default=100)  # points per 1 unit off
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    expiry_days: Mapped[int | None] = mapped_column()
    # [{"name": "Gold", "min_points": 1000}]: by lifetime points.
    tiers: Mapped[list] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class LoyaltyAccount(db.Model):
    """A person's points: `balance` is the sum of the ledger, kept with it under a row lock, and a
    CHECK keeps it from ever going below zero."""

    __tablename__ = "loyalty_accounts"
    __table_args__ = (
        UniqueConstraint("program_id", "subscriber_id"),
        CheckConstraint("balance >= 0", name="ck_loyalty_accounts_balance"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    program_id: Mapped[int] = mapped_column(ForeignKey("loyalty_programs.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"), index=True)
    balance: Mapped[int] = mapped_column(default=0)
    lifetime_points: Mapped[int] = mapped_column(default=0)
    tier: Mapped[str | None] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class LoyaltyTransaction(db.Model):
    """One entry of an account's ledger: earned (+, with what of it is left to expire), redeemed (−),
    expired (−), adjusted (±). The same idempotency key twice is one entry."""

    __tablename__ = "loyalty_transactions"
    __table_args__ = (UniqueConstraint("account_id", "idempotency_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("loyalty_accounts.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # earned | redeemed | expired | adjusted
    points: Mapped[int] = mapped_column()
    remaining: Mapped[int] = mapped_column(default=0)  # of an earned entry: not yet redeemed nor expired
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"))
    note: Mapped[str | None] = mapped_column(String(500))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class GiftCard(db.Model):
    """A gift card: its code kept only as a hash (and encrypted, to send it again), the last four shown;
    `balance` the sum of its ledger, never below zero."""

    __tablename__ = "gift_cards"
    __table_args__ = (CheckConstraint("balance >= 0", name="ck_gift_cards_balance"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    code_encrypted: Mapped[str] = mapped_column(Text)
    last4: Mapped[str] = mapped_column(String(4))
    initial_amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    balance: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(10), default="active")  # active | redeemed | expired | disabled
    recipient_email: Mapped[str | None] = mapped_column(String(320))
    subscriber_id: Mapped[int | None] = mapped_column(ForeignKey("subscribers.id", ondelete="SET NULL"))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"))
    message: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class GiftCardTransaction(db.Model):
    """One entry of a card's ledger: purchase (+), redemption (−), refund (+), expiry (−), adjustment (±)."""

    __tablename__ = "gift_card_transactions"
    __table_args__ = (UniqueConstraint("card_id", "idempotency_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("gift_cards.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(12))
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    reference: Mapped[str | None] = mapped_column(String(200))  # the shop's order id, a note
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


Index("ix_loyalty_transactions_expiring", LoyaltyTransaction.expires_at, LoyaltyTransaction.remaining)
