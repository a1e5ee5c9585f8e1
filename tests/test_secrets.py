"""Secrets: from the environment, else one 0600 file every process of the installation shares."""

import stat

from stack.secrets import secret


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
