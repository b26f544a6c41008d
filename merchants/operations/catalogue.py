"""Catalogue rules: products, variants, prices, stock, SKUs, slugs, publication.

Every way into the catalogue (the back office forms, the CSV/XLSX import, the API)
goes through these functions, so a rule is written once:

- `clean_product_fields(...)` and `validate_variant_fields(...)` turn raw text (a form
  field, a spreadsheet cell) into `ProductData` / `VariantData`, or raise
  `FieldErrors` naming each bad field with a French message;
- `text_error(...)`, `slug_base` / `free_slug`, `has_price` / `lacks_price` are the
  single rules for text lengths, slugs and publication (the import calls them too);
- `check_skus(shop, ...)` finds SKUs already used elsewhere in the shop;
- `create_product`, `update_product`, `upsert_variant`, `bulk_update_variants`
  apply them; they check everything first and change nothing when something is
  wrong (they raise `CatalogueError`), add and flush, never commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask import has_request_context
from flask_babel import gettext
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload
from stdnum import ean as stdnum_ean

from marketplace.extensions import db
from marketplace.money import parse_euros
from marketplace.territory import slugify

from ..models import VAT_RATES_BP, Product, ProductStatus, Shop, Variant

MAX_PRICE_CENTS = 10_000_000  # 100 000 € TTC: anything above is a typing error
MAX_STOCK = 1_000_000
MAX_WEIGHT_GRAMS = 1_000_000  # one tonne
MAX_OPTIONS = 3
NAME_MAX = 200
DESCRIPTION_MAX = 10_000
CATEGORY_MAX = 100
SKU_MAX = 64
OPTION_NAME_MAX = 40
OPTION_VALUE_MAX = 60
SLUG_MAX = 150

Errors = dict[str, str]


def _(text: str, **values: Any) -> str:
    """Translated in a request; the French text in the CLI and Celery tasks, where
    there is no visitor's language to choose."""
    if has_request_context():
        return str(gettext(text, **values))
    return text % values if values else text


class FieldErrors(ValueError):
    """Bad fields of one product or one variant: {field name: French message}."""

    def __init__(self, errors: Errors) -> None:
        super().__init__(errors)
        self.errors = errors


class CatalogueError(ValueError):
    """A change refused as a whole.

    `errors` are about the product ({"name": …, "status": …}); `variant_errors` maps
    the index of a variant in the list given to the operation to its field errors
    (the import turns that index into a row number, the form into a table row).
    """

    def __init__(
        self, errors: Errors | None = None, variant_errors: dict[int, Errors] | None = None
    ) -> None:
        self.errors = errors or {}
        self.variant_errors = variant_errors or {}
        super().__init__(self.errors, self.variant_errors)


@dataclass
class ProductData:
    name: str
    vat_rate_bp: int
    description: str = ""
    category: str = ""
    status: ProductStatus = ProductStatus.DRAFT
    merchant_pick: bool = False


@dataclass
class VariantData:
    sku: str
    price_cents: int
    stock: int = 0
    made_to_order: bool = False
    ean: str | None = None
    weight_grams: int | None = None
    options: dict[str, str] = field(default_factory=dict)
    id: int | None = None  # an existing variant of the product, when editing


# -- parsing single values --------------------------------------------------------------


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def parse_price(value: Any) -> int:
    """Price TTC in euros ("12,50", "12.5 €") → cents; ValueError with a message."""
    text = _text(value)
    if not text:
        raise ValueError(_("Indiquez le prix TTC en euros, par exemple 12,50."))
    if text.startswith("-"):
        raise ValueError(_("Le prix ne peut pas être négatif."))
    try:
        cents = parse_euros(text)
    except ValueError:
        raise ValueError(
            _("Prix illisible : écrivez un montant en euros, par exemple 12,50.")
        ) from None
    if cents > MAX_PRICE_CENTS:
        raise ValueError(_("Prix trop élevé : 100 000 € au plus."))
    return cents


def parse_vat_rate(value: Any) -> int:
    """Percent text ("20", "20 %", "5,5", "2.1") or basis points ("550") → basis points."""
    text = _text(value).replace("%", "").replace(" ", "").replace(",", ".")
    message = _("Taux de TVA inconnu : choisissez 20 %, 10 %, 5,5 % ou 2,1 %.")
    try:
        number = float(text)
    except ValueError:
        raise ValueError(message) from None
    for bp in VAT_RATES_BP:
        if number in (bp, bp / 100):
            return bp
    raise ValueError(message)


def _parse_int(value: Any, maximum: int, message: str, too_big: str) -> int:
    text = _text(value).replace(" ", "").replace("\u202f", "")
    if text.startswith("-") and text[1:].isdigit():
        raise ValueError(message)
    if not text.isdigit():
        raise ValueError(message)
    number = int(text)
    if number > maximum:
        raise ValueError(too_big)
    return number


def parse_stock(value: Any) -> int:
    return _parse_int(
        value,
        MAX_STOCK,
        _("Le stock est un nombre entier positif ou nul, par exemple 12."),
        _("Stock trop élevé : 1 000 000 au plus."),
    )


def parse_weight(value: Any) -> int | None:
    if not _text(value):
        return None
    return _parse_int(
        value,
        MAX_WEIGHT_GRAMS,
        _("Le poids est un nombre entier de grammes, par exemple 250."),
        _("Poids trop élevé : 1 000 000 g au plus."),
    )


def parse_ean(value: Any) -> str | None:
    """A valid EAN-13, EAN-8, UPC-A or GTIN-14 (digits only), or None when empty."""
    text = _text(value).replace(" ", "").replace("-", "")
    if not text:
        return None
    # Digits and length checked here, so only the check digit is left to python-stdnum.
    if (
        not text.isdigit()
        or len(text) not in (8, 12, 13, 14)
        or stdnum_ean.calc_check_digit(text[:-1]) != text[-1]
    ):
        raise ValueError(
            _("Code-barres EAN invalide : vérifiez les 13 (ou 8) chiffres et la clé de contrôle.")
        )
    return text


def parse_status(value: Any) -> ProductStatus:
    text = _text(value) or ProductStatus.DRAFT.value
    try:
        return ProductStatus(text)
    except ValueError:
        raise ValueError(_("Statut inconnu : brouillon, publié ou archivé.")) from None


def parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return _text(value).lower() in {"1", "true", "yes", "y", "oui", "o", "on", "x"}


def clean_options(pairs: Iterable[tuple[Any, Any]]) -> dict[str, str]:
    """Up to three (name, value) pairs, e.g. ("taille", "M"); empty pairs are skipped."""
    options: dict[str, str] = {}
    for raw_name, raw_value in pairs:
        name, value = _text(raw_name), _text(raw_value)
        if not name and not value:
            continue
        if not name or not value:
            raise ValueError(_("Chaque option a un nom et une valeur, par exemple taille = M."))
        if len(name) > OPTION_NAME_MAX or len(value) > OPTION_VALUE_MAX:
            raise ValueError(
                _("Option trop longue : 40 caractères pour le nom, 60 pour la valeur.")
            )
        if name.lower() in (n.lower() for n in options):
            raise ValueError(_("L'option « %(name)s » est indiquée deux fois.", name=name))
        options[name] = value
    if len(options) > MAX_OPTIONS:
        raise ValueError(_("Trois options au plus par variante."))
    return options


# -- cleaning whole records -------------------------------------------------------------


def text_error(field_name: str, value: str) -> str | None:
    """The message for a product or variant text that is missing or too long, or None.

    `field_name`: name (required), description, category or sku (required); `value`
    already stripped. The forms, the API and the import all check texts with it.
    """
    if field_name == "name":
        if not value:
            return _("Indiquez le nom du produit.")
        if len(value) > NAME_MAX:
            return _("Nom trop long : 200 caractères au plus.")
    elif field_name == "description":
        if len(value) > DESCRIPTION_MAX:
            return _("Description trop longue : 10 000 caractères au plus.")
    elif field_name == "category":
        if len(value) > CATEGORY_MAX:
            return _("Catégorie trop longue : 100 caractères au plus.")
    elif field_name == "sku":
        if not value:
            return _("Indiquez une référence (SKU), unique dans votre boutique.")
        if len(value) > SKU_MAX:
            return _("Référence trop longue : 64 caractères au plus.")
    else:
        raise KeyError(field_name)
    return None


def clean_product_fields(
    *,
    name: Any,
    vat_rate: Any,
    description: Any = "",
    category: Any = "",
    status: Any = "draft",
    merchant_pick: Any = False,
) -> ProductData:
    """Raw product fields → ProductData, or FieldErrors naming each bad field."""
    errors: Errors = {}
    clean_name = _text(name)
    clean_description = _text(description)
    clean_category = _text(category)
    for field_name, value in (
        ("name", clean_name),
        ("description", clean_description),
        ("category", clean_category),
    ):
        if message := text_error(field_name, value):
            errors[field_name] = message
    vat_rate_bp = 0
    try:
        vat_rate_bp = parse_vat_rate(vat_rate)
    except ValueError as exc:
        errors["vat_rate"] = str(exc)
    clean_status = ProductStatus.DRAFT
    try:
        clean_status = parse_status(status)
    except ValueError as exc:
        errors["status"] = str(exc)
    if errors:
        raise FieldErrors(errors)
    return ProductData(
        name=clean_name,
        vat_rate_bp=vat_rate_bp,
        description=clean_description,
        category=clean_category,
        status=clean_status,
        merchant_pick=parse_bool(merchant_pick),
    )


def validate_variant_fields(
    *,
    sku: Any,
    price: Any,
    stock: Any = "",
    made_to_order: Any = False,
    ean: Any = "",
    weight_grams: Any = "",
    options: Mapping[str, Any] | Iterable[tuple[Any, Any]] | None = None,
    id: int | None = None,
) -> VariantData:
    """Raw variant fields → VariantData, or FieldErrors naming each bad field.

    Field names in the errors: sku, price, stock, ean, weight_grams, options.
    `price` is text in euros (or int cents already parsed); an empty stock is 0.
    """
    errors: Errors = {}
    clean_sku = _text(sku)
    if message := text_error("sku", clean_sku):
        errors["sku"] = message
    price_cents = 0
    try:
        if isinstance(price, int) and not isinstance(price, bool):
            if price < 0:
                raise ValueError(_("Le prix ne peut pas être négatif."))
            if price > MAX_PRICE_CENTS:
                raise ValueError(_("Prix trop élevé : 100 000 € au plus."))
            price_cents = price
        else:
            price_cents = parse_price(price)
    except ValueError as exc:
        errors["price"] = str(exc)
    to_order = parse_bool(made_to_order)
    clean_stock = 0  # empty: nothing in stock (safe: not sellable until counted)
    if _text(stock):
        try:
            clean_stock = parse_stock(stock)
        except ValueError as exc:
            errors["stock"] = str(exc)
    clean_ean = None
    try:
        clean_ean = parse_ean(ean)
    except ValueError as exc:
        errors["ean"] = str(exc)
    weight = None
    try:
        weight = parse_weight(weight_grams)
    except ValueError as exc:
        errors["weight_grams"] = str(exc)
    clean_opts: dict[str, str] = {}
    try:
        pairs = options.items() if isinstance(options, Mapping) else (options or [])
        clean_opts = clean_options(pairs)
    except ValueError as exc:
        errors["options"] = str(exc)
    if errors:
        raise FieldErrors(errors)
    return VariantData(
        sku=clean_sku,
        price_cents=price_cents,
        stock=clean_stock,
        made_to_order=to_order,
        ean=clean_ean,
        weight_grams=weight,
        options=clean_opts,
        id=id,
    )


# -- rules needing the database ---------------------------------------------------------


def lock_shop_catalogue(shop: Shop) -> None:
    """Serialise catalogue writes of one shop (SKU and slug checks stay true)."""
    db.session.execute(select(Shop.id).where(Shop.id == shop.id).with_for_update())


def check_skus(
    shop: Shop, skus: Sequence[str], exclude_variant_ids: Iterable[int] = ()
) -> dict[int, str]:
    """{index in `skus`: message} for SKUs repeated in the list or used by another
    variant of the shop (variants in `exclude_variant_ids` are being rewritten)."""
    problems: dict[int, str] = {}
    seen: dict[str, int] = {}
    for index, sku in enumerate(skus):
        if sku in seen:
            problems[index] = _(
                "La référence « %(sku)s » est saisie deux fois (ligne %(first)d).",
                sku=sku,
                first=seen[sku] + 1,
            )
        else:
            seen[sku] = index
    excluded = set(exclude_variant_ids)
    if seen:
        rows = db.session.execute(
            select(Variant.id, Variant.sku, Product.name)
            .join(Variant.product)
            .where(Product.shop_id == shop.id, Variant.sku.in_(list(seen)))
        ).all()
        for variant_id, sku, product_name in rows:
            if variant_id in excluded:
                continue
            problems.setdefault(
                seen[sku],
                _(
                    "La référence « %(sku)s » est déjà utilisée dans votre boutique, "
                    "par le produit « %(product)s ».",
                    sku=sku,
                    product=product_name,
                ),
            )
    return problems


def slug_base(text_value: str) -> str:
    """The slug a product's name (or an import's product_ref) starts from: "pull-marin"."""
    return slugify(text_value)[: SLUG_MAX - 8].strip("-") or "produit"


def taken_slugs(
    shop_id: int, bases: Iterable[str], exclude_product_id: int | None = None
) -> set[str]:
    """The shop's slugs that are one of `bases` or one of them followed by "-N"."""
    conditions = [(Product.slug == base) | Product.slug.like(f"{base}-%") for base in set(bases)]
    if not conditions:
        return set()
    query = select(Product.slug).where(Product.shop_id == shop_id, or_(*conditions))
    if exclude_product_id is not None:
        query = query.where(Product.id != exclude_product_id)
    return set(db.session.scalars(query))


def free_slug(base: str, taken: set[str]) -> str:
    """`base`, else the first of "base-2", "base-3"… not in `taken`."""
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def unique_slug(shop: Shop, name: str, exclude_product_id: int | None = None) -> str:
    """A slug from the name, unique in the shop: "pull-marin", then "pull-marin-2"…"""
    base = slug_base(name)
    taken = taken_slugs(shop.id, [base], exclude_product_id)
    taken.update(
        p.slug
        for p in db.session.new
        if isinstance(p, Product) and p.shop_id == shop.id and p.slug is not None
    )
    return free_slug(base, taken)


def has_price(prices: Iterable[int]) -> bool:
    """At least one variant with a price: what a published product needs."""
    return any(price > 0 for price in prices)


def lacks_price(status: ProductStatus, priced: bool) -> bool:
    """The publication rule: a published product has at least one priced variant."""
    return status is ProductStatus.PUBLISHED and not priced


def publication_message() -> str:
    return _("Pour publier, ajoutez au moins une variante avec un prix.")


def _check_publication(status: ProductStatus, variants: Iterable[VariantData | Variant]) -> Errors:
    if lacks_price(status, has_price(v.price_cents for v in variants)):
        return {"status": publication_message()}
    return {}


def _apply_variant(variant: Variant, data: VariantData) -> None:
    variant.sku = data.sku
    variant.price_cents = data.price_cents
    variant.stock = data.stock
    variant.made_to_order = data.made_to_order
    variant.ean = data.ean
    variant.weight_grams = data.weight_grams
    variant.options = dict(data.options)


def _apply_product(product: Product, data: ProductData) -> None:
    product.name = data.name
    product.description = data.description
    product.category = data.category
    product.vat_rate_bp = data.vat_rate_bp
    product.status = data.status
    product.merchant_pick = data.merchant_pick


def _sku_errors(problems: dict[int, str]) -> dict[int, Errors]:
    return {index: {"sku": message} for index, message in problems.items()}


# -- operations -------------------------------------------------------------------------


def create_product(shop: Shop, data: ProductData, variants: Sequence[VariantData] = ()) -> Product:
    """A new product of the shop with its variants; CatalogueError changes nothing."""
    lock_shop_catalogue(shop)
    variant_errors = _sku_errors(check_skus(shop, [v.sku for v in variants]))
    errors = _check_publication(data.status, variants)
    if errors or variant_errors:
        raise CatalogueError(errors, variant_errors)
    product = Product(shop=shop, shop_id=shop.id, slug=unique_slug(shop, data.name))
    _apply_product(product, data)
    for item in variants:
        variant = Variant()
        _apply_variant(variant, item)
        product.variants.append(variant)
    db.session.add(product)
    db.session.flush()
    return product


def update_product(
    product: Product,
    data: ProductData,
    variants: Sequence[VariantData] | None = None,
    *,
    delete_variant_ids: Iterable[int] = (),
) -> Product:
    """Change the product's fields and, when `variants` is given, its variants:
    each one with an `id` of this product is rewritten, each without is added;
    `delete_variant_ids` are removed. The slug stays (links keep working).
    CatalogueError changes nothing."""
    shop = product.shop
    lock_shop_catalogue(shop)
    existing = {v.id: v for v in product.variants}
    to_delete = set(delete_variant_ids)
    variant_errors: dict[int, Errors] = {}
    items = list(variants or [])
    seen_ids: set[int] = set()
    for index, item in enumerate(items):
        if item.id is not None and (item.id not in existing or item.id in seen_ids):
            variant_errors[index] = {"sku": _("Cette variante n'appartient pas à ce produit.")}
        if item.id is not None:
            seen_ids.add(item.id)
    unknown_deletes = to_delete - set(existing)
    if unknown_deletes:
        raise CatalogueError({"variants": _("Cette variante n'appartient pas à ce produit.")})
    rewritten = {item.id for item in items if item.id is not None} | to_delete
    for index, message in check_skus(shop, [v.sku for v in items], rewritten).items():
        variant_errors.setdefault(index, {})["sku"] = message
    # The variants the product will have: untouched ones, rewritten ones, new ones.
    kept: list[VariantData | Variant] = [v for v in product.variants if v.id not in rewritten]
    final: list[VariantData | Variant] = kept + [i for i in items if i.id not in to_delete]
    errors = _check_publication(data.status, final)
    if errors or variant_errors:
        raise CatalogueError(errors, variant_errors)

    _apply_product(product, data)
    for variant_id in to_delete:
        product.variants.remove(existing[variant_id])
    db.session.flush()  # deleted SKUs free before they are reused
    for item in items:
        if item.id in to_delete:
            continue
        variant = existing[item.id] if item.id is not None else Variant()
        _apply_variant(variant, item)
        if item.id is None:
            product.variants.append(variant)
    db.session.flush()
    return product


def upsert_variant(product: Product, data: VariantData) -> Variant:
    """Add or rewrite one variant (found by `data.id`, else by its SKU in the product).

    CatalogueError (variant index 0) when the SKU belongs to another product of the
    shop; the product's publication is checked too (a published product keeps a price).
    """
    shop = product.shop
    lock_shop_catalogue(shop)
    variant: Variant | None = None
    if data.id is not None:
        variant = next((v for v in product.variants if v.id == data.id), None)
        if variant is None:
            raise CatalogueError(
                {}, {0: {"sku": _("Cette variante n'appartient pas à ce produit.")}}
            )
    else:
        variant = next((v for v in product.variants if v.sku == data.sku), None)
    excluded = [variant.id] if variant is not None and variant.id is not None else []
    problems = check_skus(shop, [data.sku], excluded)
    others: list[VariantData | Variant] = [v for v in product.variants if v is not variant]
    errors = _check_publication(product.status, [*others, data])
    if problems or errors:
        raise CatalogueError(errors, _sku_errors(problems))
    if variant is None:
        variant = Variant()
        product.variants.append(variant)
    _apply_variant(variant, data)
    db.session.flush()
    return variant


def delete_product(product: Product) -> None:
    """Remove the product with its variants and photos; the photo files are deleted
    once the transaction commits (order lines keep their copy of name and price)."""
    from .images import remove_files_after_commit

    paths = [path for image in product.images for path in image.paths()]
    db.session.delete(product)
    db.session.flush()
    remove_files_after_commit(paths)


@dataclass
class VariantChange:
    """One row of the list's bulk edit: new price text and stock text of a variant."""

    variant_id: int
    price: str | None = None  # None: unchanged
    stock: str | None = None
    # The stock shown when the page was read: if a sale changed it since, the new
    # figure is refused rather than silently undoing the sale.
    stock_was: int | None = None


def bulk_update_variants(shop: Shop, changes: Sequence[VariantChange]) -> dict[int, Errors]:
    """Set prices and stock of many variants of the shop at once, all or nothing.

    Returns {} once everything is applied, else {variant_id: {"price"|"stock": message}}
    with nothing changed. A variant of another shop is reported as unknown.
    """
    lock_shop_catalogue(shop)
    ids = [c.variant_id for c in changes]
    variants = {
        v.id: v
        for v in db.session.scalars(
            select(Variant)
            .join(Variant.product)
            .where(Product.shop_id == shop.id, Variant.id.in_(ids))
            .options(selectinload(Variant.product).selectinload(Product.variants))
            .with_for_update(of=Variant)
        )
    }
    errors: dict[int, Errors] = {}
    parsed: dict[int, tuple[int | None, int | None]] = {}
    for change in changes:
        variant = variants.get(change.variant_id)
        if variant is None:
            errors[change.variant_id] = {"price": _("Variante inconnue dans votre boutique.")}
            continue
        row: Errors = {}
        price = stock = None
        if change.price is not None:
            try:
                price = parse_price(change.price)
            except ValueError as exc:
                row["price"] = str(exc)
        if change.stock is not None and not (variant.made_to_order and not _text(change.stock)):
            try:
                stock = parse_stock(change.stock)
            except ValueError as exc:
                row["stock"] = str(exc)
            if (
                stock is not None
                and change.stock_was is not None
                and variant.stock != change.stock_was
            ):
                row["stock"] = _(
                    "Le stock a changé pendant votre saisie (une vente ?) : il est "
                    "maintenant de %(n)d. Vérifiez puis enregistrez de nouveau.",
                    n=variant.stock,
                )
        if row:
            errors[change.variant_id] = row
        parsed[change.variant_id] = (price, stock)
    if errors:
        return errors
    # A published product must keep a variant with a price.
    new_prices = {vid: p for vid, (p, _s) in parsed.items() if p is not None}
    products = {variants[vid].product for vid in new_prices}
    for product in products:
        prices = [new_prices.get(v.id, v.price_cents) for v in product.variants]
        if lacks_price(product.status, has_price(prices)):
            for v in product.variants:
                if v.id in new_prices:
                    errors[v.id] = {
                        "price": _("Pour rester publié, ce produit garde au moins un prix.")
                    }
    if errors:
        return errors
    for vid, (price, stock) in parsed.items():
        if price is not None:
            variants[vid].price_cents = price
        if stock is not None:
            variants[vid].stock = stock
    db.session.flush()
    return {}


def shop_categories(shop: Shop) -> list[str]:
    """The categories used by the shop's products, for filters and suggestions."""
    return list(
        db.session.scalars(
            select(Product.category)
            .where(Product.shop_id == shop.id, Product.category != "")
            .group_by(Product.category)
            .order_by(func.lower(Product.category))
        )
    )


def product_of_shop(shop: Shop, product_id: int) -> Product | None:
    """The shop's product with that id, or None (never another shop's)."""
    return db.session.scalar(
        select(Product).where(Product.id == product_id, Product.shop_id == shop.id)
    )
