"""Secrets the product keeps (signing, audit and payload keys): an environment variable, else a file
under GUARANTEE_HOME readable by its owner only, made on first use.

Every process of one installation (`up`, workers, the CLI) finds the same file, so they agree.
"""

import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path


def new_key() -> str:
    """32 random bytes, URL-safe base64: an HMAC or AES-256 key."""
    return secrets.token_urlsafe(32)


def secret(home: Path, env: str, filename: str, make: Callable[[], str] = new_key) -> str:
    """`env`'s value if set; else the content of `home/filename`, written 0600 by `make()` when missing."""
    value = os.environ.get(env, "").strip()
    if value:
        return value
    path = home / filename
    if not path.exists():
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Written whole to a file of our own, then linked into place: of two processes starting at
        # once, one key wins and neither reads a half-written file.
        draft = home / f".{filename}.{os.getpid()}"
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(make() + "\n")
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()


def private_home(home: Path) -> None:
    """From here on this process creates files its owner alone reads (0600, folders 0700); `home` is 0700.

    The umask is inherited by the processes started from here (the Temporal dev server, SQLite's
    journal files), so guarantee.db, temporal.db and everything else under `home` come out 0600.
    A `home` made before is tightened, and so are the databases in it: the folder closes everything
    inside, the files stay closed if someone opens the folder again.
    """
    os.umask(0o077)
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    _tighten(home, 0o700)
    for pattern in ("*.db", "*.db-*"):
        for path in home.glob(pattern):
            if path.is_file():
                _tighten(path, 0o600)


def _tighten(path: Path, mode: int) -> None:
    info = path.stat()
    if info.st_uid == os.getuid() and info.st_mode & 0o077:
        path.chmod(stat.S_IMODE(info.st_mode) & mode)
