"""Shared database writes and lookups: ledger, timeline, idempotency keys, booking reads."""
