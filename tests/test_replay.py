"""Histories of finished claims and reconciliations, saved by earlier code, replay against the current workflows.

A change that running claims would replay differently fails here until it is gated with
`workflow.patched`. Record fresh histories with
`GUARANTEE_RECORD_HISTORIES=1 ./run test tests/test_claim_workflow.py -k sqlite` after bumping
HISTORY_GENERATION there; keep the older generations, they are what running claims look like.
"""

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.claim import ClaimWorkflow
from workflows.reconciliation import ReconciliationWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_there_are_histories_of_every_generation_and_path():
    generations = {p.stem.split("-", 1)[0] for p in HISTORIES}
    paths = {p.stem.split("-", 1)[1] for p in HISTORIES}
    assert {"v1", "v2", "v3", "v4"} <= generations
    assert {
        "paid",
        "denied",
        "sent_back",
        "withdrawn",
        "no_evidence",
        "evidence_window_closed",
        "late_evidence",
        "decision_sla",
        "escalated",
        "escalated_twice",
        "top_tier_sla",
        "director_and_finance",
        "refund",
        "payout_retried",
        "payout_cancelled",
        "reconciliation",
        "voided_and_reassigned",
    } <= paths


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_history_replays(path: Path):
    replayer = Replayer(workflows=[ClaimWorkflow, ReconciliationWorkflow], data_converter=pydantic_data_converter)
    history = WorkflowHistory.from_json(f"replay-{path.stem}", path.read_text())
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure
