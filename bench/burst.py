"""The burst alone: N concurrent creates on one slot, on a fresh stack, a few times.

    python -m bench.burst [--requests 1000] [--rounds 3] [NAME=VALUE ...]

The same measurement as `make bench`'s contention phase (figure 4), without
the rest of the run, so a change to the refusal path can be timed in two
minutes. ``NAME=VALUE`` arguments are engine settings for the stack (for
example ``BOOKING_RATE_LIMIT_PER_ADDRESS=0``). Each round prints one JSON
line: wall seconds, statuses, the database check, and CPU seconds per
process tree over the round.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

from bench.cpu import cpu_snapshot
from bench.figures.contention import contention
from bench.harness import Bench
from bench.plan import FULL
from bench.stack import Stack


async def burst(requests: int, rounds: int, overrides: dict[str, str]) -> None:
    """Start a stack, run the contention phase ``rounds`` times, stop the stack."""
    workdir = Path(tempfile.mkdtemp(prefix="booking-burst-"))
    stack = Stack(workdir, overrides=overrides)
    bench = Bench(stack, replace(FULL, contention=requests))
    try:
        await stack.start()
        await bench.setup_engine(resources=5, customers=requests + 16)
        pids = stack.pids()
        for _ in range(rounds):
            before = cpu_snapshot(pids)
            await contention(bench)
            after = cpu_snapshot(pids)
            figures = bench.results["contention"]
            line = {
                "wall_seconds": figures["wall_seconds"],
                "statuses": figures["statuses"],
                "db": figures["db"],
                "winner_ms": figures["winner_latency_ms"]["p50"],
                "loser_p50_ms": figures["loser_latency_ms"]["p50"],
                "cpu_seconds": {
                    name: round(after[name] - before[name], 2)
                    for name in ("api", "postgres", "worker", "temporal", "loadgen")
                },
            }
            print(json.dumps(line), flush=True)
    finally:
        await bench.close()
        stack.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(prog="bench.burst", description=__doc__)
    parser.add_argument("--requests", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("settings", nargs="*", help="NAME=VALUE engine settings")
    args = parser.parse_args()
    overrides = dict(setting.split("=", 1) for setting in args.settings)
    asyncio.run(burst(args.requests, args.rounds, overrides))


if __name__ == "__main__":
    main()
