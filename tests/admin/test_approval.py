"""The collectivité approves or refuses pending shops (POST + CSRF, owner mailed) and
invites shops to join."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from marketplace.extensions import db
from marketplace.models import MailOutbox, Role
from merchants.models import ShopStatus, StaffRole
from merchants.models.onboarding import ShopInvitation
from tests.factories import DEFAULT_PASSWORD, ShopFactory, UserFactory, add_staff
from tests.helpers import csrf_token, login, main_text

PAGE = "/collectivite/boutiques"


@pytest.fixture
def pending(app):
    shop = ShopFactory(name="Le Fournil", status=ShopStatus.PENDING, approved_at=None)
    owner = UserFactory(roles=[Role.MERCHANT], email="fournil@example.org")
    add_staff(shop, owner, StaffRole.OWNER)
    agent = UserFactory(roles=[Role.STAFF])
    db.session.commit()
    return shop, owner, agent


def mails_to(email: str) -> list[MailOutbox]:
    return list(db.session.scalars(select(MailOutbox).where(MailOutbox.to == email)))


def test_staff_sees_pending_shops(client, pending):
    shop, owner, agent = pending
    ShopFactory(name="Déjà validée")  # approved: not listed
    db.session.commit()
    login(client, agent.email, DEFAULT_PASSWORD)
    page = client.get(PAGE)
    assert page.status_code == 200
    assert "Le Fournil" in page.text and owner.email in page.text and shop.siret in page.text
    assert "Déjà validée" not in page.text


@pytest.mark.parametrize("role", [Role.RESIDENT, Role.MERCHANT, Role.COURIER])
def test_only_collectivite_staff(client, pending, role):
    shop, _owner, _agent = pending
    user = UserFactory(roles=[role])
    db.session.commit()
    login(client, user.email, DEFAULT_PASSWORD)
    assert client.get(PAGE).status_code == 403
    token = csrf_token(client, "/compte/")
    response = client.post(f"{PAGE}/{shop.id}/valider", data={"csrf_token": token})
    assert response.status_code == 403
    db.session.refresh(shop)
    assert shop.status is ShopStatus.PENDING


def test_approve_needs_csrf(client, pending):
    shop, _owner, agent = pending
    login(client, agent.email, DEFAULT_PASSWORD)
    assert client.post(f"{PAGE}/{shop.id}/valider").status_code == 400
    db.session.refresh(shop)
    assert shop.status is ShopStatus.PENDING


def test_approve_makes_the_shop_visible_and_mails_the_owner(client, pending):
    shop, owner, agent = pending
    assert client.get(f"/boutiques/{shop.slug}").status_code == 404
    login(client, agent.email, DEFAULT_PASSWORD)
    response = client.post(
        f"{PAGE}/{shop.id}/valider", data={"csrf_token": csrf_token(client, PAGE)}
    )
    assert response.status_code == 302
    db.session.refresh(shop)
    assert shop.status is ShopStatus.APPROVED and shop.approved_at is not None
    (mail,) = mails_to(owner.email)
    assert "Le Fournil" in mail.subject and "validée" in mail.subject
    assert client.get(f"/boutiques/{shop.slug}").status_code == 200
    # Already handled: a second click changes nothing.
    again = client.post(
        f"{PAGE}/{shop.id}/valider",
        data={"csrf_token": csrf_token(client, PAGE)},
        follow_redirects=True,
    )
    assert "déjà été traitée" in again.text
    assert len(mails_to(owner.email)) == 1


def test_refuse_needs_a_reason(client, pending):
    shop, owner, agent = pending
    login(client, agent.email, DEFAULT_PASSWORD)
    response = client.post(
        f"{PAGE}/{shop.id}/refuser", data={"reason": "  ", "csrf_token": csrf_token(client, PAGE)}
    )
    assert response.status_code == 422
    assert re.search(rf'id="reason-{shop.id}-error">[^<]*motif', response.text)
    db.session.refresh(shop)
    assert shop.status is ShopStatus.PENDING
    assert mails_to(owner.email) == []


def test_refuse_with_reason_mails_it(client, pending):
    shop, owner, agent = pending
    login(client, agent.email, DEFAULT_PASSWORD)
    response = client.post(
        f"{PAGE}/{shop.id}/refuser",
        data={
            "reason": "Le SIRET correspond à un établissement fermé.",
            "csrf_token": csrf_token(client, PAGE),
        },
    )
    assert response.status_code == 302, main_text(response.text)
    db.session.refresh(shop)
    assert shop.status is ShopStatus.REFUSED and shop.approved_at is None
    assert shop.refusal_reason == "Le SIRET correspond à un établissement fermé."
    (mail,) = mails_to(owner.email)
    assert "établissement fermé" in mail.body_text
    assert client.get(f"/boutiques/{shop.slug}").status_code == 404


@pytest.mark.parametrize("action", ["valider", "refuser"])
def test_unknown_shop_is_404(client, pending, action):
    _shop, _owner, agent = pending
    login(client, agent.email, DEFAULT_PASSWORD)
    data = {"csrf_token": csrf_token(client, PAGE), "reason": "Dossier incomplet."}
    assert client.post(f"{PAGE}/999999/{action}", data=data).status_code == 404


def test_a_shop_approved_meanwhile_cannot_be_refused(client, pending):
    shop, _owner, agent = pending
    login(client, agent.email, DEFAULT_PASSWORD)
    data = {"csrf_token": csrf_token(client, PAGE), "reason": "Dossier incomplet."}
    assert client.post(f"{PAGE}/{shop.id}/valider", data=data).status_code == 302
    again = client.post(f"{PAGE}/{shop.id}/refuser", data=data, follow_redirects=True)
    assert "déjà été traitée" in again.text
    db.session.refresh(shop)
    assert shop.status is ShopStatus.APPROVED and shop.refusal_reason is None


def test_staff_invites_a_shop(client, pending):
    _shop, _owner, agent = pending
    login(client, agent.email, DEFAULT_PASSWORD)
    response = client.post(
        f"{PAGE}/invitations",
        data={
            "email": "Paulette@Example.org",
            "shop_name": "Chez Paulette",
            "csrf_token": csrf_token(client, PAGE),
        },
    )
    assert response.status_code == 302
    invitation = db.session.scalars(select(ShopInvitation)).one()
    assert invitation.email == "paulette@example.org" and invitation.accepted_at is None
    assert len(invitation.token_hash) == 64
    (mail,) = mails_to("paulette@example.org")
    link = re.search(
        r"http://comptoir\.test(/boutique/inscription\?invitation=\S+)", mail.body_text
    )
    assert link, mail.body_text
    token = link.group(1).split("=", 1)[1]
    assert token not in invitation.token_hash  # only its hash is stored
    assert "paulette@example.org" in client.get(PAGE).text
    # The link pre-fills the sign-up.
    client.post("/compte/deconnexion", data={"csrf_token": csrf_token(client, PAGE)})
    page = client.get(link.group(1))
    assert 'value="Chez Paulette"' in page.text and 'value="paulette@example.org"' in page.text


def test_invitation_with_bad_email_is_refused(client, pending):
    _shop, _owner, agent = pending
    login(client, agent.email, DEFAULT_PASSWORD)
    response = client.post(
        f"{PAGE}/invitations",
        data={"email": "pas-un-email", "csrf_token": csrf_token(client, PAGE)},
    )
    assert response.status_code == 422
    assert db.session.scalars(select(ShopInvitation)).all() == []
