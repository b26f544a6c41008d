"""Shop rules: opening hours, staff membership, and the merchant's operations."""

from .hours import PARIS, is_open, next_open_moment, staff_shop_ids

__all__ = ["PARIS", "is_open", "next_open_moment", "staff_shop_ids"]
