"""The load generator: closed loop (N clients for a fixed time) and open loop (fixed rate).

Every request goes to 127.0.0.1; every loop is bounded in time and in count.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

# One request: given a client and the index of the loop client, send and return the status.
Request = Callable[[httpx.AsyncClient, int], Awaitable[int]]


@dataclass
class Sample:
    """Outcome of one measurement."""

    seconds: float
    latencies: list[float] = field(default_factory=list)  # successful requests, seconds
    statuses: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    exhausted: bool = False
    dropped: int = 0

    @property
    def ok(self) -> int:
        """Requests that produced a confirmed booking."""
        return len(self.latencies)

    @property
    def throughput(self) -> float:
        """Confirmed bookings per second."""
        return self.ok / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        """The raw figures for the JSON file."""
        return {
            "seconds": round(self.seconds, 3),
            "ok": self.ok,
            "throughput": round(self.throughput, 2),
            "statuses": self.statuses,
            "errors": self.errors,
            "exhausted": self.exhausted,
            "dropped": self.dropped,
            "latency_ms": percentiles(self.latencies),
        }


async def raw_post(url: str, body: bytes, headers: dict[str, str], go: asyncio.Event) -> int:
    """One HTTP/1.1 POST on its own connection, opened before ``go``; returns the status.

    For the burst, where a thousand requests leave at once: httpx spends
    milliseconds of CPU per request there (a pool of a thousand connections,
    or a thousand clients), and on a two-core machine the servers would wait
    for the generator. This writes the request's bytes and reads the answer
    to its end (``Connection: close``), so the generator's share stays small.
    """
    target = httpx.URL(url)
    host, port = target.host, target.port or 80
    head = [
        f"POST {target.raw_path.decode()} HTTP/1.1",
        f"Host: {host}:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    request = ("\r\n".join(head) + "\r\n\r\n").encode() + body
    reader, writer = await asyncio.open_connection(host, port)
    try:
        await go.wait()
        writer.write(request)
        answer = await reader.read()
    finally:
        writer.close()
    # "HTTP/1.1 409 Conflict": the status is the second word of the first line.
    return int(answer.split(b" ", 2)[1])


class Exhausted(Exception):
    """The pre-created slots ran out (the loop stops early and says so)."""


def percentiles(values: list[float]) -> dict[str, float | int | None]:
    """p50/p95/p99/max in milliseconds (nearest rank), and the count."""
    if not values:
        return {"n": 0, "p50": None, "p95": None, "p99": None, "max": None}
    ordered = sorted(values)

    def rank(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]

    return {
        "n": len(ordered),
        "p50": round(statistics.median(ordered) * 1000, 2),
        "p95": round(rank(0.95) * 1000, 2),
        "p99": round(rank(0.99) * 1000, 2),
        "max": round(ordered[-1] * 1000, 2),
    }


def new_client(connections: int, timeout: float = 60.0) -> httpx.AsyncClient:
    """An HTTP client with one keep-alive connection per concurrent request."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout),
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
    )


async def closed_loop(
    request: Request, clients: int, seconds: float, max_requests: int = 1_000_000
) -> Sample:
    """``clients`` loops, each sending its next request as soon as the last one answered."""
    sample = Sample(seconds=seconds)
    issued = 0
    # One client (one keep-alive connection) per loop: a shared httpx pool costs more CPU per
    # request as connections grow (encode/httpx#3215) and would cap the fastest system.
    https = [new_client(1) for _ in range(clients)]
    try:
        start = time.perf_counter()
        deadline = start + seconds

        async def loop(index: int) -> None:
            nonlocal issued
            http = https[index]
            while time.perf_counter() < deadline and issued < max_requests:
                issued += 1
                t0 = time.perf_counter()
                try:
                    status = await request(http, index)
                except Exhausted:
                    sample.exhausted = True
                    return
                except httpx.HTTPError as exc:
                    sample.errors += 1
                    key = type(exc).__name__
                    sample.statuses[key] = sample.statuses.get(key, 0) + 1
                    continue
                elapsed = time.perf_counter() - t0
                sample.statuses[str(status)] = sample.statuses.get(str(status), 0) + 1
                if status == 201:
                    sample.latencies.append(elapsed)

        await asyncio.gather(*(loop(i) for i in range(clients)))
        sample.seconds = time.perf_counter() - start
    finally:
        await asyncio.gather(*(http.aclose() for http in https))
    return sample


async def open_loop(
    request: Request, rate: float, seconds: float, max_in_flight: int = 500
) -> Sample:
    """Requests at a fixed arrival rate; latency counts from the scheduled start."""
    sample = Sample(seconds=seconds)
    total = max(1, int(rate * seconds))
    in_flight: set[asyncio.Task[None]] = set()
    async with new_client(max_in_flight) as http:
        start = time.perf_counter()

        async def one(index: int, scheduled: float) -> None:
            try:
                status = await request(http, index)
            except Exhausted:
                sample.exhausted = True
                return
            except httpx.HTTPError as exc:
                sample.errors += 1
                key = type(exc).__name__
                sample.statuses[key] = sample.statuses.get(key, 0) + 1
                return
            sample.statuses[str(status)] = sample.statuses.get(str(status), 0) + 1
            if status == 201:
                sample.latencies.append(time.perf_counter() - scheduled)

        for i in range(total):
            scheduled = start + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if len(in_flight) >= max_in_flight:
                sample.dropped += 1
                continue
            task = asyncio.create_task(one(i, scheduled))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        if in_flight:
            await asyncio.wait(in_flight, timeout=90)
        for task in in_flight:
            task.cancel()
        sample.seconds = time.perf_counter() - start
    return sample


class Pool:
    """Pre-created ids handed out once each; running out raises :class:`Exhausted`."""

    def __init__(self, ids: list[Any]) -> None:
        self._ids: Iterator[Any] = iter(ids)
        self.size = len(ids)
        self.used = 0

    def take(self) -> Any:
        """The next unused id."""
        try:
            value = next(self._ids)
        except StopIteration:
            raise Exhausted from None
        self.used += 1
        return value

    @property
    def left(self) -> int:
        """Ids not handed out yet."""
        return self.size - self.used
