"""The ledger's accounts and transactions: balanced, posted once, accounts opened
once even by two transactions at once."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from marketplace import ledger
from marketplace.extensions import db
from marketplace.models import AccountKind, LedgerAccount

WAIT = 30
SPEC = ("wallet:test", AccountKind.LIABILITY, "Wallet of a test")


def test_an_account_is_opened_once(app):
    first = ledger.account(*SPEC)
    assert (first.code, first.kind, first.name) == SPEC
    assert ledger.account(*SPEC).id == first.id
    count = db.session.scalar(select(func.count()).select_from(LedgerAccount))
    assert count == 1


def test_unbalanced_transactions_are_refused_and_a_reference_posts_once(app):
    other = ("platform:test", AccountKind.EXPENSE, "Test expense")
    with pytest.raises(ledger.UnbalancedTransaction):
        ledger.post("reward", "reward:x", "test", [(other, 100), (SPEC, -99)])
    first = ledger.post("reward", "reward:x", "test", [(other, 100), (SPEC, -100)])
    again = ledger.post("reward", "reward:x", "test", [(other, 500), (SPEC, -500)])
    assert again.id == first.id
    assert ledger.posted("reward:x") and not ledger.posted("reward:y")
    # An int, not PostgreSQL's numeric: amounts taken from it stay integer cents.
    assert type(ledger.balance(SPEC[0])) is int and ledger.balance(SPEC[0]) == -100
    assert type(ledger.wallet_credit(7)) is int and ledger.wallet_credit(7) == 0


def test_two_transactions_opening_one_account_share_it(committed_app):
    """The second waits for the first to commit and takes its row (a plain INSERT
    failed it on the unique code: the first two wallet checkouts of a new site)."""
    opened, results, errors = threading.Event(), {}, []

    def first() -> None:
        try:
            with committed_app.app_context():
                results["first"] = ledger.account(*SPEC).id
                opened.set()
                threading.Event().wait(0.5)  # the second is now blocked on our row
                db.session.commit()
        except BaseException as exc:
            errors.append(exc)
            opened.set()

    def second() -> None:
        try:
            with committed_app.app_context():
                opened.wait(WAIT)
                results["second"] = ledger.account(*SPEC).id
                db.session.commit()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert not errors, errors
    assert results["first"] == results["second"]
    assert db.session.scalar(select(func.count()).select_from(LedgerAccount)) == 1
