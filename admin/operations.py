"""The collectivité's figures, read for its back office."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from marketplace.extensions import db
from merchants.models import Shop, ShopStatus
from shop.models import Order, OrderStatus


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
