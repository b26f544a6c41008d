"""The collectivité's moderation seen from the Cityzens' side: a hidden recommendation
is as withdrawn for everyone (link, attribution), its Cityzen sees why and cannot
bring it back by editing it; the staff's listing of the latest recommendations."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from ambassadors import operations as cz
from ambassadors.models import Recommendation, ReferralClick
from marketplace.api_auth import create_token
from marketplace.extensions import db
from marketplace.models import Role, utcnow
from marketplace.operations import FieldError
from tests.ambassadors.conftest import attributions, click, make_cityzen, place
from tests.factories import DEFAULT_PASSWORD, UserFactory, VariantFactory
from tests.helpers import csrf_token, login, main_text

DASHBOARD = "/cityzens/mon-credit"
API = "/api/v1/cityzen/recommendations"


@pytest.fixture
def agent(app):
    user = UserFactory(roles=[Role.STAFF])
    db.session.commit()
    return user


@pytest.fixture
def request_ctx(app):
    """Messages are translated for a request's locale."""
    with app.test_request_context():
        yield


def _fresh(rec: Recommendation) -> Recommendation:
    db.session.expire_all()
    found = db.session.get(Recommendation, rec.id)
    assert found is not None
    return found


def test_hide_needs_a_reason_of_3_to_300_characters(app, world, agent, request_ctx):
    rec = world["rec_alice"]
    for bad in ("", "  ", "ab", "x" * 301, None):
        with pytest.raises(FieldError) as refused:
            cz.hide(rec.id, agent, bad)
        assert list(refused.value.errors) == ["reason"]
    assert not _fresh(rec).hidden
    cz.hide(rec.id, agent, "x" * 300)
    assert _fresh(rec).hidden_reason == "x" * 300


def test_hide_unknown_or_huge_id_is_not_found(app, world, agent):
    for ident in (999_999, 2**31, 10**20, 0, -1):
        with pytest.raises(cz.NotFound):
            cz.hide(ident, agent, "Propos injurieux")
        with pytest.raises(cz.NotFound):
            cz.restore(ident)


def test_hiding_twice_keeps_the_first_decision(app, world, agent):
    rec = world["rec_alice"]
    cz.hide(rec.id, agent, "Propos injurieux")
    first_at = _fresh(rec).hidden_at
    other = UserFactory(roles=[Role.STAFF])
    cz.hide(rec.id, other, "Autre motif")
    found = _fresh(rec)
    assert (found.hidden_at, found.hidden_reason, found.hidden_by_id) == (
        first_at,
        "Propos injurieux",
        agent.id,
    )


def test_hidden_link_is_a_404_and_restore_brings_it_back(client, app, world, agent):
    rec = world["rec_alice"]
    cz.hide(rec.id, agent, "Propos injurieux")
    db.session.commit()
    assert client.get(f"/r/{rec.code}").status_code == 404
    assert db.session.scalar(select(ReferralClick.id)) is None  # no click recorded
    assert client.get(f"/r/{world['rec_bob'].code}").status_code == 200  # Bob's untouched
    cz.restore(rec.id)
    db.session.commit()
    assert client.get(f"/r/{rec.code}").status_code == 200
    assert _fresh(rec).hidden_reason is None


def test_clicks_on_a_hidden_recommendation_attribute_nothing(app, world, agent):
    click(world["rec_alice"], visitor="b1")  # clicked while it stood
    click(world["rec_bob"], visitor="b2", ago_days=1)
    click(world["rec_alice"], visitor="b2")  # the last click, but on the one hidden next
    cz.hide(world["rec_alice"].id, agent, "Propos injurieux")
    assert attributions(place(app, world["buyer"], [(world["book"], 1)], visitor="b1")) == []
    order = place(app, world["buyer"], [(world["book"], 1)], visitor="b2")
    assert [a.cityzen_user_id for a in attributions(order)] == [world["bob"].id]


def test_restored_recommendation_attributes_again(app, world, agent):
    cz.hide(world["rec_alice"].id, agent, "Propos injurieux")
    cz.restore(world["rec_alice"].id)
    click(world["rec_alice"], visitor="b1")
    order = place(app, world["buyer"], [(world["book"], 1)], visitor="b1")
    assert [a.cityzen_user_id for a in attributions(order)] == [world["alice"].id]


def test_the_cityzen_cannot_unhide_by_editing(client, app, world, agent):
    rec = world["rec_alice"]
    cz.hide(rec.id, agent, "Propos injurieux")
    db.session.commit()
    with app.test_request_context(), pytest.raises(FieldError) as refused:
        cz.recommend(rec.cityzen, rec.product_id, "Un autre avis, bien sage.")
    assert "masquée par la collectivité" in refused.value.errors["comment"]
    db.session.rollback()
    # Through the page: the message next to the comment, nothing changed.
    login(client, world["alice"].email, DEFAULT_PASSWORD)
    page = f"/cityzens/recommander/{rec.product_id}"
    response = client.post(
        page, data={"comment": "Un autre avis.", "csrf_token": csrf_token(client, page)}
    )
    assert response.status_code == 400
    assert "masquée par la collectivité" in main_text(response.text)
    found = _fresh(rec)
    assert found.hidden and found.comment == "Un roman qu'on ne lâche pas."
    assert client.get(f"/r/{rec.code}").status_code == 404


def test_the_cityzen_cannot_unhide_through_the_api(client, app, world, agent):
    rec = world["rec_alice"]
    cz.hide(rec.id, agent, "Propos injurieux")
    _, token = create_token(world["alice"], "test")
    db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    response = client.post(
        API, json={"product_id": rec.product_id, "comment": "Autre avis."}, headers=headers
    )
    assert response.status_code == 422
    assert "comment" in response.json["errors"]["json"]
    assert _fresh(rec).hidden
    listed = client.get(API, headers=headers).json
    assert [(r["hidden"], r["hidden_reason"]) for r in listed] == [(True, "Propos injurieux")]
    bob_token = create_token(world["bob"], "test")[1]
    db.session.commit()
    bobs = client.get(API, headers={"Authorization": f"Bearer {bob_token}"}).json
    assert [(r["hidden"], r["hidden_reason"]) for r in bobs] == [(False, None)]


def test_dashboard_shows_the_hidden_recommendation_and_its_reason(client, app, world, agent):
    rec = world["rec_alice"]
    cz.hide(rec.id, agent, "Propos injurieux envers un commerçant")
    db.session.commit()
    login(client, world["alice"].email, DEFAULT_PASSWORD)
    page = client.get(DASHBOARD)
    text = main_text(page.text)
    assert "Masquée par la collectivité : Propos injurieux envers un commerçant" in text
    assert f"/r/{rec.code}" not in page.text  # no link to share
    assert "Modifier mon avis" not in text and "Recommander à nouveau" not in text


# --- the staff's listing --------------------------------------------------------------


def test_listing_newest_first_with_names_and_clicks_never_emails(app, world, agent):
    click(world["rec_alice"], visitor="b1")
    click(world["rec_alice"], visitor="b2")
    world["rec_bob"].created_at = utcnow() + timedelta(minutes=1)
    cz.hide(world["rec_bob"].id, agent, "Hors sujet")
    db.session.flush()
    listing = cz.latest_recommendations()
    assert [
        (r.display_name, r.product_name, r.shop_name, r.clicks, r.hidden) for r in listing.rows
    ] == [
        ("Bob", "Roman", "La Bouquinerie", 0, True),
        ("Alice des livres", "Roman", "La Bouquinerie", 2, False),
    ]
    assert listing.rows[0].hidden_reason == "Hors sujet"
    assert world["alice"].email not in repr(listing)
    assert [r.display_name for r in cz.latest_recommendations(hidden=True).rows] == ["Bob"]
    assert [r.display_name for r in cz.latest_recommendations(hidden=False).rows] == [
        "Alice des livres"
    ]


def test_listing_pages_of_50(app, world):
    _, carol = make_cityzen("Carol")
    for _ in range(cz.PAGE_SIZE):
        product = VariantFactory(product__shop=world["shop"]).product
        cz.recommend(carol, product.id, "Bien.")
    db.session.flush()
    first = cz.latest_recommendations(page=1)
    second = cz.latest_recommendations(page=2)
    assert len(first.rows) == cz.PAGE_SIZE and first.has_next
    assert len(second.rows) == 2 and not second.has_next
    assert not {r.id for r in first.rows} & {r.id for r in second.rows}
    assert cz.latest_recommendations(page=10**12).rows == []  # no overflow, no 500


def test_listing_in_a_constant_number_of_queries(app, world, count_queries):
    def queries() -> int:
        with count_queries() as counter:
            rows = cz.latest_recommendations().rows
            [(r.display_name, r.product_name, r.shop_name, r.clicks) for r in rows]
        return counter.count

    few = queries()
    for index in range(5):
        _user, cityzen = make_cityzen(f"Cityzen {index}")
        product = VariantFactory(product__shop=world["shop"]).product
        rec = cz.recommend(cityzen, product.id, "Bien.")
        click(rec, visitor=f"v{index}")
    db.session.flush()
    assert len(cz.latest_recommendations().rows) == 7
    assert queries() == few == 1
