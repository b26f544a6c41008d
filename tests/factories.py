"""factory_boy factories for the models; they flush into the test's session."""

from __future__ import annotations

import itertools
from datetime import time

import factory
from factory.alchemy import SQLAlchemyModelFactory

from marketplace.extensions import db
from marketplace.models import (
    Commune,
    FulfilmentMethod,
    Role,
    Territory,
    User,
    UserRole,
)
from marketplace.security import hash_password
from merchants.models import (
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

DEFAULT_PASSWORD = "correct horse battery staple"
_HASH = hash_password(DEFAULT_PASSWORD)  # hashing once keeps the suite fast
_seq = itertools.count(1)


class Factory(SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_factory = lambda: db.session  # noqa: E731
        sqlalchemy_session_persistence = "flush"


class TerritoryFactory(Factory):
    class Meta:
        model = Territory

    slug = factory.Sequence(lambda n: f"territoire-{n}")
    name = factory.Sequence(lambda n: f"Territoire {n}")


class CommuneFactory(Factory):
    class Meta:
        model = Commune

    territory = factory.SubFactory(TerritoryFactory)
    insee_code = factory.Sequence(lambda n: f"{47000 + n:05d}"[-5:])
    name = factory.Sequence(lambda n: f"Commune {n}")
    slug = factory.Sequence(lambda n: f"commune-{n}")
    population = 1000
    postcodes = factory.LazyFunction(lambda: ["47200"])
    latitude = 44.5
    longitude = 0.16


class UserFactory(Factory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"user{n}-{next(_seq)}@example.org")
    password_hash = _HASH
    first_name = "Camille"
    last_name = "Martin"

    @factory.post_generation
    def roles(self, create: bool, extracted: list[Role] | None, **kwargs: object) -> None:
        for role in extracted or [Role.RESIDENT]:
            self.roles.append(UserRole(role=role))
        db.session.flush()


class TradeFactory(Factory):
    class Meta:
        model = Trade

    slug = factory.Sequence(lambda n: f"trade-{n}")
    name_fr = factory.Sequence(lambda n: f"Métier {n}")
    name_en = factory.Sequence(lambda n: f"Trade {n}")


class ShopFactory(Factory):
    class Meta:
        model = Shop

    commune = factory.SubFactory(CommuneFactory)
    territory_id = factory.SelfAttribute("commune.territory_id")
    trade = factory.SubFactory(TradeFactory)
    slug = factory.Sequence(lambda n: f"boutique-{n}")
    name = factory.Sequence(lambda n: f"Boutique {n}")
    siret = "73282932000074"
    status = ShopStatus.APPROVED
    street = "1 rue de la Paix"
    postcode = "47200"
    latitude = 44.5
    longitude = 0.16
    story = "Une boutique du centre-ville."
    fulfilment_methods = factory.LazyFunction(lambda: [FulfilmentMethod.CLICK_AND_COLLECT.value])

    @factory.post_generation
    def hours(self, create: bool, extracted: object, **kwargs: object) -> None:
        if extracted is False:
            return
        for weekday in range(6):  # Monday to Saturday, 9:00-19:00
            self.hours.append(OpeningHours(weekday=weekday, opens_at=time(9), closes_at=time(19)))
        db.session.flush()


def add_staff(shop: Shop, user: User, role: StaffRole = StaffRole.OWNER) -> ShopStaff:
    staff = ShopStaff(shop=shop, user=user, role=role)
    db.session.add(staff)
    db.session.flush()
    return staff


class ProductFactory(Factory):
    class Meta:
        model = Product

    shop = factory.SubFactory(ShopFactory)
    slug = factory.Sequence(lambda n: f"produit-{n}")
    name = factory.Sequence(lambda n: f"Produit {n}")
    status = ProductStatus.PUBLISHED
    vat_rate_bp = 2000


class VariantFactory(Factory):
    class Meta:
        model = Variant

    product = factory.SubFactory(ProductFactory)
    sku = factory.Sequence(lambda n: f"SKU-{n}")
    price_cents = 1250
    stock = 10


def give_credit(user: User, cents: int) -> None:
    """Wallet credit for a resident, as a Cityzen's reward is booked: the platform's
    rewards expense debited, the resident's wallet credited."""
    from marketplace import ledger

    ledger.post(
        "reward",
        f"reward:test-{user.id}-{next(_seq)}",
        "Récompense de test",
        [(ledger.PLATFORM_REWARDS, cents), (ledger.wallet(user.id), -cents)],
    )
