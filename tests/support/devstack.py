"""`booking-engine dev` as the user starts it, in its own data directory on free ports."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from stack.embedded import free_port

BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class DevStack:
    """A running ``booking-engine dev``: its process, environment, log and ports."""

    process: subprocess.Popen[bytes]
    env: dict[str, str]
    log: Path
    api_port: int
    sandbox_port: int
    temporal_port: int
    ui_port: int
    worker_metrics_port: int

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 60) -> int:
        """Ctrl-C, as the user stops it; the exit code."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=timeout)


def dev_env(data_dir: Path, **settings: str) -> dict[str, str]:
    """The environment of a stack of its own: the given settings over free ports."""
    env = {
        **os.environ,
        "BOOKING_DATA_DIR": str(data_dir),
        "BOOKING_API_PORT": str(free_port()),
        "BOOKING_SANDBOX_PORT": str(free_port()),
        "BOOKING_TEMPORAL_PORT": str(free_port()),
        "BOOKING_TEMPORAL_UI_PORT": str(free_port()),
        "BOOKING_SMTP_PORT": str(free_port()),
        "BOOKING_WORKER_METRICS_PORT": str(free_port()),
        **{f"BOOKING_{name.upper()}": value for name, value in settings.items()},
    }
    for name in ("BOOKING_DATABASE_URL", "BOOKING_TEMPORAL_ADDRESS"):
        env.pop(name, None)
    for name in [name for name in env if name.startswith("TEMPORAL_")]:
        del env[name]  # the Temporal SDK's own: a stack of its own runs its embedded server
    return env


def _wait_ready(urls: list[str], process: subprocess.Popen[bytes], within: float) -> None:
    deadline = time.monotonic() + within
    pending = list(urls)
    while pending:
        assert process.poll() is None, "the dev stack exited while starting"
        assert time.monotonic() < deadline, f"{pending[0]} not ready within {within}s"
        try:
            if httpx.get(pending[0], timeout=2).status_code == 200:
                pending.pop(0)
                continue
        except httpx.HTTPError:
            pass
        # Polling a starting process over HTTP: there is no event to await.
        time.sleep(0.3)


@contextmanager
def dev_stack(workdir: Path, **settings: str) -> Iterator[DevStack]:
    """Start ``booking-engine dev``, wait until the API and the sandbox answer; stop it after."""
    env = dev_env(workdir / "data", **settings)
    log = workdir / "dev.log"
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our own command
            [str(BIN / "booking-engine"), "dev"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    stack = DevStack(
        process=process,
        env=env,
        log=log,
        api_port=int(env["BOOKING_API_PORT"]),
        sandbox_port=int(env["BOOKING_SANDBOX_PORT"]),
        temporal_port=int(env["BOOKING_TEMPORAL_PORT"]),
        ui_port=int(env["BOOKING_TEMPORAL_UI_PORT"]),
        worker_metrics_port=int(env["BOOKING_WORKER_METRICS_PORT"]),
    )
    try:
        _wait_ready(
            [
                f"http://127.0.0.1:{stack.api_port}/readyz",
                f"http://127.0.0.1:{stack.sandbox_port}/healthz",
            ],
            process,
            within=120,
        )
        yield stack
    finally:
        if process.poll() is None:
            # Ctrl-C first: the stack stops its PostgreSQL too, which runs in a session
            # of its own and outlived a SIGKILL of the group.
            try:
                stack.stop(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
