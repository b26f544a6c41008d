"""A shop's sales: orders, revenue, average basket and best sellers by Paris day,
week or month.

The orders live in the shop domain, above this one (import-linter layers), so their
tables are named by table here, never imported (DESIGN: "a foreign key to a later
domain's table is named by table"). Everything is set-based: one GROUP BY query for
the periods and one for the best sellers, whatever the number of orders.

What counts as a sale: a sub-order of the shop whose order was paid (statuses from
`paid` on; neither `pending_payment` nor `cancelled`), dated by the order's payment
time in Europe/Paris. Revenue is what the customers paid (items and delivery, VAT
included) less the refunds that succeeded, each refund counted in the period of the
sale it refunds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, String, and_, cast, column, func, literal, select, table
from sqlalchemy.sql.elements import ColumnElement

from marketplace.extensions import db
from marketplace.models import utcnow

from .hours import PARIS

# The shop domain's tables, by name (read only).
sub_order = table(
    "sub_order",
    column("id", Integer),
    column("order_id", Integer),
    column("shop_id", Integer),
    column("status"),
    column("items_cents", Integer),
    column("delivery_fee_cents", Integer),
)
customer_order = table("customer_order", column("id", Integer), column("paid_at"))
order_line = table(
    "order_line",
    column("id", Integer),
    column("sub_order_id", Integer),
    column("product_name"),
    column("variant_label"),
    column("sku"),
    column("unit_price_cents", Integer),
    column("quantity", Integer),
)
refund = table(
    "refund",
    column("sub_order_id", Integer),
    column("amount_cents", Integer),
    column("status"),
    column("allocation"),
)

# Sub-order statuses that are sales (paid and after); not pending_payment, cancelled.
SOLD_STATUSES = ("paid", "accepted", "preparing", "ready", "collected", "refused", "refunded")
REFUND_SUCCEEDED = "succeeded"

PERIODS = ("day", "week", "month")
# How many buckets each period shows, ending with the current one.
SPANS = {"day": 30, "week": 12, "month": 12}
BEST_SELLERS = 10


@dataclass(frozen=True)
class Bucket:
    start: date  # first Paris day of the day, week (Monday) or month
    orders: int
    revenue_cents: int

    @property
    def average_cents(self) -> int:
        return round(self.revenue_cents / self.orders) if self.orders else 0


@dataclass(frozen=True)
class BestSeller:
    product_name: str
    variant_label: str
    sku: str
    quantity: int
    revenue_cents: int


@dataclass(frozen=True)
class SalesReport:
    period: str
    first_day: date
    last_day: date
    buckets: list[Bucket]
    best_sellers: list[BestSeller]

    @property
    def orders(self) -> int:
        return sum(b.orders for b in self.buckets)

    @property
    def revenue_cents(self) -> int:
        return sum(b.revenue_cents for b in self.buckets)

    @property
    def average_cents(self) -> int:
        return round(self.revenue_cents / self.orders) if self.orders else 0


def bucket_start(day: date, period: str) -> date:
    """The first day of the bucket `day` falls in."""
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day


def _shift(start: date, period: str, steps: int) -> date:
    """`start` (a bucket start) moved by `steps` buckets (negative: back)."""
    if period == "day":
        return start + timedelta(days=steps)
    if period == "week":
        return start + timedelta(weeks=steps)
    months = start.year * 12 + start.month - 1 + steps
    return date(months // 12, months % 12 + 1, 1)


def bucket_starts(period: str, today: date) -> list[date]:
    """The starts of the buckets shown, oldest first, the current one last."""
    current = bucket_start(today, period)
    return [_shift(current, period, -n) for n in range(SPANS[period] - 1, -1, -1)]


def _paris_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=PARIS)


def _sales_filter(shop_id: int, since: datetime, until: datetime) -> ColumnElement[bool]:
    return and_(
        sub_order.c.shop_id == shop_id,
        cast(sub_order.c.status, String).in_(SOLD_STATUSES),
        customer_order.c.paid_at.is_not(None),
        customer_order.c.paid_at >= since,
        customer_order.c.paid_at < until,
    )


def sales_report(shop_id: int, period: str = "day", now: datetime | None = None) -> SalesReport:
    """The shop's sales over the last SPANS[period] Paris days, weeks or months."""
    if period not in PERIODS:
        raise ValueError(f"unknown period {period!r}")
    today = (now or utcnow()).astimezone(PARIS).date()
    starts = bucket_starts(period, today)
    since = _paris_midnight(starts[0])
    until = _paris_midnight(_shift(starts[-1], period, 1))
    sold = _sales_filter(shop_id, since, until)
    sales = sub_order.join(customer_order, customer_order.c.id == sub_order.c.order_id)

    refunded = (
        select(
            refund.c.sub_order_id.label("sub_order_id"),
            func.sum(refund.c.amount_cents).label("cents"),
        )
        .where(refund.c.status == REFUND_SUCCEEDED)
        .group_by(refund.c.sub_order_id)
        .subquery("refunded")
    )
    paris_day = func.timezone(literal("Europe/Paris"), customer_order.c.paid_at)
    bucket = func.date_trunc(literal(period), paris_day).label("bucket")
    per_bucket = (
        select(
            bucket,
            func.count(sub_order.c.id).label("orders"),
            func.coalesce(
                func.sum(
                    sub_order.c.items_cents
                    + sub_order.c.delivery_fee_cents
                    - func.coalesce(refunded.c.cents, 0)
                ),
                0,
            ).label("revenue"),
        )
        .select_from(sales.outerjoin(refunded, refunded.c.sub_order_id == sub_order.c.id))
        .where(sold)
        .group_by(bucket)
    )
    found: dict[date, Any] = {row.bucket.date(): row for row in db.session.execute(per_bucket)}
    buckets = [
        Bucket(
            start=start,
            orders=int(found[start].orders) if start in found else 0,
            revenue_cents=int(found[start].revenue) if start in found else 0,
        )
        for start in starts
    ]
    return SalesReport(
        period=period,
        first_day=starts[0],
        last_day=_shift(starts[-1], period, 1) - timedelta(days=1),
        buckets=buckets,
        best_sellers=_best_sellers(sales, sold),
    )


def _best_sellers(sales: Any, sold: ColumnElement[bool]) -> list[BestSeller]:
    """The lines sold most over the window (by quantity), with their revenue less the
    refunds allocated to them ({"<line id>": cents} in refund.allocation)."""
    allocation = func.json_each_text(refund.c.allocation).table_valued("key", "value")
    line_refunds = (
        select(
            cast(allocation.c.key, Integer).label("line_id"),
            func.sum(cast(allocation.c.value, Integer)).label("cents"),
        )
        .select_from(refund.join(allocation, literal(True)))
        .where(refund.c.status == REFUND_SUCCEEDED, allocation.c.key.regexp_match("^[0-9]+$"))
        .group_by(allocation.c.key)
        .subquery("line_refunds")
    )
    quantity = func.sum(order_line.c.quantity).label("quantity")
    revenue = func.sum(
        order_line.c.quantity * order_line.c.unit_price_cents
        - func.coalesce(line_refunds.c.cents, 0)
    ).label("revenue")
    query = (
        select(
            order_line.c.product_name,
            order_line.c.variant_label,
            order_line.c.sku,
            quantity,
            revenue,
        )
        .select_from(
            sales.join(order_line, order_line.c.sub_order_id == sub_order.c.id).outerjoin(
                line_refunds, line_refunds.c.line_id == order_line.c.id
            )
        )
        .where(sold)
        .group_by(order_line.c.sku, order_line.c.product_name, order_line.c.variant_label)
        .order_by(quantity.desc(), revenue.desc(), order_line.c.product_name)
        .limit(BEST_SELLERS)
    )
    return [
        BestSeller(
            product_name=row.product_name,
            variant_label=row.variant_label or "",
            sku=row.sku,
            quantity=int(row.quantity),
            revenue_cents=int(row.revenue),
        )
        for row in db.session.execute(query)
    ]
