"""E-mails to Cityzens: their links earned them wallet credit.

The reward run (`credit_due_rewards`) hands over the rewards it credited; each
Cityzen credited gets one mail for the run, whatever the number of rewards: how much
was credited now, for which products, the wallet credit now, where to see it and how
to spend it. It goes through the mail outbox (`queue_mail`), so it is sent once the
run's transaction commits and never if it rolls back; a second run credits nothing,
so it mails nothing. A reversed reward is not mailed (the dashboard shows it).

The mail names products only: never the buyer, their e-mail or the order reference.
Logs name the Cityzen's account by id only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from flask_babel import gettext as _

from marketplace import ledger
from marketplace.extensions import db
from marketplace.mail import mail_locale, public_url, queue_rendered
from marketplace.models import User
from shop.notifications import Formatter

from .models import Attribution

log = logging.getLogger(__name__)

DASHBOARD = "ambassadors.dashboard"  # /cityzens/mon-credit


def products(rewards: list[Attribution]) -> list[tuple[str, int]]:
    """(product name, cents credited now) in the order credited, one row a product."""
    totals: dict[str, int] = {}
    for att in rewards:
        name = att.order_line.product_name
        totals[name] = totals.get(name, 0) + att.reward_cents
    return list(totals.items())


def send_rewards_credited(user_id: int, rewards: list[Attribution]) -> None:
    """Queue the one mail telling the Cityzen what this run credited to them."""
    user = db.session.get(User, user_id)
    if user is None or not rewards:
        return
    locale = mail_locale(user.locale)
    fmt = Formatter(locale)
    amount = sum(att.reward_cents for att in rewards)
    context = {
        "user": user,
        "fmt": fmt,
        "lang": locale,
        "amount_cents": amount,
        "products": products(rewards),
        "credit_cents": ledger.wallet_credit(user_id),
        "dashboard_link": public_url(DASHBOARD),
    }
    queue_rendered(
        user.email,
        "ambassadors/mail/reward_credited",
        locale,
        lambda: _("Vos liens Cityzen vous ont rapporté %(amount)s", amount=fmt.money(amount)),
        context,
    )
    log.info("reward mail queued: user %s, %s reward(s)", user_id, len(rewards))


def notify_credited(credited: Iterable[Attribution]) -> None:
    """One mail per Cityzen for the rewards credited in this run."""
    by_cityzen: dict[int, list[Attribution]] = {}
    for att in credited:
        by_cityzen.setdefault(att.cityzen_user_id, []).append(att)
    for user_id, rewards in by_cityzen.items():
        send_rewards_credited(user_id, rewards)
