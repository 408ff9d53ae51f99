"""Async engine and session factory, and the PostgreSQL error helpers."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from core.settings import Settings

SessionFactory = async_sessionmaker[AsyncSession]


def create_engine(settings: Settings, database_url: str | None = None) -> AsyncEngine:
    """An async engine for the configured database."""
    url = database_url or settings.database_url
    if url is None:
        raise RuntimeError("BOOKING_DATABASE_URL is not set (make dev sets it for you)")
    return create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_pre_ping=settings.db_pre_ping,
        # Fail fast when PostgreSQL is unreachable instead of hanging a request.
        connect_args={"timeout": 5, "command_timeout": 30},
    )


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


EXCLUSION_VIOLATION = "23P01"
CHECK_VIOLATION = "23514"
UNIQUE_VIOLATION = "23505"
# SQLSTATE class 22: PostgreSQL refused a value (out of range, untranslatable, ...).
DATA_EXCEPTION_CLASS = "22"
