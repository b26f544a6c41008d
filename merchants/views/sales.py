"""The shop's sales page: orders, revenue, average basket and best sellers by Paris
day, week or month, with a server-drawn SVG chart (no script) and the same figures
in a table."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask import render_template, request
from flask_babel import format_date
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from marketplace.i18n import money
from marketplace.models import Role
from marketplace.security import role_required

from ..operations import sales as sales_ops
from .common import bp, staff_shop_or_404

PERIOD_LABELS = {"day": _l("Par jour"), "week": _l("Par semaine"), "month": _l("Par mois")}

# The chart's drawing area, in SVG user units (the SVG scales to its container).
CHART_WIDTH, CHART_HEIGHT = 720, 260
MARGIN_LEFT, MARGIN_BOTTOM, MARGIN_TOP = 70, 40, 16


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    tick: str  # the axis label, empty when skipped for room
    title: str


def bucket_label(start: date, period: str) -> str:
    if period == "month":
        return str(format_date(start, "MMMM y"))
    if period == "week":
        return _("semaine du %(day)s", day=format_date(start, "d MMM y"))
    return str(format_date(start, "EEE d MMM"))


def _tick(start: date, period: str) -> str:
    if period == "month":
        return str(format_date(start, "MMM yy"))
    return str(format_date(start, "d/MM"))


def nice_step(cents: float) -> int:
    """The smallest of 1, 2, 5 × 10ⁿ euros at least `cents` (gridlines at round sums)."""
    step = 100
    while True:
        for factor in (1, 2, 5):
            if step * factor >= cents:
                return step * factor
        step *= 10


def chart_bars(report: sales_ops.SalesReport) -> tuple[list[Bar], list[tuple[float, str]]]:
    """The revenue bars and the y-axis gridlines (y, label) of the chart."""
    plot_w = CHART_WIDTH - MARGIN_LEFT - 10
    plot_h = CHART_HEIGHT - MARGIN_BOTTOM - MARGIN_TOP
    top = max((b.revenue_cents for b in report.buckets), default=0)
    scale_max = 4 * nice_step(top / 4)
    step = plot_w / max(len(report.buckets), 1)
    every = max(1, len(report.buckets) // 10)  # at most about 10 tick labels
    bars = []
    for i, bucket in enumerate(report.buckets):
        height = max(bucket.revenue_cents, 0) / scale_max * plot_h
        label = bucket_label(bucket.start, report.period)
        bars.append(
            Bar(
                x=round(MARGIN_LEFT + i * step + step * 0.15, 1),
                y=round(MARGIN_TOP + plot_h - height, 1),
                width=round(step * 0.7, 1),
                height=round(height, 1),
                label=label,
                tick=_tick(bucket.start, report.period) if i % every == 0 else "",
                title=_(
                    "%(when)s : %(revenue)s, %(orders)d commande(s)",
                    when=label,
                    revenue=money(bucket.revenue_cents),
                    orders=bucket.orders,
                ),
            )
        )
    grid = [
        (round(MARGIN_TOP + plot_h - plot_h * k / 4, 1), money(round(scale_max * k / 4)))
        for k in range(5)
    ]
    return bars, grid


@bp.get("/<int:shop_id>/ventes")
@role_required(Role.MERCHANT)
def sales(shop_id: int) -> str:
    """The shop's sales (its staff only; another shop's is a 404)."""
    shop = staff_shop_or_404(shop_id)
    period = request.args.get("period", "day")
    if period not in sales_ops.PERIODS:
        period = "day"
    report = sales_ops.sales_report(shop.id, period)
    bars, grid = chart_bars(report)
    return render_template(
        "merchants/sales.html",
        shop=shop,
        report=report,
        period=period,
        period_labels=PERIOD_LABELS,
        bars=bars,
        grid=grid,
        first_day=format_date(report.first_day, "d MMMM y"),
        last_day=format_date(report.last_day, "d MMMM y"),
        chart={
            "width": CHART_WIDTH,
            "height": CHART_HEIGHT,
            "left": MARGIN_LEFT,
            "bottom": CHART_HEIGHT - MARGIN_BOTTOM,
        },
    )
