"""The benchmark's progress lines on stderr, timed from the start of the run."""

from __future__ import annotations

import sys
import time

# The run's start: this module is first imported as the benchmark starts.
T0 = time.monotonic()


def log(message: str) -> None:
    """Progress on stderr, with the time since start."""
    print(f"[bench {time.monotonic() - T0:7.1f}s] {message}", file=sys.stderr, flush=True)
