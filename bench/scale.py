"""The demo scaled up for the benchmark: more shops, more products, bench residents.

`merchants.demo.load_demo` first loads the 40-shop demo as usual; `scale_catalogue`
then adds shops (drawn by the demo's own `_shop_plan`, spread over every commune of
the territory) and tops every shop up to the same number of products (the demo's
product templates under a few qualifiers, variants drawn by the demo's `_variants`).
Everything is drawn from seeded generators, so two runs build the same catalogue,
and written with SQLAlchemy Core `insert()` in bulk (a few seconds for 20,000
products) rather than through the ORM unit of work.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Table, func, insert, select, text, update

from marketplace.extensions import db
from marketplace.models import Commune, Role, User, UserRole
from marketplace.security import hash_password
from marketplace.territory import slugify
from merchants import demo_data as data
from merchants.demo import DEMO_DOMAIN, DEMO_PASSWORD, ShopPlan, _shop_plan, _variants
from merchants.models import (
    Closure,
    OpeningHours,
    Product,
    ProductStatus,
    Shop,
    ShopStaff,
    ShopStatus,
    StaffRole,
    Trade,
    Variant,
)

SEED = 4242
BENCH_DOMAIN = "bench.comptoir.fr"
# Extra products reuse the demo's templates under these qualifiers.
QUALIFIERS = (
    "édition atelier",
    "série limitée",
    "grand format",
    "petit format",
    "collection printemps",
    "collection hiver",
    "modèle signature",
    "version nature",
    "lot de deux",
    "coffret cadeau",
    "fabrication locale",
    "gamme essentielle",
)
CHECKOUT_STOCK = 1_000_000  # stock given to the variants the checkout clients buy


@dataclass(frozen=True)
class Catalogue:
    shops: int
    products: int
    variants: int

    def __str__(self) -> str:
        return f"{self.shops} shops, {self.products} products, {self.variants} variants"


def _table(model: type) -> Table:
    return model.__table__  # type: ignore[attr-defined, no-any-return]


def _insert_returning_ids(model: type, rows: list[dict[str, object]]) -> list[int]:
    """Insert rows in bulk (insertmanyvalues) and return their ids in row order."""
    if not rows:
        return []
    table = _table(model)
    statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    return list(db.session.scalars(statement, rows))


def _insert(model: type, rows: list[dict[str, object]]) -> None:
    if rows:
        db.session.execute(insert(_table(model)), rows)


def catalogue_size() -> Catalogue:
    shops = db.session.scalar(select(func.count(Shop.id))) or 0
    products = db.session.scalar(select(func.count(Product.id))) or 0
    variants = db.session.scalar(select(func.count(Variant.id))) or 0
    return Catalogue(shops, products, variants)


def _extra_shop_plans(count: int, communes: list[Commune]) -> list[tuple[ShopPlan, Commune]]:
    """`count` new shops: the demo's rows renamed after a commune of the territory."""
    rng = random.Random(SEED)  # noqa: S311 - deterministic fake data
    trades = {trade.slug: trade for trade in data.TRADES}
    taken = set(db.session.scalars(select(Shop.slug)))
    plans = []
    for index in range(count):
        row = data.SHOPS[index % len(data.SHOPS)]
        commune = communes[index % len(communes)]
        name = f"{row.name} – {commune.name}"
        suffix = 2
        while slugify(name) in taken:
            name = f"{row.name} – {commune.name} {suffix}"
            suffix += 1
        taken.add(slugify(name))
        plans.append((_shop_plan(rng, row._replace(name=name), trades[row.trade]), commune))
    return plans


def _add_shops(count: int) -> None:
    """Insert `count` approved shops with owner, hours and closures (no products)."""
    if count <= 0:
        return
    territory_id = db.session.scalar(select(Shop.territory_id).limit(1))
    communes = list(
        db.session.scalars(
            select(Commune).where(Commune.territory_id == territory_id).order_by(Commune.name)
        )
    )
    plans = _extra_shop_plans(count, communes)
    trade_ids = {t.slug: t.id for t in db.session.scalars(select(Trade))}
    password_hash = hash_password(DEMO_PASSWORD)
    now = datetime.now(UTC)
    owner_ids = _insert_returning_ids(
        User,
        [
            {
                "email": f"boutique-{plan.slug}@{BENCH_DOMAIN}"[:254],
                "password_hash": password_hash,
                "first_name": plan.owner[0],
                "last_name": plan.owner[1],
            }
            for plan, _ in plans
        ],
    )
    _insert(UserRole, [{"user_id": uid, "role": Role.MERCHANT} for uid in owner_ids])
    shop_ids = _insert_returning_ids(
        Shop,
        [
            {
                "territory_id": commune.territory_id,
                "commune_id": commune.id,
                "trade_id": trade_ids[plan.row.trade],
                "slug": plan.slug,
                "name": plan.row.name,
                "siret": plan.siret,
                "status": ShopStatus.APPROVED,
                "approved_at": now,
                "street": plan.street,
                "postcode": (commune.postcodes or [plan.postcode])[0],
                "latitude": round(commune.latitude + plan.offset[0], 6),
                "longitude": round(commune.longitude + plan.offset[1], 6),
                "phone": plan.phone,
                "email": f"boutique-{plan.slug}@{BENCH_DOMAIN}"[:254],
                "tagline": plan.row.tagline,
                "story": plan.story,
                "advice": plan.advice,
                "photo_alt": f"La devanture de {plan.row.name}",
                "fulfilment_methods": list(plan.fulfilment),
                "preparation_minutes": plan.preparation_minutes,
            }
            for plan, commune in plans
        ],
    )
    _insert(
        ShopStaff,
        [
            {"shop_id": sid, "user_id": uid, "role": StaffRole.OWNER}
            for sid, uid in zip(shop_ids, owner_ids, strict=True)
        ],
    )
    today = date.today()
    hours, closures = [], []
    for shop_id, (plan, _) in zip(shop_ids, plans, strict=True):
        for day, periods in sorted(plan.hours.items()):
            for opens, closes in periods:
                hours.append(
                    {"shop_id": shop_id, "weekday": day, "opens_at": opens, "closes_at": closes}
                )
        for start, length, reason in plan.closures:
            closures.append(
                {
                    "shop_id": shop_id,
                    "starts_on": today + timedelta(days=start),
                    "ends_on": today + timedelta(days=start + length),
                    "reason": reason,
                }
            )
    _insert(OpeningHours, hours)
    _insert(Closure, closures)


def _product_rows(
    rng: random.Random, shop_id: int, trade: str, shop_name: str, count: int, taken: set[str]
) -> list[tuple[dict[str, object], list[dict[str, object]]]]:
    """`count` more published products of a shop, each with its variant rows."""
    templates = data.PRODUCTS[trade]
    rows = []
    index = 0
    while len(rows) < count:
        template = templates[index % len(templates)]
        round_ = index // len(templates)
        index += 1
        name = template.name
        if round_:
            qualifier = QUALIFIERS[(round_ - 1) % len(QUALIFIERS)]
            name = f"{template.name} {qualifier}"
            if round_ > len(QUALIFIERS):
                name += f" n° {round_}"
        slug = slugify(name)[:120]
        if slug in taken:
            continue
        taken.add(slug)
        sentences = rng.sample(data.DESCRIPTIONS[trade], 2)
        product = {
            "shop_id": shop_id,
            "slug": slug,
            "name": name[:200],
            "description": f"{name}, proposé par {shop_name}. " + " ".join(sentences),
            "category": template.category,
            "vat_rate_bp": template.vat_rate_bp or _VAT[trade],
            "status": ProductStatus.PUBLISHED,
            "merchant_pick": rng.random() < 0.03,
        }
        variants = [
            {
                "sku": v.sku,
                "options": dict(v.options),
                "price_cents": v.price_cents,
                "stock": v.stock,
                "weight_grams": v.weight_grams,
            }
            for v in _variants(rng, slug, template)
        ]
        rows.append((product, variants))
    return rows


_VAT = {trade.slug: trade.vat_rate_bp for trade in data.TRADES}


def _top_up_products(total: int) -> None:
    """Give every shop the same share of `total` products (never removes any)."""
    shops = db.session.execute(
        select(Shop.id, Shop.name, Trade.slug).join(Trade).order_by(Shop.id)
    ).all()
    if not shops:
        return
    taken: dict[int, set[str]] = {}
    counts: Counter[int] = Counter()
    for shop_id, slug in db.session.execute(select(Product.shop_id, Product.slug)):
        taken.setdefault(shop_id, set()).add(slug)
        counts[shop_id] += 1
    rng = random.Random(SEED + 1)  # noqa: S311 - deterministic fake data
    share, extra = divmod(total, len(shops))
    planned = []
    for position, (shop_id, name, trade) in enumerate(shops):
        want = share + (1 if position < extra else 0) - counts[shop_id]
        if want > 0:
            planned += _product_rows(
                rng, shop_id, trade, name, want, taken.setdefault(shop_id, set())
            )
    for start in range(0, len(planned), 5000):
        chunk = planned[start : start + 5000]
        ids = _insert_returning_ids(Product, [product for product, _ in chunk])
        _insert(
            Variant,
            [
                {**variant, "product_id": product_id}
                for product_id, (_, variants) in zip(ids, chunk, strict=True)
                for variant in variants
            ],
        )


def scale_catalogue(shops: int, products: int) -> None:
    """Bring the catalogue to `shops` shops and about `products` products (commits)."""
    current = catalogue_size()
    _add_shops(shops - current.shops)
    _top_up_products(products)
    db.session.commit()


def add_residents(count: int) -> list[str]:
    """`count` bench residents (password DEMO_PASSWORD), their e-mails (commits)."""
    emails = [f"habitant-{index}@{BENCH_DOMAIN}" for index in range(count)]
    existing = set(db.session.scalars(select(User.email).where(User.email.in_(emails))))
    missing = [email for email in emails if email not in existing]
    if missing:
        password_hash = hash_password(DEMO_PASSWORD)
        ids = _insert_returning_ids(
            User,
            [
                {
                    "email": email,
                    "password_hash": password_hash,
                    "first_name": "Habitant",
                    "last_name": f"Bench {email.split('@')[0]}",
                    "phone": "06 12 34 56 78",
                }
                for email in missing
            ],
        )
        _insert(UserRole, [{"user_id": uid, "role": Role.RESIDENT} for uid in ids])
    db.session.commit()
    return emails


def checkout_variants(count: int) -> list[int]:
    """Variants of `count` demo shops (one each, in stock forever) for the checkouts.

    Demo shops exist at every scale, so the checkout counted at the demo size and the
    scaled one buys the same things.
    """
    demo_shops = select(Shop.id).where(~Shop.email.like(f"%@{BENCH_DOMAIN}"))
    first_variant = (
        select(func.min(Variant.id))
        .join(Product)
        .where(Product.shop_id.in_(demo_shops), Product.status == ProductStatus.PUBLISHED)
        .group_by(Product.shop_id)
        .order_by(Product.shop_id)
        .limit(count)
    )
    ids = list(db.session.scalars(first_variant))
    db.session.execute(
        update(Variant)
        .where(Variant.id.in_(ids))
        .values(stock=CHECKOUT_STOCK)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return ids


def analyze() -> None:
    """Fresh planner statistics after the bulk load, as autovacuum would give."""
    db.session.commit()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("ANALYZE"))


__all__ = [
    "BENCH_DOMAIN",
    "DEMO_DOMAIN",
    "Catalogue",
    "add_residents",
    "analyze",
    "catalogue_size",
    "checkout_variants",
    "scale_catalogue",
]
