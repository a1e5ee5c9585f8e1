"""The sandbox benchmark, small: every history of the newest generation replays cleanly under both runners, and
it prints their CPU side by side (its speed is never asserted)."""

from benchmarks.sandbox import main, newest_generation


def test_the_newest_histories_replay_under_both_sandboxes(capsys):
    assert main(["--copies", "1", "--rounds", "1"]) == 0
    header, columns, row = capsys.readouterr().out.splitlines()
    newest = newest_generation()
    assert header == f"{len(newest)} histories ({newest[0].name.split('-')[0]}) × 1, 1 rounds"
    assert columns.split() == ["SDK", "sandbox", "ours", "ratio"]
    sdk, ours, ratio = row.split()[2:]
    assert sdk.endswith("ms") and ours.endswith("ms") and float(ratio) > 0
