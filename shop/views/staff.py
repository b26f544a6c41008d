"""The shop staff's order queue: their sub-orders, newest first, with one button per
allowed action (POST forms with CSRF). The list refreshes itself every 15 s when
JavaScript is on (the page works the same without it)."""

from __future__ import annotations

from collections.abc import Callable

from flask import (
    Blueprint,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from delivery.operations.shipments import (
    CARRIERS,
    ShipmentError,
    carrier_name,
    shipments_by_sub_order,
    tracking_url,
)
from delivery.operations.shipments import STATUS_LABELS as SHIPMENT_LABELS
from marketplace.errors import wants_json
from marketplace.extensions import db, fits_id
from marketplace.i18n import money
from marketplace.models import FulfilmentMethod, Role, utcnow
from marketplace.money import parse_euros
from marketplace.security import role_required
from merchants.operations import staff_shop_ids

from ..models import Order, SubOrder
from ..operations import orders as order_ops
from ..operations import parcels as parcel_ops
from ..operations import refunds as refund_ops
from ..operations.errors import TransitionError
from ..operations.wallet import wallet_shares
from .common import METHOD_LABELS, STATUS_LABELS

staff_bp = Blueprint("shop_orders", __name__, url_prefix="/boutique/commandes")

QUEUE_LIMIT = 200


class FormProblem(ValueError):
    """A missing or malformed field of an action form."""


def _queue_subs() -> list[SubOrder]:
    """The paid sub-orders of the shops this account works for, newest first."""
    shop_ids = staff_shop_ids(current_user)
    return list(
        db.session.scalars(
            select(SubOrder)
            .join(SubOrder.order)
            .where(SubOrder.shop_id.in_(shop_ids), Order.paid_at.is_not(None))
            .options(
                selectinload(SubOrder.lines),
                joinedload(SubOrder.order),
                joinedload(SubOrder.shop),
            )
            .order_by(SubOrder.created_at.desc(), SubOrder.id.desc())
            .limit(QUEUE_LIMIT)
        )
    )


def _queue_context() -> dict[str, object]:
    subs = _queue_subs()
    refunded = refund_ops.refunded_by_sub([s.id for s in subs])
    return {
        "subs": subs,
        "refundable": {
            s.id: s.total_cents - refunded.get(s.id, 0) if s.status in refund_ops.REFUNDABLE else 0
            for s in subs
        },
        "refunded": refunded,
        "refunded_to_wallet": refund_ops.refunded_to_wallet_by_sub([s.id for s in subs]),
        "wallet_shares": wallet_shares(subs),
        "method_labels": METHOD_LABELS,
        "now": utcnow(),
        "shipments": shipments_by_sub_order(
            [s.id for s in subs if s.fulfilment_method is FulfilmentMethod.STANDARD]
        ),
        "carriers": CARRIERS,
        "carrier_name": carrier_name,
        "shipment_labels": SHIPMENT_LABELS,
        "tracking_url": tracking_url,
    }


@staff_bp.get("/")
@role_required(Role.MERCHANT)
def queue() -> str:
    return render_template("shop/staff_queue.html", **_queue_context())


@staff_bp.get("/liste")
@role_required(Role.MERCHANT)
def queue_fragment() -> str:
    """The list alone, which the page's script reloads every 15 seconds."""
    return render_template("shop/_staff_queue_list.html", **_queue_context())


def _staff_sub(sub_id: int) -> SubOrder:
    """A sub-order of one of the user's shops; any other is as absent as a missing one."""
    if not fits_id(sub_id):
        abort(404)
    sub = db.session.scalar(
        select(SubOrder)
        .where(SubOrder.id == sub_id, SubOrder.shop_id.in_(staff_shop_ids(current_user)))
        .options(selectinload(SubOrder.lines), joinedload(SubOrder.order))
    )
    if sub is None:
        abort(404)
    return sub


def _field(name: str) -> str:
    return (request.form.get(name) or "").strip()


def _accept(sub: SubOrder) -> str:
    order_ops.accept(sub, current_user)
    return _("Commande %(ref)s acceptée.", ref=sub.reference)


def _refuse(sub: SubOrder) -> str:
    reason = _field("reason")
    if not reason:
        raise FormProblem(_("Indiquez la raison du refus : le client la recevra."))
    order_ops.refuse(sub, current_user, reason)
    return _("Commande %(ref)s refusée ; le client est remboursé.", ref=sub.reference)


def _prepare(sub: SubOrder) -> str:
    order_ops.start_preparing(sub, current_user)
    return _("Commande %(ref)s en préparation.", ref=sub.reference)


def _ready(sub: SubOrder) -> str:
    order_ops.mark_ready(sub, current_user)
    return _("Commande %(ref)s prête : le client est prévenu.", ref=sub.reference)


def _hand_over(sub: SubOrder) -> str:
    code = _field("code")
    if not code:
        raise FormProblem(_("Saisissez le code de retrait du client."))
    order_ops.hand_over(sub, current_user, code)
    return _("Commande %(ref)s remise au client.", ref=sub.reference)


def _refund(sub: SubOrder) -> str:
    reason = _field("reason")
    line_id, amount = _field("line_id"), _field("amount")
    if line_id:
        quantity = _field("quantity") or "1"
        if not line_id.isdigit() or not quantity.isdigit():
            raise FormProblem(_("Choisissez une ligne et une quantité (nombre entier)."))
        row = refund_ops.refund_by_shop(
            sub, current_user, lines={int(line_id): int(quantity)}, reason=reason
        )
    elif amount:
        try:
            cents = parse_euros(amount)
        except ValueError:
            raise FormProblem(_("Montant invalide : en euros, par exemple 12,50.")) from None
        row = refund_ops.refund_by_shop(sub, current_user, amount_cents=cents, reason=reason)
    else:
        raise FormProblem(_("Indiquez un montant ou une ligne à rembourser."))
    return _(
        "%(amount)s remboursés sur la commande %(ref)s.",
        amount=money(row.amount_cents),
        ref=sub.reference,
    )


def _send_out(sub: SubOrder) -> str:
    order_ops.send_out(sub, current_user)
    return _("Commande %(ref)s partie en livraison : le client est prévenu.", ref=sub.reference)


def _delivered(sub: SubOrder) -> str:
    order_ops.mark_delivered(sub, current_user)
    return _("Commande %(ref)s livrée.", ref=sub.reference)


def _delivery_failed(sub: SubOrder) -> str:
    reason = _field("reason")
    if not reason:
        raise FormProblem(_("Indiquez pourquoi la livraison a échoué : le client le recevra."))
    order_ops.report_delivery_failed(sub, current_user, reason)
    return _(
        "Livraison de la commande %(ref)s non faite : le client est prévenu.", ref=sub.reference
    )


def _create_shipment(sub: SubOrder) -> str:
    shipment = parcel_ops.create_shipment(
        sub, current_user, _field("carrier"), _field("tracking_number")
    )
    return _(
        "Colis de la commande %(ref)s enregistré (%(carrier)s %(number)s) : imprimez l'étiquette.",
        ref=sub.reference,
        carrier=carrier_name(shipment.carrier),
        number=shipment.tracking_number,
    )


def _ship(sub: SubOrder) -> str:
    parcel_ops.ship(sub, current_user)
    return _(
        "Colis de la commande %(ref)s remis au transporteur : le client reçoit le suivi.",
        ref=sub.reference,
    )


ACTIONS: dict[str, Callable[[SubOrder], str]] = {
    "accepter": _accept,
    "refuser": _refuse,
    "preparer": _prepare,
    "prete": _ready,
    "remettre": _hand_over,
    "rembourser": _refund,
    "partir": _send_out,
    "livree": _delivered,
    "echec": _delivery_failed,
    "colis": _create_shipment,
    "expedier": _ship,
}


def _answer(
    sub: SubOrder, message: str, category: str, status: int, field: str | None = None
) -> ResponseReturnValue:
    if wants_json():
        body: dict[str, object] = {"status": sub.status.value, "message": message}
        if status >= 400:
            body = {"code": status, "status": "error", "message": message}
            if field:
                body["errors"] = {"form": {field: [message]}}
        return jsonify(body), status
    flash(message, category)
    return redirect(url_for("shop_orders.queue", _anchor=f"sub-{sub.id}"), code=303)


@staff_bp.post("/<int:sub_id>/<action>")
@role_required(Role.MERCHANT)
def act(sub_id: int, action: str) -> ResponseReturnValue:
    """One action of the queue on one sub-order of the user's shop."""
    handler = ACTIONS.get(action)
    if handler is None:
        abort(404)
    sub = _staff_sub(sub_id)
    try:
        message = handler(sub)
    except order_ops.NotAllowed:
        db.session.rollback()
        abort(404)
    except order_ops.WrongMethod:
        db.session.rollback()
        return _answer(
            sub,
            _(
                "Action impossible : la commande %(ref)s est en « %(method)s ».",
                ref=sub.reference,
                method=METHOD_LABELS[sub.fulfilment_method],
            ),
            "error",
            409,
        )
    except TransitionError:
        db.session.rollback()
        db.session.refresh(sub)
        return _answer(
            sub,
            _(
                "Action impossible : la commande %(ref)s est « %(status)s ».",
                ref=sub.reference,
                status=STATUS_LABELS[sub.status],
            ),
            "error",
            409,
        )
    except order_ops.WrongPickupCode:
        db.session.rollback()
        return _answer(
            sub, _("Code de retrait incorrect : la commande n'est pas remise."), "error", 422
        )
    except ShipmentError as exc:
        db.session.rollback()
        return _answer(sub, exc.message, "error", 422, exc.field)
    except (FormProblem, refund_ops.RefundError) as exc:
        db.session.rollback()
        return _answer(sub, str(exc), "error", 422)
    except refund_ops.RefundFailed:
        db.session.commit()  # the failed refund stays on record; it can be retried
        return _answer(
            sub, _("Le remboursement a échoué auprès de la banque ; réessayez."), "error", 502
        )
    db.session.commit()
    return _answer(sub, message, "success", 200)


# The pickup pages and the resident's cancellation live next door.
from . import label, pickup  # noqa: E402, F401

__all__ = ["staff_bp"]
