"""The Stripe adapter (stripe-python), and the local test server for the demo.

Everything that talks to Stripe goes through `PaymentGateway`, so the rest of the
code never sees the SDK. In the embedded default and in tests the same client talks
to a localstripe server bound to loopback.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import click
import stripe
from flask import current_app
from flask.cli import AppGroup

log = logging.getLogger(__name__)


class PaymentError(Exception):
    """The payment provider refused or failed; the message is safe to show."""


@dataclass(frozen=True)
class Intent:
    id: str
    client_secret: str
    status: str
    error: str | None = None


@dataclass(frozen=True)
class BalanceLine:
    """One of Stripe's balance transactions: its amount as it moved the balance
    (money in positive, out negative), the object that made it and, for a charge,
    its PaymentIntent."""

    id: str
    type: str
    amount_cents: int
    created: datetime
    source_id: str
    payment_intent: str | None


@dataclass(frozen=True)
class ConnectedAccount:
    """A Stripe Connect account and what Stripe allows it to do."""

    id: str
    details_submitted: bool
    charges_enabled: bool
    payouts_enabled: bool


def _source(txn: Any) -> tuple[str, str | None]:
    """The balance transaction's source id and, for a charge, its PaymentIntent."""
    source = getattr(txn, "source", None)
    if source is None or isinstance(source, str):
        return str(source or ""), None
    intent = getattr(source, "payment_intent", None)
    if intent is not None and not isinstance(intent, str):
        intent = getattr(intent, "id", None)
    return str(source.id), intent


class PaymentGateway:
    def __init__(
        self,
        secret_key: str,
        api_base: str | None,
        webhook_secret: str,
        connect_webhook_secret: str | None = None,
    ) -> None:
        addresses: Any = {"api": api_base} if api_base else None
        self.client = stripe.StripeClient(
            secret_key, base_addresses=addresses, max_network_retries=2
        )
        self.webhook_secret = webhook_secret
        # A Connect endpoint (events of the shops' accounts) has a secret of its own.
        self.webhook_secrets = [s for s in (webhook_secret, connect_webhook_secret) if s]

    def create_intent(
        self,
        amount_cents: int,
        metadata: dict[str, str],
        key: str,
        transfer_group: str | None = None,
    ) -> Intent:
        """Create the order's PaymentIntent; the idempotency key makes retries safe.

        `transfer_group` ties the charge to the order (Stripe's separate charges and
        transfers); the settlements' transfers carry groups of their own."""
        params: dict[str, Any] = {"amount": amount_cents, "currency": "eur", "metadata": metadata}
        if transfer_group:
            params["transfer_group"] = transfer_group
        try:
            pi = self.client.v1.payment_intents.create(
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": key},
            )
        except stripe.StripeError as exc:
            log.warning("stripe create_intent failed: %s", type(exc).__name__)
            raise PaymentError("Le paiement est indisponible, réessayez.") from exc
        return Intent(pi.id, pi.client_secret or "", pi.status)

    def confirm_with(self, intent_id: str, payment_method_id: str) -> Intent:
        """Attach the card the browser tokenised, and confirm on the server."""
        try:
            self.client.v1.payment_intents.update(
                intent_id, params={"payment_method": payment_method_id}
            )
            pi = self.client.v1.payment_intents.confirm(intent_id)
        except stripe.CardError as exc:
            return Intent(intent_id, "", "requires_payment_method", exc.user_message)
        except stripe.StripeError as exc:
            log.warning("stripe confirm failed: %s", type(exc).__name__)
            raise PaymentError("Le paiement n'a pas pu être confirmé.") from exc
        error = None
        if pi.last_payment_error is not None:
            error = pi.last_payment_error.message
        return Intent(pi.id, pi.client_secret or "", pi.status, error)

    def create_test_card_method(self, card: dict[str, str]) -> str:
        """Tokenise a TEST card on a localstripe server (never real card data).

        localstripe's imitation of Stripe.js has no working createPaymentMethod;
        in local test mode the page sends the test card here instead.
        """
        try:
            method = self.client.v1.payment_methods.create(
                params={
                    "type": "card",
                    "card": {
                        "number": card["number"],
                        "exp_month": int(card["exp_month"]),
                        "exp_year": int(card["exp_year"]),
                        "cvc": card["cvc"],
                    },
                }
            )
        except stripe.StripeError as exc:
            raise PaymentError(exc.user_message or "Carte de test invalide.") from exc
        return method.id

    def cancel_intent(self, intent_id: str) -> None:
        """Cancel an unpaid PaymentIntent (ignored when it can no longer be)."""
        try:
            self.client.v1.payment_intents.cancel(intent_id)
        except stripe.InvalidRequestError:
            return  # already succeeded or cancelled
        except stripe.StripeError as exc:
            raise PaymentError("Annulation du paiement impossible.") from exc

    def retrieve(self, intent_id: str) -> Intent:
        pi = self.client.v1.payment_intents.retrieve(intent_id)
        return Intent(pi.id, pi.client_secret or "", pi.status)

    def refund(self, intent_id: str, amount_cents: int, key: str) -> str:
        try:
            refund = self.client.v1.refunds.create(
                params={"payment_intent": intent_id, "amount": amount_cents},
                options={"idempotency_key": key},
            )
        except stripe.StripeError as exc:
            raise PaymentError("Le remboursement a échoué.") from exc
        return refund.id

    def balance_transactions(self, start: datetime, end: datetime) -> list[BalanceLine]:
        """Every balance transaction created in [start, end), all pages read, each
        with its source expanded (a charge's PaymentIntent is on the charge)."""
        params: Any = {
            "created": {"gte": int(start.timestamp()), "lt": int(end.timestamp())},
            "limit": 100,
            "expand": ["data.source"],
        }
        lines = []
        try:
            page = self.client.v1.balance_transactions.list(params=params)
            for txn in page.auto_paging_iter():
                source_id, intent = _source(txn)
                lines.append(
                    BalanceLine(
                        id=txn.id,
                        type=txn.type,
                        amount_cents=txn.amount,
                        created=datetime.fromtimestamp(txn.created, UTC),
                        source_id=source_id,
                        payment_intent=intent,
                    )
                )
        except stripe.StripeError as exc:
            log.warning("stripe balance transactions failed: %s", type(exc).__name__)
            raise PaymentError("Stripe n'a pas donné ses mouvements de solde.") from exc
        return lines

    def create_connected_account(self, shop_id: int, account_type: str) -> ConnectedAccount:
        """The shop's Connect account, created once (the key is the shop's)."""
        params: Any = {
            "type": account_type,
            "country": "FR",
            "metadata": {"shop_id": str(shop_id)},
        }
        if account_type != "standard":  # Stripe decides a standard account's capabilities
            params["capabilities"] = {"transfers": {"requested": True}}
        try:
            account = self.client.v1.accounts.create(
                params=params, options={"idempotency_key": f"connect-account-shop-{shop_id}"}
            )
        except stripe.StripeError as exc:
            log.warning("stripe account creation failed: %s", type(exc).__name__)
            raise PaymentError("Stripe n'a pas pu ouvrir le compte.") from exc
        return _connected(account)

    def onboarding_link(self, account_id: str, refresh_url: str, return_url: str) -> str:
        """A single-use AccountLink to Stripe's onboarding for this account."""
        try:
            link = self.client.v1.account_links.create(
                params={
                    "account": account_id,
                    "refresh_url": refresh_url,
                    "return_url": return_url,
                    "type": "account_onboarding",
                }
            )
        except stripe.StripeError as exc:
            log.warning("stripe account link failed: %s", type(exc).__name__)
            raise PaymentError("Stripe n'a pas donné de lien d'inscription.") from exc
        return link.url

    def retrieve_account(self, account_id: str) -> ConnectedAccount:
        try:
            account = self.client.v1.accounts.retrieve(account_id)
        except stripe.StripeError as exc:
            log.warning("stripe account retrieval failed: %s", type(exc).__name__)
            raise PaymentError("Stripe n'a pas donné l'état du compte.") from exc
        return _connected(account)

    def parse_webhook(self, payload: bytes, signature: str | None) -> dict[str, Any]:
        """Verify Stripe's signature (300 s tolerance) and return the event.

        Raises ValueError on a bad payload or signature. The platform's endpoint
        secret is tried first, then the Connect endpoint's when one is configured.
        """
        for secret in self.webhook_secrets:
            try:
                event = stripe.Webhook.construct_event(
                    payload.decode("utf-8"), signature or "", secret
                )
            except stripe.SignatureVerificationError:
                continue
            except (ValueError, UnicodeDecodeError) as exc:
                raise ValueError("invalid webhook") from exc
            return event.to_dict()
        raise ValueError("invalid webhook")


def _connected(account: Any) -> ConnectedAccount:
    return ConnectedAccount(
        id=account.id,
        details_submitted=bool(getattr(account, "details_submitted", False)),
        charges_enabled=bool(getattr(account, "charges_enabled", False)),
        payouts_enabled=bool(getattr(account, "payouts_enabled", False)),
    )


def gateway() -> PaymentGateway:
    """The app's gateway, built once from its configuration."""
    ext = current_app.extensions
    if "payments" not in ext:
        cfg = current_app.config
        ext["payments"] = PaymentGateway(
            cfg["STRIPE_SECRET_KEY"],
            cfg["STRIPE_API_BASE"],
            cfg["STRIPE_WEBHOOK_SECRET"],
            cfg.get("STRIPE_CONNECT_WEBHOOK_SECRET"),
        )
    return ext["payments"]


def stripe_js_url() -> str:
    """Stripe.js from Stripe, or localstripe's imitation when testing locally."""
    cfg = current_app.config
    if cfg.get("STRIPE_LOCAL") and cfg.get("STRIPE_API_BASE"):
        return f"{cfg['STRIPE_API_BASE']}/js.stripe.com/v3/"
    return "https://js.stripe.com/v3/"


class LocalStripe:
    """A localstripe server in a background thread, bound to 127.0.0.1 only.

    localstripe (GPL, test/demo only) imitates the Stripe API, Stripe.js and signed
    webhooks; what it lacks (Connect accounts and links, transfers, balance
    transaction filters) is added by our test double, marketplace.localstripe_connect.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> LocalStripe:
        threading.Thread(target=self._serve, name="localstripe", daemon=True).start()
        if not self._ready.wait(10):
            raise RuntimeError("localstripe did not start")
        return self

    def _serve(self) -> None:
        from aiohttp import web
        from localstripe.resources import store
        from localstripe.server import app

        from .localstripe_connect import install

        install(app)  # before serving: aiohttp freezes the routes then
        store.clear()  # start from scratch; never load another run's pickle
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", self.port)
        self._loop.run_until_complete(site.start())
        self._ready.set()
        self._loop.run_forever()

    def flush(self) -> None:
        """Empty the server's store (tests that list everything start clean)."""
        import urllib.request

        from .localstripe_connect import reset

        request = urllib.request.Request(f"{self.url}/_config/data", method="DELETE")  # noqa: S310
        with urllib.request.urlopen(request, timeout=5):  # noqa: S310 - loopback URL we built
            pass
        reset()

    def register_webhook(self, url: str, secret: str) -> None:
        """Make localstripe sign and POST its events to `url`."""
        import urllib.parse
        import urllib.request

        data = urllib.parse.urlencode({"url": url, "secret": secret}).encode()
        request = urllib.request.Request(  # noqa: S310 - loopback URL we built
            f"{self.url}/_config/webhooks/comptoir", data=data, method="POST"
        )
        with urllib.request.urlopen(request, timeout=5):  # noqa: S310
            pass


def register_commands(group: AppGroup) -> None:
    group.add_command(serve)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
def serve(host: str, port: int) -> None:
    """Serve the marketplace with its local Stripe test server (embedded default)."""
    cfg = current_app.config
    if cfg.get("STRIPE_LOCAL"):
        from .config import LOCALSTRIPE_PORT

        local = LocalStripe(LOCALSTRIPE_PORT).start()
        local.register_webhook(
            f"http://127.0.0.1:{port}/paiements/stripe/webhook", cfg["STRIPE_WEBHOOK_SECRET"]
        )
        click.echo(f"Stripe test server (localstripe) on {local.url}")
    click.echo(f"Comptoir on http://{host}:{port}")
    from werkzeug.serving import run_simple

    # run_simple, not app.run: Flask ignores app.run() inside a `flask` command.
    run_simple(host, port, current_app._get_current_object(), threaded=True)  # type: ignore[attr-defined]
