"""Where a run's results go: JSON, Markdown and the chart, copied to ``latest-<mode>-*``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from bench import report
from bench.progress import log

RESULTS = Path(__file__).resolve().parent / "results"


def write_outputs(results: dict[str, Any], out_dir: Path, mode: str) -> None:
    """results.json, results.md and chart.png, also copied to bench/results/latest-*."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    markdown = report.markdown(results)
    (out_dir / "results.md").write_text(markdown)
    report.chart(results, out_dir / "chart.png")
    for name in ("results.json", "results.md", "chart.png"):
        shutil.copyfile(out_dir / name, RESULTS / f"latest-{mode}-{name}")
    print(markdown)
    log(f"wrote {out_dir}/results.json, results.md, chart.png")
