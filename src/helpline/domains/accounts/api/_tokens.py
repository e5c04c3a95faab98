"""API tokens: each person's own; admins see and make everyone's."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, Request, Response

from helpline.domains.accounts import audit, queries, service
from helpline.domains.accounts.api._common import fresh, tokens
from helpline.domains.accounts.schemas import TokenCreate, TokenCreated, TokenRead
from helpline.errors import Forbidden
from helpline.web.deps import CurrentPrincipal, PlatformDep
from helpline.web.responses import JSON
from helpline.web.types import IdPath

router = APIRouter(tags=["accounts"])


_TOKEN_COLS = (
    tokens.c.id,
    tokens.c.name,
    tokens.c.prefix,
    tokens.c.user_id,
    tokens.c.created_at,
    tokens.c.expires_at,
    tokens.c.revoked_at,
    tokens.c.last_used_at,
)


@router.get("/tokens", response_model=list[TokenRead], summary="Your API tokens (admins: everyone's)")
async def list_tokens(actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    stmt = sa.select(*_TOKEN_COLS).where(tokens.c.workspace_id == actor.workspace_id)
    if not actor.is_admin:
        stmt = stmt.where(tokens.c.user_id == actor.user_id)
    async with platform.db.read() as conn:
        rows = (await conn.execute(stmt.order_by(tokens.c.id))).mappings().all()
    return JSON([dict(r) for r in rows])


@router.post(
    "/tokens",
    status_code=201,
    response_model=TokenCreated,
    summary="Create an API token (shown once; needs your password unless you signed in minutes ago)",
    responses={403: {"description": "Re-authentication required"}},
)
async def create_token(
    body: TokenCreate, request: Request, actor: CurrentPrincipal, platform: PlatformDep
) -> JSON:
    owner = body.user_id or actor.user_id
    if owner != actor.user_id and not actor.is_admin:
        raise Forbidden("only an admin may create tokens for someone else")
    async with platform.db.transaction() as uow:
        await queries.access_user(uow.conn, actor, owner)
        await fresh(platform, request, uow, actor, body)
        token_id, token = await service.create_token(
            uow, actor.workspace_id, owner, name=body.name, expires_at=body.expires_at
        )
        await audit.record(
            uow,
            "token.created",
            workspace_id=actor.workspace_id,
            actor=actor,
            target_type="token",
            target_id=token_id,
            detail={"owner_id": owner, "name": body.name},
        )
        row = (await uow.execute(sa.select(*_TOKEN_COLS).where(tokens.c.id == token_id))).mappings().one()
    return JSON({**dict(row), "token": token}, status_code=201)


@router.delete("/tokens/{token_id}", status_code=204, summary="Revoke an API token")
async def revoke_token(token_id: IdPath, actor: CurrentPrincipal, platform: PlatformDep) -> Response:
    async with platform.db.transaction() as uow:
        await service.revoke_token(
            uow, actor.workspace_id, token_id, owner_id=None if actor.is_admin else actor.user_id
        )
        await audit.record(
            uow,
            "token.revoked",
            workspace_id=actor.workspace_id,
            actor=actor,
            target_type="token",
            target_id=token_id,
        )
    return Response(status_code=204)
