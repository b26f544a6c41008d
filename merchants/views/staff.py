"""The shop's team: the owner invites by e-mail, lists and removes staff; the invitee
joins from the mailed link after signing up or logging in."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from marketplace.extensions import db, limiter
from marketplace.models import Role
from marketplace.operations import FieldError
from marketplace.security import role_required

from ..forms import StaffInviteForm
from ..models import Shop
from ..operations import staff as team
from ..operations import staff_shop_ids
from .common import bp, staff_shop_or_404
from .onboarding import apply_errors

Page = str | Response | tuple[str, int]


def _team_page(shop: Shop, form: StaffInviteForm) -> str:
    return render_template(
        "merchants/staff.html",
        shop=shop,
        form=form,
        members=team.members(shop),
        invitations=team.pending_invitations(shop),
    )


@bp.get("/<int:shop_id>/equipe")
@role_required(Role.MERCHANT)
def staff(shop_id: int) -> str:
    """The shop's team and its pending invitations (owners only)."""
    shop = staff_shop_or_404(shop_id, owner_only=True)
    return _team_page(shop, StaffInviteForm())


@bp.post("/<int:shop_id>/equipe/inviter")
@role_required(Role.MERCHANT)
@limiter.limit("30/hour")
def invite_staff(shop_id: int) -> Page:
    """Mail someone a single-use link to join the team."""
    shop = staff_shop_or_404(shop_id, owner_only=True)
    form = StaffInviteForm()
    if form.validate_on_submit():
        try:
            team.invite(shop, current_user._get_current_object(), form.email.data or "")
        except FieldError as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            db.session.commit()
            flash(_("Invitation envoyée à %(email)s.", email=form.email.data), "success")
            return redirect(url_for("merchants.staff", shop_id=shop.id))
    return _team_page(shop, form), 422


@bp.post("/<int:shop_id>/equipe/<int:user_id>/retirer")
@role_required(Role.MERCHANT)
def remove_staff(shop_id: int, user_id: int) -> Response:
    """Remove someone from the team (never the last owner)."""
    shop = staff_shop_or_404(shop_id, owner_only=True)
    try:
        user = team.remove(shop, user_id, current_user._get_current_object())
    except team.StaffError as error:
        db.session.rollback()
        flash(str(error), "error")
    else:
        db.session.commit()
        flash(_("%(name)s ne fait plus partie de l'équipe.", name=user.display_name), "success")
    if shop.id not in staff_shop_ids(current_user):  # the owner left the shop
        return redirect(url_for("merchants.home"))
    return redirect(url_for("merchants.staff", shop_id=shop.id))


@bp.get("/equipe/rejoindre/<token>")
def staff_invitation(token: str) -> Page:
    """The invitation link: log in or sign up first, then confirm (POST) to join."""
    try:
        invitation = team.invitation_for_token(token)
    except team.InvalidInvitation:
        return render_template("merchants/staff_invitation_invalid.html"), 404
    return render_template(
        "merchants/staff_invitation.html",
        invitation=invitation,
        token=token,
        here=request.path,
    )


@bp.post("/equipe/rejoindre/<token>")
@login_required
def accept_staff_invitation(token: str) -> Page:
    """Join the shop the invitation is for, as staff."""
    try:
        membership = team.accept(token, current_user._get_current_object())
    except team.WrongAccount as error:
        db.session.rollback()
        flash(
            _(
                "Cette invitation a été envoyée à %(email)s : connectez-vous avec le compte "
                "de cette adresse pour rejoindre l'équipe.",
                email=error.email,
            ),
            "error",
        )
        return redirect(url_for("merchants.staff_invitation", token=token))
    except team.InvalidInvitation:
        db.session.rollback()
        return render_template("merchants/staff_invitation_invalid.html"), 404
    db.session.commit()
    shop = db.session.get(Shop, membership.shop_id)
    if shop is None:
        abort(404)
    flash(_("Vous faites maintenant partie de l'équipe de %(shop)s.", shop=shop.name), "success")
    return redirect(url_for("merchants.home"))
