"""Alembic migrations; run with ``booking-engine migrate``."""
