"""Kernel tasks: sending the mail outbox."""

from __future__ import annotations

import smtplib
from typing import Any

from .extensions import celery_app
from .mail import deliver

MAIL_MAX_RETRIES = 8


def is_permanent(exc: Exception) -> bool:
    """True for an SMTP refusal that retrying cannot fix (a 5xx reply)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    return isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code >= 500


@celery_app.task(bind=True, max_retries=MAIL_MAX_RETRIES)
def send_mail(self: Any, outbox_id: str) -> bool:
    """Send one outbox mail once; transient SMTP failures retry with backoff."""
    try:
        return deliver(outbox_id)
    except OSError as exc:  # smtplib.SMTPException is an OSError
        if is_permanent(exc):
            raise
        countdown = min(60 * 2**self.request.retries, 3600)
        raise self.retry(exc=exc, countdown=countdown) from exc
