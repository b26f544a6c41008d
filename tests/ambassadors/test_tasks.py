"""The reward run's schedule and CLI command, and the collectivité's figures."""

from __future__ import annotations

import re

from ambassadors import operations as cz
from marketplace.extensions import celery_app, db
from marketplace.models import Role
from tests.ambassadors.conftest import attributions, fulfil, pay, place
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.helpers import login


def _due_reward(app, world):
    cz.record_click(world["rec_alice"].code, "b1", None)
    order = place(app, world["buyer"], [(world["book"], 2)], visitor="b1")
    pay(order)
    fulfil(order.sub_orders[0])
    return order


def test_credit_rewards_runs_hourly(app):
    entry = celery_app.conf.beat_schedule["ambassadors-credit-rewards"]
    assert entry["task"] == "ambassadors.credit_rewards" and entry["schedule"] == 3600.0


def test_cli_credits_what_is_due_once(app, runner, world):
    order = _due_reward(app, world)
    result = runner.invoke(args=["comptoir", "credit-rewards"])
    assert result.exit_code == 0 and "0 reward(s) credited" in result.output
    (att,) = attributions(order)
    att.eligible_at = att.eligible_at.replace(year=2000)
    db.session.commit()
    assert "1 reward(s) credited" in runner.invoke(args=["comptoir", "credit-rewards"]).output
    assert "0 reward(s) credited" in runner.invoke(args=["comptoir", "credit-rewards"]).output


def test_collectivite_sees_cityzens_figures(client, app, world):
    order = _due_reward(app, world)
    (att,) = attributions(order)
    att.eligible_at = att.eligible_at.replace(year=2000)
    cz.credit_due_rewards()
    staff = UserFactory(roles=[Role.STAFF])
    db.session.commit()
    login(client, staff.email, DEFAULT_PASSWORD)
    page = client.get("/collectivite/").text
    assert re.search(r'data-testid="cityzens-count">2<', page)
    assert re.search(r'data-testid="cityzens-sales">2 articles, 39,80', page)
    assert re.search(r'data-testid="cityzens-rewards">1,19', page)
    assert re.search(r'data-testid="cityzens-wallets">1,19', page)
    assert "Alice" not in page  # aggregates only
