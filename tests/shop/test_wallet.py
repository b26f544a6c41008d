"""Wallet credit spent at checkout, through the pages and localstripe: held with the
order, part or all of it; the shops paid in full; given back exactly once when the
order is released; refunds to the card first, then to the wallet; the ledger to the
cent (balanced, and every wallet's credit is the sum of its entries)."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy import func, select

from marketplace import events, ledger
from marketplace.extensions import db
from marketplace.models import (
    FulfilmentMethod,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    Role,
    User,
)
from marketplace.payments import PaymentError, gateway
from shop import operations as ops
from shop.models import (
    Basket,
    BasketLine,
    Order,
    OrderStatus,
    PaymentStatus,
    Refund,
    SubOrder,
    SubOrderStatus,
)
from shop.operations import refunds as refund_ops
from shop.operations import wallet as wallet_ops
from shop.operations.reservations import release_expired, release_order
from tests.factories import (
    DEFAULT_PASSWORD,
    CommuneFactory,
    ShopFactory,
    UserFactory,
    VariantFactory,
    give_credit,
)
from tests.helpers import csrf_token, login, main_text
from tests.shop.test_notifications import mailbox  # noqa: F401 - fixture
from tests.shop.test_order_flow import (
    add_to_basket,
    pay_with_card,
    post_webhook,
    stripe_event_for,
)
from tests.shop.test_orders import logout, staff_post

S = SubOrderStatus
# Basket of every test: 1 book (19,90, shop a) + 2 cheeses (2 × 6,50, shop b) = 32,90.
TOTAL = 3290


def credit(user: Any) -> int:
    return ledger.wallet_credit(user.id)


def held() -> int:
    return -ledger.balance(ledger.WALLET_HELD[0])


def entries_sum() -> int:
    return int(db.session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount), 0))))


def payable(shop: Any) -> int:
    return ledger.balance(ledger.shop_payable(shop.id)[0])


def transactions(kind: str) -> list[LedgerTransaction]:
    return list(db.session.scalars(select(LedgerTransaction).where(LedgerTransaction.kind == kind)))


def text(html: str) -> str:
    return main_text(html).replace("\u202f", " ").replace("\xa0", " ")


def resident_with(cents: int) -> User:
    user = UserFactory(roles=[Role.RESIDENT])
    if cents:
        give_credit(user, cents)
    db.session.commit()
    return user


def checkout_with_wallet(client: Any, two_shops: dict[str, Any], use_wallet: bool = True) -> Any:
    """Basket (1 book, 2 cheeses), then the checkout form with the wallet box ticked."""
    add_to_basket(client, "/panier", two_shops["book"].id, 1)
    add_to_basket(client, "/panier", two_shops["cheese"].id, 2)
    page = client.get("/commande")
    key = re.search(r'name="checkout_key"[^>]*value="([^"]+)"', page.text).group(1)
    data = {
        "csrf_token": csrf_token(client, "/commande"),
        "checkout_key": key,
        "name": "Camille Martin",
        "email": "camille@example.org",
        "phone": "06 12 34 56 78",
        f"fulfilment-{two_shops['a'].id}": "click_and_collect",
        f"fulfilment-{two_shops['b'].id}": "click_and_collect",
    }
    if use_wallet:
        data["use_wallet"] = "y"
    return client.post("/commande", data=data)


def last_order(user: Any) -> Order:
    db.session.expire_all()
    return db.session.scalars(
        select(Order).where(Order.user_id == user.id).order_by(Order.id.desc())
    ).first()


def paid_by_webhook(app: Any, client: Any, order: Order) -> None:
    assert pay_with_card(client, order).json["status"] == "succeeded"
    payload = stripe_event_for(order.payments[0].intent_id)
    assert post_webhook(client, app, payload).json["outcome"] == "paid"


def assert_wallets_are_sums_of_entries() -> None:
    """Each wallet's credit is minus the sum of its entries, never negative."""
    rows = db.session.execute(
        select(LedgerAccount.code, func.sum(LedgerEntry.amount))
        .join(LedgerEntry, LedgerEntry.account_id == LedgerAccount.id)
        .where(LedgerAccount.code.like("wallet:%"))
        .group_by(LedgerAccount.code)
    ).all()
    for code, total in rows:
        if code != ledger.WALLET_HELD[0]:
            user_id = int(code.split(":")[1])
            assert ledger.wallet_credit(user_id) == -int(total) >= 0


# --- the checkout page -------------------------------------------------------------------


def test_checkbox_only_for_a_resident_with_credit(app, client, two_shops):
    poor = resident_with(0)
    login(client, poor.email, DEFAULT_PASSWORD)
    add_to_basket(client, "/panier", two_shops["book"].id, 1)
    page = client.get("/commande").text
    assert 'name="use_wallet"' not in page and "Crédit Comptoir" not in page
    assert "wallet-summary" not in page and "checkout.js" not in page
    logout(client)

    rich = resident_with(1234)
    login(client, rich.email, DEFAULT_PASSWORD)
    add_to_basket(client, "/panier", two_shops["book"].id, 1)
    page = client.get("/commande").text
    box = re.search(r'<input[^>]*name="use_wallet"[^>]*>', page).group(0)
    assert 'type="checkbox"' in box and 'id="use_wallet"' in box
    assert 'aria-describedby="use_wallet-hint"' in box and 'id="use_wallet-hint"' in page
    label = re.search(r'<label for="use_wallet">([^<]*)</label>', page).group(1)
    assert label.replace("\xa0", " ") == "Utiliser mon crédit Comptoir (12,34 € disponibles)"
    # The split is shown once asked (the page's script previews it as the box is ticked).
    assert re.search(r'<p id="wallet-used" hidden>', page)
    assert re.search(r'<p id="card-rest" hidden>', page)
    assert "checkout.js" in page


def test_summary_shows_credit_used_and_rest_by_card(app, client, two_shops):
    resident = resident_with(1000)
    login(client, resident.email, DEFAULT_PASSWORD)
    add_to_basket(client, "/panier", two_shops["book"].id, 1)
    page = client.get("/commande")
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text).group(1)
    # "See deliveries" re-renders the page with the box ticked: the split, computed here.
    shown = client.post(
        "/commande",
        data={"csrf_token": token, "action": "check", "use_wallet": "y", "name": "C"},
    )
    assert shown.status_code == 200
    body = text(shown.text)
    assert "Crédit utilisé : −10,00 €" in body
    assert "Reste à payer par carte : 9,90 €" in body
    box = re.search(r'<input[^>]*name="use_wallet"[^>]*>', shown.text).group(0)
    assert "checked" in box  # kept ticked
    assert 'id="wallet-used" hidden' not in shown.text
    assert db.session.scalar(select(func.count()).select_from(Order)) == 0


# --- paying with the wallet -----------------------------------------------------------


def test_partial_wallet_payment_pays_the_shops_in_full(app, client, two_shops):
    card_only = resident_with(0)
    login(client, card_only.email, DEFAULT_PASSWORD)
    assert checkout_with_wallet(client, two_shops, use_wallet=False).status_code == 302
    reference = last_order(card_only)
    paid_by_webhook(app, client, reference)
    by_card = {"a": payable(two_shops["a"]), "b": payable(two_shops["b"])}
    clearing_before = ledger.balance(ledger.STRIPE_CLEARING[0])
    logout(client)

    resident = resident_with(1000)
    login(client, resident.email, DEFAULT_PASSWORD)
    response = checkout_with_wallet(client, two_shops)
    order = last_order(resident)
    assert response.headers["Location"].endswith(f"/commandes/{order.public_id}/paiement")
    assert (order.total_cents, order.wallet_cents, order.card_cents) == (TOTAL, 1000, 2290)
    payment = order.payments[0]
    assert (payment.provider, payment.amount_cents) == ("stripe", 2290)
    intent = gateway().client.v1.payment_intents.retrieve(payment.intent_id)
    assert intent.amount == 2290  # Stripe is asked for the card's part only
    assert credit(resident) == 0 and held() == 1000
    pay_page = text(client.get(f"/commandes/{order.public_id}/paiement").text)
    assert "Crédit utilisé : −10,00 €" in pay_page
    assert "Reste à payer par carte : 22,90 €" in pay_page and "Payer 22,90 €" in pay_page

    paid_by_webhook(app, client, order)
    db.session.expire_all()
    assert db.session.get(Order, order.id).status is OrderStatus.PAID
    assert held() == 0 and credit(resident) == 0
    # The shops are owed exactly what the card-only order owes them.
    assert payable(two_shops["a"]) == 2 * by_card["a"]
    assert payable(two_shops["b"]) == 2 * by_card["b"]
    assert ledger.balance(ledger.STRIPE_CLEARING[0]) - clearing_before == 2290
    booking = db.session.scalar(
        select(LedgerTransaction).where(
            LedgerTransaction.reference == f"payment:{payment.intent_id}"
        )
    )
    debits = {e.account.code: e.amount for e in booking.entries if e.amount > 0}
    assert debits == {"stripe:clearing": 2290, "wallet:held": 1000}
    assert entries_sum() == 0
    assert_wallets_are_sums_of_entries()
    page = text(client.get(f"/commandes/{order.public_id}").text)
    assert "Payé avec votre crédit Comptoir : 10,00 € · par carte : 22,90 €" in page
    logout(client)
    # Each shop sees its part of the credit (10,00 spread 6,05 / 3,95) and that it
    # is paid in full.
    login(client, two_shops["owner_a"].email, DEFAULT_PASSWORD)
    queue = text(client.get("/boutique/commandes/").text)
    assert (
        "Payé par carte : 13,85 € · avec le crédit Comptoir du client : 6,05 € "
        "(versé par Comptoir : vous êtes payé en totalité)"
    ) in queue


def test_wallet_paying_everything_skips_the_card(app, client, two_shops, mailbox):  # noqa: F811
    resident = resident_with(5000)
    login(client, resident.email, DEFAULT_PASSWORD)
    heard: list[str] = []

    def placed(order: Order, **kwargs: Any) -> None:
        heard.append(f"placed:{order.status.value}")

    def paid(order: Order, **kwargs: Any) -> None:
        heard.append("paid")

    events.order_placed.connect(placed)
    events.order_paid.connect(paid)
    try:
        response = checkout_with_wallet(client, two_shops)
    finally:
        events.order_placed.disconnect(placed)
        events.order_paid.disconnect(paid)
    order = last_order(resident)
    # Straight to the order's page: paid, no card step.
    assert response.headers["Location"].endswith(f"/commandes/{order.public_id}")
    assert heard == ["placed:pending_payment", "paid"]
    assert order.status is OrderStatus.PAID and order.paid_at is not None
    assert {s.status for s in order.sub_orders} == {S.PAID}
    (payment,) = order.payments
    assert payment.provider == "wallet" and payment.intent_id == f"wallet-{order.public_id}"
    assert (payment.amount_cents, payment.client_secret) == (0, "")
    assert payment.status is PaymentStatus.SUCCEEDED
    assert (order.wallet_cents, order.card_cents) == (TOTAL, 0)
    assert credit(resident) == 5000 - TOTAL and held() == 0
    assert ledger.balance(ledger.STRIPE_CLEARING[0]) == 0
    shops_and_platform = sum(
        -ledger.balance(code)
        for code in (
            ledger.shop_payable(two_shops["a"].id)[0],
            ledger.shop_payable(two_shops["b"].id)[0],
            refund_ops.PLATFORM_COMMISSION[0],
            refund_ops.VAT_COLLECTED[0],
        )
    )
    assert shops_and_platform == TOTAL
    assert entries_sum() == 0
    # The pay page sends back to the order; confirming a card changes nothing.
    pay = client.get(f"/commandes/{order.public_id}/paiement")
    assert pay.status_code == 302
    assert ops.confirm_card(order, "pm_card_visa") == ("succeeded", None)
    page = text(client.get(f"/commandes/{order.public_id}").text)
    assert "Paiement confirmé" in page and "par carte : 0,00 €" in page
    (confirmed,) = [m for m in mailbox() if m.subject == "Votre commande Comptoir est confirmée"]
    body = confirmed.text.replace("\xa0", " ").replace("\u202f", " ")
    assert "dont 32,90 € avec votre crédit Comptoir et 0,00 € par carte" in body


def test_use_wallet_without_credit_is_ignored(app, client, two_shops):
    resident = resident_with(0)
    login(client, resident.email, DEFAULT_PASSWORD)
    assert checkout_with_wallet(client, two_shops).status_code == 302
    order = last_order(resident)
    assert (order.wallet_cents, order.payments[0].amount_cents) == (0, TOTAL)
    # No wallet account was even made for this resident.
    assert (
        db.session.scalar(
            select(LedgerAccount).where(LedgerAccount.code == ledger.wallet(resident.id)[0])
        )
        is None
    )
    assert transactions("wallet-hold") == []


def test_the_card_is_never_left_less_than_stripes_minimum(app, client, two_shops):
    assert wallet_ops.credit_to_use(3270, TOTAL) == TOTAL - 50
    assert wallet_ops.credit_to_use(3240, TOTAL) == 3240
    assert wallet_ops.credit_to_use(9999, TOTAL) == TOTAL
    assert wallet_ops.credit_to_use(30, 40) == 0  # an order under the minimum: all card
    resident = resident_with(3270)
    login(client, resident.email, DEFAULT_PASSWORD)
    checkout_with_wallet(client, two_shops)
    order = last_order(resident)
    assert (order.wallet_cents, order.payments[0].amount_cents) == (3240, 50)
    assert credit(resident) == 30


# --- released before payment: the credit back, once --------------------------------------


def test_refused_card_gives_the_credit_back_once(app, client, two_shops):
    resident = resident_with(1000)
    login(client, resident.email, DEFAULT_PASSWORD)
    checkout_with_wallet(client, two_shops)
    order = last_order(resident)
    assert credit(resident) == 0
    result = pay_with_card(client, order, number="4000000000000341")
    assert result.json["status"] == "requires_payment_method"
    db.session.expire_all()
    assert db.session.get(Order, order.id).status is OrderStatus.CANCELLED
    assert credit(resident) == 1000 and held() == 0
    # Stripe's payment_failed webhook, the expiry task, a second release: nothing more.
    payload = stripe_event_for(order.payments[0].intent_id, "payment_intent.payment_failed")
    post_webhook(client, app, payload)
    assert release_expired() == 0
    assert not release_order(db.session.get(Order, order.id), "encore")
    db.session.commit()
    assert credit(resident) == 1000 and held() == 0
    assert len(transactions("wallet-release")) == 1
    assert entries_sum() == 0


def test_expired_reservation_gives_the_credit_back(app, client, two_shops):
    resident = resident_with(1000)
    login(client, resident.email, DEFAULT_PASSWORD)
    checkout_with_wallet(client, two_shops)
    order = last_order(resident)
    order.expires_at = order.created_at
    db.session.commit()
    assert release_expired() == 1
    assert release_expired() == 0
    db.session.commit()
    assert credit(resident) == 1000 and held() == 0
    (release,) = transactions("wallet-release")
    assert release.reference == f"wallet-release:{order.public_id}"
    assert entries_sum() == 0


def test_late_card_payment_after_release_refunds_the_card_not_the_wallet_again(
    app, client, two_shops
):
    resident = resident_with(1000)
    login(client, resident.email, DEFAULT_PASSWORD)
    checkout_with_wallet(client, two_shops)
    order = last_order(resident)
    assert pay_with_card(client, order).json["status"] == "succeeded"
    assert release_order(order, "réservation expirée")  # before the webhook came
    db.session.commit()
    assert credit(resident) == 1000
    payload = stripe_event_for(order.payments[0].intent_id)
    assert post_webhook(client, app, payload).json["outcome"] == "late-payment-refunded"

    db.session.expire_all()
    order = db.session.get(Order, order.id)
    assert order.status is OrderStatus.CANCELLED
    assert {s.status for s in order.sub_orders} == {S.REFUNDED}
    listed = gateway().client.v1.refunds.list(
        params={"payment_intent": order.payments[0].intent_id}
    )
    assert sum(r.amount for r in listed.data) == 2290  # the card, in full
    refunds = db.session.scalars(select(Refund).order_by(Refund.id)).all()
    assert sum(r.amount_cents for r in refunds) == TOTAL
    assert sum(r.card_cents for r in refunds) == 2290
    assert credit(resident) == 1000  # given back once, at the release
    assert held() == 0
    assert ledger.balance(ledger.STRIPE_CLEARING[0]) == 0
    assert payable(two_shops["a"]) == 0 and payable(two_shops["b"]) == 0
    assert entries_sum() == 0
    assert_wallets_are_sums_of_entries()


# --- refunds: card first, then the wallet --------------------------------------------


@pytest.fixture
def wallet_paid(app, client, two_shops):
    """A paid order, 10,00 € by wallet and 22,90 € by card; logged out afterwards."""
    resident = resident_with(1000)
    login(client, resident.email, DEFAULT_PASSWORD)
    checkout_with_wallet(client, two_shops)
    order = last_order(resident)
    paid_by_webhook(app, client, order)
    logout(client)
    order = last_order(resident)
    subs = {s.shop_id: s for s in order.sub_orders}
    return {
        **two_shops,
        "resident": resident,
        "order": order,
        "sub_a": subs[two_shops["a"].id],
        "sub_b": subs[two_shops["b"].id],
    }


def test_refunds_go_to_the_card_first_then_to_the_wallet(app, client, wallet_paid, mailbox):  # noqa: F811
    order, resident = wallet_paid["order"], wallet_paid["resident"]
    intent_id = order.payments[0].intent_id
    # Shop b refunds its 13,00: all of it to the card (22,90 paid by card).
    login(client, wallet_paid["owner_b"].email, DEFAULT_PASSWORD)
    assert staff_post(client, wallet_paid["sub_b"], "rembourser", amount="13,00").status_code == 303
    first = db.session.scalars(select(Refund)).one()
    assert (first.amount_cents, first.wallet_cents, first.card_cents) == (1300, 0, 1300)
    assert gateway().client.v1.refunds.retrieve(first.provider_refund_id).amount == 1300
    logout(client)
    # Shop a refunds its 19,90: 9,90 left on the card, 10,00 back to the wallet.
    login(client, wallet_paid["owner_a"].email, DEFAULT_PASSWORD)
    assert staff_post(client, wallet_paid["sub_a"], "rembourser", amount="19,90").status_code == 303
    queue = text(client.get("/boutique/commandes/").text)
    assert "dont 10,00 € sur le crédit Comptoir du client" in queue
    logout(client)
    db.session.expire_all()
    second = db.session.scalars(select(Refund).order_by(Refund.id.desc())).first()
    assert (second.amount_cents, second.wallet_cents, second.card_cents) == (1990, 1000, 990)
    assert gateway().client.v1.refunds.retrieve(second.provider_refund_id).amount == 990
    listed = gateway().client.v1.refunds.list(params={"payment_intent": intent_id})
    assert sorted(r.amount for r in listed.data) == [990, 1300]  # never more than 22,90
    assert credit(resident) == 1000
    assert ledger.balance(ledger.STRIPE_CLEARING[0]) == 0
    assert payable(wallet_paid["a"]) == 0 and payable(wallet_paid["b"]) == 0
    assert ledger.balance(refund_ops.PLATFORM_COMMISSION[0]) == 0
    assert entries_sum() == 0
    assert_wallets_are_sums_of_entries()

    login(client, resident.email, DEFAULT_PASSWORD)
    page = text(client.get(f"/commandes/{order.public_id}").text)
    assert "13,00 € remboursé sur votre carte" in page
    assert "(9,90 € remboursé sur votre carte, 10,00 € sur votre crédit Comptoir)" in page
    mails = [m for m in mailbox() if m.subject.startswith("Remboursement")]
    wallet_mail = next(m for m in mails if "19,90" in m.subject)
    body = wallet_mail.text.replace("\xa0", " ").replace("\u202f", " ")
    assert "10,00 € sur votre crédit Comptoir" in body
    assert "9,90 € remboursé sur votre carte" in body


def test_refund_of_a_wallet_only_order_never_calls_stripe(app, client, two_shops, monkeypatch):
    resident = resident_with(5000)
    login(client, resident.email, DEFAULT_PASSWORD)
    checkout_with_wallet(client, two_shops)
    order = last_order(resident)

    def no_stripe(*args: Any, **kwargs: Any) -> str:
        raise PaymentError("Stripe must not be called")

    monkeypatch.setattr(gateway(), "refund", no_stripe)
    sub = next(s for s in order.sub_orders if s.shop_id == two_shops["b"].id)
    row = refund_ops.refund(sub, None, "system", amount_cents=650, reason="abîmé")
    db.session.commit()
    assert (row.status, row.wallet_cents, row.card_cents) == ("succeeded", 650, 0)
    assert row.provider_refund_id is None
    assert credit(resident) == 5000 - TOTAL + 650
    assert ledger.balance(ledger.STRIPE_CLEARING[0]) == 0
    assert entries_sum() == 0
    # Over what remains is refused, naming the amount, nothing written.
    with app.test_request_context(), pytest.raises(refund_ops.RefundError) as refused:
        refund_ops.refund(sub, None, "system", amount_cents=651)
    assert refused.value.field == "amount"


def test_resident_cancelling_a_wallet_paid_sub_order_gets_card_then_credit(
    app, client, wallet_paid
):
    resident = wallet_paid["resident"]
    login(client, resident.email, DEFAULT_PASSWORD)
    for sub in (wallet_paid["sub_a"], wallet_paid["sub_b"]):
        url = f"/commandes/{wallet_paid['order'].public_id}/{sub.id}/annuler"
        assert client.post(url, data={"csrf_token": csrf_token(client, "/")}).status_code == 303
    db.session.expire_all()
    refunds = db.session.scalars(select(Refund).order_by(Refund.id)).all()
    assert [(r.amount_cents, r.wallet_cents) for r in refunds] == [(1990, 0), (1300, 1000)]
    assert credit(resident) == 1000 and held() == 0
    assert ledger.balance(ledger.STRIPE_CLEARING[0]) == 0
    assert entries_sum() == 0


# --- two checkouts at once ----------------------------------------------------------


def race_on_a_lock(app: Flask, first: Callable[[], Any], second: Callable[[], Any]) -> dict:
    """Run `first` in its own app context (own connection) and keep its transaction
    open; run `second` the same way and check it waits (for the lock `first` holds)
    until `first` commits. Returns {"first": ..., "second": ...}, what each returned."""
    first_ran, first_may_commit, second_done = (threading.Event() for _ in range(3))
    results: dict[str, Any] = {}

    def run(name: str, action: Callable[[], Any], hold: bool) -> None:
        try:
            with app.app_context():
                try:
                    results[name] = action()
                    if hold:
                        first_ran.set()
                        assert first_may_commit.wait(30)
                    db.session.commit()
                finally:
                    db.session.remove()
        except BaseException as exc:  # reported by the test
            results[f"{name}-error"] = exc
            first_ran.set()
        finally:
            if not hold:
                second_done.set()

    one = threading.Thread(target=run, args=("first", first, True))
    one.start()
    assert first_ran.wait(30)
    two = threading.Thread(target=run, args=("second", second, False))
    two.start()
    assert not second_done.wait(1.0), results  # the second waits on the first's lock
    first_may_commit.set()
    one.join(30)
    two.join(30)
    assert not one.is_alive() and not two.is_alive()
    assert {k: v for k, v in results.items() if k.endswith("error")} == {}
    return results


def test_two_checkouts_at_once_cannot_spend_the_same_credit(committed_app: Flask):
    """The first checkout holds the wallet until it commits; the second waits, then
    sees only what is left. Each checkout has its own basket (two devices), made to
    order, so the only thing they share is the wallet."""
    shop = ShopFactory(commune=CommuneFactory())
    variant = VariantFactory(product__shop=shop, price_cents=1200, made_to_order=True, stock=0)
    user = UserFactory(roles=[Role.RESIDENT])
    give_credit(user, 1500)
    db.session.commit()
    ids = (shop.id, variant.id, user.id)

    def checkout() -> int:
        owner = db.session.get(User, ids[2])
        basket = Basket(user_id=ids[2])  # this device's basket, never stored
        basket.lines.append(BasketLine(variant_id=ids[1], quantity=1))
        order = ops.place_order(
            owner,
            basket,
            {ids[0]: FulfilmentMethod.CLICK_AND_COLLECT},
            ops.Contact("Camille Martin", owner.email, "0612345678"),
            uuid.uuid4(),
            use_wallet=True,
        )
        return order.wallet_cents

    results = race_on_a_lock(committed_app, checkout, checkout)
    # The first is paid by the wallet alone; the second gets what is left.
    assert (results["first"], results["second"]) == (1200, 300)
    db.session.expire_all()
    assert ledger.wallet_credit(user.id) == 0
    assert held() == 300  # the second's, waiting for its card
    orders = db.session.execute(
        select(Order.wallet_cents, Order.status).where(Order.user_id == user.id)
    ).all()
    assert sorted(orders) == [(300, OrderStatus.PENDING_PAYMENT), (1200, OrderStatus.PAID)]
    assert db.session.scalar(sa.text("SELECT sum(amount) FROM ledger_entry")) == 0
    assert_wallets_are_sums_of_entries()


# --- the API ---------------------------------------------------------------------------


def api_checkout(
    client: Any, two_shops: dict[str, Any], headers: dict[str, str], fill: bool = True, **extra: Any
):
    for variant, quantity in ((two_shops["book"], 1), (two_shops["cheese"], 2)) if fill else ():
        added = client.post(
            "/api/v1/basket/lines",
            json={"variant_id": variant.id, "quantity": quantity},
            headers=headers,
        )
        assert added.status_code == 200, added.json
    body = {
        "checkout_key": str(uuid.uuid4()),
        "contact": {"name": "Camille Martin", "email": "c@example.org", "phone": "0612345678"},
        "fulfilment": {str(two_shops[k].id): "click_and_collect" for k in ("a", "b")},
        **extra,
    }
    return client.post("/api/v1/checkout", json=body, headers=headers)


def test_api_checkout_with_part_of_the_credit(app, client, two_shops):
    from tests.shop.test_api import bearer

    resident = resident_with(1000)
    placed = api_checkout(client, two_shops, bearer(resident), use_wallet=True)
    assert placed.status_code == 201, placed.json
    order = placed.json["order"]
    assert (order["total_cents"], order["wallet_cents"], order["card_cents"]) == (
        TOTAL,
        1000,
        2290,
    )
    assert placed.json["client_secret"].startswith("pi_")
    intent_id = placed.json["client_secret"].split("_secret")[0]
    assert gateway().client.v1.payment_intents.retrieve(intent_id).amount == 2290
    detail = client.get(f"/api/v1/orders/{order['id']}", headers=bearer(resident)).json
    assert (detail["wallet_cents"], detail["card_cents"]) == (1000, 2290)
    assert detail["payment_status"] == "requires_payment"


def test_api_checkout_paid_by_the_wallet_alone(app, client, two_shops):
    from tests.shop.test_api import bearer

    resident = resident_with(TOTAL)
    placed = api_checkout(client, two_shops, bearer(resident), use_wallet=True)
    assert placed.status_code == 201, placed.json
    assert placed.json["client_secret"] is None
    order = placed.json["order"]
    assert order["status"] == "paid" and order["payment_status"] == "succeeded"
    assert (order["wallet_cents"], order["card_cents"]) == (TOTAL, 0)
    assert all(len(s["pickup_code"]) == 6 for s in order["sub_orders"])
    assert credit(resident) == 0


def test_api_use_wallet_is_optional_and_checked(app, client, two_shops):
    from tests.shop.test_api import assert_error, bearer

    resident = resident_with(1000)
    headers = bearer(resident)
    bad = assert_error(api_checkout(client, two_shops, headers, use_wallet="peut-être"), 422)
    assert "use_wallet" in bad["errors"]["json"]
    assert credit(resident) == 1000 and db.session.scalar(select(func.count(Order.id))) == 0
    # Not asked: the card pays everything, the credit stays.
    placed = api_checkout(client, two_shops, headers, fill=False)
    assert placed.status_code == 201, placed.json
    assert (placed.json["order"]["wallet_cents"], placed.json["order"]["card_cents"]) == (0, TOTAL)
    assert credit(resident) == 1000
    # Asked without any credit: ignored, not an error.
    poor = resident_with(0)
    placed = api_checkout(client, two_shops, bearer(poor), use_wallet=True)
    assert placed.status_code == 201, placed.json
    assert placed.json["order"]["wallet_cents"] == 0


def test_two_refunds_of_one_order_at_once_share_its_card_once(committed_app: Flask):
    """Shops a and b refund their sub-orders at the same moment: the card (22,90) is
    split between them once, never refunded twice; the rest goes to the wallet."""
    import json

    commune = CommuneFactory()
    a, b = ShopFactory(commune=commune), ShopFactory(commune=commune)
    book = VariantFactory(product__shop=a, price_cents=1990, stock=3)
    cheese = VariantFactory(product__shop=b, price_cents=650, stock=5)
    user = UserFactory(roles=[Role.RESIDENT])
    give_credit(user, 1000)
    basket = ops.user_basket(user)
    basket.lines.append(BasketLine(variant_id=book.id, quantity=1))
    basket.lines.append(BasketLine(variant_id=cheese.id, quantity=2))
    db.session.flush()
    method = FulfilmentMethod.CLICK_AND_COLLECT
    contact = ops.Contact("Camille Martin", user.email, "0612345678")
    order = ops.place_order(
        user, basket, {a.id: method, b.id: method}, contact, uuid.uuid4(), use_wallet=True
    )
    db.session.commit()
    intent_id = order.payments[0].intent_id
    card = gateway().create_test_card_method(
        {"number": "4242424242424242", "exp_month": "12", "exp_year": "2034", "cvc": "123"}
    )
    assert gateway().confirm_with(intent_id, card).status == "succeeded"
    assert ops.handle_stripe_event(json.loads(stripe_event_for(intent_id))) == "paid"
    db.session.commit()
    sub_ids = {s.shop_id: s.id for s in order.sub_orders}

    def refund(shop_id: int) -> Callable[[], tuple[int, int]]:
        def action() -> tuple[int, int]:
            sub = db.session.get(SubOrder, sub_ids[shop_id])
            row = refund_ops.refund_remaining(sub, None, "system", "rupture")
            return row.amount_cents, row.wallet_cents

        return action

    results = race_on_a_lock(committed_app, refund(a.id), refund(b.id))
    assert (results["first"], results["second"]) == ((1990, 0), (1300, 1000))
    listed = gateway().client.v1.refunds.list(params={"payment_intent": intent_id})
    assert sorted(r.amount for r in listed.data) == [300, 1990]
    db.session.expire_all()
    assert ledger.wallet_credit(user.id) == 1000
    assert ledger.balance(ledger.STRIPE_CLEARING[0]) == 0
    assert db.session.scalar(sa.text("SELECT sum(amount) FROM ledger_entry")) == 0
