r"""The operators' drill: provoke every alert kind on a running `make dev`, find it, resolve it.

For each kind the drill makes the condition happen as it would in production
(a provider down, a refund refused, a forged capture, a stray payment, a
receiver down, a balance edited by hand, a workflow terminated, a row edited
by hand, a gateway refusing its list), waits for the alert through the ops
API, screenshots the Temporal UI's query for it (when Debian's ``chromium``
is installed), resolves it as an operator would, and times both: provoked to
alert, and the operator's action to resolved. Third parties (Google Calendar,
Stripe's list endpoints, the booking-events receiver) are served by the drill
itself on ``--fakes-port``, each with an on/off switch.

Start the stack with the third parties pointed at the drill, then run it::

    BOOKING_DATA_DIR=.drill BOOKING_MEETING_ALERT_AFTER_SECONDS=15 \
    BOOKING_GOOGLE_ACCESS_TOKEN=drill \
    BOOKING_GOOGLE_API_BASE_URL=http://127.0.0.1:8777/calendar/v3 \
    BOOKING_STRIPE_API_KEY=sk_test_drill BOOKING_STRIPE_WEBHOOK_SECRET=whsec_drill \
    BOOKING_STRIPE_API_BASE=http://127.0.0.1:8777 \
    BOOKING_EVENTS_WEBHOOK_URL=http://127.0.0.1:8777/hook BOOKING_EVENTS_MAX_ATTEMPTS=2 \
    BOOKING_EVENTS_BACKOFF_SECONDS=1 BOOKING_EVENTS_ALLOW_PRIVATE_TARGETS=true \
    BOOKING_RECONCILE_GRACE_SECONDS=0 \
    BOOKING_CREDIT_SPIKE_AMOUNT=500000 make dev
    BOOKING_DATA_DIR=.drill .venv/bin/python -m bench.ops_drill

Results (timings, screenshots, the CLI's metadata of a stuck booking) go to
``bench/results/ops-drill-<time>/``. ``NOTIFICATION_FAILED`` and
``STEP_FAILING`` need the mail sink or PostgreSQL to fail under a running
stack; the tests provoke them (``tests/activities/test_notifications.py``,
``tests/workflows/test_failure_classes.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import UTC, datetime

import asyncpg
import uvicorn

from bench.drill import steps
from bench.drill.console import Drill, log
from bench.drill.fakes import third_parties
from stack.processes import ROOT


async def main() -> None:
    """Run the drill against the stack at ``--api``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--api", default="http://127.0.0.1:8000")
    parser.add_argument("--sandbox", default="http://127.0.0.1:8090")
    parser.add_argument("--ui", default="http://127.0.0.1:8233")
    parser.add_argument("--fakes-port", type=int, default=8777)
    args = parser.parse_args()
    out = ROOT / "bench" / "results" / f"ops-drill-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    out.mkdir(parents=True)
    drill = Drill(args, out)
    fakes = uvicorn.Server(
        uvicorn.Config(
            third_parties(drill.switches),
            host="127.0.0.1",
            port=args.fakes_port,
            log_level="warning",
        )
    )
    serving = asyncio.create_task(fakes.serve())
    await drill.until("the third parties", lambda: asyncio.sleep(0, fakes.started), 10)
    pg = await asyncpg.connect(host=str(drill.data / "pg"), user="postgres", database="booking")
    try:
        await steps.setup(drill)
        await steps.reconciliation_failed(drill)
        await steps.meeting_link_failing(drill)
        await steps.refund_failing(drill)
        await steps.payment_mismatch(drill)
        await steps.stray_payment(drill)
        await steps.webhook_unparseable(drill)
        await steps.event_delivery_failed(drill)
        await steps.ledger(drill, pg)
        await steps.workflows(drill, pg)
        drill.screenshot("attention_any", "BookingAttention IS NOT NULL")
        await drill.drain()
    finally:
        await pg.close()
        fakes.should_exit = True
        await serving
    left = [(a["kind"], a["subject"]) for a in await drill.alerts(status="open")]
    (out / "timings.json").write_text(
        json.dumps({"timings": drill.timings, "open": left}, indent=1)
    )
    print(json.dumps(drill.timings, indent=1))
    print(f"open alerts left: {left}")
    log(f"wrote {out}")


if __name__ == "__main__":
    asyncio.run(main())
