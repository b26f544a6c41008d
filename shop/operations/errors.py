"""Errors the shop's operations raise, with messages safe to show."""

from __future__ import annotations

from collections.abc import Mapping


class CheckoutError(Exception):
    """Checkout refused; `problems` maps a form field to what is wrong."""

    def __init__(self, problems: Mapping[str, str]) -> None:
        super().__init__("; ".join(problems.values()))
        self.problems = dict(problems)


class TransitionError(Exception):
    """A status change not allowed from the current state."""
