"""Delivery settings of a territory: `Territory.settings["delivery"]`, defaults here.

Every key is optional; a missing or malformed value falls back to its default (and
is logged), so a typo in the collectivité's settings never breaks the basket.

    {"delivery": {
        "express_cutoff": "14:00",            # paid before → same day (Paris time)
        "express_delay_minutes": 240,         # payment → earliest slot start
        "courier_start": "09:00", "courier_end": "19:00",
        "courier_weekdays": [0, 1, 2, 3, 4, 5],   # 0 = Monday
        "slot_minutes": 120, "slot_days": 2,  # slots offered on this many service days
        "express_fee_cents": 590,             # flat part
        "express_km_cents": 50,               # per started km beyond…
        "express_free_km": 5,                 # …this distance from the shop
        "standard_bands": [[1000, 490], [5000, 790], [30000, 1290]],  # [≤ grams, cents]
        "standard_min_days": 3, "standard_max_days": 7,
        "click_and_collect_delay_minutes": 120}}
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, fields
from datetime import time
from typing import Any

from babel.numbers import format_decimal as babel_format_decimal
from flask import has_request_context
from flask_babel import format_decimal, gettext

from marketplace.models import Territory

log = logging.getLogger(__name__)


def translate(msgid: str, **values: Any) -> str:
    """`gettext` in a request (the resident's language), the French text elsewhere
    (tasks, shell), where flask-babel has no locale to choose. Imported as `_`
    so the extraction finds the strings."""
    if has_request_context():
        return str(gettext(msgid, **values))
    return msgid % values if values else msgid


def number(value: float) -> str:
    """A distance or weight for a message: one decimal at most, in the locale's way."""
    if has_request_context():
        return str(format_decimal(round(value, 1), format="#,##0.#"))
    return str(babel_format_decimal(round(value, 1), format="#,##0.#", locale="fr_FR"))


def _default_bands() -> tuple[tuple[int, int], ...]:
    return ((1000, 490), (5000, 790), (30000, 1290))


@dataclass(frozen=True)
class DeliverySettings:
    express_cutoff: time = time(14)
    express_delay_minutes: int = 240
    courier_start: time = time(9)
    courier_end: time = time(19)
    courier_weekdays: frozenset[int] = frozenset(range(6))
    slot_minutes: int = 120
    slot_days: int = 2
    express_fee_cents: int = 590
    express_km_cents: int = 50
    express_free_km: float = 5.0
    standard_bands: tuple[tuple[int, int], ...] = field(default_factory=_default_bands)
    standard_min_days: int = 3
    standard_max_days: int = 7
    click_and_collect_delay_minutes: int = 120

    @classmethod
    def of(cls, territory: Territory | None) -> DeliverySettings:
        raw = ((territory.settings or {}) if territory is not None else {}).get("delivery")
        return cls.from_dict(raw if isinstance(raw, dict) else {})

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> DeliverySettings:
        default = cls()
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in raw:
                continue
            try:
                values[f.name] = _parse(f.name, raw[f.name], getattr(default, f.name))
            except (TypeError, ValueError) as exc:
                log.warning("delivery setting %s=%r ignored: %s", f.name, raw[f.name], exc)
        settings = cls(**values)
        start, end = settings.courier_start, settings.courier_end
        window = (end.hour * 60 + end.minute) - (start.hour * 60 + start.minute)
        if window < settings.slot_minutes:
            # Reversed hours, or a service too short for one slot: no express at
            # all would be a surprise; the defaults are the lesser evil.
            log.warning("delivery settings: courier hours shorter than a slot, defaults used")
            for name in ("courier_start", "courier_end", "slot_minutes"):
                values[name] = getattr(default, name)
            settings = cls(**values)
        return settings


def _parse(name: str, value: Any, default: Any) -> Any:
    if isinstance(default, time):
        if not isinstance(value, str):
            raise TypeError("expected HH:MM")
        return time.fromisoformat(value)
    if isinstance(default, frozenset):
        days = frozenset(int(v) for v in value)
        if not days or not days <= set(range(7)):
            raise ValueError("weekdays are 0 (Monday) to 6")
        return days
    if name == "standard_bands":
        bands = tuple(sorted((int(w), int(c)) for w, c in value))
        if not bands or any(w <= 0 or c < 0 for w, c in bands):
            raise ValueError("bands are [max grams > 0, cents >= 0]")
        return bands
    if isinstance(default, bool) or isinstance(value, bool):
        raise TypeError("not a number")
    if isinstance(default, float):
        number = float(value)
        if number < 0:
            raise ValueError("negative")
        return number
    number = int(value)
    if number != value:
        raise ValueError("not an integer")
    minimum = 1 if name in ("slot_minutes", "slot_days") else 0
    if number < minimum:
        raise ValueError(f"below {minimum}")
    return number
