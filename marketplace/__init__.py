"""Comptoir's kernel: the application factory and what every domain uses."""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Any

from flask import Flask

from . import config as config_module
from . import runtime
from .extensions import (
    api,
    babel,
    celery_init_app,
    csrf,
    db,
    limiter,
    login_manager,
    migrate,
)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the Flask application; `config` overrides the environment."""
    app = Flask(__name__, instance_relative_config=True)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)  # the SQLite file lives here
    app.config.from_mapping(config_module.from_environment(app.instance_path))
    if config:
        app.config.update(config)
    config_module.check_production(app.config)
    logging.basicConfig(level=logging.INFO)
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_commands(app)
    if runtime.NEEDS_GUARD:
        app.wsgi_app = runtime.CollectBetweenRequests(app.wsgi_app)  # type: ignore[method-assign]
    return app


def register_extensions(app: Flask) -> None:
    from . import i18n, security, sessions

    app.session_interface = sessions.CookieSessions()
    db.init_app(app)
    migrate.init_app(app, db, directory=_migrations_dir())
    login_manager.init_app(app)
    security.init_app(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=i18n.select_locale)
    i18n.init_app(app)
    limiter.init_app(app)
    api.init_app(app)
    celery_init_app(app)


def register_blueprints(app: Flask) -> None:
    from . import views

    views.init_app(app)
    for name in config_module.DOMAINS:
        importlib.import_module(name).init_app(app)


def register_errorhandlers(app: Flask) -> None:
    from . import errors

    errors.init_app(app)


def register_commands(app: Flask) -> None:
    from . import commands

    commands.init_app(app)


def _migrations_dir() -> str:
    return str(Path(__file__).resolve().parent.parent / "migrations")
