"""The Cityzens' pages as a resident uses them: becoming one, recommending from the
product page, the shared link and its cookie, the dashboard and its privacy."""

from __future__ import annotations

import html
import re

from sqlalchemy import select

from ambassadors import operations as cz
from ambassadors.models import Cityzen, Recommendation, ReferralClick
from ambassadors.operations import VISITOR_COOKIE
from marketplace.extensions import db
from marketplace.models import Role, Territory
from merchants.models import ProductStatus
from tests.ambassadors.conftest import fulfil, later, make_cityzen, pay, place
from tests.factories import DEFAULT_PASSWORD, UserFactory, VariantFactory
from tests.helpers import csrf_token, login, main_text

LANDING = "/cityzens/"
DASHBOARD = "/cityzens/mon-credit"


def _opt_in(client, **data):
    return client.post(LANDING, data={**data, "csrf_token": csrf_token(client, LANDING)})


def _cityzen(user):
    return db.session.scalar(select(Cityzen).where(Cityzen.user_id == user.id))


def test_landing_explains_the_rules_to_anyone(client, app):
    page = client.get(LANDING)
    assert page.status_code == 200
    text = main_text(page.text)
    assert "Devenir Cityzen" in text and "30 jours" in text and "3 %" in text
    assert "Se connecter pour devenir Cityzen" in text


def test_opt_in_validation_names_the_fields(client, app):
    user = UserFactory(roles=[Role.RESIDENT])
    db.session.commit()
    login(client, user.email, DEFAULT_PASSWORD)
    response = _opt_in(client, display_name="A")
    assert response.status_code == 400
    assert 'id="display_name-error"' in response.text and 'id="accept_rules-error"' in response.text
    assert "Acceptez les règles" in response.text
    response = _opt_in(client, display_name="x" * 61, accept_rules="y")
    assert response.status_code == 400 and "Entre 2 et 60 caractères" in response.text
    assert _cityzen(user) is None
    response = _opt_in(client, display_name="  Camille   du marché ", accept_rules="y")
    assert response.status_code == 302 and response.location.endswith(DASHBOARD)
    db.session.expire_all()
    assert _cityzen(user).display_name == "Camille du marché" and _cityzen(user).active


def test_opt_in_in_english(client, app):
    user = UserFactory(roles=[Role.RESIDENT])
    db.session.commit()
    login(client, user.email, DEFAULT_PASSWORD)
    client.post("/compte/langue", data={"locale": "en", "csrf_token": csrf_token(client, "/")})
    response = _opt_in(client, display_name="C")
    assert response.status_code == 400
    assert "Accept the Cityzens' rules" in html.unescape(response.text)


def test_recommend_from_the_product_page(client, app, world):
    product = world["pen"].product
    page = client.get(f"/boutiques/{world['shop'].slug}/{product.slug}")
    link = f"/cityzens/recommander/{product.id}"
    assert f'href="{link}"' in page.text and "Recommander ce produit" in page.text
    # Not signed in → log in, coming back here.
    response = client.get(link)
    assert response.status_code == 302 and "/compte/connexion" in response.location
    assert "next=" in response.location
    # Signed in but not a Cityzen → opt in first, coming back here.
    login(client, world["buyer"].email, DEFAULT_PASSWORD)
    response = client.get(link)
    assert response.status_code == 302 and response.location.startswith(LANDING)
    response = client.post(
        response.location,
        data={
            "display_name": "Camille",
            "accept_rules": "y",
            "csrf_token": csrf_token(client, LANDING),
        },
    )
    assert response.status_code == 302 and response.location.endswith(link)
    # Comment too long → the field says so; nothing written.
    token = csrf_token(client, link)
    response = client.post(link, data={"comment": "x" * 281, "csrf_token": token})
    assert response.status_code == 400 and "280 caractères au plus" in response.text
    response = client.post(link, data={"comment": "   ", "csrf_token": token})
    assert response.status_code == 400 and 'id="comment-error"' in response.text
    buyer_cz = _cityzen(world["buyer"])
    assert cz.recommendation_for(buyer_cz, product.id) is None
    # A good one, then an edit: still one recommendation, same code.
    assert (
        client.post(link, data={"comment": "Écrit bien.", "csrf_token": token}).status_code == 302
    )
    first = cz.recommendation_for(buyer_cz, product.id)
    code = first.code
    assert (
        client.post(link, data={"comment": "Écrit très bien.", "csrf_token": token}).status_code
        == 302
    )
    db.session.expire_all()
    recs = db.session.scalars(
        select(Recommendation).where(Recommendation.cityzen_id == buyer_cz.id)
    ).all()
    assert [(r.code, r.comment) for r in recs] == [(code, "Écrit très bien.")]


def test_recommend_unknown_or_unpublished_product_is_404(client, app, world):
    user, _ = make_cityzen("Camille")
    draft = VariantFactory(product__shop=world["shop"], product__status=ProductStatus.DRAFT).product
    db.session.commit()
    login(client, user.email, DEFAULT_PASSWORD)
    assert client.get("/cityzens/recommander/999999").status_code == 404
    assert client.get(f"/cityzens/recommander/{draft.id}").status_code == 404
    token = csrf_token(client, LANDING)
    assert (
        client.post(
            f"/cityzens/recommander/{draft.id}", data={"comment": "Bien", "csrf_token": token}
        ).status_code
        == 404
    )


def test_shared_link_records_the_click_and_sets_the_cookie(client, app, world):
    rec = world["rec_alice"]
    response = client.get(f"/r/{rec.code}")
    assert response.status_code == 200
    # A page, not its source shown as text (a bare werkzeug Response is text/plain).
    assert response.mimetype == "text/html" and response.mimetype_params["charset"] == "utf-8"
    text = html.unescape(main_text(response.text))
    assert "Roman" in text and "La Bouquinerie" in text and "19,90" in text
    assert "Alice des livres" in text and "Un roman qu'on ne lâche pas." in text
    assert f'href="/boutiques/{world["shop"].slug}/{rec.product.slug}"' in response.text
    assert "no-store" in response.headers["Cache-Control"]
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith(VISITOR_COOKIE))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Max-Age=2592000" in cookie
    assert "Secure" not in cookie  # the tests run on http
    visitor = re.match(rf"{VISITOR_COOKIE}=([^;]+)", cookie).group(1)
    clicks = db.session.scalars(
        select(ReferralClick).where(ReferralClick.recommendation_id == rec.id)
    ).all()
    assert [(c.visitor, c.user_id) for c in clicks] == [(visitor, None)]
    # A second visit keeps the same visitor token.
    client.get(f"/r/{rec.code}")
    db.session.expire_all()
    visitors = db.session.scalars(
        select(ReferralClick.visitor).where(ReferralClick.recommendation_id == rec.id)
    ).all()
    assert visitors == [visitor, visitor]


def test_shared_link_cookie_is_secure_on_https(client, app, world):
    response = client.get(f"/r/{world['rec_alice'].code}", base_url="https://comptoir.test")
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith(VISITOR_COOKIE))
    assert "Secure" in cookie


def test_shared_link_cookie_lasts_the_territorys_attribution_window(client, app, world):
    territory = db.session.get(Territory, world["shop"].territory_id)
    territory.settings = {"cityzens": {"attribution_days": 40}}
    db.session.commit()
    response = client.get(f"/r/{world['rec_alice'].code}")
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith(VISITOR_COOKIE))
    assert f"Max-Age={40 * 86400}" in cookie  # a click counts 40 days there, not 30


def test_unknown_or_withdrawn_link_is_a_404_page(client, app, world):
    response = client.get("/r/nope-nope")
    assert response.status_code == 404 and "<main" in response.text
    rec = world["rec_alice"]
    cz.withdraw(rec.cityzen, rec.id)
    db.session.commit()
    assert client.get(f"/r/{rec.code}").status_code == 404
    assert db.session.scalar(select(ReferralClick.id)) is None


def test_anonymous_click_then_signed_in_checkout_in_the_same_browser(client, app, world):
    """Through the pages: the link's cookie is what the checkout reads."""
    rec = world["rec_alice"]
    client.get(f"/r/{rec.code}")
    visitor = client.get_cookie(VISITOR_COOKIE, domain="comptoir.test").value
    order = place(app, world["buyer"], [(world["book"], 1)], visitor=visitor)
    from tests.ambassadors.conftest import attributions

    assert [a.cityzen_user_id for a in attributions(order)] == [world["alice"].id]


def test_dashboard_shows_links_sales_rewards_and_wallet(client, app, world):
    alice, rec = world["alice"], world["rec_alice"]
    cz.record_click(rec.code, "b1", None)
    order = place(app, world["buyer"], [(world["book"], 2)], visitor="b1")
    pay(order)
    fulfil(order.sub_orders[0])
    db.session.commit()
    login(client, alice.email, DEFAULT_PASSWORD)
    text = main_text(client.get(DASHBOARD).text)
    assert "1 clic" in text and "1 vente" in text and "39,80" in text
    assert "Récompenses en attente 1,19" in text
    cz.credit_due_rewards(later(15))
    db.session.commit()
    page = client.get(DASHBOARD)
    text = main_text(page.text)
    assert re.search(r'data-testid="wallet-credit">1,19', page.text)
    assert "Récompense" in text and "+1,19" in text
    assert "Récompenses versées 1,19" in text
    assert f"http://comptoir.test/r/{rec.code}" in page.text
    assert 'class="copy-link"' in page.text and "share.js" in page.text
    assert "Mon crédit" in page.text  # the account menu's entry


def test_dashboard_is_only_ones_own(client, app, world):
    alice = world["alice"]
    cz.record_click(world["rec_alice"].code, "b1", None)
    order = place(app, world["buyer"], [(world["book"], 2)], visitor="b1")
    pay(order)
    fulfil(order.sub_orders[0])
    cz.credit_due_rewards(later(15))
    db.session.commit()
    assert client.get(DASHBOARD).status_code == 302  # anonymous → log in
    login(client, world["bob"].email, DEFAULT_PASSWORD)
    page = client.get(DASHBOARD)
    text = html.unescape(main_text(page.text))
    assert world["rec_alice"].code not in page.text and "Un roman qu'on ne lâche pas." not in text
    assert re.search(r'data-testid="wallet-credit">0,00', page.text)
    # Bob cannot withdraw Alice's recommendation.
    response = client.post(
        f"/cityzens/recommandations/{world['rec_alice'].id}/retirer",
        data={"csrf_token": csrf_token(client, DASHBOARD)},
    )
    assert response.status_code == 404
    db.session.expire_all()
    assert not db.session.get(Recommendation, world["rec_alice"].id).withdrawn
    del alice


def test_withdraw_and_opt_out_from_the_dashboard(client, app, world):
    alice, rec = world["alice"], world["rec_alice"]
    login(client, alice.email, DEFAULT_PASSWORD)
    response = client.post(
        f"/cityzens/recommandations/{rec.id}/retirer",
        data={"csrf_token": csrf_token(client, DASHBOARD)},
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Recommendation, rec.id).withdrawn
    assert "Retirée" in main_text(client.get(DASHBOARD).text)
    response = client.post("/cityzens/quitter", data={"csrf_token": csrf_token(client, DASHBOARD)})
    assert response.status_code == 302
    db.session.expire_all()
    assert not _cityzen(alice).active
    assert client.get(f"/r/{world['rec_bob'].code}").status_code == 200  # Bob's still works


def test_ids_too_large_for_a_key_are_404_not_500(client, app, world):
    login(client, world["alice"].email, DEFAULT_PASSWORD)
    huge = "99999999999999999999"
    assert client.get(f"/cityzens/recommander/{huge}").status_code == 404
    token = csrf_token(client, DASHBOARD)
    response = client.post(f"/cityzens/recommandations/{huge}/retirer", data={"csrf_token": token})
    assert response.status_code == 404
    assert client.get("/cityzens/recommander/2147483648").status_code == 404


def test_dashboard_and_api_never_name_the_buyers_order(client, app, world):
    """The Cityzen sees what sold and what it earned, not whose order it was: no
    buyer's name or email, nor the reference of their order (shops and the buyer
    quote it: a handle on someone else's purchase)."""
    from marketplace.api_auth import create_token
    from shop.operations import refunds as refund_ops

    alice, buyer = world["alice"], world["buyer"]
    cz.record_click(world["rec_alice"].code, "b1", None)
    order = place(app, buyer, [(world["book"], 2)], visitor="b1")
    pay(order)
    sub = order.sub_orders[0]
    fulfil(sub)
    cz.credit_due_rewards(later(15))
    refund_ops.refund(sub, None, "system", lines={sub.lines[0].id: 1}, reason="retour")
    _, token = create_token(alice, "test")
    db.session.commit()
    login(client, alice.email, DEFAULT_PASSWORD)
    page = html.unescape(client.get(DASHBOARD).text)
    api = client.get("/api/v1/me/wallet", headers={"Authorization": f"Bearer {token}"}).text
    assert "Annulation de récompense" in page and "Roman" in page
    for shown in (page, html.unescape(api)):
        assert sub.reference not in shown
        assert buyer.email not in shown and "camille@example.org" not in shown
        assert "Camille Martin" not in shown and buyer.last_name not in shown


def test_wallet_movements_are_named_in_the_readers_language(client, app, world):
    """Credit set aside by a checkout and given back are labelled, in English too,
    not shown as the ledger's French text."""
    from marketplace import ledger
    from shop.operations import wallet as wallet_ops
    from shop.operations.reservations import release_order

    buyer = world["buyer"]
    ledger.post(
        "reward",
        "test-credit",
        "Récompense Cityzen : Stylo",
        [(ledger.PLATFORM_REWARDS, 500), (ledger.wallet(buyer.id), -500)],
    )
    order = place(app, buyer, [(world["pen"], 1)])
    assert wallet_ops.hold(order) == 500
    release_order(order, "délai de paiement dépassé")
    db.session.commit()
    login(client, buyer.email, DEFAULT_PASSWORD)
    text = html.unescape(main_text(client.get(DASHBOARD).text))
    assert "Crédit utilisé pour une commande" in text and "Crédit rendu" in text
    assert "Récompense Stylo" in text
    client.post("/compte/langue", data={"locale": "en", "csrf_token": csrf_token(client, "/")})
    text = html.unescape(main_text(client.get(DASHBOARD).text))
    assert "Credit used for an order" in text and "Credit given back" in text
    assert "Reward Stylo" in text
    assert "Crédit réservé" not in text and "Récompense Cityzen" not in text


def test_dashboard_queries_do_not_grow_with_its_rows(client, app, world, count_queries):
    """Links and sales are read in a fixed number of queries (no query per row)."""
    alice, alice_cz = world["alice"], cz.cityzen_of(world["alice"])

    def sell(variant, visitor):
        rec = cz.recommend(alice_cz, variant.product_id, "Très bien.")
        cz.record_click(rec.code, visitor, None)
        order = place(app, world["buyer"], [(variant, 1)], visitor=visitor)
        pay(order)
        db.session.commit()

    def queries() -> int:
        with count_queries() as counter:
            assert client.get(DASHBOARD).status_code == 200
        return counter.count

    login(client, alice.email, DEFAULT_PASSWORD)
    sell(world["pen"], "b1")
    few = queries()
    for n in range(4):
        sell(VariantFactory(product__shop=world["shop"], price_cents=1000 + n), f"b{n + 2}")
    assert "5 ventes" not in main_text(client.get(DASHBOARD).text)  # one sale per link
    assert queries() == few


def test_a_link_with_a_longer_code_is_not_the_shorter_ones(client, app, world):
    """Codes are 16 characters at most: a longer one is no link (it used to be cut
    to 16, so anything starting with a real code counted as its visit)."""
    code = world["rec_alice"].code.ljust(16, "x")
    world["rec_alice"].code = code
    db.session.commit()
    assert client.get(f"/r/{code}").status_code == 200
    assert client.get(f"/r/{code}y").status_code == 404
    assert client.get(f"/r/{code}{'y' * 5000}").status_code == 404
    assert len(db.session.scalars(select(ReferralClick)).all()) == 1
