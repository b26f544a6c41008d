"""Opting in and out, recommending products, and the clicks on shared links."""

from __future__ import annotations

import secrets
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from marketplace.extensions import db, fits_id
from marketplace.models import User, utcnow
from marketplace.operations import FieldError
from merchants.models import Product, ProductStatus, Shop, ShopStatus

from ..models import (
    CODE_MAX,
    COMMENT_MAX,
    DISPLAY_NAME_MAX,
    DISPLAY_NAME_MIN,
    Cityzen,
    Recommendation,
    ReferralClick,
)

CODE_BYTES = 6  # 8 URL-safe characters: short to share, too many to guess


# A product a Cityzen may recommend and a visitor may buy: published, shop approved.
ON_SALE = (Product.status == ProductStatus.PUBLISHED, Shop.status == ShopStatus.APPROVED)
# A recommendation whose link counts: not withdrawn, not hidden, its Cityzen active
# (the query joins Cityzen).
STANDING = (
    Recommendation.withdrawn_at.is_(None),
    Recommendation.hidden_at.is_(None),
    Cityzen.active.is_(True),
)


class NotFound(LookupError):
    """No such product, recommendation or link (or not one this user may see)."""


def cityzen_of(user: User | None) -> Cityzen | None:
    """The user's Cityzen profile, active or not (None when never opted in)."""
    if user is None or not user.is_authenticated:
        return None
    return db.session.scalar(select(Cityzen).where(Cityzen.user_id == user.id))


def active_cityzen(user: User | None) -> Cityzen | None:
    found = cityzen_of(user)
    return found if found is not None and found.active else None


def _clean_display_name(raw: str) -> str:
    name = " ".join((raw or "").split())
    if len(name) < DISPLAY_NAME_MIN or len(name) > DISPLAY_NAME_MAX:
        raise FieldError(
            {
                "display_name": _(
                    "Entre %(min)d et %(max)d caractères.",
                    min=DISPLAY_NAME_MIN,
                    max=DISPLAY_NAME_MAX,
                )
            }
        )
    return name


def opt_in(user: User, display_name: str, accepted_rules: bool) -> Cityzen:
    """Become (or become again) a Cityzen under a public display name."""
    errors: dict[str, str] = {}
    try:
        name = _clean_display_name(display_name)
    except FieldError as exc:
        errors.update(exc.errors)
    if not accepted_rules:
        errors["accept_rules"] = _("Acceptez les règles des Cityzens pour continuer.")
    if errors:
        raise FieldError(errors)
    cityzen = cityzen_of(user)
    if cityzen is None:
        cityzen = Cityzen(user_id=user.id, display_name=name, opted_in_at=utcnow())
        db.session.add(cityzen)
    elif not cityzen.active:
        cityzen.opted_in_at = utcnow()
    cityzen.display_name = name
    cityzen.active = True
    db.session.flush()
    return cityzen


def opt_out(user: User) -> None:
    """Stop being a Cityzen: links stop earning from now on; rewards already earned
    (pending or credited) stay the Cityzen's."""
    cityzen = cityzen_of(user)
    if cityzen is not None:
        cityzen.active = False
        db.session.flush()


def recommendable_product(product_id: int) -> Product:
    """A published product of an approved shop, or NotFound (also for an id no
    key can hold: PostgreSQL would refuse it with an error, not an empty answer)."""
    if not fits_id(product_id):
        raise NotFound(product_id)
    product = db.session.scalar(
        select(Product)
        .join(Shop, Shop.id == Product.shop_id)
        .where(Product.id == product_id, *ON_SALE)
    )
    if product is None:
        raise NotFound(product_id)
    return product


def recommendations_of(cityzen: Cityzen | None) -> list[Recommendation]:
    """The Cityzen's recommendations with their products, oldest first (withdrawn too)."""
    if cityzen is None:
        return []
    return list(
        db.session.scalars(
            select(Recommendation)
            .where(Recommendation.cityzen_id == cityzen.id)
            .order_by(Recommendation.id)
            .options(selectinload(Recommendation.product))
        )
    )


def recommendation_for(cityzen: Cityzen, product_id: int) -> Recommendation | None:
    return db.session.scalar(
        select(Recommendation).where(
            Recommendation.cityzen_id == cityzen.id, Recommendation.product_id == product_id
        )
    )


def _clean_comment(raw: str) -> str:
    comment = (raw or "").strip()
    if not comment:
        raise FieldError({"comment": _("Dites en quelques mots pourquoi vous le recommandez.")})
    if len(comment) > COMMENT_MAX:
        raise FieldError(
            {
                "comment": _(
                    "%(max)d caractères au plus (%(n)d saisis).", max=COMMENT_MAX, n=len(comment)
                )
            }
        )
    return comment


def _new_code() -> str:
    while True:
        code = secrets.token_urlsafe(CODE_BYTES)
        taken = db.session.scalar(select(func.count()).where(Recommendation.code == code))
        if not taken:
            return code


def recommend(cityzen: Cityzen, product_id: int, comment: str) -> Recommendation:
    """Recommend a product, or edit the comment of (and bring back) its recommendation:
    one per Cityzen and product, so its shared link never changes."""
    if not cityzen.active:
        raise NotFound("inactive cityzen")
    product = recommendable_product(product_id)
    text = _clean_comment(comment)
    found = recommendation_for(cityzen, product.id)
    if found is None:
        found = Recommendation(
            cityzen_id=cityzen.id, product_id=product.id, comment=text, code=_new_code()
        )
        db.session.add(found)
    elif found.hidden:
        # Editing must not bring back what the collectivité hid.
        raise FieldError(
            {
                "comment": _(
                    "Cette recommandation a été masquée par la collectivité : "
                    "vous ne pouvez plus la modifier."
                )
            }
        )
    else:
        found.comment = text
        found.withdrawn_at = None
    db.session.flush()
    return found


def own_recommendation(cityzen: Cityzen, recommendation_id: int) -> Recommendation:
    found = (
        db.session.get(Recommendation, recommendation_id) if fits_id(recommendation_id) else None
    )
    if found is None or found.cityzen_id != cityzen.id:
        raise NotFound(recommendation_id)
    return found


def withdraw(cityzen: Cityzen, recommendation_id: int) -> Recommendation:
    """Withdraw a recommendation: its link gives a 404 and earns nothing from now on."""
    found = own_recommendation(cityzen, recommendation_id)
    if found.withdrawn_at is None:
        found.withdrawn_at = utcnow()
        db.session.flush()
    return found


def live_recommendation(code: str) -> Recommendation:
    """The recommendation behind a shared link, if it still stands: not withdrawn nor
    hidden by the collectivité, its Cityzen active, its product on sale. NotFound
    otherwise (also for a code longer than any: never cut to a real one)."""
    if not code or len(code) > CODE_MAX:
        raise NotFound(code)
    found = db.session.scalar(
        select(Recommendation)
        .join(Cityzen, Cityzen.id == Recommendation.cityzen_id)
        .join(Product, Product.id == Recommendation.product_id)
        .join(Shop, Shop.id == Product.shop_id)
        .where(Recommendation.code == code, *STANDING, *ON_SALE)
    )
    if found is None:
        raise NotFound(code)
    return found


def record_click(
    code: str, visitor: str | None, user: User | None, now: datetime | None = None
) -> ReferralClick:
    """A visit through a shared link, from this browser (its visitor token) and user."""
    recommendation = live_recommendation(code)
    signed_in = user is not None and user.is_authenticated
    click = ReferralClick(
        recommendation_id=recommendation.id,
        visitor=(visitor or None) and visitor[:64],
        user_id=user.id if signed_in and user is not None else None,
        clicked_at=now or utcnow(),
    )
    db.session.add(click)
    db.session.flush()
    return click
