"""The shop side of courier deliveries: delivery's job events move the sub-order.

    picked up at the shop  → handed_to_courier, then out_for_delivery
    delivered with the code → delivered (and `suborder_fulfilled`, as a collection)
    failed with a reason    → delivery_failed (the parcel goes back to the shop)

When a job is made, the resident is mailed the delivery code to give the courier
(`delivery_code_issued`); the order page can show it too, read with
`delivery.operations.jobs.job_for_sub_order(sub.id).delivery_code`.

Delivery sits below the shop and never imports it; the shop subscribes here to
the signals delivery sends (`connect()` from `shop.init_app`).
"""

from __future__ import annotations

import logging
from typing import Any

from marketplace import events
from marketplace.extensions import db

from ..models import SubOrder, SubOrderStatus
from .orders import transition

log = logging.getLogger(__name__)
S = SubOrderStatus


def _sub(job: Any) -> SubOrder | None:
    sub = db.session.get(SubOrder, job.sub_order_id, with_for_update=True)
    if sub is None:
        log.warning("delivery job %s: sub-order %s not found", job.id, job.sub_order_id)
    return sub


def _actor(job: Any) -> Any:
    courier = getattr(job, "courier", None)
    return getattr(courier, "user", None)


def on_picked_up(job: Any, **_kwargs: Any) -> None:
    sub = _sub(job)
    if sub is None:
        return
    if sub.status is S.READY:
        transition(sub, S.HANDED_TO_COURIER, _actor(job), "courier", f"course {job.id}")
    if sub.status is S.HANDED_TO_COURIER:
        transition(sub, S.OUT_FOR_DELIVERY, _actor(job), "courier", f"course {job.id}")


def on_delivered(job: Any, **_kwargs: Any) -> None:
    sub = _sub(job)
    if sub is None:
        return
    if sub.status is S.HANDED_TO_COURIER:
        transition(sub, S.OUT_FOR_DELIVERY, _actor(job), "courier", f"course {job.id}")
    if sub.status is S.OUT_FOR_DELIVERY:
        transition(sub, S.DELIVERED, _actor(job), "courier", "code de livraison vérifié")
        # Delivered is fulfilled, as collected is (transition() announces COLLECTED).
        events.suborder_fulfilled.send(sub)


def on_failed(job: Any, *, reason: str = "", **_kwargs: Any) -> None:
    sub = _sub(job)
    if sub is None:
        return
    if sub.status in (S.HANDED_TO_COURIER, S.OUT_FOR_DELIVERY):
        transition(sub, S.DELIVERY_FAILED, _actor(job), "courier", reason[:200])


def on_code_issued(job: Any, *, sub_order_id: int, code: str, **_kwargs: Any) -> None:
    """Mail the resident the code the courier will ask for at the door."""
    from flask_babel import force_locale
    from flask_babel import gettext as _

    from marketplace.mail import queue_mail

    from ..notifications import order_link, recipient, resident_locale

    sub = db.session.get(SubOrder, sub_order_id)
    if sub is None:
        return
    order = sub.order
    with force_locale(resident_locale(order)):
        subject = _("%(shop)s : votre code de livraison", shop=sub.shop.name)
        lines = [
            _(
                "Votre commande %(ref)s de %(shop)s est prête : un livreur va vous l'apporter.",
                ref=sub.reference,
                shop=sub.shop.name,
            ),
            _("Donnez-lui ce code de livraison à la remise du colis : %(code)s", code=code),
        ]
        link = order_link(order)
        if link:
            lines.append(_("Suivre votre commande : %(link)s", link=link))
    queue_mail(recipient(order), str(subject), "\n\n".join(str(line) for line in lines))


def connect() -> None:
    """Subscribe to delivery's job events (idempotent: blinker keeps one of each)."""
    from delivery.operations import jobs

    jobs.delivery_picked_up.connect(on_picked_up, weak=False)
    events.delivery_completed.connect(on_delivered, weak=False)
    jobs.delivery_failed.connect(on_failed, weak=False)
    jobs.delivery_code_issued.connect(on_code_issued, weak=False)
