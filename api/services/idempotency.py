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
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ARRAY,
    JSON,
    DateTime,
    Integer,
    String,
    Table,
    Uuid,
    bindparam,
    func,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from api.errors import HTTP_STATUS
from core.db import SessionFactory, autocommit
from core.rounds import Batch, Rounds
from models.db import IdempotencyRecord
from models.errors import BookingError, ErrorCode

# Core statements on the table: no record object is ever loaded here, so the ORM's
# bulk update and insert machinery (session synchronisation, evaluation of the
# WHERE clause) would be CPU spent on every refused create for nothing.
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


def _answer_of(status: int | None, body: dict[str, Any] | None) -> Answer | None:
    if status is None or body is None:
        return None
    if status >= 400:
        error = body["error"]
        return Refusal(ErrorCode(error["code"]), str(error["message"]))
    return Success(status, body)


def _answer_columns(answer: Answer) -> dict[str, Any]:
    if isinstance(answer, Refusal):
        body = {"error": {"code": answer.code.value, "message": answer.message}}
        return {"response_status": answer.status, "response_body": body}
    return {"response_status": answer.status, "response_body": answer.body}


@dataclass(frozen=True)
class IdempotencyKey:
    """One caller's key in one scope, and what it stood for when this request read it.

    Each of its writes is one statement on ``db``, an autocommit engine: no
    BEGIN and COMMIT around it.
    """

    db: AsyncEngine
    principal: str
    scope: str
    key: str
    target_id: uuid.UUID
    first: bool
    answer: Answer | None
    # The digest of the body the key was first claimed with.
    body_hash: str

    async def start(self) -> Answer | None:
        """Record that work with side effects begins; return the key's answer if it has one.

        After this, :meth:`refuse` can no longer answer the key. A stored answer
        (a refusal that won the race) is returned instead, and the caller must
        not start the work.
        """
        async with self.db.connect() as conn:
            row = (await conn.execute(_START, self._names())).one()
        return _answer_of(row.response_status, row.response_body)

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
        store = _REFUSE if unless_started else _SETTLE
        async with self.db.connect() as conn:
            stored_now = await conn.execute(store, {**self._names(), **_answer_columns(answer)})
            if stored_now.first() is not None:
                return answer
            row = (await conn.execute(_ANSWER, self._names())).one()
        return _answer_of(row.response_status, row.response_body)

    def _names(self) -> dict[str, str]:
        return {"of_principal": self.principal, "of_scope": self.scope, "of_key": self.key}


# One key's record, by its three names; the statements below are built once and bind them.
_THE_KEY = (
    _KEYS.principal == bindparam("of_principal"),
    _KEYS.scope == bindparam("of_scope"),
    _KEYS.key == bindparam("of_key"),
)
_START = (
    update(_TABLE)
    .where(*_THE_KEY)
    .values(started_at=func.coalesce(_KEYS.started_at, func.now()))
    .returning(_KEYS.response_status, _KEYS.response_body)
)
# An answer, stored only where none is (and, for a refusal, only before the work started).
_SETTLE = (
    update(_TABLE)
    .where(*_THE_KEY, _KEYS.response_body.is_(None))
    .values(response_status=bindparam("response_status"), response_body=bindparam("response_body"))
    .returning(_KEYS.key)
)
_REFUSE = _SETTLE.where(_KEYS.started_at.is_(None))
_ANSWER = select(_KEYS.response_status, _KEYS.response_body).where(*_THE_KEY)


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


# Many keys claimed in one statement; a key already there (a retry, a concurrent
# duplicate, a key reused with another body) is read back by the next.
_CLAIM_MANY = text(
    """
    INSERT INTO idempotency_records
        AS r (principal, scope, key, request_hash, target_id, expires_at)
    SELECT * FROM unnest(:principals, :scopes, :keys, :hashes, :targets, :expiries)
    ON CONFLICT DO NOTHING
    RETURNING r.principal, r.scope, r.key
    """
).bindparams(
    bindparam("principals", type_=ARRAY(String)),
    bindparam("scopes", type_=ARRAY(String)),
    bindparam("keys", type_=ARRAY(String)),
    bindparam("hashes", type_=ARRAY(String)),
    bindparam("targets", type_=ARRAY(Uuid)),
    bindparam("expiries", type_=ARRAY(DateTime(timezone=True))),
)
_CLAIMED = (
    text(
        """
        SELECT r.principal, r.scope, r.key, r.request_hash, r.target_id,
               r.response_status, r.response_body
        FROM idempotency_records AS r
        JOIN unnest(:principals, :scopes, :keys) AS v(principal, scope, key)
          ON r.principal = v.principal AND r.scope = v.scope AND r.key = v.key
        """
    )
    .bindparams(
        bindparam("principals", type_=ARRAY(String)),
        bindparam("scopes", type_=ARRAY(String)),
        bindparam("keys", type_=ARRAY(String)),
    )
    .columns(
        principal=String,
        scope=String,
        key=String,
        request_hash=String,
        target_id=Uuid,
        response_status=Integer,
        response_body=JSON,
    )
)


@dataclass(frozen=True)
class _Claim:
    principal: str
    scope: str
    key: str
    body_hash: str
    ttl_days: int


class KeyClaims:
    """Idempotency keys claimed by one statement per round (one process's).

    Every request that names a key claims it first: a burst of creates claims
    hundreds at once. They go in :class:`~core.rounds.Rounds`: a lone claim at
    once, the rest one insert per round, and one read for the keys that were
    there already.
    """

    def __init__(self, sessions: SessionFactory) -> None:
        self._autocommit = autocommit(sessions)
        self._rounds: Rounds[_Claim, IdempotencyKey] = Rounds(self._claim)

    async def claim(
        self, *, principal: str, scope: str, key: str, body: dict[str, Any], ttl_days: int
    ) -> IdempotencyKey:
        """Claim ``key`` for this body, or find the claim an earlier request made.

        Every concurrent request with the same key gets the same ``target_id``;
        ``first`` says whether this request made the claim.

        Raises:
            BookingError: ``IDEMPOTENCY_KEY_REUSED`` when the key was used with another body.
        """
        body_hash = request_hash(body)
        claim = await self._rounds.submit(_Claim(principal, scope, key, body_hash, ttl_days))
        if claim.body_hash != body_hash:
            raise BookingError(
                ErrorCode.IDEMPOTENCY_KEY_REUSED,
                "This Idempotency-Key was already used with a different request body.",
            )
        return claim

    async def _claim(self, batch: Batch[_Claim, IdempotencyKey]) -> None:
        # A key named twice in one round is inserted once; its first caller made the claim.
        fresh: dict[tuple[str, str, str], tuple[_Claim, uuid.UUID]] = {}
        for wanted, _ in batch:
            fresh.setdefault((wanted.principal, wanted.scope, wanted.key), (wanted, uuid.uuid4()))
        now = datetime.now(UTC)
        claims = [c for c, _ in fresh.values()]
        async with self._autocommit.connect() as conn:
            inserted = {
                (row.principal, row.scope, row.key)
                for row in await conn.execute(
                    _CLAIM_MANY,
                    {
                        "principals": [c.principal for c in claims],
                        "scopes": [c.scope for c in claims],
                        "keys": [c.key for c in claims],
                        "hashes": [c.body_hash for c in claims],
                        "targets": [target for _, target in fresh.values()],
                        "expiries": [now + timedelta(days=c.ttl_days) for c in claims],
                    },
                )
            }
            there = [k for k in fresh if k not in inserted]
            records = {}
            if there:
                rows = await conn.execute(
                    _CLAIMED,
                    {
                        "principals": [k[0] for k in there],
                        "scopes": [k[1] for k in there],
                        "keys": [k[2] for k in there],
                    },
                )
                records = {(r.principal, r.scope, r.key): r for r in rows}
        made: set[tuple[str, str, str]] = set()
        for wanted, answered in batch:
            k = _claim_key(wanted)
            if k in inserted:
                # Inserted by this round: its first caller made the claim, a duplicate
                # caller finds it unanswered.
                first, target = fresh[k]
                result = IdempotencyKey(
                    self._autocommit, *k, target, k not in made, None, first.body_hash
                )
                made.add(k)
            else:
                r = records[k]
                answer = _answer_of(r.response_status, r.response_body)
                result = IdempotencyKey(
                    self._autocommit, *k, r.target_id, False, answer, r.request_hash
                )
            if not answered.done():
                answered.set_result(result)


def _claim_key(claim: _Claim) -> tuple[str, str, str]:
    return (claim.principal, claim.scope, claim.key)


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
        self._autocommit = autocommit(sessions)
        self._rounds: Rounds[tuple[IdempotencyKey, Refusal], Answer | None] = Rounds(self._store)

    async def refuse(self, claim: IdempotencyKey, refusal: Refusal) -> Answer | None:
        """:meth:`IdempotencyKey.refuse`, in the next round's statement."""
        return await self._rounds.submit((claim, refusal))

    async def _store(self, batch: Batch[tuple[IdempotencyKey, Refusal], Answer | None]) -> None:
        by_refusal: dict[Refusal, list[tuple[IdempotencyKey, asyncio.Future[Answer | None]]]] = {}
        for (claim, refusal), answered in batch:
            by_refusal.setdefault(refusal, []).append((claim, answered))
        for refusal, members in by_refusal.items():
            columns = _answer_columns(refusal)
            async with self._autocommit.connect() as conn:
                stored = {
                    (row.principal, row.scope, row.key)
                    for row in await conn.execute(
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
            for claim, answered in members:
                if (claim.principal, claim.scope, claim.key) in stored:
                    answer: Answer | None = refusal
                else:
                    answer = await claim.refuse(refusal)
                if not answered.done():  # its caller may have gone
                    answered.set_result(answer)
