"""Cityzens: recommendations, referral links, attribution, rewards, wallet.

Built by its own issue; the package exists so the dependency order is fixed now.
"""

from flask import Flask


def init_app(app: Flask) -> None:
    """Nothing to register yet."""
