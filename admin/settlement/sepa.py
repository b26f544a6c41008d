"""SEPA credit-transfer file (pain.001.001.03, built and XSD-validated by sepaxml) for
the collectivité's treasury: one transfer per settlement of a run paid "by SEPA".

Each transfer's end-to-end id is the settlement's (`settlement-<id>`), so the bank
statement reconciles with the settlement and a file produced twice for the same run
carries the same transfers (the treasury imports it once; a reimport shows the same
end-to-end ids). Shops without an IBAN are listed, not silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from flask import current_app
from sepaxml import SepaTransfer
from sqlalchemy import select

from marketplace.extensions import db
from merchants.models import Shop

from .models import PayoutMethod, Settlement, SettlementStatus


class SepaNotConfigured(RuntimeError):
    """The treasury's account (name, IBAN, BIC) is not configured."""


@dataclass(frozen=True)
class SepaFile:
    xml: bytes
    count: int
    total_cents: int
    missing_iban: list[tuple[int, str]]  # (settlement id, shop name)


def pain001(period_start: datetime, execution_date: date) -> SepaFile:
    cfg = current_app.config
    if not (cfg.get("SEPA_DEBTOR_NAME") and cfg.get("SEPA_DEBTOR_IBAN")):
        raise SepaNotConfigured("SEPA_DEBTOR_NAME and SEPA_DEBTOR_IBAN")
    debtor = {
        "name": cfg["SEPA_DEBTOR_NAME"],
        "IBAN": cfg["SEPA_DEBTOR_IBAN"],
        "BIC": cfg.get("SEPA_DEBTOR_BIC") or "NOTPROVIDED",
        "batch": True,
        "currency": "EUR",
    }
    if debtor["BIC"] == "NOTPROVIDED":
        del debtor["BIC"]
    transfer = SepaTransfer(debtor, clean=True)
    rows = db.session.execute(
        select(Settlement, Shop)
        .join(Shop, Shop.id == Settlement.shop_id)
        .where(
            Settlement.period_start == period_start,
            Settlement.status == SettlementStatus.PAID,
            Settlement.payout_method == PayoutMethod.SEPA,
            Settlement.payout_cents > 0,
        )
        .order_by(Settlement.id)
    ).all()
    count = total = 0
    missing = []
    for settlement, shop in rows:
        if not shop.iban:
            missing.append((settlement.id, shop.name))
            continue
        transfer.add_payment(
            {
                "name": shop.iban_holder or shop.name,
                "IBAN": shop.iban,
                "amount": int(settlement.payout_cents),
                "execution_date": execution_date,
                "description": f"Comptoir reversement semaine du {period_start:%Y-%m-%d}",
                "endtoend_id": settlement.transfer_group,
            }
        )
        count += 1
        total += settlement.payout_cents
    xml = transfer.export(validate=True) if count else b""
    return SepaFile(xml, count, total, missing)
