"""The payout drill, short: claims paid while the worker is SIGKILLed, Temporal restarts and the
provider fails 30% of requests. The full drill is `./run drill` (200 claims)."""

import pytest

from drills.payout_faults import run


@pytest.mark.timeout(600)
async def test_every_approved_claim_is_paid_exactly_once_through_faults(tmp_path):
    report = await run(24, kill_every=(1.5, 4.0), work=tmp_path)
    print("\n".join(report.lines()))
    assert report.worker_kills >= 2 and report.server_restarts == 1, "the drill must have done its damage"
    assert sum(report.faults.values()) > 0, "the provider must have failed some requests"
    assert report.stuck == [] and report.paid_twice == [] and report.mismatched == []
    assert report.unknown_at_provider == []
    assert report.paid_once == 24 and report.ledger_cents == report.provider_cents > 0
