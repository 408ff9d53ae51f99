"""Prometheus expositions held to Prometheus' naming rules, and to ``promtool`` when it is here."""

from __future__ import annotations

import re
import shutil
import subprocess

from prometheus_client.parser import text_string_to_metric_families

# The Temporal SDK's own counter of local activities is named ``local_activity_total`` in every
# SDK; with Prometheus' ``_total`` added it reads ``_total_total``: still a valid counter name.
SDK_COUNTERS_NAMED_TOTAL = frozenset({"temporal_local_activity_total"})
# A histogram or summary of a duration says so in its name or its help text.
_DURATION = re.compile(r"latency|duration|seconds|elapsed|\btime\b", re.IGNORECASE)


def declared_types(text: str) -> dict[str, str]:
    """Every ``# TYPE name kind`` line of an exposition, as written (before any parsing)."""
    return {
        parts[2]: parts[3]
        for line in text.splitlines()
        if line.startswith("# TYPE ") and len(parts := line.split()) == 4
    }


def naming_problems(text: str) -> tuple[list[str], dict[str, int]]:
    """What breaks the naming rules: counters end in ``_total``, durations in ``_seconds``.

    The parser reports a counter declared as ``x_total`` as family ``x`` and quietly
    renames the samples of one declared without the suffix, so counters are judged
    by their ``# TYPE`` lines. Returns the problems, and how many counters and
    duration histograms were checked (so a check of nothing shows).
    """
    declared = declared_types(text)
    problems: list[str] = []
    checked = {"counters": 0, "durations": 0}
    for family in text_string_to_metric_families(text):
        if family.type == "counter":
            checked["counters"] += 1
            if f"{family.name}_total" not in declared:
                problems.append(f"counter {family.name} is not exposed with _total")
            if family.name.endswith("_total") and family.name not in SDK_COUNTERS_NAMED_TOTAL:
                problems.append(f"counter {family.name}_total has _total twice")
        elif family.type in ("histogram", "summary") and _DURATION.search(
            f"{family.name} {family.documentation}"
        ):
            checked["durations"] += 1
            if not family.name.endswith("_seconds"):
                problems.append(f"duration {family.type} {family.name} does not end in _seconds")
    return problems, checked


def promtool_check(text: str) -> subprocess.CompletedProcess[str] | None:
    """``promtool check metrics`` over ``text``; None when no ``promtool`` is on PATH."""
    promtool = shutil.which("promtool")
    if promtool is None:
        return None
    return subprocess.run(  # noqa: S603 - a fixed tool reading stdin
        [promtool, "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
