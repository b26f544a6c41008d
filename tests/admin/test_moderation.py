"""The collectivité's staff moderate the Cityzens' recommendations: the latest ones
listed, hidden with a reason (the link stops working, the Cityzen sees why) or
restored; staff only, POST + CSRF, bad input answered next to the field."""

from __future__ import annotations

import html

import pytest

from ambassadors import operations as cz
from ambassadors.models import Recommendation
from marketplace.extensions import db
from marketplace.models import Role
from tests.ambassadors.conftest import make_cityzen
from tests.factories import DEFAULT_PASSWORD, ShopFactory, UserFactory, VariantFactory
from tests.helpers import csrf_token, login, main_text

PAGE = "/collectivite/recommandations"


@pytest.fixture
def recs(app):
    shop = ShopFactory(name="La Bouquinerie")
    book = VariantFactory(product__shop=shop, product__name="Roman").product
    alice, alice_cz = make_cityzen("Alice des livres")
    rec = cz.recommend(alice_cz, book.id, "Un roman qu'on ne lâche pas.")
    agent = UserFactory(roles=[Role.STAFF])
    db.session.commit()
    return {"rec": rec, "alice": alice, "agent": agent}


def _staff(client, recs):
    login(client, recs["agent"].email, DEFAULT_PASSWORD)


def _hide(client, rec_id, reason, page=PAGE):
    return client.post(
        f"{PAGE}/{rec_id}/masquer", data={"reason": reason, "csrf_token": csrf_token(client, page)}
    )


def _fresh(rec) -> Recommendation:
    db.session.expire_all()
    found = db.session.get(Recommendation, rec.id)
    assert found is not None
    return found


def test_staff_sees_the_latest_recommendations_without_emails(client, recs):
    _staff(client, recs)
    client.get(f"/r/{recs['rec'].code}")  # one click
    page = client.get(PAGE)
    assert page.status_code == 200
    text = html.unescape(main_text(page.text))
    assert "Un roman qu'on ne lâche pas." in text and "Alice des livres" in text
    assert "Roman · La Bouquinerie" in text
    assert recs["alice"].email not in page.text
    assert '<th scope="col">' in page.text
    assert f'<label for="reason-{recs["rec"].id}">Motif du masquage</label>' in page.text
    assert 'href="/collectivite/recommandations"' in client.get("/collectivite/").text


@pytest.mark.parametrize("role", [Role.RESIDENT, Role.MERCHANT, Role.COURIER])
def test_only_collectivite_staff(client, recs, role):
    user = UserFactory(roles=[role])
    db.session.commit()
    login(client, user.email, DEFAULT_PASSWORD)
    assert client.get(PAGE).status_code == 403
    token = csrf_token(client, "/compte/")
    rec_id = recs["rec"].id
    response = client.post(
        f"{PAGE}/{rec_id}/masquer", data={"reason": "Pas sage", "csrf_token": token}
    )
    assert response.status_code == 403
    assert not _fresh(recs["rec"]).hidden


def test_a_cityzen_is_not_staff(client, recs):
    login(client, recs["alice"].email, DEFAULT_PASSWORD)
    assert client.get(PAGE).status_code == 403
    token = csrf_token(client, "/compte/")
    rec_id = recs["rec"].id
    response = client.post(
        f"{PAGE}/{rec_id}/masquer", data={"reason": "Pas sage", "csrf_token": token}
    )
    assert response.status_code == 403
    cz.hide(rec_id, recs["agent"], "Propos injurieux")
    db.session.commit()
    response = client.post(f"{PAGE}/{rec_id}/retablir", data={"csrf_token": token})
    assert response.status_code == 403
    assert _fresh(recs["rec"]).hidden


def test_anonymous_is_sent_to_log_in(client, recs):
    response = client.get(PAGE)
    assert response.status_code == 302 and "/compte/connexion" in response.headers["Location"]


def test_hide_then_restore(client, recs):
    rec = recs["rec"]
    _staff(client, recs)
    response = _hide(client, rec.id, "  Propos injurieux envers un commerçant  ")
    assert response.status_code == 302
    page = client.get(response.headers["Location"])
    assert "Recommandation masquée" in main_text(page.text)
    found = _fresh(rec)
    assert found.hidden_reason == "Propos injurieux envers un commerçant"
    assert found.hidden_by_id == recs["agent"].id
    assert client.get(f"/r/{rec.code}").status_code == 404
    hidden = html.unescape(main_text(client.get(f"{PAGE}?filtre=masquees").text))
    assert "Un roman qu'on ne lâche pas." in hidden and "Propos injurieux" in hidden
    visible = html.unescape(main_text(client.get(f"{PAGE}?filtre=visibles").text))
    assert "Un roman qu'on ne lâche pas." not in visible
    # The Cityzen's dashboard says why.
    client.post("/compte/deconnexion", data={"csrf_token": csrf_token(client, PAGE)})
    login(client, recs["alice"].email, DEFAULT_PASSWORD)
    dashboard = html.unescape(main_text(client.get("/cityzens/mon-credit").text))
    assert "Masquée par la collectivité : Propos injurieux envers un commerçant" in dashboard
    # Restored by staff: the link works again.
    client.post("/compte/deconnexion", data={"csrf_token": csrf_token(client, "/compte/")})
    _staff(client, recs)
    response = client.post(
        f"{PAGE}/{rec.id}/retablir", data={"csrf_token": csrf_token(client, PAGE)}
    )
    assert response.status_code == 302
    assert "Recommandation rétablie" in main_text(client.get(PAGE).text)
    assert not _fresh(rec).hidden
    assert client.get(f"/r/{rec.code}").status_code == 200


@pytest.mark.parametrize("reason", ["", "   ", "ab", "x" * 301])
def test_bad_reason_is_answered_next_to_the_field(client, recs, reason):
    rec = recs["rec"]
    _staff(client, recs)
    response = _hide(client, rec.id, reason)
    assert response.status_code == 422
    assert f'id="reason-{rec.id}-error"' in response.text
    assert "Indiquez le motif, entre 3 et 300 caractères" in html.unescape(response.text)
    assert 'aria-invalid="true"' in response.text
    assert not _fresh(rec).hidden
    assert client.get(f"/r/{rec.code}").status_code == 200


def test_unknown_or_huge_id_is_a_404(client, recs):
    _staff(client, recs)
    token = csrf_token(client, PAGE)
    for ident in ("999999", "2147483648", "99999999999999999999"):
        for action in ("masquer", "retablir"):
            response = client.post(
                f"{PAGE}/{ident}/{action}", data={"reason": "Propos injurieux", "csrf_token": token}
            )
            assert response.status_code == 404, (ident, action)


def test_csrf_is_required(client, recs):
    rec = recs["rec"]
    _staff(client, recs)
    response = client.post(f"{PAGE}/{rec.id}/masquer", data={"reason": "Propos injurieux"})
    assert response.status_code == 400
    assert not _fresh(rec).hidden
    cz.hide(rec.id, recs["agent"], "Propos injurieux")
    db.session.commit()
    assert client.post(f"{PAGE}/{rec.id}/retablir").status_code == 400
    assert _fresh(rec).hidden


def test_bad_page_or_filter_still_lists(client, recs):
    _staff(client, recs)
    for query in ("?page=abc", "?page=-3", "?page=99999999999999999999", "?filtre=nope"):
        assert client.get(PAGE + query).status_code == 200, query


def test_english_page(client, recs):
    _staff(client, recs)
    client.post("/compte/langue", data={"locale": "en", "csrf_token": csrf_token(client, PAGE)})
    text = main_text(client.get(PAGE).text)
    assert "Cityzens' recommendations" in text and "Reason for hiding" in text
