"""Histories of finished claims and reconciliations, saved by earlier code, replay against the current workflows.

A change that running claims would replay differently fails here until it is gated with
`workflow.patched`. Record fresh histories with
`GUARANTEE_RECORD_HISTORIES=1 ./run test tests/test_claim_workflow.py -k sqlite` after bumping
HISTORY_GENERATION there; keep the older generations, they are what running claims look like.

Every history replays through the product's data converter (with the tests' codec key):
histories/*.json were recorded before payloads were encrypted, and the codec leaves their plain
payloads as they are; histories/codec/*.json were recorded through the codec, as new ones are.
"""

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from tests.codec_key import CONVERTER
from tests.history_payloads import encrypted, left_plain, payloads
from workflows.claim import ClaimWorkflow
from workflows.reconciliation import ReconciliationWorkflow

FOLDER = Path(__file__).parent / "histories"
PLAIN = sorted(FOLDER.glob("*.json"))
ENCRYPTED = sorted((FOLDER / "codec").glob("*.json"))
HISTORIES = PLAIN + ENCRYPTED


def paths_of(generation: str) -> set[str]:
    """The paths recorded through the codec in one generation (`v7-mediation_kept.json`: `mediation_kept`)."""
    return {p.stem.split("-", 1)[1] for p in ENCRYPTED if p.stem.startswith(f"{generation}-")}


def test_there_are_histories_of_every_generation_and_path():
    generations = {p.stem.split("-", 1)[0] for p in PLAIN}
    paths = {p.stem.split("-", 1)[1] for p in PLAIN}
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


def test_the_sixth_generation_covers_severity_and_holds():
    """Claims under policy v4 run the `severity` paths; claims under older policies record what they did before."""
    paths = {"severity_s1_sla", "severity_changed", "held_and_resumed", "approval_refused_on_hold", "legal_tier"}
    assert paths <= paths_of("v6")


def test_the_seventh_generation_covers_mediation_and_a_restart_while_held():
    assert {
        "mediation_kept",
        "mediation_expired",
        "mediation_broken",
        "mediation_follow_up",
        "held_across_a_restart",
    } <= paths_of("v7")


# The paths every generation from v8 on records.
LEAN_PATHS = {
    "paid",
    "denied",
    "sent_back",
    "withdrawn",
    "no_evidence",
    "escalated_twice",
    "director_and_finance",
    "refund",
    "payout_retried",
    "payout_cancelled",
    "voided_and_reassigned",
    "held_and_resumed",
    "held_across_a_restart",
    "legal_tier",
    "severity_s1_sla",
    "mediation_kept",
    "mediation_expired",
    "mediation_broken",
}


def test_lean_histories_cover_every_path():
    """From v8 on, claims record through local activities under one `lean-history` marker: every path again."""
    assert LEAN_PATHS <= paths_of("v8")


def test_local_mail_histories_cover_every_path_and_details_given_at_opening():
    """From v9 on, mail goes out by local activities (`local-mail`), and details given with a claim are
    recorded in its first workflow task."""
    assert LEAN_PATHS | {"paid_opened_with_details"} <= paths_of("v9")


def test_histories_recording_together_cover_every_path():
    """From v10 on (`record-together`), an event and the one that always follows it (the details given with the
    claim, the notice of a decision or a payment) are written by one local activity."""
    assert LEAN_PATHS | {"paid_opened_with_details"} <= paths_of("v10")


def test_histories_paying_on_approval_cover_every_path():
    """From v11 on (`approval-starts-payout`), the approval that completes a claim's approvals is written with
    the start of its payout, unless the claim is on legal hold."""
    assert LEAN_PATHS | {"paid_opened_with_details", "approval_refused_on_hold"} <= paths_of("v11")


def test_histories_recorded_through_the_codec_are_encrypted_and_cover_a_payout():
    assert {"paid", "refund", "payout_retried", "reconciliation"} <= {p.stem.split("-", 1)[1] for p in ENCRYPTED}
    for path in ENCRYPTED:
        found = list(payloads(json.loads(path.read_text())))
        assert found, path.name
        for where, payload in found:
            assert encrypted(payload) or left_plain(where), (path.name, where)


@pytest.mark.parametrize("path", HISTORIES, ids=[p.relative_to(FOLDER).with_suffix("").as_posix() for p in HISTORIES])
async def test_history_replays(path: Path):
    replayer = Replayer(workflows=[ClaimWorkflow, ReconciliationWorkflow], data_converter=CONVERTER)
    history = WorkflowHistory.from_json(f"replay-{path.stem}", path.read_text())
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure
