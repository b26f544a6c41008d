"""Outgoing mail: an outbox row written with the transaction, sent by a task.

`queue_mail` writes the row; once the transaction commits the `send_mail` task
delivers it by SMTP (with MAIL_SERVER set) or into MAIL_FOLDER as an .eml file.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import uuid
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import force_locale
from sqlalchemy import select
from sqlalchemy.orm import Session

from .extensions import after_commit, db
from .models import MailOutbox, utcnow

log = logging.getLogger(__name__)


def public_url(endpoint: str, **values: Any) -> str:
    """An absolute link to this site for a mail: on PUBLIC_URL (not the request's
    host), and built without a request nor SERVER_NAME, since workers send mail too."""
    base = urlsplit(str(current_app.config["PUBLIC_URL"]))
    adapter = current_app.url_map.bind(
        base.netloc, script_name=base.path or "/", url_scheme=base.scheme or "https"
    )
    return str(adapter.build(endpoint, values, force_external=True))


DEFAULT_LOCALE = "fr"


def mail_locale(locale: str | None) -> str:
    """A person's language for their mail if the site offers it, else French."""
    languages = current_app.config.get("LANGUAGES") or (DEFAULT_LOCALE,)
    return locale if locale is not None and locale in languages else DEFAULT_LOCALE


def queue_rendered(
    to: str, template: str, locale: str, subject: Callable[[], str], context: dict[str, Any]
) -> MailOutbox:
    """Render `template`.txt and .html in `locale` and queue them; `subject` is
    called in that locale. Rendered straight from the Jinja environment, without the
    pages' context processors: workers and commands send mail too, with no request."""
    env = current_app.jinja_env
    with force_locale(locale):
        text = env.get_template(f"{template}.txt").render(context)
        html = env.get_template(f"{template}.html").render(context)
        title = str(subject())
    return queue_mail(to, title, text, html)


def queue_mail(to: str, subject: str, text: str, html: str | None = None) -> MailOutbox:
    """Write a mail to the outbox; it is sent once the transaction commits."""
    row = MailOutbox(id=uuid.uuid4(), to=to, subject=subject, body_text=text, body_html=html)
    db.session.add(row)
    db.session.flush()
    outbox_id = str(row.id)
    after_commit(lambda: enqueue(outbox_id))
    return row


def enqueue(outbox_id: str) -> None:
    """Hand an outbox row to the send task; a failure leaves the row unsent."""
    from .tasks import send_mail

    try:
        send_mail.delay(outbox_id)
    except Exception:
        log.exception("mail %s not enqueued; it stays in the outbox", outbox_id)


def build_message(row: MailOutbox, sender: str) -> EmailMessage:
    """The MIME message of an outbox row: text, with an HTML alternative."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = row.to
    msg["Subject"] = row.subject
    msg["Date"] = format_datetime(row.created_at or utcnow())
    domain = parseaddr(sender)[1].rpartition("@")[2] or "comptoir.local"
    msg["Message-ID"] = f"<{row.id}@{domain}>"
    msg.set_content(row.body_text)
    if row.body_html:
        msg.add_alternative(row.body_html, subtype="html")
    return msg


def send_smtp(msg: EmailMessage, config: Any) -> None:
    """Send a message through the configured SMTP server."""
    host, port = config["MAIL_SERVER"], int(config.get("MAIL_PORT") or 25)
    with smtplib.SMTP(host, port, timeout=30) as smtp:
        if config.get("MAIL_USE_TLS"):
            smtp.starttls(context=ssl.create_default_context())
        if config.get("MAIL_USERNAME"):
            smtp.login(config["MAIL_USERNAME"], config.get("MAIL_PASSWORD") or "")
        smtp.send_message(msg)


def write_eml(msg: EmailMessage, folder: str, name: str) -> Path:
    """Write a message as `name`.eml in `folder` (atomically)."""
    directory = Path(folder)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{name}.eml"
    partial = directory / f".{name}.eml.tmp"
    partial.write_bytes(msg.as_bytes())
    partial.replace(target)
    return target


def task_session() -> Session:
    """A session of its own for the send task, on the app's connection or engine.

    The task may run eagerly from an after-commit hook, where the request's session
    cannot emit SQL any more; a session joining the same bind sees the same rows.
    """
    return Session(
        bind=db.session.get_bind(),
        join_transaction_mode="create_savepoint",
        expire_on_commit=False,
    )


def deliver(outbox_id: str) -> bool:
    """Send one outbox row unless already sent; True if it was sent now.

    The row stays locked while sending, so two workers never send it twice.
    """
    config = current_app.config
    with task_session() as session:
        row = session.scalar(
            select(MailOutbox).where(MailOutbox.id == uuid.UUID(outbox_id)).with_for_update()
        )
        if row is None or row.sent_at is not None:
            session.rollback()
            return False
        msg = build_message(row, config["MAIL_DEFAULT_SENDER"])
        if config.get("MAIL_SERVER"):
            send_smtp(msg, config)
        else:
            stamp = (row.created_at or utcnow()).strftime("%Y%m%d-%H%M%S")
            write_eml(msg, config["MAIL_FOLDER"], f"{stamp}-{row.id}")
        row.sent_at = utcnow()
        session.commit()
    log.info("mail %s sent", outbox_id)
    return True
