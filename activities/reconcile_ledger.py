"""The ledger job: each wallet's balance against the sum of its ledger, in pages.

Two passes share one page query. The **full** pass (daily, and whenever no run
has finished yet) walks every wallet. The **incremental** pass (every 15
minutes) walks only the wallets whose row was written since the checkpoint's
horizon (see ``store.checkpoints``): a balance can only come apart from its
ledger by a write to one of the two, and every ledger insert writes its
wallet's row in the same transaction (the ``ledger_apply`` trigger moves the
balance), so a wallet untouched since the last good run still agrees as it
did then.

A wallet's row version carries the id of the transaction that wrote it
(``xmin``, 32 bits); it is widened to 64 bits against the snapshot's next id
and compared with the horizon. That is exact for every row written within
the last two billion transactions, and errs (by judging a wallet once more)
only for rows older than that, which the horizon is never near.

What only the full pass finds: damage written with the database's own rules
switched off (a ledger row inserted or deleted with triggers disabled, a
wallet row deleted), which leaves no wallet written since the horizon.
A day's credits above the threshold (``CREDIT_SPIKE``) can only appear with a
new credit, which writes its wallet: the incremental pass judges them too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text

from activities.reconcile_pages import Findings, beat, resumed
from core.db import SessionFactory
from core.formatting import money
from models.domain import AttentionKind
from models.payloads.reconcile import ReconcileInput
from store import checkpoints

# The checkpoint's job name; the full and the incremental pass share it.
CHECKPOINT = "ledger"
_FIRST = ["00000000-0000-0000-0000-000000000000", ""]

# One page of wallets after (:customer, :currency), with the sum of each one's
# ledger and its credits of the last 24 hours. :horizon NULL: every wallet.
# A row's xmin is widened against x.next, modulo 2^32 (4294967296), where it wraps.
_PAGE = text(
    """
    WITH x AS MATERIALIZED (
        SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS next
    ),
    page AS (
        SELECT w.customer_id, w.currency, w.balance
        FROM wallets w, x
        WHERE (w.customer_id, w.currency)
              > (CAST(:customer AS uuid), CAST(:currency AS char(3)))
          AND (CAST(:horizon AS bigint) IS NULL
               OR x.next - ((x.next % 4294967296) - w.xmin::text::bigint + 4294967296) % 4294967296
                  >= CAST(:horizon AS bigint))
        ORDER BY w.customer_id, w.currency
        LIMIT :size
    )
    SELECT p.customer_id, p.currency, p.balance, s.total, s.credited
    FROM page p
    CROSS JOIN LATERAL (
        SELECT COALESCE(SUM(l.amount), 0) AS total,
               COALESCE(SUM(l.amount) FILTER (
                   WHERE l.kind IN ('credit', 'topup')
                     AND l.created_at >= now() - interval '24 hours'), 0) AS credited
        FROM ledger_entries l
        WHERE l.customer_id = p.customer_id AND l.currency = p.currency
    ) s
    ORDER BY p.customer_id, p.currency
    """
)
# Ledger rows whose wallet row is gone (only with the foreign key switched off).
_ORPHANS = text(
    """
    SELECT l.customer_id, l.currency, SUM(l.amount) AS total
    FROM ledger_entries l
    WHERE NOT EXISTS (
        SELECT 1 FROM wallets w WHERE w.customer_id = l.customer_id AND w.currency = l.currency
    )
    GROUP BY l.customer_id, l.currency
    LIMIT :size
    """
)


async def reconcile_ledger(
    sessions: SessionFactory, request: ReconcileInput, *, full: bool
) -> tuple[Findings, int]:
    """Judge the wallets of one pass, page by page; advance the checkpoint when all are done.

    Returns:
        The findings and how many wallets were judged.
    """
    state = resumed()
    if state is None:
        async with sessions() as session:
            since = None if full else await checkpoints.horizon_of(session, CHECKPOINT)
            # Taken before the first page is read: whatever this run cannot see was
            # written by a transaction at or above it, which the next run judges.
            start = await checkpoints.horizon_now(session)
        state = {"after": _FIRST, "since": since, "horizon": start, "checked": 0}
    findings = Findings()
    spike = _spike_judge(request.credit_spike_amount)
    while True:
        async with sessions() as session:
            findings.session = session
            rows = (
                await session.execute(
                    _PAGE,
                    {
                        "customer": state["after"][0],
                        "currency": state["after"][1],
                        "horizon": state["since"],
                        "size": request.page_size,
                    },
                )
            ).all()
            for row in rows:
                await _judge(findings, row.customer_id, row.currency, row.balance, row.total)
                await spike(findings, row.customer_id, row.currency, row.credited)
            await session.commit()
        state["checked"] += len(rows)
        if rows:
            state["after"] = [str(rows[-1].customer_id), rows[-1].currency]
        beat(state)
        if len(rows) < request.page_size:
            break
    async with sessions() as session:
        findings.session = session
        if state["since"] is None:
            for row in (await session.execute(_ORPHANS, {"size": request.page_size})).all():
                await _judge(findings, row.customer_id, row.currency, 0, row.total)
        await checkpoints.advance(session, CHECKPOINT, state["horizon"])
        await session.commit()
    return findings, int(state["checked"])


async def _judge(
    findings: Findings, customer: Any, currency: str, balance: Any, total: Any
) -> None:
    balance, ledger = int(balance), int(total)
    if balance == ledger:
        return
    await findings.add(
        AttentionKind.BALANCE_MISMATCH,
        f"wallet:{customer}:{currency}",
        f"wallet {customer} {currency}: balance {balance} but the "
        f"ledger sums to {ledger} (difference {balance - ledger}, "
        f"{money(balance - ledger, currency)})",
    )


def _spike_judge(threshold: int) -> Callable[[Findings, Any, str, Any], Awaitable[None]]:
    day = datetime.now(UTC).date().isoformat()

    async def judge(findings: Findings, customer: Any, currency: str, credited: Any) -> None:
        if int(credited) <= threshold:
            return
        await findings.add(
            AttentionKind.CREDIT_SPIKE,
            f"credits:{customer}:{currency}:{day}",
            f"wallet {customer} was credited {int(credited)} {currency} "
            f"({money(int(credited), currency)}) in 24 hours "
            f"(threshold {threshold})",
        )

    return judge
