"""A PostgreSQL cluster of the drill's own, made by `initdb` and run by `pg_ctl`, so the drill can stop it mid-run.

A shared server cannot be shut down under other work; this one lives in a folder of its own, listens
on 127.0.0.1 at a free port and is removed afterwards. PostgreSQL refuses to run as root, so a root
drill runs the cluster as the `postgres` user, in a folder that user owns (the drill's own work
folder is private to root): only the server's log is written into the work folder.
"""

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from stack.ports import free_port

OWNER = "postgres"  # the system user a root drill runs the cluster as


def bindir() -> Path | None:
    """Where initdb and pg_ctl are: beside `pg_config`, or the newest /usr/lib/postgresql/*/bin (Debian)."""
    pg_config = shutil.which("pg_config")
    if pg_config:
        found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False).stdout.strip()
        if found and (Path(found) / "initdb").exists():
            return Path(found)
    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(debian[-1]).parent if debian else None


def unavailable() -> str | None:
    """Why a private cluster cannot be made here, or None if it can."""
    if bindir() is None:
        return "no initdb: neither pg_config --bindir nor /usr/lib/postgresql/*/bin has one"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(OWNER)
        except KeyError:
            return f"running as root and there is no {OWNER!r} user to run PostgreSQL as (it refuses root)"
    return None


class PrivatePostgres:
    """initdb, start, fast shutdown and start again, remove: one cluster, one database (`postgres`)."""

    def __init__(self, log: Path):
        reason = unavailable()
        if reason:
            raise RuntimeError(f"cannot make a private PostgreSQL cluster: {reason}")
        self._bin = bindir()
        self._log = log
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        self.folder = Path(tempfile.mkdtemp(prefix="payout-drill-pg-"))  # also the unix socket's folder
        self._data = self.folder / "data"
        self._as: list[str] = []
        if os.geteuid() == 0:
            owner = pwd.getpwnam(OWNER)
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
            self._as = ["runuser", "-u", OWNER, "--"]

    def _run(self, tool: str, *args: str) -> None:
        """One of the cluster's tools, as its owner; its output (and a started server's) goes to the log."""
        with self._log.open("ab") as out:
            subprocess.run(
                [*self._as, str(self._bin / tool), *args], stdout=out, stderr=out, cwd=self.folder, check=True
            )

    def init(self) -> None:
        """A new cluster, trusting local connections: nothing but this drill can reach 127.0.0.1 at its port."""
        self._run("initdb", "-D", str(self._data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")

    def start(self) -> None:
        """Returns once the server accepts connections (pg_ctl -w)."""
        options = f"-h 127.0.0.1 -p {self.port} -k {self.folder}"
        self._run("pg_ctl", "start", "-w", "-t", "60", "-D", str(self._data), "-o", options)

    def stop(self, mode: str = "fast") -> None:
        """`fast`: every session is ended at once, open transactions rolled back (what an operator's restart does)."""
        self._run("pg_ctl", "stop", "-w", "-t", "60", "-D", str(self._data), "-m", mode)

    def remove(self) -> None:
        """Stop the server if it runs, and delete the cluster."""
        if (self._data / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.CalledProcessError):  # it stopped already; its pid file outlived it
                self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)
