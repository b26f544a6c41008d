"""The Cityzens' pages: becoming one, recommending a product, the dashboard (links,
sales, rewards, wallet) and the shared link /r/<code> that visitors follow.

None of them is in the page cache: they depend on who asks, and a shared link
records each visit."""

from __future__ import annotations

import secrets
from datetime import timedelta

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import format_percent
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from marketplace import ledger
from marketplace.extensions import db
from marketplace.models import User
from marketplace.operations import FieldError
from marketplace.views import safe_next
from merchants.models import Product

from . import operations as ops
from .forms import ActionForm, OptInForm, RecommendForm
from .models import COMMENT_MAX, DISPLAY_NAME_MAX, DISPLAY_NAME_MIN

bp = Blueprint(
    "ambassadors",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/cityzens-static",
)

Page = str | Response | tuple[str, int]


def _user() -> User:
    user: User = current_user._get_current_object()
    return user


def _show_errors(form: OptInForm | RecommendForm, error: FieldError) -> None:
    for name, message in error.errors.items():
        form[name].errors = [*form[name].errors, message]


@bp.route("/cityzens/", methods=["GET", "POST"])
def landing() -> Page:
    """ "Devenir Cityzen": the rules, and the opt-in form for a signed-in resident."""
    cityzen = ops.cityzen_of(current_user)
    next_url = safe_next(request.args.get("next"))
    form = OptInForm(display_name=cityzen.display_name if cityzen else None)
    if form.validate_on_submit():
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login", next=request.full_path))
        try:
            ops.opt_in(_user(), form.display_name.data or "", bool(form.accept_rules.data))
        except FieldError as error:
            _show_errors(form, error)
        else:
            db.session.commit()
            flash(_("Bienvenue parmi les Cityzens !"), "success")
            return redirect(next_url or url_for("ambassadors.dashboard"))
    status = 400 if form.errors else 200
    terms = ops.rules(None)
    rate = format_percent(terms.reward_rate_bp / 10_000, "#,##0.## %")
    return render_template(
        "ambassadors/landing.html",
        form=form,
        cityzen=cityzen,
        rules=terms,
        rate=rate,
        name_min=DISPLAY_NAME_MIN,
        name_max=DISPLAY_NAME_MAX,
    ), status


@bp.post("/cityzens/quitter")
@login_required
def opt_out() -> Response:
    if ActionForm().validate_on_submit():
        ops.opt_out(_user())
        db.session.commit()
        flash(_("Vous n'êtes plus Cityzen : vos liens ne rapportent plus rien."), "info")
    return redirect(url_for("ambassadors.dashboard"))


@bp.get("/cityzens/mon-credit")
@login_required
def dashboard() -> str:
    """The wallet of any resident; the links, sales and rewards of a Cityzen."""
    user = _user()
    cityzen = ops.cityzen_of(user)
    sales = ops.attributed_sales(user.id)
    return render_template(
        "ambassadors/dashboard.html",
        cityzen=cityzen,
        links=ops.link_stats(cityzen) if cityzen else [],
        sales=sales,
        totals=ops.reward_totals(sales),
        credit=ledger.wallet_credit(user.id),
        movements=ops.wallet_movements(user.id),
        action=ActionForm(),
        share_url=share_url,
    )


@bp.app_template_global("recommend_url")
def recommend_url(product_id: int) -> str:
    """Where the product page's "Recommander ce produit" leads: the shop's templates
    ask for it by this name, so they do not name a later domain's endpoint."""
    return url_for("ambassadors.recommend", product_id=product_id)


def share_url(code: str) -> str:
    return url_for("ambassadors.shared_link", code=code, _external=True)


def _product_or_404(product_id: int) -> Product:
    try:
        return ops.recommendable_product(product_id)
    except ops.NotFound:
        abort(404)


@bp.route("/cityzens/recommander/<int:product_id>", methods=["GET", "POST"])
def recommend(product_id: int) -> Page:
    """Recommend a product (or edit one's comment): signed-in Cityzens only; the
    others are sent to log in, then to opt in, and come back here."""
    product = _product_or_404(product_id)
    here = url_for("ambassadors.recommend", product_id=product.id)
    if not current_user.is_authenticated:
        flash(_("Connectez-vous pour recommander ce produit."), "info")
        return redirect(url_for("auth.login", next=here))
    cityzen = ops.active_cityzen(current_user)
    if cityzen is None:
        flash(_("Devenez Cityzen pour recommander ce produit."), "info")
        return redirect(url_for("ambassadors.landing", next=here))
    existing = ops.recommendation_for(cityzen, product.id)
    form = RecommendForm(comment=existing.comment if existing else None)
    if form.validate_on_submit():
        try:
            ops.recommend(cityzen, product.id, form.comment.data or "")
        except FieldError as error:
            _show_errors(form, error)
        else:
            db.session.commit()
            flash(_("Votre recommandation est enregistrée : partagez son lien !"), "success")
            return redirect(url_for("ambassadors.dashboard"))
    status = 400 if form.errors else 200
    return render_template(
        "ambassadors/recommend.html",
        form=form,
        product=product,
        existing=existing,
        comment_max=COMMENT_MAX,
    ), status


@bp.post("/cityzens/recommandations/<int:recommendation_id>/retirer")
@login_required
def withdraw(recommendation_id: int) -> Response:
    cityzen = ops.cityzen_of(current_user)
    if cityzen is None:
        abort(404)
    if ActionForm().validate_on_submit():
        try:
            ops.withdraw(cityzen, recommendation_id)
        except ops.NotFound:
            abort(404)
        db.session.commit()
        flash(_("Recommandation retirée : son lien ne fonctionne plus."), "info")
    return redirect(url_for("ambassadors.dashboard"))


def _visitor_cookie(response: Response, visitor: str, territory_id: int) -> None:
    """The browser's visitor token, kept as long as a click counts in the territory."""
    days = ops.rules(territory_id).attribution_days
    response.set_cookie(
        ops.VISITOR_COOKIE,
        visitor,
        max_age=int(timedelta(days=days).total_seconds()),
        httponly=True,
        samesite="Lax",
        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")) or request.is_secure,
    )


@bp.get("/r/<code>")
def shared_link(code: str) -> Response:
    """A shared link: the visit is recorded for this browser (a visitor cookie kept
    for the attribution window) and the product is shown with the Cityzen's word."""
    visitor = request.cookies.get(ops.VISITOR_COOKIE) or secrets.token_urlsafe(18)
    try:
        recommendation = ops.record_click(code, visitor, current_user).recommendation
    except ops.NotFound:
        abort(404)
    db.session.commit()
    product = recommendation.product
    response = make_response(
        render_template(
            "ambassadors/shared.html",
            recommendation=recommendation,
            product=product,
            cityzen=recommendation.cityzen,
            image=product.images[0] if product.images else None,
        )
    )
    response.headers["Cache-Control"] = "private, no-store"
    _visitor_cookie(response, visitor, product.shop.territory_id)
    return response
