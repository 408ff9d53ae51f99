"""Where the engine's Temporal clients connect: the SDK's configuration, the precedence, errors.

``TEMPORAL_*`` variables and the TOML profile they name configure the clients
as they do the Temporal CLI; ``BOOKING_TEMPORAL_ADDRESS`` and
``BOOKING_TEMPORAL_NAMESPACE`` win where set; with nothing set, the embedded
dev server. A configuration that cannot work stops the process with one line
that names the setting.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from temporalio.service import TLSConfig

from core.settings import Settings
from core.temporal import TemporalConfigError, TemporalTarget, connect, temporal_target
from stack.embedded import TemporalDevServer, free_port

from support.auth import JWT_SECRET, PAYLOAD_KEYS
from support.tls import Pki, client_certificate, make_pki

ROOT = Path(__file__).resolve().parents[2]


def _target(env: dict[str, str], **settings: Any) -> TemporalTarget:
    return temporal_target(Settings(env="test", temporal_client_env=env, **settings))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A CA, a server certificate and a client certificate (``client.crt``, ``client.key``)."""
    pki = make_pki(tmp_path_factory.mktemp("connect-pki"))
    client_certificate(pki, "client")
    return pki


def test_with_nothing_configured_the_target_is_the_embedded_dev_server() -> None:
    """No address anywhere: 127.0.0.1 on BOOKING_TEMPORAL_PORT, namespace default, in clear."""
    target = _target({}, temporal_port=17233)

    assert target == TemporalTarget("127.0.0.1:17233", "default", embedded=True)
    assert target.tls is False
    assert target.api_key is None


def test_the_sdk_variables_configure_the_client() -> None:
    """TEMPORAL_ADDRESS, _NAMESPACE, _API_KEY and _GRPC_META_* as the Temporal CLI reads them."""
    target = _target(
        {
            "TEMPORAL_ADDRESS": "prod.a1b2c.tmprl.cloud:7233",
            "TEMPORAL_NAMESPACE": "prod.a1b2c",
            "TEMPORAL_API_KEY": "key-1",
            "TEMPORAL_GRPC_META_X_TEAM": "bookings",
        }
    )

    assert (target.address, target.namespace, target.embedded) == (
        "prod.a1b2c.tmprl.cloud:7233",
        "prod.a1b2c",
        False,
    )
    assert target.api_key == "key-1"
    assert target.tls is True  # an API key turns TLS on, as in the SDK
    assert target.rpc_metadata == {"x-team": "bookings"}
    assert "key-1" not in repr(target) + target.describe()


def test_booking_address_and_namespace_win_over_the_sdk_variables() -> None:
    """BOOKING_TEMPORAL_ADDRESS/NAMESPACE over TEMPORAL_ADDRESS/NAMESPACE; TLS still applies."""
    target = _target(
        {
            "TEMPORAL_ADDRESS": "sdk.example:7233",
            "TEMPORAL_NAMESPACE": "sdk",
            "TEMPORAL_API_KEY": "key-1",
        },
        temporal_address="booking.example:7233",
        temporal_namespace="bookings",
    )

    assert (target.address, target.namespace) == ("booking.example:7233", "bookings")
    assert target.api_key == "key-1"


def test_tls_false_turns_tls_off_even_with_an_api_key() -> None:
    """TEMPORAL_TLS=false: a plain connection (a proxy on the host that adds TLS, say)."""
    assert _target({"TEMPORAL_API_KEY": "k", "TEMPORAL_TLS": "false"}).tls is False


def test_the_tls_files_are_read_at_once(pki: Pki) -> None:
    """Certificate, key and CA are read when the configuration is resolved, not on first use."""
    directory = pki.ca_file.parent
    target = _target(
        {
            "TEMPORAL_ADDRESS": "temporal.internal:7233",
            "TEMPORAL_TLS_CLIENT_CERT_PATH": str(directory / "client.crt"),
            "TEMPORAL_TLS_CLIENT_KEY_DATA": (directory / "client.key").read_text(),
            "TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(pki.ca_file),
            "TEMPORAL_TLS_SERVER_NAME": "temporal.example",
        }
    )

    assert isinstance(target.tls, TLSConfig)
    assert target.tls.client_cert == (directory / "client.crt").read_bytes()
    assert target.tls.client_private_key == (directory / "client.key").read_bytes()
    assert target.tls.server_root_ca_cert == pki.ca_file.read_bytes()
    assert target.tls.domain == "temporal.example"
    assert target.describe() == (
        "temporal.internal:7233 (namespace default, TLS, client certificate)"
    )


def test_a_toml_profile_is_read(tmp_path: Path, pki: Pki) -> None:
    """TEMPORAL_CONFIG_FILE and TEMPORAL_PROFILE pick a profile; its TLS files are read."""
    config = tmp_path / "temporal.toml"
    config.write_text(
        f"""
[profile.default]
address = "default.example:7233"

[profile.prod]
address = "prod.example:7233"
namespace = "bookings-prod"
[profile.prod.tls]
server_name = "prod.example"
server_ca_cert_path = "{pki.ca_file}"
client_cert_path = "{pki.ca_file.parent / "client.crt"}"
client_key_path = "{pki.ca_file.parent / "client.key"}"
"""
    )

    target = _target({"TEMPORAL_CONFIG_FILE": str(config), "TEMPORAL_PROFILE": "prod"})

    assert (target.address, target.namespace) == ("prod.example:7233", "bookings-prod")
    assert isinstance(target.tls, TLSConfig)
    assert target.tls.client_cert is not None
    assert _target({"TEMPORAL_CONFIG_FILE": str(config)}).address == "default.example:7233"


def test_temporal_variables_come_from_the_environment_and_dot_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The settings object gathers TEMPORAL_*: the environment over .env; empty is unset."""
    dot_env = tmp_path / ".env"
    dot_env.write_text("TEMPORAL_NAMESPACE=from-file\nTEMPORAL_ADDRESS=file.example:7233\n")
    monkeypatch.setenv("TEMPORAL_ADDRESS", "env.example:7233")
    monkeypatch.setenv("TEMPORAL_API_KEY", "")

    settings = Settings(env="test", _env_file=dot_env)

    assert settings.temporal_client_env == {
        **{k: v for k, v in os.environ.items() if k.startswith("TEMPORAL_") and v},
        "TEMPORAL_ADDRESS": "env.example:7233",
        "TEMPORAL_NAMESPACE": "from-file",
    }
    assert "TEMPORAL_API_KEY" not in settings.temporal_client_env


async def test_booking_settings_win_on_a_real_connection(
    temporal_server: TemporalDevServer,
) -> None:
    """TEMPORAL_ADDRESS names a closed port and another namespace; the BOOKING_ ones connect."""
    settings = Settings(
        env="test",
        temporal_address=temporal_server.address,
        temporal_namespace="default",
        temporal_client_env={
            "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
            "TEMPORAL_NAMESPACE": "nowhere",
        },
    )

    client = await connect(settings)

    assert client.namespace == "default"
    assert await client.count_workflows("WorkflowType = 'NoSuchWorkflow'") is not None


async def test_a_profile_connects_for_real(
    temporal_server: TemporalDevServer, tmp_path: Path
) -> None:
    """A profile chosen by TEMPORAL_PROFILE is where the client goes; the default one is not."""
    config = tmp_path / "temporal.toml"
    config.write_text(
        f"""
[profile.default]
address = "127.0.0.1:{free_port()}"

[profile.local]
address = "{temporal_server.address}"
namespace = "default"
"""
    )
    env = {"TEMPORAL_CONFIG_FILE": str(config), "TEMPORAL_PROFILE": "local"}

    client = await connect(Settings(env="test", temporal_client_env=env))

    assert client.service_client.config.target_host == temporal_server.address


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"TEMPORAL_TLS_CLIENT_CERT_PATH": "/nonexistent/client.crt"},
            "TEMPORAL_TLS_CLIENT_CERT_PATH: cannot read /nonexistent/client.crt:"
            " No such file or directory",
        ),
        (
            {"TEMPORAL_TLS_SERVER_CA_CERT_DATA": "not a certificate"},
            "TEMPORAL_TLS_SERVER_CA_CERT_DATA: not a PEM file",
        ),
        (
            {"TEMPORAL_TLS_CLIENT_CERT_DATA": "-----BEGIN CERTIFICATE-----"},
            "TEMPORAL_TLS_CLIENT_KEY_PATH (or _DATA): required with"
            " TEMPORAL_TLS_CLIENT_CERT_PATH (or _DATA)",
        ),
        ({"TEMPORAL_PROFILE": "nope"}, "TEMPORAL_PROFILE: Profile 'nope' not found"),
        (
            {"TEMPORAL_CONFIG_FILE": "/nonexistent/temporal.toml"},
            "TEMPORAL_CONFIG_FILE: no such file: /nonexistent/temporal.toml",
        ),
        ({"TEMPORAL_TLS": "yes"}, "TEMPORAL_TLS: 'yes' is not one of true, false, 1, 0"),
    ],
)
def test_a_configuration_that_cannot_work_is_named_in_one_line(
    env: dict[str, str], expected: str
) -> None:
    """Each mistake is a TemporalConfigError whose one line starts with the setting."""
    with pytest.raises(TemporalConfigError) as error:
        _target(env)

    assert str(error.value).startswith(expected)
    assert "\n" not in str(error.value)


def test_a_misspelt_profile_key_is_refused(tmp_path: Path) -> None:
    """``adress =`` would silently connect to the default; the file is read strictly."""
    config = tmp_path / "temporal.toml"
    config.write_text('[profile.default]\nadress = "temporal.internal:7233"\n')

    with pytest.raises(TemporalConfigError) as error:
        _target({"TEMPORAL_CONFIG_FILE": str(config)})

    message = str(error.value)
    assert message.startswith("TEMPORAL_CONFIG_FILE: ")
    assert "unknown field `adress`" in message
    assert "\n" not in message


@pytest.mark.parametrize("command", ["worker", "api"])
def test_the_cli_says_what_is_wrong_in_one_line(command: str, tmp_path: Path) -> None:
    """``booking-engine worker`` and ``api`` stop at start with the setting, no traceback."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "BOOKING_"))},
        "BOOKING_ENV": "test",
        "BOOKING_DATA_DIR": str(tmp_path),
        "BOOKING_JWT_SECRET": JWT_SECRET,
        "BOOKING_PAYLOAD_KEYS": PAYLOAD_KEYS,
        "BOOKING_WORKER_METRICS_PORT": "0",
        "TEMPORAL_ADDRESS": "temporal.internal:7233",
        "TEMPORAL_TLS_CLIENT_CERT_PATH": str(tmp_path / "missing.crt"),
        "TEMPORAL_TLS_CLIENT_KEY_PATH": str(tmp_path / "missing.key"),
    }

    done = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-m", "stack.cli", command],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 1
    assert done.stderr == (
        f"TEMPORAL_TLS_CLIENT_CERT_PATH: cannot read {tmp_path / 'missing.crt'}:"
        " No such file or directory\n"
    )


def test_the_cli_names_a_server_that_does_not_answer(tmp_path: Path) -> None:
    """A worker pointed at a closed port says where it tried, in one line."""
    closed = f"127.0.0.1:{free_port()}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "BOOKING_"))},
        "BOOKING_ENV": "test",
        "BOOKING_DATA_DIR": str(tmp_path),
        "BOOKING_WORKER_METRICS_PORT": "0",
        "TEMPORAL_ADDRESS": closed,
        "PYTHONPATH": str(ROOT),
    }

    done = subprocess.run(
        [sys.executable, "-m", "stack.cli", "worker"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 1
    assert done.stderr.startswith(
        f"Temporal at {closed} (namespace default) did not accept the connection: "
    )
    assert done.stderr.count("\n") == 1
