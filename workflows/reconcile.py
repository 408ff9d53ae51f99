"""One run of a reconciliation job, as its Temporal Schedule starts it.

The job's activity compares and opens an alert per finding; this workflow
bounds it, says in the UI what it found, and, when the job cannot finish,
opens ``RECONCILIATION_FAILED`` and fails the run so the schedule shows it.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from workflows.policies import ActivityFailure, failure_message, refusal

with workflow.unsafe.imports_passed_through():
    from temporalio.common import RetryPolicy

    from activities.reconcile import ReconcileActivities
    from models.domain import ReconcileJob
    from models.errors import ErrorCode
    from models.payloads import ReconcileFailedInput, ReconcileInput, ReconcileResult

_JOBS = {
    ReconcileJob.LEDGER: ReconcileActivities.reconcile_ledger,
    ReconcileJob.LEDGER_FULL: ReconcileActivities.reconcile_ledger_full,
    ReconcileJob.WORKFLOWS: ReconcileActivities.reconcile_workflows,
    ReconcileJob.CLOSED_WORKFLOWS: ReconcileActivities.reconcile_closed_workflows,
    ReconcileJob.GATEWAYS: ReconcileActivities.reconcile_gateways,
    ReconcileJob.PURGE: ReconcileActivities.purge_expired,
}
# A job reads much but writes little: a few attempts, then a person looks.
JOB_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=3,
)
JOB_TIMEOUT = timedelta(minutes=10)
# Each job heartbeats after every page: a worker that died mid-job is noticed within
# this, and the retry resumes after the last page judged.
JOB_HEARTBEAT = timedelta(minutes=1)
PAGED = "reconcile-paged-heartbeat"
ALERT_TIMEOUT = timedelta(seconds=30)


@workflow.defn
class ReconcileWorkflow:
    """Run one reconciliation job; findings are alerts, nothing corrects money by itself."""

    @workflow.run
    async def run(self, request: ReconcileInput) -> ReconcileResult:
        """Run the job; on failure open RECONCILIATION_FAILED and fail the run."""
        workflow.set_current_details(f"running the {request.job} reconciliation")
        try:
            result = await workflow.execute_activity_method(
                _JOBS[request.job],
                request,
                start_to_close_timeout=JOB_TIMEOUT,
                heartbeat_timeout=JOB_HEARTBEAT if workflow.patched(PAGED) else None,
                retry_policy=JOB_RETRY,
            )
        except ActivityFailure as err:
            error = failure_message(err)
            await self._record(ReconcileFailedInput(job=request.job, error=error[:300]))
            workflow.set_current_details(f"failed: {error}")
            raise refusal(ErrorCode.DEPENDENCY_UNAVAILABLE, error) from None
        await self._record(ReconcileFailedInput(job=request.job))
        found = (
            f"{len(result.findings)} finding(s), each an open alert"
            if result.findings
            else "nothing found"
        )
        workflow.set_current_details(f"checked {result.checked}: {found}")
        return result

    async def _record(self, request: ReconcileFailedInput) -> None:
        await workflow.execute_activity_method(
            ReconcileActivities.reconcile_failed,
            request,
            start_to_close_timeout=ALERT_TIMEOUT,
            retry_policy=RetryPolicy(maximum_attempts=5),
        )
