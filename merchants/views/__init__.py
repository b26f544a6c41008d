"""Merchant back office pages (blueprint `merchants`)."""

from . import home  # noqa: F401 - registers its routes
from .common import bp

__all__ = ["bp"]
