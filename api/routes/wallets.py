"""Wallets."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from api.deps import CurrentUser, IdempotencyKey, Operator, ServicesDep, SessionDep
from api.errors import error_response
from api.schemas.common import Page
from api.schemas.wallets import CreditIn, CreditOut, LedgerEntryOut, TopupIn, TopupOut, WalletOut
from api.services import topups, wallets
from api.services.idempotency import Refusal
from models.errors import ErrorCode

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


@router.post("/me/topups", status_code=201, response_model=TopupOut)
async def create_topup(
    request: Request, body: TopupIn, user: CurrentUser, key: IdempotencyKey, services: ServicesDep
) -> JSONResponse:
    """Add money to the caller's wallet through a gateway; once per Idempotency-Key.

    Answers AWAITING_PAYMENT with the order and its checkout URL. The capture
    credits the wallet once (ledger kind ``topup``), also after the window
    closed. Over today's limit: 429 ``TOPUP_LIMIT_EXCEEDED`` with Retry-After.
    """
    answer, replayed = await topups.create_topup(services, user, key, body.to_command())
    if isinstance(answer, Refusal):
        response = error_response(request, answer.code, answer.message)
        if answer.code == ErrorCode.TOPUP_LIMIT_EXCEEDED:
            response.headers["Retry-After"] = str(topups.seconds_to_midnight())
    else:
        response = JSONResponse(answer.body, status_code=answer.status)
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@router.get("/me/topups/{topup_id}", response_model=TopupOut)
async def get_topup(topup_id: uuid.UUID, user: CurrentUser, services: ServicesDep) -> TopupOut:
    """One of the caller's top-ups, with its status and order."""
    return await topups.get_topup(services, user, topup_id)


@router.post("/{customer_id}/credits", status_code=201, response_model=CreditOut)
async def credit(
    customer_id: uuid.UUID,
    body: CreditIn,
    operator: Operator,
    key: IdempotencyKey,
    services: ServicesDep,
) -> JSONResponse:
    """Top up a customer's wallet (operators); once per Idempotency-Key."""
    out, replayed = await wallets.credit_wallet(
        services, operator, customer_id, key, body.to_command()
    )
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    return JSONResponse(out.model_dump(mode="json"), status_code=201, headers=headers)
