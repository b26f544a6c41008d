"""The shop's sales page: orders, revenue less refunds, average basket, best sellers
by Paris day/week/month, set-based (constant number of queries), the SVG chart with
its table, the shop's staff only."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest

from marketplace.extensions import db
from marketplace.models import Role
from merchants.operations import sales as sales_ops
from shop.models import SubOrderStatus
from tests.factories import (
    DEFAULT_PASSWORD,
    ShopFactory,
    UserFactory,
    VariantFactory,
    add_staff,
)
from tests.helpers import login
from tests.merchants.sales_data import make_sale

S = SubOrderStatus
NOW = datetime(2026, 3, 31, 10, 0, tzinfo=UTC)  # Tuesday, summer time in Paris since the 29th


@pytest.fixture
def shop_sales(app):
    shop = ShopFactory(name="Épicerie Lune")
    other = ShopFactory(name="Autre Boutique")
    owner = UserFactory(roles=[Role.MERCHANT])
    add_staff(shop, owner)
    resident = UserFactory(roles=[Role.RESIDENT])
    jam = VariantFactory(
        product__shop=shop, product__name="Confiture", sku="CONF-1", price_cents=500
    )
    tea = VariantFactory(
        product__shop=shop, product__name="Thé vert", sku="THE-1", price_cents=1200
    )
    alien = VariantFactory(product__shop=other, product__name="Ailleurs", price_cents=9900)
    # Monday 30 March, 23:30 in Paris (21:30 UTC) and Tuesday 31 at 00:30 Paris.
    make_sale(shop, resident, [(jam, 2)], datetime(2026, 3, 30, 21, 30, tzinfo=UTC))
    make_sale(
        shop,
        resident,
        [(tea, 1), (jam, 1)],
        datetime(2026, 3, 30, 22, 30, tzinfo=UTC),
        status=S.COLLECTED,
        refunds=[(500, {"line:1": 500})],  # the jar refunded
    )
    # 29 March 00:30 UTC = 29 March 01:30 Paris (still winter time, UTC+1): a Sunday.
    make_sale(shop, resident, [(tea, 3)], datetime(2026, 3, 29, 0, 30, tzinfo=UTC), status=S.READY)
    # Last month.
    make_sale(shop, resident, [(jam, 1)], datetime(2026, 2, 10, 12, 0, tzinfo=UTC))
    # Not sales: unpaid, cancelled, another shop's.
    make_sale(shop, resident, [(tea, 5)], None, status=S.PENDING_PAYMENT)
    make_sale(shop, resident, [(tea, 5)], datetime(2026, 3, 30, 9, tzinfo=UTC), status=S.CANCELLED)
    make_sale(other, resident, [(alien, 1)], datetime(2026, 3, 30, 9, tzinfo=UTC))
    db.session.commit()
    return {"shop": shop, "other": other, "owner": owner, "resident": resident}


def by_start(report):
    return {b.start: (b.orders, b.revenue_cents) for b in report.buckets}


def test_days_in_paris_time_refunds_subtracted(app, shop_sales):
    report = sales_ops.sales_report(shop_sales["shop"].id, "day", now=NOW)
    days = by_start(report)
    assert len(report.buckets) == 30 and report.buckets[-1].start == date(2026, 3, 31)
    assert days[date(2026, 3, 30)] == (1, 1000)  # 23:30 Paris: still Monday
    assert days[date(2026, 3, 31)] == (1, 1200)  # 1700 less the 500 refunded
    assert days[date(2026, 3, 29)] == (1, 3600)
    assert sum(o for o, _ in days.values()) == 3  # February is outside 30 days
    assert report.orders == 3 and report.revenue_cents == 5800
    assert report.average_cents == 1933


def test_weeks_and_months(app, shop_sales):
    weeks = by_start(sales_ops.sales_report(shop_sales["shop"].id, "week", now=NOW))
    assert weeks[date(2026, 3, 30)] == (2, 2200)  # Monday 30 March onwards
    assert weeks[date(2026, 3, 23)] == (1, 3600)  # Sunday 29 belongs to the week before
    assert len(weeks) == 12
    months = sales_ops.sales_report(shop_sales["shop"].id, "month", now=NOW)
    got = by_start(months)
    assert got[date(2026, 3, 1)] == (3, 5800)
    assert got[date(2026, 2, 1)] == (1, 500)
    assert months.buckets[0].start == date(2025, 4, 1)
    assert months.orders == 4


def test_best_sellers_by_quantity_net_of_line_refunds(app, shop_sales):
    best = sales_ops.sales_report(shop_sales["shop"].id, "month", now=NOW).best_sellers
    assert [(b.sku, b.quantity, b.revenue_cents) for b in best] == [
        ("THE-1", 4, 4800),  # same quantity: the higher revenue first
        ("CONF-1", 4, 1500),  # 4 jars at 5 € less the one refunded
    ]


def test_constant_number_of_queries(app, shop_sales, count_queries):
    shop = shop_sales["shop"]
    resident = shop_sales["resident"]
    with count_queries() as few:
        sales_ops.sales_report(shop.id, "day", now=NOW)
    variant = VariantFactory(product__shop=shop, price_cents=100)
    for day in range(20):
        make_sale(shop, resident, [(variant, 1)], NOW - timedelta(days=day, hours=1))
    db.session.commit()
    with count_queries() as many:
        report = sales_ops.sales_report(shop.id, "day", now=NOW)
    assert many.count == few.count == 2
    assert report.orders == 23


def test_unknown_period_refused():
    with pytest.raises(ValueError):
        sales_ops.sales_report(1, "year")


def test_page_chart_table_and_selector(app, client, shop_sales):
    shop = shop_sales["shop"]
    login(client, shop_sales["owner"].email, DEFAULT_PASSWORD)
    page = client.get(f"/boutique/{shop.id}/ventes?period=month")
    assert page.status_code == 200
    html = page.text
    svg = re.search(r"<svg[^>]*>.*?</svg>", html, re.S).group(0)
    assert 'role="img"' in svg and 'aria-labelledby="sales-chart-title sales-chart-desc"' in svg
    assert '<title id="sales-chart-title">' in svg and '<desc id="sales-chart-desc">' in svg
    assert svg.count("<rect") == 12
    assert "<script" not in html.split('id="main"', 1)[1].split("</main>")[0]
    table = html.split('id="sales-table"', 1)[1].split("</table>", 1)[0]
    assert table.count("<tr>") == 13  # header and 12 months
    assert "Confiture" in html and "CONF-1" in html
    assert "Ailleurs" not in html
    assert '<option value="month" selected>' in html
    # The other periods and a bad one (falls back to days).
    assert client.get(f"/boutique/{shop.id}/ventes?period=week").status_code == 200
    day = client.get(f"/boutique/{shop.id}/ventes?period=nope")
    assert '<option value="day" selected>' in day.text


def test_other_shops_residents_and_anonymous_do_not_see_it(app, client, shop_sales):
    shop, other = shop_sales["shop"], shop_sales["other"]
    assert client.get(f"/boutique/{shop.id}/ventes").status_code == 302  # log in first
    login(client, shop_sales["owner"].email, DEFAULT_PASSWORD)
    assert client.get(f"/boutique/{other.id}/ventes").status_code == 404
    resident_client = app.test_client()
    login(resident_client, shop_sales["resident"].email, DEFAULT_PASSWORD)
    assert resident_client.get(f"/boutique/{shop.id}/ventes").status_code in (403, 404)


def test_chart_gridlines_at_round_sums():
    from merchants.views.sales import nice_step

    assert [nice_step(c) for c in (0, 100, 101, 350, 938, 1200, 60_000)] == [
        100,
        100,
        200,
        500,
        1000,
        2000,
        100_000,
    ]
