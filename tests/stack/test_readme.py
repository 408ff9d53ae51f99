"""The README's walk-through runs as written, on a fresh `make dev`, and prints what it shows.

``booking-engine dev`` starts as the README says to start it
(``BOOKING_HOLD_TTL_SECONDS=30``), in a data directory of its own on free
ports; the README's ports are rewritten to those. Then every shell block runs
in order in one bash session (`tests/support/readme.py`), and each step must
exit 0, write nothing to stderr and print what the README shows under it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from support.devstack import dev_stack
from support.readme import Outcome, Shell, Step, matches, steps

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
# The slowest steps wait for a payment window (30 s) or a refund's in-line retries (15 s).
STEP_TIMEOUT = 120


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
    found = steps(text)
    assert [(s.line, s.expected) for s in found] == [(3, "1"), (7, "a …")]
    assert found[0].commands.startswith("# a comment")
    assert matches("{'a': …, 'b': 2}", "{'a': [1,\n 2], 'b': 2}")
    assert not matches("{'a': …, 'b': 2}", "{'a': 1, 'b': 3}")


@pytest.mark.timeout(900)
def test_the_readme_runs_as_written(tmp_path: Path) -> None:
    """Every shell block of README.md, in order, against a live stack."""
    with dev_stack(tmp_path, hold_ttl_seconds="30") as stack:
        ports = {
            "127.0.0.1:8000": f"127.0.0.1:{stack.api_port}",
            "127.0.0.1:8090": f"127.0.0.1:{stack.sandbox_port}",
            "127.0.0.1:8233": f"127.0.0.1:{stack.ui_port}",
            "127.0.0.1:9464": f"127.0.0.1:{stack.worker_metrics_port}",
        }
        text = README.read_text()
        for default, given in ports.items():
            text = text.replace(default, given)
        env = {**stack.env, "TEMPORAL_ADDRESS": f"127.0.0.1:{stack.temporal_port}"}
        walk = steps(text)
        assert len(walk) > 20, "the README lost its walk-through"
        shell = Shell(ROOT, env, tmp_path)
        try:
            for step in walk:
                outcome = shell.run(step, timeout=STEP_TIMEOUT)
                log = stack.output()
                assert outcome.code == 0, _report(step, outcome, "the step failed", log)
                assert outcome.stderr == "", _report(step, outcome, "the step wrote to stderr", log)
                if step.expected:
                    assert matches(step.expected, outcome.stdout), _report(
                        step, outcome, "the step printed something else", log
                    )
        finally:
            shell.close()
