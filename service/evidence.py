"""Evidence files, stored once by the SHA-256 of their content, in the database.

In the database rather than on one host's disk, so that every API process reads every file, whichever
process took the upload. The database is already what all the processes of an installation share and
what is backed up with the claims that name the files; an object store would be one more service to
run, secure and back up, for files of at most 25 MB. A file is kept in chunks of CHUNK_BYTES (PostgreSQL
bytea, SQLite blob), written and read one at a time, so a 25 MB file is never held whole in memory.

An upload is staged first: written as it arrives to a temporary file in this process's `staging`
folder and hashed on the way, refused the moment it passes MAX_BYTES. It joins the store (`keep`) only
once the claim accepted the evidence; a refused one is deleted (`discard`).
"""

import hashlib
import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from schema import tables

MAX_BYTES = 25 * 1024 * 1024
CHUNK_BYTES = 1024 * 1024


class EvidenceTooLarge(ValueError):
    def __init__(self):
        super().__init__(f"evidence files are at most {MAX_BYTES // (1024 * 1024)} MB")


class EvidenceMissing(LookupError):
    def __init__(self, sha256: str):
        super().__init__(f"no file {sha256} in the evidence store")


class EvidenceStore:
    def __init__(self, sessions: sessionmaker, staging: Path):
        self.sessions, self.staging = sessions, staging

    def put(self, content: bytes) -> str:
        """Store the content (once) and return its hash."""
        staged = self.stage()
        try:
            staged.write(content)
            staged.finish()
        except BaseException:
            staged.discard()
            raise
        return staged.keep()

    def stage(self) -> "StagedFile":
        """A new upload, written and hashed as it comes; `keep` or `discard` it."""
        return StagedFile(self)

    def has(self, sha256: str) -> bool:
        with self.sessions() as db:
            return db.get(tables.EvidenceFile, sha256) is not None

    def chunks(self, sha256: str) -> Iterator[bytes]:
        """The file's content, a chunk at a time; EvidenceMissing at once when the store has no such file."""
        with self.sessions() as db:
            count = db.scalar(select(tables.EvidenceFile.chunks).where(tables.EvidenceFile.sha256 == sha256))
        if count is None:
            raise EvidenceMissing(sha256)
        return self._read(sha256, count)

    def _read(self, sha256: str, count: int) -> Iterator[bytes]:
        c = tables.EvidenceChunk
        for seq in range(count):
            with self.sessions() as db:
                yield db.scalar(select(c.data).where(c.sha256 == sha256, c.seq == seq))

    def read(self, sha256: str) -> bytes:
        """The whole file (an email to parse)."""
        return b"".join(self.chunks(sha256))

    def save(self, sha256: str, path: Path, size: int) -> None:
        """The file at `path` into the store under `sha256`, in one transaction; once, however many processes
        store the same content at the same time."""
        if self.has(sha256):
            return
        count = (size + CHUNK_BYTES - 1) // CHUNK_BYTES
        row = {"sha256": sha256, "size_bytes": size, "chunks": count, "stored_at": datetime.now(UTC)}
        try:
            with self.sessions.begin() as db, path.open("rb") as f:
                db.execute(insert(tables.EvidenceFile), row)
                for seq in range(count):
                    chunk = {"sha256": sha256, "seq": seq, "data": f.read(CHUNK_BYTES)}
                    db.execute(insert(tables.EvidenceChunk), chunk)
        except IntegrityError:  # the same content, stored meanwhile by another upload
            if not self.has(sha256):
                raise

    def adopt(self, folder: Path) -> int:
        """Move the files an earlier version kept on disk (`folder/ab/abcd...`) into the store; how many."""
        moved = 0
        for path in folder.glob("??/" + "?" * 64):
            try:
                self.save(_sha256_of(path), path, path.stat().st_size)
            except FileNotFoundError:  # moved meanwhile by another process starting on the same data directory
                continue
            path.unlink(missing_ok=True)
            moved += 1
        return moved


def _sha256_of(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


class StagedFile:
    """One upload on its way into the store: a temporary file and the SHA-256 of what it holds."""

    def __init__(self, store: EvidenceStore):
        self.store = store
        store.staging.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=store.staging, suffix=".part")
        self.temp = Path(name)
        self._out = os.fdopen(fd, "wb")
        self._hash = hashlib.sha256()
        self.size = 0
        self.sha256: str | None = None

    def write(self, data: bytes) -> None:
        """Append `data`; EvidenceTooLarge (nothing more written) once the file would pass MAX_BYTES."""
        if self.size + len(data) > MAX_BYTES:
            raise EvidenceTooLarge()
        self._out.write(data)
        self._hash.update(data)
        self.size += len(data)

    def finish(self) -> str:
        """The whole file is here; returns its SHA-256."""
        self._out.close()
        self.sha256 = self._hash.hexdigest()
        return self.sha256

    def keep(self) -> str:
        """Store the file under its hash (once: the same content is stored once), then delete the temporary file."""
        assert self.sha256 is not None, "finish() first"
        self.store.save(self.sha256, self.temp, self.size)
        self.temp.unlink(missing_ok=True)
        return self.sha256

    def discard(self) -> None:
        """Forget the upload: the temporary file is deleted, the store untouched."""
        if not self._out.closed:
            self._out.close()
        self.temp.unlink(missing_ok=True)
