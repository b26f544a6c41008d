"""Settlement against REAL Celery workers on Redis, under faults: a worker killed with
SIGKILL between compute and pay, the same task sent twice, two runs at once on two
workers, a payout refused then retried. After each, the ledger balances and every
shop is paid exactly once (one payout transaction per settlement, one accepted
transfer per connected shop).

The workers are configured by their environment only (test-only switches read by
admin/tasks.py when COMPTOIR_ENV=test): a pause between compute and pay, transfers
recorded in a JSON-lines file instead of Stripe (localstripe has no Connect), refused
first attempts, retries without countdown and a short Redis visibility timeout so a
killed worker's message comes back within the test. They use their own Redis
database, so the session's shared worker never takes these tasks; the Redis restart
test starts a `redis-server` of its own (never the machine's shared one).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from admin import tasks
from admin.settlement.models import PayoutAccount, Settlement, SettlementStatus
from admin.settlement.payouts import RecordingPayouts
from marketplace import ledger
from marketplace.extensions import celery_app, db
from marketplace.models import LedgerEntry, LedgerTransaction
from tests.admin.test_settlement import IN_WEEK, WEEK, collect, net, paid_sub
from tests.conftest import TEST_REDIS_URL, _free_port, service_missing
from tests.factories import ShopFactory

from .conftest import Worker, _drop_connections, redis_url_for_db, run_worker, wait_for

pytestmark = pytest.mark.integration

REDIS_DB = int(os.environ.get("INTEGRATION_SETTLEMENT_REDIS_DB", "6"))
VISIBILITY = 4  # seconds, test workers only (production: 6 h)
DONE_TIMEOUT = 60.0


@pytest.fixture
def settle_redis() -> Iterator[str]:
    import redis

    url = redis_url_for_db(TEST_REDIS_URL, REDIS_DB)
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
        client.flushdb()
    except redis.RedisError as exc:
        service_missing("Redis", exc)
    keys = ("broker_url", "result_backend", "task_always_eager")
    saved = {key: celery_app.conf[key] for key in keys}
    _drop_connections(celery_app)
    celery_app.conf.update(broker_url=url, result_backend=url, task_always_eager=False)
    try:
        yield url
    finally:
        _drop_connections(celery_app)
        celery_app.conf.update(saved)
        client.flushdb()
        client.close()


@pytest.fixture
def start_worker(
    committed_app: Flask, settle_redis: str, tmp_path: Path
) -> Iterator[Callable[..., Worker]]:
    """Start settlement workers with test-only switches; all stopped afterwards."""
    started: list[Worker] = []

    def start(name: str, broker: str | None = None, **switches: str) -> Worker:
        worker = run_worker(
            f"settle-{name}",
            broker or settle_redis,
            tmp_path / f"worker-{name}.log",
            tmp_path / "mail",
            COMPTOIR_TEST_PAYOUTS_FILE=str(tmp_path / "transfers.jsonl"),
            COMPTOIR_TEST_VISIBILITY_TIMEOUT=str(VISIBILITY),
            COMPTOIR_TEST_SETTLEMENT_RETRY_NOW="1",
            **switches,
        )
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


class OwnRedis:
    """A `redis-server` of the test's own, on a free port, without persistence."""

    def __init__(self, binary: str, folder: Path) -> None:
        self.binary, self.folder, self.port = binary, folder, _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        import redis

        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self.folder)]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)

        def up() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        wait_for(up, 10, f"redis-server on port {self.port}")
        client.close()

    def kill(self) -> None:
        """SIGKILL: every queued and unacknowledged message is gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def own_redis(settle_redis: str, tmp_path: Path) -> Iterator[OwnRedis]:
    """The broker of this test only; the shared Celery app sends to it meanwhile."""
    binary = shutil.which("redis-server")
    if binary is None:
        service_missing("redis-server", FileNotFoundError("redis-server"))
        raise AssertionError("unreachable")
    server = OwnRedis(binary, tmp_path)
    server.start()
    _drop_connections(celery_app)
    celery_app.conf.update(broker_url=server.url, result_backend=server.url)
    try:
        yield server
    finally:
        _drop_connections(celery_app)  # settle_redis restores the settings
        server.kill()


@pytest.fixture
def shops(committed_app: Flask) -> dict[str, object]:
    """Three shops with sales collected in WEEK: two paid by SEPA, one connected."""
    sepa_a, sepa_b, connected = ShopFactory(), ShopFactory(), ShopFactory()
    db.session.add(
        PayoutAccount(shop_id=connected.id, stripe_account_id="acct_1Faults", payouts_enabled=True)
    )
    subs = [
        paid_sub(sepa_a, [(1990, 2)]),
        paid_sub(sepa_a, [(650, 1)], delivery_fee=400),
        paid_sub(sepa_b, [(12345, 1)]),
        paid_sub(connected, [(4200, 3)]),
    ]
    for sub in subs:
        collect(sub, IN_WEEK)
    db.session.commit()
    owed: dict[int, int] = {}
    for sub in subs:
        owed[sub.shop_id] = owed.get(sub.shop_id, 0) + net(sub)
    return {"owed": owed, "connected": connected.id}


def statuses() -> list[SettlementStatus]:
    db.session.rollback()  # a fresh snapshot: the workers commit on their own
    return list(db.session.scalars(select(Settlement.status)))


def all_paid(count: int) -> bool:
    found = statuses()
    return len(found) == count and all(s is SettlementStatus.PAID for s in found)


def assert_paid_exactly_once(shops: dict[str, object], transfers: Path) -> None:
    db.session.rollback()
    owed: dict[int, int] = shops["owed"]  # type: ignore[assignment]
    settlements = db.session.scalars(select(Settlement)).all()
    assert sorted(s.shop_id for s in settlements) == sorted(owed)  # one per shop
    for s in settlements:
        assert s.status is SettlementStatus.PAID
        assert s.payout_cents == owed[s.shop_id]
        assert ledger.balance(ledger.shop_payable(s.shop_id)[0]) == 0
    payouts = db.session.scalars(
        select(LedgerTransaction.reference).where(LedgerTransaction.kind == "payout")
    ).all()
    assert sorted(payouts) == sorted(f"payout:settlement:{s.id}" for s in settlements)
    accepted = [r for r in RecordingPayouts(transfers)._lines() if r["ok"]]
    connected = next(s for s in settlements if s.shop_id == shops["connected"])
    assert [(r["group"], r["amount"]) for r in accepted] == [
        (connected.transfer_group, connected.payout_cents)
    ]
    assert connected.transfer_id == accepted[0]["id"]
    total = db.session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount), 0)))
    assert total == 0


def test_worker_killed_between_compute_and_pay_then_the_run_finishes(
    start_worker, shops, tmp_path, settle_redis: str
) -> None:
    slow = start_worker("slow", COMPTOIR_TEST_SETTLEMENT_PAUSE="30")
    tasks.run_settlements.delay(WEEK[0].isoformat())
    wait_for(
        lambda: SettlementStatus.COMPUTED in statuses(),
        DONE_TIMEOUT,
        f"a settlement computed\n{slow.tail()}",
    )
    os.kill(slow.process.pid, signal.SIGKILL)  # mid-task: computed, not paid
    slow.process.wait(10)
    assert SettlementStatus.PAID not in statuses() or len(statuses()) == 3
    # A fresh worker: the unacknowledged message comes back after the visibility
    # timeout and the settlement resumes from its committed step.
    fresh = start_worker("fresh")
    wait_for(lambda: all_paid(3), DONE_TIMEOUT, f"every shop paid\n{fresh.tail()}")
    assert_paid_exactly_once(shops, tmp_path / "transfers.jsonl")


def test_the_same_tasks_sent_twice_pay_once(start_worker, shops, tmp_path) -> None:
    worker = start_worker("twice")
    tasks.run_settlements.delay(WEEK[0].isoformat())
    tasks.run_settlements.delay(WEEK[0].isoformat())
    wait_for(lambda: len(statuses()) == 3, DONE_TIMEOUT, f"settlements\n{worker.tail()}")
    db.session.rollback()
    for settlement_id in db.session.scalars(select(Settlement.id)):
        tasks.settle.delay(settlement_id)
        tasks.settle.delay(settlement_id)
    wait_for(lambda: all_paid(3), DONE_TIMEOUT, f"every shop paid\n{worker.tail()}")
    time.sleep(2)  # the duplicates drain
    assert_paid_exactly_once(shops, tmp_path / "transfers.jsonl")


def test_two_runs_at_once_on_two_workers_pay_once(start_worker, shops, tmp_path) -> None:
    one, two = start_worker("one"), start_worker("two")
    for _ in range(2):
        tasks.run_settlements.delay(WEEK[0].isoformat())
        tasks.run_settlements.delay(WEEK[0].isoformat())
    wait_for(lambda: all_paid(3), DONE_TIMEOUT, f"every shop paid\n{one.tail()}\n{two.tail()}")
    time.sleep(2)
    assert_paid_exactly_once(shops, tmp_path / "transfers.jsonl")


def test_payout_refused_then_retried_pays_once(start_worker, shops, tmp_path) -> None:
    worker = start_worker("flaky", COMPTOIR_TEST_PAYOUTS_FAIL_FIRST="2")
    tasks.run_settlements.delay(WEEK[0].isoformat())
    wait_for(lambda: all_paid(3), DONE_TIMEOUT, f"every shop paid\n{worker.tail()}")
    rows = RecordingPayouts(tmp_path / "transfers.jsonl")._lines()
    assert [r["ok"] for r in rows] == [False, False, True]
    db.session.rollback()
    connected = db.session.scalars(
        select(Settlement).where(Settlement.shop_id == shops["connected"])
    ).one()
    assert connected.attempts == 3 and connected.last_error is None
    assert "Retry in 0s" in worker.log()
    assert_paid_exactly_once(shops, tmp_path / "transfers.jsonl")


def test_redis_restarting_mid_run_loses_tasks_the_resume_task_pays_once(
    start_worker, shops, tmp_path, own_redis: OwnRedis
) -> None:
    # A pause between compute and pay: the first settlement is mid-task, the two
    # others wait in Redis (queued or prefetched, unacknowledged) when it dies.
    worker = start_worker("restart", broker=own_redis.url, COMPTOIR_TEST_SETTLEMENT_PAUSE="2")
    tasks.run_settlements.delay(WEEK[0].isoformat())
    wait_for(
        lambda: SettlementStatus.COMPUTED in statuses(),
        DONE_TIMEOUT,
        f"a settlement computed\n{worker.tail()}",
    )
    own_redis.kill()
    own_redis.start()  # same port, empty: the settle messages are lost
    time.sleep(4)  # the worker reconnects and finishes what it held
    lost = [s for s in statuses() if s is not SettlementStatus.PAID]
    assert lost, f"no settle task was lost by the restart\n{worker.tail()}"
    # What beat runs every 30 min: settlements unchanged for 30 min or more (none
    # yet), then here for settlements unchanged for 0 s or more (the lost ones).
    assert tasks.BEAT_SCHEDULE["admin-resume-settlements"]["task"] == "admin.resume_settlements"
    _drop_connections(celery_app)
    assert tasks.resume_settlements.delay().get(timeout=DONE_TIMEOUT) == 0
    assert tasks.resume_settlements.delay(0).get(timeout=DONE_TIMEOUT) == len(lost)
    wait_for(lambda: all_paid(3), DONE_TIMEOUT, f"every shop paid\n{worker.tail()}")
    time.sleep(1)  # any duplicate drains
    assert_paid_exactly_once(shops, tmp_path / "transfers.jsonl")
    assert worker.process.poll() is None  # the worker survived the restart
