"""`make bench-levers`: what each worker and pool setting gives the engine, measured.

    python -m bench.levers [--only NAME ...] [--rounds N] [--seconds S]

For each lever a fresh stack starts with that setting; the engine (C) and the
Temporal floor (B) then run closed-loop at 16 clients in alternating rounds
(C B C B ...), so each lever is read as C's throughput, C/B, and CPU per
booking per process. Results go to bench/results/levers-<time>.{json,md}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.cpu import cpu_snapshot
from bench.environment import machine
from bench.harness import Bench
from bench.load import closed_loop, percentiles
from bench.outputs import RESULTS
from bench.plan import QUICK
from bench.progress import log
from bench.stack import Stack
from stack.embedded import TEMPORAL_SQLITE_PRAGMAS, free_port
from stack.mailsink import MailSink


@dataclass(frozen=True)
class Lever:
    """One configuration of the engine's stack."""

    name: str
    what: str
    overrides: dict[str, str] = field(default_factory=dict)
    workers: int = 1
    apis: int = 1
    # The bookings carry a contact: the confirmation is composed and sent over SMTP.
    mail: bool = False
    # The Temporal dev server's SQLite pragmas.
    temporal_sqlite_pragmas: tuple[str, ...] = TEMPORAL_SQLITE_PRAGMAS


LEVERS = (
    Lever("defaults", "as shipped: sandboxed workflows, pool 10+20, one worker process"),
    Lever(
        "with-mail",
        "the bookings carry a contact address: each confirmation is composed (with its "
        "invite) and sent to a mail sink in the bench's process",
        mail=True,
    ),
    Lever(
        "no-sandbox",
        "BOOKING_WORKFLOW_SANDBOX=false (docs/determinism.md)",
        {"BOOKING_WORKFLOW_SANDBOX": "false"},
    ),
    Lever(
        "small-pool",
        "BOOKING_DB_POOL_SIZE=4, BOOKING_DB_MAX_OVERFLOW=0 (API and worker each)",
        {"BOOKING_DB_POOL_SIZE": "4", "BOOKING_DB_MAX_OVERFLOW": "0"},
    ),
    Lever(
        "big-pool",
        "BOOKING_DB_POOL_SIZE=40, BOOKING_DB_MAX_OVERFLOW=20 (API and worker each)",
        {"BOOKING_DB_POOL_SIZE": "40", "BOOKING_DB_MAX_OVERFLOW": "20"},
    ),
    Lever("two-workers", "two worker processes on the task queue", workers=2),
    Lever(
        "two-apis-two-workers",
        "two API processes (clients spread over them) and two worker processes",
        workers=2,
        apis=2,
    ),
    Lever(
        "no-sticky-cache",
        "BOOKING_WORKER_MAX_CACHED_WORKFLOWS=0: every workflow task replays the history",
        {"BOOKING_WORKER_MAX_CACHED_WORKFLOWS": "0"},
    ),
    Lever(
        "small-sticky-cache",
        "BOOKING_WORKER_MAX_CACHED_WORKFLOWS=50: the open bookings outgrow the cache, so each "
        "new workflow evicts one (as on a worker with more open bookings than its cache)",
        {"BOOKING_WORKER_MAX_CACHED_WORKFLOWS": "50"},
    ),
    Lever(
        "few-workflow-slots",
        "BOOKING_WORKER_MAX_CONCURRENT_WORKFLOW_TASKS=4 (SDK default 100)",
        {"BOOKING_WORKER_MAX_CONCURRENT_WORKFLOW_TASKS": "4"},
    ),
    Lever(
        "python-gc",
        "BOOKING_GC_THRESHOLD=0: Python's collector settings in the API and the worker "
        "(700, 10, 10, nothing frozen) instead of the shipped (20000, 20, 20) after a freeze",
        {"BOOKING_GC_THRESHOLD": "0"},
    ),
    Lever(
        "asyncio-loop",
        "BOOKING_EVENT_LOOP=asyncio: asyncio's own event loop in the API and the worker "
        "instead of uvloop",
        {"BOOKING_EVENT_LOOP": "asyncio"},
    ),
    Lever(
        "rollback-journal",
        "the Temporal dev server's SQLite file in its default rollback-journal mode (a journal "
        "file created, synced and deleted per commit) instead of write-ahead-log mode",
        temporal_sqlite_pragmas=(),
    ),
    Lever(
        "no-pre-ping",
        "BOOKING_DB_PRE_PING=false: no test query (BEGIN, ;, ROLLBACK) per pooled checkout",
        {"BOOKING_DB_PRE_PING": "false"},
    ),
)
CLIENTS = 16


async def measure(lever: Lever, rounds: int, seconds: float) -> dict[str, Any]:
    """Start a stack with ``lever``, run C and B alternately, stop the stack."""
    workdir = Path(tempfile.mkdtemp(prefix="booking-levers-"))
    overrides = dict(lever.overrides)
    sink = None
    if lever.mail:
        # In this process, so its CPU counts as the load generator's, not the servers'.
        sink = MailSink(workdir / "mail", "127.0.0.1", free_port())
        sink.start()
        overrides["BOOKING_SMTP_PORT"] = str(sink.port)
    stack = Stack(
        workdir,
        overrides=overrides,
        workers=lever.workers,
        apis=lever.apis,
        temporal_sqlite_pragmas=lever.temporal_sqlite_pragmas,
    )
    bench = Bench(stack, QUICK)
    if lever.mail:
        bench.contact = {"email": "bench@example.com"}
    try:
        await stack.start()
        await bench.setup_engine(resources=20, customers=CLIENTS * 4)
        bench.samples = {}
        for system in "CB":  # warm-up
            await bench.ensure_c_slots(bench.c_budget(4, 2.0))
            await closed_loop(bench.request(system), 4, 2.0)
        pids = stack.pids()
        runs: dict[str, list[dict[str, Any]]] = {"C": [], "B": []}
        one_client: list[float] = []
        for rnd in range(rounds):
            for system in "CB" if rnd % 2 == 0 else "BC":
                await bench.ensure_c_slots(bench.c_budget(CLIENTS, seconds))
                before = cpu_snapshot(pids)
                sample = await closed_loop(bench.request(system), CLIENTS, seconds)
                await asyncio.sleep(1.5)  # the bookings' steps after the answer
                after = cpu_snapshot(pids)
                n = max(1, sample.ok)
                cpu = {k: round((after[k] - before[k]) * 1000 / n, 1) for k in before}
                runs[system].append(
                    {
                        "throughput": round(sample.throughput, 2),
                        "p50_ms": percentiles(sample.latencies)["p50"],
                        "statuses": sample.statuses,
                        "cpu_ms_per_booking": cpu,
                        "server_cpu_ms_per_booking": round(
                            sum(v for k, v in cpu.items() if k != "loadgen"), 1
                        ),
                    }
                )
                log(f"{lever.name} round {rnd + 1} {system}: {runs[system][-1]['throughput']}/s")
            # One client: the decision latency, without queueing.
            await bench.ensure_c_slots(bench.c_budget(1, seconds))
            single = await closed_loop(bench.request("C"), 1, seconds / 2)
            one_client.extend(single.latencies)
        history = await bench.history(f"booking-{bench.last_c}") if bench.last_c else {}
        mails = len(list(sink.directory.glob("*.eml"))) if sink is not None else None
    finally:
        await bench.close()
        stack.stop()
        if sink is not None:
            sink.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    c_tps = [r["throughput"] for r in runs["C"]]
    b_tps = [r["throughput"] for r in runs["B"]]
    return {
        "lever": lever.name,
        "what": lever.what,
        "settings": {
            **lever.overrides,
            "worker_processes": str(lever.workers),
            "api_processes": str(lever.apis),
            "temporal_sqlite_pragmas": ", ".join(lever.temporal_sqlite_pragmas) or "(none)",
        },
        "c_throughput_median": round(statistics.median(c_tps), 2),
        "c_throughput_range": [min(c_tps), max(c_tps)],
        "b_throughput_median": round(statistics.median(b_tps), 2),
        "c_over_b": round(statistics.median(c_tps) / statistics.median(b_tps), 2),
        "c_p50_ms_median": round(statistics.median(r["p50_ms"] for r in runs["C"]), 1),
        "c_server_cpu_ms_median": round(
            statistics.median(r["server_cpu_ms_per_booking"] for r in runs["C"]), 1
        ),
        "c_one_client_ms": percentiles(one_client),
        "c_history": {k: history.get(k) for k in ("events", "workflow_tasks")},
        # Confirmation mails the sink received (with-mail only): one per confirmed booking.
        "mails_received": mails,
        "runs": runs,
    }


def markdown(results: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    """The levers table."""
    lines = [
        f"## Levers ({meta['started_at']}, {meta['rounds']} rounds of {meta['seconds']} s "
        f"per system, {CLIENTS} clients; command `{meta['command']}`)",
        "",
        f"Machine: {meta['machine']['cores_logical']} logical cores, "
        f"{meta['machine']['memory_gb']} GiB.",
        "",
        "| lever | setting | C bookings/s (min-max) | B bookings/s | C/B | C p50 ms "
        "| C p50 ms, 1 client | C server CPU ms/booking | history events |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lo, hi = r["c_throughput_range"]
        lines.append(
            f"| {r['lever']} | {r['what']} | {r['c_throughput_median']} ({lo}-{hi}) "
            f"| {r['b_throughput_median']} | {r['c_over_b']} | {r['c_p50_ms_median']} "
            f"| {r['c_one_client_ms']['p50']} | {r['c_server_cpu_ms_median']} "
            f"| {r['c_history']['events']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    """Measure the chosen levers one after another."""
    parser = argparse.ArgumentParser(prog="bench.levers", description=__doc__)
    parser.add_argument("--only", nargs="*", choices=[lever.name for lever in LEVERS])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    chosen = [lever for lever in LEVERS if not args.only or lever.name in args.only]
    started = datetime.now(UTC)
    results = [asyncio.run(measure(lever, args.rounds, args.seconds)) for lever in chosen]
    command = (
        "make bench-levers"
        if not args.only
        else f"python -m bench.levers --only {' '.join(args.only)}"
    )
    meta = {
        "started_at": started.isoformat(timespec="seconds"),
        "rounds": args.rounds,
        "seconds": args.seconds,
        "command": command,
        "machine": machine(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = RESULTS / f"levers-{started.strftime('%Y%m%dT%H%M%SZ')}"
    stem.with_suffix(".json").write_text(
        json.dumps({"meta": meta, "levers": results}, indent=1, default=str) + "\n"
    )
    table = markdown(results, meta)
    stem.with_suffix(".md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
