"""Every rule of the shop domain: basket, checkout, order states, payments."""

from .basket import (
    MAX_QUANTITY,
    BasketChange,
    BasketItem,
    ShopGroup,
    acknowledge_changes,
    basket_changes,
    basket_quantities,
    group_by_shop,
    max_quantity,
    merge_quantities,
    sellable_variants,
    set_quantity,
    user_basket,
)
from .checkout import Contact, confirm_card, place_order
from .errors import CheckoutError, TransitionError
from .orders import TRANSITIONS, transition
from .payments import handle_stripe_event, mark_paid
from .reservations import release_expired, release_order

__all__ = [
    "MAX_QUANTITY",
    "TRANSITIONS",
    "BasketChange",
    "BasketItem",
    "CheckoutError",
    "Contact",
    "ShopGroup",
    "TransitionError",
    "acknowledge_changes",
    "basket_changes",
    "basket_quantities",
    "confirm_card",
    "group_by_shop",
    "handle_stripe_event",
    "mark_paid",
    "max_quantity",
    "merge_quantities",
    "place_order",
    "release_expired",
    "release_order",
    "sellable_variants",
    "set_quantity",
    "transition",
    "user_basket",
]
