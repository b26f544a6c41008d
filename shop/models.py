"""Baskets, orders split into one sub-order per shop, their history, payments."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.extensions import Base
from marketplace.models import (
    FulfilmentMethod,
    TimestampMixin,
    User,
    UTCDateTime,
    _enum,
    utcnow,
)
from merchants.models import Shop, Variant


class OrderStatus(enum.StrEnum):
    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    CANCELLED = "cancelled"


class SubOrderStatus(enum.StrEnum):
    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    ACCEPTED = "accepted"
    PREPARING = "preparing"
    READY = "ready"
    COLLECTED = "collected"
    REFUSED = "refused"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"
    # Express delivery by a courier (delivery jobs, see shop/operations/delivery_sync.py)
    HANDED_TO_COURIER = "handed_to_courier"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"
    DELIVERY_FAILED = "delivery_failed"


class PaymentStatus(enum.StrEnum):
    REQUIRES_PAYMENT = "requires_payment"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


class Basket(TimestampMixin, Base):
    """A signed-in resident's basket; anonymous baskets live in the session."""

    __tablename__ = "basket"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), unique=True
    )
    lines: Mapped[list[BasketLine]] = relationship(
        cascade="all, delete-orphan", order_by="BasketLine.id"
    )


class BasketLine(Base):
    __tablename__ = "basket_line"
    __table_args__ = (
        UniqueConstraint("basket_id", "variant_id"),
        CheckConstraint("quantity > 0", name="quantity"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    basket_id: Mapped[int] = mapped_column(ForeignKey("basket.id", ondelete="CASCADE"), index=True)
    variant_id: Mapped[int] = mapped_column(ForeignKey("variant.id", ondelete="CASCADE"))
    quantity: Mapped[int] = mapped_column(Integer)
    # The unit price the resident last saw: a change is shown before paying.
    seen_price_cents: Mapped[int | None] = mapped_column(Integer)

    variant: Mapped[Variant] = relationship()


class Order(TimestampMixin, Base):
    """What a resident pays once; split into one sub-order per shop."""

    __tablename__ = "customer_order"
    __table_args__ = (CheckConstraint("wallet_cents >= 0", name="wallet_cents"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True, default=uuid.uuid4)
    # The checkout form's token: a double submission finds the same order.
    checkout_key: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    territory_id: Mapped[int] = mapped_column(ForeignKey("territory.id"))
    status: Mapped[OrderStatus] = mapped_column(
        _enum(OrderStatus, "order_status"), default=OrderStatus.PENDING_PAYMENT
    )
    contact_name: Mapped[str] = mapped_column(String(200))
    contact_email: Mapped[str] = mapped_column(String(254))
    contact_phone: Mapped[str] = mapped_column(String(30))
    total_cents: Mapped[int] = mapped_column(Integer)
    # Paid with the resident's wallet credit (held at checkout, see
    # shop/operations/wallet.py); the card pays the rest, card_cents.
    wallet_cents: Mapped[int] = mapped_column(Integer, default=0)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Stock is reserved until then; an unpaid order is released afterwards.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)

    user: Mapped[User] = relationship()
    sub_orders: Mapped[list[SubOrder]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="SubOrder.id"
    )
    payments: Mapped[list[Payment]] = relationship(back_populates="order", order_by="Payment.id")

    @property
    def card_cents(self) -> int:
        """What the card pays (the PaymentIntent's amount)."""
        return self.total_cents - self.wallet_cents


class SubOrder(TimestampMixin, Base):
    """The part of an order one shop prepares, with its own fulfilment and status."""

    __tablename__ = "sub_order"
    __table_args__ = (UniqueConstraint("order_id", "shop_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("customer_order.id", ondelete="CASCADE"))
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id"), index=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    status: Mapped[SubOrderStatus] = mapped_column(
        _enum(SubOrderStatus, "sub_order_status"),
        default=SubOrderStatus.PENDING_PAYMENT,
        index=True,
    )
    fulfilment_method: Mapped[FulfilmentMethod] = mapped_column(
        _enum(FulfilmentMethod, "fulfilment_method")
    )
    items_cents: Mapped[int] = mapped_column(Integer)
    delivery_fee_cents: Mapped[int] = mapped_column(Integer, default=0)
    # Deliveries: the address as given, its point (the commune's when approximate),
    # the express slot chosen and the expected window (standard: 3 to 7 days).
    delivery_address: Mapped[str | None] = mapped_column(String(300))
    delivery_latitude: Mapped[float | None] = mapped_column(Float)
    delivery_longitude: Mapped[float | None] = mapped_column(Float)
    delivery_approximate: Mapped[bool] = mapped_column(Boolean, default=False)
    delivery_slot_start: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivery_slot_end: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expected_from: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expected_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ready_not_before: Mapped[datetime | None] = mapped_column(UTCDateTime())
    pickup_code: Mapped[str] = mapped_column(String(8))
    # Commission frozen at payment (rates are configuration and may change later):
    # refunds reverse exactly what was booked.
    commission_rate_bp: Mapped[int | None] = mapped_column(Integer)
    commission_vat_bp: Mapped[int | None] = mapped_column(Integer)
    commission_ht_cents: Mapped[int | None] = mapped_column(Integer)
    commission_vat_cents: Mapped[int | None] = mapped_column(Integer)

    order: Mapped[Order] = relationship(back_populates="sub_orders")
    shop: Mapped[Shop] = relationship()
    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="sub_order", cascade="all, delete-orphan", order_by="OrderLine.id"
    )
    history: Mapped[list[SubOrderEvent]] = relationship(
        cascade="all, delete-orphan", order_by="SubOrderEvent.id"
    )

    @property
    def total_cents(self) -> int:
        return self.items_cents + self.delivery_fee_cents


class OrderLine(Base):
    """A line as sold: name, price and VAT are copied so later edits change nothing."""

    __tablename__ = "order_line"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sub_order_id: Mapped[int] = mapped_column(
        ForeignKey("sub_order.id", ondelete="CASCADE"), index=True
    )
    variant_id: Mapped[int | None] = mapped_column(ForeignKey("variant.id", ondelete="SET NULL"))
    product_name: Mapped[str] = mapped_column(String(200))
    variant_label: Mapped[str] = mapped_column(String(200), default="")
    sku: Mapped[str] = mapped_column(String(64))
    unit_price_cents: Mapped[int] = mapped_column(Integer)
    vat_rate_bp: Mapped[int] = mapped_column(Integer)
    quantity: Mapped[int] = mapped_column(Integer)

    sub_order: Mapped[SubOrder] = relationship(back_populates="lines")

    @property
    def total_cents(self) -> int:
        return self.unit_price_cents * self.quantity


class SubOrderEvent(Base):
    """One status change of a sub-order: when, who, from what to what."""

    __tablename__ = "sub_order_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    sub_order_id: Mapped[int] = mapped_column(
        ForeignKey("sub_order.id", ondelete="CASCADE"), index=True
    )
    from_status: Mapped[SubOrderStatus | None] = mapped_column(
        _enum(SubOrderStatus, "sub_order_status")
    )
    to_status: Mapped[SubOrderStatus] = mapped_column(_enum(SubOrderStatus, "sub_order_status"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    actor_kind: Mapped[str] = mapped_column(String(20))  # resident, shop, system…
    note: Mapped[str] = mapped_column(String(300), default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


WALLET_PROVIDER = "wallet"


class Payment(TimestampMixin, Base):
    """One Stripe PaymentIntent for one order.

    `amount_cents` is always what the card pays: the order's total less the wallet
    credit used (Order.wallet_cents). An order the wallet pays in full has no
    PaymentIntent: its payment has provider "wallet", intent_id "wallet-<order
    public id>", no client secret, amount 0, and succeeds at checkout.
    """

    __tablename__ = "payment"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("customer_order.id"), index=True)
    provider: Mapped[str] = mapped_column(String(20), default="stripe")
    intent_id: Mapped[str] = mapped_column(String(255), unique=True)
    client_secret: Mapped[str] = mapped_column(String(255))
    amount_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3), default="eur")
    status: Mapped[PaymentStatus] = mapped_column(
        _enum(PaymentStatus, "payment_status"), default=PaymentStatus.REQUIRES_PAYMENT
    )
    succeeded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    order: Mapped[Order] = relationship(back_populates="payments")


class Refund(TimestampMixin, Base):
    """A full or partial refund of one sub-order: the card part through the payment
    provider, the wallet part back to the resident's wallet credit."""

    __tablename__ = "refund"
    __table_args__ = (
        CheckConstraint("amount_cents > 0", name="amount"),
        CheckConstraint("wallet_cents >= 0 AND wallet_cents <= amount_cents", name="wallet_cents"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payment.id"), index=True)
    sub_order_id: Mapped[int] = mapped_column(ForeignKey("sub_order.id"), index=True)
    provider_refund_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    # The whole refund; of it, `wallet_cents` went back to the resident's wallet
    # (the card is refunded first, up to what it paid), the rest to the card.
    amount_cents: Mapped[int] = mapped_column(Integer)
    wallet_cents: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str] = mapped_column(String(300), default="")
    status: Mapped[str] = mapped_column(String(20), default="pending")
    # Sent to Stripe; stable across a rolled-back attempt (sub-order reference and
    # rank), so a retry never refunds twice.
    idempotency_key: Mapped[str | None] = mapped_column(String(80), unique=True)
    # What the amount refunds: {"<order line id>": cents, "delivery": cents}.
    allocation: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    # The platform commission reversed by this refund (HT and its VAT).
    commission_ht_cents: Mapped[int] = mapped_column(Integer, default=0)
    commission_vat_cents: Mapped[int] = mapped_column(Integer, default=0)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    actor_kind: Mapped[str] = mapped_column(String(20), default="system")
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def card_cents(self) -> int:
        """The part refunded to the card (the only part Stripe sees)."""
        return self.amount_cents - self.wallet_cents
