"""Commission invoices: one per settlement whose commission is not zero, numbered
without gaps per territory and calendar year (Europe/Paris), e.g.
CPT-200030674-2026-000123 (the prefix: settings.Seller).

- A positive commission gives an invoice (facture), a negative one (the period's
  refunds reversed more commission than its sales carried) a credit note (avoir);
  both take their number from the same series.
- The number is taken in the settlement's compute transaction from the counter row
  of (territory, year), locked FOR UPDATE: a transaction that rolls back gives its
  number back, so there are no gaps (a database sequence would leave one). The
  unique (territory, year, number) index makes a duplicate impossible.
- Idempotent: a settlement has at most one invoice (unique settlement id), and
  `issue` returns the existing one; compute issues it once, when it freezes the
  amounts, so a re-run or a retried task never takes a second number.
- The parties are copied at issue: an invoice never changes afterwards.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import aliased

from marketplace.extensions import db
from marketplace.models import Territory, utcnow
from merchants.models import Shop

from .models import CommissionInvoice, InvoiceCounter, InvoiceKind, Settlement, SettlementItem
from .settings import Seller

PARIS = ZoneInfo("Europe/Paris")


def _is_postgres() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def next_number(territory_id: int, year: int) -> int:
    """The next number of the territory's series for `year`, the counter row locked
    until the transaction ends (PostgreSQL; SQLite has one writer anyway)."""
    values = {"territory_id": territory_id, "year": year, "last_number": 0}
    if _is_postgres():
        from sqlalchemy.dialects import postgresql

        db.session.execute(
            postgresql.insert(InvoiceCounter).values(values).on_conflict_do_nothing()
        )
    else:
        from sqlalchemy.dialects import sqlite

        db.session.execute(sqlite.insert(InvoiceCounter).values(values).on_conflict_do_nothing())
    counter = db.session.scalars(
        select(InvoiceCounter)
        .where(InvoiceCounter.territory_id == territory_id, InvoiceCounter.year == year)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    counter.last_number += 1
    db.session.flush()
    return counter.last_number


def reference(prefix: str, year: int, number: int) -> str:
    return f"{prefix}-{year}-{number:06d}"


def of_settlement(settlement_id: int) -> CommissionInvoice | None:
    return db.session.scalar(
        select(CommissionInvoice).where(CommissionInvoice.settlement_id == settlement_id)
    )


def by_settlement(settlement_ids: list[int]) -> dict[int, CommissionInvoice]:
    """The invoices of these settlements, by settlement id (one query)."""
    if not settlement_ids:
        return {}
    found = db.session.scalars(
        select(CommissionInvoice).where(CommissionInvoice.settlement_id.in_(settlement_ids))
    )
    return {invoice.settlement_id: invoice for invoice in found}


def issue(settlement: Settlement, now: datetime | None = None) -> CommissionInvoice | None:
    """The settlement's invoice or credit note, issued once (None: no commission).
    Adds and flushes; the caller's transaction commits it with the settlement."""
    found = of_settlement(settlement.id)
    if found is not None:
        return found
    ht, vat = settlement.commission_ht_cents, settlement.commission_vat_cents
    if ht == 0 and vat == 0:
        return None
    shop = db.session.get(Shop, settlement.shop_id)
    assert shop is not None
    territory = db.session.get(Territory, shop.territory_id)
    assert territory is not None
    seller = Seller.of(territory)
    issued_on = (now or utcnow()).astimezone(PARIS).date()
    number = next_number(territory.id, issued_on.year)
    invoice = CommissionInvoice(
        settlement_id=settlement.id,
        territory_id=territory.id,
        year=issued_on.year,
        number=number,
        reference=reference(seller.prefix, issued_on.year, number),
        kind=InvoiceKind.INVOICE if ht + vat > 0 else InvoiceKind.CREDIT_NOTE,
        issued_on=issued_on,
        seller_name=seller.name[:200],
        seller_address=seller.address[:300],
        seller_siret=seller.siret[:14],
        seller_vat_number=seller.vat_number[:20],
        buyer_name=shop.name[:200],
        buyer_address=f"{shop.street}, {shop.postcode} {shop.commune.name}"[:300],
        buyer_siret=shop.siret,
        rate_bp=territory.commission_rate_bp,
        ht_cents=ht,
        vat_rate_bp=territory.commission_vat_bp,
        vat_cents=vat,
    )
    db.session.add(invoice)
    db.session.flush()
    return invoice


def refunded_sales_invoices(settlement_id: int) -> list[str]:
    """The invoices that charged the commission a credit note gives back: those of
    the settlements that paid the sales refunded in this one."""
    refund = aliased(SettlementItem)
    sale = aliased(SettlementItem)
    return list(
        db.session.scalars(
            select(CommissionInvoice.reference)
            .join(sale, sale.settlement_id == CommissionInvoice.settlement_id)
            .join(refund, refund.sub_order_id == sale.sub_order_id)
            .where(
                refund.settlement_id == settlement_id,
                refund.kind == "refund",
                sale.kind == "sale",
                CommissionInvoice.settlement_id != settlement_id,
            )
            .distinct()
            .order_by(CommissionInvoice.reference)
        )
    )
