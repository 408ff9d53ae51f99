"""System A, the plain baseline: FastAPI + asyncpg, one PostgreSQL transaction per booking.

What a team writes by hand: a conditional UPDATE takes the slot's capacity, a
conditional UPDATE debits the wallet (balance check in the WHERE clause), an
INSERT writes the booking; all or nothing. It lives in its own database
(``bench_baseline``) and is never part of the engine.

``python -m bench.baseline_app`` serves it on ``BENCH_PORT`` with the database
at ``BENCH_BASELINE_DSN`` (a plain ``postgresql://`` DSN).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator

import asyncpg
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel

SCHEMA = """
CREATE TABLE IF NOT EXISTS slots (
    id uuid PRIMARY KEY,
    price bigint NOT NULL CHECK (price >= 0),
    capacity integer NOT NULL CHECK (capacity >= 1),
    taken integer NOT NULL DEFAULT 0 CHECK (taken >= 0 AND taken <= capacity)
);
CREATE TABLE IF NOT EXISTS wallets (
    customer_id uuid PRIMARY KEY,
    balance bigint NOT NULL CHECK (balance >= 0)
);
CREATE TABLE IF NOT EXISTS bookings (
    id uuid PRIMARY KEY,
    slot_id uuid NOT NULL REFERENCES slots(id),
    customer_id uuid NOT NULL REFERENCES wallets(customer_id),
    amount bigint NOT NULL,
    status text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS bookings_slot ON bookings (slot_id);
"""


class BookIn(BaseModel):
    """The request: which slot, for whom."""

    slot_id: uuid.UUID
    customer_id: uuid.UUID


def create_app(dsn: str) -> FastAPI:
    """The baseline app over a pool on ``dsn``."""
    pool: dict[str, asyncpg.Pool] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # The engine's default pool is 10 + 20 overflow; give the baseline the same ceiling.
        pool["db"] = await asyncpg.create_pool(dsn, min_size=10, max_size=30)
        try:
            yield
        finally:
            await pool["db"].close()

    app = FastAPI(lifespan=lifespan)

    @app.post("/book")
    async def book(body: BookIn) -> JSONResponse:
        booking_id = uuid.uuid4()
        async with pool["db"].acquire() as conn, conn.transaction():
            price = await conn.fetchval(
                "UPDATE slots SET taken = taken + 1 WHERE id = $1 AND taken < capacity"
                " RETURNING price",
                body.slot_id,
            )
            if price is None:
                return JSONResponse({"error": "SLOT_UNAVAILABLE"}, status_code=409)
            debited = await conn.fetchval(
                "UPDATE wallets SET balance = balance - $2 WHERE customer_id = $1"
                " AND balance >= $2 RETURNING balance",
                body.customer_id,
                price,
            )
            if debited is None:
                # Leaving the block by an exception rolls the slot back too.
                raise _Refused("INSUFFICIENT_FUNDS")
            await conn.execute(
                "INSERT INTO bookings (id, slot_id, customer_id, amount, status)"
                " VALUES ($1, $2, $3, $4, 'CONFIRMED')",
                booking_id,
                body.slot_id,
                body.customer_id,
                price,
            )
        return JSONResponse({"id": str(booking_id), "status": "CONFIRMED"}, status_code=201)

    @app.exception_handler(_Refused)
    async def refused(_: object, exc: Exception) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=409)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


class _Refused(Exception):
    """A business refusal that must roll the transaction back."""


def main() -> None:
    """Serve the baseline."""
    import uvicorn

    uvicorn.run(
        create_app(os.environ["BENCH_BASELINE_DSN"]),
        host="127.0.0.1",
        port=int(os.environ["BENCH_PORT"]),
        log_level="warning",
        log_config=None,
    )


if __name__ == "__main__":
    main()
