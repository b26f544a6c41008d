"""The confirmation e-mail carries each click-and-collect pickup code and its QR."""

from __future__ import annotations

import base64
import re

from tests.shop.test_notifications import mailbox, place_and_pay  # noqa: F401 - fixture


def test_confirmation_mail_has_a_qr_code_per_pickup(app, client, two_shops, mailbox):  # noqa: F811
    order, _ = place_and_pay(client, app, two_shops)
    (mail,) = mailbox()
    images = re.findall(r'<img src="data:image/png;base64,([^"]+)"[^>]*alt="([^"]+)"', mail.html)
    assert len(images) == len(order.sub_orders) == 2
    for data, alt in images:
        assert base64.b64decode(data).startswith(b"\x89PNG")
        assert "QR code de retrait" in alt
