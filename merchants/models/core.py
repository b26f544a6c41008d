"""Shops, their staff, hours and closures; the catalogue: products, variants, stock."""

from __future__ import annotations

import enum
from datetime import date, datetime, time
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Integer,
    SmallInteger,
    String,
    Text,
    Time,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.extensions import Base
from marketplace.models import (
    Commune,
    FulfilmentMethod,
    TimestampMixin,
    User,
    UTCDateTime,
    _enum,
)

if TYPE_CHECKING:
    from .catalogue import ProductImage


class ShopStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for the collectivité's approval
    APPROVED = "approved"
    REFUSED = "refused"
    SUSPENDED = "suspended"


class StaffRole(enum.StrEnum):
    OWNER = "owner"
    STAFF = "staff"


class ProductStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"


VAT_RATES_BP = (2000, 1000, 550, 210)


class Trade(Base):
    """A shop category (clothing, bookshop…), shown as filters on the home page."""

    __tablename__ = "trade"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(60), unique=True)
    name_fr: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))


class Shop(TimestampMixin, Base):
    __tablename__ = "shop"
    __table_args__ = (
        CheckConstraint("delivery_radius_km > 0", name="delivery_radius"),
        CheckConstraint("delivery_fee_cents >= 0", name="delivery_fee"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    territory_id: Mapped[int] = mapped_column(ForeignKey("territory.id"), index=True)
    commune_id: Mapped[int] = mapped_column(ForeignKey("commune.id"), index=True)
    trade_id: Mapped[int] = mapped_column(ForeignKey("trade.id"), index=True)
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    siret: Mapped[str] = mapped_column(String(14))
    status: Mapped[ShopStatus] = mapped_column(
        _enum(ShopStatus, "shop_status"), default=ShopStatus.PENDING, index=True
    )
    street: Mapped[str] = mapped_column(String(200))
    postcode: Mapped[str] = mapped_column(String(5))
    latitude: Mapped[float]
    longitude: Mapped[float]
    phone: Mapped[str | None] = mapped_column(String(30))
    email: Mapped[str | None] = mapped_column(String(254))
    tagline: Mapped[str] = mapped_column(String(200), default="")
    story: Mapped[str] = mapped_column(Text, default="")
    advice: Mapped[str] = mapped_column(Text, default="")
    photo_alt: Mapped[str] = mapped_column(String(200), default="")
    fulfilment_methods: Mapped[list[str]] = mapped_column(JSON, default=list)
    preparation_minutes: Mapped[int] = mapped_column(Integer, default=120)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    refusal_reason: Mapped[str | None] = mapped_column(String(500))
    # The shop's own deliveries (merchant_delivery): how far, for how much.
    delivery_radius_km: Mapped[float | None] = mapped_column(Float)
    delivery_fee_cents: Mapped[int | None] = mapped_column(Integer)
    # Payout details (owner only): IBAN stored compact, always shown masked.
    iban: Mapped[str | None] = mapped_column(String(34))
    iban_holder: Mapped[str | None] = mapped_column(String(70))

    commune: Mapped[Commune] = relationship()
    trade: Mapped[Trade] = relationship()
    hours: Mapped[list[OpeningHours]] = relationship(
        cascade="all, delete-orphan",
        order_by="(OpeningHours.weekday, OpeningHours.opens_at)",
    )
    closures: Mapped[list[Closure]] = relationship(
        cascade="all, delete-orphan", order_by="Closure.starts_on"
    )
    staff: Mapped[list[ShopStaff]] = relationship(
        back_populates="shop", cascade="all, delete-orphan"
    )

    def offers(self, method: FulfilmentMethod) -> bool:
        return method.value in (self.fulfilment_methods or [])


class ShopStaff(Base):
    __tablename__ = "shop_staff"

    shop_id: Mapped[int] = mapped_column(
        ForeignKey("shop.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[StaffRole] = mapped_column(_enum(StaffRole, "staff_role"), default=StaffRole.STAFF)

    shop: Mapped[Shop] = relationship(back_populates="staff")
    user: Mapped[User] = relationship()


class OpeningHours(Base):
    """One opening period of a weekday (0 = Monday), in Europe/Paris local time."""

    __tablename__ = "opening_hours"
    __table_args__ = (
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday"),
        CheckConstraint("opens_at < closes_at", name="period"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"), index=True)
    weekday: Mapped[int] = mapped_column(SmallInteger)
    opens_at: Mapped[time] = mapped_column(Time)
    closes_at: Mapped[time] = mapped_column(Time)


class Closure(Base):
    """Exceptional closure (holidays, inventory), inclusive dates."""

    __tablename__ = "closure"
    __table_args__ = (CheckConstraint("starts_on <= ends_on", name="dates"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"), index=True)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(200), default="")


class Product(TimestampMixin, Base):
    __tablename__ = "product"
    __table_args__ = (
        UniqueConstraint("shop_id", "slug"),
        CheckConstraint("vat_rate_bp IN (2000, 1000, 550, 210)", name="vat_rate"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"), index=True)
    slug: Mapped[str] = mapped_column(String(160))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(100), default="")
    vat_rate_bp: Mapped[int] = mapped_column(SmallInteger, default=2000)
    status: Mapped[ProductStatus] = mapped_column(
        _enum(ProductStatus, "product_status"), default=ProductStatus.DRAFT
    )
    merchant_pick: Mapped[bool] = mapped_column(default=False)  # "coup de cœur"

    shop: Mapped[Shop] = relationship()
    variants: Mapped[list[Variant]] = relationship(
        back_populates="product", cascade="all, delete-orphan", order_by="Variant.id"
    )
    images: Mapped[list[ProductImage]] = relationship(
        back_populates="product",
        cascade="all, delete-orphan",
        order_by="(ProductImage.position, ProductImage.id)",
    )


class Variant(Base):
    """A sellable unit (size, colour…) with its own price TTC and stock."""

    __tablename__ = "variant"
    __table_args__ = (
        UniqueConstraint("product_id", "sku"),
        CheckConstraint("price_cents >= 0", name="price"),
        CheckConstraint("stock >= 0", name="stock"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(
        ForeignKey("product.id", ondelete="CASCADE"), index=True
    )
    sku: Mapped[str] = mapped_column(String(64), index=True)  # the import's lookups
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    price_cents: Mapped[int] = mapped_column(Integer)
    stock: Mapped[int] = mapped_column(Integer, default=0)
    weight_grams: Mapped[int | None] = mapped_column(Integer)
    ean: Mapped[str | None] = mapped_column(String(14))
    # Made on demand: the checkout must not reserve or decrement its stock.
    made_to_order: Mapped[bool] = mapped_column(default=False, server_default=false())

    product: Mapped[Product] = relationship(back_populates="variants")

    @property
    def label(self) -> str:
        return variant_label(self.options)


def variant_label(options: dict[str, Any] | None) -> str:
    """ "Rouge, M": a variant's option values, for people."""
    return ", ".join(str(v) for v in (options or {}).values())
