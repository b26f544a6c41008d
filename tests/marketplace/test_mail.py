"""The mail outbox and its send task: SMTP, folder, retries, sent once."""

from __future__ import annotations

import email
import email.policy
import socketserver
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import pytest
from celery.exceptions import Retry
from flask import Flask

from marketplace.extensions import db
from marketplace.mail import queue_mail
from marketplace.models import MailOutbox
from marketplace.tasks import send_mail


@dataclass
class Mailbox:
    """What the test SMTP server received, and failures to play."""

    messages: list[bytes] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    refuse_connections: int = 0  # answer 421 at the greeting this many times
    connections: int = 0


class SMTPHandler(socketserver.StreamRequestHandler):
    """Just enough of RFC 5321 for smtplib.send_message."""

    server: SMTPServer

    def reply(self, code: int, text: str) -> None:
        self.wfile.write(f"{code} {text}\r\n".encode())

    def handle(self) -> None:
        box = self.server.mailbox
        box.connections += 1
        if box.refuse_connections > 0:
            box.refuse_connections -= 1
            self.reply(421, "try again later")
            return
        self.reply(220, "test ESMTP")
        sender, recipients = "", []
        while line := self.rfile.readline():
            command = line.decode("ascii", "replace").rstrip("\r\n")
            verb = command[:4].upper()
            if verb in ("EHLO", "HELO"):
                self.reply(250, "test")
            elif verb == "MAIL":
                sender, recipients = command.partition(":")[2].strip(), []
                self.reply(250, "OK")
            elif verb == "RCPT":
                recipients.append(command.partition(":")[2].strip())
                self.reply(250, "OK")
            elif verb == "DATA":
                self.reply(354, "end with <CRLF>.<CRLF>")
                box.messages.append(self.read_data())
                box.envelopes.append((sender, recipients))
                self.reply(250, "queued")
            elif verb == "QUIT":
                self.reply(221, "bye")
                return
            elif verb in ("RSET", "NOOP"):
                self.reply(250, "OK")
            else:
                self.reply(502, "not implemented")

    def read_data(self) -> bytes:
        lines = []
        while (line := self.rfile.readline()) not in (b".\r\n", b""):
            lines.append(line[1:] if line.startswith(b"..") else line)
        return b"".join(lines)


class SMTPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), SMTPHandler)
        self.mailbox = Mailbox()


@pytest.fixture
def smtp_server(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mailbox]:
    server = SMTPServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setitem(app.config, "MAIL_SERVER", "127.0.0.1")
    monkeypatch.setitem(app.config, "MAIL_PORT", server.server_address[1])
    monkeypatch.setitem(app.config, "MAIL_USE_TLS", False)
    monkeypatch.setitem(app.config, "MAIL_USERNAME", None)
    try:
        yield server.mailbox
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def mail_folder(app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setitem(app.config, "MAIL_SERVER", None)
    monkeypatch.setitem(app.config, "MAIL_FOLDER", str(tmp_path / "mail"))
    return tmp_path / "mail"


def parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def queue_sample() -> MailOutbox:
    return queue_mail(
        "lea@example.org",
        "Votre commande est prête",
        "Bonjour Léa,\n\nVotre commande est prête.\n",
        "<p>Bonjour Léa,</p><p>Votre commande est <strong>prête</strong>.</p>",
    )


def test_mail_is_sent_by_smtp_after_commit(app: Flask, smtp_server: Mailbox) -> None:
    row = queue_sample()
    assert smtp_server.messages == []  # nothing leaves before the commit
    db.session.commit()
    assert len(smtp_server.messages) == 1
    assert smtp_server.envelopes[0][1] == ["<lea@example.org>"]
    message = parse(smtp_server.messages[0])
    assert message["To"] == "lea@example.org"
    assert message["Subject"] == "Votre commande est prête"
    assert message["Message-ID"] == f"<{row.id}@comptoir.local>"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and "Votre commande est prête." in text.get_content()
    assert html is not None and "<strong>prête</strong>" in html.get_content()
    db.session.refresh(row)
    assert row.sent_at is not None


def test_mail_not_sent_when_the_transaction_rolls_back(app: Flask, smtp_server: Mailbox) -> None:
    queue_sample()
    db.session.rollback()
    db.session.commit()
    assert smtp_server.messages == []
    assert smtp_server.connections == 0


def test_sending_twice_sends_once(app: Flask, smtp_server: Mailbox) -> None:
    row = queue_sample()
    db.session.commit()
    assert send_mail.delay(str(row.id)).get() is False
    assert send_mail.delay(str(row.id)).get() is False
    assert len(smtp_server.messages) == 1


def test_smtp_failure_is_retried_with_backoff(app: Flask, smtp_server: Mailbox) -> None:
    smtp_server.refuse_connections = 2
    row = queue_sample()
    db.session.flush()
    # Eager tasks propagate: the Retry a worker would schedule surfaces here.
    with pytest.raises(Retry) as first:
        send_mail.delay(str(row.id))
    with pytest.raises(Retry) as third:
        send_mail.apply(args=[str(row.id)], retries=2)
    assert (first.value.when, third.value.when) == (60, 240)
    assert send_mail.delay(str(row.id)).get() is True
    assert smtp_server.connections == 3
    assert len(smtp_server.messages) == 1


def test_permanent_smtp_refusal_is_not_retried() -> None:
    import smtplib

    from marketplace.tasks import is_permanent

    assert is_permanent(smtplib.SMTPRecipientsRefused({"x@y.fr": (550, b"no")}))
    assert not is_permanent(smtplib.SMTPConnectError(421, "busy"))
    assert not is_permanent(ConnectionRefusedError())


def test_unknown_outbox_id_is_ignored(app: Flask, mail_folder: Path) -> None:
    assert send_mail.delay("00000000-0000-0000-0000-000000000000").get() is False
    assert not mail_folder.exists()


def test_mail_is_written_to_the_folder(app: Flask, mail_folder: Path) -> None:
    row = queue_sample()
    db.session.commit()
    files = list(mail_folder.glob("*.eml"))
    assert [f.name.endswith(f"-{row.id}.eml") for f in files] == [True]
    message = parse(files[0].read_bytes())
    assert message["Subject"] == "Votre commande est prête"
    assert message.get_body(("html",)) is not None
    assert send_mail.delay(str(row.id)).get() is False
    assert len(list(mail_folder.glob("*.eml"))) == 1
