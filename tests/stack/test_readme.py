"""The README's walk-through and every guide's examples run as written, on a fresh `make dev`.

``booking-engine dev`` starts as the README says to start it
(``BOOKING_HOLD_TTL_SECONDS=30``), in a data directory of its own on free
ports; the documents' ports are rewritten to those. Then every shell block of
the README runs in order in one bash session (`tests/support/readme.py`), and
the guides under ``docs/`` follow in the same session, in the order of
``WALK``, as a reader who goes on from the README pastes them. Each step must
exit 0, write nothing to stderr and print what the document shows under it.
A guide run on its own (``-k docs/rentals.md``) first runs the documents
before it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from support.devstack import DevStack, dev_stack
from support.readme import WALK, Outcome, Shell, Step, matches, steps

ROOT = Path(__file__).resolve().parents[2]
# The slowest steps wait for a payment window (30 s) or a refund's in-line retries (15 s).
STEP_TIMEOUT = 120
# What the README's walk-through must keep at least (start, token, resource, two bookings, UI).
README_STEPS = 10


def _report(step: Step, outcome: Outcome, problem: str, log: str) -> str:
    return (
        f"{problem}\n{step.describe()}\n"
        f"--- expected\n{step.expected}\n--- stdout\n{outcome.stdout}\n"
        f"--- stderr\n{outcome.stderr}\n--- exit {outcome.code}\n"
        f"--- dev stack log (end)\n{log[-4000:]}"
    )


def test_steps_are_read_as_the_readme_means_them() -> None:
    """Output lines sit under their command; comments and skipped blocks are not output."""
    text = "\n".join(
        [
            "```sh",
            "# a comment, not output",
            "X=1",
            "echo $X",
            "# 1",
            "",
            "echo a b",
            "# a …",
            "```",
            "<!-- not run -->",
            "```sh",
            "make dev",
            "```",
        ]
    )
    found = steps(text, "docs/x.md")
    assert [(s.line, s.expected) for s in found] == [(3, "1"), (7, "a …")]
    assert found[0].commands.startswith("# a comment")
    assert found[0].describe().startswith("docs/x.md line 3:")
    assert matches("{'a': …, 'b': 2}", "{'a': [1,\n 2], 'b': 2}")
    assert not matches("{'a': …, 'b': 2}", "{'a': 1, 'b': 3}")


def test_every_document_with_shell_blocks_is_walked() -> None:
    """A guide whose shell blocks would run is in the walk; none in the walk has lost them."""
    documents = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    runnable = {
        str(path.relative_to(ROOT)) for path in documents if steps(path.read_text(), path.name)
    }
    assert runnable == set(WALK), "add the guide to WALK, or mark its blocks <!-- not run -->"
    assert len(steps((ROOT / "README.md").read_text())) >= README_STEPS, (
        "the README lost its walk-through"
    )


@dataclass
class Walk:
    """One stack and one shell that the documents run in, in order, each once."""

    stack: DevStack
    shell: Shell
    ports: dict[str, str]
    done: list[str] = field(default_factory=list)
    broken: str | None = None

    def through(self, document: str) -> None:
        """Run ``document``, after the documents before it that have not run yet."""
        for earlier in WALK[: WALK.index(document) + 1]:
            if earlier not in self.done:
                if self.broken:
                    pytest.fail(f"{self.broken} failed, so {earlier} cannot run where it left off")
                self.broken = earlier
                self._run(earlier)
                self.broken = None
                self.done.append(earlier)

    def _run(self, document: str) -> None:
        text = (ROOT / document).read_text()
        for default, given in self.ports.items():
            text = text.replace(default, given)
        for step in steps(text, document):
            outcome = self.shell.run(step, timeout=STEP_TIMEOUT)
            log = self.stack.output()
            assert outcome.code == 0, _report(step, outcome, "the step failed", log)
            assert outcome.stderr == "", _report(step, outcome, "the step wrote to stderr", log)
            if step.expected:
                assert matches(step.expected, outcome.stdout), _report(
                    step, outcome, "the step printed something else", log
                )


@pytest.fixture(scope="module")
def walk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Walk]:
    """``make dev`` with a 30-second payment window, and the one shell the documents share."""
    workdir = tmp_path_factory.mktemp("walk")
    with dev_stack(workdir, hold_ttl_seconds="30") as stack:
        ports = {
            "127.0.0.1:8000": f"127.0.0.1:{stack.api_port}",
            "127.0.0.1:8090": f"127.0.0.1:{stack.sandbox_port}",
            "127.0.0.1:8233": f"127.0.0.1:{stack.ui_port}",
            "127.0.0.1:9464": f"127.0.0.1:{stack.worker_metrics_port}",
        }
        env = {**stack.env, "TEMPORAL_ADDRESS": f"127.0.0.1:{stack.temporal_port}"}
        shell = Shell(ROOT, env, workdir)
        try:
            yield Walk(stack, shell, ports)
        finally:
            shell.close()


@pytest.mark.timeout(900)
@pytest.mark.parametrize("document", WALK)
def test_the_document_runs_as_written(walk: Walk, document: str) -> None:
    """Every shell block of the document, in order, against the live stack the walk shares."""
    walk.through(document)
