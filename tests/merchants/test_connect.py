"""Stripe Connect onboarding from the shop's payout page, the account's state from
the return page and from `account.updated`, and settlement by transfer only once
Stripe enabled payouts.

Stripe is the session's localstripe server, read by the real stripe-python client;
Connect (accounts, account links, transfers) comes from our test double of what
localstripe lacks (marketplace/localstripe_connect.py), whose onboarding page stands
in for Stripe's hosted one: opening the link completes the account (or leaves it
unfinished with ?outcome=incomplete) and redirects to our return URL.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from html import unescape
from typing import Any

import pytest
from sqlalchemy import func, select

from admin.settlement.models import PayoutMethod
from admin.settlement.payouts import StripeConnectPayouts
from marketplace.extensions import db
from marketplace.models import Role
from marketplace.payments import PaymentGateway, gateway
from merchants.models import PayoutAccount, StaffRole
from tests.admin.test_settlement import IN_WEEK, WEEK, collect, paid_sub, settle_week
from tests.factories import DEFAULT_PASSWORD, ShopFactory, UserFactory, add_staff
from tests.helpers import csrf_token, login, signed_webhook

PUBLIC = "http://comptoir.test"


@pytest.fixture
def team(app: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any, Any]:
    """A shop with its owner and a staff member; Connect configured."""
    monkeypatch.setitem(app.config, "STRIPE_CONNECT_ENABLED", True)
    shop = ShopFactory(iban="FR1420041010050500013M02606", iban_holder="Fromagerie")
    owner = UserFactory(roles=[Role.MERCHANT])
    member = UserFactory(roles=[Role.MERCHANT])
    add_staff(shop, owner, StaffRole.OWNER)
    add_staff(shop, member, StaffRole.STAFF)
    db.session.commit()
    return shop, owner, member


def payout_path(shop: Any) -> str:
    return f"/boutique/{shop.id}/versements"


def connect(client: Any, shop: Any) -> Any:
    path = payout_path(shop)
    return client.post(f"{path}/stripe-connect", data={"csrf_token": csrf_token(client, path)})


def at_stripe(url: str, outcome: str | None = None) -> str:
    """The owner's browser on Stripe's onboarding; returns where Stripe sends it back."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    if outcome:
        url = f"{url}?outcome={outcome}"
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.build_opener(NoRedirect).open(url, timeout=5)
    assert answer.value.code == 302, answer.value.code
    return str(answer.value.headers["Location"])


def local(url: str) -> str:
    assert url.startswith(PUBLIC), url
    return url[len(PUBLIC) :]


def account_of(shop: Any) -> PayoutAccount | None:
    db.session.expire_all()
    return db.session.get(PayoutAccount, shop.id)


def page_text(client: Any, shop: Any) -> str:
    return unescape(client.get(payout_path(shop)).text)


# --- onboarding through the pages ---------------------------------------------------------


def test_owner_connects_the_shop_and_sees_payouts_enabled(app: Any, client: Any, team: Any):
    shop, owner, _member = team
    login(client, owner.email, DEFAULT_PASSWORD)
    assert "Connecter mon compte Stripe" in page_text(client, shop)

    response = connect(client, shop)
    assert response.status_code == 302
    stripe_url = response.headers["Location"]
    assert stripe_url.startswith(app.extensions["localstripe"].url)
    account = account_of(shop)
    assert account is not None and account.stripe_account_id.startswith("acct_")
    assert not account.details_submitted and not account.payouts_enabled
    assert account.account_type == "express"
    text = page_text(client, shop)
    assert account.stripe_account_id in text and "Reprendre mon inscription chez Stripe" in text
    assert "virement SEPA" in text

    # A second click: the same account (created once), a new link.
    again = connect(client, shop)
    assert again.status_code == 302 and again.headers["Location"] != stripe_url
    assert db.session.scalar(select(func.count()).select_from(PayoutAccount)) == 1

    back = at_stripe(again.headers["Location"])
    assert back == f"{PUBLIC}/boutique/{shop.id}/versements/stripe-connect/retour"
    returned = client.get(local(back))
    assert returned.status_code == 302
    assert returned.headers["Location"].endswith(f"{payout_path(shop)}#stripe-connect")
    account = account_of(shop)
    assert account is not None and account.details_submitted and account.payouts_enabled
    assert account.synced_at is not None
    text = page_text(client, shop)
    assert "Votre compte Stripe est prêt" in text
    assert "Vos reversements sont faits par virement Stripe Connect" in text
    assert "Reprendre mon inscription" not in text


def test_owner_leaving_stripe_early_sees_it_unfinished(app: Any, client: Any, team: Any):
    shop, owner, _member = team
    login(client, owner.email, DEFAULT_PASSWORD)
    back = at_stripe(connect(client, shop).headers["Location"], outcome="incomplete")
    client.get(local(back))
    account = account_of(shop)
    assert account is not None and not account.payouts_enabled
    text = page_text(client, shop)
    assert "L'inscription chez Stripe n'est pas terminée." in text
    assert "Reprendre mon inscription chez Stripe" in text


def test_an_expired_link_comes_back_to_the_refresh_url_for_a_new_one(
    app: Any, client: Any, team: Any
):
    shop, owner, _member = team
    login(client, owner.email, DEFAULT_PASSWORD)
    connect(client, shop)
    refreshed = client.get(f"{payout_path(shop)}/stripe-connect/relancer")
    assert refreshed.status_code == 302
    assert refreshed.headers["Location"].startswith(app.extensions["localstripe"].url)
    assert db.session.scalar(select(func.count()).select_from(PayoutAccount)) == 1


def test_stripe_down_writes_nothing_and_says_so(
    app: Any, client: Any, team: Any, monkeypatch: pytest.MonkeyPatch
):
    shop, owner, _member = team
    login(client, owner.email, DEFAULT_PASSWORD)
    down = PaymentGateway("sk_test_down", "http://127.0.0.1:9", "whsec_x")
    monkeypatch.setitem(app.extensions, "payments", down)
    response = connect(client, shop)
    assert response.status_code == 302 and response.headers["Location"].endswith(payout_path(shop))
    assert account_of(shop) is None
    assert "Stripe ne répond pas" in page_text(client, shop)


def test_without_connect_configured_no_button_and_no_return_page(
    app: Any, client: Any, team: Any, monkeypatch: pytest.MonkeyPatch
):
    shop, owner, _member = team
    monkeypatch.setitem(app.config, "STRIPE_CONNECT_ENABLED", False)
    login(client, owner.email, DEFAULT_PASSWORD)
    assert "Connecter mon compte Stripe" not in page_text(client, shop)
    assert connect(client, shop).status_code == 302
    assert account_of(shop) is None
    assert client.get(f"{payout_path(shop)}/stripe-connect/retour").status_code == 404
    assert client.get(f"{payout_path(shop)}/stripe-connect/relancer").status_code == 404


CONNECT_PAGES = [
    ("POST", "/boutique/{id}/versements/stripe-connect"),
    ("GET", "/boutique/{id}/versements/stripe-connect/retour"),
    ("GET", "/boutique/{id}/versements/stripe-connect/relancer"),
]


def test_only_the_owner_connects(app: Any, client: Any, team: Any):
    shop, _owner, member = team
    other_owner = UserFactory(roles=[Role.MERCHANT])
    add_staff(ShopFactory(), other_owner, StaffRole.OWNER)
    resident = UserFactory(roles=[Role.RESIDENT])
    db.session.commit()
    for user, expected in ((member, 404), (other_owner, 404), (resident, 403)):
        login(client, user.email, DEFAULT_PASSWORD)
        token = csrf_token(client, "/compte/")
        for method, template in CONNECT_PAGES:
            url = template.format(id=shop.id)
            data = {"csrf_token": token} if method == "POST" else None
            response = client.open(url, method=method, data=data)
            assert response.status_code == expected, (user.email, method, url)
        client.post("/compte/deconnexion", data={"csrf_token": token})
    assert account_of(shop) is None


# --- account.updated ------------------------------------------------------------------------


def account_event(account_id: str) -> dict[str, Any]:
    """The account.updated event localstripe recorded for this account."""
    params: dict[str, Any] = {"limit": 100, "type": "account.updated"}
    events = gateway().client.v1.events.list(params=params)
    for event in events.auto_paging_iter():
        if event.data.object["id"] == account_id:
            return event.to_dict()
    raise AssertionError(f"no account.updated for {account_id}")


def post_event(client: Any, app: Any, event: dict[str, Any]) -> Any:
    payload = json.dumps(event)
    headers = signed_webhook(payload, app.config["STRIPE_WEBHOOK_SECRET"])
    return client.post("/paiements/stripe/webhook", data=payload, headers=headers)


def test_account_updated_webhook_enables_payouts_and_is_applied_once(
    app: Any, client: Any, team: Any
):
    shop, owner, _member = team
    login(client, owner.email, DEFAULT_PASSWORD)
    at_stripe(connect(client, shop).headers["Location"])  # never comes back to our page
    account = account_of(shop)
    assert account is not None and not account.payouts_enabled
    event = account_event(account.stripe_account_id)
    response = post_event(client, app, event)
    assert response.status_code == 200 and response.json["outcome"] == "account-updated"
    account = account_of(shop)
    assert account is not None and account.payouts_enabled and account.details_submitted
    assert post_event(client, app, event).json["outcome"] == "duplicate"


def test_a_stale_account_updated_does_not_undo_stripes_state(app: Any, client: Any, team: Any):
    """Events arrive out of order: the state is read from Stripe, not the payload."""
    shop, owner, _member = team
    login(client, owner.email, DEFAULT_PASSWORD)
    at_stripe(connect(client, shop).headers["Location"])
    account = account_of(shop)
    assert account is not None
    stale = account_event(account.stripe_account_id)
    stale["id"] = "evt_stale_copy"
    stale["data"]["object"]["payouts_enabled"] = False
    assert post_event(client, app, stale).json["outcome"] == "account-updated"
    account = account_of(shop)
    assert account is not None and account.payouts_enabled


def test_account_updated_for_an_unknown_account_is_ignored(app: Any, client: Any):
    event = {
        "id": "evt_unknown_account",
        "object": "event",
        "type": "account.updated",
        "data": {"object": {"id": "acct_notashop", "object": "account"}},
    }
    assert post_event(client, app, event).json["outcome"] == "unknown-account"


def test_a_connect_endpoint_secret_is_accepted_too() -> None:
    both = PaymentGateway("sk_test_x", None, "whsec_platform", "whsec_connect")
    payload = json.dumps({"id": "evt_1", "object": "event", "type": "account.updated"})
    for secret in ("whsec_platform", "whsec_connect"):
        headers = signed_webhook(payload, secret)
        assert both.parse_webhook(payload.encode(), headers["Stripe-Signature"])["id"] == "evt_1"
    with pytest.raises(ValueError):
        both.parse_webhook(
            payload.encode(), signed_webhook(payload, "whsec_other")["Stripe-Signature"]
        )
    platform_only = PaymentGateway("sk_test_x", None, "whsec_platform")
    with pytest.raises(ValueError):
        platform_only.parse_webhook(
            payload.encode(), signed_webhook(payload, "whsec_connect")["Stripe-Signature"]
        )


# --- settlement -----------------------------------------------------------------------------


def test_settlement_transfers_only_once_payouts_are_enabled(
    app: Any, client: Any, team: Any, monkeypatch: pytest.MonkeyPatch
):
    shop, owner, _member = team
    waiting = ShopFactory()
    db.session.add(PayoutAccount(shop_id=waiting.id, stripe_account_id="acct_1NotYetEnabled"))
    login(client, owner.email, DEFAULT_PASSWORD)
    client.get(local(at_stripe(connect(client, shop).headers["Location"])))
    collect(paid_sub(shop, [(2000, 1)]), IN_WEEK)
    collect(paid_sub(waiting, [(1500, 1)]), IN_WEEK)
    db.session.commit()
    monkeypatch.setitem(
        app.extensions, "settlement_payouts", StripeConnectPayouts(gateway().client)
    )
    found = settle_week(WEEK)
    connected = found[shop.id]
    account = account_of(shop)
    assert account is not None
    assert connected.payout_method is PayoutMethod.STRIPE
    assert connected.destination == account.stripe_account_id
    assert connected.transfer_id and connected.transfer_id.startswith("tr_")
    transfer = gateway().client.v1.transfers.retrieve(connected.transfer_id)
    assert (
        transfer.amount == connected.payout_cents
        and transfer.destination == account.stripe_account_id
    )
    assert transfer.transfer_group == connected.transfer_group
    assert found[waiting.id].payout_method is PayoutMethod.SEPA
