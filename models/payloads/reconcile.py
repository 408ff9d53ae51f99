"""Inputs and result of ``activities.reconcile``; the reconciliation workflow takes them too."""

from __future__ import annotations

from models.domain import ReconcileJob
from models.payloads.common import Frozen


class ReconcileInput(Frozen):
    """One run of a reconciliation job, with the bounds it judges by (set by its schedule)."""

    job: ReconcileJob
    # What changed more recently than this is still settling and is not judged.
    grace_seconds: int = 600
    # How far back the gateways job compares the gateway's list with the engine's books.
    lookback_hours: int = 48
    # A customer credited more than this (minor units, one currency) in a day is a spike.
    credit_spike_amount: int = 10_000_000
    # Rows a job reads per page (one transaction and one heartbeat each).
    page_size: int = 1_000
    # Wallets the ledger's full pass reads per page: its page reads the ledger rows of a
    # stretch of customers, which lie all over the table, so fewer, larger pages read less.
    full_page_size: int = 10_000
    # Rows the purge deletes per statement (one transaction and one heartbeat each).
    purge_batch: int = 10_000


class ReconcileResult(Frozen):
    """What a reconciliation run looked at and found (each finding also opened an alert)."""

    job: ReconcileJob
    checked: int
    findings: list[str] = []


class ReconcileFailedInput(Frozen):
    """A reconciliation job could not finish: open (or settle) its RECONCILIATION_FAILED alert."""

    job: ReconcileJob
    error: str | None = None
