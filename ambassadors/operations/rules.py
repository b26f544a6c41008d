"""The Cityzens' rules of a territory, with the configuration as fallback.

`Territory.settings["cityzens"]` (every key optional):

    {"cityzens": {"reward_rate_bp": 300, "attribution_days": 30, "withdrawal_days": 14}}

A missing key falls back to `CITYZEN_REWARD_RATE_BP`, `CITYZEN_ATTRIBUTION_DAYS`,
`CITYZEN_WITHDRAWAL_DAYS`, then to the defaults here; a malformed value is logged and
ignored, so a typo in the settings never stops a checkout or a reward run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from flask import current_app

from marketplace.extensions import db
from marketplace.models import Territory

log = logging.getLogger(__name__)

# setting key: (configuration key, default, largest value allowed)
KEYS = {
    "reward_rate_bp": ("CITYZEN_REWARD_RATE_BP", 300, 10_000),
    "attribution_days": ("CITYZEN_ATTRIBUTION_DAYS", 30, 365),
    "withdrawal_days": ("CITYZEN_WITHDRAWAL_DAYS", 14, 365),
}


@dataclass(frozen=True)
class Rules:
    reward_rate_bp: int
    attribution_days: int
    withdrawal_days: int


def _whole(key: str, raw: Any) -> int | None:
    _, _, largest = KEYS[key]
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        return None
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if 0 <= value <= largest else None


def rules(territory_id: int | None) -> Rules:
    territory = db.session.get(Territory, territory_id) if territory_id else None
    raw = ((territory.settings or {}) if territory is not None else {}).get("cityzens")
    overrides = raw if isinstance(raw, dict) else {}
    values: dict[str, int] = {}
    for key, (config_key, default, _) in KEYS.items():
        value = None
        for source in (overrides.get(key), current_app.config.get(config_key)):
            if source is None:
                continue
            value = _whole(key, source)
            if value is not None:
                break
            log.warning("cityzens %s=%r ignored: not a whole number in range", key, source)
        values[key] = default if value is None else value
    return Rules(**values)
