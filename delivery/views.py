"""Courier pages (phone first); the collectivité's express zone editor."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import format_decimal
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.wrappers import Response

from marketplace.extensions import db
from marketplace.models import Role, Territory
from marketplace.security import role_required

from .operations import (
    ZoneError,
    clear_zone_polygon,
    express_zone,
    parse_zone_geojson,
    set_zone_communes,
    set_zone_polygon,
    zone_shape,
)

bp = Blueprint("delivery", __name__, url_prefix="/livreur", template_folder="templates")


@bp.get("/")
@role_required(Role.COURIER)
def courier_home() -> str:
    """The courier's jobs; delivery jobs arrive with the logistics issue."""
    return render_template("delivery/courier_home.html")


# --- the collectivité's express zone editor ------------------------------------

zones_bp = Blueprint(
    "delivery_zones", __name__, url_prefix="/collectivite/zones", template_folder="templates"
)

MAX_UPLOAD_BYTES = 1_000_000


def _territory_or_404(slug: str) -> Territory:
    territory = db.session.scalar(select(Territory).where(Territory.slug == slug))
    if territory is None:
        abort(404)
    return territory


def _editor(
    territory: Territory, *, error: str | None = None, geojson: str = "", status: int = 200
) -> tuple[str, int]:
    zone = express_zone(territory)
    shape = zone_shape(zone) if zone is not None else None
    return (
        render_template(
            "delivery/zones.html",
            territory=territory,
            zone=zone,
            chosen=set(zone.communes) if zone is not None else set(),
            has_area=shape is not None,
            import_error=error,
            geojson=geojson,
            max_kb=MAX_UPLOAD_BYTES // 1000,
        ),
        status,
    )


@zones_bp.get("/")
@role_required(Role.STAFF)
def zones_index() -> Response | str:
    territories = list(db.session.scalars(select(Territory).order_by(Territory.name)))
    if len(territories) == 1:
        return redirect(url_for(".edit_zone", slug=territories[0].slug))
    return render_template("delivery/zones_index.html", territories=territories)


@zones_bp.get("/<slug>")
@role_required(Role.STAFF)
def edit_zone(slug: str) -> tuple[str, int]:
    return _editor(_territory_or_404(slug))


@zones_bp.post("/<slug>/communes")
@role_required(Role.STAFF)
def save_communes(slug: str) -> Response | tuple[str, int]:
    territory = _territory_or_404(slug)
    codes = request.form.getlist("communes")
    try:
        zone = set_zone_communes(territory, codes)
    except ZoneError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return _editor(territory, status=400)
    db.session.commit()
    flash(
        _(
            "Zone express enregistrée : %(n)d commune(s).",
            n=len(zone.communes),
        ),
        "success",
    )
    return redirect(url_for(".edit_zone", slug=slug))


@zones_bp.post("/<slug>/import")
@role_required(Role.STAFF)
def import_zone(slug: str) -> Response | tuple[str, int]:
    territory = _territory_or_404(slug)
    upload = request.files.get("file")
    text: str | bytes
    if upload is not None and upload.filename:
        text = upload.stream.read(MAX_UPLOAD_BYTES + 1)
    else:
        text = request.form.get("geojson", "").strip()
    if not text:
        return _editor(
            territory,
            error=_("Choisissez un fichier GeoJSON ou collez son contenu."),
            status=400,
        )
    shown = text if isinstance(text, str) else ""
    if len(text) > MAX_UPLOAD_BYTES:
        shown = ""
    try:
        parsed = parse_zone_geojson(text, territory)
    except ZoneError as exc:
        return _editor(territory, error=exc.message, geojson=shown[:20_000], status=400)
    set_zone_polygon(territory, parsed)
    db.session.commit()
    flash(
        _(
            "Contour importé : %(vertices)d sommets, %(area)s km².",
            vertices=parsed.vertices,
            area=format_decimal(parsed.area_km2),
        ),
        "success",
    )
    return redirect(url_for(".edit_zone", slug=slug))


@zones_bp.post("/<slug>/effacer-contour")
@role_required(Role.STAFF)
def clear_polygon(slug: str) -> Response:
    territory = _territory_or_404(slug)
    clear_zone_polygon(territory)
    db.session.commit()
    flash(_("Contour supprimé : la zone express suit à nouveau les communes cochées."), "success")
    return redirect(url_for(".edit_zone", slug=slug))
