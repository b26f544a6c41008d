"""Extensions, created unbound here and attached to the app with init_app."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from celery import Celery, Task
from flask import Flask, abort, current_app
from flask.globals import _cv_app
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_smorest import Api
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session, sessionmaker

from .runtime import between_units_of_work

T = TypeVar("T")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every model, with stable constraint names."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class AppSession(Session):
    """A session bound to the current app's engine unless given a bind (tests)."""

    def get_bind(self, mapper: Any = None, clause: Any = None, **kwargs: Any) -> Any:
        if self.bind is not None:
            return super().get_bind(mapper, clause=clause, **kwargs)
        return current_app.extensions["sqlalchemy_engine"]


class Database:
    """SQLAlchemy 2 engine and a session scoped to the app context.

    Hand-written rather than Flask-SQLAlchemy so tests can bind the session to an
    outer transaction (join_transaction_mode="create_savepoint") without fighting
    its per-model bind lookup.
    """

    Model = Base
    metadata = Base.metadata

    def __init__(self) -> None:
        self.session: scoped_session[Session] = scoped_session(
            sessionmaker(class_=AppSession, expire_on_commit=False), scopefunc=_session_scope
        )

    def init_app(self, app: Flask) -> None:
        url = app.config["SQLALCHEMY_DATABASE_URI"]
        engine = create_engine(url, **_engine_options(url))
        app.extensions["sqlalchemy_engine"] = engine
        # Pools must not cross a fork (gunicorn --preload, Celery prefork): the child
        # drops the parent's pooled connections without closing them.
        os.register_at_fork(after_in_child=lambda: engine.dispose(close=False))
        app.teardown_appcontext(self._remove_session)

    @staticmethod
    def _remove_session(_exc: BaseException | None) -> None:
        db.session.remove()

    @property
    def engine(self) -> Engine:
        return current_app.extensions["sqlalchemy_engine"]

    def get_or_404(self, model: type[T], ident: int | None) -> T:
        """The row with this id, else a 404 (also for an id no integer key can hold)."""
        found = self.session.get(model, ident) if fits_id(ident) else None
        if found is None:
            abort(404)
        return found


MAX_ID = 2**31 - 1  # a PostgreSQL integer key: a larger id cannot exist


def fits_id(ident: int | None) -> bool:
    """Whether `ident` can be an integer primary key (PostgreSQL refuses larger ones)."""
    return ident is not None and 0 < ident <= MAX_ID


def _session_scope() -> int:
    """One session per app context (each request, each task), else per thread."""
    ctx = _cv_app.get(None)
    return id(ctx) if ctx is not None else threading.get_ident()


def _engine_options(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        return {"connect_args": {"check_same_thread": False, "timeout": 30}}
    return {"pool_pre_ping": True}


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()


db = Database()
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
limiter = Limiter(key_func=get_remote_address, default_limits=[])
api = Api()
celery_app = Celery("comptoir")


def celery_init_app(app: Flask) -> Celery:
    """Configure the Celery app so every task runs inside a Flask app context."""

    class FlaskTask(Task):
        def __call__(self, *args: object, **kwargs: object) -> object:
            # Its own app context, so its own database session: an in-process
            # (eager) task started from an after-commit hook must not reuse the
            # request's session, which cannot run SQL at that moment.
            def run() -> object:
                with app.app_context():
                    return self.run(*args, **kwargs)

            return between_units_of_work(run)

    celery_app.Task = FlaskTask  # type: ignore[misc]
    celery_app.config_from_object(app.config["CELERY"])
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app


def after_commit(callback: Callable[[], Any]) -> None:
    """Run callback once the current transaction commits (never if it rolls back).

    Used to enqueue Celery tasks only when the rows they read exist.
    """
    session = db.session()
    session.info.setdefault("after_commit", []).append(callback)


@contextmanager
def task_transaction() -> Iterator[None]:
    """A task's one transaction: committed when the block ends, rolled back on any
    error, which goes on to the task (its retry or its failure)."""
    try:
        yield
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    callbacks = session.info.pop("after_commit", [])
    for callback in callbacks:
        callback()


@event.listens_for(Session, "after_soft_rollback")
def _drop_after_commit(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.parent is None:
        session.info.pop("after_commit", None)
