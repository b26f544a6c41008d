"""Shop rules: opening hours in Europe/Paris, staff membership."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from marketplace.extensions import db
from marketplace.models import User

from ..models import Shop, ShopStaff

PARIS = ZoneInfo("Europe/Paris")
SEARCH_DAYS = 60  # a shop closed longer than this has no "next opening"


def _closed_on(shop: Shop, day: date) -> bool:
    return any(c.starts_on <= day <= c.ends_on for c in shop.closures)


def _instant(day: date, wall: time) -> datetime:
    """The UTC instant a Paris wall-clock time names on `day`.

    A time the spring-forward change skips (02:00-03:00) means the first moment after
    the gap, so a period inside the gap is empty and one straddling it is shortened; of
    the autumn's repeated hour, the first pass counts.
    """
    naive = datetime.combine(day, wall)
    while True:
        instant = naive.replace(tzinfo=PARIS).astimezone(UTC)
        if instant.astimezone(PARIS).replace(tzinfo=None) == naive:
            return instant
        naive = naive.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


def _periods(shop: Shop, day: date) -> list[tuple[datetime, datetime]]:
    """The shop's opening periods on a local date, as UTC instants, earliest first."""
    if _closed_on(shop, day):
        return []
    periods = (
        (_instant(day, h.opens_at), _instant(day, h.closes_at))
        for h in shop.hours
        if h.weekday == day.weekday()
    )
    return sorted((start, end) for start, end in periods if start < end)


def is_open(shop: Shop, at: datetime) -> bool:
    moment = at.astimezone(UTC)
    day = moment.astimezone(PARIS).date()
    return any(start <= moment < end for start, end in _periods(shop, day))


def next_open_moment(shop: Shop, at: datetime) -> datetime | None:
    """`at` itself when the shop is open then, else the start of the next opening."""
    moment = at.astimezone(UTC)
    first_day = moment.astimezone(PARIS).date()
    for offset in range(SEARCH_DAYS):
        for start, end in _periods(shop, first_day + timedelta(days=offset)):
            if start <= moment < end:
                return at
            if start > moment:
                return start.astimezone(PARIS)
    return None


def staff_shop_ids(user: User) -> list[int]:
    return list(db.session.scalars(select(ShopStaff.shop_id).where(ShopStaff.user_id == user.id)))
