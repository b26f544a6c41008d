"""The demo territory: shops, catalogue and one account per role, idempotent."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from marketplace.extensions import db
from marketplace.models import Commune, Role, User
from marketplace.security import verify_password
from merchants.demo import DEMO_ACCOUNTS, DEMO_PASSWORD, load_demo, luhn_complete
from merchants.models import (
    Closure,
    OpeningHours,
    Product,
    ProductStatus,
    Shop,
    ShopStaff,
    ShopStatus,
    StaffRole,
    Trade,
    Variant,
)

EPCI = "200030674"


def _counts() -> dict[str, int]:
    models: list[Any] = [Shop, Product, Variant, User, Trade, OpeningHours, Closure]
    return {m.__name__: db.session.scalar(select(func.count()).select_from(m)) for m in models}


@pytest.fixture
def demo(app: Flask) -> str:
    return load_demo(EPCI)


def test_shops_in_marmande_and_tonneins(demo: str) -> None:
    rows = db.session.execute(
        select(Commune.insee_code, func.count(Shop.id))
        .join(Shop.commune)
        .where(Shop.status == ShopStatus.APPROVED)
        .group_by(Commune.insee_code)
    ).all()
    by_commune = dict(rows)
    assert set(by_commune) == {"47157", "47310"}
    assert sum(by_commune.values()) >= 38
    assert db.session.scalar(select(func.count(Trade.id))) == 10


def test_shops_are_complete(demo: str) -> None:
    shops = db.session.scalars(select(Shop)).all()
    for shop in shops:
        assert shop.story and shop.advice and shop.tagline and shop.street
        assert "click_and_collect" in shop.fulfilment_methods
        assert shop.hours and shop.closures
        assert all(c.starts_on <= c.ends_on for c in shop.closures)
        assert abs(shop.latitude - shop.commune.latitude) < 0.01
        assert abs(shop.longitude - shop.commune.longitude) < 0.01
        assert 6 not in {h.weekday for h in shop.hours} or shop.trade.slug.startswith("epicerie")
    assert any("merchant_delivery" in s.fulfilment_methods for s in shops)


def test_catalogue(demo: str) -> None:
    published = db.session.scalar(
        select(func.count(Product.id)).where(Product.status == ProductStatus.PUBLISHED)
    )
    assert published >= 600
    without_variant = db.session.scalar(
        select(func.count(Product.id)).where(~Product.variants.any())
    )
    assert without_variant == 0
    assert db.session.scalar(select(func.min(Variant.stock))) >= 0
    assert db.session.scalar(select(func.count(Variant.id)).where(Variant.stock == 0)) > 0
    vat_rates = set(db.session.scalars(select(Product.vat_rate_bp).distinct()))
    assert {550, 1000, 2000} <= vat_rates
    picks = db.session.execute(
        select(Product.shop_id, func.count(Product.id))
        .where(Product.merchant_pick.is_(True))
        .group_by(Product.shop_id)
    ).all()
    assert len(picks) == db.session.scalar(select(func.count(Shop.id)))


def test_one_account_per_role(demo: str) -> None:
    for email, _, _, role in DEMO_ACCOUNTS:
        user = db.session.scalar(select(User).where(User.email == email))
        assert user is not None, email
        assert user.has_role(role)
        assert verify_password(user, DEMO_PASSWORD)
        assert email in demo
    merchant = db.session.scalar(select(User).where(User.email.startswith("commercant@")))
    staff = db.session.scalar(select(ShopStaff).where(ShopStaff.user_id == merchant.id))
    assert staff is not None and staff.role == StaffRole.OWNER
    owners = db.session.scalar(
        select(func.count(ShopStaff.shop_id)).where(ShopStaff.role == StaffRole.OWNER)
    )
    assert owners == db.session.scalar(select(func.count(Shop.id)))
    assert merchant.role_set == {Role.MERCHANT}


def test_running_twice_changes_nothing(demo: str) -> None:
    before = _counts()
    load_demo(EPCI)
    db.session.flush()
    assert _counts() == before


def test_sirets_are_valid(demo: str) -> None:
    from stdnum.fr import siret

    for value in db.session.scalars(select(Shop.siret)):
        assert siret.is_valid(value), value


def test_luhn_complete() -> None:
    assert luhn_complete("73282932") == "732829320"
    assert luhn_complete("7328293200007") == "73282932000074"


def test_cli_demo(app: Flask, runner: Any) -> None:
    result = runner.invoke(args=["comptoir", "demo"])
    assert result.exit_code == 0, result.output
    assert "habitant@demo.comptoir.fr" in result.output
