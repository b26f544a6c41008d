"""Attribution of order lines to Cityzens and their rewards in the wallet ledger.

- `order_placed`: each line of a product someone recommended is attributed to the
  latest click (last click wins) on a standing recommendation of that product, made
  within the attribution window by the buyer (signed in) or from the buyer's browser
  (the visitor cookie of the checkout request). Clicks on the buyer's own
  recommendations do not count. The reward rate is frozen then.
- `suborder_fulfilled`: the reward becomes due after the withdrawal period.
- `suborder_status_changed` to cancelled or refused (never fulfilled then: an unpaid
  order released, a refusal, an uncollected order): a pending reward is void at once,
  whether or not its refund went through, so no dashboard shows it pending forever.
- `credit_due_rewards(now)`: reward = min(rate × (line − refunded on the line),
  commission HT kept on the line), posted once as "reward:<attribution id>"
  (Dr platform rewards, Cr the Cityzen's wallet); nothing due → void. Each Cityzen
  credited in the run gets one mail (ambassadors/notifications.py).
- `suborder_refunded`: before the credit, the reward is simply computed later on what
  remains; after it, the difference is reversed, once per refund
  ("reward-reversal:<attribution id>:<refund id>", Dr wallet, Cr platform rewards).

A reversal may take the wallet below zero when its credit was already spent: the
wallet then owes the platform, and later rewards pay that back first (the balance is
what it is; a negative wallet credit cannot be spent).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import has_request_context, request
from sqlalchemy import or_, select

from marketplace import ledger
from marketplace.extensions import db
from marketplace.models import utcnow
from marketplace.money import apply_rate
from merchants.models import Variant
from shop.models import Order, OrderLine, Refund, SubOrder, SubOrderStatus
from shop.operations.refunds import refunded_by_key

from ..models import Attribution, AttributionStatus, Cityzen, Recommendation, ReferralClick
from ..notifications import notify_credited
from .cityzens import STANDING
from .rules import rules

VISITOR_COOKIE = "cityzen_ref"
A = AttributionStatus
# A sub-order that reaches one of these was not fulfilled and never will be.
NEVER_FULFILLED = (SubOrderStatus.CANCELLED, SubOrderStatus.REFUSED)


def request_visitor() -> str | None:
    """The browser's visitor token (set by a shared link), when in a request."""
    if not has_request_context():
        return None
    return request.cookies.get(VISITOR_COOKIE) or None


def _last_clicks(
    product_ids: set[int], buyer_id: int, visitor: str | None, since: datetime
) -> dict[int, tuple[int, int]]:
    """Per product, the last click (last click wins) on a standing recommendation of
    it by the buyer or from the buyer's browser since `since`, never on the buyer's
    own: {product id: (recommendation id, its Cityzen's user id)}, in one query."""
    if not product_ids:
        return {}
    by_whom = [ReferralClick.user_id == buyer_id]
    if visitor:
        by_whom.append(ReferralClick.visitor == visitor)
    rows = db.session.execute(
        select(Recommendation.product_id, Recommendation.id, Cityzen.user_id)
        .join(ReferralClick, ReferralClick.recommendation_id == Recommendation.id)
        .join(Cityzen, Cityzen.id == Recommendation.cityzen_id)
        .where(
            Recommendation.product_id.in_(product_ids),
            *STANDING,
            Cityzen.user_id != buyer_id,
            ReferralClick.clicked_at >= since,
            or_(*by_whom),
        )
        .order_by(ReferralClick.clicked_at.desc(), ReferralClick.id.desc())
    ).all()
    latest: dict[int, tuple[int, int]] = {}
    for product_id, recommendation_id, cityzen_user_id in rows:
        latest.setdefault(product_id, (recommendation_id, cityzen_user_id))
    return latest


def attribute_order(order: Order, visitor: str | None = None, now: datetime | None = None) -> int:
    """Attribute the order's lines bought through a shared link; idempotent (a line
    keeps its attribution). Returns how many lines were attributed now. A few
    queries whatever the number of lines (it runs in every checkout)."""
    moment = now or utcnow()
    lines = [(s, line) for s in order.sub_orders for line in s.lines if line.variant_id]
    if not lines:
        return 0
    terms = rules(order.territory_id)
    attributed = set(
        db.session.scalars(
            select(Attribution.order_line_id).where(
                Attribution.order_line_id.in_([line.id for _, line in lines])
            )
        )
    )
    variants = select(Variant.id, Variant.product_id).where(
        Variant.id.in_({line.variant_id for _, line in lines})
    )
    product_of = dict(db.session.execute(variants).all())
    since = moment - timedelta(days=terms.attribution_days)
    latest = _last_clicks(set(product_of.values()), order.user_id, visitor, since)
    made = 0
    for sub, line in lines:
        found = latest.get(product_of.get(line.variant_id or 0, 0))
        if found is None or line.id in attributed:
            continue
        recommendation_id, cityzen_user_id = found
        db.session.add(
            Attribution(
                sub_order_id=sub.id,
                order_line_id=line.id,
                recommendation_id=recommendation_id,
                cityzen_user_id=cityzen_user_id,
                rate_bp=terms.reward_rate_bp,
            )
        )
        made += 1
    db.session.flush()
    return made


def _attributions(sub: SubOrder) -> list[Attribution]:
    """The sub-order's attributions, locked and read afresh: a refund waits for a
    reward run crediting them (then reverses what it credited), and the run skips
    the rows a refund holds (and credits them on its next pass, refund included)."""
    return list(
        db.session.scalars(
            select(Attribution)
            .where(Attribution.sub_order_id == sub.id)
            .order_by(Attribution.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    )


def on_order_placed(order: Order, **_: Any) -> None:
    attribute_order(order, request_visitor())


def on_suborder_fulfilled(sub: SubOrder, **_: Any) -> None:
    """The withdrawal period starts: rewards of the sub-order are due after it (set
    once, at the first fulfilment)."""
    attributions = _attributions(sub)
    if not attributions:
        return
    days = rules(sub.order.territory_id).withdrawal_days
    for att in attributions:
        if att.status is A.PENDING and att.eligible_at is None:
            att.eligible_at = utcnow() + timedelta(days=days)
    db.session.flush()


def on_suborder_status_changed(sub: SubOrder, new: SubOrderStatus, **_: Any) -> None:
    """Cancelled or refused: the sub-order's pending rewards will never be due."""
    if new not in NEVER_FULFILLED:
        return
    for att in _attributions(sub):
        if att.status is A.PENDING:
            att.status = A.VOID
    db.session.flush()


# --- the amount ----------------------------------------------------------------------


def reward_now(att: Attribution) -> int:
    """The reward on what remains of the line (see line_reward)."""
    refunded = refunded_by_key([att.sub_order_id]).get(str(att.order_line_id), 0)
    return line_reward(att, refunded)


def line_reward(att: Attribution, refunded: int) -> int:
    """The reward on the line less `refunded` cents: its rate, capped by the
    commission HT the platform keeps on the line (booked per line at payment, less
    what refunds reversed: the rule of shop/operations/refunds.py)."""
    line: OrderLine = att.order_line
    sub = att.sub_order
    remaining = max(line.total_cents - refunded, 0)
    if sub.commission_rate_bp is None or remaining == 0:
        return 0
    rate = sub.commission_rate_bp
    commission = apply_rate(line.total_cents, rate) - apply_rate(refunded, rate)
    return max(min(apply_rate(remaining, att.rate_bp), commission), 0)


def _description(att: Attribution, what: str = "Récompense Cityzen") -> str:
    """The wallet movement's text, which the Cityzen reads: the product, never the
    buyer's order reference (the ledger reference names the attribution)."""
    return f"{what} : {att.order_line.product_name}"[:300]


def credit(att: Attribution, now: datetime) -> bool:
    """Credit one due reward (or void it when nothing is due); True when credited."""
    amount = reward_now(att)
    if amount <= 0:
        att.status = A.VOID
        return False
    ledger.post(
        "reward",
        f"reward:{att.id}",
        _description(att),
        [(ledger.PLATFORM_REWARDS, amount), (ledger.wallet(att.cityzen_user_id), -amount)],
    )
    att.status = A.CREDITED
    att.reward_cents = amount
    att.credited_at = now
    return True


def credit_due_rewards(now: datetime | None = None, limit: int = 500) -> int:
    """Credit the pending rewards whose withdrawal period has passed; idempotent
    (rows locked, skipped by a concurrent run; each posting once per reference).
    Returns how many were credited."""
    moment = now or utcnow()
    due = db.session.scalars(
        select(Attribution)
        .where(
            Attribution.status == A.PENDING,
            Attribution.eligible_at.is_not(None),
            Attribution.eligible_at <= moment,
        )
        .order_by(Attribution.eligible_at, Attribution.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    credited = [att for att in due if credit(att, moment)]
    db.session.flush()
    # One mail per Cityzen, in the outbox: sent only if the run commits.
    notify_credited(credited)
    return len(credited)


def on_suborder_refunded(sub: SubOrder, refund: Refund | None = None, **_: Any) -> None:
    """Reverse, for each credited reward of a refunded line, what it no longer earns."""
    if refund is None:  # an announcement without its refund row: nothing to allocate
        return
    for att in _attributions(sub):
        if str(att.order_line_id) not in (refund.allocation or {}):
            continue
        if att.status is A.PENDING and reward_now(att) == 0:
            att.status = A.VOID  # nothing left to earn: the dashboard says so at once
        elif att.status is A.CREDITED:
            _reverse(att, refund)
    db.session.flush()


def _reverse(att: Attribution, refund: Refund) -> None:
    reference = f"reward-reversal:{att.id}:{refund.id}"
    difference = att.reward_cents - reward_now(att)
    if difference <= 0 or ledger.posted(reference):
        return
    ledger.post(
        "reward-reversal",
        reference,
        _description(att, "Annulation de récompense Cityzen"),
        [(ledger.wallet(att.cityzen_user_id), difference), (ledger.PLATFORM_REWARDS, -difference)],
    )
    att.reward_cents -= difference
    att.reversed_cents += difference
    if att.reward_cents == 0:
        att.status = A.REVERSED
