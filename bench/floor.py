"""Systems B and R, the Temporal floors: an empty workflow started by Update-with-Start.

B: the API process (``python -m bench.floor api``) answers ``POST /floor`` with
``execute_update_with_start_workflow``; the worker process (``python -m
bench.floor worker``) runs :class:`FloorWorkflow`, whose ``create`` update
returns at once. Same Temporal server, pydantic data converter and sandboxed
workflow runner as the engine; its own task queue.

R, the raw floor (:class:`RawFloor`): the same workflow and update, with no
HTTP hop and no process of its own: the load generator calls
Update-with-Start itself, and the worker runs in the load generator's
process. It is the least a booking can cost that starts a workflow per call.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

from pydantic import BaseModel
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from bench.floor_workflow import FloorInput, FloorResult, FloorWorkflow

TASK_QUEUE = os.environ.get("BENCH_FLOOR_TASK_QUEUE", "bench-floor")


class FloorIn(BaseModel):
    """The request body (a slot id, as for a booking)."""

    slot_id: uuid.UUID


async def _client() -> Client:
    from temporalio.contrib.pydantic import pydantic_data_converter

    return await Client.connect(
        os.environ["BOOKING_TEMPORAL_ADDRESS"],
        namespace=os.environ.get("BOOKING_TEMPORAL_NAMESPACE", "default"),
        data_converter=pydantic_data_converter,
    )


def create_app() -> object:
    """The floor's HTTP API: one endpoint, one Update-with-Start."""
    from fastapi import FastAPI

    state: dict[str, Client] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state["client"] = await _client()
        yield

    app = FastAPI(lifespan=lifespan)

    @app.post("/floor", status_code=201)
    async def floor(body: FloorIn) -> FloorResult:
        booking_id = uuid.uuid4()
        start = WithStartWorkflowOperation(
            FloorWorkflow.run,
            FloorInput(booking_id=booking_id, slot_id=body.slot_id),
            id=f"floor-{booking_id}",
            task_queue=TASK_QUEUE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
        return await state["client"].execute_update_with_start_workflow(
            FloorWorkflow.create,
            start_workflow_operation=start,
            id="create",
            rpc_timeout=timedelta(seconds=30),
        )

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


async def run_worker() -> None:
    """A worker with the engine's sandbox runner settings, on the floor's task queue."""
    from temporalio.worker import Worker

    from worker import SANDBOX

    client = await _client()
    worker = Worker(
        client, task_queue=TASK_QUEUE, workflows=[FloorWorkflow], workflow_runner=SANDBOX
    )
    await worker.run()


class RawFloor:
    """System R: a worker in this process, and requests that are Update-with-Start calls."""

    def __init__(self) -> None:
        self._client: Client | None = None
        self._task: asyncio.Task[None] | None = None
        self.last: str | None = None

    async def start(self, address: str) -> None:
        """Connect and run the worker on its own task queue until :meth:`stop`."""
        from temporalio.contrib.pydantic import pydantic_data_converter
        from temporalio.worker import Worker

        from worker import SANDBOX

        self._client = await Client.connect(address, data_converter=pydantic_data_converter)
        worker = Worker(
            self._client,
            task_queue=RAW_TASK_QUEUE,
            workflows=[FloorWorkflow],
            workflow_runner=SANDBOX,
        )
        self._task = asyncio.create_task(worker.run())

    async def stop(self) -> None:
        """Cancel the worker and wait for it."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def request(self, _http: object, _i: int) -> int:
        """One Update-with-Start, answered by the worker in this process; 201 like B's API."""
        assert self._client is not None
        booking_id = uuid.uuid4()
        start = WithStartWorkflowOperation(
            FloorWorkflow.run,
            FloorInput(booking_id=booking_id, slot_id=uuid.uuid4()),
            id=f"raw-{booking_id}",
            task_queue=RAW_TASK_QUEUE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
        result = await self._client.execute_update_with_start_workflow(
            FloorWorkflow.create,
            start_workflow_operation=start,
            id="create",
            rpc_timeout=timedelta(seconds=30),
        )
        self.last = f"raw-{result.booking_id}"
        return 201


RAW_TASK_QUEUE = "bench-raw"


def main() -> None:
    """``python -m bench.floor api|worker``."""
    if sys.argv[1:] == ["api"]:
        import uvicorn

        uvicorn.run(
            create_app(),  # type: ignore[arg-type]
            host="127.0.0.1",
            port=int(os.environ["BENCH_PORT"]),
            log_level="warning",
            log_config=None,
        )
    elif sys.argv[1:] == ["worker"]:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run_worker())
    else:
        sys.exit("usage: python -m bench.floor api|worker")


if __name__ == "__main__":
    main()
