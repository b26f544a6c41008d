"""Issue 6's money movements end to end with the real parts: a Cityzen's shared link,
a resident's card payment through localstripe confirmed by its signed webhook to a
live server, the shop's queue, the reward run on a real Celery worker, the credit
spent (wallet alone, then wallet and card), a refund card first then wallet, the
shop's settlement paid by a Connect transfer (our localstripe double), and the
reconciliation task on the same worker finding no difference with Stripe.

The worker is a process of this test, on the settlement tests' Redis database, with
the session's localstripe as its Stripe (the shared worker of conftest.py has none).

The clock: `ambassadors.credit_rewards` takes no "now" (it credits what is due at
the worker's real time), so once the handover set the attribution's eligible_at to
14 days ahead, the test moves that eligible_at into the past (as the reward tests do)
instead of the clock. `start_run` takes `now`: the run is made as the weekly one would
be after this week ends and the 7-day hold passes (the week in progress has not ended).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from admin import tasks as admin_tasks
from admin.settlement import operations as settle_ops
from admin.settlement.models import (
    PayoutMethod,
    ReconciliationReport,
    Settlement,
    SettlementItem,
    SettlementStatus,
)
from ambassadors import tasks as cz_tasks
from ambassadors.models import Attribution, AttributionStatus, Recommendation
from ambassadors.operations import VISITOR_COOKIE
from marketplace import ledger
from marketplace.extensions import db
from marketplace.models import LedgerEntry, LedgerTransaction, Role, User, utcnow
from marketplace.money import apply_rate
from marketplace.payments import gateway
from merchants.models import PayoutAccount, Shop, Variant
from shop.models import Order, OrderStatus, Refund, SubOrder, SubOrderStatus
from tests.admin.test_reconciliation import onboard
from tests.factories import (
    DEFAULT_PASSWORD,
    CommuneFactory,
    ShopFactory,
    UserFactory,
    VariantFactory,
    add_staff,
)
from tests.helpers import csrf_token, login, main_text
from tests.shop.test_order_flow import add_to_basket, pay_with_card
from tests.shop.test_orders import logout, staff_post

from .conftest import Worker, run_worker, wait_for
from .test_settlement_faults import settle_redis  # noqa: F401 - fixture

pytestmark = pytest.mark.integration

S = SubOrderStatus
WEBHOOK_TIMEOUT = 10.0
TASK_TIMEOUT = 30.0
BOOK, BOOKMARK = 5990, 250  # the recommended product, and a small one
REWARD = 359  # 3 % of 2 × 59,90 = 359,4 cents, rounded half up
LEFT = REWARD - BOOKMARK  # the credit left for the book
REFUND = 5900  # the shop's partial refund of the book


@pytest.fixture
def stripe_worker(
    committed_app: Flask,
    settle_redis: str,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> Iterator[Worker]:
    """A real worker on the test database and Redis, with the session's localstripe
    as its Stripe (transfers and reconciliation talk to it)."""
    committed_app.extensions["localstripe"].flush()  # the reconciliation lists everything
    cfg = committed_app.config
    worker = run_worker(
        "cityzens",
        settle_redis,
        tmp_path / "worker.log",
        tmp_path / "mail",
        STRIPE_API_BASE=cfg["STRIPE_API_BASE"],
        STRIPE_SECRET_KEY=cfg["STRIPE_SECRET_KEY"],
        STRIPE_WEBHOOK_SECRET=cfg["STRIPE_WEBHOOK_SECRET"],
    )
    try:
        yield worker
    finally:
        worker.stop()
        # Settlement ids start again at 1 in the next test's emptied database: a
        # transfer left here under "settlement-1" would be taken for its payout.
        committed_app.extensions["localstripe"].flush()


# --- reading what the other processes committed ----------------------------------------


def fresh(model: Any, row_id: int) -> Any:
    db.session.rollback()  # a fresh snapshot: the live server and the worker commit
    return db.session.get(model, row_id, populate_existing=True)


def last_order(user: User) -> Order:
    db.session.rollback()
    order = db.session.scalars(
        select(Order).where(Order.user_id == user.id).order_by(Order.id.desc())
    ).first()
    assert order is not None
    return order


def paid_by_webhook(order: Order) -> None:
    wait_for(
        lambda: fresh(Order, order.id).status is OrderStatus.PAID,
        WEBHOOK_TIMEOUT,
        "localstripe's signed webhook to mark the order paid",
    )


def attributions_of(order: Order) -> list[Attribution]:
    db.session.rollback()
    subs = [s.id for s in order.sub_orders]
    return list(db.session.scalars(select(Attribution).where(Attribution.sub_order_id.in_(subs))))


def wallet_page_credit(client: FlaskClient) -> str:
    page = client.get("/cityzens/mon-credit").text
    found = re.search(r'data-testid="wallet-credit">([^<]+)<', page)
    assert found, main_text(page)
    return found.group(1).replace("\xa0", " ").replace("\u202f", " ").strip()


# --- the pages --------------------------------------------------------------------------


def become_cityzen_and_recommend(client: FlaskClient, cityzen: User, book: Variant) -> str:
    """Opt in and recommend through the pages; returns the shared link's code."""
    login(client, cityzen.email, DEFAULT_PASSWORD)
    token = csrf_token(client, "/cityzens/")
    opted = client.post(
        "/cityzens/",
        data={"csrf_token": token, "display_name": "Léa des livres", "accept_rules": "y"},
    )
    assert opted.status_code == 302, main_text(opted.text)
    page = f"/cityzens/recommander/{book.product_id}"
    made = client.post(
        page, data={"csrf_token": csrf_token(client, page), "comment": "Un beau livre à offrir."}
    )
    assert made.status_code == 302, main_text(made.text)
    db.session.rollback()
    code = db.session.scalar(
        select(Recommendation.code).where(Recommendation.product_id == book.product_id)
    )
    assert code is not None
    assert f"/r/{code}" in client.get("/cityzens/mon-credit").text  # the link to share
    logout(client)
    return code


def checkout(client: FlaskClient, shop: Shop, use_wallet: bool) -> Any:
    page = client.get("/commande").text
    key = re.search(r'name="checkout_key"[^>]*value="([^"]+)"', page)
    assert key, main_text(page)
    data = {
        "csrf_token": csrf_token(client, "/commande"),
        "checkout_key": key.group(1),
        "name": "Camille Martin",
        "email": "camille@example.org",
        "phone": "06 12 34 56 78",
        f"fulfilment-{shop.id}": "click_and_collect",
    }
    if use_wallet:
        assert 'name="use_wallet"' in page
        data["use_wallet"] = "y"
    response = client.post("/commande", data=data)
    assert response.status_code == 302, main_text(response.text)
    return response


def hand_over(client: FlaskClient, owner: User, sub: SubOrder) -> None:
    """The shop's queue: accept, prepare, ready, handed over with the pickup code."""
    login(client, owner.email, DEFAULT_PASSWORD)
    for action in ("accepter", "preparer", "prete"):
        assert staff_post(client, sub, action).status_code == 303
    assert staff_post(client, sub, "remettre", code=sub.pickup_code).status_code == 303
    assert fresh(SubOrder, sub.id).status is S.COLLECTED
    logout(client)


# --- the ledger -------------------------------------------------------------------------


def unbalanced_transactions() -> list[tuple[str, int]]:
    db.session.rollback()
    return [
        (reference, int(total))
        for reference, total in db.session.execute(
            select(LedgerTransaction.reference, func.sum(LedgerEntry.amount))
            .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
            .group_by(LedgerTransaction.id)
            .having(func.sum(LedgerEntry.amount) != 0)
        )
    ]


def commission(cents: int) -> tuple[int, int]:
    """Commission HT (5,5 %) and its VAT (20 %) on a one-line sale, as for a card sale."""
    ht = apply_rate(cents, 550)
    return ht, apply_rate(ht, 2000)


@dataclass
class Town:
    shop: Shop
    book: Variant
    bookmark: Variant
    owner: User
    cityzen: User
    resident: User
    account_id: str  # the shop's connected account (localstripe's Connect double)


@pytest.fixture
def town(committed_app: Flask, stripe_worker: Worker, live_server: str) -> Town:
    shop = ShopFactory(commune=CommuneFactory(name="Marmande", slug="marmande"), name="Le Port")
    book = VariantFactory(product__shop=shop, product__name="Beau livre", price_cents=BOOK)
    bookmark = VariantFactory(product__shop=shop, product__name="Marque-page", price_cents=BOOKMARK)
    owner = UserFactory(roles=[Role.MERCHANT])
    add_staff(shop, owner)
    account = gateway().create_connected_account(shop.id, "express")
    onboard(account.id)
    db.session.add(
        PayoutAccount(shop_id=shop.id, stripe_account_id=account.id, payouts_enabled=True)
    )
    town = Town(
        shop,
        book,
        bookmark,
        owner,
        UserFactory(roles=[Role.RESIDENT]),
        UserFactory(roles=[Role.RESIDENT]),
        account.id,
    )
    db.session.commit()
    return town


# --- the story, step by step -------------------------------------------------------------


def resident_buys_through_the_link(client: FlaskClient, town: Town) -> tuple[str, Order]:
    """The Cityzen recommends; the resident follows the link, signs in and pays by card,
    confirmed by localstripe's webhook. Returns the link's code and the order."""
    code = become_cityzen_and_recommend(client, town.cityzen, town.book)
    shared = client.get(f"/r/{code}")
    assert shared.status_code == 200 and "Un beau livre à offrir." in shared.text
    assert VISITOR_COOKIE in shared.headers.get("Set-Cookie", "")
    assert client.get_cookie(VISITOR_COOKIE, domain="comptoir.test") is not None
    login(client, town.resident.email, DEFAULT_PASSWORD)
    assert add_to_basket(client, "/panier", town.book.id, 2).status_code == 302
    checkout(client, town.shop, use_wallet=False)
    order = last_order(town.resident)
    assert (order.total_cents, order.card_cents, order.wallet_cents) == (2 * BOOK, 2 * BOOK, 0)
    assert pay_with_card(client, order).json["status"] == "succeeded"
    paid_by_webhook(order)
    (att,) = attributions_of(order)
    assert (att.cityzen_user_id, att.rate_bp, att.status, att.eligible_at) == (
        town.cityzen.id,
        300,
        AttributionStatus.PENDING,
        None,
    )
    logout(client)
    return code, order


def reward_run(attribution_id: int, fulfilled_after: datetime, town: Town) -> None:
    """The worker's reward run: nothing before the 14 days, then credited once."""
    att = fresh(Attribution, attribution_id)
    assert att.eligible_at is not None
    assert fulfilled_after + timedelta(days=14) <= att.eligible_at
    assert att.eligible_at <= utcnow() + timedelta(days=14)
    assert cz_tasks.credit_rewards.delay().get(timeout=TASK_TIMEOUT) == 0
    assert fresh(Attribution, att.id).status is AttributionStatus.PENDING
    # 14 days later (see the module's docstring): the run sent twice credits once.
    att.eligible_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    runs = [cz_tasks.credit_rewards.delay(), cz_tasks.credit_rewards.delay()]
    assert [run.get(timeout=TASK_TIMEOUT) for run in runs] == [1, 0]  # a solo worker: in turn
    att = fresh(Attribution, att.id)
    assert (att.status, att.reward_cents) == (AttributionStatus.CREDITED, REWARD)
    assert REWARD == apply_rate(2 * BOOK, 300) < commission(2 * BOOK)[0]  # not capped
    rewards = db.session.scalars(
        select(LedgerTransaction.reference).where(LedgerTransaction.kind == "reward")
    ).all()
    assert rewards == [f"reward:{att.id}"]
    assert ledger.wallet_credit(town.cityzen.id) == REWARD
    assert ledger.wallet_credit(town.resident.id) == 0


def cityzen_spends(client: FlaskClient, town: Town, code: str) -> tuple[Order, Order]:
    """A bookmark paid by the wallet alone, then the book (through their own link: no
    reward on one's own purchase) by the rest of the credit and the card."""
    login(client, town.cityzen.email, DEFAULT_PASSWORD)
    assert wallet_page_credit(client) == "3,59 €"
    assert add_to_basket(client, "/panier", town.bookmark.id, 1).status_code == 302
    checkout(client, town.shop, use_wallet=True)
    wallet_only = last_order(town.cityzen)
    assert wallet_only.status is OrderStatus.PAID
    assert (wallet_only.wallet_cents, wallet_only.card_cents) == (BOOKMARK, 0)
    assert client.get(f"/r/{code}").status_code == 200
    assert add_to_basket(client, "/panier", town.book.id, 1).status_code == 302
    checkout(client, town.shop, use_wallet=True)
    mixed = last_order(town.cityzen)
    assert (mixed.wallet_cents, mixed.card_cents) == (LEFT, BOOK - LEFT)
    assert pay_with_card(client, mixed).json["status"] == "succeeded"
    paid_by_webhook(mixed)
    assert attributions_of(wallet_only) == [] and attributions_of(mixed) == []
    assert ledger.wallet_credit(town.cityzen.id) == 0
    logout(client)
    return wallet_only, mixed


def shop_refunds(client: FlaskClient, town: Town, sub: SubOrder) -> Refund:
    """59,00 of the 59,90 book: 58,81 back to the card, then 0,19 to the wallet."""
    login(client, town.owner.email, DEFAULT_PASSWORD)
    assert staff_post(client, sub, "rembourser", amount="59,00").status_code == 303
    logout(client)
    db.session.rollback()
    refund = db.session.scalars(select(Refund)).one()
    assert (refund.amount_cents, refund.card_cents, refund.wallet_cents) == (
        REFUND,
        BOOK - LEFT,
        REFUND - (BOOK - LEFT),
    )
    stripe_refund = gateway().client.v1.refunds.retrieve(refund.provider_refund_id or "")
    assert stripe_refund.amount == refund.card_cents
    return refund


def settle_on_the_worker(subs: dict[int, int], refund: Refund, town: Town) -> Settlement:
    """This week's run, made as after the week and its 7-day hold; the settle task sent
    twice to the worker pays once, by a Connect transfer, what card sales would pay."""
    week = settle_ops.week_of(utcnow())
    (settlement_id,) = settle_ops.start_run(*week, now=week[1] + timedelta(days=7, hours=3))
    db.session.commit()
    sent = [admin_tasks.settle.delay(settlement_id), admin_tasks.settle.delay(settlement_id)]
    assert [s.get(timeout=TASK_TIMEOUT) for s in sent] == ["paid", "paid"]
    settlement = fresh(Settlement, settlement_id)
    assert (settlement.status, settlement.payout_method) == (
        SettlementStatus.PAID,
        PayoutMethod.STRIPE,
    )
    # Sales at their full price whatever paid them (not the card's 119,80 + 58,81).
    assert (settlement.sales_cents, settlement.sales_count) == (sum(subs.values()), 3)
    assert (settlement.refunds_cents, settlement.refunds_count) == (REFUND, 1)
    items = db.session.execute(
        select(SettlementItem.sub_order_id, SettlementItem.amount_cents).where(
            SettlementItem.kind == "sale"
        )
    ).all()
    assert dict(items) == subs
    for sub_id, amount in subs.items():  # the commission of a card sale of the line
        sub = fresh(SubOrder, sub_id)
        assert (sub.commission_ht_cents, sub.commission_vat_cents) == commission(amount)
    card_only_net = sum(amount - sum(commission(amount)) for amount in subs.values())
    refund_net = REFUND - refund.commission_ht_cents - refund.commission_vat_cents
    assert settlement.payout_cents == card_only_net - refund_net
    assert settlement.payout_cents == (
        settlement.sales_cents
        - settlement.refunds_cents
        - settlement.commission_ht_cents
        - settlement.commission_vat_cents
    )
    transfers = gateway().client.v1.transfers.list(params={"destination": town.account_id})
    assert [(t.id, t.amount) for t in transfers.data] == [
        (settlement.transfer_id, settlement.payout_cents)
    ]
    payouts = db.session.scalars(
        select(LedgerTransaction.reference).where(LedgerTransaction.kind == "payout")
    ).all()
    assert payouts == [f"payout:settlement:{settlement_id}"]
    assert ledger.balance(ledger.shop_payable(town.shop.id)[0]) == 0
    return settlement


def reconciled_on_the_worker(since: datetime, moved: int) -> None:
    """The daily reconciliation task, on the worker, for each Paris day of the test."""
    moments = (since, datetime.now(UTC))
    paris_days = sorted({moment.astimezone(settle_ops.PARIS).date() for moment in moments})
    for day in paris_days:
        assert admin_tasks.reconcile.delay(day.isoformat()).get(timeout=TASK_TIMEOUT) == 0
    db.session.rollback()
    reports = db.session.scalars(select(ReconciliationReport)).all()
    assert len(reports) == len(paris_days)
    assert all(r.difference_count == 0 and r.differences == [] for r in reports)
    # Two card payments, one refund to the card, one transfer: on both sides.
    assert sum(r.stripe_count for r in reports) == sum(r.ledger_count for r in reports) == 4
    assert sum(r.stripe_cents for r in reports) == sum(r.ledger_cents for r in reports) == moved


def clear_of_the_week_boundary(margin: timedelta = timedelta(minutes=2)) -> None:
    """Everything this test does falls in one settlement week (the handovers and the
    refund happen now): if the week ends within `margin`, start after it."""
    end = settle_ops.week_of(utcnow())[1]
    if end - utcnow() < margin:
        time.sleep((end - utcnow()).total_seconds() + 1)


def test_cityzen_reward_spent_refunded_settled_and_reconciled(
    committed_client: FlaskClient, town: Town
) -> None:
    clear_of_the_week_boundary()
    client, started = committed_client, utcnow()
    code, first = resident_buys_through_the_link(client, town)
    hand_over(client, town.owner, first.sub_orders[0])
    (att,) = attributions_of(first)
    reward_run(att.id, started, town)

    wallet_only, mixed = cityzen_spends(client, town, code)
    for order in (wallet_only, mixed):
        hand_over(client, town.owner, order.sub_orders[0])
    refund = shop_refunds(client, town, mixed.sub_orders[0])
    sales = {
        first.sub_orders[0].id: 2 * BOOK,
        wallet_only.sub_orders[0].id: BOOKMARK,
        mixed.sub_orders[0].id: BOOK,
    }
    settlement = settle_on_the_worker(sales, refund, town)

    # Every transaction balanced; the wallet and the rewards expense to the cent.
    assert unbalanced_transactions() == []
    assert db.session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount), 0))) == 0
    assert ledger.wallet_credit(town.cityzen.id) == REWARD - BOOKMARK - LEFT + refund.wallet_cents
    assert ledger.wallet_credit(town.cityzen.id) == 19
    assert ledger.balance(ledger.PLATFORM_REWARDS[0]) == REWARD
    assert ledger.balance(ledger.WALLET_HELD[0]) == 0
    moved = 2 * BOOK + mixed.card_cents - refund.card_cents - settlement.payout_cents
    assert ledger.balance(ledger.STRIPE_CLEARING[0]) == moved
    login(client, town.cityzen.email, DEFAULT_PASSWORD)
    assert wallet_page_credit(client) == "0,19 €"
    logout(client)
    reconciled_on_the_worker(started, moved)
