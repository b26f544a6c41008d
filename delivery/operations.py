"""When each fulfilment method can be ready, given the shop's hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from marketplace.models import FulfilmentMethod
from merchants.models import Shop
from merchants.operations import next_open_moment

CLICK_AND_COLLECT_DELAY = timedelta(hours=2)


def earliest_ready(shop: Shop, method: FulfilmentMethod, paid_at: datetime) -> datetime | None:
    """The earliest moment the sub-order can be handed over, or None if never soon.

    Click-and-collect: paid_at + 2 h, and only while the shop is open; otherwise
    at its next opening. The delay is elapsed time, added in UTC: a Europe/Paris
    `paid_at` would otherwise add wall-clock hours across a daylight-saving change.
    """
    if method is FulfilmentMethod.CLICK_AND_COLLECT:
        return next_open_moment(shop, paid_at.astimezone(UTC) + CLICK_AND_COLLECT_DELAY)
    raise NotImplementedError(f"{method} timing comes with the logistics issue")


def available_methods(shop: Shop) -> list[FulfilmentMethod]:
    """The methods a resident can choose for this shop today."""
    return [m for m in (FulfilmentMethod.CLICK_AND_COLLECT,) if shop.offers(m)]
