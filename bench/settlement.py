"""Settlement benchmark: 1,000 shops, 100,000 then 1,000,000 sub-orders on PostgreSQL.

    python -m bench.settlement                      # 1,000 shops; 100k and 1M sub-orders
    python -m bench.settlement --sizes 10000 100000 # a quick look

Needs PostgreSQL on 127.0.0.1:5432 with a role allowed to create databases (trust, as
for the tests); nothing else (settlements run in-process; shops without a connected
account, so payouts are "to be paid by SEPA transfer": no Stripe). For each size:

1. drops and creates the database `comptoir_bench_settle` (BENCH_SETTLE_DATABASE_URL),
   runs the migrations;
2. generates the rows with set-based Core `INSERT … SELECT generate_series(…)`: one
   territory, 1,000 approved shops, one order per 1,000 sub-orders (one sub-order per
   shop in an order), sub-orders with frozen commission, each collected during one
   Paris week (a `sub_order_event`), 2 % of them partly refunded; then `ANALYZE`;
3. times a plain `SELECT sum(items_cents + delivery_fee_cents)` over the same
   sub-orders (best of 3), then the whole weekly run exactly as the task does it:
   `start_run` (one settlement per shop) and `settle` for each (claim sales and
   refunds with INSERT … SELECT, one GROUP BY for the totals, payout booked in the
   ledger, commit), checking the totals against the generated rows;
4. reports time, peak Python memory (tracemalloc) and the process's max RSS, and
   the time ratio between the sizes (target ≤ 11× for 10× the rows, memory flat).
"""

from __future__ import annotations

import argparse
import os
import resource
import time
import tracemalloc
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import text

SHOPS = 1000
URL = os.environ.get(
    "BENCH_SETTLE_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/comptoir_bench_settle"
)
WEEK_START = datetime(2026, 10, 18, 22, tzinfo=UTC)  # Monday 19 October 2026, 00:00 Paris


# Sequences moved past the ids given explicitly (table names are constants above).
RESEQUENCE = "SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"


def recreate_database(url: str) -> None:
    target = sa.engine.make_url(url)
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()


def generate(conn: sa.Connection, shops: int, sub_orders: int) -> None:
    """Set-based inserts: every row built by PostgreSQL from generate_series."""
    per_order = shops  # one sub-order per shop in each order
    orders = (sub_orders + per_order - 1) // per_order
    params = {"shops": shops, "subs": sub_orders, "orders": orders, "week": WEEK_START}
    statements = [
        """INSERT INTO territory (id, slug, name, commission_rate_bp, commission_vat_bp,
               settings, created_at)
           VALUES (1, 'bench', 'Bench', 550, 2000, '{}', now())""",
        """INSERT INTO commune (id, territory_id, insee_code, name, slug, population,
               postcodes, latitude, longitude)
           VALUES (1, 1, '47157', 'Marmande', 'marmande', 17000, '["47200"]', 44.5, 0.16)""",
        """INSERT INTO trade (id, slug, name_fr, name_en) VALUES (1, 'bench', 'Banc', 'Bench')""",
        """INSERT INTO shop (id, territory_id, commune_id, trade_id, slug, name, siret,
               status, street, postcode, latitude, longitude, tagline, story, advice,
               photo_alt, fulfilment_methods, preparation_minutes, created_at)
           SELECT g, 1, 1, 1, 'bench-' || g, 'Boutique ' || g, '73282932000074',
               'approved', '1 rue de la Paix', '47200', 44.5, 0.16, '', '', '', '',
               '["click_and_collect"]', 120, now()
           FROM generate_series(1, :shops) g""",
        """INSERT INTO user_account (id, email, password_hash, first_name, last_name,
               locale, is_active, session_token, created_at)
           VALUES (1, 'bench@example.org', 'x', 'Bench', 'Resident', 'fr', true,
               md5('bench'), now())""",
        """INSERT INTO customer_order (id, public_id, checkout_key, user_id, territory_id,
               status, contact_name, contact_email, contact_phone, total_cents, paid_at,
               created_at)
           SELECT g, md5('o' || g)::uuid, md5('k' || g)::uuid, 1, 1, 'paid', 'Bench',
               'bench@example.org', '0600000000', 0, :week, :week
           FROM generate_series(1, :orders) g""",
        """INSERT INTO payment (id, order_id, provider, intent_id, client_secret,
               amount_cents, currency, status, succeeded_at, created_at)
           SELECT g, g, 'stripe', 'pi_bench_' || g, 's', 0, 'eur', 'succeeded', :week,
               :week
           FROM generate_series(1, :orders) g""",
        # items between 5,00 and 105,00; delivery fee on one in four; commission
        # frozen as at payment (one line: 5.5 % rounded half up, VAT 20 % on it).
        """INSERT INTO sub_order (id, order_id, shop_id, reference, status,
               fulfilment_method, items_cents, delivery_fee_cents, pickup_code,
               commission_rate_bp, commission_vat_bp, commission_ht_cents,
               commission_vat_cents, created_at)
           SELECT g, (g - 1) / :shops + 1, (g - 1) % :shops + 1, 'B' || g, 'collected',
               'click_and_collect', s.items, s.fee, '123456', 550, 2000, s.ht,
               (s.ht * 2000 + 5000) / 10000, :week
           FROM generate_series(1, :subs) g,
           LATERAL (SELECT 500 + (g::bigint * 7919) % 10000 AS items,
                           CASE WHEN g % 4 = 0 THEN 390 ELSE 0 END AS fee,
                           ((500 + (g::bigint * 7919) % 10000) * 550 + 5000) / 10000 AS ht) s""",
        """INSERT INTO order_line (sub_order_id, product_name, variant_label, sku,
               unit_price_cents, vat_rate_bp, quantity)
           SELECT id, 'Produit', '', 'SKU-' || id, items_cents, 2000, 1 FROM sub_order""",
        """INSERT INTO sub_order_event (sub_order_id, from_status, to_status, actor_kind,
               note, at)
           SELECT id, 'ready', 'collected', 'system', '',
               :week + ((id::bigint * 104729) % (7 * 86400)) * interval '1 second'
           FROM sub_order""",
        # 2 % partly refunded (a quarter), commission reversed on that quarter.
        """INSERT INTO refund (payment_id, sub_order_id, amount_cents, reason, status,
               idempotency_key, allocation, commission_ht_cents, commission_vat_cents,
               actor_kind, processed_at, created_at)
           SELECT order_id, id, items_cents / 4, 'bench', 'succeeded', 'refund-B' || id,
               '{}', ((items_cents / 4) * 550 + 5000) / 10000,
               ((((items_cents / 4) * 550 + 5000) / 10000) * 2000 + 5000) / 10000,
               'system', :week + interval '6 days', :week
           FROM sub_order WHERE id % 50 = 0""",
    ]
    for statement in statements:
        conn.execute(text(statement), params)
    for table in ("territory", "commune", "trade", "shop", "user_account"):
        conn.execute(text(RESEQUENCE.format(table=table)))
    for table in ("customer_order", "payment", "sub_order"):
        conn.execute(text(RESEQUENCE.format(table=table)))
    conn.execute(text("ANALYZE"))


def measure(sub_orders: int, shops: int) -> dict[str, float]:
    from flask_migrate import upgrade

    from admin.settlement import operations as ops
    from admin.settlement.models import Settlement
    from marketplace import create_app
    from marketplace.extensions import db

    recreate_database(URL)
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": URL,
            "SECRET_KEY": "bench",
            "CELERY": {"broker_url": "memory://", "task_always_eager": True},
        }
    )
    with app.app_context():
        upgrade()
        db.session.remove()
        started = time.perf_counter()
        with db.engine.begin() as conn:
            generate(conn, shops, sub_orders)
        generated = time.perf_counter() - started
        sum_times = []
        with db.engine.connect() as conn:
            for _ in range(3):
                t0 = time.perf_counter()
                expected = conn.scalar(
                    text("SELECT sum(items_cents + delivery_fee_cents) FROM sub_order")
                )
                sum_times.append(time.perf_counter() - t0)
        week = ops.week_of(WEEK_START + timedelta(days=1))
        tracemalloc.start()
        t0 = time.perf_counter()
        ids = ops.start_run(*week)
        db.session.commit()
        for settlement_id in ids:
            ops.settle(settlement_id)
        elapsed = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        settled = db.session.scalar(sa.select(sa.func.sum(Settlement.sales_cents)))
        paid = db.session.scalar(sa.select(sa.func.count()).where(Settlement.status == "paid"))
        assert settled == expected, (settled, expected)
        assert paid == shops, paid
        db.session.remove()
        db.engine.dispose()
    return {
        "sub_orders": sub_orders,
        "generate_s": generated,
        "sum_s": min(sum_times),
        "settle_s": elapsed,
        "peak_mib": peak / 2**20,
        "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shops", type=int, default=SHOPS)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    rows = []
    for size in args.sizes:
        print(f"… {args.shops} shops, {size:,} sub-orders", flush=True)
        rows.append(measure(size, args.shops))
    print()
    print(
        f"{'sub-orders':>12} {'generate s':>11} {'SELECT sum() s':>15} {'settle s':>9} "
        f"{'peak Python MiB':>16} {'max RSS MiB':>12}"
    )
    for r in rows:
        print(
            f"{r['sub_orders']:>12,} {r['generate_s']:>11.1f} {r['sum_s']:>15.3f} "
            f"{r['settle_s']:>9.2f} {r['peak_mib']:>16.1f} {r['rss_mib']:>12.0f}"
        )
    if len(rows) >= 2:
        first, last = rows[0], rows[-1]
        scale = last["sub_orders"] / first["sub_orders"]
        ratio = last["settle_s"] / first["settle_s"]
        print(
            f"\n{scale:.0f}× the sub-orders: settlement {ratio:.1f}× "
            f"the time (target ≤ {scale * 1.1:.0f}×), SELECT sum() "
            f"{last['sum_s'] / first['sum_s']:.1f}×, peak Python memory "
            f"{last['peak_mib'] / max(first['peak_mib'], 0.01):.2f}×"
        )
    if not args.keep_db:
        target = sa.engine.make_url(URL)
        admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
