"""Settlement rows: one per shop and period, the items it claimed, payout accounts.

Money in integer cents. A settlement *claims* the sales (sub-orders fulfilled before
its period's end) and the refunds (succeeded before its end, on a claimed sale) that
no settlement claimed before: unique indexes make each item belong to one settlement
only, so a sale is paid once and a refund made after its sale was settled is carried
into the shop's next settlement, never lost.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.extensions import Base
from marketplace.models import TimestampMixin, UTCDateTime, _enum, utcnow

# The shop's Stripe Connect account lives with the shop (merchants); named here too
# for the settlement code that reads it.
from merchants.models import PayoutAccount  # noqa: F401


class SettlementStatus(enum.StrEnum):
    PENDING = "pending"  # created by a run, nothing computed yet
    COMPUTED = "computed"  # items claimed, amounts frozen
    PAYING = "paying"  # payout sent (or about to be): resumed with the same key
    PAID = "paid"  # payout done (or nothing to pay) and booked in the ledger
    FAILED = "failed"  # the payout was refused; retried automatically or by staff


class PayoutMethod(enum.StrEnum):
    STRIPE = "stripe"  # Stripe Connect transfer to the shop's connected account
    SEPA = "sepa"  # to be paid by SEPA credit transfer by the collectivité's treasury
    NONE = "none"  # nothing to pay (zero, or a debit carried forward)


class Settlement(TimestampMixin, Base):
    __tablename__ = "settlement"
    __table_args__ = (UniqueConstraint("shop_id", "period_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id"), index=True)
    period_start: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    period_end: Mapped[datetime] = mapped_column(UTCDateTime())
    # Sales fulfilled before this instant are claimed: the period's end, or earlier
    # when the territory's hold after fulfilment had not passed at the run (those
    # sales wait for the shop's next settlement). Set once, when the run creates
    # the row; empty on rows made before the hold existed (the period's end then).
    sales_cutoff: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[SettlementStatus] = mapped_column(
        _enum(SettlementStatus, "settlement_status"), default=SettlementStatus.PENDING, index=True
    )
    # Frozen at compute time.
    sales_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    sales_count: Mapped[int] = mapped_column(Integer, default=0)
    refunds_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    refunds_count: Mapped[int] = mapped_column(Integer, default=0)
    # Net commission (on sales, minus what refunds reversed), HT and its VAT.
    commission_ht_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    commission_vat_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    # A negative balance of an earlier settlement taken into this one (≤ 0).
    carry_in_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    carried_from_id: Mapped[int | None] = mapped_column(ForeignKey("settlement.id"), unique=True)
    payout_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    carry_out_cents: Mapped[int] = mapped_column(BigInteger, default=0)  # ≤ 0
    payout_method: Mapped[PayoutMethod | None] = mapped_column(_enum(PayoutMethod, "payout_method"))
    destination: Mapped[str | None] = mapped_column(String(255))
    transfer_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    computed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Its last progress (every step changes the row): one unfinished and unchanged
    # for long has lost its task, while one a worker is paying was changed when the
    # attempt began (admin.resume_settlements).
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    @property
    def commission_ttc_cents(self) -> int:
        return self.commission_ht_cents + self.commission_vat_cents

    @property
    def claims_until(self) -> datetime:
        return self.sales_cutoff or self.period_end

    @property
    def transfer_group(self) -> str:
        return f"settlement-{self.id}"

    @property
    def idempotency_key(self) -> str:
        """Same key while an attempt's outcome is unknown (a crash resumes it)."""
        return f"settlement-{self.id}-payout-{self.attempts}"


class SettlementItem(Base):
    """A sale or a refund claimed by one settlement (the statement's lines)."""

    __tablename__ = "settlement_item"
    __table_args__ = (
        Index(
            "uq_settlement_item_sale",
            "sub_order_id",
            unique=True,
            postgresql_where=text("kind = 'sale'"),
            sqlite_where=text("kind = 'sale'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    settlement_id: Mapped[int] = mapped_column(
        ForeignKey("settlement.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(10))  # "sale" or "refund"
    sub_order_id: Mapped[int] = mapped_column(ForeignKey("sub_order.id"))
    refund_id: Mapped[int | None] = mapped_column(ForeignKey("refund.id"), unique=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    commission_ht_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    commission_vat_cents: Mapped[int] = mapped_column(BigInteger, default=0)


class ReconciliationReport(TimestampMixin, Base):
    """The ledger compared with Stripe's balance transactions for one period (one
    report per period: running it again replaces its differences)."""

    __tablename__ = "reconciliation_report"
    __table_args__ = (UniqueConstraint("period_start", "period_end"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    period_start: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    period_end: Mapped[datetime] = mapped_column(UTCDateTime())
    ran_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # What each side holds for the period (payments, refunds, transfers), signed as
    # Stripe's balance: money in positive, money out negative.
    stripe_count: Mapped[int] = mapped_column(Integer, default=0)
    stripe_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    ledger_count: Mapped[int] = mapped_column(Integer, default=0)
    ledger_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    difference_count: Mapped[int] = mapped_column(Integer, default=0)

    differences: Mapped[list[ReconciliationDifference]] = relationship(
        back_populates="report",
        cascade="all, delete-orphan",
        order_by="ReconciliationDifference.id",
    )


class DifferenceKind(enum.StrEnum):
    MISSING_IN_LEDGER = "missing_in_ledger"  # in Stripe, not in the ledger
    MISSING_IN_STRIPE = "missing_in_stripe"  # in the ledger, not in Stripe
    AMOUNT_MISMATCH = "amount_mismatch"  # in both, amounts differ


class ReconciliationDifference(Base):
    """One difference: Stripe object ids and amounts only, never personal data."""

    __tablename__ = "reconciliation_difference"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(
        ForeignKey("reconciliation_report.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[DifferenceKind] = mapped_column(_enum(DifferenceKind, "difference_kind"))
    object_type: Mapped[str] = mapped_column(String(20))  # payment, refund, transfer
    stripe_id: Mapped[str | None] = mapped_column(String(255))
    balance_transaction_id: Mapped[str | None] = mapped_column(String(255))
    ledger_reference: Mapped[str | None] = mapped_column(String(120))
    stripe_cents: Mapped[int | None] = mapped_column(BigInteger)
    ledger_cents: Mapped[int | None] = mapped_column(BigInteger)
    occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    report: Mapped[ReconciliationReport] = relationship(back_populates="differences")


class InvoiceKind(enum.StrEnum):
    INVOICE = "invoice"  # facture: the period's commission
    CREDIT_NOTE = "credit_note"  # avoir: reversals exceeded the period's commission


class InvoiceCounter(Base):
    """The last number given per territory and calendar year (Europe/Paris).

    Locked FOR UPDATE by the transaction that issues an invoice, so numbers follow
    each other without gaps: a rolled-back transaction gives its number back
    (a sequence would not)."""

    __tablename__ = "invoice_counter"

    territory_id: Mapped[int] = mapped_column(ForeignKey("territory.id"), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_number: Mapped[int] = mapped_column(Integer, default=0)


class CommissionInvoice(TimestampMixin, Base):
    """The commission invoice (or credit note) of one settlement, frozen at issue:
    the parties as they were, the amounts, the number (art. 242 nonies A CGI)."""

    __tablename__ = "commission_invoice"
    __table_args__ = (UniqueConstraint("territory_id", "year", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    settlement_id: Mapped[int] = mapped_column(ForeignKey("settlement.id"), unique=True)
    territory_id: Mapped[int] = mapped_column(ForeignKey("territory.id"))
    year: Mapped[int] = mapped_column(Integer)
    number: Mapped[int] = mapped_column(Integer)
    # CPT-200030674-2026-000123: the territory's prefix (settings.Seller), year, number.
    reference: Mapped[str] = mapped_column(String(40))
    kind: Mapped[InvoiceKind] = mapped_column(_enum(InvoiceKind, "invoice_kind"))
    issued_on: Mapped[date] = mapped_column(Date)
    seller_name: Mapped[str] = mapped_column(String(200))
    seller_address: Mapped[str] = mapped_column(String(300))
    seller_siret: Mapped[str] = mapped_column(String(14))
    seller_vat_number: Mapped[str] = mapped_column(String(20))
    buyer_name: Mapped[str] = mapped_column(String(200))
    buyer_address: Mapped[str] = mapped_column(String(300))
    buyer_siret: Mapped[str] = mapped_column(String(14))
    # Signed like the settlement's commission: negative on a credit note.
    rate_bp: Mapped[int] = mapped_column(Integer)  # the territory's rate, 550 = 5.5 %
    ht_cents: Mapped[int] = mapped_column(BigInteger)
    vat_rate_bp: Mapped[int] = mapped_column(Integer)
    vat_cents: Mapped[int] = mapped_column(BigInteger)

    settlement: Mapped[Settlement] = relationship()

    @property
    def ttc_cents(self) -> int:
        return self.ht_cents + self.vat_cents
