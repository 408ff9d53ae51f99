"""`make dev` stops in reverse order on Ctrl-C, promptly, without a traceback.

The whole stack runs as the user starts it (``booking-engine dev``), in its own
data directory on free ports. A client holds a request half-sent, which must
not keep the stack from stopping.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from stack.embedded import free_port

BIN = Path(sys.executable).parent
# Everything the stack does on the way down, in the order it must happen.
STOP_ORDER = ["api", "sandbox", "worker", "mail_sink", "temporal", "postgres"]


def _wait_ready(url: str, process: subprocess.Popen[bytes], within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        assert process.poll() is None, "the dev stack exited while starting"
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        # Polling a starting process over HTTP: there is no event to await.
        time.sleep(0.3)
    raise TimeoutError(f"{url} not ready within {within}s")


def test_ctrl_c_stops_api_then_worker_then_temporal_and_postgres(tmp_path: Path) -> None:
    """SIGINT: the API stops first, the worker drains, Temporal and PostgreSQL stop last."""
    api_port = free_port()
    env = {
        **os.environ,
        "BOOKING_DATA_DIR": str(tmp_path / "data"),
        "BOOKING_API_PORT": str(api_port),
        "BOOKING_SANDBOX_PORT": str(free_port()),
        "BOOKING_TEMPORAL_PORT": str(free_port()),
        "BOOKING_TEMPORAL_UI_PORT": str(free_port()),
        "BOOKING_SMTP_PORT": str(free_port()),
        "BOOKING_LOG_FORMAT": "json",
        "BOOKING_WORKER_DRAIN_SECONDS": "5",
    }
    for name in ("BOOKING_DATABASE_URL", "BOOKING_TEMPORAL_ADDRESS"):
        env.pop(name, None)
    log = tmp_path / "dev.log"
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our own command
            [str(BIN / "booking-engine"), "dev"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        _wait_ready(f"http://127.0.0.1:{api_port}/readyz", process, within=120)
        # A client that sends half a request and never the rest.
        stalled = socket.create_connection(("127.0.0.1", api_port))
        stalled.sendall(b"POST /v1/bookings HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        process.send_signal(signal.SIGINT)
        # Bounded: the HTTP grace (5 s) and the worker's drain (5 s), then the servers.
        code = process.wait(timeout=60)
        stalled.close()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    output = log.read_text(errors="replace")
    assert code == 0, output[-3000:]
    assert "Traceback" not in output
    assert "panic" not in output.lower()
    assert "Stopped. Data kept in" in output
    stopped = [
        json.loads(line)["part"]
        for line in output.splitlines()
        if line.startswith("{") and '"dev.stopped"' in line
    ]
    assert stopped == STOP_ORDER
