"""What the referral pages and the API read: each program's figures (visits -> signups -> completed ->
rewarded), its top referrers, the rewards it gave, its referrals with both people's addresses, and a
subscriber's links. Each is a few grouped queries, however many referrals a program has."""

from dataclasses import dataclass, field

from sqlalchemy import case, func, select
from sqlalchemy.orm import aliased

from app.extensions import db
from app.models import Referral, ReferralCode, ReferralProgram, Subscriber
from app.services.growth import referrals
from app.services.pagination import paginate

TOP_REFERRERS = 10
REACHED_COMPLETED = ("completed", "rewarded")  # a rewarded referral was completed on the way


@dataclass
class Figures:
    """A program's funnel: share-link visits, friends who signed up, their referrals' states."""

    visits: int = 0
    referrers: int = 0  # people with a code
    signups: int = 0
    pending: int = 0
    completed: int = 0  # reached completed (rewarded ones included)
    rewarded: int = 0
    expired: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def figures(program_ids: list[int]) -> dict[int, Figures]:
    """Each program's Figures, in two queries."""
    out = {pid: Figures() for pid in program_ids}
    if not program_ids:
        return out
    codes = db.session.execute(
        select(ReferralCode.program_id, func.coalesce(func.sum(ReferralCode.visits), 0), func.count())
        .where(ReferralCode.program_id.in_(program_ids))
        .group_by(ReferralCode.program_id)
    )
    for pid, visits, people in codes:
        out[pid].visits, out[pid].referrers = int(visits), people
    counts = db.session.execute(
        select(Referral.program_id, Referral.status, func.count())
        .where(Referral.program_id.in_(program_ids))
        .group_by(Referral.program_id, Referral.status)
    )
    for pid, status, n in counts:
        f = out[pid]
        f.signups += n
        if status in REACHED_COMPLETED:
            f.completed += n
        if status in ("pending", "rewarded", "expired"):
            setattr(f, status, getattr(f, status) + n)
    return out


def programs_with_figures(workspace_id: int) -> list[tuple[ReferralProgram, Figures]]:
    """Every program of the workspace, newest first, with its figures (three queries)."""
    programs = list(db.session.scalars(referrals.list_programs(workspace_id)))
    counts = figures([p.id for p in programs])
    return [(p, counts[p.id]) for p in programs]


@dataclass(frozen=True)
class Referrer:
    subscriber_id: int
    email: str
    visits: int
    signups: int
    completed: int


def top_referrers(program_id: int, limit: int = TOP_REFERRERS) -> list[Referrer]:
    """The people whose friends completed most (then signed up most), with their links' visits."""
    done = func.sum(case((Referral.status.in_(REACHED_COMPLETED), 1), else_=0))
    rows = db.session.execute(
        select(ReferralCode.subscriber_id, Subscriber.email, ReferralCode.visits, func.count(Referral.id), done)
        .join(Subscriber, Subscriber.id == ReferralCode.subscriber_id)
        .join(Referral, Referral.code_id == ReferralCode.id)
        .where(ReferralCode.program_id == program_id)
        .group_by(ReferralCode.subscriber_id, Subscriber.email, ReferralCode.visits)
        .order_by(done.desc(), func.count(Referral.id).desc(), ReferralCode.subscriber_id)
        .limit(limit)
    )
    return [
        Referrer(sid, email, visits or 0, signups, int(completed or 0))
        for sid, email, visits, signups, completed in rows
    ]


@dataclass
class Given:
    """One side's rewards: coupon codes issued, points credited, points owed (no loyalty ledger to take them)."""

    codes: int = 0
    points_awarded: int = 0
    points_owed: int = 0


@dataclass
class RewardsGiven:
    referrer: Given = field(default_factory=Given)
    friend: Given = field(default_factory=Given)

    @property
    def any(self) -> bool:
        return any(vars(self.referrer).values()) or any(vars(self.friend).values())


def rewards_given(program_id: int) -> RewardsGiven:
    """What the program's rewarded referrals gave, read from their `rewards` a thousand rows at a time."""
    out = RewardsGiven()
    stmt = select(Referral.rewards).where(Referral.program_id == program_id, Referral.status == "rewarded")
    for rewards in db.session.scalars(stmt.execution_options(yield_per=1000)):
        for side in ("referrer", "friend"):
            reward, given = (rewards or {}).get(side) or {}, getattr(out, side)
            if reward.get("code"):
                given.codes += 1
            elif reward.get("type") == "points":
                points = int(reward.get("value") or 0)
                if reward.get("status") == "awarded":
                    given.points_awarded += points
                else:
                    given.points_owed += points
    return out


@dataclass(frozen=True)
class ReferralRow:
    referral: Referral
    referrer_email: str
    friend_email: str


def referral_rows(items: list[Referral]) -> list[ReferralRow]:
    """The referrals with both people's addresses, in one query."""
    ids = {r.referrer_id for r in items} | {r.friend_id for r in items}
    stmt = select(Subscriber.id, Subscriber.email).where(Subscriber.id.in_(ids))
    emails = dict(db.session.execute(stmt).all()) if ids else {}
    return [ReferralRow(r, emails.get(r.referrer_id, ""), emails.get(r.friend_id, "")) for r in items]


@dataclass
class ProgramPage:
    program: ReferralProgram
    figures: Figures
    top: list[Referrer]
    rewards: RewardsGiven
    recent: list[ReferralRow]
    total: int


def program_page(workspace_id: int, program_id, page: int, per_page: int, status: str | None = None) -> ProgramPage:
    """Everything a program's page shows; `recent` is one page of its referrals (`status`: only those)."""
    program = referrals.get_program(workspace_id, program_id)
    items, total = paginate(referrals.list_referrals(workspace_id, program.id, status), page, per_page)
    return ProgramPage(
        program=program,
        figures=figures([program.id])[program.id],
        top=top_referrers(program.id),
        rewards=rewards_given(program.id),
        recent=referral_rows(items),
        total=total,
    )


@dataclass(frozen=True)
class SubscriberLink:
    """A subscriber's place in a program: their link (None until one is drawn) and their friends so far."""

    program: ReferralProgram
    url: str | None
    visits: int
    signups: int
    completed: int


def subscriber_links(workspace_id: int, subscriber_id: int) -> list[SubscriberLink]:
    """The workspace's programs that are not archived, with the subscriber's link and friends in each."""
    code = aliased(ReferralCode)
    done = func.sum(case((Referral.status.in_(REACHED_COMPLETED), 1), else_=0))
    rows = db.session.execute(
        select(ReferralProgram, code.code, code.visits, func.count(Referral.id), done)
        .outerjoin(code, (code.program_id == ReferralProgram.id) & (code.subscriber_id == subscriber_id))
        .outerjoin(Referral, Referral.code_id == code.id)
        .where(ReferralProgram.workspace_id == workspace_id, ReferralProgram.status != "archived")
        .group_by(ReferralProgram.id, code.code, code.visits)
        .order_by(ReferralProgram.id.desc())
    ).all()
    return [
        SubscriberLink(program, referrals.landing_url(c) if c else None, visits or 0, signups, int(completed or 0))
        for program, c, visits, signups, completed in rows
    ]
