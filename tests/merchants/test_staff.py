"""A shop's team: the owner invites by e-mail (signed single-use link), the invitee
signs up or logs in and joins as staff; listing, removal, never the last owner."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from marketplace.extensions import db
from marketplace.models import MailOutbox, Role, User, utcnow
from merchants.models import ShopStaff, StaffRole
from merchants.models.onboarding import StaffInvitation
from tests.factories import DEFAULT_PASSWORD, ShopFactory, UserFactory, add_staff
from tests.helpers import csrf_token, login, main_text

INVITEE = "vendeuse@example.org"


@pytest.fixture
def shop_and_owner(app):
    shop = ShopFactory(name="Fromagerie Fabre")
    owner = UserFactory(roles=[Role.MERCHANT], first_name="Lucie", last_name="Fabre")
    add_staff(shop, owner, StaffRole.OWNER)
    db.session.commit()
    return shop, owner


def logout(client) -> None:
    client.post("/compte/deconnexion", data={"csrf_token": csrf_token(client, "/compte/connexion")})


def send_invitation(client, shop, owner, email: str = INVITEE) -> str:
    """Invite through the team page; return the link path read from the mail."""
    login(client, owner.email, DEFAULT_PASSWORD)
    page = f"/boutique/{shop.id}/equipe"
    response = client.post(
        f"/boutique/{shop.id}/equipe/inviter",
        data={"email": email, "csrf_token": csrf_token(client, page)},
    )
    assert response.status_code == 302, main_text(response.text)
    logout(client)
    mail = db.session.scalars(
        select(MailOutbox).where(MailOutbox.to == email).order_by(MailOutbox.created_at.desc())
    ).first()
    assert mail is not None and "Fromagerie Fabre" in mail.subject
    match = re.search(r"http://comptoir\.test(/boutique/equipe/rejoindre/\S+)", mail.body_text)
    assert match, mail.body_text
    return match.group(1)


def membership(shop, user) -> ShopStaff | None:
    db.session.expire_all()
    return db.session.get(ShopStaff, (shop.id, user.id))


def test_new_person_signs_up_and_joins_as_staff(client, shop_and_owner):
    shop, owner = shop_and_owner
    link = send_invitation(client, shop, owner)

    page = client.get(link)
    assert page.status_code == 200
    assert INVITEE in page.text
    signup = re.search(r'href="(/compte/inscription\?next=[^"]+)"', page.text)
    assert signup, main_text(page.text)
    signup_path = signup.group(1).replace("&amp;", "&")
    response = client.post(
        signup_path,
        data={
            "first_name": "Emma",
            "last_name": "Petit",
            "email": INVITEE,
            "password": DEFAULT_PASSWORD,
            "confirm": DEFAULT_PASSWORD,
            "accept_terms": "y",
            "csrf_token": csrf_token(client, signup_path),
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"] == link  # back to the invitation

    confirm = client.get(link)
    assert "Rejoindre l&#39;équipe" in confirm.text or "Rejoindre l'équipe" in confirm.text
    response = client.post(link, data={"csrf_token": csrf_token(client, link)})
    assert response.status_code == 302
    user = db.session.scalars(select(User).where(User.email == INVITEE)).one()
    assert membership(shop, user).role is StaffRole.STAFF
    assert db.session.get(User, user.id).has_role(Role.MERCHANT)
    assert client.get("/boutique/").status_code == 200
    assert client.get(f"/boutique/{shop.id}/page").status_code == 200
    assert client.get(f"/boutique/{shop.id}/equipe").status_code == 404  # owners only

    # Single use: the same link is refused now.
    assert client.get(link).status_code == 404
    assert client.post(link, data={"csrf_token": csrf_token(client, "/compte/")}).status_code == 404


def test_existing_account_logs_in_and_joins(client, shop_and_owner):
    shop, owner = shop_and_owner
    invitee = UserFactory(email=INVITEE)
    db.session.commit()
    link = send_invitation(client, shop, owner)
    login(client, INVITEE, DEFAULT_PASSWORD)
    response = client.post(link, data={"csrf_token": csrf_token(client, link)})
    assert response.status_code == 302
    assert membership(shop, invitee).role is StaffRole.STAFF


def test_expired_invitation_is_refused(client, shop_and_owner):
    shop, owner = shop_and_owner
    invitee = UserFactory(email=INVITEE)
    db.session.commit()
    link = send_invitation(client, shop, owner)
    invitation = db.session.scalars(select(StaffInvitation)).one()
    invitation.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert client.get(link).status_code == 404
    login(client, INVITEE, DEFAULT_PASSWORD)
    response = client.post(link, data={"csrf_token": csrf_token(client, "/compte/")})
    assert response.status_code == 404
    assert "plus valable" in response.text
    assert membership(shop, invitee) is None


def test_tampered_token_is_refused(client, shop_and_owner):
    shop, owner = shop_and_owner
    invitee = UserFactory(email=INVITEE)
    db.session.commit()
    link = send_invitation(client, shop, owner)
    forged = link[:-3] + ("aaa" if not link.endswith("aaa") else "bbb")
    login(client, INVITEE, DEFAULT_PASSWORD)
    assert (
        client.post(forged, data={"csrf_token": csrf_token(client, "/compte/")}).status_code == 404
    )
    assert membership(shop, invitee) is None


def test_invitation_for_someone_else_is_refused(client, shop_and_owner):
    shop, owner = shop_and_owner
    intruder = UserFactory(roles=[Role.RESIDENT])
    db.session.commit()
    link = send_invitation(client, shop, owner)
    login(client, intruder.email, DEFAULT_PASSWORD)
    assert "connectez-vous avec le compte" in client.get(link).text
    response = client.post(link, data={"csrf_token": csrf_token(client, link)})
    assert response.status_code == 302
    assert membership(shop, intruder) is None
    assert db.session.scalars(select(StaffInvitation)).one().accepted_at is None


def test_join_requires_login(client, shop_and_owner):
    shop, owner = shop_and_owner
    link = send_invitation(client, shop, owner)
    response = client.post(link, data={"csrf_token": csrf_token(client, link)})
    assert response.status_code == 302
    assert "/compte/connexion" in response.headers["Location"]


def test_inviting_a_current_member_is_refused(client, shop_and_owner):
    shop, owner = shop_and_owner
    login(client, owner.email, DEFAULT_PASSWORD)
    page = f"/boutique/{shop.id}/equipe"
    response = client.post(
        f"/boutique/{shop.id}/equipe/inviter",
        data={"email": owner.email, "csrf_token": csrf_token(client, page)},
    )
    assert response.status_code == 422
    assert "déjà partie de l&#39;équipe" in response.text or "déjà partie" in response.text
    assert db.session.scalars(select(StaffInvitation)).all() == []


def test_owner_lists_and_removes_staff(client, shop_and_owner):
    shop, owner = shop_and_owner
    member = UserFactory(roles=[Role.MERCHANT], email="emma@example.org")
    add_staff(shop, member, StaffRole.STAFF)
    db.session.commit()
    login(client, owner.email, DEFAULT_PASSWORD)
    page = f"/boutique/{shop.id}/equipe"
    listing = client.get(page)
    assert "emma@example.org" in listing.text and owner.email in listing.text
    response = client.post(
        f"/boutique/{shop.id}/equipe/{member.id}/retirer",
        data={"csrf_token": csrf_token(client, page)},
    )
    assert response.status_code == 302
    assert membership(shop, member) is None
    # No shop left: no longer a merchant.
    assert not db.session.get(User, member.id).has_role(Role.MERCHANT)


def test_last_owner_cannot_be_removed(client, shop_and_owner):
    shop, owner = shop_and_owner
    login(client, owner.email, DEFAULT_PASSWORD)
    page = f"/boutique/{shop.id}/equipe"
    response = client.post(
        f"/boutique/{shop.id}/equipe/{owner.id}/retirer",
        data={"csrf_token": csrf_token(client, page)},
        follow_redirects=True,
    )
    assert "au moins un propriétaire" in response.text
    assert membership(shop, owner).role is StaffRole.OWNER


def test_an_owner_may_leave_when_another_owner_stays(client, shop_and_owner):
    shop, owner = shop_and_owner
    second = UserFactory(roles=[Role.MERCHANT])
    add_staff(shop, second, StaffRole.OWNER)
    db.session.commit()
    login(client, owner.email, DEFAULT_PASSWORD)
    page = f"/boutique/{shop.id}/equipe"
    response = client.post(
        f"/boutique/{shop.id}/equipe/{owner.id}/retirer",
        data={"csrf_token": csrf_token(client, page)},
    )
    assert response.status_code == 302 and response.headers["Location"].endswith("/boutique/")
    assert membership(shop, owner) is None
    assert membership(shop, second).role is StaffRole.OWNER


def test_staff_member_cannot_manage_the_team(client, shop_and_owner):
    shop, owner = shop_and_owner
    member = UserFactory(roles=[Role.MERCHANT])
    add_staff(shop, member, StaffRole.STAFF)
    db.session.commit()
    login(client, member.email, DEFAULT_PASSWORD)
    token = csrf_token(client, "/compte/")
    assert client.get(f"/boutique/{shop.id}/equipe").status_code == 404
    assert (
        client.post(
            f"/boutique/{shop.id}/equipe/{owner.id}/retirer", data={"csrf_token": token}
        ).status_code
        == 404
    )
    response = client.post(
        f"/boutique/{shop.id}/equipe/inviter",
        data={"email": "x@example.org", "csrf_token": token},
    )
    assert response.status_code == 404
    assert membership(shop, owner) is not None


def test_owner_of_another_shop_cannot_remove_or_invite(client, shop_and_owner):
    shop, owner = shop_and_owner
    other_owner = UserFactory(roles=[Role.MERCHANT])
    add_staff(ShopFactory(), other_owner, StaffRole.OWNER)
    db.session.commit()
    login(client, other_owner.email, DEFAULT_PASSWORD)
    token = csrf_token(client, "/compte/")
    response = client.post(
        f"/boutique/{shop.id}/equipe/{owner.id}/retirer", data={"csrf_token": token}
    )
    assert response.status_code == 404
    assert owner.email not in response.text
    assert membership(shop, owner) is not None
