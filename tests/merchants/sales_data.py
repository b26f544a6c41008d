"""Orders written straight to the database for the sales and access tests."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from marketplace.extensions import db
from marketplace.models import FulfilmentMethod
from shop.models import (
    Order,
    OrderLine,
    OrderStatus,
    Payment,
    PaymentStatus,
    Refund,
    SubOrder,
    SubOrderStatus,
)

_n = iter(range(1, 10**9))


def make_sale(
    shop: Any,
    resident: Any,
    lines: list[tuple[Any, int]],
    paid_at: datetime | None,
    status: SubOrderStatus = SubOrderStatus.PAID,
    refunds: list[tuple[int, dict[str, int]]] = (),  # type: ignore[assignment]
    contact_name: str = "Camille Martin",
    delivery_fee_cents: int = 0,
) -> SubOrder:
    """A one-shop order of `lines` (variant, quantity) paid at `paid_at`, with its
    succeeded refunds (cents, allocation; "line:<i>" keys name the i-th line)."""
    items = sum(v.price_cents * q for v, q in lines)
    n = next(_n)
    order = Order(
        checkout_key=uuid.uuid4(),
        user_id=resident.id,
        territory_id=shop.territory_id,
        status=OrderStatus.PAID if paid_at else OrderStatus.PENDING_PAYMENT,
        contact_name=contact_name,
        contact_email="client@example.org",
        contact_phone="0612345678",
        total_cents=items + delivery_fee_cents,
        paid_at=paid_at,
    )
    sub = SubOrder(
        order=order,
        shop_id=shop.id,
        reference=f"T{uuid.uuid4().hex[:8].upper()}{n % 100}",
        status=status,
        fulfilment_method=FulfilmentMethod.CLICK_AND_COLLECT,
        items_cents=items,
        delivery_fee_cents=delivery_fee_cents,
        pickup_code=f"{n % 1000000:06d}",
    )
    for variant, quantity in lines:
        sub.lines.append(
            OrderLine(
                variant_id=variant.id,
                product_name=variant.product.name,
                variant_label="",
                sku=variant.sku,
                unit_price_cents=variant.price_cents,
                vat_rate_bp=2000,
                quantity=quantity,
            )
        )
    db.session.add(order)
    db.session.flush()
    if refunds:
        payment = Payment(
            order_id=order.id,
            intent_id=f"pi_test_{uuid.uuid4().hex}",
            client_secret="secret",
            amount_cents=order.total_cents,
            status=PaymentStatus.SUCCEEDED,
        )
        db.session.add(payment)
        db.session.flush()
        for cents, allocation in refunds:
            keys = {
                (str(sub.lines[int(k[5:])].id) if k.startswith("line:") else k): v
                for k, v in allocation.items()
            }
            db.session.add(
                Refund(
                    payment_id=payment.id,
                    sub_order_id=sub.id,
                    amount_cents=cents,
                    status="succeeded",
                    allocation=keys,
                )
            )
        db.session.flush()
    return sub
