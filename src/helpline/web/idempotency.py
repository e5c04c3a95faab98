"""``Idempotency-Key`` on POST: the first answer is stored with the change, in the same transaction,
and a repeat with the same key and body gets that answer again instead of a second change."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from fastapi import Request
from sqlalchemy.exc import IntegrityError

from helpline.db.base import utcnow
from helpline.domains.accounts.principal import Principal
from helpline.errors import Conflict, Invalid
from helpline.platform.db import UnitOfWork
from helpline.platform.models import IdempotencyKey
from helpline.platform.runtime import Platform
from helpline.web.responses import JSON, plain

keys = IdempotencyKey.__table__

#: ``work`` runs in the transaction and returns (status, JSON body, extra headers).
Work = Callable[[UnitOfWork], Awaitable[tuple[int, Any, dict[str, str]]]]


async def run(platform: Platform, actor: Principal, request: Request, key: str | None, work: Work) -> JSON:
    if key is None:
        async with platform.db.transaction() as uow:
            status, body, headers = await work(uow)
        return JSON(body, status_code=status, headers=headers)
    if not 1 <= len(key) <= 255:
        raise Invalid("Idempotency-Key", "must be 1 to 255 characters")
    fingerprint = hashlib.sha256(
        request.method.encode() + request.url.path.encode() + await request.body()
    ).hexdigest()
    ident = (keys.c.workspace_id == actor.workspace_id, keys.c.user_id == actor.user_id, keys.c.key == key)
    try:
        async with platform.db.transaction() as uow:
            stored = (await uow.execute(sa.select(keys).where(*ident))).mappings().first()
            if stored is not None:
                if stored["fingerprint"] != fingerprint:
                    raise Invalid("Idempotency-Key", "was used before with a different request")
                replay = JSON(
                    stored["body"], status_code=stored["status_code"], headers={"Idempotent-Replayed": "true"}
                )
                return replay
            await uow.execute(
                keys.insert().values(
                    workspace_id=actor.workspace_id,
                    user_id=actor.user_id,
                    key=key,
                    fingerprint=fingerprint,
                    status_code=0,
                    body=None,
                    created_at=utcnow(),
                )
            )
            status, body, headers = await work(uow)
            await uow.execute(keys.update().where(*ident).values(status_code=status, body=plain(body)))
    except IntegrityError:
        # Another request with the same key is being processed right now.
        raise Conflict("a request with this Idempotency-Key is in progress; retry shortly") from None
    return JSON(body, status_code=status, headers=headers)
