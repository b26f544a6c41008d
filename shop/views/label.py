"""The printable A6 label of a standard parcel, for its shop's staff only (any other
sub-order, or one without a shipment, is a 404): sender shop, recipient and address,
order reference, weight, carrier, the tracking number as text and as a Code 128
barcode (python-barcode, an inline SVG that prints sharp at any size)."""

from __future__ import annotations

import io
import re

from barcode import Code128
from barcode.writer import SVGWriter
from flask import abort, render_template
from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup, escape
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from delivery.operations.shipments import carrier_name, shipment_for_sub_order
from marketplace.extensions import db, fits_id
from marketplace.models import Role
from marketplace.security import role_required
from merchants.models import Shop
from merchants.operations import staff_shop_ids

from ..models import Order, SubOrder
from .staff import staff_bp


def code128_svg(text: str, label: str) -> Markup:
    """`text` as a Code 128 barcode, an inline SVG with `label` for screen readers."""
    out = io.BytesIO()
    Code128(text, writer=SVGWriter()).write(
        out, options={"module_width": 0.33, "module_height": 18.0, "write_text": False}
    )
    svg = out.getvalue().decode()
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"<!--.*?-->", "", svg, flags=re.S)
    svg = svg.replace("<svg ", f'<svg role="img" aria-label="{escape(label)}" ', 1)
    # python-barcode's own markup of a checked tracking number; the label is escaped.
    return Markup(svg)  # noqa: S704


@staff_bp.get("/<int:sub_order_id>/etiquette")
@role_required(Role.MERCHANT)
def parcel_label(sub_order_id: int) -> str:
    if not fits_id(sub_order_id):
        abort(404)
    sub = db.session.scalar(
        select(SubOrder)
        .join(SubOrder.order)
        .where(
            SubOrder.id == sub_order_id,
            SubOrder.shop_id.in_(staff_shop_ids(current_user)),
            Order.paid_at.is_not(None),
        )
        .options(
            joinedload(SubOrder.order),
            joinedload(SubOrder.shop).joinedload(Shop.commune),
        )
    )
    shipment = shipment_for_sub_order(sub.id) if sub is not None else None
    if sub is None or shipment is None:
        abort(404)
    return render_template(
        "shop/parcel_label.html",
        sub=sub,
        shop=sub.shop,
        shipment=shipment,
        carrier=carrier_name(shipment.carrier),
        weight=format_decimal(shipment.weight_grams / 1000, format="#,##0.###"),
        barcode=code128_svg(
            shipment.tracking_number,
            _("Code-barres du numéro de suivi %(number)s", number=shipment.tracking_number),
        ),
    )
