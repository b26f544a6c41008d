"""The collectivité's moderation of the Cityzens' public recommendations: the latest
ones, each with a form to hide it (with a reason the Cityzen sees) or restore it.

Routes added to the admin blueprint (views.bp), staff only, POST + CSRF."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from ambassadors import operations as cityzen_ops
from ambassadors.forms import HideRecommendationForm
from ambassadors.models import HIDDEN_REASON_MAX
from marketplace.extensions import db
from marketplace.models import Role
from marketplace.operations import FieldError
from marketplace.security import role_required

from .views import bp

# ?filtre= on the page: which recommendations it lists.
FILTERS = {"masquees": True, "visibles": False}


def _list_args() -> dict[str, Any]:
    """The page's filter and page number, kept from the list to its forms and back."""
    args: dict[str, Any] = {}
    if request.args.get("filtre") in FILTERS:
        args["filtre"] = request.args["filtre"]
    page = request.args.get("page", type=int)
    if page is not None and page > 1:
        args["page"] = page
    return args


def _page(
    form: HideRecommendationForm | None = None, failed_id: int | None = None, status: int = 200
) -> tuple[str, int]:
    args = _list_args()
    listing = cityzen_ops.latest_recommendations(
        page=int(args.get("page", 1)), hidden=FILTERS.get(str(args.get("filtre")))
    )
    return (
        render_template(
            "admin/recommendations.html",
            listing=listing,
            args=args,
            hide_form=form or HideRecommendationForm(formdata=None),
            failed_id=failed_id,
            reason_max=HIDDEN_REASON_MAX,
        ),
        status,
    )


@bp.get("/recommandations")
@role_required(Role.STAFF)
def recommendations() -> tuple[str, int]:
    """The latest recommendations of the Cityzens, to hide or restore."""
    return _page()


@bp.post("/recommandations/<int:recommendation_id>/masquer")
@role_required(Role.STAFF)
def hide_recommendation(recommendation_id: int) -> Response | tuple[str, int]:
    """Hide a recommendation: its link gives a 404 and earns nothing; the Cityzen
    sees the reason."""
    form = HideRecommendationForm()
    if not form.validate_on_submit():
        return _page(form, recommendation_id, status=400)
    try:
        cityzen_ops.hide(recommendation_id, current_user._get_current_object(), form.reason.data)
    except cityzen_ops.NotFound:
        abort(404)
    except FieldError as error:
        db.session.rollback()
        form.reason.errors = [*form.reason.errors, *error.errors.values()]
        return _page(form, recommendation_id, status=422)
    db.session.commit()
    flash(_("Recommandation masquée : son lien ne fonctionne plus."), "success")
    return redirect(url_for("admin.recommendations", **_list_args()))


@bp.post("/recommandations/<int:recommendation_id>/retablir")
@role_required(Role.STAFF)
def restore_recommendation(recommendation_id: int) -> Response:
    """Show a hidden recommendation again."""
    try:
        cityzen_ops.restore(recommendation_id)
    except cityzen_ops.NotFound:
        abort(404)
    db.session.commit()
    flash(_("Recommandation rétablie : son lien fonctionne à nouveau."), "success")
    return redirect(url_for("admin.recommendations", **_list_args()))
