"""Every rule of the shop domain: basket, checkout, order states, payments."""

from .basket import (
    MAX_QUANTITY,
    BasketItem,
    ShopGroup,
    basket_quantities,
    group_by_shop,
    merge_quantities,
    sellable_variants,
    set_quantity,
    user_basket,
)
from .checkout import Contact, confirm_card, place_order
from .errors import CheckoutError, TransitionError
from .orders import TRANSITIONS, transition
from .payments import handle_stripe_event, mark_paid

__all__ = [
    "MAX_QUANTITY",
    "TRANSITIONS",
    "BasketItem",
    "CheckoutError",
    "Contact",
    "ShopGroup",
    "TransitionError",
    "basket_quantities",
    "confirm_card",
    "group_by_shop",
    "handle_stripe_event",
    "mark_paid",
    "merge_quantities",
    "place_order",
    "sellable_variants",
    "set_quantity",
    "transition",
    "user_basket",
]
