"""Accounts: sign-up, log-in, log-out, password reset, language choice."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from . import operations
from .extensions import db, limiter
from .forms import (
    ChangePasswordForm,
    ForgotPasswordForm,
    LoginForm,
    ResetPasswordForm,
    SignupForm,
)
from .models import Role, User

bp = Blueprint("auth", __name__, url_prefix="/compte")

# Session keys an anonymous visitor keeps across log-in.
KEPT_AT_LOGIN = ("basket", "locale")

Page = str | Response | tuple[str, int]


def safe_next(target: str | None) -> str | None:
    """`target` if it is a path on this site, else None (no open redirect)."""
    if not target or any(c in target for c in "\\\r\n\t") or not target.isprintable():
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/"):
        return None
    if target.startswith("//"):
        return None
    return target


def home_url() -> str:
    """Where to go when there is nowhere better."""
    return url_for("storefront.home")


def renew_session() -> None:
    """Start a fresh session, keeping the basket and language; new CSRF token."""
    kept = {key: session[key] for key in KEPT_AT_LOGIN if key in session}
    session.clear()
    session.update(kept)
    g.pop("csrf_token", None)


def end_session() -> None:
    """Log out on a cleared session (the language choice stays)."""
    locale = session.get("locale")
    session.clear()
    g.pop("csrf_token", None)
    logout_user()  # after clear: it marks the remember-me cookie for deletion
    if locale:
        session["locale"] = locale


def start_session(user: User, remember: bool = False) -> None:
    """Log `user` in on a renewed session."""
    renew_session()
    login_user(user, remember=remember)
    operations.record_login(user)


def show_field_error(form: FlaskForm, error: operations.FieldError) -> None:
    """Put business-rule messages next to their fields."""
    for name, message in error.errors.items():
        form[name].errors = [*form[name].errors, message]


@bp.route("/inscription", methods=["GET", "POST"])
def signup() -> Page:
    """Create a resident account, then log in."""
    if current_user.is_authenticated:
        return redirect(url_for("auth.account"))
    form = SignupForm()
    if form.validate_on_submit():
        try:
            user = operations.sign_up(**form.new_account())
        except operations.FieldError as error:
            show_field_error(form, error)
        else:
            start_session(user)
            db.session.commit()
            flash(_("Bienvenue sur Comptoir, votre compte est créé."), "success")
            return redirect(safe_next(request.args.get("next")) or home_url())
    return render_template("auth/signup.html", form=form)


@bp.route("/connexion", methods=["GET", "POST"])
@limiter.limit("10/minute", methods=["POST"])
def login() -> Page:
    """Log in with an e-mail and a password."""
    next_url = safe_next(request.args.get("next"))
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        user = operations.authenticate(form.email.data or "", form.password.data or "")
        if user is None:
            error = _("E-mail ou mot de passe incorrect.")
        elif not user.is_active:
            error = _("Ce compte est désactivé. Contactez la collectivité.")
        else:
            start_session(user, remember=bool(form.remember.data))
            db.session.commit()
            return redirect(next_url or home_url())
    return render_template("auth/login.html", form=form, error=error)


@bp.post("/deconnexion")
def logout() -> Response:
    """Log out and forget the session (the language choice stays)."""
    end_session()
    flash(_("Vous êtes déconnecté."), "info")
    return redirect(home_url())


@bp.get("/")
@login_required
def account() -> str:
    """The signed-in user's account."""
    return render_template("auth/account.html", user=current_user)


@bp.route("/mot-de-passe", methods=["GET", "POST"])
@login_required
def change_password() -> Page:
    """Change the password; other sessions end, this one stays."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        user: User = current_user._get_current_object()
        try:
            operations.change_password(
                user, form.current_password.data or "", form.password.data or ""
            )
        except operations.FieldError as error:
            show_field_error(form, error)
        else:
            remember = current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token")
            start_session(user, remember=remember in request.cookies)
            db.session.commit()
            flash(_("Votre mot de passe est modifié."), "success")
            return redirect(url_for("auth.account"))
    return render_template("auth/change_password.html", form=form)


@bp.route("/mot-de-passe-oublie", methods=["GET", "POST"])
@limiter.limit("10/minute", methods=["POST"])
def forgot_password() -> Page:
    """Ask for a reset link; the answer never tells whether the account exists."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        operations.request_password_reset(form.email.data or "")
        db.session.commit()
        return render_template(
            "auth/forgot_password_sent.html", minutes=operations.reset_link_minutes()
        )
    return render_template("auth/forgot_password.html", form=form)


@bp.route("/reinitialiser/<token>", methods=["GET", "POST"])
@limiter.limit("10/minute", methods=["POST"])
def reset_password(token: str) -> Page:
    """Choose a new password from an e-mailed link (valid once, for a while)."""
    if operations.user_for_reset_token(token) is None:
        return render_template("auth/reset_invalid.html"), 400
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            operations.reset_password(token, form.password.data or "")
        except operations.InvalidResetToken:
            return render_template("auth/reset_invalid.html"), 400
        except operations.FieldError as error:
            show_field_error(form, error)
        else:
            db.session.commit()
            if current_user.is_authenticated:
                end_session()
            flash(_("Votre mot de passe est modifié : connectez-vous."), "success")
            return redirect(url_for("auth.login"))
    return render_template("auth/reset_password.html", form=form)


@bp.post("/langue")
def set_language() -> Response:
    """Switch the interface language (and remember it on the account)."""
    locale = request.form.get("locale", "")
    if locale in current_app.config["LANGUAGES"]:
        session["locale"] = locale
        if current_user.is_authenticated:
            operations.set_locale(current_user._get_current_object(), locale)
            db.session.commit()
    return redirect(same_site_referrer() or home_url())


def same_site_referrer() -> str | None:
    """The referring page when it is on this site, as a path."""
    referrer = request.referrer
    if not referrer:
        return None
    parts = urlsplit(referrer)
    if parts.netloc != request.host:
        return None
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return safe_next(path)


def init_app(app: Flask) -> None:
    from . import tasks  # noqa: F401 - registers the Celery tasks

    app.register_blueprint(bp)

    @app.context_processor
    def kernel_globals() -> dict[str, object]:
        return {"Role": Role}
