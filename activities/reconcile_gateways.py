"""The gateways job's comparison: one gateway's list against ``gateway_transactions``, both ways.

The gateway's list of the lookback window is what its API answers, in memory
(no gateway offers a cursor to page it); the engine's rows of the window are
read in pages of ``page_size``, each matched against an index of the list, so
the engine's side costs a page of memory however many rows the window holds.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import select

from activities.reconcile_pages import Findings, beat
from core.db import SessionFactory
from integrations.gateways.base import GatewayRecord
from models.db import GatewayTransaction
from models.domain import AttentionKind, GatewayTransactionKind


class _Listed:
    """One gateway's records, indexed for matching the engine's rows one by one."""

    def __init__(self, records: list[GatewayRecord]) -> None:
        self.captures = {r.payment_id: r for r in records if r.kind == "capture"}
        self.refunds = {r.id: r for r in records if r.kind != "capture"}
        # A refund whose answer was lost has no id in our books yet: it matches by
        # payment and amount, among the refunds not matched otherwise.
        self.by_amount: dict[tuple[str, int], list[GatewayRecord]] = defaultdict(list)
        for record in self.refunds.values():
            self.by_amount[(record.payment_id, record.amount)].append(record)
        self.matched: set[str] = set()

    def match(self, row: GatewayTransaction) -> GatewayRecord | None:
        """The listed record of ``row`` (marked matched), or None."""
        if row.kind == GatewayTransactionKind.CAPTURE:
            record = self.captures.get(row.payment_id)
        elif row.external_id is not None:
            record = self.refunds.get(row.external_id)
        else:
            candidates = self.by_amount.get((row.payment_id, row.amount), [])
            record = next((r for r in candidates if r.id not in self.matched), None)
        if record is not None:
            self.matched.add(record.id)
        return record


async def compare(
    sessions: SessionFactory,
    findings: Findings,
    provider: str,
    records: list[GatewayRecord],
    since: datetime,
    settled_before: datetime,
    page_size: int,
) -> int:
    """Compare one gateway's list with its rows; returns how many records and rows were checked."""
    listed = _Listed(records)
    window = (
        GatewayTransaction.provider == provider,
        GatewayTransaction.created_at >= since - timedelta(hours=1),
    )
    no_id = (GatewayTransaction.kind == GatewayTransactionKind.REFUND) & (
        GatewayTransaction.external_id.is_(None)
    )
    checked = 0
    # Rows with the gateway's id first, so a refund without one matches by amount only
    # what no row claims by id.
    for which in (~no_id, no_id):
        after = 0
        while True:
            async with sessions() as session:
                findings.session = session
                rows = (
                    await session.scalars(
                        select(GatewayTransaction)
                        .where(*window, which, GatewayTransaction.id > after)
                        .order_by(GatewayTransaction.id)
                        .limit(page_size)
                    )
                ).all()
                for row in rows:
                    await _judge_row(findings, provider, listed, row, since, settled_before)
                await session.commit()
            checked += len(rows)
            if rows:
                after = rows[-1].id
            beat({"provider": provider, "after": after})
            if len(rows) < page_size:
                break
    async with sessions() as session:
        findings.session = session
        for record in records:
            if record.id in listed.matched or record.created_at >= settled_before:
                continue
            await _unknown(findings, provider, record)
        await session.commit()
    return len(records) + checked


async def _judge_row(
    findings: Findings,
    provider: str,
    listed: _Listed,
    row: GatewayTransaction,
    since: datetime,
    settled_before: datetime,
) -> None:
    if row.kind == GatewayTransactionKind.REFUND and row.status == "FAILED":
        return
    record = listed.match(row)
    if record is not None:
        if row.kind == GatewayTransactionKind.CAPTURE and (row.amount, row.currency) != (
            record.amount,
            record.currency,
        ):
            await findings.add(
                AttentionKind.GATEWAY_MISMATCH,
                f"{provider}:capture:{record.id}",
                f"{provider} payment {record.id}: {record.amount} {record.currency} at the "
                f"gateway, {row.amount} {row.currency} in the engine's books",
                row.booking_id,
            )
        return
    if row.created_at >= settled_before or row.created_at < since:
        return
    await findings.add(
        AttentionKind.GATEWAY_MISMATCH,
        f"{provider}:{row.kind}:{row.external_id or row.payment_id}",
        f"the engine records a {row.kind} of {row.amount} {row.currency} for payment "
        f"{row.payment_id} ({row.status}) that {provider} does not list",
        row.booking_id,
    )


async def _unknown(findings: Findings, provider: str, record: GatewayRecord) -> None:
    if record.kind == "capture":
        await findings.add(
            AttentionKind.GATEWAY_MISMATCH,
            f"{provider}:capture:{record.id}",
            f"{provider} captured {record.amount} {record.currency} as payment "
            f"{record.id} (order {record.order_id}) that the engine has no record of",
        )
        return
    await findings.add(
        AttentionKind.GATEWAY_MISMATCH,
        f"{provider}:refund:{record.id}",
        f"{provider} refunded {record.amount} {record.currency} of payment "
        f"{record.payment_id} as {record.id}, which the engine has no record of",
    )
