"""What the loyalty pages and the API read: a person's account with its ledger, the program's figures,
its top accounts and its latest entries (each one query, whatever the number of rows)."""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select

from app.extensions import db
from app.models import LoyaltyAccount, LoyaltyProgram, LoyaltyTransaction, Subscriber
from app.services.growth.loyalty import get_program, next_tier, points_value

MAX_LEDGER = 200
T = LoyaltyTransaction


@dataclass(frozen=True)
class AccountView:
    """A person's points: balance, lifetime points, tier and the next one, what the balance is worth, and
    the latest ledger entries (newest first). A person without an account has 0 points and no entries."""

    subscriber_id: int
    email: str
    balance: int
    lifetime_points: int
    tier: str | None
    next_tier: dict | None
    value: Decimal | None
    currency: str | None
    entries: list = field(default_factory=list)
    created_at: datetime | None = None


def account_view(workspace_id: int, sub: Subscriber, limit: int = 100, program=None) -> AccountView:
    """`sub` must be the workspace's (the caller looked it up)."""
    program = program or get_program(workspace_id)
    account = (
        db.session.scalar(
            select(LoyaltyAccount).where(
                LoyaltyAccount.program_id == program.id, LoyaltyAccount.subscriber_id == sub.id
            )
        )
        if program
        else None
    )
    balance = account.balance if account else 0
    lifetime = account.lifetime_points if account else 0
    entries = ledger_of(account.id, limit) if account and limit else []
    return AccountView(
        subscriber_id=sub.id,
        email=sub.email,
        balance=balance,
        lifetime_points=lifetime,
        tier=account.tier if account else None,
        next_tier=next_tier(program.tiers, lifetime) if program else None,
        value=points_value(program, balance) if program else None,
        currency=program.currency if program else None,
        entries=entries,
        created_at=account.created_at if account else None,
    )


def subscriber_card(workspace_id: int, sub: Subscriber) -> AccountView | None:
    """A person's points for their subscriber page (no entries); None when the workspace has no program."""
    program = get_program(workspace_id)
    return account_view(workspace_id, sub, limit=0, program=program) if program else None


def ledger_of(account_id: int, limit: int = 100) -> list[LoyaltyTransaction]:
    return list(
        db.session.scalars(
            select(T).where(T.account_id == account_id).order_by(T.id.desc()).limit(max(1, min(limit, MAX_LEDGER)))
        )
    )


@dataclass(frozen=True)
class Figures:
    accounts: int
    outstanding: int  # points held, over every account
    lifetime: int


def figures(program: LoyaltyProgram) -> Figures:
    a = LoyaltyAccount
    n, held, lifetime = db.session.execute(
        select(
            func.count(), func.coalesce(func.sum(a.balance), 0), func.coalesce(func.sum(a.lifetime_points), 0)
        ).where(a.program_id == program.id)
    ).one()
    return Figures(n, int(held), int(lifetime))


@dataclass(frozen=True)
class AccountRow:
    subscriber_id: int
    email: str
    balance: int
    lifetime_points: int
    tier: str | None


def top_accounts(program: LoyaltyProgram, limit: int = 20) -> list[AccountRow]:
    """The accounts holding the most points."""
    a = LoyaltyAccount
    rows = db.session.execute(
        select(a.subscriber_id, Subscriber.email, a.balance, a.lifetime_points, a.tier)
        .join(Subscriber, Subscriber.id == a.subscriber_id)
        .where(a.program_id == program.id)
        .order_by(a.balance.desc(), a.id)
        .limit(limit)
    ).all()
    return [AccountRow(*r) for r in rows]


@dataclass(frozen=True)
class EntryRow:
    entry: LoyaltyTransaction
    subscriber_id: int
    email: str


def recent_entries(program: LoyaltyProgram, limit: int = 50) -> list[EntryRow]:
    """The program's latest ledger entries, with whose they are."""
    a = LoyaltyAccount
    rows = db.session.execute(
        select(T, a.subscriber_id, Subscriber.email)
        .join(a, a.id == T.account_id)
        .join(Subscriber, Subscriber.id == a.subscriber_id)
        .where(a.program_id == program.id)
        .order_by(T.id.desc())
        .limit(limit)
    ).all()
    return [EntryRow(*r) for r in rows]
