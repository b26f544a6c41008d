"""Refunds, full or partial per sub-order, through Stripe; the platform commission.

Money in integer cents. At payment, each sub-order's commission is frozen on it:
HT = the sum over its lines of apply_rate(line, rate) (rounded once per line,
delivery fees outside the base), VAT = apply_rate(HT, vat rate). The payment is
booked as: debit Stripe clearing; credit the shop (total − commission TTC), the
platform's commission revenue (HT) and the VAT collected.

A refund is allocated to the lines it gives back (a line or a quantity of it, or an
amount spread over what remains, largest remainders first) and reverses, per line,
apply_rate(refunded after) − apply_rate(refunded before): the sum telescopes, so a
sub-order refunded in several steps reverses exactly the commission booked, to the
cent. The VAT is reversed the same way on the cumulative HT.

An order paid partly or wholly with wallet credit (Order.wallet_cents) is refunded
to the card first, up to what the card paid for the whole order and has not had
back, and the rest to the wallet (Refund.wallet_cents): Stripe sees the card part
only, and the ledger credits Stripe clearing and the wallet with their parts. The
shop's side (its payable, the commission reversed) does not depend on the split.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select

from delivery.models import ShipmentStatus
from delivery.operations.shipments import shipment_for_sub_order
from marketplace import events, ledger
from marketplace.extensions import db
from marketplace.i18n import money
from marketplace.models import AccountKind, FulfilmentMethod, Territory, User, utcnow
from marketplace.money import apply_rate
from marketplace.payments import PaymentError, gateway

from ..models import Order, Payment, PaymentStatus, Refund, SubOrder, SubOrderStatus
from . import wallet
from .errors import TransitionError
from .orders import NotAllowed, is_staff_of, transition

log = logging.getLogger(__name__)

PLATFORM_COMMISSION = (
    "platform:commission",
    AccountKind.REVENUE,
    "Commissions de la plateforme (HT)",
)
VAT_COLLECTED = (
    "platform:vat-collected",
    AccountKind.LIABILITY,
    "TVA collectée sur les commissions",
)
DELIVERY = "delivery"  # allocation key of the delivery fee
LIVE = ("pending", "succeeded")  # refunds that count against what remains
S = SubOrderStatus
# After a delivery too (a return, a damaged parcel), as after a collection.
REFUNDABLE = {
    *(S.PAID, S.ACCEPTED, S.PREPARING, S.READY, S.COLLECTED, S.REFUSED, S.CANCELLED),
    *(S.DELIVERED, S.DELIVERY_FAILED),
}


class RefundError(ValueError):
    """Refused before anything was sent (bad amount, line or quantity)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class RefundFailed(Exception):
    """The payment provider refused the refund; the Refund row is marked failed.

    The caller should still commit, so the failure is on record (it is retried for
    cancelled and refused sub-orders by the scheduled task).
    """

    def __init__(self, refund: Refund) -> None:
        super().__init__(f"refund {refund.id} failed")
        self.refund = refund


@dataclass(frozen=True)
class Commission:
    ht: int
    vat: int

    @property
    def ttc(self) -> int:
        return self.ht + self.vat


def freeze_commission(sub: SubOrder) -> Commission:
    """The sub-order's commission, computed once at payment with the territory's
    rates then, and kept on the sub-order (later rate changes do not touch it)."""
    if sub.commission_ht_cents is None or sub.commission_vat_cents is None:
        territory = db.session.get(Territory, sub.order.territory_id)
        assert territory is not None
        sub.commission_rate_bp = territory.commission_rate_bp
        sub.commission_vat_bp = territory.commission_vat_bp
        sub.commission_ht_cents = sum(
            apply_rate(line.total_cents, territory.commission_rate_bp) for line in sub.lines
        )
        sub.commission_vat_cents = apply_rate(sub.commission_ht_cents, territory.commission_vat_bp)
    return Commission(sub.commission_ht_cents, sub.commission_vat_cents)


PLATFORM_DELIVERY = (
    "platform:delivery",
    AccountKind.LIABILITY,
    "Frais de livraison dus aux coursiers et transporteurs",
)
COURIER_METHODS = (FulfilmentMethod.EXPRESS, FulfilmentMethod.STANDARD)


def courier_fee(sub: SubOrder, delivery_cents: int) -> int:
    """The part of a delivery fee that is the couriers' or carriers', not the shop's."""
    return delivery_cents if sub.fulfilment_method in COURIER_METHODS else 0


def payment_entries(sub: SubOrder) -> list[tuple[tuple[str, AccountKind, str], int]]:
    """The credits of one paid sub-order (the debit is Stripe clearing's): the shop
    gets the total less the commission TTC and less an express or standard delivery
    fee, which goes to `platform:delivery`; the commission is on the items only."""
    commission = freeze_commission(sub)
    to_couriers = courier_fee(sub, sub.delivery_fee_cents or 0)
    return [
        (ledger.shop_payable(sub.shop_id), -(sub.total_cents - commission.ttc - to_couriers)),
        (PLATFORM_COMMISSION, -commission.ht),
        (VAT_COLLECTED, -commission.vat),
        (PLATFORM_DELIVERY, -to_couriers),
    ]


# --- what was paid and what remains -------------------------------------------------


def succeeded_payment(order: Order) -> Payment | None:
    paid = [p for p in order.payments if p.status is PaymentStatus.SUCCEEDED]
    return paid[-1] if paid else None


def _lock_payments(sub: SubOrder) -> None:
    """Refunds of one order's sub-orders share its card: one at a time. Locked after
    the sub-order, as the state changes that refund (refuse, cancel) lock it first."""
    db.session.execute(
        select(Payment.id)
        .where(Payment.order_id == sub.order_id)
        .order_by(Payment.id)
        .with_for_update()
    )


def card_refundable_cents(payment: Payment) -> int:
    """What the card paid and has not had back yet (over every sub-order)."""
    card_refunded = db.session.scalar(
        select(func.coalesce(func.sum(Refund.amount_cents - Refund.wallet_cents), 0)).where(
            Refund.payment_id == payment.id, Refund.status.in_(LIVE)
        )
    )
    return max(payment.amount_cents - int(card_refunded or 0), 0)


def paid_cents(sub: SubOrder) -> int:
    return sub.total_cents if succeeded_payment(sub.order) is not None else 0


def live_refunds(sub: SubOrder) -> list[Refund]:
    return list(
        db.session.scalars(
            select(Refund)
            .where(Refund.sub_order_id == sub.id, Refund.status.in_(LIVE))
            .order_by(Refund.id)
        )
    )


def refunded_cents(sub: SubOrder) -> int:
    return sum(r.amount_cents for r in live_refunds(sub))


def refundable_cents(sub: SubOrder) -> int:
    """What can still be refunded: paid for this sub-order minus earlier refunds."""
    return max(paid_cents(sub) - refunded_cents(sub), 0)


def succeeded_refunds_by_sub(sub_ids: list[int]) -> dict[int, list[Refund]]:
    """The refunds made per sub-order, oldest first, in one query (for the order page)."""
    found: dict[int, list[Refund]] = {sub_id: [] for sub_id in sub_ids}
    if sub_ids:
        for refund in db.session.scalars(
            select(Refund)
            .where(Refund.sub_order_id.in_(sub_ids), Refund.status == "succeeded")
            .order_by(Refund.id)
        ):
            found[refund.sub_order_id].append(refund)
    return found


def _sum_by_sub(sub_ids: list[int], column: Any) -> dict[int, int]:
    if not sub_ids:
        return {}
    rows = db.session.execute(
        select(Refund.sub_order_id, func.sum(column))
        .where(Refund.sub_order_id.in_(sub_ids), Refund.status.in_(LIVE))
        .group_by(Refund.sub_order_id)
    )
    return {sub_id: int(total) for sub_id, total in rows if total}


def refunded_by_sub(sub_ids: list[int]) -> dict[int, int]:
    """Refunded so far per sub-order, in one query (for lists)."""
    return _sum_by_sub(sub_ids, Refund.amount_cents)


def refunded_to_wallet_by_sub(sub_ids: list[int]) -> dict[int, int]:
    """Of what was refunded per sub-order, the part given back to the wallet."""
    return _sum_by_sub(sub_ids, Refund.wallet_cents)


def refunded_by_key(sub_ids: Iterable[int]) -> dict[str, int]:
    """Refunded so far per allocation key (an order line's id as text, "delivery"
    for a lone sub-order's fee) over these sub-orders, in one query."""
    done: dict[str, int] = {}
    ids = list(sub_ids)
    if not ids:
        return done
    allocations = db.session.scalars(
        select(Refund.allocation).where(Refund.sub_order_id.in_(ids), Refund.status.in_(LIVE))
    )
    for allocation in allocations:
        for key, cents in (allocation or {}).items():
            done[key] = done.get(key, 0) + int(cents)
    return done


def remaining_by_line(sub: SubOrder) -> dict[str, int]:
    """Cents still refundable per allocation key (line id as text, "delivery")."""
    done = refunded_by_key([sub.id])
    buckets = {str(line.id): line.total_cents for line in sub.lines}
    if sub.delivery_fee_cents:
        buckets[DELIVERY] = sub.delivery_fee_cents
    return {key: total - done.get(key, 0) for key, total in buckets.items()}


def _allocate(amount: int, remaining: Mapping[str, int]) -> dict[str, int]:
    """Spread `amount` over the buckets in proportion to what remains in each;
    the cents left by rounding down go to the largest remainders."""
    total = sum(remaining.values())
    keys = list(remaining)
    shares = {k: amount * remaining[k] // total for k in keys}
    left = amount - sum(shares.values())
    by_remainder = sorted(keys, key=lambda k: (-(amount * remaining[k] % total), keys.index(k)))
    for key in by_remainder[:left]:
        shares[key] += 1
    return {k: v for k, v in shares.items() if v}


def _line_allocation(
    sub: SubOrder, lines: Mapping[int, int], remaining: Mapping[str, int]
) -> dict[str, int]:
    by_id = {line.id: line for line in sub.lines}
    allocation: dict[str, int] = {}
    for line_id, quantity in lines.items():
        line = by_id.get(line_id)
        if line is None:
            raise RefundError("line_id", _("Cette ligne n'appartient pas à la commande."))
        if quantity < 1 or quantity > line.quantity:
            raise RefundError(
                "quantity", _("La quantité doit être entre 1 et %(n)d.", n=line.quantity)
            )
        cents = line.unit_price_cents * quantity
        if cents > remaining.get(str(line.id), 0):
            raise RefundError("quantity", _("Cette ligne est déjà remboursée."))
        allocation[str(line.id)] = cents
    return allocation


def _commission_reversal(
    sub: SubOrder, allocation: Mapping[str, int], remaining: Mapping[str, int], prior: list[Refund]
) -> Commission:
    if sub.commission_ht_cents is None:
        return Commission(0, 0)  # paid before commissions were booked
    rate, vat_bp = sub.commission_rate_bp or 0, sub.commission_vat_bp or 0
    totals = {str(line.id): line.total_cents for line in sub.lines}
    ht = 0
    for key, cents in allocation.items():
        if key == DELIVERY:
            continue
        before = totals[key] - remaining[key]
        ht += apply_rate(before + cents, rate) - apply_rate(before, rate)
    ht_before = sum(r.commission_ht_cents for r in prior)
    vat = apply_rate(ht_before + ht, vat_bp) - apply_rate(ht_before, vat_bp)
    return Commission(ht, vat)


# --- refunding ----------------------------------------------------------------------


def _parcel_still_with_carrier(sub: SubOrder) -> bool:
    """A parcel whose delivery failed but that the carrier has not returned: it may
    still be delivered, so refunding it now could leave the resident both."""
    if (
        sub.status is not S.DELIVERY_FAILED
        or sub.fulfilment_method is not FulfilmentMethod.STANDARD
    ):
        return False
    shipment = shipment_for_sub_order(sub.id)
    return shipment is not None and shipment.status is not ShipmentStatus.RETURNED


def refund(
    sub: SubOrder,
    actor: User | None,
    actor_kind: str,
    *,
    amount_cents: int | None = None,
    lines: Mapping[int, int] | None = None,
    reason: str = "",
) -> Refund:
    """Refund part or all of a paid sub-order, booked in the ledger: to the card
    first, up to what it paid for the whole order and has not had back (through
    Stripe), the rest to the resident's wallet (Refund.wallet_cents).

    Give either `lines` ({order line id: quantity}) or `amount_cents`. Raises
    RefundError (nothing sent), TransitionError (wrong state) or RefundFailed (the
    provider refused; a failed row is kept). Fully refunded → status REFUNDED.
    The caller checks who may refund (see views); this checks the money.
    """
    db.session.refresh(sub, attribute_names=["status"], with_for_update=True)
    _lock_payments(sub)
    if sub.status not in REFUNDABLE:
        raise TransitionError(sub.status.value)
    if _parcel_still_with_carrier(sub):
        raise RefundError(
            "amount",
            _("Le colis est encore chez le transporteur : remboursez-le une fois revenu."),
        )
    payment = succeeded_payment(sub.order)
    if payment is None:
        raise RefundError("amount", _("Rien n'a été payé pour cette commande."))
    prior = live_refunds(sub)
    remaining = remaining_by_line(sub)
    left = sum(remaining.values())
    if lines:
        allocation = _line_allocation(sub, lines, remaining)
    elif amount_cents is not None:
        if amount_cents <= 0:
            raise RefundError("amount", _("Le montant doit être positif."))
        if amount_cents > left:
            raise RefundError(
                "amount",
                _("Au plus %(amount)s restent remboursables.", amount=money(left)),
            )
        allocation = _allocate(amount_cents, remaining)
    else:
        raise RefundError("amount", _("Indiquez un montant ou une ligne à rembourser."))
    amount = sum(allocation.values())
    if amount <= 0 or amount > left:
        raise RefundError("amount", _("Rien à rembourser."))
    commission = _commission_reversal(sub, allocation, remaining, prior)
    card = min(amount, card_refundable_cents(payment))
    rank = 1 + (db.session.scalar(select(func.count()).where(Refund.sub_order_id == sub.id)) or 0)
    row = Refund(
        payment_id=payment.id,
        sub_order_id=sub.id,
        amount_cents=amount,
        wallet_cents=amount - card,
        reason=reason[:300],
        status="pending",
        idempotency_key=f"refund-{sub.reference}-{rank}",
        allocation=allocation,
        commission_ht_cents=commission.ht,
        commission_vat_cents=commission.vat,
        actor_id=actor.id if actor else None,
        actor_kind=actor_kind,
    )
    db.session.add(row)
    db.session.flush()
    assert row.idempotency_key is not None
    if card:  # Stripe hears of the card part only, not at all when there is none
        try:
            row.provider_refund_id = gateway().refund(
                payment.intent_id, card, key=row.idempotency_key
            )
        except PaymentError as exc:
            row.status = "failed"
            row.processed_at = utcnow()
            db.session.flush()
            log.warning("refund %s of sub-order %s failed", row.id, sub.id)
            raise RefundFailed(row) from exc
    row.status = "succeeded"
    row.processed_at = utcnow()
    to_couriers = courier_fee(sub, allocation.get(DELIVERY, 0))
    ledger.post(
        "refund",
        f"refund:{row.idempotency_key}",
        f"Remboursement {sub.reference}",
        [
            (ledger.STRIPE_CLEARING, -card),
            (wallet.refund_account(sub.order), -row.wallet_cents),
            (ledger.shop_payable(sub.shop_id), amount - commission.ttc - to_couriers),
            (PLATFORM_COMMISSION, commission.ht),
            (VAT_COLLECTED, commission.vat),
            (PLATFORM_DELIVERY, to_couriers),
        ],
    )
    if amount == left:
        transition(sub, S.REFUNDED, actor, actor_kind, reason)
    events.suborder_refunded.send(sub, refund=row, full=amount == left)
    return row


def refund_remaining(
    sub: SubOrder, actor: User | None, actor_kind: str, reason: str
) -> Refund | None:
    """Refund whatever remains of a sub-order (nothing if nothing was paid)."""
    left = refundable_cents(sub)
    if left <= 0:
        return None
    return refund(sub, actor, actor_kind, amount_cents=left, reason=reason)


def refund_late_payment(order: Order) -> int:
    """A payment that succeeded after its order was cancelled: the order stays
    cancelled and every sub-order is refunded in full. Idempotent (what was
    refunded already is not refunded again); returns the cents refunded now."""
    total = 0
    for sub in order.sub_orders:
        if sub.status is S.PENDING_PAYMENT:
            transition(sub, S.CANCELLED, None, "system", "paiement reçu après annulation")
        if sub.status not in REFUNDABLE:
            continue
        try:
            row = refund_remaining(sub, None, "system", "paiement reçu après annulation")
        except RefundFailed:
            log.warning("late payment refund of sub-order %s failed; retried later", sub.id)
            continue
        total += row.amount_cents if row else 0
    return total


def retry_failed_refunds(limit: int = 100) -> int:
    """Refund again the cancelled or refused sub-orders whose refund failed."""
    failed = select(Refund.sub_order_id).where(Refund.status == "failed")
    subs = db.session.scalars(
        select(SubOrder)
        .where(
            SubOrder.status.in_([S.CANCELLED, S.REFUSED]),
            SubOrder.id.in_(failed),
        )
        .order_by(SubOrder.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=SubOrder)
    ).all()
    done = 0
    for sub in subs:
        try:
            if refund_remaining(sub, None, "system", "nouvelle tentative de remboursement"):
                done += 1
        except RefundFailed:
            log.warning("refund of sub-order %s failed again", sub.id)
    return done


def refund_by_shop(
    sub: SubOrder,
    actor: User | None,
    *,
    amount_cents: int | None = None,
    lines: Mapping[int, int] | None = None,
    reason: str = "",
) -> Refund:
    """A refund the shop's staff decides (a line, a quantity or an amount)."""
    if actor is None or not is_staff_of(sub, actor):
        raise NotAllowed("not staff of this shop")
    return refund(sub, actor, "shop", amount_cents=amount_cents, lines=lines, reason=reason)
