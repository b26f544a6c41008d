"""Merchant back office pages (blueprint `merchants`)."""

from . import home, imports  # noqa: F401 - register their routes
from .common import bp

__all__ = ["bp"]
