"""`make profile`: where one wallet booking's time goes, on the engine's own stack.

Starts the engine as separate processes (`stack/processes.py`), then:

1. the SQL of one booking: every statement PostgreSQL ran for it (create call,
   meeting link, mail), from the server's log with ``log_min_duration_statement
   = 0`` (the embedded server ships without ``pg_stat_statements``);
2. the history of that booking's workflow, event by event;
3. py-spy profiles of the worker and the API while 16 clients book for
   ``--seconds``, summarised as the functions with the most samples
   (inclusive, the project's own code; and self time, anyone's code).

Writes ``bench/results/profile-<time>/profile.md`` (and the raw py-spy
stacks) and prints it.

    python -m bench.profile [--seconds 20] [--clients 16]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.data import EngineData, rooms
from bench.load import Pool, closed_loop, percentiles
from core.auth import issue_token
from stack.processes import ProcessStack

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parents[1]
OWN = ("activities/", "workflows/", "api/", "core/", "store/", "integrations/", "models/")
STATEMENT = re.compile(r"duration: ([0-9.]+) ms\s+(?:statement|execute [^:]*): (.*)")


def log(message: str) -> None:
    """Progress on stderr."""
    print(f"[profile] {message}", file=sys.stderr, flush=True)


class Profile:
    """One profiling run against a fresh stack."""

    def __init__(self, stack: ProcessStack, clients: int, seconds: float) -> None:
        self.stack = stack
        self.clients = clients
        self.seconds = seconds
        self.db: asyncpg.Connection
        self.data: EngineData
        self.tokens: list[str] = []
        self.last: str | None = None

    async def setup(self) -> None:
        """Resources through the API; funded customers and their tokens in SQL."""
        self.db = await asyncpg.connect(self.stack.engine_dsn)
        resources = await rooms(self.stack.url("api"), self.stack.jwt_secret, 20, "Profile room")
        self.data = EngineData(self.db, resources)
        customers = [uuid.uuid4() for _ in range(self.clients + 4)]
        await self.data.fund(customers)
        self.tokens = [issue_token(self.stack.jwt_secret, c, "customer", 7200) for c in customers]

    def request(self, slots: Pool) -> Any:
        """A wallet booking of the next slot of ``slots``, as the bench's C sends it."""
        url = f"{self.stack.url('api')}/v1/bookings"

        async def book(http: httpx.AsyncClient, i: int) -> int:
            r = await http.post(
                url,
                json={"slot_id": str(slots.take()), "payment": {"method": "wallet"}},
                headers={
                    "Authorization": f"Bearer {self.tokens[i % len(self.tokens)]}",
                    "Idempotency-Key": str(uuid.uuid4()),
                },
            )
            if r.status_code == 201:
                self.last = r.json()["id"]
            return r.status_code

        return book

    async def warm_up(self) -> None:
        """Bookings enough to fill the pools and caches."""
        slots = Pool(await self.data.slots(200))
        await closed_loop(self.request(slots), 4, 5.0, max_requests=150)

    async def one_booking_sql(self) -> list[tuple[float, str]]:
        """The statements of one booking, from the create call to its mail."""
        assert self.stack.postgres is not None
        pg_log = self.stack.workdir / "pg" / "log"
        slots = Pool(await self.data.slots(1))
        await self.db.execute("ALTER SYSTEM SET log_min_duration_statement = 0")
        await self.db.execute("SELECT pg_reload_conf()")
        await asyncio.sleep(0.5)  # the reload reaches every backend
        offset = pg_log.stat().st_size
        async with httpx.AsyncClient(timeout=30) as http:
            status = await self.request(slots)(http, 0)
        assert status == 201, status
        await self._settled(str(self.last))
        await self.db.execute("ALTER SYSTEM RESET log_min_duration_statement")
        await self.db.execute("SELECT pg_reload_conf()")
        with pg_log.open("rb") as f:
            f.seek(offset)
            text = f.read().decode(errors="replace")
        found = []
        for line in text.splitlines():
            match = STATEMENT.search(line)
            if match and "log_min_duration_statement" not in match.group(2):
                found.append((float(match.group(1)), " ".join(match.group(2).split())))
        return found

    async def _settled(self, booking_id: str) -> None:
        """Wait until the booking's meeting link and confirmation are recorded.

        (The bench's bookings carry no contact, so the confirmation is recorded as
        skipped: the same steps, without the SMTP conversation.)
        """
        for _ in range(100):
            row = await self.db.fetchrow(
                "SELECT b.meeting_status, (SELECT count(*) FROM notifications n"
                " WHERE n.booking_id = b.id) AS sent"
                " FROM bookings b WHERE b.id = $1",
                uuid.UUID(booking_id),
            )
            if row and row["meeting_status"] == "READY" and row["sent"]:
                return
            await asyncio.sleep(0.1)
        raise TimeoutError("the booking did not settle")

    async def history(self, workflow_id: str) -> list[str]:
        """The event types of one workflow's history, in order."""
        from temporalio.api.enums.v1 import EventType
        from temporalio.client import Client

        assert self.stack.temporal is not None
        client = await Client.connect(self.stack.temporal.address)
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        return [EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in history.events]

    async def sample(self, out: Path) -> dict[str, Any]:
        """py-spy on the worker and the API while the clients book."""
        pids = self.stack.pids()
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        records = {}
        for name in ("worker", "api"):
            path = out / f"{name}.stacks"
            records[name] = (
                path,
                subprocess.Popen(  # noqa: S603, ASYNC220 - starts at once, runs beside the load
                    [
                        spy,
                        "record",
                        "--pid",
                        str(pids[name]),
                        "--duration",
                        str(int(self.seconds)),
                        "--rate",
                        "250",
                        "--format",
                        "raw",
                        "--output",
                        str(path),
                        "--nonblocking",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                ),
            )
        slots = Pool(await self.data.slots(int(self.seconds * 60) + 200))
        load = await closed_loop(self.request(slots), self.clients, self.seconds)
        for _, process in records.values():
            process.wait(timeout=60)
        return {
            "bookings_per_s": round(load.throughput, 2),
            "latency_ms": percentiles(load.latencies),
            "statuses": load.statuses,
            "stacks": {name: path for name, (path, _) in records.items()},
        }


Ranked = list[tuple[str, int]]


def summarise(stacks: Path, top: int = 25) -> tuple[int, Ranked, Ranked]:
    """(samples, the project's functions by inclusive samples, any function by self samples)."""
    inclusive: Counter[str] = Counter()
    own_self: Counter[str] = Counter()
    total = 0
    for line in stacks.read_text().splitlines():
        frames, _, count = line.rpartition(" ")
        if not frames or not count.isdigit():
            continue
        n = int(count)
        total += n
        names = [_frame(f) for f in frames.split(";")]
        for name in set(n_ for n_ in names if n_.startswith(OWN)):
            inclusive[name] += n
        own_self[names[-1]] += n
    return total, inclusive.most_common(top), own_self.most_common(top)


def _frame(frame: str) -> str:
    """``function (path/to/file.py:line)`` as ``path/to/file.py:function``, relative to here."""
    match = re.match(r"(.*) \((.*?)(?::\d+)?\)$", frame)
    if not match:
        return frame
    function, path = match.groups()
    for marker in ("site-packages/", str(ROOT) + "/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{path}:{function}"


def report(result: dict[str, Any]) -> str:
    """The profile as Markdown."""
    lines = [
        f"# Profile of a wallet booking ({result['started_at']})",
        "",
        f"Command: `{result['command']}`. Load while sampling: {result['clients']} clients for "
        f"{result['seconds']} s, {result['load']['bookings_per_s']} bookings/s, "
        f"latency {result['load']['latency_ms']}.",
        "",
        f"## SQL of one booking ({len(result['sql'])} statements, "
        f"{sum(d for d, _ in result['sql']):.1f} ms in PostgreSQL)",
        "",
        "| ms | statement |",
        "|---|---|",
    ]
    for duration, statement in result["sql"]:
        text = statement if len(statement) <= 160 else statement[:157] + "..."
        lines.append(f"| {duration:.2f} | `{text.replace('|', '/')}` |")
    history = result["history"]
    lines += ["", f"## History of one booking ({len(history)} events)", "", " > ".join(history)]
    for name, (total, inclusive, own_self) in result["profiles"].items():
        lines += [
            "",
            f"## {name}: {total} samples",
            "",
            "Project functions by inclusive share:",
            "",
            "| share | function |",
            "|---|---|",
        ]
        lines += [f"| {100 * n / total:.1f} % | `{f}` |" for f, n in inclusive]
        lines += ["", "Any function by self share:", "", "| share | function |", "|---|---|"]
        lines += [f"| {100 * n / total:.1f} % | `{f}` |" for f, n in own_self]
    return "\n".join(lines) + "\n"


async def run(stack: ProcessStack, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """Start the stack, measure, return the figures."""
    await stack.start()
    profile = Profile(stack, args.clients, args.seconds)
    try:
        await profile.setup()
        log("warm-up")
        await profile.warm_up()
        log("one booking's SQL")
        sql = await profile.one_booking_sql()
        history = await profile.history(f"booking-{profile.last}")
        log(f"sampling for {args.seconds} s at {args.clients} clients")
        load = await profile.sample(out)
        profiles = {name: summarise(path) for name, path in load.pop("stacks").items()}
        return {
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": f"make profile (python -m bench.profile --seconds {args.seconds:g}"
            f" --clients {args.clients})",
            "clients": args.clients,
            "seconds": args.seconds,
            "sql": sql,
            "history": history,
            "load": load,
            "profiles": profiles,
        }
    finally:
        await profile.db.close()


def main() -> None:
    """Parse arguments, run, always tear the stack down."""
    parser = argparse.ArgumentParser(prog="bench.profile", description=__doc__)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()
    out = RESULTS / f"profile-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"
    out.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="booking-profile-"))
    stack = ProcessStack(workdir)
    t0 = time.monotonic()
    try:
        result = asyncio.run(run(stack, args, out))
    finally:
        stack.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    text = report(result)
    (out / "profile.md").write_text(text)
    print(text)
    log(f"wrote {out}/profile.md in {time.monotonic() - t0:.0f} s")


if __name__ == "__main__":
    main()
