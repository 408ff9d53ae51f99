"""The benchmark's report shows its settings without secrets or the machine's paths."""

from __future__ import annotations

from pathlib import Path

from bench.environment import redact


def test_settings_in_the_report_hide_secrets_and_the_temporary_directory() -> None:
    """Secrets read ``<generated>``; the run's directory reads ``<temporary directory>``."""
    workdir = Path("/var/run/booking-bench-abc123")
    shown = redact(
        {
            "BOOKING_JWT_SECRET": "s3cr3t",
            "BOOKING_SANDBOX_API_KEY": "sk_x",
            "BOOKING_PAYLOAD_KEYS": "k1:AAAA",
            "BOOKING_DATABASE_URL": f"postgresql+asyncpg://postgres:@/booking?host={workdir}/pg",
            "BOOKING_TASK_QUEUE": "bookings",
        },
        workdir,
    )

    assert shown == {
        "BOOKING_JWT_SECRET": "<generated>",
        "BOOKING_SANDBOX_API_KEY": "<generated>",
        "BOOKING_PAYLOAD_KEYS": "<generated>",
        "BOOKING_DATABASE_URL": (
            "postgresql+asyncpg://postgres:@/booking?host=<temporary directory>/pg"
        ),
        "BOOKING_TASK_QUEUE": "bookings",
    }
