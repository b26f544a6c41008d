"""Joining: the collectivité's invitations to shops, the owners' invitations to staff."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.extensions import Base

# The geocoding cache is a kernel table; imported here so every script that loads
# the domain models (migrations/env.py) sees it in the metadata.
from marketplace.geo import GeocodeCache  # noqa: F401
from marketplace.models import TimestampMixin, User, UTCDateTime

from .core import Shop


class ShopInvitation(TimestampMixin, Base):
    """The collectivité invites a shop to join: a single-use link mailed to it.

    Only the token's SHA-256 is stored; the link pre-fills the shop sign-up.
    """

    __tablename__ = "shop_invitation"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    shop_name: Mapped[str] = mapped_column(String(200), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    invited_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    shop_id: Mapped[int | None] = mapped_column(ForeignKey("shop.id", ondelete="SET NULL"))

    shop: Mapped[Shop | None] = relationship()


class StaffInvitation(TimestampMixin, Base):
    """A shop's owner invites someone to work for the shop (as STAFF).

    The mailed link carries a signed token naming this row and its nonce; the row's
    accepted_at makes it single-use.
    """

    __tablename__ = "staff_invitation"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    nonce: Mapped[str] = mapped_column(String(32))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    invited_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    accepted_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )

    shop: Mapped[Shop] = relationship()
    invited_by: Mapped[User | None] = relationship(foreign_keys=[invited_by_id])
