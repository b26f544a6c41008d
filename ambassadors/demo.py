"""The Cityzens of the demo territory: the demo resident is a Cityzen who
recommends a few products and has some credit to try at checkout."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from marketplace import ledger
from marketplace.extensions import db
from marketplace.models import User
from merchants.demo import DEMO_DOMAIN
from merchants.models import Product, Shop

from .operations import cityzens

DISPLAY_NAME = "Hélène de Marmande"
COMMENTS = (
    "Je l'offre à chaque anniversaire : jamais déçue, et le conseil en boutique est parfait.",
    "Produit d'ici, bien fait, et qui dure. Je recommande les yeux fermés.",
    "Découvert grâce au marché du samedi : c'est devenu un classique à la maison.",
)
# Demo only: credit given outright (a real wallet fills with rewards on sales made
# through the Cityzen's links), so that the checkout's wallet option can be tried.
DEMO_CREDIT_CENTS = 500


def _products(count: int) -> list[Product]:
    """Published products of different shops, the same ones on every load."""
    rows = db.session.scalars(
        select(Product)
        .join(Shop, Shop.id == Product.shop_id)
        .where(*cityzens.ON_SALE)
        .order_by(Shop.id, Product.id)
    )
    picked: dict[int, Product] = {}
    for product in rows:
        picked.setdefault(product.shop_id, product)
        if len(picked) == count:
            break
    return list(picked.values())


def load_demo(sender: Any, **_: Any) -> str | None:
    """Idempotent: the resident opts in once, each recommendation and the credit
    are made once."""
    user = db.session.scalar(select(User).where(User.email == f"habitant@{DEMO_DOMAIN}"))
    if user is None:
        return None
    cityzen = cityzens.active_cityzen(user) or cityzens.opt_in(user, DISPLAY_NAME, True)
    for product, comment in zip(_products(len(COMMENTS)), COMMENTS, strict=False):
        if cityzens.recommendation_for(cityzen, product.id) is None:
            cityzens.recommend(cityzen, product.id, comment)
    ledger.post(
        "reward",
        f"demo-credit:{user.id}",
        "Crédit de démonstration",
        [
            (ledger.PLATFORM_REWARDS, DEMO_CREDIT_CENTS),
            (ledger.wallet(user.id), -DEMO_CREDIT_CENTS),
        ],
    )
    credit = ledger.wallet_credit(user.id)
    return (
        f"Cityzen {user.email}: {len(COMMENTS)} recommendations, {credit / 100:.2f} EUR of credit."
    )
