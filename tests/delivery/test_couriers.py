"""Courier accounts: a signed-in user asks, the collectivité approves or refuses,
the courier switches availability and gives a position; gating of the pages."""

from __future__ import annotations

from sqlalchemy import select

from delivery.models import Courier, CourierStatus, Vehicle
from delivery.operations import couriers
from marketplace.extensions import db
from marketplace.models import Role, User
from tests.factories import DEFAULT_PASSWORD, CommuneFactory, UserFactory
from tests.helpers import csrf_token, form_post, login, main_text

SIGNUP = "/livreur/inscription"
ADMIN = "/collectivite/livreurs/"


def _courier_of(user: User) -> Courier | None:
    db.session.expire_all()
    return db.session.scalar(select(Courier).where(Courier.user_id == user.id))


def test_signup_then_approval_gives_the_role(app, client):
    commune = CommuneFactory()
    resident = UserFactory(roles=[Role.RESIDENT])
    staff = UserFactory(roles=[Role.STAFF])
    db.session.commit()
    login(client, resident.email, DEFAULT_PASSWORD)
    assert client.get("/livreur/").status_code == 403
    response = form_post(
        client,
        SIGNUP,
        SIGNUP,
        {"vehicle": "cargo_bike", "capacity_kg": "80", "phone": "06 12 34 56 78"},
    )
    assert response.status_code == 302
    courier = _courier_of(resident)
    assert courier is not None and courier.status is CourierStatus.PENDING
    assert courier.vehicle is Vehicle.CARGO_BIKE and courier.capacity_kg == 80
    assert courier.territory_id == commune.territory_id
    assert "attend la validation" in client.get(SIGNUP).text

    staff_client = app.test_client()
    login(staff_client, staff.email, DEFAULT_PASSWORD)
    page = staff_client.get(ADMIN)
    assert page.status_code == 200 and f"courier-{courier.id}" in page.text
    answer = form_post(
        staff_client, ADMIN, f"{ADMIN}{courier.id}/decision", {"decision": "approve"}
    )
    assert answer.status_code == 302
    courier = _courier_of(resident)
    assert courier.status is CourierStatus.APPROVED and courier.decided_by_id == staff.id
    assert db.session.get(User, resident.id).has_role(Role.COURIER)
    home = client.get("/livreur/")
    assert home.status_code == 200 and "Me rendre disponible" in home.text


def test_signup_refuses_bad_input(app, client):
    CommuneFactory()
    resident = UserFactory(roles=[Role.RESIDENT])
    db.session.commit()
    login(client, resident.email, DEFAULT_PASSWORD)
    for data, message in [
        ({"vehicle": "rocket", "capacity_kg": "10", "phone": "0612345678"}, "moyen de transport"),
        ({"vehicle": "bike", "capacity_kg": "dix", "phone": "0612345678"}, "nombre entier"),
        ({"vehicle": "bike", "capacity_kg": "0", "phone": "0612345678"}, "de 1 à"),
        ({"vehicle": "bike", "capacity_kg": "10", "phone": "abc"}, "téléphone"),
    ]:
        response = form_post(client, SIGNUP, SIGNUP, data)
        assert response.status_code == 400
        assert message in main_text(response.text)
    assert _courier_of(resident) is None


def test_refusal_and_anonymous(app, client):
    commune = CommuneFactory()
    user = UserFactory(roles=[Role.RESIDENT])
    staff = UserFactory(roles=[Role.STAFF])
    courier = couriers.sign_up(user, commune.territory, "foot", 5, "0612345678")
    couriers.decide(courier, staff, approve=False)
    db.session.commit()
    assert courier.status is CourierStatus.REFUSED and not user.has_role(Role.COURIER)
    anonymous = client.get(SIGNUP)
    assert anonymous.status_code == 302 and "/compte/connexion" in anonymous.location
    login(client, user.email, DEFAULT_PASSWORD)
    assert client.get(ADMIN).status_code == 403
    assert "refusée" in client.get(SIGNUP).text
    # Sending again puts the request back in the queue.
    form_post(
        client, SIGNUP, SIGNUP, {"vehicle": "bike", "capacity_kg": "15", "phone": "0612345678"}
    )
    assert _courier_of(user).status is CourierStatus.PENDING


def test_availability_and_position(app, client):
    commune = CommuneFactory()
    user = UserFactory(roles=[Role.RESIDENT])
    staff = UserFactory(roles=[Role.STAFF])
    courier = couriers.sign_up(user, commune.territory, "bike", 10, "0612345678")
    couriers.decide(courier, staff, approve=True)
    db.session.commit()
    login(client, user.email, DEFAULT_PASSWORD)
    form_post(client, "/livreur/", "/livreur/disponibilite", {"available": "1"})
    assert _courier_of(user).available is True
    form_post(client, "/livreur/", "/livreur/position", {"lat": "44,4986", "lon": "0.1653"})
    courier = _courier_of(user)
    assert (courier.latitude, courier.longitude) == (44.4986, 0.1653)
    assert courier.position_at is not None
    response = form_post(client, "/livreur/", "/livreur/position", {"lat": "95", "lon": "0"})
    assert response.status_code == 302
    assert _courier_of(user).latitude == 44.4986
    form_post(client, "/livreur/", "/livreur/disponibilite", {"available": "0"})
    assert _courier_of(user).available is False


def test_job_amount_from_territory_settings(app):
    commune = CommuneFactory()
    territory = commune.territory
    assert couriers.job_cents(territory) == couriers.DEFAULT_JOB_CENTS
    territory.settings = {"delivery": {"courier_job_cents": 600}}
    assert couriers.job_cents(territory) == 600
    territory.settings = {"delivery": {"courier_job_cents": "beaucoup"}}
    assert couriers.job_cents(territory) == couriers.DEFAULT_JOB_CENTS


def test_staff_page_needs_staff(app, client):
    courier_user = UserFactory(roles=[Role.COURIER])
    db.session.commit()
    login(client, courier_user.email, DEFAULT_PASSWORD)
    assert client.get(ADMIN).status_code == 403
    assert client.get(ADMIN + "dispatch").status_code == 403
    token = csrf_token(client, SIGNUP)
    assert client.post(ADMIN + "1/decision", data={"csrf_token": token}).status_code == 403
