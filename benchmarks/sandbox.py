"""The worker's workflow CPU per claim: the SDK's sandbox against ours (`stack/sandbox.py`), in one run.

    python -m benchmarks.sandbox              # the newest recorded histories, 10 times each, 3 rounds
    python -m benchmarks.sandbox --copies 2 --rounds 1

Replays every claim history of the newest recorded generation (tests/histories/codec, encrypted with the
tests' codec key) through a `Replayer`, once with the SDK's `SandboxedWorkflowRunner` and once with
`stack.sandbox.runner`, alternating, and prints the CPU each took per history and the ratio. A replay
is what a worker does for a claim it has not cached, and each live task decodes and encodes the same
payloads. Nothing is asserted: the figures are for people.
"""

import argparse
import asyncio
import re
import time
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from stack import sandbox
from tests.codec_key import CONVERTER
from workflows.claim import ClaimWorkflow
from workflows.reconciliation import ReconciliationWorkflow

HISTORIES = Path(__file__).resolve().parent.parent / "tests" / "histories" / "codec"


def newest_generation() -> list[Path]:
    generation = lambda p: int(re.match(r"v(\d+)-", p.name).group(1))  # noqa: E731
    paths = list(HISTORIES.glob("v*-*.json"))
    newest = max(map(generation, paths))
    return sorted(p for p in paths if generation(p) == newest)


async def replay(runner: WorkflowRunner, histories: list[WorkflowHistory]) -> float:
    """CPU seconds to replay every history; each must replay cleanly."""

    async def each():
        for history in histories:
            yield history

    replayer = Replayer(
        workflows=[ClaimWorkflow, ReconciliationWorkflow], data_converter=CONVERTER, workflow_runner=runner
    )
    started = time.process_time()
    async with replayer.workflow_replay_iterator(each()) as results:
        async for result in results:
            if result.replay_failure is not None:
                raise result.replay_failure
    return time.process_time() - started


async def measure(copies: int, rounds: int) -> list[str]:
    paths = newest_generation()
    histories = [WorkflowHistory.from_json(f"{p.stem}-{i}", p.read_text()) for i in range(copies) for p in paths]
    lines = [f"{len(paths)} histories ({paths[0].name.split('-')[0]}) × {copies}, {rounds} rounds"]
    lines.append(f"{'':<8}{'SDK sandbox':>14}{'ours':>10}{'ratio':>8}")
    for n in range(1, rounds + 1):
        sdk = await replay(SandboxedWorkflowRunner(), histories)
        ours = await replay(sandbox.runner(CONVERTER), histories)
        per = lambda s: f"{s / len(histories) * 1000:.1f}ms"  # noqa: E731
        lines.append(f"{f'round {n}':<8}{per(sdk):>14}{per(ours):>10}{ours / sdk:>8.2f}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sandbox", description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=10, help="replays of each history per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    print("\n".join(asyncio.run(measure(args.copies, args.rounds))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
