"""Cityzens, their recommendations, the clicks on their links and the rewards they earn.

A reward is one Attribution per order line bought through a recommendation's link;
its money lives in the ledger (the wallet account of the Cityzen, see
marketplace/ledger.py), the row only says what was credited and why.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.extensions import Base
from marketplace.models import TimestampMixin, User, UTCDateTime, _enum, utcnow
from merchants.models import Product
from shop.models import OrderLine, SubOrder

COMMENT_MAX = 280
DISPLAY_NAME_MIN = 2
DISPLAY_NAME_MAX = 60
CODE_MAX = 16
HIDDEN_REASON_MIN = 3
HIDDEN_REASON_MAX = 300


class Cityzen(TimestampMixin, Base):
    """A resident who opted in to recommend products (one per user, kept on opt-out)."""

    __tablename__ = "cityzen"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), unique=True
    )
    # What visitors of a shared link see: a pseudonym, never the account's name.
    display_name: Mapped[str] = mapped_column(String(DISPLAY_NAME_MAX))
    opted_in_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    user: Mapped[User] = relationship()
    recommendations: Mapped[list[Recommendation]] = relationship(
        back_populates="cityzen", order_by="Recommendation.id"
    )


class Recommendation(TimestampMixin, Base):
    """A Cityzen's word on one product, shared as /r/<code>."""

    __tablename__ = "recommendation"
    __table_args__ = (UniqueConstraint("cityzen_id", "product_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cityzen_id: Mapped[int] = mapped_column(ForeignKey("cityzen.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(
        ForeignKey("product.id", ondelete="CASCADE"), index=True
    )
    comment: Mapped[str] = mapped_column(String(COMMENT_MAX))
    code: Mapped[str] = mapped_column(String(CODE_MAX), unique=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Hidden by the collectivité's moderation: as withdrawn for everyone, and the
    # Cityzen sees why (only staff restores it).
    hidden_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    hidden_reason: Mapped[str | None] = mapped_column(String(HIDDEN_REASON_MAX))
    hidden_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    cityzen: Mapped[Cityzen] = relationship(back_populates="recommendations")
    product: Mapped[Product] = relationship()

    @property
    def withdrawn(self) -> bool:
        return self.withdrawn_at is not None

    @property
    def hidden(self) -> bool:
        return self.hidden_at is not None


class ReferralClick(Base):
    """One visit through a shared link: the browser (its visitor cookie) and, when
    signed in, the user; read back at checkout, newest first."""

    __tablename__ = "referral_click"
    __table_args__ = (
        Index("ix_referral_click_visitor_clicked_at", "visitor", "clicked_at"),
        Index("ix_referral_click_user_id_clicked_at", "user_id", "clicked_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    recommendation_id: Mapped[int] = mapped_column(
        ForeignKey("recommendation.id", ondelete="CASCADE"), index=True
    )
    visitor: Mapped[str | None] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    clicked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    recommendation: Mapped[Recommendation] = relationship()


class AttributionStatus(enum.StrEnum):
    PENDING = "pending"  # bought through a link; waits for fulfilment + withdrawal period
    CREDITED = "credited"  # reward in the wallet (maybe partly reversed since)
    VOID = "void"  # nothing due (refunded or zero before it was credited)
    REVERSED = "reversed"  # credited, then all of it reversed by refunds


class Attribution(TimestampMixin, Base):
    """An order line bought through a recommendation: the reward it earns its Cityzen."""

    __tablename__ = "attribution"

    id: Mapped[int] = mapped_column(primary_key=True)
    sub_order_id: Mapped[int] = mapped_column(
        ForeignKey("sub_order.id", ondelete="CASCADE"), index=True
    )
    order_line_id: Mapped[int] = mapped_column(
        ForeignKey("order_line.id", ondelete="CASCADE"), unique=True
    )
    recommendation_id: Mapped[int | None] = mapped_column(
        ForeignKey("recommendation.id", ondelete="SET NULL"), index=True
    )
    cityzen_user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    # The reward rate when the order was placed (configuration may change later).
    rate_bp: Mapped[int] = mapped_column(Integer)
    status: Mapped[AttributionStatus] = mapped_column(
        _enum(AttributionStatus, "attribution_status"), default=AttributionStatus.PENDING
    )
    # Fulfilment + the withdrawal period: the reward is credited from then on.
    eligible_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    # In the wallet now (credited less reversed), and what refunds took back.
    reward_cents: Mapped[int] = mapped_column(Integer, default=0)
    reversed_cents: Mapped[int] = mapped_column(Integer, default=0)
    credited_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    sub_order: Mapped[SubOrder] = relationship()
    order_line: Mapped[OrderLine] = relationship()
    recommendation: Mapped[Recommendation | None] = relationship()
