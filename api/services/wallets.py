"""Wallet reads and operator credits."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import Services
from api.pagination import before_id, encode_cursor, fetch_page
from api.schemas.common import Money, Page
from api.schemas.wallets import CreditOut, LedgerEntryOut, WalletOut
from api.services.commands import CreditWallet
from api.services.idempotency import Success
from api.views import ledger_view
from core.auth import Principal
from models.db import LedgerEntry, Wallet
from models.errors import BookingError, ErrorCode
from store import keys
from store.ledger import append_ledger_entry

CREDIT_SCOPE = "wallet.credit"


async def get_wallet(session: AsyncSession, customer_id: uuid.UUID) -> WalletOut:
    """Balances per currency (none yet: an empty list)."""
    wallets = (
        await session.execute(
            select(Wallet).where(Wallet.customer_id == customer_id).order_by(Wallet.currency)
        )
    ).scalars()
    return WalletOut(
        customer_id=customer_id,
        balances=[Money(amount=w.balance, currency=w.currency) for w in wallets],
    )


async def list_ledger(
    session: AsyncSession, customer_id: uuid.UUID, *, cursor: str | None, limit: int
) -> Page[LedgerEntryOut]:
    """Ledger entries, newest first."""
    query = (
        select(LedgerEntry)
        .where(LedgerEntry.customer_id == customer_id)
        .order_by(LedgerEntry.id.desc())
    )
    if cursor is not None:
        query = query.where(before_id(LedgerEntry.id, cursor))
    rows, next_cursor = await fetch_page(session, query, limit, lambda e: encode_cursor(e.id))
    return Page[LedgerEntryOut](items=[ledger_view(e) for e in rows], next_cursor=next_cursor)


async def credit_wallet(
    services: Services,
    operator: Principal,
    customer_id: uuid.UUID,
    key: str,
    credit: CreditWallet,
) -> tuple[CreditOut, bool]:
    """Top up a wallet once per Idempotency-Key (keys are per target wallet).

    The ledger entry's key derives from the reservation, so even two requests
    racing past the claim write one entry; the first answer is replayed.

    Returns:
        The entry and balance, and whether this answer is a replay.
    """
    if credit.amount.amount == 0:
        raise BookingError(ErrorCode.VALIDATION_ERROR, "amount.amount: must be positive")
    claim = await services.claims.claim(
        principal=str(customer_id),
        scope=CREDIT_SCOPE,
        key=key,
        body=credit.fingerprint(),
        ttl_days=services.settings.idempotency_ttl_days,
    )
    if isinstance(claim.answer, Success):
        return CreditOut.model_validate(claim.answer.body), True
    ledger_key = keys.wallet_credit(customer_id, claim.target_id)
    async with services.sessions() as session:
        await append_ledger_entry(
            session,
            customer_id=customer_id,
            currency=credit.amount.currency,
            amount=credit.amount.amount,
            kind="credit",
            idempotency_key=ledger_key,
            reason=credit.reason,
            actor=f"operator:{operator.sub}",
        )
        await session.commit()
        entry = (
            await session.execute(
                select(LedgerEntry).where(LedgerEntry.idempotency_key == ledger_key)
            )
        ).scalar_one()
        wallet = await session.get(
            Wallet, (customer_id, credit.amount.currency), populate_existing=True
        )
        assert wallet is not None
    out = CreditOut(
        entry=ledger_view(entry), balance=Money(amount=wallet.balance, currency=wallet.currency)
    )
    stored = await claim.settle(Success(201, out.model_dump(mode="json")))
    assert isinstance(stored, Success)
    return CreditOut.model_validate(stored.body), False
