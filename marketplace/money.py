"""Money is integer euro cents; rates are basis points (550 = 5.5 %)."""

from __future__ import annotations


def apply_rate(amount_cents: int, rate_bp: int) -> int:
    """amount × rate rounded half up to the cent (rates in basis points)."""
    return (amount_cents * rate_bp + 5_000) // 10_000


def parse_euros(text: str) -> int:
    """'12,50' or '12.5' → 1250; raises ValueError on anything else."""
    cleaned = text.strip().replace("\u202f", "").replace(" ", "").replace("€", "")
    cleaned = cleaned.replace(",", ".")
    if not cleaned or cleaned.count(".") > 1 or cleaned.startswith("-"):
        raise ValueError(text)
    euros, _, cents = cleaned.partition(".")
    if not euros.isdigit() or (cents and (not cents.isdigit() or len(cents) > 2)):
        raise ValueError(text)
    return int(euros) * 100 + int(cents.ljust(2, "0") or 0)
