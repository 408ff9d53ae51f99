"""The time-skipping test server (``temporal-test-server`` from PyPI) for timer-driven tests."""

from __future__ import annotations

import re
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.testing import WorkflowEnvironment

from core.codec import data_converter
from models.search_attributes import SEARCH_ATTRIBUTES

from support.auth import PAYLOAD_KEYS


@pytest.fixture
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of the test's own (it starts in about 0.1 s).

    One server shared by the session let one test's leftovers (workflows still
    waiting on timers or activity retries after their worker stopped) stop the
    shared clock from skipping; every later timer test then waited for real
    time and timed out, in one clean-clone run out of three.
    """
    binary = shutil.which("temporal-test-server") or str(
        Path(sys.executable).parent / "temporal-test-server"
    )
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter(PAYLOAD_KEYS), test_server_existing_path=binary
    )
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={
                name: IndexedValueType.Value(
                    "INDEXED_VALUE_TYPE_" + re.sub(r"(?<!^)(?=[A-Z])", "_", kind).upper()
                )
                for name, kind in SEARCH_ATTRIBUTES.items()
            },
        )
    )
    yield env
    await env.shutdown()
