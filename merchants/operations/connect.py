"""Stripe Connect onboarding of a shop (owners only), and its account's state.

The owner's button creates the shop's connected account once (an idempotency key
per shop on Stripe's side, the shop row locked on ours), then a single-use
AccountLink to Stripe's hosted onboarding, with refresh and return URLs back to the
shop's payout page. The state (details submitted, charges and payouts enabled) is
read again from Stripe on the return page and on each `account.updated` event,
rather than trusted from an event's payload: events may arrive out of order.
Settlement pays by Connect transfer only once payouts are enabled, else by SEPA.
Add and flush, never commit.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from flask import current_app
from sqlalchemy import select

from marketplace.extensions import db
from marketplace.models import utcnow
from marketplace.payments import ConnectedAccount, PaymentError, gateway

from ..models import PayoutAccount, Shop

log = logging.getLogger(__name__)

ACCOUNT_TYPES = ("express", "standard")


def account_type() -> str:
    kind = str(current_app.config.get("STRIPE_CONNECT_ACCOUNT_TYPE") or "express")
    return kind if kind in ACCOUNT_TYPES else "express"


def connected_account(shop: Shop) -> PayoutAccount | None:
    return db.session.get(PayoutAccount, shop.id)


def _apply(account: PayoutAccount, state: ConnectedAccount) -> PayoutAccount:
    account.details_submitted = state.details_submitted
    account.charges_enabled = state.charges_enabled
    account.payouts_enabled = state.payouts_enabled
    account.synced_at = utcnow()
    db.session.flush()
    return account


def start_onboarding(shop: Shop, refresh_url: str, return_url: str) -> str:
    """The URL of Stripe's onboarding for the shop's account, created on first use.

    Raises PaymentError (nothing written) when Stripe refuses."""
    db.session.execute(select(Shop.id).where(Shop.id == shop.id).with_for_update())
    account = connected_account(shop)
    if account is None:
        kind = account_type()
        state = gateway().create_connected_account(shop.id, kind)
        account = PayoutAccount(shop_id=shop.id, stripe_account_id=state.id, account_type=kind)
        db.session.add(account)
        _apply(account, state)
        log.info("shop %s: Stripe Connect account created", shop.id)
    return gateway().onboarding_link(account.stripe_account_id, refresh_url, return_url)


def refresh(shop: Shop) -> PayoutAccount | None:
    """The account's state read again from Stripe (the return page).

    Raises PaymentError when Stripe cannot be read."""
    account = connected_account(shop)
    if account is None:
        return None
    return _apply(account, gateway().retrieve_account(account.stripe_account_id))


def on_account_updated(obj: Mapping[str, object]) -> str:
    """`account.updated`: the state of one of our shops' accounts, from Stripe."""
    account = db.session.scalar(
        select(PayoutAccount).where(PayoutAccount.stripe_account_id == str(obj.get("id")))
    )
    if account is None:
        log.warning("account.updated for an account that is no shop's ignored")
        return "unknown-account"
    try:
        state = gateway().retrieve_account(account.stripe_account_id)
    except PaymentError:
        # Stripe unreachable: the event's own copy (signed, so Stripe's word).
        state = ConnectedAccount(
            id=account.stripe_account_id,
            details_submitted=bool(obj.get("details_submitted")),
            charges_enabled=bool(obj.get("charges_enabled")),
            payouts_enabled=bool(obj.get("payouts_enabled")),
        )
    _apply(account, state)
    log.info("shop %s: Stripe Connect account updated", account.shop_id)
    return "account-updated"
