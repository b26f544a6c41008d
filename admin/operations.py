"""The collectivité's figures, read for its back office."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from marketplace import ledger
from marketplace.extensions import db
from marketplace.models import LedgerAccount, LedgerEntry, LedgerTransaction
from merchants.models import Shop, ShopStatus
from shop.models import Order, OrderStatus

from .settlement import operations as settlement_ops


@dataclass(frozen=True)
class DashboardFigures:
    shops_by_status: list[tuple[ShopStatus, int]]
    paid_orders: int
    sales_cents: int


def dashboard_figures() -> DashboardFigures:
    """First adoption figures: shops by status, paid orders and their sales."""
    shops = db.session.execute(select(Shop.status, func.count()).group_by(Shop.status)).all()
    paid_orders, sales = db.session.execute(
        select(func.count(Order.id), func.coalesce(func.sum(Order.total_cents), 0)).where(
            Order.status == OrderStatus.PAID
        )
    ).one()
    return DashboardFigures([(s, n) for s, n in shops], paid_orders, sales)


@dataclass(frozen=True)
class MonthRevenue:
    """The platform's money of one Europe/Paris month: the commission settled (HT,
    its VAT) and the Cityzens' rewards it funded (credited less reversed)."""

    month: str
    commission_ht_cents: int
    commission_vat_cents: int
    rewards_cents: int

    @property
    def net_cents(self) -> int:
        """The commission HT left once the rewards are paid."""
        return self.commission_ht_cents - self.rewards_cents


def rewards_by_month(limit: int = 24) -> dict[str, int]:
    """The platform's rewards expense per month, from the ledger."""
    label = settlement_ops.paris_month(LedgerTransaction.occurred_at)
    rows = db.session.execute(
        select(label, func.sum(LedgerEntry.amount))
        .join(LedgerEntry.transaction)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(LedgerAccount.code == ledger.PLATFORM_REWARDS[0])
        .group_by(label)
        .order_by(label.desc())
        .limit(limit)
    ).all()
    return {str(month): int(total or 0) for month, total in rows}


def monthly_revenue(limit: int = 24) -> list[MonthRevenue]:
    """Commission and rewards side by side, newest month first."""
    commission = {m: (ht, vat) for m, ht, vat in settlement_ops.commission_by_month(limit)}
    rewards = rewards_by_month(limit)
    months = sorted(commission.keys() | rewards.keys(), reverse=True)[:limit]
    return [MonthRevenue(m, *commission.get(m, (0, 0)), rewards.get(m, 0)) for m in months]
