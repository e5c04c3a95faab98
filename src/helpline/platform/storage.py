"""Files stored by the SHA-256 of their content, so the same attachment is kept once."""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Protocol


class Storage(Protocol):
    async def put(self, data: bytes) -> str:
        """Store ``data``; its SHA-256 in hex, which names it from now on."""
        ...

    async def get(self, sha256: str) -> bytes: ...

    async def exists(self, sha256: str) -> bool: ...

    async def delete(self, sha256: str) -> bool:
        """Forget the file named ``sha256``; True if it was there. Deleting a missing file is not an
        error (deletion is idempotent). Files are shared by content: the caller must know that no
        one else still needs these bytes (``customers.privacy`` checks every reference first)."""
        ...


class LocalStorage:
    """A folder: ``ab/cd/abcdef…``. Writes go to a temporary file first, then are renamed into place."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError("not a sha256 hex digest")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def _put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        path = self._path(digest)
        if path.exists():
            return digest
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        return digest

    async def put(self, data: bytes) -> str:
        return await asyncio.to_thread(self._put, data)

    async def get(self, sha256: str) -> bytes:
        return await asyncio.to_thread(self._path(sha256).read_bytes)

    async def exists(self, sha256: str) -> bool:
        return self._path(sha256).exists()

    def _delete(self, sha256: str) -> bool:
        path = self._path(sha256)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        # Empty fan-out folders are left behind on purpose: a concurrent put may be about to use them.
        return True

    async def delete(self, sha256: str) -> bool:
        return await asyncio.to_thread(self._delete, sha256)
