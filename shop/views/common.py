"""The storefront blueprint and what its pages share."""

from __future__ import annotations

from flask import (
    Blueprint,
)
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from marketplace.extensions import db
from marketplace.models import FulfilmentMethod, Territory

from ..models import SubOrderStatus

bp = Blueprint(
    "storefront",
    "shop",  # templates and static files live in the shop package
    template_folder="templates",
    static_folder="static",
    static_url_path="/shop-static",
)

METHOD_LABELS = {
    FulfilmentMethod.CLICK_AND_COLLECT: _l("Retrait en boutique"),
    FulfilmentMethod.EXPRESS: _l("Livraison express"),
    FulfilmentMethod.STANDARD: _l("Livraison standard"),
    FulfilmentMethod.MERCHANT_DELIVERY: _l("Livraison par la boutique"),
}
STATUS_LABELS = {
    SubOrderStatus.PENDING_PAYMENT: _l("En attente de paiement"),
    SubOrderStatus.PAID: _l("Payée"),
    SubOrderStatus.ACCEPTED: _l("Acceptée"),
    SubOrderStatus.PREPARING: _l("En préparation"),
    SubOrderStatus.READY: _l("Prête à retirer"),
    SubOrderStatus.COLLECTED: _l("Retirée"),
    SubOrderStatus.REFUSED: _l("Refusée"),
    SubOrderStatus.CANCELLED: _l("Annulée"),
    SubOrderStatus.REFUNDED: _l("Remboursée"),
    SubOrderStatus.HANDED_TO_COURIER: _l("Remise au livreur"),
    SubOrderStatus.OUT_FOR_DELIVERY: _l("En cours de livraison"),
    SubOrderStatus.DELIVERED: _l("Livrée"),
    SubOrderStatus.DELIVERY_FAILED: _l("Échec de la livraison"),
}


def current_territory() -> Territory | None:
    return db.session.scalar(select(Territory).order_by(Territory.id).limit(1))
