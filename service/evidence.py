"""Evidence files, stored once by the SHA-256 of their content under the data directory.

An upload is staged first: written as it arrives to a temporary file under the store's
`incoming/` folder and hashed on the way, refused the moment it passes MAX_BYTES. It joins the
store (`keep`) only once the claim accepted the evidence; a refused one is deleted (`discard`).
"""

import hashlib
import os
import tempfile
from pathlib import Path

MAX_BYTES = 25 * 1024 * 1024
INCOMING = "incoming"


class EvidenceTooLarge(ValueError):
    def __init__(self):
        super().__init__(f"evidence files are at most {MAX_BYTES // (1024 * 1024)} MB")


class EvidenceStore:
    def __init__(self, root: Path):
        self.root = root

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def put(self, content: bytes) -> str:
        """Store the content (atomically, once) and return its hash."""
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

    def incoming(self) -> Path:
        return self.root / INCOMING


class StagedFile:
    """One upload on its way into the store: a temporary file and the SHA-256 of what it holds."""

    def __init__(self, store: EvidenceStore):
        self.store = store
        folder = store.incoming()
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=folder, suffix=".part")
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
        """The whole file is here: flushed to disk; returns its SHA-256."""
        self._out.flush()
        os.fsync(self._out.fileno())
        self._out.close()
        self.sha256 = self._hash.hexdigest()
        return self.sha256

    def keep(self) -> str:
        """Move the file into the store under its hash (once: the same content is stored once)."""
        assert self.sha256 is not None, "finish() first"
        target = self.store.path(self.sha256)
        if target.exists():
            self.temp.unlink(missing_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.temp, target)
        return self.sha256

    def discard(self) -> None:
        """Forget the upload: the temporary file is deleted, the store untouched."""
        if not self._out.closed:
            self._out.close()
        self.temp.unlink(missing_ok=True)
