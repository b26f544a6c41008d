"""The courier's JSON API: token of an approved courier, jobs near a point, accept
(409 for the second), pick up, deliver (422 on a wrong code), fail; in the OpenAPI
document."""

from __future__ import annotations

from delivery.models import JobStatus
from delivery.operations import jobs
from marketplace.api_auth import create_token
from marketplace.extensions import db
from marketplace.models import Role
from shop.models import SubOrderStatus
from tests.delivery.courier_helpers import approved_courier, ready_job
from tests.factories import UserFactory
from tests.shop.test_order_flow import two_shops  # noqa: F401 - fixture

API = "/api/v1/courier"


def _auth(user) -> dict[str, str]:
    _row, token = create_token(user, "app")
    return {"Authorization": f"Bearer {token}"}


def test_tokens_and_roles(app, client):
    assert client.get(f"{API}/jobs").status_code == 401
    resident = UserFactory(roles=[Role.RESIDENT])
    assert client.get(f"{API}/jobs", headers=_auth(resident)).status_code == 403
    role_only = UserFactory(roles=[Role.COURIER])  # the role, no approved account
    assert client.get(f"{API}/jobs", headers=_auth(role_only)).status_code == 403


def test_a_delivery_through_the_api(app, client, two_shops):  # noqa: F811
    sub, job = ready_job(two_shops)
    courier = approved_courier(job.territory_id)
    rival = approved_courier(job.territory_id)
    me, other = _auth(courier.user), _auth(rival.user)
    db.session.commit()
    listed = client.get(f"{API}/jobs?lat=44.5&lon=0.16", headers=me)
    assert listed.status_code == 200
    assert [row["job"]["id"] for row in listed.json] == [job.id]
    assert "delivery_code" not in listed.json[0]["job"]
    assert "pickup_code" not in listed.json[0]["job"]
    assert client.get(f"{API}/jobs?lat=95&lon=0", headers=me).status_code == 422
    assert client.post(f"{API}/jobs/{job.id}/accept", headers=me).status_code == 200
    taken = client.post(f"{API}/jobs/{job.id}/accept", headers=other)
    assert taken.status_code == 409
    assert client.post(f"{API}/jobs/999999/accept", headers=me).status_code == 404
    assert (
        client.post(f"{API}/jobs/{job.id}/pickup", json={"code": "x"}, headers=other).status_code
        == 404
    )
    wrong = client.post(f"{API}/jobs/{job.id}/pickup", json={"code": "x"}, headers=me)
    assert wrong.status_code == 422 and "code" in str(wrong.json["errors"])
    ok = client.post(f"{API}/jobs/{job.id}/pickup", json={"code": sub.pickup_code}, headers=me)
    assert ok.status_code == 200 and ok.json["status"] == "picked_up"
    early = client.post(f"{API}/jobs/{job.id}/pickup", json={"code": sub.pickup_code}, headers=me)
    assert early.status_code == 409
    mine = client.get(f"{API}/jobs/mine", headers=me)
    assert [j["id"] for j in mine.json] == [job.id]
    done = client.post(f"{API}/jobs/{job.id}/deliver", json={"code": job.delivery_code}, headers=me)
    assert done.status_code == 200 and done.json["status"] == "delivered"
    db.session.expire_all()
    assert jobs.job_for_sub_order(sub.id).status is JobStatus.DELIVERED
    assert db.session.get(type(sub), sub.id).status is SubOrderStatus.DELIVERED


def test_a_failure_through_the_api(app, client, two_shops):  # noqa: F811
    sub, job = ready_job(two_shops)
    courier = approved_courier(job.territory_id)
    me = _auth(courier.user)
    jobs.accept(job.id, courier)
    jobs.pick_up(job, courier, sub.pickup_code)
    db.session.commit()
    short = client.post(f"{API}/jobs/{job.id}/fail", json={"reason": "x"}, headers=me)
    assert short.status_code == 422
    failed = client.post(f"{API}/jobs/{job.id}/fail", json={"reason": "Client absent"}, headers=me)
    assert failed.status_code == 200 and failed.json["failure_reason"] == "Client absent"


def test_in_the_openapi_document(client):
    paths = client.get("/api/openapi.json").json["paths"]
    for path in ("/jobs", "/jobs/mine", "/jobs/{job_id}/accept", "/jobs/{job_id}/deliver"):
        assert f"{API}{path}" in paths


def test_unknown_and_huge_ids_are_not_found(app, client, two_shops):  # noqa: F811
    """One lookup (`jobs.held_job`) for the pages and the API: a number beyond
    PostgreSQL's integers is no job, never a 500."""
    sub, job = ready_job(two_shops)
    courier = approved_courier(job.territory_id)
    me = _auth(courier.user)
    jobs.accept(job.id, courier)
    db.session.commit()
    huge = 2**40
    for path, body in [
        (f"/jobs/{huge}/accept", None),
        (f"/jobs/{huge}/pickup", {"code": sub.pickup_code}),
        (f"/jobs/{huge}/deliver", {"code": "123456"}),
        (f"/jobs/{huge}/fail", {"reason": "Client absent"}),
        ("/jobs/999999/pickup", {"code": sub.pickup_code}),
    ]:
        answer = client.post(f"{API}{path}", json=body, headers=me)
        assert answer.status_code == 404, path
        assert answer.json["message"] == "Course introuvable."
    db.session.expire_all()
    assert jobs.job_for_sub_order(sub.id).status is JobStatus.ACCEPTED
