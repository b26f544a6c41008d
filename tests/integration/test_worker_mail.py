"""Mail through a real Celery worker on Redis: queued by a page, sent by the worker."""

from __future__ import annotations

import email
import email.policy
import re
import uuid
from pathlib import Path

import pytest
from celery import Celery
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from marketplace.extensions import db
from marketplace.models import MailOutbox
from marketplace.tasks import send_mail
from tests.factories import UserFactory
from tests.helpers import csrf_token

from .conftest import Worker, wait_for

pytestmark = pytest.mark.integration

SEND_TIMEOUT = 15.0


def sent_at(outbox_id: uuid.UUID) -> object:
    db.session.rollback()  # a fresh snapshot: the worker commits on its own connection
    return db.session.scalar(select(MailOutbox.sent_at).where(MailOutbox.id == outbox_id))


def eml_files(folder: Path, outbox_id: uuid.UUID) -> list[Path]:
    return sorted(folder.glob(f"*-{outbox_id}.eml"))


def test_password_reset_mail_is_sent_by_the_worker(
    committed_app: Flask,
    committed_client: FlaskClient,
    celery_on_redis: Celery,
    celery_worker: Worker,
) -> None:
    user = UserFactory(email="oubli-worker@example.org", first_name="Léa")
    db.session.commit()

    page = "/compte/mot-de-passe-oublie"
    response = committed_client.post(
        page, data={"email": user.email, "csrf_token": csrf_token(committed_client, page)}
    )
    assert response.status_code == 200, response.text

    row = db.session.scalar(select(MailOutbox).where(MailOutbox.to == user.email))
    assert row is not None
    files = wait_for(
        lambda: eml_files(celery_worker.mail_folder, row.id),
        SEND_TIMEOUT,
        f"the worker to write the mail\n{celery_worker.tail()}",
    )
    assert wait_for(lambda: sent_at(row.id), 5, "sent_at to be committed")
    # Sent by the worker, not eagerly by the web process.
    assert eml_files(Path(committed_app.config["MAIL_FOLDER"]), row.id) == []
    assert f"mail {row.id} sent" in celery_worker.log()

    message = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    assert message["To"] == user.email
    assert message["Subject"] == row.subject
    body = message.get_body(("plain",))
    assert body is not None
    assert "/compte/reinitialiser/" in body.get_content()


def test_same_task_sent_twice_sends_once(
    committed_app: Flask, celery_on_redis: Celery, celery_worker: Worker
) -> None:
    row = MailOutbox(
        id=uuid.uuid4(),
        to="deux-fois@example.org",
        subject="Votre commande est prête",
        body_text="Bonjour,\n\nVotre commande est prête.\n",
    )
    db.session.add(row)
    db.session.commit()  # written directly: nothing is enqueued by the commit

    task_id = f"mail-{row.id}"
    # The same message delivered twice (a redelivery after a lost ack looks like this).
    send_mail.apply_async((str(row.id),), task_id=task_id)
    send_mail.apply_async((str(row.id),), task_id=task_id)

    done = f"Task {send_mail.name}[{task_id}] succeeded"
    wait_for(
        lambda: celery_worker.log().count(done) == 2,
        SEND_TIMEOUT,
        f"the worker to run both deliveries\n{celery_worker.tail()}",
    )
    # The solo worker ran them in turn: the first sent, the second found it sent.
    results = re.findall(re.escape(done) + r" in [0-9.e-]+s: (\w+)", celery_worker.log())
    assert results == ["True", "False"]
    assert celery_worker.log().count(f"mail {row.id} sent") == 1
    assert len(eml_files(celery_worker.mail_folder, row.id)) == 1
    assert sent_at(row.id) is not None
    # The backend keeps the first success (Celery ignores updates after SUCCESS).
    assert celery_on_redis.AsyncResult(task_id).get(timeout=5) is True
