"""Wallets."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from api.deps import CurrentUser, IdempotencyKey, Operator, ServicesDep, SessionDep
from api.schemas import CreditIn, CreditOut, LedgerEntryOut, Page, WalletOut
from api.services import wallets

router = APIRouter(prefix="/v1/wallets", tags=["wallets"])


@router.get("/me", response_model=WalletOut)
async def my_wallet(user: CurrentUser, session: SessionDep) -> WalletOut:
    """The caller's balances per currency."""
    return await wallets.get_wallet(session, user.sub)


@router.get("/me/ledger", response_model=Page[LedgerEntryOut])
async def my_ledger(
    user: CurrentUser,
    session: SessionDep,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[LedgerEntryOut]:
    """The caller's ledger entries, newest first."""
    return await wallets.list_ledger(session, user.sub, cursor=cursor, limit=limit)


@router.post("/{customer_id}/credits", status_code=201, response_model=CreditOut)
async def credit(
    customer_id: uuid.UUID,
    body: CreditIn,
    operator: Operator,
    key: IdempotencyKey,
    services: ServicesDep,
) -> JSONResponse:
    """Top up a customer's wallet (operators); once per Idempotency-Key."""
    out, replayed = await wallets.credit_wallet(services, operator, customer_id, key, body)
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    return JSONResponse(out.model_dump(mode="json"), status_code=201, headers=headers)
