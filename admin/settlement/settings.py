"""Settlement and invoicing settings of a territory, with the configuration as fallback.

`Territory.settings["settlement"]` (every key optional):

    {"settlement": {
        "hold_days": 7,                       # days after fulfilment before a sale is paid
        "invoice_prefix": "VGA",              # VGA-2026-000123
        "seller_name": "Val de Garonne Agglomération",
        "seller_address": "Place du Marché, 47200 Marmande",
        "seller_siret": "20003067400011",
        "seller_vat_number": "FR12200030674"}}

A missing key falls back to the configuration (`SETTLEMENT_HOLD_DAYS`,
`INVOICE_PREFIX`, `INVOICE_SELLER_NAME`, `INVOICE_SELLER_ADDRESS`,
`INVOICE_SELLER_SIRET`, `INVOICE_SELLER_VAT_NUMBER`), then to the default here; a
malformed hold is logged and ignored, so a typo never stops a settlement run. Without
a prefix of its own, a territory's invoices are numbered
`<INVOICE_PREFIX or CPT>-<EPCI code, or T and its id>-2026-000123`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import select

from marketplace.extensions import db
from marketplace.models import Territory

log = logging.getLogger(__name__)

DEFAULT_HOLD_DAYS = 7
DEFAULT_PREFIX = "CPT"
MAX_HOLD_DAYS = 90


def _raw(territory: Territory | None) -> dict[str, Any]:
    raw = ((territory.settings or {}) if territory is not None else {}).get("settlement")
    return raw if isinstance(raw, dict) else {}


def hold_days(territory: Territory | None) -> int:
    """Whole days a fulfilled sale waits before a settlement may pay it."""
    raw = _raw(territory).get("hold_days", current_app.config.get("SETTLEMENT_HOLD_DAYS"))
    if raw is None:
        return DEFAULT_HOLD_DAYS
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        log.warning("settlement hold_days=%r ignored: not a whole number", raw)
        return DEFAULT_HOLD_DAYS
    try:
        days = int(raw)
    except ValueError:
        log.warning("settlement hold_days=%r ignored: not a whole number", raw)
        return DEFAULT_HOLD_DAYS
    if not 0 <= days <= MAX_HOLD_DAYS:
        log.warning("settlement hold_days=%r ignored: outside 0-%d", raw, MAX_HOLD_DAYS)
        return DEFAULT_HOLD_DAYS
    return days


@dataclass(frozen=True)
class Seller:
    """The collectivité as it appears on its commission invoices."""

    name: str
    address: str
    siret: str
    vat_number: str
    prefix: str

    @property
    def complete(self) -> bool:
        return bool(self.name and self.address and self.siret and self.vat_number)

    @classmethod
    def of(cls, territory: Territory | None) -> Seller:
        raw, cfg = _raw(territory), current_app.config

        def pick(key: str, config_key: str, default: str = "") -> str:
            value = raw.get(key) or cfg.get(config_key) or default
            return str(value).strip()

        return cls(
            name=pick("seller_name", "INVOICE_SELLER_NAME", territory.name if territory else ""),
            address=pick("seller_address", "INVOICE_SELLER_ADDRESS"),
            siret=pick("seller_siret", "INVOICE_SELLER_SIRET").replace(" ", ""),
            vat_number=pick("seller_vat_number", "INVOICE_SELLER_VAT_NUMBER").replace(" ", ""),
            prefix=str(raw.get("invoice_prefix") or "").strip() or _shared_prefix(territory),
        )


def _shared_prefix(territory: Territory | None) -> str:
    """The configuration's prefix serves every territory without one of its own: the
    territory's code is added, since each territory numbers its own series (two
    "CPT-2026-000001" would be two invoices with one number)."""
    prefix = str(current_app.config.get("INVOICE_PREFIX") or DEFAULT_PREFIX).strip()
    if territory is None:
        return prefix
    return f"{prefix}-{territory.epci_code or f'T{territory.id}'}"


def territories_missing_seller() -> list[str]:
    """The territories whose commission invoices would lack a legal mention (name,
    address, SIRET, VAT number), by name."""
    territories = db.session.scalars(select(Territory).order_by(Territory.name))
    return [t.name for t in territories if not Seller.of(t).complete]
