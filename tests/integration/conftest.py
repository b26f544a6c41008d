"""Fixtures of the integration tests: a real Celery worker on Redis, a live HTTP server.

The worker is a separate process (`celery -A marketplace.worker:celery_app worker`)
on its own Redis database, started once per session when a test asks for it. The
test process only sends tasks: for the duration of a test `celery_on_redis` points
the shared Celery app at that Redis instead of running tasks eagerly.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import pytest
from celery import Celery
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from marketplace.extensions import celery_app
from tests.conftest import (
    TEST_DATABASE_URL,
    TEST_REDIS_URL,
    IsolatedClient,
    _free_port,
    service_missing,
)
from tests.integration.addok_fixtures import addok, addok_server  # noqa: F401 - fixtures

ROOT = Path(__file__).resolve().parents[2]
# A Redis database of its own, so a developer's worker on db 0 never takes our tasks.
REDIS_DB = int(os.environ.get("INTEGRATION_REDIS_DB", "5"))
WORKER_START_TIMEOUT = 30.0

T = TypeVar("T")


def wait_for(probe: Callable[[], T], timeout: float, what: str, interval: float = 0.1) -> T:
    """Poll `probe` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}", pytrace=False)
        time.sleep(interval)


def redis_url_for_db(url: str, db: int) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{db}"))


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The integration Redis database, emptied before and after the session."""
    import redis

    url = redis_url_for_db(TEST_REDIS_URL, REDIS_DB)
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
        client.flushdb()
    except redis.RedisError as exc:
        service_missing("Redis", exc)
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log_path: Path
    mail_folder: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while " ready." not in self.log():
            if self.process.poll() is not None:
                pytest.fail(
                    f"the Celery worker exited ({self.process.returncode}):\n{self.tail()}",
                    pytrace=False,
                )
            if time.monotonic() > deadline:
                pytest.fail(f"the Celery worker is not ready:\n{self.tail()}", pytrace=False)
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # warm shutdown
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def run_worker(name: str, redis_url: str, log_path: Path, mail_folder: Path, **env: str) -> Worker:
    """A real `celery worker` process (solo pool) on the test database and this
    Redis, ready; `env` adds to its environment (the test process's mail, Stripe,
    Celery and test switches are left out unless given again)."""
    environ = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MAIL_", "STRIPE_", "CELERY_", "COMPTOIR_TEST_"))
    }
    environ.update(
        COMPTOIR_ENV="test",
        DATABASE_URL=TEST_DATABASE_URL,
        REDIS_URL=redis_url,
        SECRET_KEY="test-secret",
        MAIL_FOLDER=str(mail_folder),
        PYTHONUNBUFFERED="1",
        **env,
    )
    command = [
        str(Path(sys.executable).with_name("celery")),
        *("-A", "marketplace.worker:celery_app", "worker", "--pool=solo", "--concurrency=1"),
        *("--without-heartbeat", "--without-mingle", "--without-gossip", "-l", "info"),
        *("-n", f"{name}-{os.getpid()}@%h"),
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=environ, stdout=log, stderr=subprocess.STDOUT
        )
    worker = Worker(process, log_path, mail_folder)
    try:
        worker.wait_ready(WORKER_START_TIMEOUT)
    except BaseException:
        worker.stop()
        raise
    return worker


@pytest.fixture(scope="session")
def celery_worker(
    _app: Flask, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Worker]:
    """A real worker process on the test database and the integration Redis."""
    folder = tmp_path_factory.mktemp("worker")
    worker = run_worker("integration", redis_url, folder / "worker.log", folder / "mail")
    try:
        yield worker
    finally:
        worker.stop()


def _drop_connections(app: Celery) -> None:
    """Forget the broker pool and result backend built from the previous settings.

    The pools are not closed: kombu keeps them in its global registry (by URL) and
    hands them out again the next time the same broker is used.
    """
    app._pool = None
    amqp = app.__dict__.get("amqp")
    if amqp is not None:
        amqp._producer_pool = None
    app._backend_cache = None
    vars(app._local).pop("backend", None)


@pytest.fixture
def celery_on_redis(celery_worker: Worker, redis_url: str) -> Iterator[Celery]:
    """The shared Celery app sends to the worker's Redis for this test, then runs
    tasks eagerly again (the unit tests' setting)."""
    keys = ("broker_url", "result_backend", "task_always_eager")
    saved = {key: celery_app.conf[key] for key in keys}
    _drop_connections(celery_app)
    celery_app.conf.update(broker_url=redis_url, result_backend=redis_url, task_always_eager=False)
    try:
        yield celery_app
    finally:
        _drop_connections(celery_app)
        celery_app.conf.update(saved)


@pytest.fixture
def committed_client(committed_app: Flask) -> FlaskClient:
    """A browser on the committed app: each request in its own context."""
    committed_app.test_client_class = IsolatedClient
    return committed_app.test_client()


@pytest.fixture
def live_server(committed_app: Flask) -> Iterator[str]:
    """The app served over HTTP on loopback, with localstripe's webhooks sent to it."""
    port = _free_port()
    server = make_server("127.0.0.1", port, committed_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    committed_app.extensions["localstripe"].register_webhook(
        f"{url}/paiements/stripe/webhook", committed_app.config["STRIPE_WEBHOOK_SECRET"]
    )
    try:
        yield url
    finally:
        # localstripe has no call to remove a webhook: forget it so later events of
        # the session are not posted to a closed port (nor into the next test).
        from localstripe.webhooks import _webhooks

        _webhooks.pop("comptoir", None)
        server.shutdown()
        server.server_close()
        thread.join(5)
