"""Path and query parameter types of the HTTP API (the body field types are in ``helpline.types``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from helpline.types import MAX_ID, Id

IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
IdQuery = Annotated[list[Id] | None, Query()]
