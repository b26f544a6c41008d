"""E-mails to residents when their orders change, sent through the mail outbox.

Each mail is rendered in the resident's language (French unless their account says
English), as plain text with an HTML alternative, and written to the outbox with
`queue_mail`: the Celery task sends it once the transaction commits, never if it
rolls back.

Events heard (marketplace.events):
- `order_paid(order)`: one confirmation for the whole order. It is sent by
  `mark_paid`, which a duplicate webhook never reaches again.
- `suborder_status_changed(sub, old=, new=)`: READY (click-and-collect) → "ready
  for pickup"; REFUSED, or CANCELLED after payment → "cancelled, refund follows";
  REFUNDED → "refund made". Transitions are recorded once, so one mail each.
- `suborder_refunded(sub, ...)`: "refund made", with the amount when the sender
  gives it (`refund=` with `amount_cents`, or `amount_cents=`). When both this and
  the REFUNDED transition happen in one transaction, one refund mail goes out: the
  refund notices are gathered and written just before the commit.
- deliveries (`suborder_status_changed`): HANDED_TO_COURIER or OUT_FOR_DELIVERY →
  "on its way", with the slot and the delivery code while the courier's job is
  open, the shop delivering itself, or the parcel's carrier, tracking number and
  link (one mail: out for delivery right after handed to courier sends none);
  DELIVERED → "delivered"; DELIVERY_FAILED → "not delivered", with the reason
  (a parcel's failed attempt: follow it with the carrier; else back to the shop).

Logs name orders and sub-orders by id only: no names, addresses or e-mails.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import segno
from babel.dates import format_date, format_datetime, format_time
from babel.numbers import format_currency
from flask import Flask
from flask_babel import gettext as _
from sqlalchemy import event
from sqlalchemy.orm import Session

from marketplace import events
from marketplace.extensions import db
from marketplace.mail import mail_locale, public_url, queue_rendered
from marketplace.models import FulfilmentMethod, utcnow
from merchants.models import Shop

from .models import Order, SubOrder, SubOrderStatus
from .operations import refunds as refund_ops
from .operations.tracking import (
    delivery_job,
    failure_reason,
    last_event,
    open_delivery_code,
    parcel_tracking,
)
from .views.common import METHOD_LABELS

log = logging.getLogger(__name__)

PARIS = ZoneInfo("Europe/Paris")
HOURS_DAYS = 7  # the "ready" mail lists the opening hours of this many days
REFUND_NOTICES = "shop.notifications.refunds"  # key in Session.info
CANCELLED_OR_REFUSED = {SubOrderStatus.CANCELLED, SubOrderStatus.REFUSED}
EN_ROUTE = {SubOrderStatus.HANDED_TO_COURIER, SubOrderStatus.OUT_FOR_DELIVERY}


# --- formatting in the resident's locale -------------------------------------------


@dataclass
class DayHours:
    day: date
    periods: list[tuple[time, time]] = field(default_factory=list)
    closed_reason: str | None = None  # set when an exceptional closure applies


@dataclass
class Formatter:
    """Money, dates and times for one locale, in Europe/Paris time."""

    locale: str

    def money(self, cents: int) -> str:
        return str(format_currency(Decimal(cents) / 100, "EUR", locale=self.locale))

    def when(self, value: datetime | None) -> str:
        if value is None:
            return ""
        return str(format_datetime(value, "EEEE d MMMM HH:mm", tzinfo=PARIS, locale=self.locale))

    def slot(self, start: datetime | None, end: datetime | None) -> str:
        """A delivery slot ("mardi 3 mars 14:00 – 16:00"), empty without one."""
        if start is None:
            return ""
        if end is None:
            return self.when(start)
        until = format_datetime(end, "HH:mm", tzinfo=PARIS, locale=self.locale)
        return f"{self.when(start)} – {until}"

    def day(self, value: date) -> str:
        return str(format_date(value, "EEEE d MMMM", locale=self.locale))

    def clock(self, value: time) -> str:
        return str(format_time(value, "HH:mm", locale=self.locale))

    def hours(self, day: DayHours) -> str:
        """A day's opening periods ("09:00 à 12:00, 14:00 à 19:00") or "fermé"."""
        if day.closed_reason is not None:
            closed = _("fermé exceptionnellement")
            return f"{closed} ({day.closed_reason})" if day.closed_reason else closed
        if not day.periods:
            return _("fermé")
        return ", ".join(
            _("%(opens)s à %(closes)s", opens=self.clock(opens), closes=self.clock(closes))
            for opens, closes in day.periods
        )


def resident_locale(order: Order) -> str:
    """The resident's language if the site offers it, else French."""
    return mail_locale(order.user.locale if order.user is not None else None)


def recipient(order: Order) -> str:
    """The address the resident gave for this order, else their account's."""
    return order.contact_email or order.user.email


def order_link(order: Order) -> str:
    """The public URL of the order page (built in a worker too)."""
    return public_url("storefront.order_detail", public_id=order.public_id)


def pickup_qr_data_uri(sub: SubOrder) -> str | None:
    """The pickup QR code as a PNG data URI for the HTML mail (the code is also
    written in the mail as text, for clients that hide images)."""
    url = public_url("shop_orders.pickup", ref=sub.reference, code=sub.pickup_code)
    return str(segno.make(url, error="m").png_data_uri(scale=4))


def _send(order: Order, template: str, subject: Any, **context: Any) -> None:
    """Render `template`.txt/.html in the resident's language and queue the mail.

    `subject` is called inside the forced locale so it is translated too.
    """
    locale = resident_locale(order)
    fmt = Formatter(locale)
    context.update(
        order=order,
        fmt=fmt,
        lang=locale,
        link=order_link(order),
        method_labels=METHOD_LABELS,
    )
    queue_rendered(recipient(order), f"shop/mail/{template}", locale, lambda: subject(fmt), context)


# --- the mails --------------------------------------------------------------------


def send_order_confirmed(order: Order) -> None:
    """One mail for the whole paid order: each shop's part, codes and totals."""
    _send(
        order,
        "order_confirmed",
        lambda fmt: _("Votre commande Comptoir est confirmée"),
        subs=list(order.sub_orders),
        click_and_collect=FulfilmentMethod.CLICK_AND_COLLECT,
        pickup_qr=pickup_qr_data_uri,
    )
    log.info("order confirmation queued: order %s", order.id)


def opening_days(shop: Shop, start: date, days: int = HOURS_DAYS) -> list[DayHours]:
    """The shop's opening periods for `days` days from `start` (Paris dates)."""
    result = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        closure = next((c for c in shop.closures if c.starts_on <= day <= c.ends_on), None)
        if closure is not None:
            result.append(DayHours(day, [], closure.reason or ""))
            continue
        periods = sorted(
            (h.opens_at, h.closes_at) for h in shop.hours if h.weekday == day.weekday()
        )
        result.append(DayHours(day, periods))
    return result


def send_ready(sub: SubOrder) -> None:
    """The sub-order waits at the shop: where, when it opens, the pickup code."""
    today = utcnow().astimezone(PARIS).date()
    _send(
        sub.order,
        "suborder_ready",
        lambda fmt: _("%(shop)s : votre commande est prête", shop=sub.shop.name),
        sub=sub,
        shop=sub.shop,
        days=opening_days(sub.shop, today),
    )
    log.info("ready mail queued: sub-order %s", sub.id)


def send_cancelled(
    sub: SubOrder, status: SubOrderStatus, old: SubOrderStatus | None = None
) -> None:
    """A paid sub-order will not be honoured: why, and that the refund follows.

    The transition's note is shown only when the shop wrote it (its reason to the
    resident); the system's and the resident's notes are internal.
    """
    refused = status is SubOrderStatus.REFUSED
    entry = last_event(sub, status)
    actor_kind = entry.actor_kind if entry is not None else "system"

    def subject(fmt: Formatter) -> str:
        if refused:
            return _("%(shop)s : commande refusée", shop=sub.shop.name)
        return _("%(shop)s : commande annulée", shop=sub.shop.name)

    _send(
        sub.order,
        "suborder_cancelled",
        subject,
        sub=sub,
        refused=refused,
        by_resident=actor_kind == "resident",
        uncollected=old is SubOrderStatus.READY and actor_kind == "system",
        note=(entry.note or "") if entry is not None and actor_kind == "shop" else "",
    )
    log.info("%s mail queued: sub-order %s", status.value, sub.id)


def send_refunded(sub: SubOrder, amount_cents: int, wallet_cents: int = 0) -> None:
    """Money is on its way back to the resident: to the card, and `wallet_cents` of
    it to their wallet credit (available at once)."""
    _send(
        sub.order,
        "refund",
        lambda fmt: _("Remboursement de %(amount)s", amount=fmt.money(amount_cents)),
        sub=sub,
        amount_cents=amount_cents,
        wallet_cents=wallet_cents,
        card_cents=amount_cents - wallet_cents,
        full=amount_cents >= sub.total_cents,
    )
    log.info("refund mail queued: sub-order %s", sub.id)


def send_en_route(sub: SubOrder) -> None:
    """The parcel left the shop: the courier's slot and code, the shop delivering
    itself, or the carrier's tracking number and link."""
    express = sub.fulfilment_method is FulfilmentMethod.EXPRESS
    _send(
        sub.order,
        "delivery_en_route",
        lambda fmt: _("%(shop)s : votre commande est en route", shop=sub.shop.name),
        sub=sub,
        code=open_delivery_code(delivery_job(sub)) if express else "",
        by_shop=sub.fulfilment_method is FulfilmentMethod.MERCHANT_DELIVERY,
        parcel=parcel_tracking(sub),
    )
    log.info("en route mail queued: sub-order %s", sub.id)


def send_delivered(sub: SubOrder) -> None:
    """The parcel was handed over."""
    entry = last_event(sub, SubOrderStatus.DELIVERED)
    _send(
        sub.order,
        "delivery_done",
        lambda fmt: _("%(shop)s : votre commande est livrée", shop=sub.shop.name),
        sub=sub,
        at=entry.at if entry is not None else utcnow(),
    )
    log.info("delivered mail queued: sub-order %s", sub.id)


def send_delivery_failed(sub: SubOrder) -> None:
    """Not delivered: why; the parcel goes back to the shop, which will get in touch."""
    job = delivery_job(sub)
    _send(
        sub.order,
        "delivery_failed",
        lambda fmt: _("%(shop)s : livraison impossible", shop=sub.shop.name),
        sub=sub,
        reason=failure_reason(sub, job),
        parcel=parcel_tracking(sub),
    )
    log.info("delivery failed mail queued: sub-order %s", sub.id)


# --- refund notices: gathered in the transaction, written before its commit ----------


def _note_refund(sub: SubOrder, amount_cents: int | None, wallet_cents: int = 0) -> None:
    notices: dict[int, list[Any]] = db.session().info.setdefault(REFUND_NOTICES, {})
    entry = notices.setdefault(sub.id, [sub, None, 0])
    if amount_cents is not None:
        entry[1] = (entry[1] or 0) + amount_cents
        entry[2] += wallet_cents


def _refund_amount(kwargs: dict[str, Any]) -> int | None:
    refund = kwargs.get("refund")
    for value in (getattr(refund, "amount_cents", None), kwargs.get("amount_cents")):
        if isinstance(value, int) and value > 0:
            return value
    return None


def _write_refund_notices(session: Session) -> None:
    if REFUND_NOTICES not in session.info or session.in_nested_transaction():
        return
    notices: dict[int, list[Any]] = session.info.pop(REFUND_NOTICES)
    for sub, amount, to_wallet in notices.values():
        # Nothing on record (a refund written outside the refunds module): the total.
        refunded = amount or refund_ops.refunded_cents(sub) or sub.total_cents
        send_refunded(sub, refunded, to_wallet if amount else 0)


def _drop_refund_notices(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.parent is None:
        session.info.pop(REFUND_NOTICES, None)


# --- event receivers ----------------------------------------------------------------


def on_order_paid(order: Order, **_kwargs: Any) -> None:
    send_order_confirmed(order)


def on_status_changed(
    sub: SubOrder,
    *,
    old: SubOrderStatus | None = None,
    new: SubOrderStatus | None = None,
    **_kwargs: Any,
) -> None:
    if new is SubOrderStatus.READY:
        if sub.fulfilment_method is FulfilmentMethod.CLICK_AND_COLLECT:
            send_ready(sub)
    elif new in CANCELLED_OR_REFUSED:
        # Cancelling an unpaid order takes no money: nothing to tell or refund.
        if old not in (None, SubOrderStatus.PENDING_PAYMENT):
            send_cancelled(sub, new, old)
    elif new is SubOrderStatus.REFUNDED:
        _note_refund(sub, None)
    elif new in EN_ROUTE:
        # Picked up by a courier: handed over then out at once, one mail.
        if old is not SubOrderStatus.HANDED_TO_COURIER:
            send_en_route(sub)
    elif new is SubOrderStatus.DELIVERED:
        send_delivered(sub)
    elif new is SubOrderStatus.DELIVERY_FAILED:
        send_delivery_failed(sub)


def on_refunded(sub: SubOrder, **kwargs: Any) -> None:
    amount = _refund_amount(kwargs)
    to_wallet = getattr(kwargs.get("refund"), "wallet_cents", 0)
    _note_refund(sub, amount, to_wallet if isinstance(to_wallet, int) else 0)


def init_app(app: Flask) -> None:
    """Subscribe to the domain events that trigger an e-mail (once per process)."""
    events.order_paid.connect(on_order_paid, weak=False)
    events.suborder_status_changed.connect(on_status_changed, weak=False)
    events.suborder_refunded.connect(on_refunded, weak=False)
    if not event.contains(Session, "before_commit", _write_refund_notices):
        event.listen(Session, "before_commit", _write_refund_notices)
        event.listen(Session, "after_soft_rollback", _drop_refund_notices)
