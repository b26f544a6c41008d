"""Browsing and search: which shops and products a resident sees, in which order.

Search is French full-text on PostgreSQL (stemming, accents ignored through
`comptoir_unaccent`, typos through pg_trgm word similarity) and FTS5 on SQLite (the
embedded mode: accents ignored by the tokenizer, a light stemming of the query, a
prefix fallback for typos). The functions and indexes are made by migration
0003_search (and product's stored document by 0023_product_search_document): the
SQL expressions here must stay identical to the indexed ones.

Every function runs a fixed number of queries whatever the number of results.
"""

from __future__ import annotations

import difflib
import enum
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import contains_eager, defer, joinedload, load_only, selectinload

from marketplace.extensions import db
from marketplace.models import Commune, FulfilmentMethod, Territory
from marketplace.money import parse_euros
from merchants.models import (
    Closure,
    OpeningHours,
    Product,
    ProductStatus,
    Shop,
    ShopStatus,
    Trade,
    Variant,
    variant_label,
)
from merchants.operations import PARIS

PAGE_SIZE = 24
HOME_PAGE_SIZE = 48  # shop cards per home page (the map shows every matching shop)
CATALOGUE_PAGE_SIZE = 48  # products per page of a shop's catalogue
PICKS_SHOWN = 12  # a shop's favourites at the top of its page
RANKED_CANDIDATES = 240  # matches ranked in full (ten pages), picked by name likeness
SHOPS_SHOWN = 6  # shops matching the query, shown above the products
OTHER_PRODUCTS = 4  # "from the same shop" on a product page
LOW_STOCK = 5  # "few left" from this many units down
MAX_QUERY_LENGTH = 200
MAX_PRICE_CENTS = 100_000_000
SUGGESTIONS = 5
PG_SUGGESTION_SIMILARITY = 0.3
SQLITE_SUGGESTION_CUTOFF = 0.7
FRENCH: ColumnElement[Any] = literal_column("'pg_catalog.french'::regconfig")
# product.search_document (PostgreSQL only, migration 0023): the product's full-text
# document, comptoir_product_document(name, category, description), stored by
# PostgreSQL as a generated column and GIN-indexed. The model does not declare it,
# so no ORM statement ever reads or writes it and SQLite (no such column) is
# unaffected: only the PostgreSQL search names it, through this reference.
PRODUCT_DOCUMENT: ColumnElement[Any] = literal_column(
    f"{Product.__tablename__}.search_document", TSVECTOR
)
# Words the query drops on SQLite (PostgreSQL's French configuration has its own).
STOPWORDS = frozenset(
    [
        "a",
        "au",
        "aux",
        "avec",
        "ce",
        "ces",
        "d",
        "dans",
        "de",
        "des",
        "du",
        "elle",
        "en",
        "et",
        "il",
        "la",
        "le",
        "les",
        "l",
        "leur",
        "ma",
        "mais",
        "me",
        "mes",
        "mon",
        "ne",
        "nos",
        "notre",
        "on",
        "ou",
        "par",
        "pour",
        "qu",
        "que",
        "qui",
        "sa",
        "se",
        "ses",
        "son",
        "sur",
        "ta",
        "te",
        "tes",
        "ton",
        "un",
        "une",
        "vos",
        "votre",
    ]
)


class Sort(enum.StrEnum):
    RELEVANCE = "pertinence"
    PRICE_ASC = "prix-croissant"
    PRICE_DESC = "prix-decroissant"
    NAME = "nom"


SORT_LABELS: dict[Sort, LazyString] = {
    Sort.RELEVANCE: _l("Pertinence"),
    Sort.PRICE_ASC: _l("Prix croissant"),
    Sort.PRICE_DESC: _l("Prix décroissant"),
    Sort.NAME: _l("Nom (A à Z)"),
}


class StockState(enum.StrEnum):
    IN_STOCK = "in_stock"
    FEW_LEFT = "few_left"
    MADE_TO_ORDER = "made_to_order"  # none ready, made when ordered
    SOLD_OUT = "sold_out"


STOCK_LABELS: dict[StockState, LazyString] = {
    StockState.IN_STOCK: _l("En stock"),
    StockState.FEW_LEFT: _l("Plus que quelques pièces"),
    StockState.MADE_TO_ORDER: _l("Sur commande"),
    StockState.SOLD_OUT: _l("Épuisé"),
}


def stock_state(stock: int) -> StockState:
    if stock <= 0:
        return StockState.SOLD_OUT
    if stock <= LOW_STOCK:
        return StockState.FEW_LEFT
    return StockState.IN_STOCK


def variant_stock_state(variant: Variant | VariantView) -> StockState:
    """What a resident is told of one variant: made to order once none is ready."""
    if variant.stock <= 0 and variant.made_to_order:
        return StockState.MADE_TO_ORDER
    return stock_state(variant.stock)


def product_stock_state(product: Product | ProductView) -> StockState:
    """The product's variants together: made to order when none is ready but one can
    be made."""
    stock = sum(v.stock for v in product.variants)
    if stock <= 0 and any(v.made_to_order for v in product.variants):
        return StockState.MADE_TO_ORDER
    return stock_state(stock)


def min_price_cents(product: Product) -> int | None:
    return min((v.price_cents for v in product.variants), default=None)


# --- Reading the filters ------------------------------------------------------------


@dataclass
class SearchParams:
    """What the resident asked for, validated; unknown values are left out."""

    q: str = ""
    commune: Commune | None = None
    trade: Trade | None = None
    price_min_cents: int | None = None
    price_max_cents: int | None = None
    method: FulfilmentMethod | None = None
    open_now: bool = False
    in_stock: bool = False
    sort: Sort = Sort.RELEVANCE
    page: int = 1

    @property
    def filtered(self) -> bool:
        return any(
            (
                self.commune,
                self.trade,
                self.price_min_cents is not None,
                self.price_max_cents is not None,
                self.method,
                self.open_now,
                self.in_stock,
            )
        )

    def query_args(self, **changes: Any) -> dict[str, str]:
        """The GET arguments that give these parameters back (for page links)."""
        args: dict[str, str] = {}
        if self.q:
            args["q"] = self.q
        if self.commune:
            args["commune"] = self.commune.slug
        if self.trade:
            args["metier"] = self.trade.slug
        if self.price_min_cents is not None:
            args["prix_min"] = _euros_text(self.price_min_cents)
        if self.price_max_cents is not None:
            args["prix_max"] = _euros_text(self.price_max_cents)
        if self.method:
            args["mode"] = self.method.value
        if self.open_now:
            args["ouvert"] = "1"
        if self.in_stock:
            args["en_stock"] = "1"
        if self.sort is not Sort.RELEVANCE:
            args["tri"] = self.sort.value
        if self.page > 1:
            args["page"] = str(self.page)
        for key, value in changes.items():
            if value is None:
                args.pop(key, None)
            else:
                args[key] = str(value)
        return args


def _euros_text(cents: int) -> str:
    return f"{cents // 100},{cents % 100:02d}" if cents % 100 else str(cents // 100)


def _by_slug(items: Sequence[Any], slug: str) -> Any:
    return next((item for item in items if item.slug == slug), None)


def parse_shop_filters(
    args: Mapping[str, str], communes: Sequence[Commune], trades: Sequence[Trade]
) -> tuple[Commune | None, Trade | None, dict[str, LazyString]]:
    """The commune and trade filters of the home page (slugs in `commune`, `metier`)."""
    errors: dict[str, LazyString] = {}
    commune = trade = None
    if slug := (args.get("commune") or "").strip():
        commune = _by_slug(communes, slug)
        if commune is None:
            errors["commune"] = _l("Commune inconnue : le filtre est ignoré.")
    if slug := (args.get("metier") or "").strip():
        trade = _by_slug(trades, slug)
        if trade is None:
            errors["metier"] = _l("Métier inconnu : le filtre est ignoré.")
    return commune, trade, errors


def _price(args: Mapping[str, str], key: str, errors: dict[str, LazyString]) -> int | None:
    raw = (args.get(key) or "").strip()
    if not raw:
        return None
    try:
        cents = parse_euros(raw)
    except ValueError:
        errors[key] = _l("Indiquez un prix en euros, par exemple 12 ou 12,50.")
        return None
    if cents > MAX_PRICE_CENTS:
        errors[key] = _l("Prix trop élevé.")
        return None
    return cents


# The query arguments the home page and the search read (their cached pages are kept
# under these alone).
SHOP_FILTER_ARGS = ("commune", "metier", "page")
SEARCH_ARGS = (*SHOP_FILTER_ARGS, "q", "prix_min", "prix_max", "ouvert", "en_stock", "mode", "tri")


def parse_search(
    args: Mapping[str, str], communes: Sequence[Commune], trades: Sequence[Trade]
) -> tuple[SearchParams, dict[str, LazyString]]:
    """Search parameters from GET arguments; bad values become messages, never errors."""
    commune, trade, errors = parse_shop_filters(args, communes, trades)
    params = SearchParams(
        q=" ".join((args.get("q") or "").split())[:MAX_QUERY_LENGTH],
        commune=commune,
        trade=trade,
        price_min_cents=_price(args, "prix_min", errors),
        price_max_cents=_price(args, "prix_max", errors),
        open_now=bool(args.get("ouvert")),
        in_stock=bool(args.get("en_stock")),
    )
    if method := (args.get("mode") or "").strip():
        try:
            params.method = FulfilmentMethod(method)
        except ValueError:
            errors["mode"] = _l("Mode de retrait inconnu : le filtre est ignoré.")
    try:
        params.sort = Sort(args.get("tri") or Sort.RELEVANCE)
    except ValueError:
        errors["tri"] = _l("Tri inconnu : les résultats sont triés par pertinence.")
    page = (args.get("page") or "1").strip()
    params.page = int(page) if page.isdigit() and 0 < int(page) < 10_000 else 1
    if (
        params.price_min_cents is not None
        and params.price_max_cents is not None
        and params.price_min_cents > params.price_max_cents
    ):
        errors["prix_max"] = _l("Le prix maximum doit être supérieur au prix minimum.")
        params.price_max_cents = None
    return params, errors


# --- Shop conditions shared by the home page and search ------------------------------


def open_now_condition(now: datetime) -> ColumnElement[bool]:
    """SQL for merchants.operations.is_open(shop, now): an opening period of the
    local weekday covers the local time, and no closure covers the local date."""
    local = now.astimezone(PARIS)
    moment = local.time().replace(microsecond=0, tzinfo=None)
    day = local.date()
    return and_(
        exists().where(
            OpeningHours.shop_id == Shop.id,
            OpeningHours.weekday == local.weekday(),
            OpeningHours.opens_at <= moment,
            OpeningHours.closes_at > moment,
        ),
        ~exists().where(
            Closure.shop_id == Shop.id, Closure.starts_on <= day, Closure.ends_on >= day
        ),
    )


def offers_condition(method: FulfilmentMethod) -> ColumnElement[bool]:
    """The shop lists the method (a JSON list of enum values, same text on both
    databases)."""
    return cast(Shop.fulfilment_methods, String).like(f'%"{method.value}"%')


def _shop_conditions(params: SearchParams, now: datetime) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [Shop.status == ShopStatus.APPROVED]
    if params.commune:
        conditions.append(Shop.commune_id == params.commune.id)
    if params.trade:
        conditions.append(Shop.trade_id == params.trade.id)
    if params.method:
        conditions.append(offers_condition(params.method))
    if params.open_now:
        conditions.append(open_now_condition(now))
    return conditions


def _commune_loading() -> Any:
    """A shop's commune without its outline (a GeoJSON of several kB no page shows)."""
    return joinedload(Shop.commune).options(defer(Commune.outline), defer(Commune.postcodes))


def _shop_loading() -> list[Any]:
    return [
        _commune_loading(),
        joinedload(Shop.trade),
        selectinload(Shop.hours),
        selectinload(Shop.closures),
    ]


# --- Home, shop and product pages ---------------------------------------------------


@dataclass
class MapPoint:
    name: str
    slug: str
    latitude: float
    longitude: float
    commune: str


@dataclass
class HomeListing:
    communes: list[tuple[Commune, int]]  # communes with approved shops, and how many
    trades: list[tuple[Trade, int]]
    shops: list[Shop]  # the page's shops
    total: int = 0  # shops matching the filters, all pages
    page: int = 1
    points: list[MapPoint] = field(default_factory=list)  # every matching shop

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / HOME_PAGE_SIZE))


def home_listing(
    commune: Commune | None,
    trade: Trade | None,
    communes: list[tuple[Commune, int]],
    trades: list[tuple[Trade, int]],
    page: int = 1,
) -> HomeListing:
    """Approved shops by name, filtered by commune and trade: one page of them with
    their commune, trade, hours and closures, and a map point for every one (name,
    place: a few columns, not objects). Four queries whatever the number of shops;
    a page past the last one gives the last one."""
    conditions = [Shop.status == ShopStatus.APPROVED]
    if commune:
        conditions.append(Shop.commune_id == commune.id)
    if trade:
        conditions.append(Shop.trade_id == trade.id)
    points = [
        MapPoint(*row)
        for row in db.session.execute(
            select(Shop.name, Shop.slug, Shop.latitude, Shop.longitude, Commune.name)
            .join(Commune, Commune.id == Shop.commune_id)
            .where(*conditions)
            .order_by(Shop.name, Shop.id)
        )
    ]
    total = len(points)
    page = min(max(page, 1), max(1, math.ceil(total / HOME_PAGE_SIZE)))
    shops = db.session.scalars(
        select(Shop)
        .where(*conditions)
        .options(*_shop_loading())
        .order_by(Shop.name, Shop.id)
        .limit(HOME_PAGE_SIZE)
        .offset((page - 1) * HOME_PAGE_SIZE)
    )
    return HomeListing(
        communes=communes,
        trades=trades,
        shops=list(shops),
        total=total,
        page=page,
        points=points,
    )


def territory_commune_names(territory: Territory) -> list[str]:
    """The territory's communes by name (names only: no outline)."""
    return list(
        db.session.scalars(
            select(Commune.name).where(Commune.territory_id == territory.id).order_by(Commune.name)
        )
    )


def list_communes() -> list[tuple[Commune, int]]:
    rows = db.session.execute(
        select(Commune, func.count(Shop.id))
        .options(load_only(Commune.id, Commune.name, Commune.slug))
        .join(Shop, Shop.commune_id == Commune.id)
        .where(Shop.status == ShopStatus.APPROVED)
        .group_by(Commune.id)
        .order_by(Commune.name)
    ).all()
    return [(commune, count) for commune, count in rows]


def list_trades() -> list[tuple[Trade, int]]:
    rows = db.session.execute(
        select(Trade, func.count(Shop.id))
        .join(Shop, Shop.trade_id == Trade.id)
        .where(Shop.status == ShopStatus.APPROVED)
        .group_by(Trade.id)
        .order_by(Trade.name_fr)
    ).all()
    return [(trade, count) for trade, count in rows]


def public_shop(slug: str) -> Shop | None:
    return db.session.scalar(
        select(Shop)
        .where(Shop.slug == slug, Shop.status == ShopStatus.APPROVED)
        .options(*_shop_loading())
    )


@dataclass
class Category:
    name: str  # "" for products without a category, listed last
    count: int
    index: int  # 1-based, in display order: the section's anchor
    page: int  # the catalogue page where its products begin


@dataclass
class Catalogue:
    """One page of a shop's published products, grouped by category."""

    categories: list[Category]  # every category of the shop, with its product count
    groups: list[tuple[Category, list[Product]]]  # the page's products by category
    picks: list[Product]  # the shop's favourites, whatever the page
    total: int
    page: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / CATALOGUE_PAGE_SIZE))


def shop_catalogue(shop: Shop, page: int = 1) -> Catalogue:
    """A page of the shop's published products by category (categories by name without
    accents, the uncategorised last; products by name), every category with its count,
    and the favourites: five queries whatever the size of the catalogue. A page past
    the last one gives the last one."""
    published = (Product.shop_id == shop.id, Product.status == ProductStatus.PUBLISHED)
    counts = db.session.execute(
        select(Product.category, func.count()).where(*published).group_by(Product.category)
    ).all()
    order = sorted((row[0] or "" for row in counts), key=lambda c: (not c, search_key(c)))
    sizes: dict[str, int] = {}
    for category, count in counts:
        sizes[category or ""] = sizes.get(category or "", 0) + count
    total = sum(sizes.values())
    page = min(max(page, 1), max(1, math.ceil(total / CATALOGUE_PAGE_SIZE)))
    categories, seen = [], 0
    for index, name in enumerate(dict.fromkeys(order), start=1):
        categories.append(Category(name, sizes[name], index, seen // CATALOGUE_PAGE_SIZE + 1))
        seen += sizes[name]
    by_name = {c.name: c for c in categories}
    named = {c.name: c.index for c in categories if c.name}
    rank = case(named, value=Product.category, else_=len(categories)) if named else literal(0)
    products = db.session.scalars(
        select(Product)
        .where(*published)
        .options(selectinload(Product.variants))
        .order_by(rank, Product.name, Product.id)
        .limit(CATALOGUE_PAGE_SIZE)
        .offset((page - 1) * CATALOGUE_PAGE_SIZE)
    ).all()
    groups: dict[str, list[Product]] = {}
    for product in products:
        groups.setdefault(product.category or "", []).append(product)
    picks = (
        db.session.scalars(
            select(Product)
            .where(*published, Product.merchant_pick.is_(True))
            .options(joinedload(Product.variants))
            .order_by(Product.name, Product.id)
            .limit(PICKS_SHOWN)
        )
        .unique()
        .all()
    )
    return Catalogue(
        categories=categories,
        groups=[(by_name[name], items) for name, items in groups.items()],
        picks=list(picks),
        total=total,
        page=page,
    )


def public_product(shop_slug: str, product_slug: str) -> Product | None:
    """A published product of an approved shop, with its shop and variants."""
    return (
        db.session.scalars(
            select(Product)
            .join(Product.shop)
            .where(*_published_product(shop_slug, product_slug))
            .options(
                joinedload(Product.variants),
                contains_eager(Product.shop).options(*_shop_loading()),
            )
        )
        .unique()
        .first()
    )


def _published_product(shop_slug: Any, product_slug: Any) -> tuple[Any, ...]:
    return (
        Shop.slug == shop_slug,
        Shop.status == ShopStatus.APPROVED,
        Product.slug == product_slug,
        Product.status == ProductStatus.PUBLISHED,
    )


@dataclass(frozen=True)
class ShopRef:
    id: int
    slug: str
    name: str


@dataclass(frozen=True)
class VariantView:
    id: int
    options: dict[str, Any]
    price_cents: int
    stock: int
    made_to_order: bool

    @property
    def label(self) -> str:
        return variant_label(self.options)


@dataclass(frozen=True)
class ProductView:
    """What a product page shows of its product, read with one Core query: the page
    of a product nobody asked for yet is the page cache's miss, and building mapped
    objects with their relationships costs more than the query itself."""

    id: int
    shop_id: int
    slug: str
    name: str
    description: str
    category: str
    vat_rate_bp: int
    merchant_pick: bool
    shop: ShopRef
    variants: tuple[VariantView, ...]


# Built once: the product page's query is the page cache's miss, and building the
# statement and its cache key on every call cost as much as running it.
_PRODUCT_VIEW = (
    select(
        Product.id,
        Product.shop_id,
        Product.slug,
        Product.name,
        Product.description,
        Product.category,
        Product.vat_rate_bp,
        Product.merchant_pick,
        Shop.slug.label("shop_slug"),
        Shop.name.label("shop_name"),
        Variant.id.label("variant_id"),
        Variant.options,
        Variant.price_cents,
        Variant.stock,
        Variant.made_to_order,
    )
    .select_from(Product)
    .join(Shop, Shop.id == Product.shop_id)
    .outerjoin(Variant, Variant.product_id == Product.id)
    .where(*_published_product(bindparam("shop_slug"), bindparam("product_slug")))
    .order_by(Variant.id)
)


def product_view(shop_slug: str, product_slug: str) -> ProductView | None:
    """A published product of an approved shop with its variants, for its page."""
    # On the session's connection, as plain Core: no ORM layer for plain rows.
    rows = (
        db.session.connection()
        .execute(_PRODUCT_VIEW, {"shop_slug": shop_slug, "product_slug": product_slug})
        .all()
    )
    if not rows:
        return None
    first = rows[0]
    return ProductView(
        id=first.id,
        shop_id=first.shop_id,
        slug=first.slug,
        name=first.name,
        description=first.description,
        category=first.category,
        vat_rate_bp=first.vat_rate_bp,
        merchant_pick=first.merchant_pick,
        shop=ShopRef(first.shop_id, first.shop_slug, first.shop_name),
        variants=tuple(
            VariantView(r.variant_id, r.options or {}, r.price_cents, r.stock, r.made_to_order)
            for r in rows
            if r.variant_id is not None
        ),
    )


def other_products(shop_id: int, limit: int = OTHER_PRODUCTS + 1) -> list[Product]:
    """The shop's first published products, its favourites first: a product page shows
    the first `OTHER_PRODUCTS` of them that are not itself."""
    return list(
        db.session.scalars(
            select(Product)
            .where(Product.shop_id == shop_id, Product.status == ProductStatus.PUBLISHED)
            .options(joinedload(Product.variants))
            .order_by(Product.merchant_pick.desc(), Product.name, Product.id)
            .limit(limit)
        ).unique()
    )


# --- Search ---------------------------------------------------------------------------


@dataclass
class ProductHit:
    product: Product

    @property
    def min_price_cents(self) -> int | None:
        return min_price_cents(self.product)

    @property
    def stock_state(self) -> StockState:
        return product_stock_state(self.product)


@dataclass
class SearchResult:
    params: SearchParams
    products: list[ProductHit]
    total: int
    shops: list[Shop] = field(default_factory=list)
    suggestions: list[str] = field(default_factory=list)

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / PAGE_SIZE))


@dataclass
class _TextMatch:
    """How one dialect matches and ranks a query against products or shops."""

    product_condition: ColumnElement[bool]
    product_rank: ColumnElement[float]
    shop_condition: ColumnElement[bool]
    shop_rank: ColumnElement[float]
    joins: list[tuple[Any, ColumnElement[bool]]] = field(default_factory=list)
    shop_joins: list[tuple[Any, ColumnElement[bool]]] = field(default_factory=list)
    # A cheap score to pick the candidates the full rank is computed for (None:
    # the rank is cheap enough for every match).
    product_prefilter: ColumnElement[float] | None = None


def _dialect() -> str:
    return str(db.session.get_bind().dialect.name)


def search_key(value: str) -> str:
    """Lower case without accents (Python's side of comptoir_search_key)."""
    decomposed = unicodedata.normalize("NFKD", value.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _pg_match(q: str) -> _TextMatch:
    key = literal(search_key(q), String)
    query = func.websearch_to_tsquery(FRENCH, func.comptoir_unaccent(literal(q, String)))
    product_doc = PRODUCT_DOCUMENT
    product_key = func.comptoir_search_key(Product.name)
    shop_doc = func.comptoir_shop_document(Shop.name, Shop.tagline, Shop.story, Shop.advice)
    shop_key = func.comptoir_search_key(Shop.name)
    # `name %> key`: word_similarity(key, name) >= pg_trgm.word_similarity_threshold
    # (0.6): "chocolt" finds "Tablette de chocolat"; both sides use the GIN indexes.
    # The trigram test comes first: rows found by the trigram index are rechecked
    # against the whole condition, and a name that matches then spares reading the
    # row's stored document.
    return _TextMatch(
        product_condition=or_(product_key.op("%>")(key), product_doc.op("@@")(query)),
        product_rank=func.ts_rank_cd(product_doc, query, 1) * 4
        + func.word_similarity(key, product_key),
        shop_condition=or_(shop_key.op("%>")(key), shop_doc.op("@@")(query)),
        shop_rank=func.ts_rank_cd(shop_doc, query, 1) * 4 + func.word_similarity(key, shop_key),
        product_prefilter=func.word_similarity(key, product_key),
    )


def _light_stem(word: str) -> str:
    """French plural and final e off, so "chaussures" and "chaussure" meet at
    "chaussur*" (FTS5 has no French stemmer)."""
    if len(word) > 3 and word[-1] in "sx":
        word = word[:-1]
    if len(word) > 4 and word.endswith("e"):
        word = word[:-1]
    return word


def _fts_terms(q: str, fuzzy: bool) -> str | None:
    """An FTS5 MATCH expression: every word as a prefix, stop words left out.

    `fuzzy` keeps only the first two thirds of each word, so a typo near the end
    ("chocolt") still finds the word ("choc*")."""
    words = re.findall(r"\w+", search_key(q))
    words = [w for w in words if w not in STOPWORDS] or words  # "le la": keep them
    terms = []
    for word in words:
        stem = _light_stem(word)
        if fuzzy:
            stem = stem[: max(3, len(stem) * 2 // 3)]
        terms.append(f'"{stem}"*')
    return " ".join(terms) or None


def _sqlite_match(q: str, fuzzy: bool) -> _TextMatch:
    match = _fts_terms(q, fuzzy)
    if match is None:
        return _TextMatch(false(), literal(0.0), false(), literal(0.0))
    # bm25 is lower for better matches; the name counts most.
    products = (
        text(
            "SELECT rowid AS id, -bm25(search_product_fts, 10.0, 4.0, 1.0) AS score "
            "FROM search_product_fts WHERE search_product_fts MATCH :product_match"
        )
        .bindparams(product_match=match)
        .columns(id=Integer, score=Float)
        .subquery("product_fts")
    )
    shops = (
        text(
            "SELECT rowid AS id, -bm25(search_shop_fts, 10.0, 4.0, 1.0, 1.0) AS score "
            "FROM search_shop_fts WHERE search_shop_fts MATCH :shop_match"
        )
        .bindparams(shop_match=match)
        .columns(id=Integer, score=Float)
        .subquery("shop_fts")
    )
    return _TextMatch(
        product_condition=products.c.id.is_not(None),
        product_rank=func.coalesce(products.c.score, 0.0),
        shop_condition=shops.c.id.is_not(None),
        shop_rank=func.coalesce(shops.c.score, 0.0),
        joins=[(products, products.c.id == Product.id)],
        shop_joins=[(shops, shops.c.id == Shop.id)],
    )


def _text_match(q: str, fuzzy: bool = False) -> _TextMatch:
    if _dialect() == "postgresql":
        return _pg_match(q)
    return _sqlite_match(q, fuzzy)


def _product_select(params: SearchParams, now: datetime, match: _TextMatch | None) -> Select[Any]:
    """Published products of approved shops matching the query and the filters."""
    statement = select(Product).join(Product.shop)
    for target, on in match.joins if match else []:
        statement = statement.outerjoin(target, on)
    conditions = [Product.status == ProductStatus.PUBLISHED, *_shop_conditions(params, now)]
    if match is not None:
        conditions.append(match.product_condition)
    price_conditions = []
    if params.price_min_cents is not None:
        price_conditions.append(Variant.price_cents >= params.price_min_cents)
    if params.price_max_cents is not None:
        price_conditions.append(Variant.price_cents <= params.price_max_cents)
    if params.in_stock:  # orderable now: ready, or made when ordered
        price_conditions.append(or_(Variant.stock > 0, Variant.made_to_order.is_(True)))
    if price_conditions:
        # One variant must meet them all: in stock at a price within the range.
        conditions.append(exists().where(Variant.product_id == Product.id, *price_conditions))
    return statement.where(*conditions)


def _ordering(params: SearchParams, match: _TextMatch | None) -> list[Any]:
    min_price = (
        select(func.min(Variant.price_cents))
        .where(Variant.product_id == Product.id)
        .correlate(Product)
        .scalar_subquery()
    )
    if params.sort is Sort.PRICE_ASC:
        return [min_price.asc().nulls_last(), Product.name, Product.id]
    if params.sort is Sort.PRICE_DESC:
        return [min_price.desc().nulls_last(), Product.name, Product.id]
    if params.sort is Sort.RELEVANCE and match is not None:
        return [match.product_rank.desc(), Product.merchant_pick.desc(), Product.name, Product.id]
    return [Product.name, Product.id]


def _ranked_page(base: Select[Any], match: _TextMatch, prefilter: Any) -> Select[Any]:
    """Relevance over many matches: the full rank (ts_rank_cd over each match's
    stored document, which is read from the table) is computed only for the
    RANKED_CANDIDATES matches whose names are closest to the query, which come
    first in that order; the others follow by favourites and name. With fewer
    matches than that, the order is exactly the full rank's."""
    candidates = base.with_only_columns(
        Product.id.label("id"),
        func.row_number()
        .over(order_by=[prefilter.desc(), Product.merchant_pick.desc(), Product.name, Product.id])
        .label("pre"),
        func.count().over().label("total"),
    ).subquery("candidates")
    ranked = candidates.c.pre <= RANKED_CANDIDATES
    return (
        select(Product, candidates.c.total)
        .join(candidates, candidates.c.id == Product.id)
        .order_by(
            ranked.desc(),
            case((ranked, match.product_rank)).desc().nulls_last(),
            Product.merchant_pick.desc(),
            Product.name,
            Product.id,
        )
    )


def _search_products(
    params: SearchParams, now: datetime, match: _TextMatch | None
) -> tuple[int, list[ProductHit]]:
    """The total and one page: two queries (the page with the total as a window
    count, so the matches are found once; the variants), and a count only for a
    page past the last one."""
    base = _product_select(params, now, match)
    if (
        match is not None
        and match.product_prefilter is not None
        and (params.sort is Sort.RELEVANCE)
    ):
        statement = _ranked_page(base, match, match.product_prefilter)
    else:
        statement = base.add_columns(func.count().over().label("total")).order_by(
            *_ordering(params, match)
        )
    rows = db.session.execute(
        statement.options(
            selectinload(Product.variants),
            joinedload(Product.shop).options(_commune_loading(), joinedload(Shop.trade)),
        )
        .limit(PAGE_SIZE)
        .offset((params.page - 1) * PAGE_SIZE)
    ).all()
    if rows:
        total = int(rows[0].total)
    elif params.page > 1:
        total = db.session.scalar(select(func.count()).select_from(base.subquery())) or 0
    else:
        total = 0
    return total, [ProductHit(row[0]) for row in rows]


def _search_shops(params: SearchParams, now: datetime, match: _TextMatch) -> list[Shop]:
    statement = select(Shop)
    for target, on in match.shop_joins:
        statement = statement.outerjoin(target, on)
    return list(
        db.session.scalars(
            statement.where(match.shop_condition, *_shop_conditions(params, now))
            .options(
                # Joined rather than selected in: one statement whether or not a
                # shop matches, so a search costs the same queries either way.
                _commune_loading(),
                joinedload(Shop.trade),
                joinedload(Shop.hours),
                joinedload(Shop.closures),
            )
            .order_by(match.shop_rank.desc(), Shop.name, Shop.id)
            .limit(SHOPS_SHOWN)
        ).unique()
    )


def _pg_suggestions(q: str) -> list[str]:
    """Product and shop names close to the query (trigram word similarity)."""
    key = literal(search_key(q), String)
    names = []
    for model, extra in (
        (Product, [Product.status == ProductStatus.PUBLISHED]),
        (Shop, []),
    ):
        name_key = func.comptoir_search_key(model.name)
        score = func.word_similarity(key, name_key)
        statement = select(model.name.label("name"), score.label("score")).where(
            score >= PG_SUGGESTION_SIMILARITY, Shop.status == ShopStatus.APPROVED, *extra
        )
        if model is Product:
            statement = statement.join(Product.shop)
        names.append(statement)
    both = union_all(*names).subquery()
    rows = db.session.execute(
        select(both.c.name, func.max(both.c.score).label("best"))
        .group_by(both.c.name)
        .order_by(literal_column("best").desc(), both.c.name)
        .limit(SUGGESTIONS)
    ).all()
    return [row.name for row in rows]


def _sqlite_suggestions(q: str) -> list[str]:
    """The query with each word replaced by the closest word of a product or shop
    name (one query: the names; the territory's catalogue is small in this mode)."""
    names = db.session.scalars(
        union_all(
            select(Product.name)
            .join(Product.shop)
            .where(Product.status == ProductStatus.PUBLISHED, Shop.status == ShopStatus.APPROVED),
            select(Shop.name).where(Shop.status == ShopStatus.APPROVED),
        )
    ).all()
    vocabulary = sorted({w for name in names for w in re.findall(r"\w+", search_key(name))})
    corrected = []
    for word in re.findall(r"\w+", search_key(q)):
        close = difflib.get_close_matches(word, vocabulary, 1, SQLITE_SUGGESTION_CUTOFF)
        corrected.append(close[0] if close else word)
    suggestion = " ".join(corrected)
    return [suggestion] if suggestion and suggestion != search_key(q) else []


def search(params: SearchParams, now: datetime) -> SearchResult:
    """Products (a page) and, on the first page, shops matching the query.

    Without a query every published product matching the filters is listed. A
    fixed number of queries whatever the number of results: count, page, variants,
    then for a query the matching shops (with hours and closures) and, when
    nothing matched, the suggestions.
    """
    match = _text_match(params.q) if params.q else None
    total, products = _search_products(params, now, match)
    if params.q and total == 0 and _dialect() == "sqlite":
        match = _text_match(params.q, fuzzy=True)  # FTS5 has no typo tolerance
        total, products = _search_products(params, now, match)
    shops = _search_shops(params, now, match) if match is not None and params.page == 1 else []
    result = SearchResult(params=params, products=products, total=total, shops=shops)
    if params.q and total == 0 and not shops:
        if _dialect() == "postgresql":
            result.suggestions = _pg_suggestions(params.q)
        else:
            result.suggestions = _sqlite_suggestions(params.q)
    return result
