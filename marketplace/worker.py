"""Celery worker entry point: the app built from the environment, and its Celery app.

    celery -A marketplace.worker worker -l info

Set REDIS_URL (the broker and result backend) and DATABASE_URL as for the web
process; without REDIS_URL tasks run eagerly in the web process and no worker is
needed.
"""

from __future__ import annotations

from celery import Celery

from . import create_app

app = create_app()
celery_app: Celery = app.extensions["celery"]
