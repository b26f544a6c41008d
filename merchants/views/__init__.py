"""Merchant back office pages (blueprint `merchants`)."""

from . import catalogue, home, imports, media  # noqa: F401 - registers their routes
from .common import bp

__all__ = ["bp"]
