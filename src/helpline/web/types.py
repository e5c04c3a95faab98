"""Field types shared by request bodies."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Path
from pydantic import AfterValidator, StringConstraints

# Deliberately permissive: help desks receive mail from internal domains (corp.local, *.test) that
# stricter validators reject. One @, a non-empty local part, a dotted domain, no spaces.
_EMAIL = re.compile(r"^[^@\s<>()\[\],;:\"]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")


def _email(value: str) -> str:
    value = value.strip()
    if not _EMAIL.match(value):
        raise ValueError("not an email address")
    local, domain = value.rsplit("@", 1)
    return f"{local}@{domain.lower()}"


Email = Annotated[str, StringConstraints(max_length=320), AfterValidator(_email)]


#: Ids are 64-bit; a larger number is refused as invalid instead of reaching the database.
MAX_ID = 2**63 - 1
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
