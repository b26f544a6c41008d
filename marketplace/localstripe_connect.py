"""TEST DOUBLE of Stripe for what localstripe lacks — test and demo mode only.

localstripe imitates PaymentIntents, refunds and their balance transactions, but has
no Connect (accounts, account links, transfers), no filters on the balance
transaction list and no idempotency keys. `install(app)` adds them to localstripe's
aiohttp app in the process that starts it (marketplace.payments.LocalStripe), before
it serves, so the real stripe-python client is tested end to end. The shapes follow
Stripe's API reference closely enough for the fields Comptoir reads:

- `POST /v1/accounts`, `GET /v1/accounts/{id}`, `GET /v1/accounts`: an Account
  (`acct_…`, type, country, capabilities, requirements, details_submitted,
  charges_enabled, payouts_enabled, metadata), created not onboarded;
- `POST /v1/account_links`: an AccountLink (`object`, `created`, `expires_at`, `url`)
  whose url is a page of this server standing in for Stripe's hosted onboarding:
  opening it completes the account (or, with `?outcome=incomplete`, leaves it
  unfinished), sends `account.updated` and redirects to the `return_url`; an expired
  or used link redirects to the `refresh_url`, as Stripe does;
- `POST /v1/transfers`, `GET /v1/transfers[/{id}]` (filters `transfer_group`,
  `destination`): a Transfer to an onboarded account, with its `transfer` balance
  transaction (negative amount), as with separate charges and transfers;
- `transfer_group` on `POST /v1/payment_intents` (separate charges and transfers),
  kept on the PaymentIntent and returned with it;
- `GET /v1/balance_transactions` filtered by `created[gte|gt|lt|lte]` and `type`;
- the `Idempotency-Key` header on the creations above: the same key returns the
  first answer.

Never used against Stripe itself: production talks to api.stripe.com.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from aiohttp import web
from localstripe.errors import UserError
from localstripe.resources import (
    BalanceTransaction,
    Event,
    List,
    PaymentIntent,
    StripeObject,
    random_id,
    store,
    try_convert_to_int,
)
from localstripe.server import api_create, api_list_all, api_retrieve, get_post_data
from localstripe.webhooks import schedule_webhook

LINK_SECONDS = 300  # an AccountLink expires after 5 minutes, as Stripe's do
ONBOARDING_PATH = "/_config/connect/onboarding/{token}"  # no API key: a browser opens it

_installed: set[int] = set()
_idempotent: dict[str, str] = {}  # "<path> <key>" → the first answer's JSON
_links: dict[str, dict[str, Any]] = {}  # onboarding token → account and URLs


def _created_filters(created: Any) -> list[Any]:
    if created is None:
        return []
    if not isinstance(created, dict):
        value = try_convert_to_int(created)
        return [lambda obj: obj.created == value]
    bounds = {op: try_convert_to_int(created.pop(op, None)) for op in ("gt", "gte", "lt", "lte")}
    if created or any(v is not None and not isinstance(v, int) for v in bounds.values()):
        raise UserError(400, "Invalid created filter")
    checks = {
        "gt": lambda a, b: a > b,
        "gte": lambda a, b: a >= b,
        "lt": lambda a, b: a < b,
        "lte": lambda a, b: a <= b,
    }
    return [
        (lambda obj, op=op, bound=bound: checks[op](obj.created, bound))
        for op, bound in bounds.items()
        if bound is not None
    ]


def _list_balance_transactions(
    cls: Any,
    url: str,
    limit: Any = None,
    starting_after: Any = None,
    created: Any = None,
    type: Any = None,
    **kwargs: Any,
) -> Any:
    """Stripe's list: newest first, filtered by creation time and type."""
    kwargs.pop("currency", None)
    if kwargs:
        raise UserError(400, "Unexpected " + ", ".join(kwargs))
    filters = _created_filters(created)
    if type is not None:
        filters.append(lambda obj: obj.type == type)
    li = List(url, limit=limit, starting_after=starting_after)
    li._list = [
        value
        for key, value in store.items()
        if key.startswith("balance_transaction:") and all(f(value) for f in filters)
    ]
    li._list.sort(key=lambda b: b.created, reverse=True)
    return li


class TransferTransaction(BalanceTransaction):
    """The `transfer` balance transaction of a Transfer (money out: negative)."""

    def __init__(self, transfer: Transfer) -> None:
        StripeObject.__init__(self)
        self.amount = -transfer.amount
        self.available_on = self.created
        self.currency = transfer.currency
        self.description = transfer.description
        self.exchange_rate = None
        self.fee = 0
        self.fee_details: list[Any] = []
        self.reporting_category = "transfer"
        self.source = transfer.id
        self.status = "available"
        self.type = "transfer"


REQUIRED_AT_START = [
    "business_profile.url",
    "external_account",
    "representative.first_name",
    "tos_acceptance.date",
]


class Account(StripeObject):
    object = "account"
    _id_prefix = "acct_"

    def __init__(
        self,
        type: Any = None,
        country: Any = None,
        email: Any = None,
        business_type: Any = None,
        capabilities: Any = None,
        metadata: Any = None,
        **kwargs: Any,
    ) -> None:
        if kwargs:
            raise UserError(400, "Unexpected " + ", ".join(kwargs))
        if type not in ("express", "standard", "custom"):
            raise UserError(400, "type must be one of express, standard, custom")
        if capabilities is not None and not isinstance(capabilities, dict):
            raise UserError(400, "Invalid capabilities")
        super().__init__()
        self.type = type
        self.country = country or "FR"
        self.email = email
        self.business_type = business_type
        self.default_currency = "eur"
        self.metadata = metadata or {}
        self.capabilities = dict.fromkeys(capabilities or {"transfers": {}}, "inactive")
        self.details_submitted = False
        self.charges_enabled = False
        self.payouts_enabled = False
        self.requirements: dict[str, Any] = {
            "currently_due": list(REQUIRED_AT_START),
            "eventually_due": list(REQUIRED_AT_START),
            "past_due": [],
            "disabled_reason": "requirements.past_due",
        }

    def _complete(self) -> None:
        self.details_submitted = True
        self.charges_enabled = True
        self.payouts_enabled = True
        self.capabilities = dict.fromkeys(self.capabilities, "active")
        self.requirements = {
            "currently_due": [],
            "eventually_due": [],
            "past_due": [],
            "disabled_reason": None,
        }


class Transfer(StripeObject):
    object = "transfer"
    _id_prefix = "tr_"

    def __init__(
        self,
        amount: Any = None,
        currency: Any = None,
        destination: Any = None,
        transfer_group: Any = None,
        description: Any = None,
        metadata: Any = None,
        **kwargs: Any,
    ) -> None:
        if kwargs:
            raise UserError(400, "Unexpected " + ", ".join(kwargs))
        amount = try_convert_to_int(amount)
        if not isinstance(amount, int) or amount <= 0:
            raise UserError(400, "Invalid positive integer: amount")
        if not isinstance(currency, str) or not currency:
            raise UserError(400, "Missing required param: currency.")
        account = store.get(f"account:{destination}")
        if account is None:
            raise UserError(400, f"No such destination: '{destination}'")
        if account.capabilities.get("transfers") != "active":
            raise UserError(
                400,
                "Your destination account needs to have at least one of the following "
                "capabilities enabled: transfers, crypto_transfers, legacy_payments",
            )
        super().__init__()
        self.amount = amount
        self.amount_reversed = 0
        self.currency = currency
        self.destination = destination
        self.destination_payment = "py_" + random_id(24)
        self.transfer_group = transfer_group
        self.description = description
        self.metadata = metadata or {}
        self.reversed = False
        self.source_transaction = None
        self.balance_transaction = TransferTransaction(self).id
        schedule_webhook(Event("transfer.created", self))

    @classmethod
    def _api_list_all(
        cls,
        url: str,
        limit: Any = None,
        starting_after: Any = None,
        transfer_group: Any = None,
        destination: Any = None,
        created: Any = None,
        **kwargs: Any,
    ) -> Any:
        if kwargs:
            raise UserError(400, "Unexpected " + ", ".join(kwargs))
        filters = _created_filters(created)
        li = super()._api_list_all(url, limit=limit, starting_after=starting_after)
        li._list = [
            t
            for t in li._list
            if (transfer_group is None or t.transfer_group == transfer_group)
            and (destination is None or t.destination == destination)
            and all(f(t) for f in filters)
        ]
        li._list.sort(key=lambda t: t.created, reverse=True)
        return li


def _idempotent_post(handler: Any) -> Any:
    """Stripe's Idempotency-Key: the same key on the same path gives the first answer."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        key = request.headers.get("Idempotency-Key")
        cache_key = f"{request.path} {key}"
        if key and cache_key in _idempotent:
            return web.Response(
                text=_idempotent[cache_key],
                content_type="application/json",
                headers={"Idempotent-Replayed": "true"},
            )
        response = await handler(request)
        if key and response.status == 200 and isinstance(response, web.Response):
            _idempotent[cache_key] = response.text or ""
        return response

    return wrapped


async def _create_account_link(request: web.Request) -> web.StreamResponse:
    data = await get_post_data(request) or {}
    account_id = data.get("account")
    if store.get(f"account:{account_id}") is None:
        raise UserError(400, f"No such account: '{account_id}'")
    for name in ("refresh_url", "return_url"):
        if not str(data.get(name, "")).startswith("http"):
            raise UserError(400, f"Missing required param: {name}.")
    if data.get("type") not in ("account_onboarding", "account_update"):
        raise UserError(400, "type must be account_onboarding or account_update")
    token = secrets.token_urlsafe(16)
    created = int(time.time())
    _links[token] = {
        "account": account_id,
        "return_url": data["return_url"],
        "refresh_url": data["refresh_url"],
        "expires_at": created + LINK_SECONDS,
    }
    base = f"{request.scheme}://{request.host}"
    body = {
        "object": "account_link",
        "created": created,
        "expires_at": created + LINK_SECONDS,
        "url": base + ONBOARDING_PATH.format(token=token),
    }
    return web.json_response(body)


async def _onboarding(request: web.Request) -> web.StreamResponse:
    """Stands in for Stripe's hosted onboarding: a link works once, before it expires."""
    link = _links.pop(request.match_info["token"], None)
    if link is None:
        raise UserError(404, "This account link is no longer valid")
    if link["expires_at"] < time.time():
        raise web.HTTPFound(link["refresh_url"])
    if request.query.get("outcome") != "incomplete":  # else: left before the end
        account = store[f"account:{link['account']}"]
        account._complete()
        store[f"account:{account.id}"] = account  # saved as localstripe saves
        schedule_webhook(Event("account.updated", account))
    raise web.HTTPFound(link["return_url"])


def _accept_transfer_group() -> None:
    """localstripe refuses `transfer_group` on a PaymentIntent: keep it instead."""
    original = PaymentIntent.__init__
    if getattr(original, "_keeps_transfer_group", False):
        return

    def __init__(self: Any, *args: Any, transfer_group: Any = None, **kwargs: Any) -> None:
        if transfer_group is not None and not isinstance(transfer_group, str):
            raise UserError(400, "transfer_group must be a string")
        original(self, *args, **kwargs)
        self.transfer_group = transfer_group

    __init__._keeps_transfer_group = True  # type: ignore[attr-defined]
    PaymentIntent.__init__ = __init__


def install(app: web.Application) -> None:
    """Add the resources above to localstripe's app (once per process)."""
    if id(app) in _installed:
        return
    _installed.add(id(app))
    BalanceTransaction._api_list_all = classmethod(_list_balance_transactions)
    _accept_transfer_group()
    router = app.router
    router.add_post("/v1/accounts", _idempotent_post(api_create(Account, "/v1/accounts")))
    router.add_get("/v1/accounts/{id}", api_retrieve(Account, "/v1/accounts/{id}"))
    router.add_get("/v1/accounts", api_list_all(Account, "/v1/accounts"))
    router.add_post("/v1/account_links", _create_account_link)
    router.add_post("/v1/transfers", _idempotent_post(api_create(Transfer, "/v1/transfers")))
    router.add_get("/v1/transfers/{id}", api_retrieve(Transfer, "/v1/transfers/{id}"))
    router.add_get("/v1/transfers", api_list_all(Transfer, "/v1/transfers"))
    router.add_get(ONBOARDING_PATH, _onboarding)


def reset() -> None:
    """Forget the double's own state (localstripe's store is flushed separately)."""
    _idempotent.clear()
    _links.clear()
