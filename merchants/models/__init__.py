"""Merchant domain models; each module adds its tables to the one metadata."""

from . import onboarding  # noqa: F401 - invitations, geocode cache: their tables
from .catalogue import IMAGE_SIZES, ProductImage
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
    variant_label,
)
from .imports import ImportFormat, ImportJob, ImportStatus  # noqa: F401 - import jobs
from .payouts import PayoutAccount

__all__ = [
    "IMAGE_SIZES",
    "VAT_RATES_BP",
    "Closure",
    "OpeningHours",
    "PayoutAccount",
    "Product",
    "ProductImage",
    "ProductStatus",
    "Shop",
    "ShopStaff",
    "ShopStatus",
    "StaffRole",
    "Trade",
    "Variant",
    "variant_label",
]
