"""The ledger job: each wallet's balance against the sum of its ledger, in pages.

The **full** pass (daily, and whenever no run has finished yet) walks every
wallet in key order, a page at a time, with the ledger's sums over the same
stretch of keys (so ledger rows without a wallet are found too). The
**incremental** pass (every 15 minutes) walks only the wallets whose row was
written since the checkpoint's horizon (see ``store.checkpoints``): a balance
can only come apart from its ledger by a write to one of the two, and every
ledger insert writes its wallet's row in the same transaction (the
``ledger_apply`` trigger moves the balance), so a wallet untouched since the
last good run still agrees as it did then.

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

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from activities.reconcile_pages import Findings, beat, resumed
from core.db import SessionFactory
from core.formatting import money
from models.domain import AttentionKind
from models.payloads.reconcile import ReconcileInput
from store import checkpoints

# The checkpoint's job name; the full and the incremental pass share it.
CHECKPOINT = "ledger"
_FIRST = ["00000000-0000-0000-0000-000000000000", ""]

# The incremental page: the next wallets after (:customer, :currency) whose row was
# written at or above :horizon, each with the sum of its ledger and of its credits of the
# last 24 hours. A row's xmin is widened to 64 bits against the snapshot's next id,
# modulo 2^32 (4294967296), where it wraps.
_CHANGED = text(
    """
    WITH x AS MATERIALIZED (
        SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS next
    ),
    page AS (
        SELECT w.customer_id, w.currency, w.balance
        FROM wallets w, x
        WHERE (w.customer_id, w.currency)
              > (CAST(:customer AS uuid), CAST(:currency AS char(3)))
          AND x.next - ((x.next % 4294967296) - w.xmin::text::bigint + 4294967296) % 4294967296
              >= CAST(:horizon AS bigint)
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
# The full pass's page: the next wallets, then the ledger's sums over the same stretch of
# keys (to the page's last wallet; the last page's to the end), which also holds the
# ledger rows that have no wallet.
_WALLETS = text(
    """
    SELECT customer_id, currency, balance FROM wallets
    WHERE (customer_id, currency) > (CAST(:customer AS uuid), CAST(:currency AS char(3)))
    ORDER BY customer_id, currency
    LIMIT :size
    """
)
_STRETCH = """
    SELECT l.customer_id, l.currency, COALESCE(SUM(l.amount), 0) AS total,
           COALESCE(SUM(l.amount) FILTER (
               WHERE l.kind IN ('credit', 'topup')
                 AND l.created_at >= now() - interval '24 hours'), 0) AS credited
    FROM ledger_entries l
    WHERE l.customer_id >= CAST(:customer AS uuid)
      AND (l.customer_id, l.currency) > (CAST(:customer AS uuid), CAST(:currency AS char(3)))
"""
_STRETCH_TO = text(
    _STRETCH
    + """
      AND l.customer_id <= CAST(:last AS uuid)
      AND (l.customer_id, l.currency) <= (CAST(:last AS uuid), CAST(:last_currency AS char(3)))
    GROUP BY l.customer_id, l.currency
    """
)
_STRETCH_TO_END = text(_STRETCH + " GROUP BY l.customer_id, l.currency")


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
    size = request.full_page_size if state["since"] is None else request.page_size
    findings = Findings()
    spike = _spike_judge(request.credit_spike_amount)
    while True:
        async with sessions() as session:
            findings.session = session
            after = {"customer": state["after"][0], "currency": state["after"][1]}
            rows: Sequence[Any]
            if state["since"] is None:
                rows = await _full_page(session, after, size)
            else:
                changed = {**after, "horizon": state["since"], "size": request.page_size}
                rows = (await session.execute(_CHANGED, changed)).all()
            for row in rows:
                await _judge(findings, row.customer_id, row.currency, row.balance, row.total)
                await spike(findings, row.customer_id, row.currency, row.credited)
            await session.commit()
        wallets = [row for row in rows if row.balance is not None]
        state["checked"] += len(wallets)
        if wallets:
            state["after"] = [str(wallets[-1].customer_id), wallets[-1].currency]
        beat(state)
        if len(wallets) < size:
            break
    async with sessions() as session:
        await checkpoints.advance(session, CHECKPOINT, state["horizon"])
        await session.commit()
    return findings, int(state["checked"])


class _Row(NamedTuple):
    customer_id: Any
    currency: str
    balance: int | None  # None: ledger rows without a wallet
    total: int
    credited: int


async def _full_page(session: AsyncSession, after: dict[str, str], size: int) -> list[_Row]:
    """The next ``size`` wallets, and every ledger key from ``after`` up to the last of them.

    The last page's stretch runs to the end, so together the pages tile every key.
    """
    wallets = (await session.execute(_WALLETS, {**after, "size": size})).all()
    if len(wallets) == size:
        last = {"last": str(wallets[-1].customer_id), "last_currency": wallets[-1].currency}
        stretch = await session.execute(_STRETCH_TO, {**after, **last})
    else:
        stretch = await session.execute(_STRETCH_TO_END, after)
    sums = {(r.customer_id, r.currency): r for r in stretch}
    rows = []
    for w in wallets:
        found = sums.pop((w.customer_id, w.currency), None)
        total, credited = (found.total, found.credited) if found else (0, 0)
        rows.append(_Row(w.customer_id, w.currency, w.balance, total, credited))
    rows += [_Row(c, cur, None, r.total, r.credited) for (c, cur), r in sorted(sums.items())]
    return rows


async def _judge(
    findings: Findings, customer: Any, currency: str, balance: int | None, total: Any
) -> None:
    balance, ledger = int(balance or 0), int(total)
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
