"""HTTP API of one's own passkeys: ``/api/v1/me/passkeys``. Registering and removing one needs a
browser session signed in within the last five minutes (``passkeys.require_fresh_proof``); listing
and renaming work with any credential of the person, API tokens included."""

from __future__ import annotations

from fastapi import APIRouter, Response

from helpline.domains.accounts import passkeys
from helpline.domains.accounts.schemas import PasskeyCreate, PasskeyOptions, PasskeyRead, PasskeyUpdate
from helpline.web.deps import CurrentPrincipal, PlatformDep
from helpline.web.responses import JSON
from helpline.web.types import IdPath

router = APIRouter(tags=["passkeys"])


@router.get("/me/passkeys", response_model=list[PasskeyRead], summary="Your passkeys")
async def list_passkeys(actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    async with platform.db.read() as conn:
        return JSON(await passkeys.list_passkeys(conn, actor.user_id))


@router.post(
    "/me/passkeys/options",
    response_model=PasskeyOptions,
    summary="Start adding a passkey (needs a recent sign-in in this browser session)",
    responses={403: {"description": "An API token, or a sign-in older than five minutes"}},
)
async def registration_options(actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    return JSON({"publicKey": await passkeys.registration_options(platform, actor)})


@router.post(
    "/me/passkeys",
    status_code=201,
    response_model=PasskeyRead,
    summary="Finish adding a passkey",
    responses={
        403: {"description": "An API token, or a sign-in older than five minutes"},
        409: {"description": "That passkey is registered already"},
        422: {"description": "The answer did not verify, or its challenge expired or was used"},
    },
)
async def add_passkey(body: PasskeyCreate, actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    created = await passkeys.register(platform, actor, body.credential, body.name)
    return JSON(created, status_code=201)


@router.patch("/me/passkeys/{passkey_id}", response_model=PasskeyRead, summary="Rename one of your passkeys")
async def rename_passkey(
    passkey_id: IdPath, body: PasskeyUpdate, actor: CurrentPrincipal, platform: PlatformDep
) -> JSON:
    async with platform.db.transaction() as uow:
        return JSON(await passkeys.do_rename(uow, actor, passkey_id, body.name))


@router.delete(
    "/me/passkeys/{passkey_id}",
    status_code=204,
    summary="Remove one of your passkeys (needs a recent sign-in in this browser session)",
)
async def remove_passkey(passkey_id: IdPath, actor: CurrentPrincipal, platform: PlatformDep) -> Response:
    async with platform.db.transaction() as uow:
        await passkeys.do_remove(uow, actor, passkey_id)
    return Response(status_code=204)
