"""The claims benchmark, small: both sides run to paid and it prints its table (its speed is never asserted)."""

import pytest

from benchmarks.claims import Run, main, report

pytestmark = pytest.mark.timeout(240)


def test_four_claims_and_four_bare_workflows_end_paid(capsys):
    assert main(["--claims", "4", "--concurrency", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("4 claims, 2 at a time")
    [ours] = [line for line in lines if line.startswith("guarantee up")]
    [floor] = [line for line in lines if line.startswith("bare workflow")]
    assert int(ours.split()[-1]) > int(floor.split()[-1]) > 0, "events in a paid history, ours and the floor's"
    assert lines[-1].startswith("goals: ")


def test_the_report_puts_each_figure_beside_its_goal():
    ours = Run("guarantee up", seconds=10.0, to_paid=[1.0, 2.0, 3.0, 4.0], events=61)
    floor = Run("bare workflow", seconds=8.0, to_paid=[1.0, 1.0, 2.0, 2.0], events=50)
    lines = report(ours, floor)
    assert (ours.per_second, ours.percentile(0.5), ours.percentile(0.99)) == (0.4, 2.0, 4.0)
    assert lines[3].split() == ["ratio", "0.80", "2.00×", "2.00×"]
    assert "claims/s at least 0.8 of the bare workflow's: met" in lines[4]
    assert "1.5× at p50: NOT met, 2.0× at p99: met" in lines[4]
    assert "at most 60 events a paid claim: NOT met" in lines[4]
