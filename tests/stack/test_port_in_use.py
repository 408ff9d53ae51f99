"""A port another process holds stops a server in one line that names the setting to change.

A second worker (or API) on one host finds its port taken. The process exits
non-zero at once with one line on stderr, no traceback, naming the address
and the ``BOOKING_*`` setting that moves it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.metrics import worker_runtime
from core.ports import ListenError
from core.settings import Settings
from stack.embedded import TemporalDevServer, free_port

ENGINE = str(Path(sys.executable).parent / "booking-engine")


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port with a listening socket on it, as a first worker or API would hold it."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", free_port()))
        holder.listen()
        yield holder.getsockname()[1]


def _run(part: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own command
        [ENGINE, part],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def _env(database_url: str, temporal: TemporalDevServer, **settings: str) -> dict[str, str]:
    """The environment of a process pointing at the session's real servers."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("BOOKING_")}
    return {
        **env,
        "BOOKING_DATABASE_URL": database_url,
        "BOOKING_TEMPORAL_ADDRESS": temporal.address,
        "BOOKING_JWT_SECRET": "s" * 40,
        "BOOKING_LOG_FORMAT": "json",
        **{f"BOOKING_{name.upper()}": value for name, value in settings.items()},
    }


@pytest.mark.parametrize(
    ("part", "setting"),
    [
        ("worker", "BOOKING_WORKER_METRICS_PORT"),
        ("api", "BOOKING_API_PORT"),
        ("sandbox", "BOOKING_SANDBOX_PORT"),
    ],
)
def test_taken_port_is_one_line_naming_the_setting(
    database_url: str,
    temporal_server: TemporalDevServer,
    taken_port: int,
    part: str,
    setting: str,
) -> None:
    """``booking-engine worker|api|sandbox`` on a taken port: exit 1, one line, no traceback."""
    ports = {
        "api_port": str(free_port()),
        "sandbox_port": str(free_port()),
        "worker_metrics_port": str(free_port()),
    }
    ports[setting.removeprefix("BOOKING_").lower()] = str(taken_port)

    result = _run(part, _env(database_url, temporal_server, **ports))

    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 1, output
    assert "Traceback" not in output
    assert output.splitlines() == [result.stderr.strip()]
    assert setting in output
    assert f"127.0.0.1:{taken_port}" in output
    assert "in use" in output


def test_worker_metrics_port_taken_after_the_check_still_names_the_setting(
    settings: Settings, taken_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Taken between the check and the SDK's own bind: the same error, not the SDK's."""
    monkeypatch.setattr("core.metrics.check_listen", lambda *args: None)

    with pytest.raises(ListenError) as caught:
        worker_runtime(settings.model_copy(update={"worker_metrics_port": taken_port}))

    assert "BOOKING_WORKER_METRICS_PORT" in str(caught.value)
    assert "\n" not in str(caught.value)
