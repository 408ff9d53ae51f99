"""Idempotency keys: a key names one request body; its first answer is the answer.

One :class:`IdempotencyKey` per request: :meth:`IdempotencyKey.claim` finds or
makes the record, then exactly one of three things answers it:

- :meth:`~IdempotencyKey.refuse`: an early refusal, only while no work started;
- :meth:`~IdempotencyKey.start`: work with side effects begins (after this, only
  the work's own answer can answer the key);
- :meth:`~IdempotencyKey.settle`: the work's answer, unless one is stored.

Answers are typed (:class:`Success` or :class:`Refusal`); the API renders a
refusal through its one error table.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import ARRAY, ColumnElement, String, Table, bindparam, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import HTTP_STATUS
from core.db import SessionFactory
from core.rounds import Batch, Rounds
from models.db import IdempotencyRecord
from models.errors import BookingError, ErrorCode

# Core statements on the table: the ORM's bulk update and insert machinery (session
# synchronisation, evaluation of the WHERE clause) was a sixth of the API's CPU
# for a refused create, and no record object is ever loaded here.
_TABLE = cast(Table, IdempotencyRecord.__table__)
_KEYS = _TABLE.c


def request_hash(body: dict[str, Any]) -> str:
    """A digest of the parsed body, so formatting differences are the same request."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Success:
    """A stored answer with a body (a created booking, a credit)."""

    status: int
    body: dict[str, Any]


@dataclass(frozen=True)
class Refusal:
    """A stored answer that is an error with a documented code."""

    code: ErrorCode
    message: str

    @classmethod
    def of(cls, code: ErrorCode) -> Refusal:
        """The refusal with the code's default message."""
        return cls(code, BookingError(code).message)

    @property
    def status(self) -> int:
        """The HTTP status the error table gives this code."""
        return HTTP_STATUS[self.code]


Answer = Success | Refusal


def _stored(status: int | None, body: dict[str, Any] | None) -> Answer | None:
    if status is None or body is None:
        return None
    if status >= 400:
        error = body["error"]
        return Refusal(ErrorCode(error["code"]), str(error["message"]))
    return Success(status, body)


def _columns(answer: Answer) -> dict[str, Any]:
    if isinstance(answer, Refusal):
        body = {"error": {"code": answer.code.value, "message": answer.message}}
        return {"response_status": answer.status, "response_body": body}
    return {"response_status": answer.status, "response_body": answer.body}


@dataclass(frozen=True)
class IdempotencyKey:
    """One caller's key in one scope, and what it stood for when this request read it."""

    sessions: SessionFactory
    principal: str
    scope: str
    key: str
    target_id: uuid.UUID
    first: bool
    answer: Answer | None

    @classmethod
    async def claim(
        cls,
        sessions: SessionFactory,
        *,
        principal: str,
        scope: str,
        key: str,
        body: dict[str, Any],
        ttl_days: int,
        session: AsyncSession | None = None,
    ) -> IdempotencyKey:
        """Claim ``key`` for this body, or find the claim an earlier request made.

        Every concurrent request with the same key gets the same ``target_id``;
        ``first`` says whether this request made the claim.

        ``session``, when given, is the caller's: the claim is written in its
        transaction and commits it (one connection for the caller's reads and
        the claim).

        Raises:
            BookingError: ``IDEMPOTENCY_KEY_REUSED`` when the key was used with another body.
        """
        body_hash = request_hash(body)
        target_id = uuid.uuid4()
        async with _session_of(sessions, session) as session:
            inserted = await session.execute(
                insert(_TABLE)
                .values(
                    principal=principal,
                    scope=scope,
                    key=key,
                    request_hash=body_hash,
                    target_id=target_id,
                    expires_at=datetime.now(UTC) + timedelta(days=ttl_days),
                )
                .on_conflict_do_nothing()
                .returning(_KEYS.key)
            )
            if inserted.first() is not None:
                await session.commit()
                return cls(sessions, principal, scope, key, target_id, True, None)
            record = (
                await session.execute(
                    select(
                        _KEYS.request_hash,
                        _KEYS.target_id,
                        _KEYS.response_status,
                        _KEYS.response_body,
                    ).where(*_where(principal, scope, key))
                )
            ).one()
            await session.commit()
        if record.request_hash != body_hash:
            raise BookingError(
                ErrorCode.IDEMPOTENCY_KEY_REUSED,
                "This Idempotency-Key was already used with a different request body.",
            )
        answer = _stored(record.response_status, record.response_body)
        return cls(sessions, principal, scope, key, record.target_id, False, answer)

    async def start(self) -> Answer | None:
        """Record that work with side effects begins; return the key's answer if it has one.

        After this, :meth:`refuse` can no longer answer the key. A stored answer
        (a refusal that won the race) is returned instead, and the caller must
        not start the work.
        """
        async with self.sessions() as session:
            row = (
                await session.execute(
                    update(_TABLE)
                    .where(*self._where())
                    .values(started_at=func.coalesce(_KEYS.started_at, func.now()))
                    .returning(_KEYS.response_status, _KEYS.response_body)
                )
            ).one()
            await session.commit()
        return _stored(row.response_status, row.response_body)

    async def refuse(self, refusal: Refusal) -> Answer | None:
        """Answer with ``refusal`` unless work has started; return the key's answer.

        None means a concurrent request with the same key has started the work:
        the caller must attach to that work instead.
        """
        return await self._store(refusal, unless_started=True)

    async def settle(self, answer: Answer) -> Answer:
        """Store ``answer`` unless one is stored already; return the stored one.

        So concurrent requests that finish in any order all give the first answer.
        """
        stored = await self._store(answer, unless_started=False)
        assert stored is not None
        return stored

    async def _store(self, answer: Answer, *, unless_started: bool) -> Answer | None:
        condition = [_KEYS.response_body.is_(None)]
        if unless_started:
            condition.append(_KEYS.started_at.is_(None))
        async with self.sessions() as session:
            stored_now = await session.execute(
                update(_TABLE)
                .where(*self._where(), *condition)
                .values(**_columns(answer))
                .returning(_KEYS.key)
            )
            if stored_now.first() is not None:
                await session.commit()
                return answer
            row = (
                await session.execute(
                    select(_KEYS.response_status, _KEYS.response_body).where(*self._where())
                )
            ).one()
            await session.commit()
        return _stored(row.response_status, row.response_body)

    def _where(self) -> tuple[ColumnElement[bool], ...]:
        return _where(self.principal, self.scope, self.key)


@asynccontextmanager
async def _session_of(
    sessions: SessionFactory, given: AsyncSession | None
) -> AsyncIterator[AsyncSession]:
    """The caller's session as it is, or a new one closed after use."""
    if given is not None:
        yield given
        return
    async with sessions() as session:
        yield session


def _where(principal: str, scope: str, key: str) -> tuple[ColumnElement[bool], ...]:
    return (_KEYS.principal == principal, _KEYS.scope == scope, _KEYS.key == key)


# One refusal stored under many keys: those still unanswered and not started.
_REFUSE_MANY = text(
    """
    UPDATE idempotency_records AS r
    SET response_status = :status, response_body = CAST(:body AS jsonb)
    FROM unnest(:principals, :scopes, :keys) AS v(principal, scope, key)
    WHERE r.principal = v.principal AND r.scope = v.scope AND r.key = v.key
      AND r.response_body IS NULL AND r.started_at IS NULL
    RETURNING r.principal, r.scope, r.key
    """
).bindparams(
    bindparam("principals", type_=ARRAY(String)),
    bindparam("scopes", type_=ARRAY(String)),
    bindparam("keys", type_=ARRAY(String)),
)


class RefusalBatch:
    """Early refusals of many keys stored by one statement per round (one process's).

    A burst's waiters are refused together when one decision fills the slot:
    hundreds of keys, each needing its refusal stored. They go in
    :class:`~core.rounds.Rounds`: a lone refusal at once, the rest one
    statement per round. A key the statement did not answer (started, or
    answered meanwhile) goes through :meth:`IdempotencyKey.refuse`, which
    returns its stored answer.
    """

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions
        self._rounds: Rounds[tuple[IdempotencyKey, Refusal], Answer | None] = Rounds(self._store)

    async def refuse(self, claim: IdempotencyKey, refusal: Refusal) -> Answer | None:
        """:meth:`IdempotencyKey.refuse`, in the next round's statement."""
        return await self._rounds.submit((claim, refusal))

    async def _store(self, batch: Batch[tuple[IdempotencyKey, Refusal], Answer | None]) -> None:
        by_refusal: dict[Refusal, list[tuple[IdempotencyKey, asyncio.Future[Answer | None]]]] = {}
        for (claim, refusal), answered in batch:
            by_refusal.setdefault(refusal, []).append((claim, answered))
        for refusal, members in by_refusal.items():
            columns = _columns(refusal)
            async with self._sessions() as session:
                stored = {
                    (row.principal, row.scope, row.key)
                    for row in await session.execute(
                        _REFUSE_MANY,
                        {
                            "status": columns["response_status"],
                            "body": json.dumps(columns["response_body"]),
                            "principals": [c.principal for c, _ in members],
                            "scopes": [c.scope for c, _ in members],
                            "keys": [c.key for c, _ in members],
                        },
                    )
                }
                await session.commit()
            for claim, answered in members:
                if (claim.principal, claim.scope, claim.key) in stored:
                    answer: Answer | None = refusal
                else:
                    answer = await claim.refuse(refusal)
                if not answered.done():  # its caller may have gone
                    answered.set_result(answer)
