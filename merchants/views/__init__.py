"""Merchant back office pages (blueprint `merchants`)."""

from . import catalogue, home, imports, media, onboarding, sales, settings, staff  # noqa: F401
from .common import bp

__all__ = ["bp"]
