"""The workflow modules' code is compiled once per process and run afresh for each import."""

from __future__ import annotations

import importlib
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from core.code_cache import compile_once
from core.settings import Settings
from worker import workflow_runner

MODULE = """
seen = []

def step():
    seen.append(1)
    return len(seen)
"""


@pytest.fixture
def packages(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two fresh packages on the path, each with a module ``flow``: (cached, plain)."""
    names = (f"cached_{uuid.uuid4().hex}", f"plain_{uuid.uuid4().hex}")
    for name in names:
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("")
        (tmp_path / name / "flow.py").write_text(MODULE)
    sys.path.insert(0, str(tmp_path))
    try:
        yield names
    finally:
        sys.path.remove(str(tmp_path))
        for name in list(sys.modules):
            if name.startswith(names):
                del sys.modules[name]


def fresh_import(name: str) -> ModuleType:
    """Import ``name`` anew, as the sandbox does for each workflow."""
    sys.modules.pop(name, None)
    return importlib.import_module(name)


def test_a_module_imported_twice_runs_twice_on_one_code_object(
    packages: tuple[str, str],
) -> None:
    cached, plain = packages
    compile_once(cached)

    first, second = fresh_import(f"{cached}.flow"), fresh_import(f"{cached}.flow")
    other_first, other_second = fresh_import(f"{plain}.flow"), fresh_import(f"{plain}.flow")

    # One compilation, shared: the same code object behind each import's function.
    assert first.step.__code__ is second.step.__code__
    # Each import still ran the module body: its state is its own.
    assert first is not second
    assert (first.step(), first.step(), second.step()) == (1, 2, 1)
    # Packages not named are imported as Python does: the bytecode is loaded each time.
    assert other_first.step.__code__ is not other_second.step.__code__


def test_installing_twice_adds_one_finder(packages: tuple[str, str]) -> None:
    cached, _ = packages
    before = len(sys.meta_path)
    compile_once(cached)
    compile_once(cached)
    assert len(sys.meta_path) - before == 1


def test_the_sandboxed_runner_compiles_the_workflow_modules_once(settings: Settings) -> None:
    loaded = sys.modules["workflows.booking"]
    workflow_runner(settings)
    try:
        first, second = fresh_import("workflows.booking"), fresh_import("workflows.booking")
    finally:
        sys.modules["workflows.booking"] = loaded  # The rest of the session keeps its classes.
    assert first.BookingWorkflow.run.__code__ is second.BookingWorkflow.run.__code__
