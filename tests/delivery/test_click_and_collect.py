"""Click-and-collect timing: ready no earlier than payment + 2 h, and only while the
shop is open (else at its next opening), across closures, Sundays, lunch breaks and
the daylight-saving changes of Europe/Paris (2026-03-29 and 2026-10-25)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from delivery.operations import earliest_ready
from marketplace.extensions import db
from marketplace.models import FulfilmentMethod
from merchants.models import Closure, OpeningHours
from tests.factories import ShopFactory

PARIS = ZoneInfo("Europe/Paris")
CC = FulfilmentMethod.CLICK_AND_COLLECT


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def shop_with(periods: list[tuple[int, int, int]]) -> object:
    """A shop open on (weekday, from hour, to hour) periods, Europe/Paris time."""
    shop = ShopFactory(hours=False)
    for weekday, start, end in periods:
        shop.hours.append(OpeningHours(weekday=weekday, opens_at=time(start), closes_at=time(end)))
    db.session.flush()
    return shop


@pytest.fixture
def shop(app):
    """Monday to Saturday, 9:00-19:00 (the factory's hours); closed on Sundays."""
    return ShopFactory()


@pytest.mark.parametrize(
    ("paid", "ready"),
    [
        # Tuesday 10:00 (summer time, UTC+2): open at 12:00 → paid + 2 h exactly.
        (utc(2026, 6, 9, 8, 0), utc(2026, 6, 9, 10, 0)),
        # Tuesday 16:59 → 18:59, one minute before closing: still today.
        (utc(2026, 6, 9, 14, 59), utc(2026, 6, 9, 16, 59)),
        # Tuesday 17:00 → 19:00 is closing time (closed): Wednesday 9:00.
        (utc(2026, 6, 9, 15, 0), utc(2026, 6, 10, 7, 0)),
        # Saturday 18:00 → 20:00: Sunday closed → Monday 9:00.
        (utc(2026, 6, 13, 16, 0), utc(2026, 6, 15, 7, 0)),
        # Sunday noon (shop closed) → 14:00 still Sunday → Monday 9:00.
        (utc(2026, 6, 14, 10, 0), utc(2026, 6, 15, 7, 0)),
        # Monday 6:00 → 8:00, before opening → 9:00.
        (utc(2026, 6, 15, 4, 0), utc(2026, 6, 15, 7, 0)),
        # Winter time (UTC+1): Tuesday 10:00 → 12:00 local is 11:00 UTC.
        (utc(2026, 1, 13, 9, 0), utc(2026, 1, 13, 11, 0)),
    ],
)
def test_paid_plus_two_hours_while_open(shop, paid, ready):
    assert earliest_ready(shop, CC, paid) == ready


def test_lunch_break(app):
    # Tuesday 9:00-12:00 and 14:00-19:00.
    shop = shop_with([(1, 9, 12), (1, 14, 19), (2, 9, 12), (2, 14, 19)])
    assert earliest_ready(shop, CC, utc(2026, 6, 9, 7, 30)) == utc(2026, 6, 9, 9, 30)  # 11:30
    # 10:00 → 12:00 = closing of the morning: 14:00.
    assert earliest_ready(shop, CC, utc(2026, 6, 9, 8, 0)) == utc(2026, 6, 9, 12, 0)
    # 11:00 → 13:00 in the lunch break: 14:00.
    assert earliest_ready(shop, CC, utc(2026, 6, 9, 9, 0)) == utc(2026, 6, 9, 12, 0)
    # 12:00 → 14:00 exactly at reopening.
    assert earliest_ready(shop, CC, utc(2026, 6, 9, 10, 0)) == utc(2026, 6, 9, 12, 0)
    # 12:30 → 14:30, open.
    assert earliest_ready(shop, CC, utc(2026, 6, 9, 10, 30)) == utc(2026, 6, 9, 12, 30)
    # Tuesday 18:00 → 20:00: Wednesday 9:00.
    assert earliest_ready(shop, CC, utc(2026, 6, 9, 16, 0)) == utc(2026, 6, 10, 7, 0)


def test_exceptional_closure_moves_to_the_next_open_day(shop):
    shop.closures.append(Closure(starts_on=date(2026, 6, 10), ends_on=date(2026, 6, 11)))
    db.session.flush()
    # Tuesday 18:00 → Wednesday and Thursday closed → Friday 9:00.
    assert earliest_ready(shop, CC, utc(2026, 6, 9, 16, 0)) == utc(2026, 6, 12, 7, 0)
    # Paid during the closure: the same.
    assert earliest_ready(shop, CC, utc(2026, 6, 10, 8, 0)) == utc(2026, 6, 12, 7, 0)


def test_closed_for_months_means_no_ready_time(shop):
    shop.closures.append(Closure(starts_on=date(2026, 6, 1), ends_on=date(2026, 12, 31)))
    db.session.flush()
    assert earliest_ready(shop, CC, utc(2026, 6, 9, 8, 0)) is None


def test_spring_forward_2026_03_29(app, shop):
    # Saturday 18:30 (UTC+1) → Sunday closed → Monday 9:00, now UTC+2: 07:00 UTC.
    assert earliest_ready(shop, CC, utc(2026, 3, 28, 17, 30)) == utc(2026, 3, 30, 7, 0)
    # The Monday before, 9:00 was 08:00 UTC.
    assert earliest_ready(shop, CC, utc(2026, 3, 21, 17, 30)) == utc(2026, 3, 23, 8, 0)
    # A Sunday market open 3:00-12:00: paid at 01:15 (UTC+1); two hours later it
    # is 04:15 summer time (02:15 UTC), not 03:15.
    market = shop_with([(6, 3, 12)])
    assert earliest_ready(market, CC, utc(2026, 3, 29, 0, 15)) == utc(2026, 3, 29, 2, 15)
    # The same instant given in Paris time: elapsed hours, never wall-clock hours.
    paris = datetime(2026, 3, 29, 1, 15, tzinfo=PARIS)
    assert earliest_ready(market, CC, paris) == utc(2026, 3, 29, 2, 15)
    # Paid 00:30 (UTC+1) → 02:30 UTC+1 does not exist; it is 03:30 summer time,
    # open: 01:30 UTC.
    assert earliest_ready(market, CC, utc(2026, 3, 28, 23, 30)) == utc(2026, 3, 29, 1, 30)
    # Opening at 3:00 summer time is 01:00 UTC: paid at 22:00 UTC Saturday.
    assert earliest_ready(market, CC, utc(2026, 3, 28, 22, 0)) == utc(2026, 3, 29, 1, 0)


def test_fall_back_2026_10_25(app, shop):
    # Saturday 18:30 (UTC+2) → Monday 9:00, now UTC+1: 08:00 UTC.
    assert earliest_ready(shop, CC, utc(2026, 10, 24, 16, 30)) == utc(2026, 10, 26, 8, 0)
    # Sunday market 8:00-12:00: paid 05:00 (UTC+1) → 07:00 → opens 8:00 = 07:00 UTC.
    market = shop_with([(6, 8, 12)])
    assert earliest_ready(market, CC, utc(2026, 10, 25, 4, 0)) == utc(2026, 10, 25, 7, 0)
    # The week before, 8:00 was 06:00 UTC.
    assert earliest_ready(market, CC, utc(2026, 10, 18, 3, 0)) == utc(2026, 10, 18, 6, 0)
    # Paid at 02:30 summer time (00:30 UTC), the first of the two 02:30s: two
    # hours later is 03:30 winter time (02:30 UTC); a night market 3:00-12:00 is open.
    night = shop_with([(6, 3, 12)])
    first = datetime(2026, 10, 25, 2, 30, tzinfo=PARIS)  # fold=0: UTC+2
    assert first.astimezone(UTC) == utc(2026, 10, 25, 0, 30)
    assert earliest_ready(night, CC, first) == utc(2026, 10, 25, 2, 30)
    assert earliest_ready(night, CC, utc(2026, 10, 25, 0, 30)) == utc(2026, 10, 25, 2, 30)
    # Paid at 00:30 (UTC+2, Saturday 22:30 UTC) → 00:30 UTC = 02:30 summer time,
    # before the 3:00 opening; 3:00 winter time is 02:00 UTC.
    assert earliest_ready(night, CC, utc(2026, 10, 24, 22, 30)) == utc(2026, 10, 25, 2, 0)


def test_an_opening_the_spring_change_skips_is_no_opening(app):
    """Open only 02:00-02:15 and 02:30-05:00 on Sundays: on 29 March 2026 the clocks go
    from 02:00 to 03:00, so the first period does not exist and the second starts at 03:00."""
    from merchants.operations import is_open, next_open_moment

    shop = shop_with([(6, 2, 5)])
    shop.hours[0].opens_at = time(2, 30)
    shop.hours.append(OpeningHours(weekday=6, opens_at=time(2), closes_at=time(2, 15)))
    db.session.flush()

    saturday_night = utc(2026, 3, 28, 23, 0)  # Sunday 00:00, winter time
    opening = next_open_moment(shop, saturday_night)
    assert opening == utc(2026, 3, 29, 1, 0)  # 03:00 summer time, the end of the gap
    assert is_open(shop, opening)
    assert not is_open(shop, utc(2026, 3, 29, 0, 59))  # 01:59 winter time
    assert is_open(shop, utc(2026, 3, 29, 2, 59))  # 04:59 summer time
    # A week later the clocks do not change: both periods exist.
    assert next_open_moment(shop, utc(2026, 4, 4, 22, 0)) == utc(2026, 4, 5, 0, 0)
