"""Courier pages (phone first); the collectivité's express zone editor."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy import select
from werkzeug.wrappers import Response

from marketplace.extensions import db, fits_id
from marketplace.models import Role, Territory
from marketplace.security import role_required
from merchants.views.onboarding import pin_map_config

from .models import Courier, CourierStatus, JobStatus, RoundStatus, Vehicle
from .operations import (
    ZoneError,
    clear_zone_polygon,
    couriers,
    dispatch,
    express_zone,
    jobs,
    parse_zone_geojson,
    rounds,
    set_zone_communes,
    set_zone_polygon,
    zone_shape,
)
from .operations.couriers import approved_courier
from .operations.zones import MAX_GEOJSON_BYTES

bp = Blueprint("delivery", __name__, url_prefix="/livreur", template_folder="templates")

VEHICLE_LABELS = {
    Vehicle.FOOT: _l("À pied"),
    Vehicle.BIKE: _l("Vélo"),
    Vehicle.CARGO_BIKE: _l("Vélo cargo"),
    Vehicle.VAN: _l("Utilitaire"),
}
COURIER_STATUS_LABELS = {
    CourierStatus.PENDING: _l("En attente"),
    CourierStatus.APPROVED: _l("Validé"),
    CourierStatus.REFUSED: _l("Refusé"),
}
ROUND_STATUS_LABELS = {
    RoundStatus.PLANNED: _l("À attribuer"),
    RoundStatus.ASSIGNED: _l("Attribuée"),
    RoundStatus.IN_PROGRESS: _l("En cours"),
    RoundStatus.DONE: _l("Terminée"),
}
JOB_STATUS_LABELS = {
    JobStatus.OPEN: _l("À prendre"),
    JobStatus.ACCEPTED: _l("Acceptée"),
    JobStatus.PICKED_UP: _l("En livraison"),
    JobStatus.DELIVERED: _l("Livrée"),
    JobStatus.FAILED: _l("Échec"),
}


# --- the courier's pages (phone first) ------------------------------------------------


def _courier() -> Courier:
    courier = approved_courier(current_user)
    if courier is None:
        abort(403)
    return courier


def _float_arg(name: str) -> float | None:
    try:
        return float(request.args[name])
    except (KeyError, ValueError):
        return None


@bp.get("/")
@role_required(Role.COURIER)
def courier_home() -> str:
    """Open jobs near me (nearest shop first), the jobs in hand, today's earnings."""
    courier = approved_courier(current_user)
    if courier is None:  # the role without an approved account (given by hand)
        return render_template("delivery/courier_home.html", courier=None)
    lat, lon = _float_arg("lat"), _float_arg("lon")
    if lat is not None and lon is not None and (abs(lat) > 90 or abs(lon) > 180):
        lat = lon = None
    since = jobs.paris_midnight()
    return render_template(
        "delivery/courier_home.html",
        courier=courier,
        near=jobs.open_jobs_near(courier, lat, lon),
        format_decimal=format_decimal,
        today=jobs.todays_jobs(courier),
        rounds=rounds.courier_rounds(courier),
        earned_today=couriers.earnings_cents(courier, since),
        JobStatus=JobStatus,
        statuses=JOB_STATUS_LABELS,
    )


@bp.get("/historique")
@role_required(Role.COURIER)
def courier_history() -> str:
    courier = _courier()
    month = jobs.paris_midnight().replace(day=1)
    return render_template(
        "delivery/courier_history.html",
        courier=courier,
        done=jobs.history(courier),
        earned_today=couriers.earnings_cents(courier, jobs.paris_midnight()),
        earned_month=couriers.earnings_cents(courier, month),
        earned_total=couriers.earnings_cents(courier),
        JobStatus=JobStatus,
        statuses=JOB_STATUS_LABELS,
    )


@bp.route("/inscription", methods=["GET", "POST"])
@login_required
def courier_signup() -> Response | tuple[str, int] | str:
    """Any signed-in user asks to become a courier; the collectivité approves."""
    courier = couriers.courier_of(current_user)
    errors: dict[str, str] = {}
    form = request.form
    if request.method == "POST":
        try:
            courier = couriers.sign_up(
                current_user,
                form.get("vehicle", ""),
                form.get("capacity_kg", ""),
                form.get("phone", ""),
            )
        except couriers.CourierError as exc:
            db.session.rollback()
            errors[exc.field or "form"] = exc.message
            return render_template(
                "delivery/courier_signup.html",
                courier=courier,
                errors=errors,
                values=form,
                vehicles=VEHICLE_LABELS,
            ), 400
        db.session.commit()
        if courier.status is CourierStatus.APPROVED:
            flash(_("Vos informations de livreur sont à jour."), "success")
        else:
            flash(_("Demande envoyée : la collectivité va la valider."), "success")
        return redirect(url_for(".courier_signup"))
    values = (
        {
            "vehicle": courier.vehicle.value,
            "capacity_kg": courier.capacity_kg,
            "phone": courier.phone,
        }
        if courier is not None
        else {}
    )
    return render_template(
        "delivery/courier_signup.html",
        courier=courier,
        errors=errors,
        values=values,
        vehicles=VEHICLE_LABELS,
    )


@bp.post("/disponibilite")
@role_required(Role.COURIER)
def toggle_available() -> Response:
    courier = _courier()
    couriers.set_available(courier, request.form.get("available") == "1")
    db.session.commit()
    if courier.available:
        flash(_("Vous êtes disponible : les courses vous seront proposées."), "success")
    else:
        flash(_("Vous êtes indisponible : plus aucune course ne vous sera proposée."), "info")
    return redirect(url_for(".courier_home"))


@bp.post("/position")
@role_required(Role.COURIER)
def set_position() -> Response:
    courier = _courier()
    try:
        lat, lon = couriers.parse_position(request.form.get("lat"), request.form.get("lon"))
    except couriers.CourierError as exc:
        flash(exc.message, "error")
        return redirect(url_for(".courier_home"))
    couriers.set_position(courier, lat, lon)
    db.session.commit()
    flash(_("Position enregistrée."), "success")
    return redirect(url_for(".courier_home"))


def _job_step(job_id: int, step: str) -> Response:
    courier = _courier()

    def act() -> str:
        if step == "accept":
            jobs.accept(job_id, courier)
            return _("Course acceptée : allez la retirer à la boutique.")
        job = jobs.held_job(job_id, courier)
        if step == "pickup":
            jobs.pick_up(job, courier, request.form.get("code", ""))
            return _("Colis retiré : en route vers le client.")
        if step == "deliver":
            jobs.deliver(job, courier, request.form.get("code", ""))
            return _("Livraison confirmée. Merci !")
        jobs.fail(job, courier, request.form.get("reason", ""))
        return _("Échec signalé : rapportez le colis à la boutique.")

    return _commit_step(act, jobs.JobNotFound, ".courier_home")


def _commit_step(
    action: Callable[[], str], not_found: type[jobs.JobError], back_to: str
) -> Response:
    """Run a job or round change and commit it, its message flashed; its refusal
    flashed (rolled back), `not_found` a 404; then back to the page `back_to`."""
    try:
        message = action()
    except not_found:
        db.session.rollback()
        abort(404)
    except jobs.JobError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for(back_to))
    db.session.commit()
    flash(message, "success")
    return redirect(url_for(back_to))


@bp.post("/courses/<int:job_id>/accepter")
@role_required(Role.COURIER)
def accept_job(job_id: int) -> Response:
    return _job_step(job_id, "accept")


@bp.post("/courses/<int:job_id>/retrait")
@role_required(Role.COURIER)
def pick_up_job(job_id: int) -> Response:
    return _job_step(job_id, "pickup")


@bp.post("/courses/<int:job_id>/livraison")
@role_required(Role.COURIER)
def deliver_job(job_id: int) -> Response:
    return _job_step(job_id, "deliver")


@bp.post("/courses/<int:job_id>/echec")
@role_required(Role.COURIER)
def fail_job(job_id: int) -> Response:
    return _job_step(job_id, "fail")


# --- the collectivité: courier approvals and the dispatch board -----------------------

couriers_admin_bp = Blueprint(
    "delivery_couriers",
    __name__,
    url_prefix="/collectivite/livreurs",
    template_folder="templates",
)


@couriers_admin_bp.get("/")
@role_required(Role.STAFF)
def couriers_index() -> str:
    everyone = list(db.session.scalars(select(Courier).order_by(Courier.status, Courier.id)))
    return render_template(
        "delivery/couriers_admin.html",
        pending=[c for c in everyone if c.status is CourierStatus.PENDING],
        others=[c for c in everyone if c.status is not CourierStatus.PENDING],
        vehicles=VEHICLE_LABELS,
        statuses=COURIER_STATUS_LABELS,
    )


@couriers_admin_bp.post("/<int:courier_id>/decision")
@role_required(Role.STAFF)
def decide_courier(courier_id: int) -> Response:
    courier = db.session.get(Courier, courier_id)
    if courier is None:
        abort(404)
    approve = request.form.get("decision") == "approve"
    couriers.decide(courier, current_user, approve)
    db.session.commit()
    name = courier.user.display_name
    if approve:
        flash(_("%(name)s est maintenant livreur.", name=name), "success")
    else:
        flash(_("Demande de %(name)s refusée.", name=name), "info")
    return redirect(url_for(".couriers_index"))


@couriers_admin_bp.get("/dispatch")
@role_required(Role.STAFF)
def dispatch_board() -> str:
    board = dispatch.todays_board()
    day_rounds = rounds.todays_rounds()
    territory_ids = {job.territory_id for job in board} | {r.territory_id for r in day_rounds}
    available = {tid: dispatch.approved_couriers(tid) for tid in territory_ids}
    round_of = {stop.job_id: r for r in day_rounds for stop in r.stops}
    addable = {
        r.id: [
            j
            for j in board
            if j.id not in round_of
            and j.status is JobStatus.OPEN
            and (j.territory_id, j.slot_start) == (r.territory_id, r.slot_start)
        ]
        for r in day_rounds
        if r.status is RoundStatus.PLANNED
    }
    points = [
        {
            "id": job.id,
            "ref": job.reference,
            "status": str(JOB_STATUS_LABELS[job.status]),
            "shop": job.shop.name,
            "from": [job.shop_latitude, job.shop_longitude],
            "to": [job.drop_latitude, job.drop_longitude],
            "flagged": dispatch.is_flagged(job),
        }
        for job in board
    ]
    return render_template(
        "delivery/dispatch.html",
        board=board,
        rounds=day_rounds,
        round_of=round_of,
        addable=addable,
        to_plan=rounds.slots_to_plan(board),
        map=pin_map_config(),
        map_points=points,
        available=available,
        capacity=rounds.capacity,
        flagged=dispatch.is_flagged,
        statuses=JOB_STATUS_LABELS,
        round_statuses=ROUND_STATUS_LABELS,
        JobStatus=JobStatus,
        RoundStatus=RoundStatus,
        format_decimal=format_decimal,
    )


@couriers_admin_bp.post("/courses/<int:job_id>/attribuer")
@role_required(Role.STAFF)
def assign_job(job_id: int) -> Response:
    job = jobs.locked_job(job_id)
    if job is None:
        abort(404)
    try:
        if request.form.get("courier_id"):
            courier = _form_courier()
            dispatch.assign(job, courier, current_user)
            message = _("Course %(ref)s attribuée.", ref=job.reference)
        else:
            dispatch.release(job, current_user)
            message = _("Course %(ref)s remise en attente.", ref=job.reference)
    except jobs.JobError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for(".dispatch_board"))
    db.session.commit()
    flash(message, "success")
    return redirect(url_for(".dispatch_board"))


def _form_id(name: str) -> int | None:
    """An id posted by a form: None when absent or empty; 400 when not a number."""
    raw = request.form.get(name, "").strip()
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
        abort(400, _("Le champ %(field)s attend un numéro.", field=name))
    return int(raw)


def _form_courier() -> Courier:
    courier_id = _form_id("courier_id")
    valid = courier_id is not None and fits_id(courier_id)
    courier = db.session.get(Courier, courier_id) if valid else None
    if courier is None:
        abort(404)
    return courier


def _round_step(action: Callable[[], str]) -> Response:
    """Run a round change; its refusal flashed, an unknown round or job a 404."""
    return _commit_step(action, rounds.RoundNotFound, ".dispatch_board")


@couriers_admin_bp.post("/tournees/planifier")
@role_required(Role.STAFF)
def plan_rounds() -> Response:
    """Group the open jobs of one slot into rounds (those in a round stay put)."""
    territory_id = _form_id("territory_id")
    try:
        slot_start = datetime.fromisoformat(request.form.get("slot_start", ""))
    except ValueError:
        abort(400, _("Le champ slot_start attend une date et une heure."))
    if territory_id is None or slot_start.tzinfo is None:
        abort(400, _("Choisissez un créneau."))

    def plan() -> str:
        made = rounds.plan_slot(territory_id, slot_start, current_user, _form_id("size"))
        if not made:
            return _("Toutes les courses de ce créneau sont déjà dans une tournée.")
        return _("%(n)d tournée(s) préparée(s).", n=len(made))

    return _round_step(plan)


@couriers_admin_bp.post("/tournees/<int:round_id>/attribuer")
@role_required(Role.STAFF)
def assign_round(round_id: int) -> Response:
    """Give the round to a courier, or take it back (no courier chosen)."""

    def assign() -> str:
        rnd = rounds.locked_round(round_id)
        seen = _form_id("seen_courier_id")
        if request.form.get("courier_id"):
            rounds.assign_round(rnd, _form_courier(), current_user, seen)
            return _("Tournée n°%(id)d attribuée.", id=rnd.id)
        rounds.release_round(rnd, current_user, seen)
        return _("Tournée n°%(id)d remise en attente.", id=rnd.id)

    return _round_step(assign)


@couriers_admin_bp.post("/tournees/<int:round_id>/courses")
@role_required(Role.STAFF)
def change_round(round_id: int) -> Response:
    """Add a job of the same slot to the round, or take one out (`remove`)."""

    def change() -> str:
        rnd = rounds.locked_round(round_id)
        job_id = _form_id("job_id")
        job = jobs.locked_job(job_id) if job_id is not None else None
        if job is None:
            raise rounds.RoundNotFound(_("Course introuvable."))
        if request.form.get("remove"):
            kept = rounds.remove_job(rnd, job, current_user)
            if not kept:
                return _("Course %(ref)s retirée, tournée vide supprimée.", ref=job.reference)
            return _("Course %(ref)s retirée de la tournée.", ref=job.reference)
        rounds.add_job(rnd, job)
        return _("Course %(ref)s ajoutée à la tournée.", ref=job.reference)

    return _round_step(change)


# --- the collectivité's express zone editor ------------------------------------

zones_bp = Blueprint(
    "delivery_zones", __name__, url_prefix="/collectivite/zones", template_folder="templates"
)


@zones_bp.url_value_preprocessor
def _room_for_a_pasted_contour(endpoint: str | None, values: dict[str, Any] | None) -> None:
    # Before the CSRF check parses the form: a pasted contour may be as long as a file
    # (Flask refuses text fields over 500 kB otherwise), a bit more gets our message.
    if endpoint == "delivery_zones.import_zone":
        request.max_form_memory_size = MAX_GEOJSON_BYTES + 64 * 1024


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
            max_kb=MAX_GEOJSON_BYTES // 1000,
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
        text = upload.stream.read(MAX_GEOJSON_BYTES + 1)
    else:
        text = request.form.get("geojson", "").strip()
    if not text:
        return _editor(
            territory,
            error=_("Choisissez un fichier GeoJSON ou collez son contenu."),
            status=400,
        )
    shown = text if isinstance(text, str) else ""
    if len(text) > MAX_GEOJSON_BYTES:
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
