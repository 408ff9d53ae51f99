"""Targets, the Markdown table and the PNG chart, from the raw figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# A baseline, B floor behind HTTP, R raw floor (in-process), C engine.
SYSTEMS = "ABRC"


def _cl(results: dict[str, Any], system: str, clients: int) -> dict[str, Any] | None:
    by_clients: dict[str, Any] = results.get("closed_loop", {}).get(system, {})
    return by_clients.get(str(clients))


def _peak(results: dict[str, Any], system: str) -> tuple[float, int]:
    by_clients: dict[str, Any] = results.get("closed_loop", {}).get(system, {})
    best = max(by_clients.items(), key=lambda kv: kv[1]["throughput_median"])
    return best[1]["throughput_median"], int(best[0])


def _target(name: str, value: float | None, limit: float | None, kind: str, detail: str) -> dict:
    """``kind``: ">=" (value must reach limit), "<=" or "<"."""
    if value is None or limit is None:
        return {"target": name, "status": "not measured", "detail": detail}
    met = value >= limit if kind == ">=" else (value <= limit if kind == "<=" else value < limit)
    if met:
        margin = f"met ({value:.3g} {kind} {limit:.3g})"
    elif kind == ">=":
        margin = f"missed: {value:.3g} is {100 * (1 - value / limit):.0f}% below {limit:.3g}"
    else:
        margin = f"missed: {value:.3g} is {100 * (value / limit - 1):.0f}% above {limit:.3g}"
    return {
        "target": name,
        "status": "met" if met else "missed",
        "value": round(value, 3),
        "limit": round(limit, 3),
        "margin": margin,
        "detail": detail,
    }


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of issue #5, met or missed and by how much (ratios within this run)."""
    out = []
    b16, c16 = _cl(results, "B", 16), _cl(results, "C", 16)
    out.append(
        _target(
            "C throughput at 16 clients >= 0.5 x B's",
            c16["throughput_median"] if c16 else None,
            0.5 * b16["throughput_median"] if b16 else None,
            ">=",
            "bookings/s, medians of the rounds",
        )
    )
    b1, c1 = _cl(results, "B", 1), _cl(results, "C", 1)
    b1p50 = b1["latency_ms"]["p50"] if b1 else None
    out.append(
        _target(
            "C hold-decision p50 <= 2 x B update p50 (1 client)",
            c1["latency_ms"]["p50"] if c1 else None,
            2 * b1p50 if b1p50 else None,
            "<=",
            "ms, all 1-client requests pooled",
        )
    )
    a_peak, a_at = _peak(results, "A")
    c_peak, c_at = _peak(results, "C")
    out.append(
        _target(
            "C throughput >= 0.1 x A's (peaks)",
            c_peak,
            0.1 * a_peak,
            ">=",
            f"C peak at {c_at} clients, A peak at {a_at} clients",
        )
    )
    hook = results.get("webhook", {}).get("db_latency_ms", {}).get("p50")
    out.append(
        _target(
            "webhook -> CONFIRMED p50 < 2 x B update p50",
            hook,
            2 * b1p50 if b1p50 else None,
            "<",
            "ms, webhook_events.received_at to booking.confirmed in booking_events.at",
        )
    )
    growth = results.get("growth", {})
    small, large = growth.get("1000"), growth.get("100000")
    out.append(
        _target(
            "growth: p50 at 100k <= 1.2 x p50 at 1k",
            large["latency_ms"]["p50"] if large else None,
            1.2 * small["latency_ms"]["p50"] if small and large else None,
            "<=",
            "ms, 1 client" if large else "100k not measured in this mode",
        )
    )
    cont = results.get("contention")
    if cont:
        statuses = cont["statuses"]
        losers = cont["requests"] - statuses.get("201", 0)
        five = sum(v for k, v in statuses.items() if k.startswith("5") or k == "-1")
        ok = (
            cont["db"]["active"] == 1
            and cont["db"]["active_count"] == 1
            and cont["db"]["debits"] - cont["db"]["refunds"] == 1
            and statuses.get("201", 0) == 1
            and statuses.get("409", 0) == losers
            and five == 0
        )
        out.append(
            {
                "target": "contention: one winner, every loser 409, none 5xx",
                "status": "met" if ok else "missed",
                "margin": ("met: " if ok else "missed: ")
                + (
                    f"active bookings {cont['db']['active']}, net debits "
                    f"{cont['db']['debits'] - cont['db']['refunds']}, 201: "
                    f"{statuses.get('201', 0)}, 409: {statuses.get('409', 0)} of {losers} "
                    f"losers, 5xx/errors: {five}"
                ),
                "detail": f"{cont['requests']} concurrent creates on one slot",
            }
        )
    out += speed_targets(results)
    return out


def speed_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The targets against the raw floor R, and the cost, burst and availability bounds."""
    out = []
    r16, c16 = _cl(results, "R", 16), _cl(results, "C", 16)
    out.append(
        _target(
            "C throughput at 16 clients >= 0.5 x R's (raw floor)",
            c16["throughput_median"] if c16 else None,
            0.5 * r16["throughput_median"] if r16 else None,
            ">=",
            "bookings/s, medians of the rounds",
        )
    )
    r1, c1 = _cl(results, "R", 1), _cl(results, "C", 1)
    out.append(
        _target(
            "C decision p50 <= 1.5 x R's p50 (1 client)",
            c1["latency_ms"]["p50"] if c1 else None,
            1.5 * r1["latency_ms"]["p50"] if r1 and r1["latency_ms"]["p50"] else None,
            "<=",
            "ms, all 1-client requests pooled",
        )
    )
    cost = results.get("cost", {}).get("C")
    net = cost.get("cpu_ms_per_booking_net_of_idle") if cost else None
    out.append(
        _target(
            "server CPU <= 60 ms per wallet booking",
            sum(v for k, v in net.items() if k != "loadgen") if net else None,
            60.0,
            "<=",
            "ms, every server process, net of its idle CPU (figure 6)",
        )
    )
    history = results.get("cost", {}).get("history", {}).get("C")
    out.append(
        _target(
            "<= 10 history events per wallet booking",
            history["events"] if history else None,
            10.0,
            "<=",
            "events of one booking's workflow after its confirmation, meeting link and mail",
        )
    )
    cont = results.get("contention")
    out.append(
        _target(
            "burst on one slot: all answered within 3 s",
            cont["wall_seconds"] if cont else None,
            3.0,
            "<=",
            f"{cont['requests']} concurrent creates" if cont else "not measured",
        )
    )
    week = results.get("availability", {}).get("windows", {}).get("7 d")
    out.append(
        _target(
            "availability p50 <= 20 ms, 10,000 bookings",
            week["latency_ms"]["p50"] if week else None,
            20.0,
            "<=",
            "a week's free starts, one request at a time (figure 7)",
        )
    )
    return out


def _ms(p: dict[str, Any] | None) -> str:
    if not p or not p.get("n"):
        return "n/a | n/a | n/a | n/a"
    return f"{p['p50']} | {p['p95']} | {p['p99']} | {p['max']}"


def markdown(results: dict[str, Any]) -> str:  # noqa: C901 - one section per branch
    """The report as Markdown tables."""
    meta = results.get("meta", {})
    m = meta.get("machine", {})
    lines = [
        f"## Benchmark run ({meta.get('mode')}, `{meta.get('command')}`)",
        "",
        f"Started {meta.get('started_at')}, took {meta.get('duration_seconds')} s. Machine: "
        f"{m.get('cores_logical')} logical cores ({m.get('cpu_model')}), {m.get('memory_gb')} GiB, "
        f"{m.get('os')}, Python {m.get('python')}. Load average at start "
        f"{meta.get('load_average_at_start')}, at end {meta.get('load_average_at_end')}; "
        f"CPU steal during the run {meta.get('cpu_steal_fraction')} of all CPU time.",
        "",
        "### 1. Confirmed bookings per second, closed loop (median of rounds, min-max)",
        "",
        "| clients | A baseline | B Temporal floor | R raw floor | C engine | C/B | C/R | C/A |",
        "|---|---|---|---|---|---|---|---|",
    ]
    cl = results.get("closed_loop", {})
    for clients in results.get("plan", {}).get("clients", []):
        cells = []
        med = {}
        for s in SYSTEMS:
            r = cl.get(s, {}).get(str(clients))
            if r is None:
                cells.append("n/a")
                continue
            med[s] = r["throughput_median"]
            cells.append(f"{r['throughput_median']} ({r['throughput_min']}-{r['throughput_max']})")
        cb = f"{med['C'] / med['B']:.2f}" if med.get("B") and med.get("C") else "n/a"
        cr = f"{med['C'] / med['R']:.2f}" if med.get("R") and med.get("C") else "n/a"
        ca = f"{med['C'] / med['A']:.3f}" if med.get("A") and med.get("C") else "n/a"
        lines.append(f"| {clients} | {' | '.join(cells)} | {cb} | {cr} | {ca} |")
    lines += [
        "",
        "### Latency, closed loop (ms, all samples pooled: p50 | p95 | p99 | max)",
        "",
        "| system | clients | p50 | p95 | p99 | max | per-round p50s |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in SYSTEMS:
        for clients, r in cl.get(s, {}).items():
            lines.append(f"| {s} | {clients} | {_ms(r['latency_ms'])} | {r['p50_per_sample_ms']} |")
    ol = results.get("open_loop")
    if ol:
        lines += [
            "",
            f"### Open loop at {ol['rate_per_s']} requests/s for {ol['seconds']} s per sample "
            "(ms from scheduled start)",
            "",
            "| system | p50 | p95 | p99 | max | confirmed | statuses |",
            "|---|---|---|---|---|---|---|",
        ]
        for s in SYSTEMS:
            r = ol.get(s)
            if r and r["samples"]:
                ok = sum(x["ok"] for x in r["samples"])
                st: dict[str, int] = {}
                for x in r["samples"]:
                    for k, v in x["statuses"].items():
                        st[k] = st.get(k, 0) + v
                lines.append(f"| {s} | {_ms(r['latency_ms'])} | {ok} | {st} |")
    lines += ["", "### 2-5. Decision latencies (ms: p50 | p95 | p99 | max)", ""]
    lines += ["| figure | n | p50 | p95 | p99 | max |", "|---|---|---|---|---|---|"]

    def row(name: str, p: dict[str, Any] | None) -> None:
        lines.append(f"| {name} | {(p or {}).get('n', 0)} | {_ms(p)} |")

    c1, b1 = cl.get("C", {}).get("1"), cl.get("B", {}).get("1")
    row("2. C hold decision (create -> CONFIRMED, 1 client)", c1 and c1["latency_ms"])
    row("   B floor update (1 client)", b1 and b1["latency_ms"])
    hook = results.get("webhook", {})
    row("3. webhook received -> CONFIRMED (DB timestamps)", hook.get("db_latency_ms"))
    row(
        "   sandbox pay call -> CONFIRMED seen by polling",
        hook.get("pay_call_to_confirmed_seen_ms"),
    )
    cont = results.get("contention", {})
    row(
        f"4. contention losers ({cont.get('requests')} creates, one slot)",
        cont.get("loser_latency_ms"),
    )
    row("   contention winner", cont.get("winner_latency_ms"))
    for target, g in results.get("growth", {}).items():
        row(
            f"5. growth, {g['bookings']} bookings / {g['slots']} slots (target {target})",
            g["latency_ms"],
        )
    if cont:
        lines += [
            "",
            f"Contention: statuses {cont['statuses']}, database {cont['db']}, "
            f"all answered in {cont['wall_seconds']} s.",
        ]
    avail = results.get("availability")
    if avail:
        lines += [
            "",
            f"### 7. Availability of a range resource with {avail['bookings']:,} active bookings"
            " (ms, one request at a time)",
            "",
            "| window | bookings in it | free starts answered | n | p50 | p95 | p99 | max |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for window, w in avail["windows"].items():
            p = w["latency_ms"]
            lines.append(
                f"| {window} | {w['busy_in_window']} | {w['free_starts']} | {p['n']} | {_ms(p)} |"
            )
    cost = results.get("cost")
    if cost:
        procs = [k for k in cost["C"]["cpu_ms_per_booking"]]
        lines += [
            "",
            "### 6. Cost per confirmed booking (16 clients, CPU ms per booking per process tree)",
            "",
            "| system | bookings | " + " | ".join(procs) + " | all servers | DB commits |",
            "|---|---|" + "---|" * len(procs) + "---|---|",
        ]
        for s in SYSTEMS:
            c = cost[s]
            per_proc = " | ".join(str(c["cpu_ms_per_booking"][p]) for p in procs)
            lines.append(
                f"| {s} | {c['bookings']} | {per_proc} | {c['cpu_ms_per_booking_total_servers']} |"
                f" {c['db_xact_commit_per_booking']} |"
            )
        lines += [
            "",
            "Net of each process's idle CPU (measured for 2 s before the cost phase):",
            "",
        ]
        lines += ["| system | " + " | ".join(procs) + " |", "|---|" + "---|" * len(procs)]
        for s in SYSTEMS:
            net = cost[s].get("cpu_ms_per_booking_net_of_idle")
            if net:
                lines.append(f"| {s} | " + " | ".join(str(net[p]) for p in procs) + " |")
        lines += ["", f"Idle CPU (s per s): {cost['idle_cpu_per_s']}", ""]
        for s, h in cost.get("history", {}).items():
            lines.append(
                f"- {s} workflow history ({h['workflow_id']}): {h['events']} events, "
                f"{h['local_activities']} local activities, {h['remote_activities']} remote "
                f"activities, {h['workflow_tasks']} workflow tasks: {' > '.join(h['sequence'])}"
            )
    lines += [
        "",
        "### Targets (ratios within this run)",
        "",
        "| target | result | detail |",
        "|---|---|---|",
    ]
    for t in results.get("targets", []):
        lines.append(f"| {t['target']} | {t.get('margin', t['status'])} | {t['detail']} |")
    settings = meta.get("settings", {})
    lines += ["", "### Settings", "", "| setting | value |", "|---|---|"]
    lines += [f"| {k} | `{v}` |" for k, v in settings.items() if "DATA_DIR" not in k]
    lines += ["", "Stack: " + "; ".join(f"{k}: {v}" for k, v in meta.get("stack", {}).items())]
    lines += ["", "Versions: " + ", ".join(f"{k} {v}" for k, v in meta.get("versions", {}).items())]
    if results.get("errors"):
        lines += ["", f"Errors during the run: {results['errors']}"]
    return "\n".join(lines) + "\n"


def chart(results: dict[str, Any], path: Path) -> None:
    """Throughput against clients for A, B, C, and latency percentiles."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5))
    cl = results.get("closed_loop", {})
    labels = {"A": "A baseline", "B": "B Temporal floor", "R": "R raw floor", "C": "C engine"}
    for s in SYSTEMS:
        rows = sorted((int(k), v) for k, v in cl.get(s, {}).items())
        if not rows:
            continue
        xs = [k for k, _ in rows]
        med = [v["throughput_median"] for _, v in rows]
        lo = [v["throughput_median"] - v["throughput_min"] for _, v in rows]
        hi = [v["throughput_max"] - v["throughput_median"] for _, v in rows]
        left.errorbar(xs, med, yerr=[lo, hi], marker="o", capsize=4, label=labels[s])
    left.set_xscale("log", base=2)
    left.set_yscale("log")
    left.set_xlabel("concurrent clients (closed loop)")
    left.set_ylabel("confirmed bookings / s (median, min-max)")
    left.set_title("Throughput")
    left.legend()
    left.grid(True, which="both", alpha=0.3)

    series: list[tuple[str, dict[str, Any] | None]] = [
        ("A 1 client", cl.get("A", {}).get("1", {}).get("latency_ms")),
        ("B update 1 client", cl.get("B", {}).get("1", {}).get("latency_ms")),
        ("R update 1 client", cl.get("R", {}).get("1", {}).get("latency_ms")),
        ("C hold decision", cl.get("C", {}).get("1", {}).get("latency_ms")),
        ("webhook->CONFIRMED", results.get("webhook", {}).get("db_latency_ms")),
    ]
    for target, g in results.get("growth", {}).items():
        series.append((f"C growth {int(target) // 1000}k", g["latency_ms"]))
    series.append(("contention losers", results.get("contention", {}).get("loser_latency_ms")))
    series = [(n, p) for n, p in series if p and p.get("n")]
    qs = ["p50", "p95", "p99", "max"]
    width = 0.2
    for i, q in enumerate(qs):
        bar_xs = [j + (i - 1.5) * width for j in range(len(series))]
        right.bar(bar_xs, [p[q] for _, p in series if p], width, label=q)
    right.set_xticks(range(len(series)))
    right.set_xticklabels([n for n, _ in series], rotation=25, ha="right")
    right.set_yscale("log")
    right.set_ylabel("ms")
    right.set_title("Latency percentiles")
    right.legend()
    right.grid(True, axis="y", which="both", alpha=0.3)
    meta = results.get("meta", {})
    fig.suptitle(
        f"booking engine bench ({meta.get('mode')}), "
        f"{meta.get('machine', {}).get('cores_logical')} cores"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
