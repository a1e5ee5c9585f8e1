"""The suite's own promise: in CI the PostgreSQL half runs or the run fails; locally it may skip, saying why."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from stack.ports import free_port

ROOT = Path(__file__).parent.parent
PROBE = """
def test_probe(sessions):
    pass
"""


def run_probe(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess:
    """One database test, with the suite's own fixtures, against a PostgreSQL that is not there."""
    shutil.copy(ROOT / "tests" / "conftest.py", tmp_path / "conftest.py")
    probe = tmp_path / "test_probe.py"
    probe.write_text(PROBE)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["GUARANTEE_TEST_PG"] = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test"
    if ci is not None:
        env["CI"] = ci
    config = ["-c", str(ROOT / "pyproject.toml"), "--rootdir", str(tmp_path), "-p", "no:cacheprovider"]
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", *config, "-k", "postgresql", str(probe)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_an_unreachable_postgresql_fails_the_run_in_ci(tmp_path):
    result = run_probe(tmp_path, "true")
    assert result.returncode != 0, result.stdout
    assert "CI=true: the PostgreSQL half must run" in result.stdout


def test_an_unreachable_postgresql_is_skipped_locally_with_the_reason(tmp_path):
    result = run_probe(tmp_path, None)
    assert result.returncode == 0, result.stdout
    assert "SKIPPED" in result.stdout and "PostgreSQL not reachable" in result.stdout
