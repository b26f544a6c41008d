"""The shop's Stripe Connect account: created once by its owner's onboarding, its
state (details submitted, payouts enabled) kept from Stripe's answers and its
`account.updated` events. Settlement pays by transfer only once payouts are enabled."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, false
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.extensions import Base
from marketplace.models import TimestampMixin, UTCDateTime


class PayoutAccount(TimestampMixin, Base):
    """A shop's Stripe Connect (connected) account."""

    __tablename__ = "payout_account"

    shop_id: Mapped[int] = mapped_column(
        ForeignKey("shop.id", ondelete="CASCADE"), primary_key=True
    )
    stripe_account_id: Mapped[str] = mapped_column(String(255), unique=True)
    account_type: Mapped[str] = mapped_column(
        String(20), default="express", server_default="express"
    )
    details_submitted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    charges_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    payouts_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
