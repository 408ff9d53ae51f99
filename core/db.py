"""Async engine and session factory, and the PostgreSQL error helpers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.util import await_only

from core.db_tls import split_tls
from core.settings import Settings

SessionFactory = async_sessionmaker[AsyncSession]


def create_engine(settings: Settings, database_url: str | None = None) -> AsyncEngine:
    """An async engine for the configured database."""
    url = database_url or settings.database_url
    if url is None:
        raise RuntimeError("BOOKING_DATABASE_URL is not set (make dev sets it for you)")
    # sslmode, sslrootcert, ... in the URL (core/db_tls.py), as for the migrations.
    target, tls = split_tls(url)
    engine = create_async_engine(
        target,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        # Fail fast when PostgreSQL is unreachable instead of hanging a request.
        connect_args={"timeout": 5, "command_timeout": 30, **tls},
    )
    if settings.db_pre_ping:
        event.listen(engine.sync_engine.pool, "checkout", _ping)
    return engine


def _ping(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    """Test a pooled connection as it is checked out; a dead one is replaced (the pool retries).

    SQLAlchemy's own ``pool_pre_ping`` on asyncpg wraps its test query in a
    transaction (for PgBouncer's transaction mode): BEGIN, the query,
    ROLLBACK, three round trips per checkout. The engine talks to PostgreSQL
    directly, so one empty statement is enough.
    """
    try:
        await_only(record.driver_connection.fetchrow(";"))
    except Exception as exc:
        raise DisconnectionError(f"the pooled connection is dead: {exc!r}") from exc


# ``to_char`` format of a timestamp that PostgreSQL writes into JSON (after ``AT TIME
# ZONE 'UTC'``): ISO 8601 in UTC, microseconds included, whatever the server's TimeZone.
# Bound as a parameter (``:utc_iso``) where a statement builds JSON.
UTC_ISO = 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'


def autocommit(sessions: SessionFactory) -> AsyncEngine:
    """The sessions' engine without transactions: each statement commits on its own.

    For work that is one statement (a count, a claim, a stored answer): it
    saves the BEGIN and COMMIT around it, two of its three round trips.
    """
    bind: AsyncEngine = sessions.kw["bind"]
    return bind.execution_options(isolation_level="AUTOCOMMIT")


def session_factory(engine: AsyncEngine) -> SessionFactory:
    """Sessions that keep loaded attributes after commit (we hand them to responses)."""
    return async_sessionmaker(engine, expire_on_commit=False)


@dataclass(frozen=True)
class PgError:
    """The parts of a PostgreSQL error we branch on."""

    sqlstate: str | None
    constraint: str | None


def pg_error(exc: DBAPIError) -> PgError:
    """Extract SQLSTATE and constraint name from an asyncpg error wrapped by SQLAlchemy."""
    cause = exc.orig.__cause__ if exc.orig is not None else None
    sqlstate = getattr(cause, "sqlstate", None) or getattr(exc.orig, "sqlstate", None)
    return PgError(sqlstate=sqlstate, constraint=getattr(cause, "constraint_name", None))


# What a database outage raises, by cause (SQLSTATE): the statement may succeed if
# tried again once the server is back. Class 08 is a lost or refused connection.
TRANSIENT_SQLSTATES = {
    "57P01": "admin shutdown",
    "57P02": "crash shutdown",
    "57P03": "cannot connect now (starting up or recovering)",
    "40001": "serialization failure",
    "40P01": "deadlock detected",
    "55P03": "lock not available",
    "53300": "too many connections",
    "25006": "read-only transaction (a failover in progress)",
}
CONNECTION_EXCEPTION_CLASS = "08"


def outage_cause(exc: BaseException) -> str | None:
    """Why ``exc`` is a database outage that a retry may outlast, in words (None: it is not).

    By cause, not by exception class: PostgreSQL shutting down reaches SQLAlchemy
    as a plain ``DBAPIError`` or ``InternalError``, and a lost connection as
    several classes, so the SQLSTATE decides, then the connection's fate.
    """
    if isinstance(exc, DBAPIError):
        sqlstate = pg_error(exc).sqlstate or ""
        if sqlstate in TRANSIENT_SQLSTATES:
            return TRANSIENT_SQLSTATES[sqlstate]
        if sqlstate.startswith(CONNECTION_EXCEPTION_CLASS):
            return "connection exception"
        if exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError):
            return "connection lost"
        return None
    if isinstance(exc, OperationalError | InterfaceError | DisconnectionError | OSError):
        return "connection lost"
    raw = getattr(exc, "sqlstate", None)  # asyncpg's own, unwrapped
    if isinstance(raw, str) and (
        raw in TRANSIENT_SQLSTATES or raw.startswith(CONNECTION_EXCEPTION_CLASS)
    ):
        return TRANSIENT_SQLSTATES.get(raw, "connection exception")
    if type(exc).__module__.startswith("asyncpg") and "Connection" in type(exc).__name__:
        return "connection lost"
    return None


EXCLUSION_VIOLATION = "23P01"
CHECK_VIOLATION = "23514"
UNIQUE_VIOLATION = "23505"
# SQLSTATE class 22: PostgreSQL refused a value (out of range, untranslatable, ...).
DATA_EXCEPTION_CLASS = "22"
