"""The collectivité's moderation of the Cityzens' public recommendations: hiding one
(treated as withdrawn everywhere: its link is a 404 and earns nothing), restoring
it, and the latest recommendations for the staff's page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import func, select

from marketplace.extensions import db, fits_id
from marketplace.models import User, utcnow
from marketplace.operations import FieldError
from merchants.models import Product, Shop

from ..models import HIDDEN_REASON_MAX, HIDDEN_REASON_MIN, Cityzen, Recommendation, ReferralClick
from .cityzens import NotFound

PAGE_SIZE = 50
MAX_PAGE = 100_000  # far beyond any list; keeps the offset a sane number


def _recommendation(recommendation_id: int) -> Recommendation:
    found = (
        db.session.get(Recommendation, recommendation_id) if fits_id(recommendation_id) else None
    )
    if found is None:
        raise NotFound(recommendation_id)
    return found


def _clean_reason(raw: str | None) -> str:
    reason = " ".join((raw or "").split())
    if not HIDDEN_REASON_MIN <= len(reason) <= HIDDEN_REASON_MAX:
        raise FieldError(
            {
                "reason": _(
                    "Indiquez le motif, entre %(min)d et %(max)d caractères : le Cityzen le verra.",
                    min=HIDDEN_REASON_MIN,
                    max=HIDDEN_REASON_MAX,
                )
            }
        )
    return reason


def hide(recommendation_id: int, staff_user: User, reason: str | None) -> Recommendation:
    """Hide a recommendation from everyone but its Cityzen, who sees the reason.
    Hiding it again keeps the first decision (its time, reason and author)."""
    found = _recommendation(recommendation_id)
    text = _clean_reason(reason)
    if found.hidden_at is None:
        found.hidden_at = utcnow()
        found.hidden_reason = text
        found.hidden_by_id = staff_user.id
        db.session.flush()
    return found


def restore(recommendation_id: int) -> Recommendation:
    """Show a hidden recommendation again (unless its Cityzen withdrew it)."""
    found = _recommendation(recommendation_id)
    if found.hidden_at is not None:
        found.hidden_at = None
        found.hidden_reason = None
        found.hidden_by_id = None
        db.session.flush()
    return found


@dataclass(frozen=True)
class ModerationRow:
    id: int
    comment: str
    display_name: str  # the Cityzen's public pseudonym, never their account
    product_name: str
    shop_name: str
    created_at: datetime
    updated_at: datetime
    clicks: int
    withdrawn: bool
    hidden_at: datetime | None
    hidden_reason: str | None

    @property
    def hidden(self) -> bool:
        return self.hidden_at is not None


@dataclass(frozen=True)
class ModerationPage:
    rows: list[ModerationRow]
    page: int
    has_next: bool


def latest_recommendations(page: int = 1, hidden: bool | None = None) -> ModerationPage:
    """The latest recommendations, newest first, PAGE_SIZE a page; only the hidden
    (True) or the visible (False) ones if asked. One query whatever the page holds."""
    page = min(max(page, 1), MAX_PAGE)
    clicks = (
        select(func.count())
        .where(ReferralClick.recommendation_id == Recommendation.id)
        .scalar_subquery()
    )
    query = (
        select(
            Recommendation.id,
            Recommendation.comment,
            Cityzen.display_name,
            Product.name,
            Shop.name,
            Recommendation.created_at,
            Recommendation.updated_at,
            clicks,
            Recommendation.withdrawn_at.is_not(None),
            Recommendation.hidden_at,
            Recommendation.hidden_reason,
        )
        .join(Cityzen, Cityzen.id == Recommendation.cityzen_id)
        .join(Product, Product.id == Recommendation.product_id)
        .join(Shop, Shop.id == Product.shop_id)
        .order_by(Recommendation.created_at.desc(), Recommendation.id.desc())
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE + 1)  # one more: is there a next page?
    )
    if hidden is True:
        query = query.where(Recommendation.hidden_at.is_not(None))
    elif hidden is False:
        query = query.where(Recommendation.hidden_at.is_(None))
    rows = [ModerationRow(*row) for row in db.session.execute(query).all()]
    return ModerationPage(rows[:PAGE_SIZE], page, len(rows) > PAGE_SIZE)
