"""Test fixtures: a real PostgreSQL database built by the migrations, each test in a
rolled-back transaction; factories for data; a query counter against N+1."""

from __future__ import annotations

import contextvars
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event

from marketplace import create_app
from marketplace.config import database_url
from marketplace.extensions import db
from marketplace.payments import LocalStripe

IN_CI = os.environ.get("CI", "").lower() == "true"
TEST_DATABASE_URL = database_url(
    os.environ.get(
        "TEST_DATABASE_URL",
        os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/comptoir_test"),
    )
)
TEST_REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def service_missing(what: str, exc: BaseException) -> None:
    """Fail under CI (a missing service is a broken run), skip on a laptop."""
    message = f"{what} is not reachable: {exc}"
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _ensure_database(url: str) -> None:
    target = sa.engine.make_url(url)
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database}
        )
        if not exists:
            conn.execute(sa.text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _reset_schema(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()


TEST_CONFIG = {
    "TESTING": True,
    "SECRET_KEY": "test-secret",
    "SQLALCHEMY_DATABASE_URI": TEST_DATABASE_URL,
    "WTF_CSRF_ENABLED": True,
    "RATELIMIT_ENABLED": False,
    "SERVER_NAME": "comptoir.test",
    "PUBLIC_URL": "http://comptoir.test",
    # Unit tests run tasks in-process; tests/integration drives a real worker.
    "CELERY": {
        "broker_url": "memory://",
        "task_always_eager": True,
        "task_eager_propagates": True,
    },
}


@pytest.fixture(scope="session")
def _app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    try:
        _ensure_database(TEST_DATABASE_URL)
        _reset_schema(TEST_DATABASE_URL)
    except sa.exc.OperationalError as exc:
        service_missing("PostgreSQL", exc)
    stripe_server = LocalStripe(_free_port()).start()
    config = dict(
        TEST_CONFIG,
        MAIL_FOLDER=str(tmp_path_factory.mktemp("mail")),
        STRIPE_API_BASE=stripe_server.url,
        STRIPE_LOCAL=True,
    )
    app = create_app(config)
    app.extensions["localstripe"] = stripe_server
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()  # the migrations are the only way the schema is made
        db.session.remove()
    yield app


@pytest.fixture
def app(_app: Flask) -> Iterator[Flask]:
    """The app with a session bound to an outer transaction rolled back after."""
    with _app.app_context():
        connection = db.engine.connect()
        transaction = connection.begin()
        db.session.remove()
        db.session.configure(bind=connection, join_transaction_mode="create_savepoint")
        try:
            yield _app
        finally:
            db.session.remove()
            transaction.rollback()
            connection.close()
            db.session.configure(bind=None)


@pytest.fixture
def committed_app(_app: Flask) -> Iterator[Flask]:
    """The app on real commits, for tests that need several connections.

    Every table is emptied afterwards.
    """
    with _app.app_context():
        db.session.remove()
        try:
            yield _app
        finally:
            db.session.remove()
            tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
            with db.engine.begin() as conn:
                conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


class IsolatedClient(FlaskClient):
    """Each request runs in a fresh context, as in a server: its own app context,
    `g` and database session (on the test's connection), torn down after."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        return contextvars.Context().run(super().open, *args, **kwargs)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    app.test_client_class = IsolatedClient
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> Any:
    return app.test_cli_runner()


class QueryCounter:
    def __init__(self) -> None:
        self.statements: list[str] = []

    @property
    def count(self) -> int:
        return len(self.statements)


@pytest.fixture
def count_queries(app: Flask) -> Any:
    """`with count_queries() as q: ...` then `q.count` SQL statements."""

    @contextmanager
    def counting() -> Iterator[QueryCounter]:
        counter = QueryCounter()

        def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if not statement.startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO")):
                counter.statements.append(statement)

        event.listen(db.engine, "before_cursor_execute", before)
        try:
            yield counter
        finally:
            event.remove(db.engine, "before_cursor_execute", before)

    return counting


@pytest.fixture
def restore_celery() -> Iterator[None]:
    """For tests that build another app: put the Celery configuration back after."""
    from marketplace.extensions import celery_app

    saved = {key: celery_app.conf[key] for key in TEST_CONFIG["CELERY"]}
    saved["result_backend"] = celery_app.conf.result_backend
    task_class = celery_app.Task
    yield
    celery_app.conf.update(saved)
    celery_app.Task = task_class
