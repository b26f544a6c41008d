"""The Cityzens' JSON API: my recommendations and my wallet, bearer token only,
good and bad input in the one error shape."""

from __future__ import annotations

from ambassadors import operations as cz
from marketplace.api_auth import create_token
from marketplace.extensions import db
from merchants.models import ProductStatus
from tests.ambassadors.conftest import fulfil, later, pay, place
from tests.factories import VariantFactory

URL = "/api/v1/cityzen/recommendations"


def _auth(user) -> dict[str, str]:
    _, token = create_token(user, "test")
    db.session.commit()
    return {"Authorization": f"Bearer {token}"}


def _post(client, headers, **body):
    return client.post(URL, json=body, headers=headers)


def _error(response, status: int) -> dict:
    assert response.status_code == status, response.json
    body = response.json
    assert body["status"] and body.get("message") and body["code"] == status
    return body


def test_token_is_required(client, app, world):
    _error(client.get(URL), 401)
    _error(client.get("/api/v1/me/wallet"), 401)


def test_list_and_create_recommendations(client, app, world):
    headers = _auth(world["alice"])
    listed = client.get(URL, headers=headers).json
    assert [(r["product_name"], r["code"]) for r in listed] == [("Roman", world["rec_alice"].code)]
    assert listed[0]["share_url"].endswith(f"/r/{world['rec_alice'].code}")
    pen = world["pen"].product
    response = client.post(
        URL, json={"product_id": pen.id, "comment": "Glisse bien."}, headers=headers
    )
    assert response.status_code == 201, response.json
    assert response.json["product_id"] == pen.id and not response.json["withdrawn"]
    # Again: the same recommendation, its comment replaced.
    again = client.post(
        URL, json={"product_id": pen.id, "comment": "Glisse très bien."}, headers=headers
    )
    assert again.json["id"] == response.json["id"] and again.json["comment"] == "Glisse très bien."
    assert len(client.get(URL, headers=headers).json) == 2


def test_bad_recommendation_input(client, app, world):
    headers = _auth(world["alice"])
    pen = world["pen"].product
    body = _error(_post(client, headers, product_id=pen.id, comment="x" * 281), 422)
    assert "comment" in body["errors"]["json"]
    body = _error(_post(client, headers, comment="Bien"), 422)
    assert "product_id" in body["errors"]["json"]
    _error(_post(client, headers, product_id=999999, comment="Bien"), 404)
    draft = VariantFactory(product__shop=world["shop"], product__status=ProductStatus.DRAFT).product
    db.session.commit()
    _error(_post(client, headers, product_id=draft.id, comment="Bien"), 404)
    assert cz.recommendation_for(world["rec_alice"].cityzen, draft.id) is None


def test_not_a_cityzen_cannot_recommend(client, app, world):
    headers = _auth(world["buyer"])
    assert client.get(URL, headers=headers).json == []
    pen = world["pen"].product
    _error(_post(client, headers, product_id=pen.id, comment="Bien"), 403)


def test_my_wallet(client, app, world):
    cz.record_click(world["rec_alice"].code, "b1", None)
    order = place(app, world["buyer"], [(world["book"], 2)], visitor="b1")
    pay(order)
    fulfil(order.sub_orders[0])
    cz.credit_due_rewards(later(15))
    db.session.commit()
    body = client.get("/api/v1/me/wallet", headers=_auth(world["alice"])).json
    assert body["credit_cents"] == 119
    assert [(m["kind"], m["amount_cents"]) for m in body["movements"]] == [("reward", 119)]
    other = client.get("/api/v1/me/wallet", headers=_auth(world["bob"])).json
    assert other == {"credit_cents": 0, "movements": []}


def test_my_recommendations_in_a_fixed_number_of_queries(client, app, world, count_queries):
    headers = _auth(world["alice"])
    alice_cz = world["rec_alice"].cityzen

    def queries() -> int:
        with count_queries() as counter:
            assert client.get(URL, headers=headers).status_code == 200
        return counter.count

    queries()  # the first request of a token records its first use
    few = queries()
    for _ in range(4):
        product = VariantFactory(product__shop=world["shop"]).product
        cz.recommend(alice_cz, product.id, "Bien.")
    db.session.commit()
    assert len(client.get(URL, headers=headers).json) == 5
    assert queries() == few
