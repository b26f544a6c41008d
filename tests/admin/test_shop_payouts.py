"""The shop's payouts page: its balance to come, its settlements, its CSV statements,
for its own staff only."""

from __future__ import annotations

from datetime import timedelta

from marketplace.extensions import db
from marketplace.models import Role
from merchants.models import StaffRole
from tests.admin.test_settlement import (
    IN_WEEK,
    WEEK,
    collect,
    paid_sub,
    payable,
    settle_week,
    stub_stripe_refunds,  # noqa: F401 - autouse fixture
)
from tests.factories import DEFAULT_PASSWORD, ShopFactory, UserFactory, add_staff
from tests.helpers import login


def test_shop_staff_sees_balance_settlements_and_statement(app, client):
    shop, other = ShopFactory(), ShopFactory()
    clerk = UserFactory(roles=[Role.MERCHANT])
    add_staff(shop, clerk, StaffRole.STAFF)
    a = paid_sub(shop, [(1990, 2)])
    collect(a, IN_WEEK)
    paid_sub(shop, [(500, 1)])  # paid, not yet fulfilled: still to come
    b = paid_sub(other, [(700, 1)])
    collect(b, IN_WEEK + timedelta(hours=1))
    db.session.commit()
    settled = settle_week(WEEK)
    s, s_other = settled[shop.id], settled[other.id]
    login(client, clerk.email, DEFAULT_PASSWORD)

    assert "Reversements et relevés" in client.get("/boutique/").text
    page = client.get(f"/boutique/{shop.id}/reversements")
    assert page.status_code == 200
    assert payable(shop) < 0
    from marketplace.i18n import _money

    assert _money(-payable(shop), "fr") in page.text
    assert f'id="reglement-{s.id}"' in page.text
    assert f'id="reglement-{s_other.id}"' not in page.text
    assert _money(s.payout_cents, "fr") in page.text

    csv = client.get(f"/boutique/{shop.id}/reversements/releve.csv?reglement={s.id}")
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    lines = [line.split(";") for line in csv.text.strip().splitlines()]
    assert [(row[1], row[2]) for row in lines[1:-3]] == [("sale", a.reference)]
    assert int(lines[-1][6]) == s.payout_cents

    # Another shop's settlement through this shop's URL, or another shop's page: 404.
    url = f"/boutique/{shop.id}/reversements/releve.csv?reglement={s_other.id}"
    assert client.get(url).status_code == 404
    assert client.get(f"/boutique/{shop.id}/reversements/releve.csv").status_code == 404
    assert client.get(f"/boutique/{other.id}/reversements").status_code == 404
    url = f"/boutique/{other.id}/reversements/releve.csv?reglement={s_other.id}"
    assert client.get(url).status_code == 404


def test_shop_payouts_refuse_residents_and_anonymous(app, client):
    shop = ShopFactory()
    resident = UserFactory(roles=[Role.RESIDENT])
    db.session.commit()
    response = client.get(f"/boutique/{shop.id}/reversements")
    assert response.status_code == 302 and "/compte/connexion" in response.location
    login(client, resident.email, DEFAULT_PASSWORD)
    assert client.get(f"/boutique/{shop.id}/reversements").status_code in (403, 404)


def test_ids_no_database_key_can_hold_are_not_found(app, client):
    """A hand-typed huge id is a 404 for the shop and the collectivité, never a 500."""
    shop = ShopFactory()
    clerk = UserFactory(roles=[Role.MERCHANT])
    add_staff(shop, clerk, StaffRole.STAFF)
    staff = UserFactory(roles=[Role.STAFF])
    db.session.commit()
    huge = 2**31
    login(client, clerk.email, DEFAULT_PASSWORD)
    for url in (
        f"/boutique/{huge}/reversements",
        f"/boutique/{shop.id}/reversements/releve.csv?reglement={huge}",
        f"/boutique/{shop.id}/reversements/facture.pdf?reglement={huge}",
    ):
        assert client.get(url).status_code == 404, url
    login(client, staff.email, DEFAULT_PASSWORD)
    for url in (
        f"/collectivite/reversements/reglement/{huge}.csv",
        f"/collectivite/reversements/reglement/{huge}.pdf",
        f"/collectivite/reversements/reglement/{huge}/facture.csv",
    ):
        assert client.get(url).status_code == 404, url
