"""Wallet credit spent at checkout: held with the order, spent when it is paid,
given back when it is cancelled unpaid.

The resident's wallet (`wallet:<user id>`, a liability of the platform) is debited
at checkout and the credit sits in `wallet:held` until the payment is booked (it
then pays the shops like card money: they are paid in full) or the order is
released (back to the wallet, once). Each step is one balanced ledger transaction
whose reference names the order, so posting it again changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from marketplace import ledger
from marketplace.extensions import db
from marketplace.models import AccountKind

from ..models import Order, SubOrder

# Stripe refuses a euro charge under 0,50 €: the wallet never leaves less than that
# to the card (it pays all, or leaves at least this much).
CARD_MINIMUM_CENTS = 50


def credit_to_use(credit_cents: int, total_cents: int) -> int:
    """How much of `credit_cents` pays an order of `total_cents`: all of it up to the
    total, but never leaving the card less than Stripe's minimum charge."""
    used = max(min(credit_cents, total_cents), 0)
    rest = total_cents - used
    if 0 < rest < CARD_MINIMUM_CENTS:
        used = max(total_cents - CARD_MINIMUM_CENTS, 0)
    return used


def hold(order: Order) -> int:
    """Set aside the resident's credit for this order (the wallet row locked until
    the transaction ends, so two checkouts cannot both spend it); returns the cents
    held, also kept as order.wallet_cents. The order must be flushed."""
    # Read unlocked first: a resident without credit gets no wallet account made.
    if ledger.wallet_credit(order.user_id) <= 0:
        return 0
    used = credit_to_use(ledger.lock_wallet(order.user_id), order.total_cents)
    order.wallet_cents = used
    if used:
        ledger.post(
            "wallet-hold",
            f"wallet-hold:{order.public_id}",
            f"Crédit réservé pour la commande {order.public_id}",
            [(ledger.wallet(order.user_id), used), (ledger.WALLET_HELD, -used)],
        )
    return used


def release(order: Order) -> None:
    """The order was cancelled before payment: its held credit back to the wallet."""
    if order.wallet_cents:
        ledger.post(
            "wallet-release",
            f"wallet-release:{order.public_id}",
            f"Crédit rendu, commande {order.public_id} annulée",
            [
                (ledger.WALLET_HELD, order.wallet_cents),
                (ledger.wallet(order.user_id), -order.wallet_cents),
            ],
        )


def released(order: Order) -> bool:
    """Whether the order's held credit went back to the wallet already."""
    if not order.wallet_cents:
        return False
    return ledger.posted(f"wallet-release:{order.public_id}")


def refund_account(order: Order) -> tuple[str, AccountKind, str]:
    """Where the wallet part of a refund goes: the resident's wallet; but for a
    payment that arrived after its order was cancelled (and its credit already
    given back), to `wallet:held`, which the late payment's booking debited: the
    wallet is never credited twice."""
    return ledger.WALLET_HELD if released(order) else ledger.wallet(order.user_id)


def wallet_shares(subs: Iterable[SubOrder]) -> dict[int, int]:
    """For the shops' pages: the part of each sub-order the wallet paid, the order's
    credit spread over its sub-orders in proportion to their totals (largest
    remainders get the cents left), in one query. Sub-orders without credit: absent."""
    order_ids = {s.order_id for s in subs if s.order.wallet_cents}
    if not order_ids:
        return {}
    rows = db.session.execute(
        select(SubOrder.id, SubOrder.order_id, SubOrder.items_cents + SubOrder.delivery_fee_cents)
        .where(SubOrder.order_id.in_(order_ids))
        .order_by(SubOrder.id)
    ).all()
    totals: dict[int, dict[int, int]] = {}
    for sub_id, order_id, total in rows:
        totals.setdefault(order_id, {})[sub_id] = int(total)
    credit = {s.order_id: s.order.wallet_cents for s in subs}
    shares: dict[int, int] = {}
    for order_id, by_sub in totals.items():
        shares.update(spread(credit[order_id], by_sub))
    return shares


def spread(amount: int, weights: dict[int, int]) -> dict[int, int]:
    """`amount` split in proportion to `weights`, to the cent (largest remainders)."""
    total = sum(weights.values())
    if total <= 0:
        return dict.fromkeys(weights, 0)
    shares = {k: amount * w // total for k, w in weights.items()}
    left = amount - sum(shares.values())
    for key in sorted(weights, key=lambda k: -(amount * weights[k] % total))[:left]:
        shares[key] += 1
    return shares
