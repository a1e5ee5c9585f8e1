"""A timer always pending on the time-skipping test server, so an idle moment skips a day at most.

The server skips time whenever nothing it knows of is running. A claim's workflow task that runs its
local activities is work the server does not see: left idle, it jumps to the next timer it has, which
may be years away, and the tests' clock drifts by decades. One tick a day bounds every such jump.
"""

from datetime import timedelta

from temporalio import workflow

TICKS_PER_RUN = 500  # then continue as new, so the history stays small


@workflow.defn
class Ticker:
    @workflow.run
    async def run(self) -> None:
        for _ in range(TICKS_PER_RUN):
            await workflow.sleep(timedelta(days=1))
        workflow.continue_as_new()
