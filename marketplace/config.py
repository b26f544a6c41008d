"""Configuration read from the environment, with an embedded default.

The embedded default needs nothing installed but Python: SQLite in the instance
folder, Celery tasks run in-process, mail written to a folder and card payments
against a localstripe server the CLI starts on loopback.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

# Packages in dependency order; each exposes init_app(app). They are loaded by name so
# the kernel never imports a domain (import-linter checks that).
DOMAINS = ("merchants", "delivery", "shop", "ambassadors", "admin")

LOCALSTRIPE_PORT = 8420
# Larger than any body a page or the API takes; the routes that take bigger files
# (catalogue import, product photos) set their own limit on the request.
DEFAULT_MAX_CONTENT_LENGTH = 16 * 1024 * 1024
DEV_SECRET_KEY = "dev-only-not-secret"  # noqa: S105 - refused in production
DEV_WEBHOOK_SECRET = "whsec_comptoir_local"  # noqa: S105 - localstripe only
LOCALSTRIPE_SECRET_KEY = "sk_test_comptoir_local"  # noqa: S105 - localstripe only


class ConfigError(RuntimeError):
    """The configuration cannot run in this environment."""


def _env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_bytes(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    if not value.strip().isdigit() or int(value) <= 0:
        raise ConfigError(f"{name} must be a positive whole number of bytes, not {value!r}")
    return int(value)


def _env_whole(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    if not value.strip().isdigit():
        raise ConfigError(f"{name} must be a whole number (0 or more), not {value!r}")
    return int(value)


def database_url(url: str) -> str:
    """Use the psycopg 3 driver for plain postgres:// URLs."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


# Tunables that keep their in-code default unless the environment sets them.
OPTIONAL_INTS = (
    "RESERVATION_MINUTES",  # stock held for an unpaid order (15)
    "PICKUP_HOLD_DAYS",  # click-and-collect kept before cancel and refund (7)
    "PAGE_CACHE_SECONDS",  # anonymous storefront pages cached (60; 0 turns it off)
    "PAGE_CACHE_VERSION_MS",  # a worker trusts the page versions it read this long (1000)
    "CATALOGUE_IMPORT_ASYNC_ROWS",  # imports longer than this run in Celery (500)
    "RECONCILIATION_MARGIN_HOURS",  # Stripe and the ledger searched this far around a period (24)
    "SETTLEMENT_HOLD_DAYS",  # days after fulfilment before a sale is paid out (7)
    "SETTLEMENT_RESUME_MINUTES",  # an unfinished settlement unchanged this long is resumed (30)
)
OPTIONAL_STRINGS = (
    "MAP_TILE_URL",
    "MAP_TILE_ATTRIBUTION",
    "STRIPE_CONNECT_WEBHOOK_SECRET",  # the Connect endpoint's own signing secret
    "STRIPE_CONNECT_ACCOUNT_TYPE",  # express (default) or standard
    # The collectivité on its commission invoices (a territory's settings win).
    "INVOICE_PREFIX",
    "INVOICE_SELLER_NAME",
    "INVOICE_SELLER_ADDRESS",
    "INVOICE_SELLER_SIRET",
    "INVOICE_SELLER_VAT_NUMBER",
)


def _optional(env: Any) -> dict[str, Any]:
    found: dict[str, Any] = {k: int(env(k)) for k in OPTIONAL_INTS if env(k)}
    found.update({k: env(k) for k in OPTIONAL_STRINGS if env(k)})
    if env("STRIPE_CONNECT_ENABLED"):
        found["STRIPE_CONNECT_ENABLED"] = _env_bool("STRIPE_CONNECT_ENABLED")
    if found.get("STRIPE_CONNECT_ACCOUNT_TYPE", "express") not in ("express", "standard"):
        raise ConfigError("STRIPE_CONNECT_ACCOUNT_TYPE must be express or standard")
    return found


def from_environment(instance_path: str) -> dict[str, Any]:
    """Build the configuration mapping from environment variables."""
    instance = Path(instance_path)
    env = os.environ.get
    redis_url = env("REDIS_URL")
    stripe_base = env("STRIPE_API_BASE")
    local_stripe = stripe_base is None and env("STRIPE_SECRET_KEY") is None
    return _optional(env) | {
        "ENV_NAME": env("COMPTOIR_ENV", "development"),
        "SECRET_KEY": env("SECRET_KEY"),
        # A request body over this is refused (413) before it is read.
        "MAX_CONTENT_LENGTH": _env_bytes("MAX_CONTENT_LENGTH", DEFAULT_MAX_CONTENT_LENGTH),
        "SQLALCHEMY_DATABASE_URI": database_url(
            env("DATABASE_URL", f"sqlite:///{instance / 'comptoir.sqlite3'}")
        ),
        "REDIS_URL": redis_url,
        # The anonymous page cache's store, shared by every worker (REDIS_URL unless
        # set; neither: each process keeps its own pages).
        "PAGE_CACHE_REDIS_URL": env("PAGE_CACHE_REDIS_URL") or redis_url,
        "CELERY": {
            "broker_url": redis_url or "memory://",
            "result_backend": redis_url,
            # Embedded default: no broker, tasks run in the web process.
            "task_always_eager": redis_url is None,
            "task_eager_propagates": True,
            "task_acks_late": True,
            "task_reject_on_worker_lost": True,
            "broker_transport_options": {"visibility_timeout": 6 * 3600},
            "timezone": "Europe/Paris",
            "enable_utc": True,
        },
        "PAYMENT_PROVIDER": env("PAYMENT_PROVIDER", "stripe"),
        "STRIPE_SECRET_KEY": env("STRIPE_SECRET_KEY", LOCALSTRIPE_SECRET_KEY),
        "STRIPE_PUBLISHABLE_KEY": env("STRIPE_PUBLISHABLE_KEY", "pk_test_comptoir_local"),
        "STRIPE_WEBHOOK_SECRET": env("STRIPE_WEBHOOK_SECRET", DEV_WEBHOOK_SECRET),
        "STRIPE_API_BASE": stripe_base
        or (f"http://127.0.0.1:{LOCALSTRIPE_PORT}" if local_stripe else None),
        "STRIPE_LOCAL": local_stripe or "127.0.0.1" in (stripe_base or ""),
        "MAIL_SERVER": env("MAIL_SERVER"),
        "MAIL_PORT": int(env("MAIL_PORT", "25")),
        "MAIL_USERNAME": env("MAIL_USERNAME"),
        "MAIL_PASSWORD": env("MAIL_PASSWORD"),
        "MAIL_USE_TLS": _env_bool("MAIL_USE_TLS"),
        "MAIL_DEFAULT_SENDER": env("MAIL_DEFAULT_SENDER", "Comptoir <noreply@comptoir.local>"),
        "MAIL_FOLDER": env("MAIL_FOLDER", str(instance / "mail")),
        "PUBLIC_URL": env("PUBLIC_URL", "http://127.0.0.1:5000"),
        # The collectivité's treasury account, debtor of the SEPA payout files.
        "SEPA_DEBTOR_NAME": env("SEPA_DEBTOR_NAME"),
        "SEPA_DEBTOR_IBAN": env("SEPA_DEBTOR_IBAN"),
        "SEPA_DEBTOR_BIC": env("SEPA_DEBTOR_BIC"),
        # Product photos (re-encoded copies; never the uploaded originals).
        "MEDIA_FOLDER": env("MEDIA_FOLDER", str(instance / "media")),
        # Geocoding with the Base Adresse Nationale (geopy BANFrance); off in the
        # embedded default, where the commune's reference point is used instead.
        "GEOCODER_ENABLED": _env_bool("GEOCODER_ENABLED"),
        "GEOCODER_DOMAIN": env("GEOCODER_DOMAIN", "api-adresse.data.gouv.fr"),
        "GEOCODER_SCHEME": env("GEOCODER_SCHEME", "https"),
        "GEOCODER_TIMEOUT": float(env("GEOCODER_TIMEOUT", "3")),
        "GEOCODER_MIN_DELAY": float(env("GEOCODER_MIN_DELAY", "0.1")),
        "BABEL_DEFAULT_LOCALE": "fr",
        "BABEL_DEFAULT_TIMEZONE": "Europe/Paris",
        "LANGUAGES": ("fr", "en"),
        "PASSWORD_RESET_MAX_AGE": int(env("PASSWORD_RESET_MAX_AGE", "3600")),
        "RATELIMIT_STORAGE_URI": redis_url or "memory://",
        "RATELIMIT_ENABLED": _env_bool("RATELIMIT_ENABLED", True),
        "API_TITLE": "Comptoir",
        "API_VERSION": "1",
        "OPENAPI_VERSION": "3.1.0",
        "OPENAPI_URL_PREFIX": "/api",
        "OPENAPI_JSON_PATH": "openapi.json",
        # /api/docs is rendered on the server from the spec (marketplace/api_auth.py):
        # no script, nothing from a CDN. Swagger UI is only offered at /api/swagger-ui
        # when OPENAPI_SWAGGER_UI_URL points at a copy of its files the site can reach.
        "OPENAPI_DOCS_PATH": "/docs",
        "OPENAPI_SWAGGER_UI_PATH": "/swagger-ui" if env("OPENAPI_SWAGGER_UI_URL") else None,
        "OPENAPI_SWAGGER_UI_URL": env("OPENAPI_SWAGGER_UI_URL"),
        # Cityzens (a territory's settings["cityzens"] wins, see ambassadors/operations/rules.py):
        # reward in basis points of the line (capped by its commission), days a click
        # counts, days after fulfilment before the reward is credited.
        "CITYZEN_REWARD_RATE_BP": _env_whole("CITYZEN_REWARD_RATE_BP", 300),
        "CITYZEN_ATTRIBUTION_DAYS": _env_whole("CITYZEN_ATTRIBUTION_DAYS", 30),
        "CITYZEN_WITHDRAWAL_DAYS": _env_whole("CITYZEN_WITHDRAWAL_DAYS", 14),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": env("COMPTOIR_ENV") == "production",
        "REMEMBER_COOKIE_SAMESITE": "Lax",
    }


def check_production(config: dict[str, Any]) -> None:
    """Refuse to start in production with a development-only setting."""
    if config.get("ENV_NAME") != "production":
        if not config.get("SECRET_KEY"):
            config["SECRET_KEY"] = DEV_SECRET_KEY
        return
    problems = []
    if not config.get("SECRET_KEY") or config["SECRET_KEY"] == DEV_SECRET_KEY:
        problems.append("SECRET_KEY must be set to a long random value")
    if config.get("PAYMENT_PROVIDER") != "stripe" or config.get("STRIPE_LOCAL"):
        problems.append(
            "the embedded payment method (localstripe or pay at pickup) is not "
            "allowed: set STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET"
        )
    if config.get("STRIPE_WEBHOOK_SECRET") == DEV_WEBHOOK_SECRET:
        problems.append("STRIPE_WEBHOOK_SECRET must be set")
    if problems:
        raise ConfigError("Comptoir refuses to start in production: " + "; ".join(problems) + ".")
