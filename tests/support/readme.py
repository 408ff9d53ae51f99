"""Run Markdown documents' shell blocks as a user would, and compare what they print.

A document is split into *steps*. Each ```` ```sh ```` block is read top to
bottom: command lines (comments before a command included) form a step, and
the ``# `` lines written directly under a command, with no blank line between,
are what that step prints. The comparison ignores whitespace (the document
wraps long output) and reads ``…`` as "anything". A block whose fence is
preceded by the line ``<!-- not run -->`` (or ``<!-- not run: why -->``) is
skipped: it starts stacks or needs what a test machine does not have.

All steps run in one bash session, so variables set by one are there for the
next, exactly as in a terminal where someone pastes the blocks in order. The
guides under ``docs/`` continue the README's walk-through in the same session,
in the order of :data:`WALK`.
"""

from __future__ import annotations

import os
import re
import select
import subprocess
from dataclasses import dataclass
from pathlib import Path

# The documents whose shell blocks run, in the order a reader follows them: each
# continues in the session the ones before it left (their variables, their bookings).
WALK = (
    "README.md",
    "docs/api.md",
    "docs/gateways.md",
    "docs/rentals.md",
    "docs/topups.md",
    "docs/operating.md",
)
NOT_RUN = "<!-- not run"  # `<!-- not run -->`, or with a reason: `<!-- not run: … -->`
ANYTHING = "…"


@dataclass(frozen=True)
class Step:
    """Commands from one block, and what they print (nothing checked when ``expected`` is empty)."""

    line: int  # of the first command, 1-based
    commands: str
    expected: str
    source: str = "README.md"

    def describe(self) -> str:
        return f"{self.source} line {self.line}:\n{self.commands}"


def _is_output(line: str) -> bool:
    return line == "#" or line.startswith("# ")


def steps(markdown: str, source: str = "README.md") -> list[Step]:
    """The document's steps, in order; ``source`` names the document in reports."""
    lines = markdown.splitlines()
    found: list[Step] = []
    block: list[tuple[int, str]] | None = None
    skipping = False
    for number, line in enumerate(lines, start=1):
        if block is None:
            if line.strip() == "```sh":
                before = next((p for p in reversed(lines[: number - 1]) if p.strip()), "")
                skipping = before.strip().startswith(NOT_RUN)
                block = []
            continue
        if line.strip() == "```":
            if not skipping:
                found.extend(_split(block, source))
            block = None
            continue
        block.append((number, line))
    return found


def _split(block: list[tuple[int, str]], source: str) -> list[Step]:
    result: list[Step] = []
    commands: list[tuple[int, str]] = []
    expected: list[str] = []
    previous = ""
    for number, line in block:
        under_command = bool(previous.strip()) and not previous.startswith("#")
        if _is_output(line) and (expected or under_command):
            expected.append(line[2:])
        else:
            if expected:
                result.append(_step(commands, expected, source))
                commands, expected = [], []
            commands.append((number, line))
        previous = line
    if commands:
        result.append(_step(commands, expected, source))
    return result


def _step(commands: list[tuple[int, str]], expected: list[str], source: str) -> Step:
    first = next(n for n, c in commands if c.strip() and not c.startswith("#"))
    return Step(first, "\n".join(c for _, c in commands), "\n".join(expected), source)


def matches(expected: str, actual: str) -> bool:
    """Whether ``actual`` is what ``expected`` shows, whitespace aside, ``…`` matching anything."""
    squeeze = re.compile(r"\s+")
    parts = squeeze.sub("", expected).split(ANYTHING)
    pattern = ".*?".join(re.escape(part) for part in parts)
    return re.fullmatch(pattern, squeeze.sub("", actual), re.DOTALL) is not None


@dataclass(frozen=True)
class Outcome:
    """What a step did: its exit code and what it wrote."""

    code: int | None  # None: the shell exited (an unset variable under ``set -u``, ``exit``)
    stdout: str
    stderr: str


class Shell:
    """One bash session (``set -uo pipefail``) that runs steps and reports what each printed."""

    def __init__(self, cwd: Path, env: dict[str, str], scratch: Path) -> None:
        self._scratch = scratch
        self._count = 0
        self._process = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],  # noqa: S607 - bash from PATH, as a user has it
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._send("set -uo pipefail\n")

    def _send(self, text: str) -> None:
        assert self._process.stdin is not None
        self._process.stdin.write(text.encode())
        self._process.stdin.flush()

    def run(self, step: Step, timeout: float) -> Outcome:
        """Run one step; raises ``TimeoutError`` when it does not finish within ``timeout``."""
        self._count += 1
        script = self._scratch / f"step-{self._count:03d}.sh"
        out, err = script.with_suffix(".out"), script.with_suffix(".err")
        script.write_text(step.commands + "\n")
        marker = f"__step_{self._count}_done__"
        self._send(f"source {script} >{out} 2>{err} </dev/null; echo {marker} $?\n")
        code = self._await(marker, timeout)
        return Outcome(code, out.read_text(errors="replace"), err.read_text(errors="replace"))

    def _await(self, marker: str, timeout: float) -> int | None:
        stdout = self._process.stdout
        assert stdout is not None
        ready, _, _ = select.select([stdout], [], [], timeout)
        if not ready:
            raise TimeoutError(f"the step did not finish within {timeout:.0f} s")
        line = stdout.readline().decode()
        if not line:
            return None
        name, _, code = line.strip().partition(" ")
        assert name == marker, f"unexpected shell output {line!r}"
        return int(code)

    def close(self) -> None:
        if self._process.poll() is None:
            os.killpg(self._process.pid, 9)
        self._process.wait()
