"""docker-compose.yml keeps what production-like needs (Docker itself is not needed to check it).

Loopback-only consoles, the Temporal UI decoding through the API's codec
endpoint, a worker that drains before Docker kills it and reports its health,
the sandbox's state on a volume, and no demo search attributes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from core.settings import Settings

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    """The services of docker-compose.yml, with YAML anchors and merges resolved."""
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    found: dict[str, Any] = document["services"]
    return found


def _seconds(duration: str) -> float:
    """A compose duration such as ``30s``, ``1m30s`` or ``90s``, in seconds."""
    total, number = 0.0, ""
    units = {"h": 3600, "m": 60, "s": 1}
    for char in duration:
        if char.isdigit() or char == ".":
            number += char
        else:
            total += float(number) * units[char]
            number = ""
    assert number == "", f"no unit at the end of {duration!r}"
    return total


@pytest.mark.parametrize("name", ["temporal-ui", "mailpit"])
def test_consoles_are_published_on_loopback_only(services: dict[str, Any], name: str) -> None:
    """The Temporal UI and Mailpit are reachable from this machine only."""
    ports = services[name]["ports"]

    assert ports
    assert all(str(port).startswith("127.0.0.1:") for port in ports), ports


def test_temporal_ui_decodes_through_the_api_codec_endpoint_allowed_by_cors(
    services: dict[str, Any],
) -> None:
    """The UI's codec endpoint is the API's ``/codec``, and the API allows the UI's origin."""
    ui = services["temporal-ui"]["environment"]
    published = services["temporal-ui"]["ports"][0].split(":")[1]
    api_port = services["api"]["ports"][0].split(":")[-2]
    origins = json.loads(services["api"]["environment"]["BOOKING_CORS_ORIGINS"])

    assert ui["TEMPORAL_CODEC_ENDPOINT"] == f"http://localhost:{api_port}/codec"
    assert ui["TEMPORAL_CODEC_PASS_ACCESS_TOKEN"] == "true"
    assert f"http://localhost:{published}" in origins
    assert f"http://127.0.0.1:{published}" in origins


def test_worker_grace_period_is_above_its_drain(services: dict[str, Any]) -> None:
    """Docker waits longer than the worker drains, so SIGKILL never cuts a running activity."""
    worker = services["worker"]
    drain = float(
        worker["environment"].get(
            "BOOKING_WORKER_DRAIN_SECONDS", Settings.model_fields["worker_drain_seconds"].default
        )
    )

    assert _seconds(worker["stop_grace_period"]) >= drain + 10


def test_worker_health_check_probes_its_metrics_port(services: dict[str, Any]) -> None:
    """The worker's health check is on, and asks the port its metrics are served on."""
    worker = services["worker"]
    check = worker["healthcheck"]
    port = worker["environment"]["BOOKING_WORKER_METRICS_PORT"]

    assert not check.get("disable", False)
    assert "BOOKING_WORKER_METRICS_PORT" in " ".join(check["test"])
    assert "/metrics" in " ".join(check["test"])
    assert port in worker["expose"]
    # Inside its container: the probe and the compose network's scraper both reach it.
    assert worker["environment"]["BOOKING_WORKER_METRICS_HOST"] == "0.0.0.0"  # noqa: S104


def test_sandbox_state_lives_on_a_volume(services: dict[str, Any]) -> None:
    """The sandbox gateway's data directory is a named volume, so its orders survive a restart."""
    sandbox = services["sandbox-gateway"]
    data_dir = sandbox["environment"]["BOOKING_DATA_DIR"]

    mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in sandbox["volumes"]}
    assert data_dir in mounts
    assert not mounts[data_dir].startswith((".", "/"))


def test_no_demo_search_attributes_and_the_engines_are_created(services: dict[str, Any]) -> None:
    """auto-setup adds none of its demo attributes; the init step creates the engine's own."""
    from models.search_attributes import SEARCH_ATTRIBUTES

    script = services["temporal-admin-tools"]["command"][0]

    assert services["temporal"]["environment"]["SKIP_ADD_CUSTOM_SEARCH_ATTRIBUTES"] == "true"
    for name in SEARCH_ATTRIBUTES:
        assert f"create {name} " in script
