"""Dispatch and rounds benchmark: 500 express jobs offered to 50 couriers through the
real dispatch task, the slot's stored rounds planned by `rounds.plan_slot`, and random
rounds of 8 to 20 stops ordered by `optimise_round` against the order of creation.

    /work/venv/bin/python -m bench.dispatch [--jobs 500 --couriers 50 --rounds 20 ...]

See bench/README.md for what it does and what the figures mean. Never run by the
test suite: it creates (and drops) its own database.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import random
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/dispatch.py` as well as `-m bench.dispatch`
    sys.path.insert(0, str(ROOT))

TARGET_SAVING = 0.20  # optimised rounds at least 20% shorter than the creation order
# Where the couriers wait and the residents live: the territory's two towns.
TOWNS = {"Marmande": (44.5006, 0.1653), "Tonneins": (44.3914, 0.3092)}


def around(rng: random.Random, centre: tuple[float, float], km: float) -> tuple[float, float]:
    """A point uniformly drawn in the disk of `km` around `centre` (flat-earth
    approximation, fine at this scale)."""
    import math

    r = km * math.sqrt(rng.random())
    angle = rng.uniform(0, 2 * math.pi)
    lat = centre[0] + (r * math.cos(angle)) / 111.2
    lon = centre[1] + (r * math.sin(angle)) / (111.2 * math.cos(math.radians(centre[0])))
    return round(lat, 6), round(lon, 6)


def in_town(rng: random.Random, km: float) -> tuple[float, float]:
    return around(rng, TOWNS[rng.choice(sorted(TOWNS))], km)


# --- data: couriers, orders, sub-orders and jobs (Core inserts) ------------------------


def add_couriers(territory_id: int, count: int, rng: random.Random) -> list[int]:
    """`count` approved, available couriers at random points within 6 km of a town."""
    from sqlalchemy import insert, select

    from delivery.models import Courier, CourierStatus, Vehicle
    from marketplace.extensions import db
    from marketplace.models import User, utcnow

    now = utcnow()
    emails = [f"livreur-bench-{n}@example.org" for n in range(count)]
    db.session.execute(
        insert(User),
        [
            {"email": e, "password_hash": "!", "first_name": "Livreur", "last_name": f"B{n}"}
            for n, e in enumerate(emails)
        ],
    )
    user_ids = list(db.session.scalars(select(User.id).where(User.email.in_(emails))))
    vehicles = list(Vehicle)
    rows = []
    for user_id in sorted(user_ids):
        lat, lon = in_town(rng, 6)
        rows.append(
            {
                "user_id": user_id,
                "territory_id": territory_id,
                "vehicle": rng.choice(vehicles),
                "capacity_kg": 20,
                "phone": "0612345678",
                "status": CourierStatus.APPROVED,
                "available": True,
                "latitude": lat,
                "longitude": lon,
                "position_at": now,
                "decided_at": now,
            }
        )
    db.session.execute(insert(Courier), rows)
    return list(db.session.scalars(select(Courier.id).order_by(Courier.id)))


def add_jobs(territory_id: int, shops: list[Any], count: int, rng: random.Random) -> list[int]:
    """`count` ready express sub-orders (one order each, for one bench resident) and
    their open delivery jobs, drop points within 8 km of a town, in the slot of
    the day; returns the jobs' ids in creation order."""
    from sqlalchemy import insert, select

    from delivery.models import DeliveryJob, JobStatus
    from marketplace.extensions import db
    from marketplace.models import FulfilmentMethod, User, utcnow
    from shop.models import Order, OrderStatus, SubOrder, SubOrderStatus

    now = utcnow()
    db.session.execute(
        insert(User),
        [{"email": "habitant-bench@example.org", "password_hash": "!",
          "first_name": "Habitant", "last_name": "Bench"}],
    )  # fmt: skip
    resident = db.session.scalar(select(User.id).where(User.email == "habitant-bench@example.org"))
    keys = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(count)]
    db.session.execute(
        insert(Order),
        [
            {
                "public_id": uuid.UUID(int=rng.getrandbits(128)),
                "checkout_key": key,
                "user_id": resident,
                "territory_id": territory_id,
                "status": OrderStatus.PAID,
                "contact_name": "Habitant Bench",
                "contact_email": "habitant-bench@example.org",
                "contact_phone": "0612345678",
                "total_cents": 2500,
                "paid_at": now - timedelta(hours=5),
            }
            for key in keys
        ],
    )
    order_ids = list(
        db.session.scalars(select(Order.id).where(Order.checkout_key.in_(keys)).order_by(Order.id))
    )
    slot_start = now + timedelta(hours=1)
    subs, plan = [], []
    for n, order_id in enumerate(order_ids):
        shop = rng.choice(shops)
        lat, lon = in_town(rng, 8)
        code = f"{rng.randrange(1_000_000):06d}"
        reference = f"BD{n:06d}"
        subs.append(
            {
                "order_id": order_id,
                "shop_id": shop.id,
                "reference": reference,
                "status": SubOrderStatus.READY,
                "fulfilment_method": FulfilmentMethod.EXPRESS,
                "items_cents": 2000,
                "delivery_fee_cents": 500,
                "delivery_address": f"{n} rue du Bench",
                "delivery_latitude": lat,
                "delivery_longitude": lon,
                "delivery_slot_start": slot_start,
                "delivery_slot_end": slot_start + timedelta(hours=2),
                "pickup_code": code,
            }
        )
        plan.append((reference, shop, lat, lon, code))
    db.session.execute(insert(SubOrder), subs)
    sub_ids = dict(
        db.session.execute(
            select(SubOrder.reference, SubOrder.id).where(SubOrder.reference.like("BD%"))
        ).all()
    )
    db.session.execute(
        insert(DeliveryJob),
        [
            {
                "sub_order_id": sub_ids[reference],
                "reference": reference,
                "territory_id": territory_id,
                "shop_id": shop.id,
                "shop_latitude": shop.latitude,
                "shop_longitude": shop.longitude,
                "drop_address": f"{n} rue du Bench",
                "drop_latitude": lat,
                "drop_longitude": lon,
                "slot_start": slot_start,
                "slot_end": slot_start + timedelta(hours=2),
                "status": JobStatus.OPEN,
                "pickup_code": code,
                "delivery_code": f"{rng.randrange(1_000_000):06d}",
                "fee_cents": 500,
            }
            for n, (reference, shop, lat, lon, code) in enumerate(plan)
        ],
    )
    return list(db.session.scalars(select(DeliveryJob.id).order_by(DeliveryJob.id)))


# --- measurements --------------------------------------------------------------------


def measure_dispatch(job_ids: list[int]) -> dict[str, Any]:
    """Each job through `delivery.tasks.dispatch_job`, called in-process as the
    Celery worker would (row lock, offer, commit), one after the other."""
    from sqlalchemy import func, select

    from delivery import tasks
    from delivery.models import DeliveryJob, JobEvent, JobEventKind
    from marketplace.extensions import db

    times, offers = [], []
    started = time.perf_counter()
    for job_id in job_ids:
        t = time.perf_counter()
        offers.append(tasks.dispatch_job(job_id))
        times.append(time.perf_counter() - t)
        db.session.remove()  # a worker's session ends with each task
    total = time.perf_counter() - started
    recorded = db.session.scalar(
        select(func.count(JobEvent.id)).where(JobEvent.kind == JobEventKind.OFFERED)
    )
    offered_jobs = db.session.scalar(
        select(func.count(DeliveryJob.id)).where(DeliveryJob.offer_round == 1)
    )
    distances = [
        km
        for km in db.session.scalars(
            select(JobEvent.distance_km).where(JobEvent.kind == JobEventKind.OFFERED)
        )
        if km is not None
    ]
    ordered = sorted(times)
    return {
        "total": total,
        "mean_ms": statistics.fmean(times) * 1000,
        "p50_ms": ordered[len(ordered) // 2] * 1000,
        "p95_ms": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000,
        "max_ms": ordered[-1] * 1000,
        "offers": sum(offers),
        "recorded": recorded,
        "offered_jobs": offered_jobs,
        "no_offer": sum(1 for n in offers if n == 0),
        "mean_offer_km": statistics.fmean(distances) if distances else float("nan"),
    }


def measure_stored_rounds(territory_id: int) -> dict[str, Any]:
    """The slot's open jobs grouped into stored rounds by `delivery.operations.rounds
    .plan_slot`, as the staff's button or the `delivery.plan_rounds` task does (one
    transaction), with the distances it stores: pickups then drops, optimised and in
    the order the jobs were made."""
    from sqlalchemy import select

    from delivery.models import DeliveryJob
    from delivery.operations import rounds
    from marketplace.extensions import db

    slot_start = db.session.scalar(select(DeliveryJob.slot_start).limit(1))
    assert slot_start is not None
    t = time.perf_counter()
    made = rounds.plan_slot(territory_id, slot_start)
    db.session.commit()
    seconds = time.perf_counter() - t
    sizes = [len(r.stops) for r in made]
    optimised = sum(r.optimised_m for r in made)
    naive = sum(r.creation_order_m for r in made)
    again = rounds.plan_slot(territory_id, slot_start)  # idempotent: nothing new
    db.session.rollback()
    return {
        "rounds": len(made),
        "jobs": sum(sizes),
        "min": min(sizes),
        "max": max(sizes),
        "seconds": seconds,
        "optimised_km": optimised / 1000,
        "naive_km": naive / 1000,
        "ratio": optimised / naive if naive else float("nan"),
        "again": len(again),
    }


def measure_rounds(
    jobs: list[tuple[int, float, float]],
    starts: list[tuple[float, float]],
    sizes: range,
    per_size: int,
    rng: random.Random,
) -> list[dict[str, Any]]:
    """Per size, `per_size` rounds: a shop's position as the start and the drop
    points of `size` jobs drawn from the bench's jobs, in the order they were made
    (job id) as the naive order; lengths by `round_km` (geodesic km, no return)."""
    from delivery.operations.dispatch import optimise_round, round_km

    rows = []
    for size in sizes:
        naive_km = optimised_km = seconds = 0.0
        worst = 0.0
        for _ in range(per_size):
            picked = sorted(rng.sample(jobs, size))  # creation order
            stops = [(lat, lon) for _, lat, lon in picked]
            start = rng.choice(starts)
            t = time.perf_counter()
            order = optimise_round(start, stops)
            seconds += time.perf_counter() - t
            assert sorted(order) == list(range(size)), "optimise_round lost or repeated a stop"
            naive = round_km(start, stops, list(range(size)))
            best = round_km(start, stops, order)
            naive_km += naive
            optimised_km += best
            worst = max(worst, best / naive)
        rows.append(
            {
                "size": size,
                "rounds": per_size,
                "naive_km": naive_km / per_size,
                "optimised_km": optimised_km / per_size,
                "ratio": optimised_km / naive_km,
                "worst": worst,
                "ms": seconds / per_size * 1000,
            }
        )
    return rows


def nearest_town(point: tuple[float, float]) -> str:
    from geopy.distance import geodesic

    return min(TOWNS, key=lambda t: float(geodesic(point, TOWNS[t]).km))


def print_rounds(title: str, rows: list[dict[str, Any]]) -> bool:
    """One table of rounds; True when the overall ratio meets the target."""
    print(f"\nRounds, {title}")
    print("  creation order vs optimise_round, geodesic km from the start, no return")
    print(f"  {'stops':>5} {'rounds':>6} {'naive km':>9} {'optimised':>9} {'ratio':>6} "
          f"{'worst':>6} {'ms/opt':>7}")  # fmt: skip
    for r in rows:
        print(
            f"  {r['size']:>5} {r['rounds']:>6} {r['naive_km']:>9.1f} {r['optimised_km']:>9.1f} "
            f"{r['ratio']:>6.3f} {r['worst']:>6.3f} {r['ms']:>7.1f}"
        )
    naive = sum(r["naive_km"] * r["rounds"] for r in rows)
    optimised = sum(r["optimised_km"] * r["rounds"] for r in rows)
    overall = optimised / naive
    count = sum(r["rounds"] for r in rows)
    ms = sum(r["ms"] * r["rounds"] for r in rows) / count
    passed = overall <= 1 - TARGET_SAVING
    print(
        f"  {'all':>5} {count:>6} {naive / count:>9.1f} {optimised / count:>9.1f} "
        f"{overall:>6.3f} {max(r['worst'] for r in rows):>6.3f} {ms:>7.1f}"
        f"   {1 - overall:.1%} shorter: {'PASS' if passed else 'MISS'}"
    )
    return passed


# --- the run -------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=500, help="express jobs to dispatch")
    parser.add_argument("--couriers", type=int, default=50, help="available couriers")
    parser.add_argument("--rounds", type=int, default=20, help="random rounds per size")
    parser.add_argument("--min-stops", type=int, default=8)
    parser.add_argument("--max-stops", type=int, default=20)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="server and role (allowed to create databases)",
    )
    parser.add_argument("--database", default="comptoir_bench_dispatch")
    parser.add_argument("--epci", default="200030674", help="EPCI of the demo territory")
    parser.add_argument("--keep-db", action="store_true", help="do not drop the database")
    parser.add_argument("--strict", action="store_true", help="exit 1 on a MISS")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from bench.storefront import recreate_database, with_database

    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    for name in ("REDIS_URL", "COMPTOIR_ENV", "MAIL_SERVER"):
        os.environ.pop(name, None)  # tasks in-process, no mail server
    database_url = with_database(args.postgres, args.database)
    try:
        return run(args, database_url)
    finally:
        if not args.keep_db:
            recreate_database(args.postgres, args.database, drop_only=True)


def run(args: argparse.Namespace, database_url: str) -> int:
    from flask_migrate import upgrade
    from sqlalchemy import select, text

    from bench.storefront import _postgres_version, recreate_database
    from marketplace import create_app
    from marketplace.config import database_url as sqlalchemy_url
    from marketplace.extensions import db
    from merchants.demo import load_demo
    from merchants.models import Shop

    began = time.monotonic()

    def step(message: str) -> None:
        print(f"[{time.monotonic() - began:6.1f} s] {message}", flush=True)

    rng = random.Random(args.seed)  # noqa: S311 - a benchmark's reproducible draws
    step(f"database {args.database}: create, migrate, load the demo")
    recreate_database(args.postgres, args.database)
    os.environ["DATABASE_URL"] = database_url
    app = create_app({"SQLALCHEMY_DATABASE_URI": sqlalchemy_url(database_url)})
    logging.getLogger().setLevel(logging.WARNING)
    with app.app_context():
        upgrade()
        logging.getLogger().setLevel(logging.WARNING)
        load_demo(args.epci)
        db.session.commit()
        shops = list(db.session.scalars(select(Shop).order_by(Shop.id)))
        territory_id = shops[0].territory_id
        step(f"{len(shops)} demo shops; adding {args.couriers} couriers and {args.jobs} jobs")
        add_couriers(territory_id, args.couriers, rng)
        job_ids = add_jobs(territory_id, shops, args.jobs, rng)
        db.session.commit()
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        starts = [(s.latitude, s.longitude) for s in shops]
        step(f"dispatching {len(job_ids)} jobs through delivery.tasks.dispatch_job")
        dispatch = measure_dispatch(job_ids)
        step("planning the slot's stored rounds through delivery.operations.rounds.plan_slot")
        stored = measure_stored_rounds(territory_id)
        jobs = [
            (int(i), float(lat), float(lon))
            for i, lat, lon in db.session.execute(
                text("SELECT id, drop_latitude, drop_longitude FROM delivery_job ORDER BY id")
            )
        ]
        version = _postgres_version(database_url)
        db.session.remove()
        db.engine.dispose()
    sizes = range(args.min_stops, args.max_stops + 1)
    step(f"rounds: {args.rounds} random rounds for each size {sizes.start}-{sizes.stop - 1}")
    tables = [("whole territory: stops drawn from all 500 jobs, start at any shop",
               measure_rounds(jobs, starts, sizes, args.rounds, rng))]  # fmt: skip
    for town, centre in TOWNS.items():
        near = [j for j in jobs if nearest_town(j[1:]) == town]
        town_starts = [s for s in starts if nearest_town(s) == town]
        where = f"one of its {len(town_starts)} shops" if town_starts else "the town centre"
        title = (
            f"{town} only: stops drawn from the {len(near)} jobs nearer {town}, start at {where}"
        )
        tables.append(
            (title, measure_rounds(near, town_starts or [centre], sizes, args.rounds, rng))
        )

    print(
        f"\nComptoir dispatch benchmark — {version}; machine: {os.cpu_count()} CPU cores, "
        f"{platform.system()} {platform.machine()}, Python {platform.python_version()}; "
        f"seed {args.seed}"
    )
    d = dispatch
    print(f"\nDispatch: {len(job_ids)} jobs, {args.couriers} available couriers, one task each")
    print(f"  total            {d['total']:8.2f} s   ({len(job_ids) / d['total']:.0f} jobs/s)")
    print(
        f"  per job          mean {d['mean_ms']:.1f} ms, p50 {d['p50_ms']:.1f} ms, "
        f"p95 {d['p95_ms']:.1f} ms, max {d['max_ms']:.1f} ms"
    )
    print(
        f"  offers           {d['offers']} ({d['recorded']} recorded), "
        f"{d['offered_jobs']} jobs offered, {d['no_offer']} with nobody in range; "
        f"mean courier distance {d['mean_offer_km']:.2f} km"
    )
    r = stored
    print(f"\nStored rounds: the slot's {r['jobs']} open jobs planned by rounds.plan_slot")
    print(
        f"  {r['rounds']} rounds of {r['min']}-{r['max']} stops in {r['seconds']:.2f} s "
        f"(grouping, 2-opt of pickups and drops, inserts, commit); planned again: "
        f"{r['again']} new"
    )
    print(
        f"  pickups then drops: {r['optimised_km']:.1f} km optimised against "
        f"{r['naive_km']:.1f} km in the order of creation, ratio {r['ratio']:.3f} "
        f"({1 - r['ratio']:.1%} shorter; jobs already grouped by nearness)"
    )
    passed = True
    for title, rows in tables:
        passed = print_rounds(title, rows) and passed
    print(
        f"\nTarget: optimised rounds at least {TARGET_SAVING:.0%} shorter than the creation "
        f"order (overall ratio <= {1 - TARGET_SAVING:.2f}) in every draw: "
        f"{'PASS' if passed else 'MISS'}. Total {time.monotonic() - began:.0f} s"
    )
    return 1 if args.strict and not passed else 0


if __name__ == "__main__":
    sys.exit(main())
