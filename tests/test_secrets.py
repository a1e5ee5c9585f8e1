"""Secrets: from the environment, else one 0600 file every process of the installation shares."""

import os
import stat

from stack.secrets import private_home, secret


def test_a_secret_is_made_once_readable_by_its_owner_only(tmp_path, monkeypatch):
    monkeypatch.delenv("GUARANTEE_TEST_SECRET", raising=False)
    home = tmp_path / "home"
    first = secret(home, "GUARANTEE_TEST_SECRET", "test-key")
    assert len(first) >= 40
    assert secret(home, "GUARANTEE_TEST_SECRET", "test-key") == first, "the second process reads the same key"
    assert stat.S_IMODE((home / "test-key").stat().st_mode) == 0o600
    assert stat.S_IMODE(home.stat().st_mode) == 0o700


def test_the_environment_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("GUARANTEE_TEST_SECRET", "from-the-environment")
    assert secret(tmp_path, "GUARANTEE_TEST_SECRET", "test-key") == "from-the-environment"
    assert not (tmp_path / "test-key").exists()


def test_a_private_home_is_made_0700_and_one_made_before_is_tightened(tmp_path):
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    (home / "guarantee.db").write_text("")
    (home / "guarantee.db").chmod(0o644)
    (home / "temporal.db-wal").write_text("")
    (home / "temporal.db-wal").chmod(0o664)
    before = os.umask(0o022)
    try:
        private_home(home)
        assert os.umask(0o022) == 0o077, "what this process creates from now on is its owner's alone"
        private_home(tmp_path / "new" / "home")
    finally:
        os.umask(before)
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "guarantee.db").stat().st_mode) == 0o600
    assert stat.S_IMODE((home / "temporal.db-wal").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "new" / "home").stat().st_mode) == 0o700
