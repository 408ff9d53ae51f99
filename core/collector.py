"""Python's garbage collector, set for a long-running server process.

A server's live heap is mostly long-lived: its imports, its pools, and in the
worker one copy of the workflow modules for each cached workflow (the
sandbox's). With Python's thresholds (700, 10, 10) a request's few thousand
short-lived containers trigger several young collections, and every older one
walks that whole heap (docs/performance-notes.md, "Python's collector, uvloop
and the payload converter", has what it cost). Freezing what
start-up built takes it out of every walk; a higher young threshold collects
the same cycles in fewer, larger batches. The one thing given up: a frozen
start-up object that later becomes part of an unreachable cycle is not
collected (reference counting still frees everything else); start-up's
objects are modules, classes, pools and settings, which live as long as the
process.
"""

from __future__ import annotations

import gc

import structlog

log = structlog.get_logger(__name__)


def settle_the_collector(threshold: int) -> None:
    """Freeze what exists now and collect young objects per ``threshold`` allocations.

    Call once, when start-up is done. ``threshold`` 0 leaves Python's settings
    as they are.
    """
    if not threshold:
        return
    gc.collect()
    gc.freeze()
    gc.set_threshold(threshold, 20, 20)
    log.info("collector.settled", frozen=gc.get_freeze_count(), thresholds=gc.get_threshold())
