"""What a Cityzen's dashboard shows: links and their clicks, attributed sales,
rewards by state, and the wallet (its credit and its movements, from the ledger)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import joinedload, selectinload

from marketplace import ledger
from marketplace.extensions import db
from marketplace.models import LedgerAccount, LedgerEntry, LedgerTransaction
from merchants.models import Product
from shop.models import OrderLine, SubOrder, SubOrderStatus
from shop.operations.refunds import refunded_by_key

from ..models import Attribution, AttributionStatus, Cityzen, Recommendation, ReferralClick
from .rewards import line_reward

A = AttributionStatus
MOVEMENTS_SHOWN = 100
S = SubOrderStatus
# A line sold through a link counts as a sale once paid, unless its sub-order was
# cancelled, refused or refunded in full (the resident got everything back).
SOLD = (
    SubOrder.commission_rate_bp.is_not(None),
    SubOrder.status.not_in([S.CANCELLED, S.REFUSED, S.REFUNDED]),
)


# The kinds of transaction that touch a wallet whose text names a product after
# " : " (see rewards._description): pages show their own label and that product.
PRODUCT_KINDS = ("reward", "reward-reversal")


@dataclass(frozen=True)
class Movement:
    at: datetime
    kind: str  # reward, reward-reversal, wallet-hold, wallet-release, refund, …
    description: str  # the ledger's text (French)
    amount_cents: int  # credit for the resident: positive adds to the wallet

    @property
    def detail(self) -> str:
        """What the pages add to their label of the kind: the product of a reward."""
        if self.kind not in PRODUCT_KINDS:
            return ""
        return self.description.partition(" : ")[2]


def wallet_movements(user_id: int, limit: int = MOVEMENTS_SHOWN) -> list[Movement]:
    """The entries of the user's wallet account, newest first, whatever their kind."""
    rows = db.session.execute(
        select(LedgerTransaction.created_at, LedgerTransaction.kind, LedgerTransaction.description)
        .add_columns(LedgerEntry.amount)
        .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(LedgerAccount.code == ledger.wallet(user_id)[0])
        .order_by(LedgerTransaction.created_at.desc(), LedgerTransaction.id.desc())
        .limit(limit)
    ).all()
    return [Movement(at, kind, text, -amount) for at, kind, text, amount in rows]


@dataclass(frozen=True)
class LinkStats:
    recommendation: Recommendation
    clicks: int
    sales: int  # attributed lines sold (see SOLD)
    sales_cents: int


@dataclass(frozen=True)
class Sale:
    attribution: Attribution
    line: OrderLine
    reward_cents: int  # credited now, or what it would be if due now (pending)


@dataclass(frozen=True)
class Rewards:
    pending_cents: int
    credited_cents: int  # ever credited (before reversals)
    reversed_cents: int


def link_stats(cityzen: Cityzen) -> list[LinkStats]:
    # Standing links first; withdrawn and hidden ones after.
    gone = or_(Recommendation.withdrawn_at.is_not(None), Recommendation.hidden_at.is_not(None))
    recs = list(
        db.session.scalars(
            select(Recommendation)
            .where(Recommendation.cityzen_id == cityzen.id)
            .options(selectinload(Recommendation.product).joinedload(Product.shop))
            .order_by(gone, Recommendation.updated_at.desc())
        )
    )
    ids = [r.id for r in recs]
    clicks = dict(
        db.session.execute(
            select(ReferralClick.recommendation_id, func.count())
            .where(ReferralClick.recommendation_id.in_(ids))
            .group_by(ReferralClick.recommendation_id)
        ).all()
    )
    sales = {
        rec_id: (count, cents)
        for rec_id, count, cents in db.session.execute(
            select(
                Attribution.recommendation_id,
                func.count(),
                func.sum(OrderLine.unit_price_cents * OrderLine.quantity),
            )
            .join(OrderLine, OrderLine.id == Attribution.order_line_id)
            .join(SubOrder, SubOrder.id == Attribution.sub_order_id)
            .where(Attribution.recommendation_id.in_(ids), *SOLD)
            .group_by(Attribution.recommendation_id)
        ).all()
    }
    return [
        LinkStats(r, clicks.get(r.id, 0), *(int(v or 0) for v in sales.get(r.id, (0, 0))))
        for r in recs
    ]


def attributed_sales(user_id: int, limit: int = 100) -> list[Sale]:
    """The Cityzen's attributed lines of paid orders, newest first."""
    atts = db.session.scalars(
        select(Attribution)
        .join(SubOrder, SubOrder.id == Attribution.sub_order_id)
        .where(Attribution.cityzen_user_id == user_id, SubOrder.commission_rate_bp.is_not(None))
        .order_by(Attribution.created_at.desc(), Attribution.id.desc())
        .limit(limit)
        .options(joinedload(Attribution.order_line), joinedload(Attribution.sub_order))
    ).all()
    refunded = refunded_by_key({a.sub_order_id for a in atts if a.status is A.PENDING})
    return [
        Sale(
            a,
            a.order_line,
            line_reward(a, refunded.get(str(a.order_line_id), 0))
            if a.status is A.PENDING
            else a.reward_cents,
        )
        for a in atts
    ]


def reward_totals(sales: list[Sale]) -> Rewards:
    pending = sum(s.reward_cents for s in sales if s.attribution.status is A.PENDING)
    reversed_ = sum(s.attribution.reversed_cents for s in sales)
    credited = sum(
        s.attribution.reward_cents + s.attribution.reversed_cents
        for s in sales
        if s.attribution.status in (A.CREDITED, A.REVERSED)
    )
    return Rewards(pending, credited, reversed_)


@dataclass(frozen=True)
class Figures:
    """The collectivité's view of the Cityzens (no personal data)."""

    cityzens: int
    sales: int  # articles sold through their links (see SOLD)
    sales_cents: int
    rewards_credited_cents: int
    wallet_credit_cents: int


def figures() -> Figures:
    cityzens = db.session.scalar(select(func.count()).where(Cityzen.active.is_(True))) or 0
    count, cents = db.session.execute(
        select(
            func.coalesce(func.sum(OrderLine.quantity), 0),
            func.coalesce(func.sum(OrderLine.unit_price_cents * OrderLine.quantity), 0),
        )
        .select_from(Attribution)
        .join(OrderLine, OrderLine.id == Attribution.order_line_id)
        .join(SubOrder, SubOrder.id == Attribution.sub_order_id)
        .where(*SOLD)
    ).one()
    credited = db.session.scalar(select(func.coalesce(func.sum(Attribution.reward_cents), 0)))
    # Every resident's wallet (held credit apart): what the platform owes them.
    owed = db.session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount), 0))
        .join(LedgerAccount)
        .where(LedgerAccount.code.like("wallet:%"), LedgerAccount.code != ledger.WALLET_HELD[0])
    )
    return Figures(int(cityzens), int(count), int(cents), int(credited or 0), -int(owed or 0))
