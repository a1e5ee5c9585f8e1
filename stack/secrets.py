"""Secrets the product keeps (signing, audit and payload keys): an environment variable, else a file
under GUARANTEE_HOME readable by its owner only, made on first use.

Every process of one installation (`up`, workers, the CLI) finds the same file, so they agree.
"""

import os
import secrets
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
