"""The Stripe Connect payout adapter at its edge.

localstripe has no Connect and no transfers, so these tests give stripe-python a
FAKE HTTP CLIENT (`RecordedStripe`, below) that checks each request against a
recorded request and answers with the recorded Stripe response (shapes from the
Stripe API reference for POST /v1/transfers and GET /v1/transfers). Nothing here
reaches Stripe or localstripe.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import stripe

from admin.settlement.payouts import PayoutError, StripeConnectPayouts, Transfer

TRANSFER = {
    "id": "tr_1QaTransfer",
    "object": "transfer",
    "amount": 4013,
    "amount_reversed": 0,
    "balance_transaction": "txn_1QaBalance",
    "created": 1795500000,
    "currency": "eur",
    "description": None,
    "destination": "acct_1QaShop",
    "destination_payment": "py_1QaPayment",
    "livemode": False,
    "metadata": {"settlement_id": "7", "shop_id": "3"},
    "reversals": {
        "object": "list",
        "data": [],
        "has_more": False,
        "url": "/v1/transfers/tr_1QaTransfer/reversals",
    },
    "reversed": False,
    "source_transaction": None,
    "source_type": "card",
    "transfer_group": "settlement-7",
}
INSUFFICIENT = {
    "error": {
        "code": "balance_insufficient",
        "message": "You have insufficient available funds in your Stripe account.",
        "type": "invalid_request_error",
    }
}


class RecordedStripe(stripe.HTTPClient):
    """FAKE HTTP client for stripe-python (test only): replays recorded pairs."""

    name = "recorded"

    def __init__(self, pairs: list[tuple[dict[str, Any], int, dict[str, Any]]]) -> None:
        super().__init__()
        self.pairs = list(pairs)
        self.seen: list[dict[str, Any]] = []

    def request(self, method: str, url: str, headers: Any, post_data: Any = None, **_: Any):  # type: ignore[override]
        parts = urlsplit(url)
        form = parse_qs(post_data or parts.query or "")
        seen = {
            "method": method.upper(),
            "path": parts.path,
            "params": {k: v[0] for k, v in form.items()},
            "idempotency_key": (headers or {}).get("Idempotency-Key"),
        }
        self.seen.append(seen)
        expected, status, body = self.pairs.pop(0)
        for key, value in expected.items():
            assert seen[key] == value, (key, seen[key], value)
        return json.dumps(body), status, {"request-id": "req_recorded"}

    def close(self) -> None:
        pass


def adapter(
    pairs: list[tuple[dict[str, Any], int, dict[str, Any]]],
) -> tuple[StripeConnectPayouts, RecordedStripe]:
    http = RecordedStripe(pairs)
    client = stripe.StripeClient("sk_test_recorded", http_client=http, max_network_retries=0)
    return StripeConnectPayouts(client), http


def test_transfer_posts_amount_destination_group_and_idempotency_key():
    payouts, http = adapter(
        [
            (
                {
                    "method": "POST",
                    "path": "/v1/transfers",
                    "idempotency_key": "settlement-7-payout-1",
                    "params": {
                        "amount": "4013",
                        "currency": "eur",
                        "destination": "acct_1QaShop",
                        "transfer_group": "settlement-7",
                        "metadata[settlement_id]": "7",
                        "metadata[shop_id]": "3",
                    },
                },
                200,
                TRANSFER,
            )
        ]
    )
    made = payouts.transfer(
        4013,
        "acct_1QaShop",
        "settlement-7",
        "settlement-7-payout-1",
        {"settlement_id": "7", "shop_id": "3"},
    )
    assert made == Transfer("tr_1QaTransfer", 4013, "acct_1QaShop")
    assert not http.pairs


def test_find_lists_the_settlement_transfer_group():
    listing = {"object": "list", "data": [TRANSFER], "has_more": False, "url": "/v1/transfers"}
    empty = {"object": "list", "data": [], "has_more": False, "url": "/v1/transfers"}
    payouts, http = adapter(
        [
            (
                {
                    "method": "GET",
                    "path": "/v1/transfers",
                    "params": {"transfer_group": "settlement-7", "limit": "1"},
                },
                200,
                listing,
            ),
            ({"method": "GET", "path": "/v1/transfers"}, 200, empty),
        ]
    )
    assert payouts.find("settlement-7") == Transfer("tr_1QaTransfer", 4013, "acct_1QaShop")
    assert payouts.find("settlement-8") is None
    assert not http.pairs


def test_stripe_refusal_becomes_a_payout_error():
    payouts, _ = adapter([({"method": "POST", "path": "/v1/transfers"}, 400, INSUFFICIENT)])
    with pytest.raises(PayoutError, match=r"insufficient|InvalidRequestError"):
        payouts.transfer(100, "acct_1QaShop", "settlement-9", "settlement-9-payout-1", {})


def test_server_error_becomes_a_payout_error():
    error = {"error": {"type": "api_error", "message": "An unknown error occurred"}}
    payouts, _ = adapter([({"method": "POST", "path": "/v1/transfers"}, 500, error)])
    with pytest.raises(PayoutError):
        payouts.transfer(100, "acct_1QaShop", "settlement-9", "settlement-9-payout-1", {})
