"""The demo territory: trades, ~40 fictional shops with their catalogue, demo logins.

`load_demo` is idempotent: a plan is drawn from a seeded generator, then only the
rows missing from the database (looked up by slug, e-mail or SKU) are added.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, select

from marketplace.extensions import db
from marketplace.models import Commune, FulfilmentMethod, Role, User, UserRole
from marketplace.security import hash_password
from marketplace.territory import import_territory, slugify

from . import demo_data as data
from .models import (
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

DEMO_PASSWORD = "comptoir-demo-2026"  # noqa: S105 (public demo accounts)
DEMO_DOMAIN = "demo.comptoir.fr"
SEED = 2026
DEMO_ACCOUNTS = (
    (f"habitant@{DEMO_DOMAIN}", "Hélène", "Castaing", Role.RESIDENT),
    (f"commercant@{DEMO_DOMAIN}", "Margaux", "Delpech", Role.MERCHANT),
    (f"livreur@{DEMO_DOMAIN}", "Karim", "Benali", Role.COURIER),
    (f"collectivite@{DEMO_DOMAIN}", "Claire", "Lagarde", Role.STAFF),
)
MERCHANT_LOGIN = DEMO_ACCOUNTS[1][0]
# Stored products by (shop id, slug), and the (product id, sku) pairs of variants.
Catalogue = tuple[dict[tuple[int, str], Product], set[tuple[int, str]]]


@dataclass
class VariantPlan:
    """A variant to create."""

    sku: str
    options: dict[str, str]
    price_cents: int
    stock: int
    weight_grams: int | None


@dataclass
class ProductPlan:
    """A product to create, with its variants."""

    slug: str
    name: str
    description: str
    category: str
    vat_rate_bp: int
    merchant_pick: bool
    variants: list[VariantPlan]


@dataclass
class ShopPlan:
    """A shop to create, with its owner, hours, closures and catalogue."""

    slug: str
    row: data.ShopRow
    siret: str
    street: str
    postcode: str
    offset: tuple[float, float]
    owner: tuple[str, str]
    phone: str
    story: str
    advice: str
    hours: dict[int, tuple[tuple[time, time], ...]]
    closures: list[tuple[int, int, str]]  # days from today, length, reason
    fulfilment: list[str]
    preparation_minutes: int
    products: list[ProductPlan] = field(default_factory=list)

    @property
    def owner_email(self) -> str:
        return f"boutique-{self.slug}@{DEMO_DOMAIN}"


# --- The plan: pure data drawn from random.Random(SEED) -------------------------


def luhn_complete(digits: str) -> str:
    """Append the digit that makes `digits` pass the Luhn check."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return digits + str((10 - total % 10) % 10)


def make_siret(rng: random.Random) -> str:
    """A fictional SIRET whose SIREN and SIRET both pass the Luhn check."""
    siren = luhn_complete(str(rng.randint(1, 9)) + f"{rng.randrange(10**7):07d}")
    return luhn_complete(siren + f"{rng.randint(1, 99):04d}")


def _price_cents(euros: float) -> int:
    """Shop-like price: x,90 above 10 €, to the 10 cents below."""
    if euros >= 10:
        return max(100, round(euros) * 100 - 10)
    return max(50, round(euros * 10) * 10)


def _variants(rng: random.Random, slug: str, template: data.ProductRow) -> list[VariantPlan]:
    """One to four variants of a product, from its option kind."""
    stock = (lambda: 30) if template.weight is None else (lambda: rng.randint(0, 30))
    if template.kind is None:
        price = _price_cents(template.price)
        return [VariantPlan(f"{slug}-u", {}, price, stock(), template.weight)]
    kind = data.OPTION_KINDS[template.kind]
    count = rng.randint(1, min(4, len(kind.values)))
    start = rng.randint(0, len(kind.values) - count)
    plans = []
    for index in range(start, start + count):
        factor = kind.price_factors[index] if kind.price_factors else 1.0
        weight = kind.weights[index] if kind.weights else template.weight
        value = kind.values[index]
        plans.append(
            VariantPlan(
                sku=f"{slug}-{slugify(value)}"[:64],
                options={kind.key: value},
                price_cents=_price_cents(template.price * factor),
                stock=stock(),
                weight_grams=weight,
            )
        )
    return plans


def _products(rng: random.Random, trade: data.TradeRow, shop_name: str) -> list[ProductPlan]:
    """Fifteen to eighteen products of the shop's trade, two or three picks."""
    templates = data.PRODUCTS[trade.slug]
    chosen = rng.sample(templates, min(len(templates), rng.randint(15, 18)))
    picks = set(rng.sample(range(len(chosen)), rng.randint(2, 3)))
    plans = []
    for index, template in enumerate(chosen):
        slug = slugify(template.name)[:120]
        sentences = rng.sample(data.DESCRIPTIONS[trade.slug], 2)
        plans.append(
            ProductPlan(
                slug=slug,
                name=template.name,
                description=f"{template.name}, proposé par {shop_name}. " + " ".join(sentences),
                category=template.category,
                vat_rate_bp=template.vat_rate_bp or trade.vat_rate_bp,
                merchant_pick=index in picks,
                variants=_variants(rng, slug, template),
            )
        )
    return plans


def _hours(rng: random.Random, trade: str) -> dict[int, tuple[tuple[time, time], ...]]:
    """A weekly opening template fitting the trade."""
    if trade in ("epicerie", "epicerie-fine") and rng.random() < 0.6:
        return data.FOOD_HOURS
    if trade == "coiffure":
        return data.HOURS_TEMPLATES[3]
    return rng.choice(data.HOURS_TEMPLATES[:3])


def _closures(rng: random.Random) -> list[tuple[int, int, str]]:
    """One or two future exceptional closures."""
    first = rng.randint(10, 60)
    closures = [(first, rng.choice((1, 2, 7, 14)) - 1, rng.choice(data.CLOSURE_REASONS))]
    if rng.random() < 0.4:
        closures.append((first + rng.randint(30, 120), 0, "Fermeture exceptionnelle"))
    return closures


def _shop_plan(rng: random.Random, row: data.ShopRow, trade: data.TradeRow) -> ShopPlan:
    """Everything about one shop, drawn from the generator."""
    town = "Marmande" if row.insee == data.MARMANDE else "Tonneins"
    first, last = rng.choice(data.FIRST_NAMES), rng.choice(data.LAST_NAMES)
    if row is data.SHOPS[0]:  # run by the demo merchant account
        first, last = DEMO_ACCOUNTS[1][1], DEMO_ACCOUNTS[1][2]
    shop = row.name
    story = rng.choice(data.STORIES).format(
        owner=first, shop=shop, town=town, year=rng.randint(1978, 2023)
    )
    street, postcode = rng.choice(data.STREETS[row.insee])
    fulfilment = [FulfilmentMethod.CLICK_AND_COLLECT.value]
    if rng.random() < 0.35:
        fulfilment.append(FulfilmentMethod.MERCHANT_DELIVERY.value)
    return ShopPlan(
        slug=slugify(shop),
        row=row,
        siret=make_siret(rng),
        street=f"{rng.randint(1, 68)} {street}",
        postcode=postcode,
        offset=(rng.uniform(-0.004, 0.004), rng.uniform(-0.005, 0.005)),
        owner=(first, last),
        phone=f"05 53 {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)}",
        story=story,
        advice="\n\n".join(rng.sample(data.ADVICE[trade.slug], 2)),
        hours=_hours(rng, trade.slug),
        closures=_closures(rng),
        fulfilment=fulfilment,
        preparation_minutes=rng.choice((30, 60, 120)),
        products=_products(rng, trade, shop),
    )


def build_plan() -> list[ShopPlan]:
    """The deterministic plan of every demo shop."""
    rng = random.Random(SEED)
    trades = {trade.slug: trade for trade in data.TRADES}
    return [_shop_plan(rng, row, trades[row.trade]) for row in data.SHOPS]


# --- Persisting what is missing -------------------------------------------------


def _ensure_trades() -> dict[str, Trade]:
    """Every demo trade, by slug."""
    existing = {t.slug: t for t in db.session.scalars(select(Trade))}
    for row in data.TRADES:
        if row.slug not in existing:
            existing[row.slug] = Trade(slug=row.slug, name_fr=row.name_fr, name_en=row.name_en)
            db.session.add(existing[row.slug])
    return existing


def _ensure_users(plans: list[ShopPlan]) -> dict[str, User]:
    """The demo accounts and the shop owners, by e-mail (password hashed once)."""
    wanted = [(email, first, last, role) for email, first, last, role in DEMO_ACCOUNTS]
    wanted += [(p.owner_email, *p.owner, Role.MERCHANT) for p in plans[1:]]
    emails = [w[0] for w in wanted]
    users = {u.email: u for u in db.session.scalars(select(User).where(User.email.in_(emails)))}
    password_hash: str | None = None
    for email, first, last, role in wanted:
        if email in users:
            continue
        password_hash = password_hash or hash_password(DEMO_PASSWORD)
        user = User(email=email, password_hash=password_hash, first_name=first, last_name=last)
        user.roles.append(UserRole(role=role))
        db.session.add(user)
        users[email] = user
    return users


def _new_shop(plan: ShopPlan, commune: Commune, trade: Trade, owner: User) -> Shop:
    """A shop with its owner, hours and closures, from its plan."""
    today = date.today()
    shop = Shop(
        territory_id=commune.territory_id,
        commune_id=commune.id,
        trade=trade,
        slug=plan.slug,
        name=plan.row.name,
        siret=plan.siret,
        status=ShopStatus.APPROVED,
        approved_at=datetime.now(UTC),
        street=plan.street,
        postcode=plan.postcode,
        latitude=round(commune.latitude + plan.offset[0], 6),
        longitude=round(commune.longitude + plan.offset[1], 6),
        phone=plan.phone,
        email=owner.email,
        tagline=plan.row.tagline,
        story=plan.story,
        advice=plan.advice,
        photo_alt=f"La devanture de {plan.row.name}",
        fulfilment_methods=list(plan.fulfilment),
        preparation_minutes=plan.preparation_minutes,
    )
    shop.staff.append(ShopStaff(user=owner, role=StaffRole.OWNER))
    shop.hours.extend(
        OpeningHours(weekday=day, opens_at=opens, closes_at=closes)
        for day, periods in sorted(plan.hours.items())
        for opens, closes in periods
    )
    shop.closures.extend(
        Closure(
            starts_on=today + timedelta(days=start),
            ends_on=today + timedelta(days=start + length),
            reason=reason,
        )
        for start, length, reason in plan.closures
    )
    return shop


def _new_product(shop: Shop, plan: ProductPlan) -> Product:
    """A published product with its variants."""
    product = Product(
        shop=shop,
        slug=plan.slug,
        name=plan.name,
        description=plan.description,
        category=plan.category,
        vat_rate_bp=plan.vat_rate_bp,
        status=ProductStatus.PUBLISHED,
        merchant_pick=plan.merchant_pick,
    )
    product.variants.extend(_new_variant(v) for v in plan.variants)
    return product


def _new_variant(plan: VariantPlan) -> Variant:
    """A variant from its plan."""
    return Variant(
        sku=plan.sku,
        options=dict(plan.options),
        price_cents=plan.price_cents,
        stock=plan.stock,
        weight_grams=plan.weight_grams,
    )


def _existing_catalogue(shop_ids: list[int]) -> Catalogue:
    """Products by (shop id, slug) and the (product id, sku) pairs already stored."""
    if not shop_ids:
        return {}, set()
    products = {
        (p.shop_id, p.slug): p
        for p in db.session.scalars(select(Product).where(Product.shop_id.in_(shop_ids)))
    }
    statement = (
        select(Variant.product_id, Variant.sku).join(Product).where(Product.shop_id.in_(shop_ids))
    )
    skus = {(product_id, sku) for product_id, sku in db.session.execute(statement)}
    return products, skus


def _complete_catalogue(shop: Shop, plan: ShopPlan, catalogue: Catalogue) -> int:
    """Add the products and variants of the plan missing from an existing shop."""
    products, skus = catalogue
    added = 0
    for product_plan in plan.products:
        product = products.get((shop.id, product_plan.slug))
        if product is None:
            db.session.add(_new_product(shop, product_plan))
            added += 1
            continue
        for variant_plan in product_plan.variants:
            if (product.id, variant_plan.sku) not in skus:
                variant = _new_variant(variant_plan)
                variant.product_id = product.id
                db.session.add(variant)
    return added


def _persist_shops(plans: list[ShopPlan], trades: dict[str, Trade], users: dict[str, User]) -> int:
    """Create the missing shops (one flush each) and complete the others."""
    communes = {
        c.insee_code: c
        for c in db.session.scalars(
            select(Commune).where(Commune.insee_code.in_([data.MARMANDE, data.TONNEINS]))
        )
    }
    shops = {
        s.slug: s
        for s in db.session.scalars(select(Shop).where(Shop.slug.in_([p.slug for p in plans])))
    }
    catalogue = _existing_catalogue([s.id for s in shops.values()])
    created = 0
    for index, plan in enumerate(plans):
        shop = shops.get(plan.slug)
        if shop is not None:
            _complete_catalogue(shop, plan, catalogue)
            continue
        owner = users[MERCHANT_LOGIN if index == 0 else plan.owner_email]
        shop = _new_shop(plan, communes[plan.row.insee], trades[plan.row.trade], owner)
        db.session.add(shop)
        db.session.add_all(_new_product(shop, p) for p in plan.products)
        db.session.flush()
        created += 1
    db.session.flush()
    return created


def load_demo(epci: str) -> str:
    """Load the demo territory, shops, catalogue and accounts (adds and flushes)."""
    territory = import_territory(epci)
    plans = build_plan()
    trades = _ensure_trades()
    users = _ensure_users(plans)
    db.session.flush()
    created = _persist_shops(plans, trades, users)
    slugs = [p.slug for p in plans]
    shop_ids = select(Shop.id).where(Shop.slug.in_(slugs))
    products = db.session.scalar(
        select(func.count(Product.id)).where(Product.shop_id.in_(shop_ids))
    )
    variants = db.session.scalar(
        select(func.count(Variant.id)).join(Product).where(Product.shop_id.in_(shop_ids))
    )
    logins = "\n".join(f"  {role.value:<9} {email}" for email, _, _, role in DEMO_ACCOUNTS)
    return (
        f"Territory {territory.name}: {len(plans)} demo shops ({created} new), "
        f"{products} products, {variants} variants.\n"
        f"Demo logins (password {DEMO_PASSWORD}):\n{logins}"
    )
