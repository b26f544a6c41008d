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
from .imports import ImportFormat, ImportJob, ImportStatus  # noqa: F401 - import jobs

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
