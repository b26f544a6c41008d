"""The merchant's JSON API (flask-smorest): catalogue, stock, import and export.

For a till or a stock system: every operation needs a bearer token of a merchant
account (marketplace/api_auth.py) working for the shop in the path. Another shop is
as absent as a missing one (404), whatever the id. The operations are the back
office's (merchants.operations), so the rules and their French messages are the
same; the error shape is marketplace/errors.py's, 422 naming each bad field.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable, Mapping
from typing import Any, NoReturn, TypeVar

from flask import g, request, send_file
from flask.views import MethodView
from flask_babel import gettext as _
from flask_smorest import Blueprint
from flask_smorest.pagination import PaginationParameters
from sqlalchemy import exists, or_, select
from sqlalchemy.orm import joinedload, selectinload
from werkzeug.exceptions import Conflict, NotFound, UnprocessableEntity

from marketplace.api_auth import api_user, token_endpoint
from marketplace.api_auth import init_app as init_api_auth
from marketplace.api_common import fail, field_error, paginate
from marketplace.extensions import MAX_ID, after_commit, csrf, db
from marketplace.models import Role

from .models import ImportJob, ImportStatus, Product, Shop, ShopStaff, Variant
from .operations import catalogue as cat
from .operations import exports as export_ops
from .operations import imports as import_ops
from .operations import staff_shop_ids
from .schemas import (
    MAX_STOCK_ITEMS,
    ExportQueryArgsSchema,
    ImportJobSchema,
    ImportUploadArgsSchema,
    MerchantProductArgsSchema,
    MerchantProductPatchArgsSchema,
    MerchantProductQueryArgsSchema,
    MerchantProductSchema,
    MerchantShopSchema,
    MerchantVariantArgsSchema,
    MerchantVariantSchema,
    StockArgsSchema,
    StockItemArgsSchema,
    StockItemSchema,
)

blp = Blueprint(
    "merchant_api",
    __name__,
    url_prefix="/api/v1/merchant",
    description="Merchant: catalogue, stock, import and export of the shops the token's "
    "account works for",
)
blp.DEFAULT_PAGINATION_PARAMETERS = {"page": 1, "page_size": 20, "max_page_size": 100}
# Token-authenticated only (no cookie is read), so CSRF does not apply.
csrf.exempt(blp)
blp.record_once(lambda state: init_api_auth(state.app))

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
UPLOAD_ENDPOINT = "merchant_api.ImportJobs"
F = TypeVar("F", bound=Callable[..., Any])


# -- Shared with the staff's order queue API (shop/api_staff.py) -----------------------


def merchant_only(bp: Blueprint, in_shop: bool = True) -> Callable[[F], F]:
    """A merchant's bearer token is needed (checked before the input); documented,
    with 401, 403 and (`in_shop`) the 404 of a shop the account does not work for."""
    if not in_shop:
        return token_endpoint(bp, Role.MERCHANT)
    return token_endpoint(bp, Role.MERCHANT, check=_shop_first, errors=(404,))


def _shop_first(view_kwargs: dict[str, Any]) -> None:
    # Another shop is not found before its input is even read.
    g.api_shop = staff_shop(view_kwargs["shop_id"])


def staff_shop(shop_id: int) -> Shop:
    """The shop if the token's account works for it, else 404 (the pages' rule)."""
    known: Shop | None = g.get("api_shop")
    if known is not None and known.id == shop_id:
        return known
    if shop_id > MAX_ID or shop_id not in staff_shop_ids(api_user()):
        fail(NotFound, _("Boutique introuvable."))
    shop = db.session.get(Shop, shop_id)
    assert shop is not None
    return shop


authenticated = merchant_only(blp)


# -- The account's shops -----------------------------------------------------------------


@blp.route("/shops")
class MyShops(MethodView):
    @merchant_only(blp, in_shop=False)
    @blp.response(200, MerchantShopSchema(many=True))
    def get(self) -> Any:
        """List my shops

        The shops the token's account works for, with its role in each: the
        `shop_id` of every other merchant operation.
        """
        return db.session.scalars(
            select(ShopStaff)
            .where(ShopStaff.user_id == api_user().id)
            .options(joinedload(ShopStaff.shop))
            .order_by(ShopStaff.shop_id)
        ).all()


# -- Catalogue --------------------------------------------------------------------------

# API field names of the operations' fields.
PRODUCT_FIELDS = {"vat_rate": "vat_rate_bp"}
VARIANT_FIELDS = {"price": "price_cents"}


def _named(errors: Mapping[str, str], names: Mapping[str, str]) -> dict[str, list[str]]:
    return {names.get(key, key): [message] for key, message in errors.items()}


def catalogue_refused(
    product_errors: Mapping[str, str] | None = None,
    variant_errors: Mapping[int, Mapping[str, str]] | None = None,
    variants_key: str | None = "variants",
) -> NoReturn:
    """422 naming each field (variants by their index in the body)."""
    db.session.rollback()
    fields: dict[str, Any] = _named(product_errors or {}, PRODUCT_FIELDS)
    for index, errors in (variant_errors or {}).items():
        named = _named(errors, VARIANT_FIELDS)
        if variants_key is None:
            fields.update(named)
        else:
            fields.setdefault(variants_key, {})[index] = named
    fail(UnprocessableEntity, " ".join(_messages(fields)), {"json": fields})


def _messages(errors: Any) -> list[str]:
    """Every message of a nested errors mapping, in order."""
    if isinstance(errors, str):
        return [errors]
    if isinstance(errors, Mapping):
        return [m for value in errors.values() for m in _messages(value)]
    return [m for value in errors for m in _messages(value)]


def _product(shop: Shop, product_id: int) -> Product:
    product = cat.product_of_shop(shop, product_id) if product_id <= MAX_ID else None
    if product is None:
        fail(NotFound, _("Produit introuvable."))
    return product


def _product_data(values: Mapping[str, Any]) -> cat.ProductData:
    try:
        return cat.clean_product_fields(
            name=values.get("name"),
            vat_rate=str(values.get("vat_rate_bp", "")),
            description=values.get("description", ""),
            category=values.get("category", ""),
            status=values.get("status", cat.ProductStatus.DRAFT).value,
            merchant_pick=values.get("merchant_pick", False),
        )
    except cat.FieldErrors as exc:
        catalogue_refused(exc.errors)


def _variant_values(variant: Variant) -> dict[str, Any]:
    return {
        "price_cents": variant.price_cents,
        "stock": variant.stock,
        "made_to_order": variant.made_to_order,
        "ean": variant.ean,
        "weight_grams": variant.weight_grams,
        "options": dict(variant.options or {}),
    }


def _variant_data(values: Mapping[str, Any]) -> cat.VariantData:
    """A variant's body through the catalogue's parser (FieldErrors naming fields)."""
    price = values.get("price_cents")
    stock, weight = values.get("stock"), values.get("weight_grams")
    return cat.validate_variant_fields(
        sku=values.get("sku"),
        price="" if price is None else price,
        stock="" if stock is None else str(stock),
        made_to_order=values.get("made_to_order", False),
        ean=values.get("ean") or "",
        weight_grams="" if weight is None else str(weight),
        options=values.get("options") or {},
    )


def _loaded(product: Product) -> Product:
    db.session.refresh(product)
    return product


@blp.route("/shops/<int:shop_id>/products")
class Products(MethodView):
    @authenticated
    @blp.arguments(MerchantProductQueryArgsSchema, location="query")
    @blp.response(200, MerchantProductSchema(many=True))
    @blp.paginate()
    def get(
        self, args: Mapping[str, Any], shop_id: int, pagination_parameters: PaginationParameters
    ) -> Any:
        """List the shop's products

        Every status (draft, published, archived) with all the variants, price in
        cents and stock; newest first. Filters as the catalogue page: status,
        category, and `q` in the name, the category or a SKU (or an exact EAN).
        """
        shop = staff_shop(shop_id)
        query = (
            select(Product)
            .where(Product.shop_id == shop.id)
            .options(selectinload(Product.variants))
        )
        if q := " ".join(args.get("q", "").split()):
            escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            pattern = f"%{escaped}%"
            query = query.where(
                or_(
                    Product.name.ilike(pattern, escape="\\"),
                    Product.category.ilike(pattern, escape="\\"),
                    exists().where(
                        Variant.product_id == Product.id,
                        or_(Variant.sku.ilike(pattern, escape="\\"), Variant.ean == q),
                    ),
                )
            )
        if "status" in args:
            query = query.where(Product.status == args["status"])
        if "category" in args:
            query = query.where(Product.category == args["category"])
        query = query.order_by(Product.created_at.desc(), Product.id.desc())
        return paginate(query, pagination_parameters)

    @authenticated
    @blp.arguments(MerchantProductArgsSchema)
    @blp.response(201, MerchantProductSchema)
    def post(self, args: Mapping[str, Any], shop_id: int) -> Any:
        """Create a product

        With its variants, as the product form: the same checks (name, VAT rate,
        prices, SKUs unique in the shop, EAN, publishing needs a priced variant);
        nothing is created when anything is wrong (422 naming each field, variants
        by their index).
        """
        shop = staff_shop(shop_id)
        data = _product_data(args)
        variants: list[cat.VariantData] = []
        variant_errors: dict[int, Mapping[str, str]] = {}
        for index, item in enumerate(args["variants"]):
            try:
                variants.append(_variant_data(item))
            except cat.FieldErrors as exc:
                variant_errors[index] = exc.errors
        if variant_errors:
            catalogue_refused({}, variant_errors)
        try:
            product = cat.create_product(shop, data, variants)
        except cat.CatalogueError as exc:
            catalogue_refused(exc.errors, exc.variant_errors)
        db.session.commit()
        return _loaded(product)


@blp.route("/shops/<int:shop_id>/products/<int:product_id>")
class ProductDetail(MethodView):
    @authenticated
    @blp.response(200, MerchantProductSchema)
    def get(self, shop_id: int, product_id: int) -> Any:
        """Get a product of the shop

        In any status, with every variant's price, stock, EAN and weight.
        """
        return _product(staff_shop(shop_id), product_id)

    @authenticated
    @blp.arguments(MerchantProductPatchArgsSchema)
    @blp.response(200, MerchantProductSchema)
    def patch(self, args: Mapping[str, Any], shop_id: int, product_id: int) -> Any:
        """Change a product

        Only the fields given change (the slug stays, so links keep working).
        `status` publishes, unpublishes or archives: publishing needs a variant with
        a price. Variants: `POST …/variants`.
        """
        product = _product(staff_shop(shop_id), product_id)
        current = {
            "name": product.name,
            "vat_rate_bp": product.vat_rate_bp,
            "description": product.description,
            "category": product.category,
            "status": product.status,
            "merchant_pick": product.merchant_pick,
        }
        data = _product_data({**current, **args})
        try:
            cat.update_product(product, data)
        except cat.CatalogueError as exc:
            catalogue_refused(exc.errors, exc.variant_errors)
        db.session.commit()
        return _loaded(product)

    @authenticated
    @blp.response(204)
    def delete(self, shop_id: int, product_id: int) -> None:
        """Delete a product

        With its variants and photos; past orders keep their own copy of the lines.
        To take a product off sale but keep it, PATCH its status to `archived`.
        """
        cat.delete_product(_product(staff_shop(shop_id), product_id))
        db.session.commit()


@blp.route("/shops/<int:shop_id>/products/<int:product_id>/variants")
class ProductVariants(MethodView):
    @authenticated
    @blp.arguments(MerchantVariantArgsSchema)
    @blp.response(200, MerchantVariantSchema)
    def post(self, args: Mapping[str, Any], shop_id: int, product_id: int) -> Any:
        """Add or change a variant by SKU

        The product's variant with this SKU is changed (fields not given keep their
        value), else one is added (a price is then required). A SKU used by another
        product of the shop is refused (422).
        """
        product = _product(staff_shop(shop_id), product_id)
        existing = next((v for v in product.variants if v.sku == args["sku"].strip()), None)
        values = {**(_variant_values(existing) if existing else {}), **args}
        try:
            data = _variant_data(values)
        except cat.FieldErrors as exc:
            catalogue_refused({}, {0: exc.errors}, variants_key=None)
        try:
            variant = cat.upsert_variant(product, data)
        except cat.CatalogueError as exc:
            catalogue_refused(exc.errors, exc.variant_errors, variants_key=None)
        db.session.commit()
        return variant


# -- Stock ------------------------------------------------------------------------------


def _variants_by_sku(shop: Shop, skus: list[str]) -> dict[str, Variant]:
    """The shop's variants with these SKUs (a SKU is unique in a shop)."""
    if not skus:
        return {}
    rows = db.session.scalars(
        select(Variant)
        .join(Variant.product)
        .where(Product.shop_id == shop.id, Variant.sku.in_(skus))
    )
    return {v.sku: v for v in rows}


def _set_stock(shop: Shop, items: list[tuple[Variant, Mapping[str, Any]]]) -> dict[int, Any]:
    """Through the list's bulk edit (all or nothing): {variant id: errors} if refused."""
    changes = [
        cat.VariantChange(
            variant_id=variant.id,
            stock=str(item["stock"]),
            stock_was=item.get("stock_was"),
        )
        for variant, item in items
    ]
    return cat.bulk_update_variants(shop, changes)


@blp.route("/shops/<int:shop_id>/stock/<sku>")
class StockItem(MethodView):
    @authenticated
    @blp.arguments(StockArgsSchema)
    @blp.response(200, StockItemSchema)
    def put(self, args: Mapping[str, Any], shop_id: int, sku: str) -> Any:
        """Set the stock of one SKU

        For a till or a stock system: the quantity now in stock of the shop's
        variant with this SKU (404 if none). With `stock_was`, refused (422) when a
        sale changed the stock since it was read. SKUs containing `/`: use
        `PUT …/stock`.
        """
        shop = staff_shop(shop_id)
        variant = _variants_by_sku(shop, [sku]).get(sku)
        if variant is None:
            fail(NotFound, _("Variante inconnue dans votre boutique."))
        errors = _set_stock(shop, [(variant, args)])
        if errors:
            db.session.rollback()
            named = _named(errors[variant.id], VARIANT_FIELDS)
            fail(UnprocessableEntity, " ".join(_messages(named)), {"json": named})
        db.session.commit()
        return variant


@blp.route("/shops/<int:shop_id>/stock")
class Stock(MethodView):
    @authenticated
    @blp.arguments(StockItemArgsSchema(many=True))
    @blp.response(200, StockItemSchema(many=True))
    def put(self, args: list[Mapping[str, Any]], shop_id: int) -> Any:
        """Set the stock of many SKUs

        A list of `{sku, stock}` (and optionally `stock_was`), up to 1,000: all are
        applied, or none when any is wrong (422 naming each by its index: unknown
        SKU, repeated SKU, bad quantity, stock changed by a sale since read).
        """
        shop = staff_shop(shop_id)
        if len(args) > MAX_STOCK_ITEMS:
            message = _("%(n)d lignes au plus par envoi.", n=MAX_STOCK_ITEMS)
            fail(UnprocessableEntity, message, {"json": {"_schema": [message]}})
        skus = [item["sku"] for item in args]
        variants = _variants_by_sku(shop, skus)
        errors: dict[int, dict[str, list[str]]] = {}
        seen: dict[str, int] = {}
        for index, sku in enumerate(skus):
            if sku in seen:
                errors[index] = {
                    "sku": [
                        _(
                            "La référence « %(sku)s » est saisie deux fois (ligne %(first)d).",
                            sku=sku,
                            first=seen[sku] + 1,
                        )
                    ]
                }
            elif sku not in variants:
                errors[index] = {"sku": [_("Variante inconnue dans votre boutique.")]}
            seen.setdefault(sku, index)
        if not errors:
            refused = _set_stock(shop, [(variants[item["sku"]], item) for item in args])
            index_of = {variants[sku].id: index for index, sku in enumerate(skus)}
            errors = {
                index_of[vid]: _named(problems, VARIANT_FIELDS) for vid, problems in refused.items()
            }
        if errors:
            db.session.rollback()
            first = next(iter(errors[min(errors)].values()))[0]
            fail(UnprocessableEntity, first, {"json": errors})
        db.session.commit()
        return [variants[sku] for sku in skus]


# -- Import and export ------------------------------------------------------------------


@blp.before_request
def _limit_import_size() -> None:
    # Before the body is read: larger uploads get 413 unread.
    if request.endpoint == UPLOAD_ENDPOINT:
        request.max_content_length = import_ops.MAX_UPLOAD_BYTES + 64 * 1024


def _job(shop: Shop, job_id: int) -> ImportJob:
    job = import_ops.job_of_shop(shop, job_id) if job_id <= MAX_ID else None
    if job is None:
        fail(NotFound, _("Import introuvable."))
    return job


def _enqueue_after_commit(what: str, job_id: int) -> None:
    from .tasks import apply_catalogue_import, check_catalogue_import

    task = check_catalogue_import if what == "check" else apply_catalogue_import
    after_commit(lambda: task.delay(job_id))


@blp.route("/shops/<int:shop_id>/imports")
class ImportJobs(MethodView):
    @authenticated
    @blp.response(200, ImportJobSchema(many=True))
    def get(self, shop_id: int) -> Any:
        """List the shop's recent imports

        The ten latest, newest first, with their status and counts.
        """
        return import_ops.recent_jobs(staff_shop(shop_id))

    @authenticated
    @blp.arguments(ImportUploadArgsSchema, location="files")
    @blp.response(201, ImportJobSchema)
    @blp.alt_response(413, "REQUEST_ENTITY_TOO_LARGE")
    def post(self, files: Mapping[str, Any], shop_id: int) -> Any:
        """Upload a catalogue file (dry run)

        CSV or XLSX in the template's columns (`GET …/imports/template`), sent as
        `multipart/form-data` field `file`. Every row is checked and nothing is
        written: the job lists each bad row and why (`status` invalid) or is ready
        to apply (valid). A long file is checked in the background: `status` is
        validating, poll the job.
        """
        shop = staff_shop(shop_id)
        upload = files["file"]
        content = upload.read(import_ops.MAX_UPLOAD_BYTES + 1)
        if len(content) > import_ops.MAX_UPLOAD_BYTES:
            fail(
                UnprocessableEntity,
                import_ops.too_large_message(),
                {"files": {"file": [import_ops.too_large_message()]}},
            )
        if not content:
            field_error("file", _("Ce fichier est vide."), "files")
        job = import_ops.create_job(shop, api_user(), upload.filename or "", content)
        if import_ops.is_long(job):
            job.status = ImportStatus.VALIDATING
            _enqueue_after_commit("check", job.id)
        else:
            import_ops.dry_run(job)
        db.session.commit()
        return _job(shop, job.id)


@blp.route("/shops/<int:shop_id>/imports/<int:job_id>")
class ImportJobDetail(MethodView):
    @authenticated
    @blp.response(200, ImportJobSchema)
    def get(self, shop_id: int, job_id: int) -> Any:
        """Get an import

        Its status, progress (`processed_rows` of `total_rows`) while it runs, the
        problems found and, once applied, what changed.
        """
        job = _job(staff_shop(shop_id), job_id)
        db.session.refresh(job)
        return job


@blp.route("/shops/<int:shop_id>/imports/<int:job_id>/apply")
class ImportApply(MethodView):
    @authenticated
    @blp.response(202, ImportJobSchema)
    @blp.alt_response(409, "CONFLICT")
    def post(self, shop_id: int, job_id: int) -> Any:
        """Apply a checked import

        All or nothing, creating or updating products and variants by SKU; the rows
        are checked again first. A short file is applied at once (`status` applied,
        or invalid with the errors); a long one in the background (`status`
        applying: poll the job). Applying again changes nothing; a file with errors
        cannot be applied (409).
        """
        shop = staff_shop(shop_id)
        job = _job(shop, job_id)
        if job.status is not ImportStatus.VALID:
            if job.status is ImportStatus.APPLIED or job.is_running:
                return job
            fail(Conflict, _("Ce fichier ne peut pas être importé en l'état."))
        if import_ops.is_long(job):
            job.status = ImportStatus.APPLYING
            job.processed_rows = 0
            _enqueue_after_commit("apply", job.id)
        else:
            import_ops.apply(job)
        db.session.commit()
        return _job(shop, job_id)


BINARY = {"schema": {"type": "string", "format": "binary"}}
FILE_CONTENT = {"text/csv": BINARY, XLSX_MIMETYPE: BINARY}
TEMPLATE_FILE = "The empty template (CSV, or XLSX with a help sheet), as an attachment"
EXPORT_FILE = "The catalogue file (CSV or XLSX), as an attachment"


def _file(content: Any, fmt: str, name: str) -> Any:
    return send_file(
        content,
        mimetype="text/csv" if fmt == "csv" else XLSX_MIMETYPE,
        as_attachment=True,
        download_name=f"{name}.{fmt}",
    )


@blp.route("/shops/<int:shop_id>/imports/template")
class ImportTemplate(MethodView):
    @authenticated
    @blp.arguments(ExportQueryArgsSchema, location="query")
    @blp.response(200, description=TEMPLATE_FILE)
    @blp.doc(responses={"200": {"description": TEMPLATE_FILE, "content": FILE_CONTENT}})
    def get(self, args: Mapping[str, Any], shop_id: int) -> Any:
        """Download the import template

        The columns the import reads, in order; the XLSX one has a sheet explaining
        each column.
        """
        staff_shop(shop_id)
        fmt = args["format"]
        content = export_ops.template_csv() if fmt == "csv" else export_ops.template_xlsx()
        return _file(io.BytesIO(content), fmt, "modele-catalogue")


@blp.route("/shops/<int:shop_id>/export")
class Export(MethodView):
    @authenticated
    @blp.arguments(ExportQueryArgsSchema, location="query")
    @blp.response(200, description=EXPORT_FILE)
    @blp.doc(responses={"200": {"description": EXPORT_FILE, "content": FILE_CONTENT}})
    def get(self, args: Mapping[str, Any], shop_id: int) -> Any:
        """Export the catalogue

        Every product and variant in the import's own format: imported again, it
        changes nothing (a catalogue round-trips unchanged).
        """
        shop = staff_shop(shop_id)
        fmt = args["format"]
        spool = tempfile.SpooledTemporaryFile(max_size=4 * 1024 * 1024)  # noqa: SIM115 - sent
        if fmt == "csv":
            export_ops.write_csv(shop.id, spool)
        else:
            export_ops.write_xlsx(shop.id, spool)
        spool.seek(0)
        return _file(spool, fmt, f"catalogue-{shop.slug}")


__all__ = ["blp", "fail", "field_error", "merchant_only", "paginate", "staff_shop"]
