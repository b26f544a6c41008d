"""Properties of the delivery engine over random weekly hours, closures, courier
settings, preparation times and payment moments (many around the daylight-saving
changes of Europe/Paris, 2026-03-29 and 2026-10-25):

- no slot before the payment nor before the minimum delay;
- every slot lasts the slot length, is aligned on the service start, and lies in the
  courier's service hours on a service day;
- same day only when paid before the cut-off;
- the shop is open on the slot's day (not a closure day), after it is prepared and
  before the slot starts: someone is there to hand the parcel over;
- click-and-collect and the shop's deliveries: ready while the shop is open, never
  before the delay; standard: 3 to 7 days.

The shops are built in memory (never flushed) so 200 examples stay fast; the
territory and its express zone are real rows.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from delivery.operations import DeliverySettings, availability
from delivery.operations.timing import ready_for_handover
from marketplace.models import FulfilmentMethod, Territory
from merchants.models import Closure, OpeningHours, Shop
from merchants.operations import is_open

from .zone_helpers import CENTRE, make_territory

PARIS = ZoneInfo("Europe/Paris")
ALL = [m.value for m in FulfilmentMethod]
PROPERTY = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

DST_CHANGES = [datetime(2026, 3, 29, 1, 0, tzinfo=UTC), datetime(2026, 10, 25, 1, 0, tzinfo=UTC)]

payment_times = st.one_of(
    st.datetimes(
        min_value=datetime(2026, 1, 1),
        max_value=datetime(2026, 12, 31),
        timezones=st.just(UTC),
    ),
    st.builds(
        lambda change, minutes: change + timedelta(minutes=minutes),
        st.sampled_from(DST_CHANGES),
        st.integers(min_value=-4 * 24 * 60, max_value=4 * 24 * 60),
    ),
)


def quarter(n: int) -> time:
    return time(n // 4, 15 * (n % 4))


@st.composite
def weekly_hours(draw: st.DrawFn) -> list[tuple[int, time, time]]:
    """Up to two periods a day, quarter-hour marks, possibly closed all week."""
    periods = []
    for weekday in range(7):
        marks = sorted(draw(st.lists(st.integers(0, 95), max_size=4, unique=True)))
        for opens, closes in zip(marks[0::2], marks[1::2], strict=False):
            periods.append((weekday, quarter(opens), quarter(closes)))
    return periods


@st.composite
def closures(draw: st.DrawFn, around: date) -> list[tuple[date, date]]:
    result = []
    for _ in range(draw(st.integers(0, 3))):
        start = around + timedelta(days=draw(st.integers(-3, 10)))
        result.append((start, start + timedelta(days=draw(st.integers(0, 6)))))
    return result


@st.composite
def courier_settings(draw: st.DrawFn) -> dict[str, object]:
    slot = draw(st.sampled_from([30, 60, 90, 120]))
    # Quarter hours; service from 0:00 to 3:00 crosses the changes.
    start = draw(st.integers(0, 95 - slot // 15))
    end = draw(st.integers(start + slot // 15, 95))
    weekdays = draw(st.sets(st.integers(0, 6), min_size=1))
    return {
        "express_cutoff": quarter(draw(st.integers(0, 95))).strftime("%H:%M"),
        "courier_start": quarter(start).strftime("%H:%M"),
        "courier_end": quarter(end).strftime("%H:%M"),
        "courier_weekdays": sorted(weekdays),
        "slot_minutes": slot,
        "slot_days": draw(st.integers(1, 3)),
        "express_delay_minutes": draw(st.sampled_from([0, 60, 240, 600])),
    }


def build_shop(
    territory: Territory,
    hours: list[tuple[int, time, time]],
    closed: list[tuple[date, date]],
    preparation: int,
) -> Shop:
    return Shop(
        territory_id=territory.id,
        latitude=CENTRE[0],
        longitude=CENTRE[1],
        fulfilment_methods=ALL,
        preparation_minutes=preparation,
        delivery_radius_km=5.0,
        hours=[OpeningHours(weekday=d, opens_at=o, closes_at=c) for d, o, c in hours],
        closures=[Closure(starts_on=s, ends_on=e) for s, e in closed],
    )


def closed_on(shop: Shop, day: date) -> bool:
    return any(c.starts_on <= day <= c.ends_on for c in shop.closures)


def open_between(shop: Shop, day: date, after: datetime, before: datetime) -> bool:
    """Whether an opening period of `day` overlaps [after, before] (instants)."""
    if closed_on(shop, day):
        return False
    for h in shop.hours:
        if h.weekday != day.weekday():
            continue
        opens = datetime.combine(day, h.opens_at, PARIS)
        closes = datetime.combine(day, h.closes_at, PARIS)
        if opens <= before and closes > after:
            return True
    return False


@pytest.fixture
def territory(app):
    return make_territory()


def _settings_of(territory: Territory, raw: dict[str, object]) -> DeliverySettings:
    territory.settings = {"delivery": raw}
    return DeliverySettings.of(territory)


@PROPERTY
@given(
    hours=weekly_hours(),
    data=st.data(),
    paid=payment_times,
    preparation=st.integers(0, 600),
    courier=courier_settings(),
)
def test_express_slots(territory, hours, data, paid, preparation, courier):
    closed = data.draw(closures(paid.date()))
    config = _settings_of(territory, courier)
    shop = build_shop(territory, hours, closed, preparation)
    answer = availability(shop, FulfilmentMethod.EXPRESS, paid, CENTRE, territory=territory)
    if not answer.available:
        assert answer.reason and answer.slots == [] and answer.earliest is None
        return
    assert answer.slots and answer.earliest == answer.slots[0].start
    assert answer.slots == sorted(answer.slots, key=lambda s: s.start)
    assert len({s.start for s in answer.slots}) == len(answer.slots)
    length = timedelta(minutes=config.slot_minutes)
    paid_local = paid.astimezone(PARIS)
    ready = ready_for_handover(shop, paid)
    assert ready is not None
    days = set()
    for slot in answer.slots:
        start, end = slot.start.astimezone(PARIS), slot.end.astimezone(PARIS)
        days.add(start.date())
        # Never in the past, never before the minimum delay.
        assert slot.start >= paid
        assert slot.start >= paid + timedelta(minutes=config.express_delay_minutes)
        # Exactly one slot length, elapsed.
        assert slot.end - slot.start == length
        # Inside the courier's service hours, on a service day.
        assert start.weekday() in config.courier_weekdays
        assert start.date() == end.date()
        assert config.courier_start <= start.time()
        assert end.time() <= config.courier_end
        # Aligned on the service start.
        since = (start.hour * 60 + start.minute) - (
            config.courier_start.hour * 60 + config.courier_start.minute
        )
        assert since % config.slot_minutes == 0
        # Same day only when paid before the cut-off; never a day before payment.
        assert start.date() >= paid_local.date()
        if start.date() == paid_local.date():
            assert paid_local.time() < config.express_cutoff
        # The shop hands over on the slot's day: open, prepared, before the start.
        assert not closed_on(shop, start.date())
        assert open_between(shop, start.date(), ready, slot.start)
        assert slot.start >= ready
    assert len(days) <= config.slot_days


@PROPERTY
@given(
    hours=weekly_hours(),
    data=st.data(),
    paid=payment_times,
    preparation=st.integers(0, 600),
)
def test_click_and_collect_and_shop_delivery(territory, hours, data, paid, preparation):
    closed = data.draw(closures(paid.date()))
    shop = build_shop(territory, hours, closed, preparation)

    collect = availability(shop, FulfilmentMethod.CLICK_AND_COLLECT, paid, territory=territory)
    if collect.available:
        assert collect.earliest is not None
        assert collect.earliest >= paid + timedelta(hours=2)
        assert is_open(shop, collect.earliest)
        assert not closed_on(shop, collect.earliest.astimezone(PARIS).date())
    else:
        assert collect.reason

    own = availability(
        shop, FulfilmentMethod.MERCHANT_DELIVERY, paid, (44.51, 0.17), territory=territory
    )
    if own.available:
        assert own.earliest is not None
        assert own.earliest >= paid + timedelta(minutes=preparation)
        assert is_open(shop, own.earliest)
        assert own.slots == []
    else:
        assert own.reason


@PROPERTY
@given(paid=payment_times, grams=st.integers(0, 40_000))
def test_standard_window(territory, paid, grams):
    shop = build_shop(territory, [], [], 0)
    answer = availability(shop, FulfilmentMethod.STANDARD, paid, weight_grams=grams)
    assert answer.available == (grams <= 30_000)
    if answer.available:
        assert answer.earliest == paid + timedelta(days=3)
        assert answer.latest == paid + timedelta(days=7)
        assert answer.slots == []
    else:
        assert answer.reason and answer.earliest is None


@PROPERTY
@given(paid=payment_times, courier=courier_settings())
def test_an_always_open_shop_gets_a_slot_within_a_week(territory, paid, courier):
    """Not only safe but useful: a shop open every day, all day, with a service
    day each week, always gets express slots."""
    assume(courier["express_delay_minutes"] <= 600)
    _settings_of(territory, courier)
    hours = [(d, time(0), time(23, 45)) for d in range(7)]
    shop = build_shop(territory, hours, [], 0)
    answer = availability(shop, FulfilmentMethod.EXPRESS, paid, CENTRE, territory=territory)
    assert answer.available, answer.reason
    assert answer.earliest is not None
    assert answer.earliest - paid < timedelta(days=9)
