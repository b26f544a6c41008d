"""Catalogue media: product photos, stored re-encoded under the media folder."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.extensions import Base
from marketplace.models import TimestampMixin

if TYPE_CHECKING:
    from .core import Product

# Longest side, in pixels, of each stored rendition (the largest is the "normalised"
# version; the upload itself is never kept).
IMAGE_SIZES = (1600, 800, 400)


class ProductImage(TimestampMixin, Base):
    """One photo of a product: its renditions live at `<key>-<size>.<ext>`."""

    __tablename__ = "product_image"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(
        ForeignKey("product.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(SmallInteger, default=0)
    alt: Mapped[str] = mapped_column(String(300))
    # Random relative path prefix, e.g. "products/3f/3f9c…"; never derived from input.
    key: Mapped[str] = mapped_column(String(80), unique=True)
    extension: Mapped[str] = mapped_column(String(8), default="webp")
    width: Mapped[int] = mapped_column(Integer)  # of the largest rendition
    height: Mapped[int] = mapped_column(Integer)

    product: Mapped[Product] = relationship(back_populates="images")

    def path(self, size: int = 800) -> str:
        """The rendition's path relative to the media folder."""
        if size not in IMAGE_SIZES:
            raise ValueError(size)
        return f"{self.key}-{size}.{self.extension}"

    def paths(self) -> list[str]:
        return [self.path(size) for size in IMAGE_SIZES]
