"""Evidence files, stored once by the SHA-256 of their content under the data directory."""

import hashlib
import os
import tempfile
from pathlib import Path

MAX_BYTES = 25 * 1024 * 1024


class EvidenceStore:
    def __init__(self, root: Path):
        self.root = root

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def put(self, content: bytes) -> str:
        """Store the content (atomically, once) and return its hash."""
        if len(content) > MAX_BYTES:
            raise ValueError(f"evidence files are at most {MAX_BYTES // (1024 * 1024)} MB")
        digest = hashlib.sha256(content).hexdigest()
        target = self.path(digest)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as tmp:
                tmp.write(content)
            os.replace(tmp.name, target)
        return digest
