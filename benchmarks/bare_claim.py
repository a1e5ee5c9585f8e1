"""The floor a claim is measured against: a workflow of the claim's shape that does nothing else.

Opened, then three Updates (evidence complete, decide, approve), each acknowledged by an activity
that does nothing, then the payout's two (the call and its record): six activities. No database,
no provider, no rules: what Temporal alone costs for the same steps on the same server.
"""

from datetime import timedelta

from temporalio import activity, workflow

TIMEOUT = timedelta(seconds=30)


@activity.defn
async def nothing(step: str) -> str:
    return step


@workflow.defn
class BareClaim:
    def __init__(self) -> None:
        self.stage = "opened"

    @workflow.run
    async def run(self) -> str:
        await self._step("opened")
        await workflow.wait_condition(lambda: self.stage == "approved")
        await self._step("paying")
        await self._step("paid")
        await workflow.wait_condition(workflow.all_handlers_finished)
        return "paid"

    async def _step(self, name: str) -> None:
        await workflow.execute_activity(nothing, name, start_to_close_timeout=TIMEOUT)

    @workflow.update
    async def complete(self) -> str:
        return await self._move("opened", "specialist_review")

    @workflow.update
    async def decide(self) -> str:
        return await self._move("specialist_review", "pending_approval")

    @workflow.update
    async def approve(self) -> str:
        return await self._move("pending_approval", "approved")

    async def _move(self, now: str, to: str) -> str:
        await workflow.wait_condition(lambda: self.stage == now)
        await self._step(to)
        self.stage = to
        return to
