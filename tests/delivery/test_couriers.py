"""Courier accounts: a signed-in user asks, the collectivité approves or refuses,
the courier switches availability and gives a position; gating of the pages."""

from __future__ import annotations

from sqlalchemy import select

from delivery.models import Courier, CourierStatus, JobStatus, Vehicle
from delivery.operations import couriers, jobs
from marketplace.extensions import db
from marketplace.models import Role, User
from tests.delivery.courier_helpers import approved_courier, ready_job
from tests.factories import DEFAULT_PASSWORD, CommuneFactory, UserFactory
from tests.helpers import csrf_token, form_post, login, main_text
from tests.shop.test_order_flow import two_shops  # noqa: F401 - fixture

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


def test_signup_territory_chosen_by_the_operation(app, client):
    """The account's own territory, else the platform's first; none: a form message."""
    resident = UserFactory(roles=[Role.RESIDENT])
    db.session.commit()
    login(client, resident.email, DEFAULT_PASSWORD)
    data = {"vehicle": "bike", "capacity_kg": "10", "phone": "0612345678"}
    response = form_post(client, SIGNUP, SIGNUP, data)
    assert response.status_code == 400
    assert "Aucun territoire" in main_text(response.text)
    assert _courier_of(resident) is None
    first = CommuneFactory().territory
    second = CommuneFactory().territory
    assert couriers.signup_territory(None).id == first.id
    user = UserFactory(roles=[Role.RESIDENT])
    courier = couriers.sign_up(user, "bike", 10, "0612345678", second)
    assert couriers.signup_territory(courier).id == second.id
    assert couriers.sign_up(user, "van", 300, "0612345678").territory_id == second.id
    db.session.commit()
    assert form_post(client, SIGNUP, SIGNUP, data).status_code == 302
    assert _courier_of(resident).territory_id == first.id


def test_refusal_and_anonymous(app, client):
    commune = CommuneFactory()
    user = UserFactory(roles=[Role.RESIDENT])
    staff = UserFactory(roles=[Role.STAFF])
    courier = couriers.sign_up(user, "foot", 5, "0612345678", commune.territory)
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
    courier = couriers.sign_up(user, "bike", 10, "0612345678", commune.territory)
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


def test_unknown_and_huge_job_ids_are_not_found_on_the_pages(app, client, two_shops):  # noqa: F811
    """The pages use the API's lookup (`jobs.held_job`): a number beyond PostgreSQL's
    integers is no job (404), never a 500; nor is another courier's job."""
    sub, job = ready_job(two_shops)
    mine, other = approved_courier(job.territory_id), approved_courier(job.territory_id)
    jobs.accept(job.id, mine)
    email, other_email = mine.user.email, other.user.email
    db.session.commit()
    login(client, email, DEFAULT_PASSWORD)
    huge = 2**40
    for action, data in [
        (f"/livreur/courses/{huge}/accepter", {}),
        (f"/livreur/courses/{huge}/retrait", {"code": sub.pickup_code}),
        (f"/livreur/courses/{huge}/livraison", {"code": "123456"}),
        (f"/livreur/courses/{huge}/echec", {"reason": "Client absent"}),
        ("/livreur/courses/999999/accepter", {}),
        ("/livreur/courses/999999/retrait", {"code": sub.pickup_code}),
    ]:
        assert form_post(client, "/livreur/", action, data).status_code == 404, action
    other_client = app.test_client()
    login(other_client, other_email, DEFAULT_PASSWORD)
    theirs = form_post(
        other_client, "/livreur/", f"/livreur/courses/{job.id}/retrait", {"code": sub.pickup_code}
    )
    assert theirs.status_code == 404
    db.session.expire_all()
    assert jobs.job_for_sub_order(sub.id).status is JobStatus.ACCEPTED
