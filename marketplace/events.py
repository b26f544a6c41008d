"""Domain events: how a later domain hears of what happened in an earlier one."""

from blinker import Namespace

_signals = Namespace()

order_paid = _signals.signal("order-paid")
suborder_status_changed = _signals.signal("suborder-status-changed")
suborder_ready = _signals.signal("suborder-ready")
delivery_completed = _signals.signal("delivery-completed")
suborder_fulfilled = _signals.signal("suborder-fulfilled")
suborder_refunded = _signals.signal("suborder-refunded")
# A checkout created an order (sent in the checkout's transaction, before payment).
order_placed = _signals.signal("order-placed")
# The demo territory was loaded (sender: the app); later domains add their part and
# return a line for the command's summary.
demo_loaded = _signals.signal("demo-loaded")
