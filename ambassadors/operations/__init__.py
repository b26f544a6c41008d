"""The Cityzens' services: all their rules and state changes (they add and flush; the
request or the task commits)."""

from .cityzens import (
    NotFound,
    active_cityzen,
    cityzen_of,
    live_recommendation,
    opt_in,
    opt_out,
    own_recommendation,
    recommend,
    recommendable_product,
    recommendation_for,
    recommendations_of,
    record_click,
    withdraw,
)
from .rewards import (
    VISITOR_COOKIE,
    attribute_order,
    credit_due_rewards,
    on_order_placed,
    on_suborder_fulfilled,
    on_suborder_refunded,
    on_suborder_status_changed,
    reward_now,
)
from .rules import Rules, rules
from .wallet import attributed_sales, figures, link_stats, reward_totals, wallet_movements

__all__ = [
    "VISITOR_COOKIE",
    "NotFound",
    "Rules",
    "active_cityzen",
    "attribute_order",
    "attributed_sales",
    "cityzen_of",
    "credit_due_rewards",
    "figures",
    "link_stats",
    "live_recommendation",
    "on_order_placed",
    "on_suborder_fulfilled",
    "on_suborder_refunded",
    "on_suborder_status_changed",
    "opt_in",
    "opt_out",
    "own_recommendation",
    "recommend",
    "recommendable_product",
    "recommendation_for",
    "recommendations_of",
    "record_click",
    "reward_now",
    "reward_totals",
    "rules",
    "wallet_movements",
    "withdraw",
]
