"""`make bench-scale`: do reads stay flat as the data grows? The same reads at 10k, 100k and 1M.

One embedded PostgreSQL holds a database per size, each filled by
:func:`bench.scale_data.generate` (bookings, a tenth as many wallets, ten
times as many ledger entries); one API process serves each database. The
reads of :mod:`bench.scale_reads` then go through HTTP, one at a time,
interleaved: in each round every read runs against every size in turn (in a
shuffled order), so the sizes are measured side by side in time, whatever
else the machine does meanwhile.

    python -m bench.scale [--sizes 10000,100000,1000000] [--rounds 10] [--requests 10]
                          [--workdir DIR] [--out DIR]

With ``--workdir`` the databases are kept there and reused by the next run
(a database is generated again only when its size or the generator's seed
changed); migrations are applied to them first, so a new index is measured
on the data already there. Exit status 0 when every read answered 200.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.load import percentiles
from bench.progress import log
from bench.scale_data import generate
from bench.scale_reads import READS, Targets, resolve, targets
from core.settings_values import generate_secret
from stack.embedded import EmbeddedPostgres, free_port
from stack.processes import ENGINE, ProcessStack

RESULTS = Path(__file__).resolve().parent / "results"
SEED = 1
# Each database's marker row: what it was generated with, and what that took.
MARKER = "CREATE TABLE IF NOT EXISTS bench_scale (spec jsonb NOT NULL)"


def label(size: int) -> str:
    """10000 -> "10k", 1000000 -> "1M"."""
    return f"{size // 1_000_000}M" if size % 1_000_000 == 0 else f"{size // 1000}k"


async def prepare(postgres: EmbeddedPostgres, size: int) -> dict[str, Any]:
    """The database of ``size`` bookings, migrated to head; generated unless already there."""
    from core.migrate import upgrade

    url = await asyncio.to_thread(postgres.url, f"scale_{label(size).lower()}")
    await asyncio.to_thread(upgrade, url)
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(MARKER)
        wanted = {"bookings": size, "wallets": size // 10, "ledger": size * 10, "seed": SEED}
        spec = await conn.fetchval("SELECT spec FROM bench_scale")
        spec = json.loads(spec) if spec else None
        if spec is None or spec["wanted"] != wanted:
            if spec is not None or await conn.fetchval("SELECT count(*) FROM bookings"):
                raise RuntimeError(f"{dsn}: not empty, generated otherwise; drop it first")
            log(f"generating {label(size)}: {wanted}")
            done = await generate(
                conn,
                bookings=size,
                wallets=size // 10,
                ledger=size * 10,
                seed=SEED,
            )
            spec = {
                "wanted": wanted,
                "counts": done.counts,
                "seconds": round(done.seconds, 1),
                "busy": str(done.busy_resource),
                "busy_range": str(done.busy_range_resource),
                "now": done.now.isoformat(),
            }
            await conn.execute("INSERT INTO bench_scale VALUES ($1::jsonb)", json.dumps(spec))
            log(f"generated {label(size)} in {done.seconds:.0f} s")
        else:
            await conn.execute("ANALYZE")
        spec["bytes"] = await conn.fetchval("SELECT pg_database_size(current_database())")
        spec["url"] = url
        spec["dsn"] = dsn
        return dict(spec)
    finally:
        await conn.close()


# The bench's own server, sized for a 10M-row ledger written in one go: a larger buffer
# cache, and checkpoints far enough apart that bulk loading is not mostly full-page writes.
SERVER_SETTINGS = {"shared_buffers": "1GB", "max_wal_size": "16GB", "checkpoint_timeout": "30min"}


async def configure(postgres: EmbeddedPostgres) -> None:
    """Apply :data:`SERVER_SETTINGS` (``ALTER SYSTEM``), restarting the server when they changed."""
    url = await asyncio.to_thread(postgres.url, "postgres")
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        changed = False
        for name, value in SERVER_SETTINGS.items():
            if await conn.fetchval("SELECT current_setting($1) <> $2", name, value):
                await conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
                changed = True
    finally:
        await conn.close()
    if changed:
        await asyncio.to_thread(postgres.stop)
        await asyncio.to_thread(postgres.start)


async def aim(spec: dict[str, Any], secret: str, api: httpx.AsyncClient) -> Targets:
    """The database's targets, with second-page cursors taken from the API itself."""
    conn = await asyncpg.connect(spec["dsn"])
    try:
        found = await targets(
            conn,
            secret,
            uuid.UUID(spec["busy"]),
            uuid.UUID(spec["busy_range"]),
            datetime.fromisoformat(spec["now"]),
        )
    finally:
        await conn.close()
    auth = {"Authorization": f"Bearer {found.operator}"}
    first = (await api.get("/v1/bookings", headers=auth)).json()
    found.ops_cursor = first["next_cursor"]
    found.ledger_cursors = {}
    for customer, token in list(found.tokens.items())[:40]:
        page = await api.get("/v1/wallets/me/ledger", headers={"Authorization": f"Bearer {token}"})
        cursor = page.json()["next_cursor"]
        if cursor:
            found.ledger_cursors[customer] = cursor
    return found


async def measure(
    apis: dict[int, httpx.AsyncClient], aims: dict[int, Targets], rounds: int, requests: int
) -> tuple[dict[str, dict[int, list[float]]], list[str]]:
    """Every read against every size, interleaved; latencies in seconds, and non-200 answers."""
    rng = random.Random(SEED)  # noqa: S311 - which read goes first, not a secret
    times: dict[str, dict[int, list[float]]] = {r.name: {s: [] for s in apis} for r in READS}
    errors: list[str] = []
    for n in range(rounds):
        log(f"round {n + 1}/{rounds}")
        for read in READS:
            sizes = list(apis)
            rng.shuffle(sizes)
            for size in sizes:
                for i in range(requests + 1):
                    path, params, token = read.aim(aims[size], rng)
                    path = resolve(path, aims[size], rng)
                    started = time.perf_counter()
                    r = await apis[size].get(
                        path, params=params, headers={"Authorization": f"Bearer {token}"}
                    )
                    elapsed = time.perf_counter() - started
                    if r.status_code != 200:
                        errors.append(
                            f"{read.name} at {label(size)}: {r.status_code} {r.text[:200]}"
                        )
                    elif i > 0:  # the first of each batch warms that API's connection
                        times[read.name][size].append(elapsed)
    return times, errors


def markdown(results: dict[str, Any]) -> str:
    """The results as the tables BENCHMARKS.md quotes."""
    sizes = [int(s) for s in results["databases"]]
    head = " | ".join(label(s) for s in sizes)
    lines = [
        f"Started {results['started_at']}, {results['seconds']:.0f} s; load average at start"
        f" {results['load_start']}, at end {results['load_end']}.",
        "",
        f"| database | {head} |",
        "|---|" + "---|" * len(sizes),
    ]
    dbs = [results["databases"][str(s)] for s in sizes]
    for name in ("bookings", "wallets", "ledger_entries", "booking_events", "alerts"):
        lines.append(f"| {name} | " + " | ".join(f"{d['counts'][name]:,}" for d in dbs) + " |")
    lines.append("| generation (s) | " + " | ".join(str(d["seconds"]) for d in dbs) + " |")
    lines.append(
        "| database size | " + " | ".join(f"{d['bytes'] / 2**20:,.0f} MiB" for d in dbs) + " |"
    )
    lines += [
        "",
        f"| read (ms, p50 / p95) | {head} | p50 {label(sizes[-1])} / {label(sizes[0])} |",
        "|---|" + "---|" * (len(sizes) + 1),
    ]
    for name, per in results["reads"].items():
        cells = [f"{per[str(s)]['p50']} / {per[str(s)]['p95']}" for s in sizes]
        ratio = per[str(sizes[-1])]["p50"] / per[str(sizes[0])]["p50"]
        flag = "" if ratio <= 1.2 else " (over 1.2)"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {ratio:.2f}{flag} |")
    return "\n".join(lines) + "\n"


async def run(args: argparse.Namespace, workdir: Path) -> int:
    """Prepare the databases, start an API per database, measure, write the results."""
    started, load_start = datetime.now(UTC), os.getloadavg()
    stack = ProcessStack(workdir)
    stack.postgres = EmbeddedPostgres(workdir / "pg")
    await asyncio.to_thread(stack.postgres.start)
    await configure(stack.postgres)
    secret = generate_secret()
    clients: dict[int, httpx.AsyncClient] = {}
    try:
        specs = {size: await prepare(stack.postgres, size) for size in args.sizes}
        stack.settings = {
            "BOOKING_ENV": "production",
            "BOOKING_LOG_LEVEL": "WARNING",
            "BOOKING_LOG_FORMAT": "json",
            "BOOKING_JWT_SECRET": secret,
            "BOOKING_DATA_DIR": str(workdir / "data"),
            # Reads never reach Temporal; nothing listens there.
            "BOOKING_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
            "BOOKING_RATE_LIMIT_PER_CUSTOMER": "0",
            "BOOKING_RATE_LIMIT_PER_ADDRESS": "0",
            "BOOKING_PAYLOAD_KEYS": new_keys(),
            "BOOKING_SANDBOX_API_KEY": generate_secret(),
            "BOOKING_SANDBOX_WEBHOOK_SECRET": generate_secret(),
        }
        for size, spec in specs.items():
            name = f"api-{label(size)}"
            stack.ports[name] = free_port()
            env = {"BOOKING_DATABASE_URL": spec["url"], "BOOKING_API_PORT": str(stack.ports[name])}
            stack.spawn(name, [*ENGINE, "api"], env)
        for size in specs:
            url = stack.url(f"api-{label(size)}")
            await stack.wait_http(f"{url}/healthz")
            clients[size] = httpx.AsyncClient(base_url=url, timeout=60)
        aims = {size: await aim(specs[size], secret, clients[size]) for size in specs}
        t0 = time.monotonic()
        times, errors = await measure(clients, aims, args.rounds, args.requests)
        results = {
            "started_at": started.isoformat(),
            "command": " ".join(["python -m bench.scale", *sys.argv[1:]]),
            "seconds": time.monotonic() - t0,
            "load_start": [round(x, 2) for x in load_start],
            "load_end": [round(x, 2) for x in os.getloadavg()],
            "databases": {
                str(s): {k: v for k, v in spec.items() if k not in ("url", "dsn")}
                for s, spec in specs.items()
            },
            "reads": {
                name: {str(s): percentiles(v) for s, v in per.items()}
                for name, per in times.items()
            },
            "errors": errors[:50],
        }
        out = args.out or RESULTS / f"{started:%Y%m%dT%H%M%SZ}-scale"
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
        (out / "results.md").write_text(markdown(results))
        print(markdown(results))
        log(f"wrote {out}/results.json, results.md")
        return 1 if errors else 0
    finally:
        for client in clients.values():
            await client.aclose()
        stack.stop()


def new_keys() -> str:
    """A payload key for the API's settings (the reads never use it)."""
    from core.codec import new_key_spec

    return new_key_spec()


def main() -> None:
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument(
        "--sizes",
        type=lambda v: [int(x) for x in v.split(",")],
        default=[10_000, 100_000, 1_000_000],
    )
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--requests", type=int, default=10, help="per read, size and round")
    parser.add_argument("--workdir", type=Path, help="keep the databases here and reuse them")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-scale-"))
    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o755)
    try:
        code = asyncio.run(run(args, workdir))
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
