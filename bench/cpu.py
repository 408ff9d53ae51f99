"""CPU accounting: seconds burnt per process tree, read before and after a measurement."""

from __future__ import annotations

import psutil


def tree_cpu(pid: int) -> float:
    """User + system CPU seconds of a process, its live descendants and its reaped children."""
    try:
        root = psutil.Process(pid)
        times = root.cpu_times()
        total = times.user + times.system + times.children_user + times.children_system
        for child in root.children(recursive=True):
            try:
                t = child.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                continue
        return total
    except psutil.Error:
        return 0.0


def cpu_snapshot(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds per process tree, plus this load generator."""
    snap = {name: tree_cpu(pid) for name, pid in pids.items()}
    me = psutil.Process().cpu_times()
    snap["loadgen"] = me.user + me.system
    return snap
