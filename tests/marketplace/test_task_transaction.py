"""A task's one transaction: its block committed, or nothing of it on an error."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from marketplace.extensions import after_commit, db, task_transaction
from marketplace.models import Territory
from tests.factories import TerritoryFactory


def territory_named(slug: str) -> Territory | None:
    return db.session.scalar(select(Territory).where(Territory.slug == slug))


def test_an_error_leaves_nothing_written_and_nothing_enqueued(app: Flask) -> None:
    enqueued: list[str] = []
    with pytest.raises(RuntimeError, match="the operation failed"), task_transaction():
        TerritoryFactory(slug="rolled-back")
        after_commit(lambda: enqueued.append("rolled-back"))
        raise RuntimeError("the operation failed")
    assert territory_named("rolled-back") is None and enqueued == []


def test_the_block_is_committed_then_its_tasks_enqueued(app: Flask) -> None:
    enqueued: list[str] = []
    with task_transaction():
        TerritoryFactory(slug="kept")
        after_commit(lambda: enqueued.append("kept"))
        assert enqueued == []
    assert enqueued == ["kept"]
    db.session.rollback()  # what the block committed stays
    assert territory_named("kept") is not None
