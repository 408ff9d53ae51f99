"""Idempotency keys: a key names one request body; its first answer is the answer."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.dialects.postgresql import insert

from core.db import SessionFactory
from core.errors import BookingError, ErrorCode
from models.db import IdempotencyRecord


def request_hash(body: dict[str, Any]) -> str:
    """A digest of the parsed body, so formatting differences are the same request."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Reservation:
    """A key's record: the target it names, and its stored answer if it has one."""

    target_id: uuid.UUID
    response_status: int | None
    response_body: dict[str, Any] | None
    first: bool


async def reserve(
    sessions: SessionFactory,
    *,
    principal: str,
    scope: str,
    key: str,
    body_hash: str,
    ttl_days: int,
) -> Reservation:
    """Claim ``key`` for this body, or find the claim an earlier request made.

    Every concurrent request with the same key gets the same ``target_id``;
    ``first`` says whether this request made the claim.

    Raises:
        BookingError: ``IDEMPOTENCY_KEY_REUSED`` when the key was used with another body.
    """
    target_id = uuid.uuid4()
    async with sessions() as session:
        inserted = await session.execute(
            insert(IdempotencyRecord)
            .values(
                principal=principal,
                scope=scope,
                key=key,
                request_hash=body_hash,
                target_id=target_id,
                expires_at=datetime.now(UTC) + timedelta(days=ttl_days),
            )
            .on_conflict_do_nothing()
            .returning(IdempotencyRecord.key)
        )
        if inserted.first() is not None:
            await session.commit()
            return Reservation(target_id, None, None, first=True)
        record = (
            await session.execute(select(IdempotencyRecord).where(*_key(principal, scope, key)))
        ).scalar_one()
        await session.commit()
    if record.request_hash != body_hash:
        raise BookingError(
            ErrorCode.IDEMPOTENCY_KEY_REUSED,
            "This Idempotency-Key was already used with a different request body.",
        )
    return Reservation(record.target_id, record.response_status, record.response_body, first=False)


async def settle(
    sessions: SessionFactory,
    *,
    principal: str,
    scope: str,
    key: str,
    status: int,
    body: dict[str, Any],
) -> tuple[int, dict[str, Any]]:
    """Store the key's answer unless one is stored already; return the stored one.

    So concurrent requests that finish in any order all answer the first answer.
    """
    stored = await _store_answer(
        sessions, _key(principal, scope, key), status, body, unless_started=False
    )
    assert stored is not None
    return stored


async def mark_started(
    sessions: SessionFactory, *, principal: str, scope: str, key: str
) -> tuple[int, dict[str, Any]] | None:
    """Record that work with side effects begins for ``key``; return its answer if it has one.

    After this, :func:`refuse` can no longer answer the key: the work's own
    answer is the answer. A stored answer (a refusal that won the race) is
    returned instead, and the caller must not start the work.
    """
    async with sessions() as session:
        row = (
            await session.execute(
                update(IdempotencyRecord)
                .where(*_key(principal, scope, key))
                .values(started_at=func.coalesce(IdempotencyRecord.started_at, func.now()))
                .returning(IdempotencyRecord.response_status, IdempotencyRecord.response_body)
            )
        ).one()
        await session.commit()
    if row.response_status is None or row.response_body is None:
        return None
    return row.response_status, row.response_body


async def refuse(
    sessions: SessionFactory,
    *,
    principal: str,
    scope: str,
    key: str,
    status: int,
    body: dict[str, Any],
) -> tuple[int, dict[str, Any]] | None:
    """Answer ``key`` with a refusal, unless work for it has started; return the stored answer.

    None means a concurrent request with the same key has started the work
    (see :func:`mark_started`): the caller must attach to that work instead.
    """
    return await _store_answer(
        sessions, _key(principal, scope, key), status, body, unless_started=True
    )


async def _store_answer(
    sessions: SessionFactory,
    key: tuple[ColumnElement[bool], ...],
    status: int,
    body: dict[str, Any],
    *,
    unless_started: bool,
) -> tuple[int, dict[str, Any]] | None:
    """Store ``status`` and ``body`` as the key's answer if it has none (and, with
    ``unless_started``, no work began for it); return the key's answer afterwards.

    None: the key has no answer, because work began and has not answered yet.
    """
    condition = [IdempotencyRecord.response_body.is_(None)]
    if unless_started:
        condition.append(IdempotencyRecord.started_at.is_(None))
    async with sessions() as session:
        stored_now = await session.execute(
            update(IdempotencyRecord)
            .where(*key, *condition)
            .values(response_status=status, response_body=body)
            .returning(IdempotencyRecord.key)
        )
        if stored_now.first() is not None:
            await session.commit()
            return status, body
        row = (
            await session.execute(
                select(IdempotencyRecord.response_status, IdempotencyRecord.response_body).where(
                    *key
                )
            )
        ).one()
        await session.commit()
    if row.response_status is None or row.response_body is None:
        return None
    return row.response_status, row.response_body


def _key(principal: str, scope: str, key: str) -> tuple[ColumnElement[bool], ...]:
    return (
        IdempotencyRecord.principal == principal,
        IdempotencyRecord.scope == scope,
        IdempotencyRecord.key == key,
    )
