"""A server process freezes its start-up heap and collects young objects in larger batches."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from core.collector import settle_the_collector
from core.settings import Settings


@pytest.fixture
def collector() -> Iterator[None]:
    """Python's collector as the test found it, restored afterwards."""
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("collector")
def test_settled_collector_freezes_what_exists_and_raises_the_thresholds() -> None:
    gc.unfreeze()
    survivor = [object() for _ in range(10)]  # a container alive at start-up

    settle_the_collector(20_000)

    assert gc.get_threshold() == (20_000, 20, 20)
    assert gc.get_freeze_count() > 0
    # Frozen objects are outside every generation the collector walks.
    assert not any(o is survivor for o in gc.get_objects())


@pytest.mark.usefixtures("collector")
def test_zero_leaves_pythons_collector_as_it_is() -> None:
    gc.unfreeze()
    before = gc.get_threshold()

    settle_the_collector(0)

    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


@pytest.mark.usefixtures("collector")
def test_cycles_made_after_settling_are_collected_without_being_asked() -> None:
    settle_the_collector(20_000)

    class Node:
        partner: object | None = None

    a, b = Node(), Node()
    a.partner, b.partner = b, a
    gone = weakref.ref(a)
    del a, b
    # Reference counting cannot free a cycle; a young collection, due after 20,000 new
    # containers, must. (A collector switched off would leave it.)
    young = gc.get_stats()[0]["collections"]
    kept: list[list[int]] = [[] for _ in range(25_000)]

    assert gc.get_stats()[0]["collections"] > young
    assert gone() is None
    assert len(kept) == 25_000


def test_servers_settle_the_collector_by_default() -> None:
    assert Settings().gc_threshold == 20_000
