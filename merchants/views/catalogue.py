"""The shop's catalogue in the back office: list with filters and bulk edit of prices
and stock, product and variants editor, photos. Owner and staff of the shop only;
another shop's products are 404 everywhere."""

from __future__ import annotations

import math
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import Select, exists, func, or_, select
from sqlalchemy.orm import selectinload
from wtforms import Field

from marketplace.extensions import db
from marketplace.models import Role
from marketplace.security import role_required

from ..catalogue_forms import STATUS_LABELS, AltForm, PhotoForm, ProductForm, VariantForm
from ..models import Product, ProductImage, ProductStatus, Shop, Variant
from ..operations import catalogue as ops
from ..operations import images as image_ops
from .common import bp, staff_shop_or_404

PER_PAGE = 50


@bp.app_template_filter("product_status")
def product_status_label(status: ProductStatus) -> str:
    return str(STATUS_LABELS[status])


@bp.app_template_filter("euros_input")
def euros_input(cents: int | None) -> str:
    """Cents as the text of a price field: 1250 → "12,50"."""
    if cents is None:
        return ""
    return f"{cents // 100},{cents % 100:02d}"


@bp.app_template_global("product_image_url")
def product_image_url(image: ProductImage, size: int = 400) -> str:
    return image_ops.image_url(image, size)


@bp.app_template_global("product_image_srcset")
def product_image_srcset(image: ProductImage) -> str:
    return image_ops.image_srcset(image)


@bp.url_value_preprocessor
def _limit_upload_size(endpoint: str | None, values: dict[str, Any] | None) -> None:
    # Runs before the CSRF check reads the body: a photo upload larger than the
    # limit is refused (413) without being spooled to disk.
    if endpoint == "merchants.upload_photo":
        request.max_content_length = image_ops.MAX_UPLOAD_BYTES + 256 * 1024


def _product_or_404(shop: Shop, product_id: int) -> Product:
    product = ops.product_of_shop(shop, product_id)
    if product is None:
        abort(404)
    return product


def _add_error(field: Field, message: str) -> None:
    field.errors = [*field.errors, message]


# -- list and bulk edit -----------------------------------------------------------------


def _filtered(shop: Shop) -> tuple[Select[Product], dict[str, str]]:
    filters = {
        "q": request.args.get("q", "").strip()[:100],
        "status": request.args.get("status", ""),
        "category": request.args.get("category", "")[:100],
    }
    query = select(Product).where(Product.shop_id == shop.id)
    if filters["q"]:
        escaped = filters["q"].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        query = query.where(
            or_(
                Product.name.ilike(pattern, escape="\\"),
                Product.category.ilike(pattern, escape="\\"),
                exists().where(
                    Variant.product_id == Product.id,
                    or_(Variant.sku.ilike(pattern, escape="\\"), Variant.ean == filters["q"]),
                ),
            )
        )
    if filters["status"] in {s.value for s in ProductStatus}:
        query = query.where(Product.status == ProductStatus(filters["status"]))
    else:
        filters["status"] = ""
    if filters["category"]:
        query = query.where(Product.category == filters["category"])
    return query, filters


def _render_list(
    shop: Shop,
    entered: dict[str, str] | None = None,
    errors: dict[int, dict[str, str]] | None = None,
) -> tuple[str, int]:
    query, filters = _filtered(shop)
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    pages = max(1, math.ceil(total / PER_PAGE))
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), pages)
    products = db.session.scalars(
        query.options(selectinload(Product.variants), selectinload(Product.images))
        .order_by(func.lower(Product.name), Product.id)
        .limit(PER_PAGE)
        .offset((page - 1) * PER_PAGE)
    ).all()
    status = 422 if errors else 200
    return (
        render_template(
            "merchants/catalogue/list.html",
            shop=shop,
            products=products,
            filters=filters,
            categories=ops.shop_categories(shop),
            statuses=STATUS_LABELS,
            page=page,
            pages=pages,
            total=total,
            entered=entered or {},
            errors=errors or {},
        ),
        status,
    )


@bp.route("/<int:shop_id>/catalogue", methods=["GET", "POST"])
@role_required(Role.MERCHANT)
def catalogue(shop_id: int) -> ResponseReturnValue:
    """The shop's products, searchable, with prices and stock editable in place."""
    shop = staff_shop_or_404(shop_id)
    if request.method == "GET":
        return _render_list(shop)
    changes = []
    entered: dict[str, str] = {}
    for raw_id in request.form.getlist("variant_id"):
        if not raw_id.isdigit():
            abort(400)
        vid = int(raw_id)
        price = request.form.get(f"price-{vid}", "")
        stock = request.form.get(f"stock-{vid}", "")
        price_was = request.form.get(f"price_was-{vid}")
        stock_was = request.form.get(f"stock_was-{vid}", "")
        entered[f"price-{vid}"], entered[f"stock-{vid}"] = price, stock
        change = ops.VariantChange(variant_id=vid)
        if price.strip() != (price_was or "").strip():
            change.price = price
        if stock.strip() != stock_was.strip():
            change.stock = stock
            change.stock_was = int(stock_was) if stock_was.strip().isdigit() else None
        if change.price is not None or change.stock is not None:
            changes.append(change)
    errors = ops.bulk_update_variants(shop, changes) if changes else {}
    if errors:
        db.session.rollback()
        flash(
            _("Rien n'a été enregistré : corrigez les cases signalées puis enregistrez."), "error"
        )
        return _render_list(shop, entered, errors)
    db.session.commit()
    if changes:
        flash(_("%(n)d variante(s) mise(s) à jour.", n=len(changes)), "success")
    else:
        flash(_("Aucun changement à enregistrer."), "info")
    kept: dict[str, Any] = {
        k: v for k, v in request.args.items() if k in ("q", "status", "category", "page")
    }
    return redirect(url_for(".catalogue", shop_id=shop.id, **kept))


# -- product editor ---------------------------------------------------------------------


def _variant_row(variant: Variant | None = None) -> dict[str, Any]:
    if variant is None:
        return {}
    row: dict[str, Any] = {
        "id": str(variant.id),
        "sku": variant.sku,
        "price": euros_input(variant.price_cents),
        "stock": str(variant.stock),
        "made_to_order": variant.made_to_order,
        "ean": variant.ean or "",
        "weight_grams": "" if variant.weight_grams is None else str(variant.weight_grams),
    }
    for i, (name, value) in enumerate((variant.options or {}).items(), start=1):
        row[f"option{i}_name"], row[f"option{i}_value"] = name, str(value)
    return row


def _initial(product: Product | None) -> dict[str, Any]:
    if product is None:
        return {"vat_rate": "2000", "status": ProductStatus.DRAFT.value, "variants": [{}]}
    return {
        "name": product.name,
        "description": product.description,
        "category": product.category,
        "vat_rate": str(product.vat_rate_bp),
        "status": product.status.value,
        "merchant_pick": product.merchant_pick,
        "variants": [_variant_row(v) for v in product.variants] + [{}],
    }


_FIELD_OF = {"options": "option1_name"}


def _save(form: ProductForm, shop: Shop, product: Product | None) -> Product | None:
    """Apply the form through operations; None (errors put on the fields) if refused."""
    problems: list[str] = []
    product_data = None
    try:
        product_data = ops.clean_product_fields(
            name=form.name.data,
            vat_rate=form.vat_rate.data,
            description=form.description.data,
            category=form.category.data,
            status=form.status.data,
            merchant_pick=form.merchant_pick.data,
        )
    except ops.FieldErrors as exc:
        for name, message in exc.errors.items():
            _add_error(form[name], message)
        problems.append("product")
    variants: list[ops.VariantData] = []
    rows: list[VariantForm] = []  # the form row of each item of `variants`
    deletes: list[int] = []
    for entry in form.variants.entries:
        row: VariantForm = entry.form
        raw_id = (row.id.data or "").strip()
        variant_id = int(raw_id) if raw_id.isdigit() and product is not None else None
        if raw_id and variant_id is None and product is not None:
            abort(400)
        if row.delete.data:
            if variant_id is not None:
                deletes.append(variant_id)
            continue
        if row.is_blank():
            continue
        try:
            variants.append(
                ops.validate_variant_fields(
                    sku=row.sku.data,
                    price=row.price.data,
                    stock=row.stock.data,
                    made_to_order=row.made_to_order.data,
                    ean=row.ean.data,
                    weight_grams=row.weight_grams.data,
                    options=row.option_pairs(),
                    id=variant_id,
                )
            )
            rows.append(row)
        except ops.FieldErrors as exc:
            for name, message in exc.errors.items():
                _add_error(row[_FIELD_OF.get(name, name)], message)
            problems.append("variant")
    if problems or product_data is None:
        return None
    try:
        if product is None:
            return ops.create_product(shop, product_data, variants)
        return ops.update_product(product, product_data, variants, delete_variant_ids=deletes)
    except ops.CatalogueError as exc:
        db.session.rollback()
        for name, message in exc.errors.items():
            if name in form:
                _add_error(form[name], message)
            else:
                flash(message, "error")
        for index, field_errors in exc.variant_errors.items():
            for name, message in field_errors.items():
                _add_error(rows[index][_FIELD_OF.get(name, name)], message)
        return None


def _editor(shop: Shop, product: Product | None) -> ResponseReturnValue:
    form = ProductForm(data=_initial(product))
    if request.method == "POST":
        if request.form.get("action") == "add_variant":
            form.validate()
            form.variants.append_entry()
            return render_template(
                "merchants/catalogue/edit.html", shop=shop, product=product, form=form
            )
        if form.validate():
            saved = _save(form, shop, product)
            if saved is not None:
                db.session.commit()
                flash(_("Produit « %(name)s » enregistré.", name=saved.name), "success")
                return redirect(url_for(".edit_product", shop_id=shop.id, product_id=saved.id))
        else:
            _save(form, shop, product)  # to show every field's problems at once
            db.session.rollback()
        flash(_("Le produit n'a pas été enregistré : corrigez les champs signalés."), "error")
        return (
            render_template("merchants/catalogue/edit.html", shop=shop, product=product, form=form),
            422,
        )
    return render_template("merchants/catalogue/edit.html", shop=shop, product=product, form=form)


@bp.route("/<int:shop_id>/catalogue/nouveau", methods=["GET", "POST"])
@role_required(Role.MERCHANT)
def new_product(shop_id: int) -> ResponseReturnValue:
    """A new product and its variants."""
    shop = staff_shop_or_404(shop_id)
    return _editor(shop, None)


@bp.route("/<int:shop_id>/catalogue/<int:product_id>", methods=["GET", "POST"])
@role_required(Role.MERCHANT)
def edit_product(shop_id: int, product_id: int) -> ResponseReturnValue:
    """Change a product and its variants."""
    shop = staff_shop_or_404(shop_id)
    return _editor(shop, _product_or_404(shop, product_id))


@bp.post("/<int:shop_id>/catalogue/<int:product_id>/supprimer")
@role_required(Role.MERCHANT)
def delete_product(shop_id: int, product_id: int) -> ResponseReturnValue:
    """Remove a product, its variants and photos (past orders keep their lines)."""
    shop = staff_shop_or_404(shop_id)
    product = _product_or_404(shop, product_id)
    name = product.name
    ops.delete_product(product)
    db.session.commit()
    flash(_("Produit « %(name)s » supprimé.", name=name), "success")
    return redirect(url_for(".catalogue", shop_id=shop.id))


# -- photos -----------------------------------------------------------------------------


def _render_photos(
    shop: Shop, product: Product, form: PhotoForm | None = None, status: int = 200
) -> tuple[str, int]:
    images = db.session.scalars(
        select(ProductImage)
        .where(ProductImage.product_id == product.id)
        .order_by(ProductImage.position, ProductImage.id)
    ).all()
    return (
        render_template(
            "merchants/catalogue/photos.html",
            shop=shop,
            product=product,
            images=images,
            form=form or PhotoForm(formdata=None),
            alt_forms={image.id: AltForm(formdata=None, alt=image.alt) for image in images},
        ),
        status,
    )


@bp.get("/<int:shop_id>/catalogue/<int:product_id>/photos")
@role_required(Role.MERCHANT)
def photos(shop_id: int, product_id: int) -> ResponseReturnValue:
    """The product's photos: add, describe, reorder, delete."""
    shop = staff_shop_or_404(shop_id)
    return _render_photos(shop, _product_or_404(shop, product_id))


@bp.post("/<int:shop_id>/catalogue/<int:product_id>/photos")
@role_required(Role.MERCHANT)
def upload_photo(shop_id: int, product_id: int) -> ResponseReturnValue:
    """Add a photo: checked, re-encoded, stored in three sizes."""
    shop = staff_shop_or_404(shop_id)
    product = _product_or_404(shop, product_id)
    form = PhotoForm()
    if not form.validate():
        return _render_photos(shop, product, form, 422)
    upload = form.photo.data
    if upload is None or not getattr(upload, "filename", ""):
        _add_error(form.photo, _("Choisissez une photo à envoyer."))
        return _render_photos(shop, product, form, 422)
    try:
        image_ops.add_image(product, upload.stream, form.alt.data or "")
    except image_ops.ImageRejected as exc:
        db.session.rollback()
        _add_error(form.photo, str(exc))
        return _render_photos(shop, product, form, 422)
    db.session.commit()
    flash(_("Photo ajoutée."), "success")
    return redirect(url_for(".photos", shop_id=shop.id, product_id=product.id))


def _image_or_404(
    shop_id: int, product_id: int, image_id: int
) -> tuple[Shop, Product, ProductImage]:
    shop = staff_shop_or_404(shop_id)
    product = _product_or_404(shop, product_id)
    image = image_ops.image_of_product(product, image_id)
    if image is None:
        abort(404)
    return shop, product, image


@bp.post("/<int:shop_id>/catalogue/<int:product_id>/photos/<int:image_id>/texte")
@role_required(Role.MERCHANT)
def photo_alt(shop_id: int, product_id: int, image_id: int) -> ResponseReturnValue:
    """Change a photo's alternative text."""
    shop, product, image = _image_or_404(shop_id, product_id, image_id)
    form = AltForm()
    if form.validate():
        image_ops.set_alt(image, form.alt.data or "")
        db.session.commit()
        flash(_("Texte alternatif enregistré."), "success")
    else:
        flash(_("Décrivez la photo en quelques mots (300 caractères au plus)."), "error")
    return redirect(url_for(".photos", shop_id=shop.id, product_id=product.id))


@bp.post("/<int:shop_id>/catalogue/<int:product_id>/photos/<int:image_id>/deplacer")
@role_required(Role.MERCHANT)
def move_photo(shop_id: int, product_id: int, image_id: int) -> ResponseReturnValue:
    """Move a photo earlier or later (the first one is the main photo)."""
    shop, product, image = _image_or_404(shop_id, product_id, image_id)
    offset = {"up": -1, "down": 1}.get(request.form.get("direction", ""))
    if offset is None:
        abort(400)
    image_ops.move_image(image, offset)
    db.session.commit()
    return redirect(url_for(".photos", shop_id=shop.id, product_id=product.id))


@bp.post("/<int:shop_id>/catalogue/<int:product_id>/photos/<int:image_id>/supprimer")
@role_required(Role.MERCHANT)
def delete_photo(shop_id: int, product_id: int, image_id: int) -> ResponseReturnValue:
    """Remove a photo and its files."""
    shop, product, image = _image_or_404(shop_id, product_id, image_id)
    image_ops.delete_image(image)
    db.session.commit()
    flash(_("Photo supprimée."), "success")
    return redirect(url_for(".photos", shop_id=shop.id, product_id=product.id))
