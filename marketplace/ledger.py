"""The double-entry ledger: every money movement is one balanced transaction."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from .extensions import db
from .models import AccountKind, LedgerAccount, LedgerEntry, LedgerTransaction

STRIPE_CLEARING = ("stripe:clearing", AccountKind.ASSET, "Stripe balance")


class UnbalancedTransaction(ValueError):
    """The entries of a transaction do not sum to zero."""


def account(code: str, kind: AccountKind, name: str) -> LedgerAccount:
    """The account with this code, created on first use."""
    query = select(LedgerAccount).where(LedgerAccount.code == code)
    found = db.session.scalar(query)
    if found is None:
        # Two transactions may open the same account at once (two first wallet
        # checkouts): ON CONFLICT makes the second wait for the first and take its
        # row, where a plain INSERT failed it on the unique code.
        insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
        db.session.execute(
            insert(LedgerAccount)
            .values(code=code, kind=kind, name=name)
            .on_conflict_do_nothing(index_elements=[LedgerAccount.code])
        )
        found = db.session.scalars(query).one()
    return found


def shop_payable(shop_id: int) -> tuple[str, AccountKind, str]:
    return (f"shop:{shop_id}:payable", AccountKind.LIABILITY, f"Due to shop {shop_id}")


def post(
    kind: str,
    reference: str,
    description: str,
    entries: Iterable[tuple[tuple[str, AccountKind, str], int]],
) -> LedgerTransaction:
    """Record a balanced transaction once per reference (posting again is a no-op)."""
    existing = db.session.scalar(
        select(LedgerTransaction).where(LedgerTransaction.reference == reference)
    )
    if existing is not None:
        return existing
    lines = [(acc, amount) for acc, amount in entries if amount]
    if sum(amount for _, amount in lines) != 0:
        raise UnbalancedTransaction(reference)
    txn = LedgerTransaction(kind=kind, reference=reference, description=description)
    for spec, amount in lines:
        txn.entries.append(LedgerEntry(account=account(*spec), amount=amount))
    db.session.add(txn)
    db.session.flush()
    return txn


def balance(code: str) -> int:
    """Sum of the entries of one account (debits positive)."""
    total = db.session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount), 0))
        .join(LedgerAccount)
        .where(LedgerAccount.code == code)
    )
    return int(total or 0)  # PostgreSQL's sum() of integers is a numeric (Decimal)


def posted(reference: str) -> bool:
    """Whether a transaction with this reference is in the ledger."""
    found = db.session.scalar(
        select(LedgerTransaction.id).where(LedgerTransaction.reference == reference)
    )
    return found is not None


# Wallet credit (Cityzens' rewards) is a debt of the platform to the resident: a
# liability per user, funded by the platform's rewards expense. Credit set aside by
# a checkout waiting for its payment sits in WALLET_HELD until the order is paid
# (then it pays the shops like card money) or released (back to the wallet).
PLATFORM_REWARDS = ("platform:rewards", AccountKind.EXPENSE, "Cityzen rewards")
WALLET_HELD = ("wallet:held", AccountKind.LIABILITY, "Wallet credit held for unpaid orders")


def wallet(user_id: int) -> tuple[str, AccountKind, str]:
    return (f"wallet:{user_id}", AccountKind.LIABILITY, f"Wallet of user {user_id}")


def wallet_credit(user_id: int) -> int:
    """The credit a resident may spend, in cents (the wallet's credit balance)."""
    return -balance(wallet(user_id)[0])


def lock_wallet(user_id: int) -> int:
    """Lock the resident's wallet until the transaction ends and return its credit,
    so two checkouts at once cannot both spend it."""
    acc = account(*wallet(user_id))
    db.session.execute(select(LedgerAccount.id).where(LedgerAccount.id == acc.id).with_for_update())
    return wallet_credit(user_id)
