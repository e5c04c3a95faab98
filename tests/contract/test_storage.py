"""The storage seam's contract, for every implementation (the local folder today; an S3-compatible
store must pass the same): files are named by their SHA-256, stored once, and deleted idempotently.
And the list of columns that name stored files is complete, so an erasure never deletes a file that
a row still needs."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

import helpline.app  # noqa: F401 - imports every domain's models
from helpline.db.base import Base
from helpline.domains.customers.privacy import REFERENCES
from helpline.platform.storage import LocalStorage, Storage


@pytest.fixture(params=["local"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    yield LocalStorage(tmp_path / "files")


async def test_put_get_exists_and_delete(storage: Storage) -> None:
    data = b"hello, files"
    digest = await storage.put(data)
    assert digest == hashlib.sha256(data).hexdigest()
    assert await storage.put(data) == digest  # the same bytes are one file
    assert await storage.exists(digest) and await storage.get(digest) == data
    assert await storage.delete(digest) is True
    assert not await storage.exists(digest)
    with pytest.raises(FileNotFoundError):
        await storage.get(digest)
    assert await storage.delete(digest) is False  # deleting again is not an error
    assert await storage.put(data) == digest and await storage.get(digest) == data  # and it can come back


async def test_delete_leaves_other_files_alone(storage: Storage) -> None:
    a, b = await storage.put(b"a" * 10), await storage.put(b"b" * 10)
    await storage.delete(a)
    assert await storage.get(b) == b"b" * 10


async def test_names_that_are_not_hashes_are_refused(storage: Storage) -> None:
    for bad in ("", "../../etc/passwd", "a" * 63, "A" * 64, "g" * 64):
        with pytest.raises(ValueError):
            await storage.delete(bad)
        with pytest.raises(ValueError):
            await storage.get(bad)


def test_every_column_that_names_a_stored_file_is_a_known_reference() -> None:
    """A new table that keeps stored files must be added to ``customers.privacy.REFERENCES``."""
    known = {(c.table.name, c.name) for c in REFERENCES}
    found = {
        (t.name, c.name)
        for t in Base.metadata.sorted_tables
        for c in t.c
        if "sha256" in c.name and t.name != "jobs"
    }
    assert found == known
