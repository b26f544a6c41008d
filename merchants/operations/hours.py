"""Shop rules: opening hours in Europe/Paris, staff membership."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from marketplace.extensions import db
from marketplace.models import User

from ..models import Shop, ShopStaff

PARIS = ZoneInfo("Europe/Paris")
SEARCH_DAYS = 60  # a shop closed longer than this has no "next opening"


def _closed_on(shop: Shop, day: date) -> bool:
    return any(c.starts_on <= day <= c.ends_on for c in shop.closures)


def _periods(shop: Shop, day: date) -> list[tuple[datetime, datetime]]:
    """The shop's opening periods on a local date, as aware Paris datetimes."""
    if _closed_on(shop, day):
        return []
    return [
        (
            datetime.combine(day, h.opens_at, PARIS),
            datetime.combine(day, h.closes_at, PARIS),
        )
        for h in shop.hours
        if h.weekday == day.weekday()
    ]


def is_open(shop: Shop, at: datetime) -> bool:
    local = at.astimezone(PARIS)
    return any(start <= local < end for start, end in _periods(shop, local.date()))


def next_open_moment(shop: Shop, at: datetime) -> datetime | None:
    """`at` itself when the shop is open then, else the start of the next opening."""
    local = at.astimezone(PARIS)
    for offset in range(SEARCH_DAYS):
        day = local.date() + timedelta(days=offset)
        for start, end in sorted(_periods(shop, day)):
            if start <= local < end:
                return at
            if start > local:
                return start
    return None


def staff_shop_ids(user: User) -> list[int]:
    return list(db.session.scalars(select(ShopStaff.shop_id).where(ShopStaff.user_id == user.id)))
