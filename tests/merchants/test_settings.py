"""The shop's page settings (texts, favourites, hours, fulfilment, own deliveries),
its preview, exceptional closures, payout details; only for the shop's own staff."""

from __future__ import annotations

import re
from datetime import time, timedelta
from html import unescape

import pytest
from sqlalchemy import select

from marketplace.extensions import db
from marketplace.models import Role, utcnow
from marketplace.operations import FieldError
from merchants.models import Closure, OpeningHours, Shop, StaffRole
from merchants.operations import PARIS
from merchants.operations.settings import check_hours, euros_to_cents, mask_iban
from tests.factories import DEFAULT_PASSWORD, ProductFactory, ShopFactory, UserFactory, add_staff
from tests.helpers import csrf_token, login, main_text

GOOD_IBAN = "FR14 2004 1010 0505 0001 3M02 606"


@pytest.fixture
def team(app):
    shop = ShopFactory(tagline="", advice="")
    owner = UserFactory(roles=[Role.MERCHANT])
    member = UserFactory(roles=[Role.MERCHANT])
    add_staff(shop, owner, StaffRole.OWNER)
    add_staff(shop, member, StaffRole.STAFF)
    products = [ProductFactory(shop=shop, name=n) for n in ("Comté 18 mois", "Brie de Meaux")]
    db.session.commit()
    return shop, owner, member, products


def page_data(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "tagline": "Fromager affineur depuis 1952",
        "story": "Trois générations de fromagers.",
        "advice": "Sortez le fromage une heure avant.",
        "methods": ["click_and_collect", "merchant_delivery"],
        "preparation_minutes": "45",
        "delivery_radius_km": "5,5",
        "delivery_fee": "4,50",
        "action": "save",
    }
    for day in range(7):
        for key in ("open1", "close1", "open2", "close2"):
            data[f"hours-{day}-{key}"] = ""
    for day in range(6):
        data.update({f"hours-{day}-open1": "09:00", f"hours-{day}-close1": "12:30"})
        data.update({f"hours-{day}-open2": "14:00", f"hours-{day}-close2": "19:00"})
    data.update(overrides)
    return data


def post_page(client, shop: Shop, data: dict[str, object]):
    path = f"/boutique/{shop.id}/page"
    return client.post(path, data={**data, "csrf_token": csrf_token(client, path)})


def field_error(html: str, field_id: str) -> str:
    match = re.search(rf'id="{re.escape(field_id)}-error">(.*?)</p>', html, re.S)
    assert match, f"no error next to {field_id}: {main_text(html)[:800]}"
    return unescape(match.group(1))


def hours_of(shop: Shop) -> list[tuple[int, time, time]]:
    return [
        (h.weekday, h.opens_at, h.closes_at)
        for h in db.session.scalars(
            select(OpeningHours)
            .where(OpeningHours.shop_id == shop.id)
            .order_by(OpeningHours.weekday, OpeningHours.opens_at)
        )
    ]


@pytest.mark.parametrize("who", ["owner", "member"])
def test_owner_and_staff_save_the_page(client, team, who):
    shop, owner, member, products = team
    login(client, (owner if who == "owner" else member).email, DEFAULT_PASSWORD)
    page = client.get(f"/boutique/{shop.id}/page")
    assert page.status_code == 200
    assert "Comté 18 mois" in page.text  # the favourites checklist
    response = post_page(client, shop, page_data(picks=[str(products[0].id)]))
    assert response.status_code == 302, main_text(response.text)
    db.session.expire_all()
    shop = db.session.get(Shop, shop.id)
    assert shop.tagline == "Fromager affineur depuis 1952"
    assert shop.advice == "Sortez le fromage une heure avant."
    assert shop.fulfilment_methods == ["click_and_collect", "merchant_delivery"]
    assert shop.preparation_minutes == 45
    assert shop.delivery_radius_km == 5.5
    assert shop.delivery_fee_cents == 450
    assert hours_of(shop)[:2] == [(0, time(9), time(12, 30)), (0, time(14), time(19))]
    assert len(hours_of(shop)) == 12
    assert [p.merchant_pick for p in products] == [True, False] or [
        db.session.get(type(p), p.id).merchant_pick for p in products
    ] == [True, False]


@pytest.mark.parametrize(
    ("overrides", "field", "expected"),
    [
        ({"hours-0-open2": "12:00"}, "hours-0-open2", "chevauchent"),
        ({"hours-1-close1": "08:00"}, "hours-1-close1", "après l'ouverture"),
        ({"hours-2-open1": "25:00"}, "hours-2-open1", "HH:MM"),
        ({"hours-3-close2": ""}, "hours-3-close2", "fermeture"),
        ({"delivery_fee": "-2"}, "delivery_fee", "0 ou plus"),
        ({"delivery_fee": "abc"}, "delivery_fee", "euros"),
        ({"delivery_fee": "1,234"}, "delivery_fee", "euros"),
        ({"delivery_radius_km": "0"}, "delivery_radius_km", "kilomètres"),
        ({"delivery_radius_km": ""}, "delivery_radius_km", "jusqu'où"),
        ({"delivery_fee": ""}, "delivery_fee", "0 si elle est offerte"),
        ({"preparation_minutes": "-5"}, "preparation_minutes", "minutes"),
        ({"methods": []}, "methods", "au moins un mode"),
        ({"methods": ["teleportation"]}, "methods", "parmi les modes"),
        ({"tagline": "x" * 201}, "tagline", "200 caractères"),
    ],
)
def test_bad_input_is_named_and_nothing_saved(client, team, overrides, field, expected):
    shop, owner, _member, _products = team
    before = hours_of(shop)
    login(client, owner.email, DEFAULT_PASSWORD)
    response = post_page(client, shop, page_data(**overrides))
    assert response.status_code == 422
    assert expected in field_error(response.text, field)
    db.session.expire_all()
    assert db.session.get(Shop, shop.id).tagline == ""
    assert hours_of(shop) == before


def test_favourite_from_another_shop_is_refused(client, team):
    shop, owner, _member, _products = team
    foreign = ProductFactory()
    db.session.commit()
    login(client, owner.email, DEFAULT_PASSWORD)
    response = post_page(client, shop, page_data(picks=[str(foreign.id)]))
    assert response.status_code == 422
    assert "produits de la boutique" in response.text
    db.session.refresh(foreign)
    assert foreign.merchant_pick is False


def test_preview_shows_unsaved_values_and_saves_nothing(client, team):
    shop, owner, _member, products = team
    login(client, owner.email, DEFAULT_PASSWORD)
    response = post_page(
        client,
        shop,
        page_data(action="preview", tagline="Nouvelle accroche", picks=[str(products[1].id)]),
    )
    assert response.status_code == 200
    preview = response.text.split('id="apercu"', 1)[1]
    assert "Aperçu (non enregistré)" in preview
    assert "Nouvelle accroche" in preview
    assert "Brie de Meaux" in preview
    assert "09:00–12:30, 14:00–19:00" in preview
    assert "jusqu&#39;à 5,5 km" in preview or "jusqu'à 5.5 km" in preview or "5.5 km" in preview
    db.session.expire_all()
    assert db.session.get(Shop, shop.id).tagline == ""
    assert not any(db.session.get(type(p), p.id).merchant_pick for p in products)


def test_pending_shop_staff_see_the_preview(client, team):
    shop, owner, _member, _products = team
    shop.status = shop.status.PENDING
    shop.story = "Notre belle histoire"
    db.session.commit()
    login(client, owner.email, DEFAULT_PASSWORD)
    page = client.get(f"/boutique/{shop.id}/page")
    assert "Aperçu de la page publique" in page.text
    assert "Notre belle histoire" in page.text.split('id="apercu"', 1)[1]


def test_check_hours_rules():
    days = [dict.fromkeys(("open1", "close1", "open2", "close2")) for _ in range(7)]
    days[4] = {"open1": "14:00", "close1": "19:00", "open2": "09:00", "close2": "12:00"}
    periods = check_hours(days)
    assert [(p.opens_at, p.closes_at) for p in periods] == [
        (time(9), time(12)),
        (time(14), time(19)),
    ]
    days[4] = {"open1": "09:00", "close1": "12:00", "open2": "11:59", "close2": "13:00"}
    with pytest.raises(FieldError) as error:
        check_hours(days)
    assert set(error.value.errors) == {"hours-4-open2"}


def test_euros_to_cents():
    assert euros_to_cents("4,50") == 450
    assert euros_to_cents("4.5") == 450
    assert euros_to_cents("0") == 0
    assert euros_to_cents("") is None
    with pytest.raises(ValueError):
        euros_to_cents("4,505")
    with pytest.raises(ValueError):
        euros_to_cents("NaN")


# Closures ---------------------------------------------------------------------------


def post_closure(client, shop, **data):
    page = f"/boutique/{shop.id}/page"
    return client.post(
        f"/boutique/{shop.id}/fermetures", data={**data, "csrf_token": csrf_token(client, page)}
    )


def test_add_and_remove_a_closure(client, team):
    shop, _owner, member, _products = team
    login(client, member.email, DEFAULT_PASSWORD)
    today = utcnow().astimezone(PARIS).date()
    start, end = today + timedelta(days=10), today + timedelta(days=20)
    response = post_closure(
        client, shop, starts_on=start.isoformat(), ends_on=end.isoformat(), reason="Congés"
    )
    assert response.status_code == 302
    closure = db.session.scalars(select(Closure).where(Closure.shop_id == shop.id)).one()
    assert (closure.starts_on, closure.ends_on, closure.reason) == (start, end, "Congés")
    assert "Congés" in client.get(f"/boutique/{shop.id}/page").text

    page = f"/boutique/{shop.id}/page"
    response = client.post(
        f"/boutique/{shop.id}/fermetures/{closure.id}/supprimer",
        data={"csrf_token": csrf_token(client, page)},
    )
    assert response.status_code == 302
    assert db.session.scalars(select(Closure).where(Closure.shop_id == shop.id)).all() == []


@pytest.mark.parametrize(
    ("start", "end", "field", "expected"),
    [(-1, 3, "starts_on", "aujourd"), (5, 4, "ends_on", "après"), (None, 4, "starts_on", "")],
)
def test_bad_closures_are_refused(client, team, start, end, field, expected):
    shop, owner, _member, _products = team
    login(client, owner.email, DEFAULT_PASSWORD)
    today = utcnow().astimezone(PARIS).date()
    response = post_closure(
        client,
        shop,
        starts_on=(today + timedelta(days=start)).isoformat() if start is not None else "",
        ends_on=(today + timedelta(days=end)).isoformat(),
    )
    assert response.status_code == 422
    assert expected in field_error(response.text, field)
    assert db.session.scalars(select(Closure).where(Closure.shop_id == shop.id)).all() == []


def test_closure_of_another_shop_cannot_be_removed(client, team):
    shop, owner, _member, _products = team
    other = ShopFactory()
    today = utcnow().astimezone(PARIS).date()
    closure = Closure(shop_id=other.id, starts_on=today, ends_on=today)
    db.session.add(closure)
    db.session.commit()
    login(client, owner.email, DEFAULT_PASSWORD)
    page = f"/boutique/{shop.id}/page"
    token = csrf_token(client, page)
    client.post(
        f"/boutique/{shop.id}/fermetures/{closure.id}/supprimer", data={"csrf_token": token}
    )
    response = client.post(
        f"/boutique/{other.id}/fermetures/{closure.id}/supprimer", data={"csrf_token": token}
    )
    assert response.status_code == 404
    assert db.session.get(Closure, closure.id) is not None


# Payout details -------------------------------------------------------------------------


def post_payout(client, shop, **data):
    path = f"/boutique/{shop.id}/versements"
    return client.post(path, data={**data, "csrf_token": csrf_token(client, path)})


def test_owner_sets_the_iban_shown_masked(client, team):
    shop, owner, _member, _products = team
    login(client, owner.email, DEFAULT_PASSWORD)
    response = post_payout(client, shop, iban=GOOD_IBAN.lower(), iban_holder="Fromagerie Sévère")
    assert response.status_code == 302, main_text(response.text)
    db.session.refresh(shop)
    assert shop.iban == "FR1420041010050500013M02606"
    assert shop.iban_holder == "Fromagerie Severe"
    page = client.get(f"/boutique/{shop.id}/versements").text
    assert mask_iban(shop.iban) in page
    assert mask_iban(shop.iban).endswith("2606") and "FR14" not in mask_iban(shop.iban)
    for leak in ("FR1420041010050500013M02606", "FR14 2004", "20041010050500013"):
        assert leak not in page


@pytest.mark.parametrize(
    ("iban", "holder", "field", "expected"),
    [
        ("FR14 2004 1010 0505 0001 3M02 607", "Fromagerie", "iban", "IBAN non valide"),
        ("FR76 1234", "Fromagerie", "iban", "IBAN non valide"),
        ("not an iban", "Fromagerie", "iban", "IBAN non valide"),
        (GOOD_IBAN, "Fromagerie <script>", "iban_holder", "70 caractères"),
        (GOOD_IBAN, "x" * 71, "iban_holder", "70 caractères"),
    ],
)
def test_bad_payout_details_are_refused(client, team, iban, holder, field, expected):
    shop, owner, _member, _products = team
    login(client, owner.email, DEFAULT_PASSWORD)
    response = post_payout(client, shop, iban=iban, iban_holder=holder)
    assert response.status_code == 422
    assert expected in field_error(response.text, field)
    db.session.refresh(shop)
    assert shop.iban is None and shop.iban_holder is None


def test_staff_member_cannot_see_payout(client, team):
    shop, _owner, member, _products = team
    login(client, member.email, DEFAULT_PASSWORD)
    assert client.get(f"/boutique/{shop.id}/versements").status_code == 404
    token = csrf_token(client, f"/boutique/{shop.id}/page")
    response = client.post(
        f"/boutique/{shop.id}/versements",
        data={"iban": GOOD_IBAN, "iban_holder": "Moi", "csrf_token": token},
    )
    assert response.status_code == 404
    db.session.refresh(shop)
    assert shop.iban is None


def test_stripe_connect_button_only_when_configured(client, team, app):
    shop, owner, _member, _products = team
    login(client, owner.email, DEFAULT_PASSWORD)
    path = f"/boutique/{shop.id}/versements"
    assert "stripe-connect" not in client.get(path).text
    response = client.post(
        f"{path}/stripe-connect",
        data={"csrf_token": csrf_token(client, path)},
        follow_redirects=True,
    )
    assert "Stripe Connect n&#39;est pas configuré" in response.text or (
        "Stripe Connect n'est pas configuré" in response.text
    )
    app.config["STRIPE_CONNECT_ENABLED"] = True
    try:
        assert "stripe-connect" in client.get(path).text
    finally:
        app.config.pop("STRIPE_CONNECT_ENABLED")


# Nothing leaks across shops ---------------------------------------------------------

SHOP_PAGES = [
    ("GET", "/boutique/{id}/page"),
    ("POST", "/boutique/{id}/page"),
    ("POST", "/boutique/{id}/fermetures"),
    ("POST", "/boutique/{id}/fermetures/1/supprimer"),
    ("GET", "/boutique/{id}/versements"),
    ("POST", "/boutique/{id}/versements"),
    ("POST", "/boutique/{id}/versements/stripe-connect"),
    ("GET", "/boutique/{id}/emplacement"),
    ("POST", "/boutique/{id}/emplacement"),
    ("GET", "/boutique/{id}/equipe"),
    ("POST", "/boutique/{id}/equipe/inviter"),
    ("POST", "/boutique/{id}/equipe/1/retirer"),
]


def test_another_shops_staff_get_404_and_residents_403(client, team):
    shop, _owner, _member, _products = team
    shop.iban, shop.iban_holder, shop.story = "FR1420041010050500013M02606", "Secret", "Secret"
    outsider = UserFactory(roles=[Role.MERCHANT])
    add_staff(ShopFactory(), outsider, StaffRole.OWNER)
    resident = UserFactory(roles=[Role.RESIDENT])
    db.session.commit()
    for user, expected in ((outsider, 404), (resident, 403)):
        login(client, user.email, DEFAULT_PASSWORD)
        token = csrf_token(client, "/compte/")
        for method, template in SHOP_PAGES:
            url = template.format(id=shop.id)
            data = {
                "csrf_token": token,
                "iban": GOOD_IBAN,
                "iban_holder": "X",
                "latitude": "44.5",
                "longitude": "0.16",
                "email": "x@example.org",
            }
            response = client.open(url, method=method, data=data if method == "POST" else None)
            assert response.status_code == expected, (user.email, method, url)
            assert "Secret" not in response.text
        client.post("/compte/deconnexion", data={"csrf_token": token})
    db.session.refresh(shop)
    assert shop.iban == "FR1420041010050500013M02606"
