"""Joining: the free shop sign-up (new or signed-in user), its checks, the pin, and
acceptance of the collectivité's invitation."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from sqlalchemy import func, select
from stdnum import luhn

from marketplace.extensions import db
from marketplace.models import MailOutbox, Role, User, utcnow
from merchants.models import Shop, ShopStaff, ShopStatus, StaffRole
from merchants.models.onboarding import ShopInvitation
from merchants.operations import onboarding
from tests.factories import (
    DEFAULT_PASSWORD,
    CommuneFactory,
    ShopFactory,
    TradeFactory,
    UserFactory,
    add_staff,
)
from tests.helpers import csrf_token, login, main_text, unique_email

SIGNUP = "/boutique/inscription"
_siret_seq = iter(range(10_000, 99_999))


def new_siret() -> str:
    """A valid SIRET nobody used yet in this run: a SIREN (Luhn over 9 digits) and an
    establishment number making the 14 digits Luhn-valid too."""
    siren = f"442{next(_siret_seq):05d}"
    siren += luhn.calc_check_digit(siren)
    body = siren + "0001"
    return body + luhn.calc_check_digit(body)


@pytest.fixture
def place(app):
    commune = CommuneFactory(
        name="Marmande", insee_code="47157", postcodes=["47200"], latitude=44.5, longitude=0.165
    )
    trade = TradeFactory(name_fr="Fromagerie", name_en="Cheese shop")
    db.session.commit()
    return commune, trade


def shop_fields(place, **overrides) -> dict[str, object]:
    commune, trade = place
    data: dict[str, object] = {
        "name": "La Fromagerie du Marché",
        "siret": new_siret(),
        "trade_id": trade.id,
        "street": "12 rue de la Paix",
        "postcode": "47200",
        "commune_id": commune.id,
        "phone": "05 53 00 00 00",
        "contact_email": "contact@fromagerie.example.org",
    }
    data.update(overrides)
    return data


def account_fields(**overrides) -> dict[str, object]:
    data: dict[str, object] = {
        "first_name": "Lucie",
        "last_name": "Fabre",
        "email": unique_email(),
        "password": DEFAULT_PASSWORD,
        "confirm": DEFAULT_PASSWORD,
        "accept_terms": "y",
    }
    data.update(overrides)
    return data


def post_signup(client, data, path=SIGNUP):
    return client.post(SIGNUP, data={**data, "csrf_token": csrf_token(client, path)})


def counts() -> tuple[int, int]:
    return (
        db.session.scalar(select(func.count(Shop.id))) or 0,
        db.session.scalar(select(func.count(User.id))) or 0,
    )


def field_error(html: str, field_id: str) -> str:
    match = re.search(rf'id="{re.escape(field_id)}-error">(.*?)</p>', html, re.S)
    assert match, f"no error next to {field_id}: {main_text(html)[:600]}"
    return unescape(match.group(1))


def test_signup_page_is_public(client, place):
    response = client.get(SIGNUP)
    assert response.status_code == 200
    assert "Numéro SIRET" in response.text
    assert 'name="password"' in response.text  # a visitor creates the account with it


def test_new_user_signs_up_a_shop_pending_approval(client, place):
    commune, _trade = place
    account = account_fields()
    response = post_signup(client, {**shop_fields(place), **account})
    assert response.status_code == 302, main_text(response.text)

    shop = db.session.scalars(select(Shop).where(Shop.name == "La Fromagerie du Marché")).one()
    user = db.session.scalars(select(User).where(User.email == account["email"])).one()
    assert shop.status is ShopStatus.PENDING and shop.approved_at is None
    assert shop.siret.isdigit() and len(shop.siret) == 14
    assert shop.phone == "0553000000"
    assert shop.email == "contact@fromagerie.example.org"
    assert shop.commune_id == commune.id
    membership = db.session.get(ShopStaff, (shop.id, user.id))
    assert membership is not None and membership.role is StaffRole.OWNER
    assert user.has_role(Role.MERCHANT) and user.has_role(Role.RESIDENT)
    # No geocoder in tests: the commune's point, and the merchant is told.
    assert (shop.latitude, shop.longitude) == (44.5, 0.165)
    page = client.get(response.headers["Location"])
    assert page.status_code == 200  # logged in, on the pin page of the new shop
    assert "approximative" in page.text
    assert 'name="latitude"' in page.text and 'type="number"' in page.text
    # Invisible to residents until approved.
    assert client.get(f"/boutiques/{shop.slug}").status_code == 404


def test_signed_in_resident_becomes_the_owner(client, place):
    user = UserFactory(roles=[Role.RESIDENT])
    db.session.commit()
    login(client, user.email, DEFAULT_PASSWORD)
    page = client.get(SIGNUP)
    assert 'name="password"' not in page.text  # no second account
    response = post_signup(client, shop_fields(place))
    assert response.status_code == 302, main_text(response.text)
    db.session.refresh(user)
    assert user.has_role(Role.MERCHANT)
    shop = db.session.scalars(select(Shop).where(Shop.name == "La Fromagerie du Marché")).one()
    assert db.session.get(ShopStaff, (shop.id, user.id)).role is StaffRole.OWNER
    assert client.get("/boutique/").status_code == 200


@pytest.mark.parametrize(
    ("override", "field", "expected"),
    [
        ({"siret": "73282932000075"}, "siret", "SIRET"),
        ({"siret": "1234"}, "siret", "SIRET"),
        ({"commune_id": "999999"}, "commune_id", "commune du territoire"),
        ({"commune_id": "Marmande"}, "commune_id", "commune du territoire"),
        ({"trade_id": ""}, "trade_id", "activité"),
        ({"postcode": "47400"}, "postcode", "Marmande"),
        ({"postcode": "472"}, "postcode", "Cinq chiffres"),
        ({"phone": "12"}, "phone", "téléphone"),
        ({"latitude": "48.85", "longitude": "2.35"}, "latitude", "km de Marmande"),
        ({"latitude": "44.5"}, "latitude", "longitude"),
    ],
)
def test_bad_input_is_named_next_to_its_field_and_nothing_is_saved(
    client, place, override, field, expected
):
    before = counts()
    response = post_signup(client, {**shop_fields(place, **override), **account_fields()})
    assert response.status_code == 422
    assert expected in field_error(response.text, field)
    assert counts() == before


def test_siret_already_registered(client, place):
    siret = new_siret()
    ShopFactory(siret=siret)
    db.session.commit()
    response = post_signup(client, {**shop_fields(place, siret=siret), **account_fields()})
    assert "déjà inscrite" in field_error(response.text, "siret")


def test_account_and_shop_errors_show_together(client, place):
    taken = UserFactory()
    db.session.commit()
    before = counts()
    response = post_signup(
        client, {**shop_fields(place, siret="1"), **account_fields(email=taken.email)}
    )
    assert "SIRET" in field_error(response.text, "siret")
    assert "existe déjà" in field_error(response.text, "email")
    assert counts() == before


def test_given_pin_is_kept(client, place):
    response = post_signup(
        client,
        {**shop_fields(place, latitude="44.5012", longitude="0.1667"), **account_fields()},
    )
    assert response.status_code == 302
    shop = db.session.scalars(select(Shop).where(Shop.name == "La Fromagerie du Marché")).one()
    assert (shop.latitude, shop.longitude) == (44.5012, 0.1667)
    assert "approximative" not in client.get(response.headers["Location"]).text


def test_slugs_stay_unique(client, place):
    ShopFactory(slug="la-fromagerie-du-marche")
    db.session.commit()
    post_signup(client, {**shop_fields(place), **account_fields()})
    shop = db.session.scalars(
        select(Shop).where(
            Shop.name == "La Fromagerie du Marché", Shop.status == ShopStatus.PENDING
        )
    ).one()
    assert shop.slug.startswith("la-fromagerie-du-marche-")


# Moving the pin -------------------------------------------------------------------


@pytest.fixture
def owned_shop(app, place):
    commune, trade = place
    owner = UserFactory(roles=[Role.MERCHANT])
    shop = ShopFactory(
        commune=commune, trade=trade, status=ShopStatus.PENDING, latitude=44.5, longitude=0.165
    )
    add_staff(shop, owner, StaffRole.OWNER)
    db.session.commit()
    return shop, owner


def test_staff_moves_the_pin(client, owned_shop):
    shop, owner = owned_shop
    login(client, owner.email, DEFAULT_PASSWORD)
    path = f"/boutique/{shop.id}/emplacement"
    page = client.get(path)
    assert "approximative" in page.text
    assert "vendor/leaflet/leaflet.js" in page.text  # the map enhances the inputs
    response = client.post(
        path,
        data={
            "latitude": "44.50123",
            "longitude": "0.16601",
            "csrf_token": csrf_token(client, path),
        },
    )
    assert response.status_code == 302
    db.session.refresh(shop)
    assert (shop.latitude, shop.longitude) == (44.50123, 0.16601)
    assert "approximative" not in client.get(path).text


def test_pin_far_from_the_commune_is_refused(client, owned_shop):
    shop, owner = owned_shop
    login(client, owner.email, DEFAULT_PASSWORD)
    path = f"/boutique/{shop.id}/emplacement"
    response = client.post(
        path, data={"latitude": "43.6", "longitude": "1.44", "csrf_token": csrf_token(client, path)}
    )
    assert "km de Marmande" in field_error(response.text, "latitude")
    db.session.refresh(shop)
    assert (shop.latitude, shop.longitude) == (44.5, 0.165)


def test_pin_page_of_another_shop_is_404_and_resident_403(client, owned_shop):
    shop, _owner = owned_shop
    other = UserFactory(roles=[Role.MERCHANT])
    add_staff(ShopFactory(), other)
    resident = UserFactory()
    db.session.commit()
    login(client, other.email, DEFAULT_PASSWORD)
    assert client.get(f"/boutique/{shop.id}/emplacement").status_code == 404
    token = csrf_token(client, "/compte/")
    response = client.post(
        f"/boutique/{shop.id}/emplacement",
        data={"latitude": "44.6", "longitude": "0.2", "csrf_token": token},
    )
    assert response.status_code == 404
    client.post("/compte/deconnexion", data={"csrf_token": token})
    login(client, resident.email, DEFAULT_PASSWORD)
    assert client.get(f"/boutique/{shop.id}/emplacement").status_code == 403


# The collectivité's invitation ---------------------------------------------------


def invite(email: str = "boutique@example.org", shop_name: str = "Chez Paulette") -> str:
    staff = UserFactory(roles=[Role.STAFF])
    _invitation, token = onboarding.create_shop_invitation(
        email=email, shop_name=shop_name, invited_by=staff
    )
    db.session.commit()
    return token


def test_invitation_link_prefills_and_is_accepted_once(client, place):
    token = invite()
    mail = db.session.scalars(
        select(MailOutbox).where(MailOutbox.to == "boutique@example.org")
    ).one()
    assert f"/boutique/inscription?invitation={token}" in mail.body_text

    path = f"{SIGNUP}?invitation={token}"
    page = client.get(path)
    assert 'value="Chez Paulette"' in page.text
    assert 'value="boutique@example.org"' in page.text
    data = {
        **shop_fields(place, name="Chez Paulette", contact_email="boutique@example.org"),
        **account_fields(email="boutique@example.org"),
        "invitation": token,
    }
    response = client.post(SIGNUP, data={**data, "csrf_token": csrf_token(client, path)})
    assert response.status_code == 302, main_text(response.text)
    invitation = db.session.scalars(select(ShopInvitation)).one()
    db.session.refresh(invitation)
    assert invitation.accepted_at is not None
    assert invitation.shop is not None and invitation.shop.name == "Chez Paulette"
    assert invitation.shop.status is ShopStatus.PENDING

    # Used: the link no longer pre-fills nor counts.
    client.post("/compte/deconnexion", data={"csrf_token": csrf_token(client, "/compte/")})
    again = client.get(path)
    assert "n'est plus valable" in again.text
    assert 'value="Chez Paulette"' not in again.text
    before = counts()
    response = client.post(
        SIGNUP,
        data={
            **shop_fields(place, name="Autre"),
            **account_fields(),
            "invitation": token,
            "csrf_token": csrf_token(client, SIGNUP),
        },
    )
    assert "n'est plus valable" in response.text
    assert counts() == before


def test_expired_invitation_is_refused(client, place):
    token = invite()
    invitation = db.session.scalars(select(ShopInvitation)).one()
    invitation.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    page = client.get(f"{SIGNUP}?invitation={token}")
    assert "n'est plus valable" in page.text
    assert 'value="Chez Paulette"' not in page.text
    assert onboarding.shop_invitation_for_token(token) is None
    assert onboarding.shop_invitation_for_token("not-a-token") is None
