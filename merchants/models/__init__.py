"""Merchant domain models; each module adds its tables to the one metadata."""

from .core import (
    VAT_RATES_BP,
    Closure,
    OpeningHours,
    Product,
    ProductStatus,
    Shop,
    ShopStaff,
    ShopStatus,
    StaffRole,
    Trade,
    Variant,
)

__all__ = [
    "VAT_RATES_BP",
    "Closure",
    "OpeningHours",
    "Product",
    "ProductStatus",
    "Shop",
    "ShopStaff",
    "ShopStatus",
    "StaffRole",
    "Trade",
    "Variant",
]
