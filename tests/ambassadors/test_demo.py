"""The demo territory's Cityzen: the demo resident recommends products and has
credit to try at checkout, once however often the demo is loaded."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import func, select

from ambassadors.demo import DEMO_CREDIT_CENTS
from ambassadors.models import Cityzen, Recommendation
from marketplace import ledger
from marketplace.extensions import db
from marketplace.models import User


def test_the_demo_resident_is_a_cityzen_with_credit(app: Flask, runner: Any) -> None:
    for _ in range(2):
        result = runner.invoke(args=["comptoir", "demo"])
        assert result.exit_code == 0, result.output
    assert "Cityzen habitant@demo.comptoir.fr: 3 recommendations, 5.00 EUR of credit." in (
        result.output
    )
    user = db.session.scalar(select(User).where(User.email == "habitant@demo.comptoir.fr"))
    cityzen = db.session.scalar(select(Cityzen).where(Cityzen.user_id == user.id))
    assert cityzen is not None and cityzen.active
    recommendations = db.session.scalars(
        select(Recommendation).where(Recommendation.cityzen_id == cityzen.id)
    ).all()
    assert len(recommendations) == 3
    assert len({r.product.shop_id for r in recommendations}) == 3
    assert all(r.comment and r.withdrawn_at is None for r in recommendations)
    assert ledger.wallet_credit(user.id) == DEMO_CREDIT_CENTS
    assert db.session.scalar(select(func.count()).select_from(Recommendation)) == 3
