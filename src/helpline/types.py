"""Field types shared by request bodies (pydantic only: schemas of every domain use them)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator

# Deliberately permissive: help desks receive mail from internal domains (corp.local, *.test) that
# stricter validators reject. One @, a non-empty local part, a dotted domain, no spaces.
_EMAIL = re.compile(
    r"^[^@\s<>()\[\],;:\"]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)


def _email(value: str) -> str:
    value = value.strip()
    if not _EMAIL.match(value):
        raise ValueError("not an email address")
    local, domain = value.rsplit("@", 1)
    return f"{local}@{domain.lower()}"


Email = Annotated[str, StringConstraints(max_length=320), AfterValidator(_email)]


#: Ids are 64-bit; a larger number is refused as invalid instead of reaching the database.
MAX_ID = 2**63 - 1
Id = Annotated[int, Field(ge=1, le=MAX_ID)]

Tag = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80, pattern=r"^[^\s,]+$")
]


def has_nul(value: object) -> bool:
    """True when a string anywhere in ``value`` (lists, dict keys and values) holds U+0000."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list | tuple | set | frozenset):
        return any(has_nul(v) for v in value)
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    return False


class Strict(BaseModel):
    """Base of every request body: unknown fields are refused, and so is U+0000 in any string
    (PostgreSQL cannot store it in text or JSON, and no help desk text needs it)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _refuse_nul(cls, value: object) -> object:
        if has_nul(value):
            raise ValueError("must not contain the NUL character (U+0000)")
        return value
