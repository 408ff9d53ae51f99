"""`make dev` stops in reverse order on Ctrl-C, promptly, without a traceback.

The whole stack runs as the user starts it (``booking-engine dev``), in its own
data directory on free ports. A client holds a request half-sent, which must
not keep the stack from stopping.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

from support.devstack import dev_stack

# Everything the stack does on the way down, in the order it must happen.
STOP_ORDER = ["api", "sandbox", "worker", "mail_sink", "temporal", "postgres"]


def test_ctrl_c_stops_api_then_worker_then_temporal_and_postgres(tmp_path: Path) -> None:
    """SIGINT: the API stops first, the worker drains, Temporal and PostgreSQL stop last."""
    with dev_stack(tmp_path, log_format="json", worker_drain_seconds="5") as stack:
        # A client that sends half a request and never the rest.
        stalled = socket.create_connection(("127.0.0.1", stack.api_port))
        stalled.sendall(b"POST /v1/bookings HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        # Bounded: the HTTP grace (5 s) and the worker's drain (5 s), then the servers.
        code = stack.stop(timeout=60)
        stalled.close()

    output = stack.output()
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
    # PostgreSQL runs in a session of its own: stopped means its server is gone too.
    assert not (tmp_path / "data" / "pg" / "postmaster.pid").exists()
