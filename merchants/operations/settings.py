"""The shop's page (texts, favourites, hours, fulfilment, own deliveries), its
exceptional closures and its payout details. Add and flush, never commit."""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, time
from decimal import Decimal, InvalidOperation
from itertools import pairwise

from flask_babel import gettext as _
from schwifty import IBAN
from schwifty.exceptions import SchwiftyException
from sqlalchemy import select

from marketplace.extensions import db
from marketplace.models import FulfilmentMethod
from marketplace.operations import FieldError

from ..models import Closure, OpeningHours, Product, ProductStatus, Shop

log = logging.getLogger(__name__)

WEEKDAYS = range(7)
PERIODS = (("open1", "close1"), ("open2", "close2"))
MAX_RADIUS_KM = Decimal(100)
MAX_FEE_CENTS = 100_00
# SEPA's character set for names, once accents are removed.
SEPA_NAME = re.compile(r"^[A-Za-z0-9/\-?:().,'+ ]+$")


@dataclass(frozen=True)
class Period:
    weekday: int
    opens_at: time
    closes_at: time


@dataclass
class PageSettings:
    """The shop's page as checked, ready to save or to preview."""

    tagline: str
    story: str
    advice: str
    pick_ids: list[int]
    methods: list[str]
    preparation_minutes: int
    delivery_radius_km: float | None
    delivery_fee_cents: int | None
    hours: list[Period] = field(default_factory=list)


def parse_hhmm(text: str | None) -> time | None:
    if not text:
        return None
    hours, _sep, minutes = text.partition(":")
    return time(int(hours), int(minutes))


def check_hours(days: list[dict[str, str | None]]) -> list[Period]:
    """Up to two periods a weekday, each opening before it closes, not overlapping.

    `days` holds seven mappings open1/close1/open2/close2 → "HH:MM" or None; errors
    are keyed like the form's fields ("hours-2-close1").
    """
    errors: dict[str, str] = {}
    periods: list[Period] = []
    for weekday, day in zip(WEEKDAYS, days, strict=False):
        mine: list[tuple[time, time, str]] = []
        for open_key, close_key in PERIODS:
            opens, closes = parse_hhmm(day.get(open_key)), parse_hhmm(day.get(close_key))
            if opens is None and closes is None:
                continue
            if opens is None or closes is None:
                missing = open_key if opens is None else close_key
                errors[f"hours-{weekday}-{missing}"] = _(
                    "Indiquez l'heure d'ouverture et l'heure de fermeture."
                )
                continue
            if opens >= closes:
                errors[f"hours-{weekday}-{close_key}"] = _(
                    "La fermeture doit être après l'ouverture (%(opens)s).",
                    opens=opens.strftime("%H:%M"),
                )
                continue
            mine.append((opens, closes, open_key))
        mine.sort()
        for (_o1, c1, _k1), (o2, _c2, k2) in pairwise(mine):
            if o2 < c1:
                errors[f"hours-{weekday}-{k2}"] = _(
                    "Les deux périodes se chevauchent : la seconde doit commencer après "
                    "%(closes)s.",
                    closes=c1.strftime("%H:%M"),
                )
        periods += [Period(weekday, o, c) for o, c, _k in mine]
    if errors:
        raise FieldError(errors)
    return periods


def parse_decimal(text: str | None) -> Decimal | None:
    """A decimal typed the French way ("2,5") or not; None when empty."""
    if text is None or not text.strip():
        return None
    cleaned = text.strip().replace("\u202f", "").replace(" ", "").replace(",", ".")
    cleaned = cleaned.removesuffix("€").removesuffix("km")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(text) from None
    if not value.is_finite():
        raise ValueError(text)
    return value


def euros_to_cents(text: str | None) -> int | None:
    """ "3,50" → 350; ValueError when not an amount with at most two decimals."""
    value = parse_decimal(text)
    if value is None:
        return None
    cents = value * 100
    if cents != cents.to_integral_value():
        raise ValueError(text)
    return int(cents)


def shop_products(shop: Shop) -> list[Product]:
    """The products a merchant may mark as favourites (not archived)."""
    return list(
        db.session.scalars(
            select(Product)
            .where(Product.shop_id == shop.id, Product.status != ProductStatus.ARCHIVED)
            .order_by(Product.name)
        )
    )


def check_page(
    shop: Shop,
    *,
    tagline: str,
    story: str,
    advice: str,
    pick_ids: list[int | None],
    methods: list[str],
    preparation_minutes: int,
    delivery_radius_km: str | None,
    delivery_fee: str | None,
    hours: list[dict[str, str | None]],
) -> PageSettings:
    """Every rule of the page at once; FieldError names each wrong field."""
    errors: dict[str, str] = {}
    try:
        periods = check_hours(hours)
    except FieldError as error:
        errors.update(error.errors)
        periods = []
    allowed_products = {p.id for p in shop_products(shop)}
    picks = [p for p in pick_ids if p is not None]
    if any(p not in allowed_products for p in picks):
        errors["picks"] = _("Choisissez les coups de cœur parmi les produits de la boutique.")
    known = {m.value for m in FulfilmentMethod}
    chosen = [m for m in known if m in set(methods)]
    if set(methods) - known:
        errors["methods"] = _("Choisissez parmi les modes proposés.")
    elif not chosen:
        errors["methods"] = _("Proposez au moins un mode de retrait ou de livraison.")
    radius: Decimal | None = None
    try:
        radius = parse_decimal(delivery_radius_km)
        if radius is not None and not (0 < radius <= MAX_RADIUS_KM):
            raise ValueError(delivery_radius_km)
    except ValueError:
        errors["delivery_radius_km"] = _(
            "Un rayon en kilomètres, plus de 0 et au plus %(max)d, par exemple 5 ou 2,5.",
            max=int(MAX_RADIUS_KM),
        )
    fee: int | None = None
    try:
        fee = euros_to_cents(delivery_fee)
        if fee is not None and not (0 <= fee <= MAX_FEE_CENTS):
            raise ValueError(delivery_fee)
    except ValueError:
        errors["delivery_fee"] = _(
            "Un montant en euros, 0 ou plus (au plus %(max)d), par exemple 4,50.",
            max=MAX_FEE_CENTS // 100,
        )
    if FulfilmentMethod.MERCHANT_DELIVERY.value in chosen:
        if radius is None and "delivery_radius_km" not in errors:
            errors["delivery_radius_km"] = _(
                "Indiquez jusqu'où la boutique livre elle-même (en kilomètres)."
            )
        if fee is None and "delivery_fee" not in errors:
            errors["delivery_fee"] = _(
                "Indiquez les frais de la livraison par la boutique (0 si elle est offerte)."
            )
    if errors:
        raise FieldError(errors)
    return PageSettings(
        tagline=tagline.strip(),
        story=story.strip(),
        advice=advice.strip(),
        pick_ids=picks,
        methods=sorted(chosen, key=[m.value for m in FulfilmentMethod].index),
        preparation_minutes=preparation_minutes,
        delivery_radius_km=float(radius) if radius is not None else None,
        delivery_fee_cents=fee,
        hours=periods,
    )


def save_page(shop: Shop, settings: PageSettings) -> None:
    """Store checked page settings, hours and favourites included."""
    shop.tagline = settings.tagline
    shop.story = settings.story
    shop.advice = settings.advice
    shop.fulfilment_methods = settings.methods
    shop.preparation_minutes = settings.preparation_minutes
    shop.delivery_radius_km = settings.delivery_radius_km
    shop.delivery_fee_cents = settings.delivery_fee_cents
    shop.hours.clear()
    db.session.flush()  # the old periods go before the new ones arrive
    shop.hours.extend(
        OpeningHours(weekday=p.weekday, opens_at=p.opens_at, closes_at=p.closes_at)
        for p in settings.hours
    )
    picks = set(settings.pick_ids)
    for product in shop_products(shop):
        product.merchant_pick = product.id in picks
    db.session.flush()
    log.info("shop %s page saved", shop.id)


def add_closure(shop: Shop, starts_on: date, ends_on: date, reason: str, today: date) -> Closure:
    """An exceptional closure in the future (today included), start <= end."""
    errors: dict[str, str] = {}
    if starts_on < today:
        errors["starts_on"] = _("La fermeture doit commencer aujourd'hui ou plus tard.")
    if ends_on < starts_on:
        errors["ends_on"] = _("La date de fin doit être le jour du début ou après.")
    if errors:
        raise FieldError(errors)
    closure = Closure(starts_on=starts_on, ends_on=ends_on, reason=reason.strip()[:200])
    shop.closures.append(closure)
    db.session.flush()
    return closure


def remove_closure(shop: Shop, closure_id: int) -> bool:
    """Remove one of this shop's closures; False if it has no such closure."""
    closure = next((c for c in shop.closures if c.id == closure_id), None)
    if closure is None:
        return False
    shop.closures.remove(closure)
    db.session.flush()
    return True


# Payout details ------------------------------------------------------------------


def clean_holder(value: str) -> str:
    """The account holder's name, as SEPA transfers accept it (accents removed)."""
    ascii_name = unicodedata.normalize("NFKD", value or "").encode("ascii", "ignore").decode()
    name = " ".join(ascii_name.split())
    if not name:
        raise FieldError({"iban_holder": _("Indiquez le titulaire du compte.")})
    if len(name) > 70 or not SEPA_NAME.match(name):
        raise FieldError(
            {
                "iban_holder": _(
                    "Le titulaire : 70 caractères au plus, lettres, chiffres, espaces et "
                    "/ - ? : ( ) . , ' + seulement."
                )
            }
        )
    return name


def clean_iban(value: str) -> IBAN:
    """A valid IBAN of the SEPA zone (checksum and national bank details checked)."""
    try:
        iban = IBAN(value or "", validate_bban=True)
    except SchwiftyException:
        raise FieldError(
            {
                "iban": _(
                    "IBAN non valide : vérifiez-le sur votre RIB, par exemple "
                    "FR76 3000 6000 0112 3456 7890 189."
                )
            }
        ) from None
    if not iban.in_sepa_zone:
        raise FieldError({"iban": _("L'IBAN doit être celui d'un compte de la zone SEPA.")})
    return iban


def set_payout(shop: Shop, iban: str, holder: str) -> None:
    """Store the shop's IBAN (compact) and its holder; FieldError names each wrong one."""
    errors: dict[str, str] = {}
    clean: dict[str, str] = {}
    try:
        clean["iban"] = clean_iban(iban).compact
    except FieldError as error:
        errors.update(error.errors)
    try:
        clean["holder"] = clean_holder(holder)
    except FieldError as error:
        errors.update(error.errors)
    if errors:
        raise FieldError(errors)
    shop.iban, shop.iban_holder = clean["iban"], clean["holder"]
    db.session.flush()
    log.info("shop %s payout details changed", shop.id)


def mask_iban(iban: str | None) -> str:
    """Everything but the last four characters hidden: "•••• •••• … ••• 2606"."""
    if not iban:
        return ""
    hidden = "•" * (len(iban) - 4)
    return " ".join([*(hidden[i : i + 4] for i in range(0, len(hidden), 4)), iban[-4:]])


def bank_name(iban: str | None) -> str:
    if not iban:
        return ""
    try:
        return str(IBAN(iban).bank_name or "")
    except SchwiftyException:
        return ""
