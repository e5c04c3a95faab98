"""HTTP API of accounts: sessions, the current user, 2FA, users, groups and API tokens."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.domains.accounts import audit, queries, security, service, signin
from helpline.domains.accounts.models import ApiToken, Group, GroupMember, Invitation, Membership, Role, User
from helpline.domains.accounts.principal import Principal
from helpline.domains.accounts.schemas import (
    GroupCreate,
    GroupRead,
    GroupUpdate,
    InvitationRead,
    Invited,
    Me,
    MeUpdate,
    PasswordChange,
    Reauth,
    RecoveryCodes,
    SessionCreate,
    SessionRead,
    TokenCreate,
    TokenCreated,
    TokenRead,
    TotpConfirm,
    TotpStart,
    UserCreate,
    UserPage,
    UserRead,
    UserUpdate,
)
from helpline.domains.accounts.sso import service as sso_service
from helpline.errors import Forbidden, Invalid, NotFound, Problem
from helpline.web.deps import SESSION_COOKIE, CurrentPrincipal, PlatformDep
from helpline.web.pages import set_session_cookie
from helpline.web.responses import JSON
from helpline.web.types import IdPath

router = APIRouter(tags=["accounts"])
users, members, groups, group_members, tokens, invitations = (
    User.__table__,
    Membership.__table__,
    Group.__table__,
    GroupMember.__table__,
    ApiToken.__table__,
    Invitation.__table__,
)


async def _fresh(
    platform: PlatformDep, request: Request, uow: Any, actor: Principal, body: Reauth | None
) -> None:
    await signin.require_fresh(
        request, uow, platform, actor, body.password if body else None, body.otp if body else None
    )


@router.post(
    "/session",
    response_model=SessionRead,
    summary="Sign in (sets the session cookie)",
    responses={401: {"description": "Wrong credentials"}, 429: {"description": "Throttled"}},
)
async def sign_in(body: SessionCreate, request: Request, platform: PlatformDep) -> JSON:
    s = platform.settings
    client = signin.client_of(request)
    try:
        async with platform.db.transaction() as uow:
            user_id = await service.authenticate(
                uow,
                platform.cache,
                email=str(body.email),
                password=body.password,
                otp=body.otp,
                client=client,
                max_failures=s.login_max_failures,
                window=s.login_window_seconds,
            )
            ws = await service.membership_workspace(uow, user_id, body.workspace)
            await sso_service.check_password_sign_in(uow, user_id, ws)
            cookie, csrf = await service.start_session(
                uow, user_id, ws, days=s.session_days, replaces=request.cookies.get(SESSION_COOKIE)
            )
            role: str = (
                await uow.execute(
                    sa.select(members.c.role).where(
                        members.c.user_id == user_id, members.c.workspace_id == ws
                    )
                )
            ).scalar_one()
            await signin.record_signin(uow, user_id, ws, method="password")
    except Problem as exc:
        await signin.record_failed(platform, str(body.email), body.workspace, exc)
        raise
    response = JSON({"user_id": user_id, "workspace_id": ws, "role": role, "csrf_token": csrf})
    set_session_cookie(response, cookie, days=s.session_days, secure=s.base_url.startswith("https://"))
    return response


@router.delete("/session", status_code=204, summary="Sign out")
async def sign_out(
    actor: CurrentPrincipal,
    platform: PlatformDep,
    everywhere: Annotated[bool, Query(description="End every session of this user")] = False,
) -> Response:
    async with platform.db.transaction() as uow:
        await service.end_sessions(uow, actor.user_id, session_id=None if everywhere else actor.session_id)
        await audit.record(
            uow, "sessions.ended" if everywhere else "signout", workspace_id=actor.workspace_id, actor=actor
        )
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/me", response_model=Me, summary="Who am I")
async def me(actor: CurrentPrincipal) -> JSON:
    return JSON(
        {
            "id": actor.user_id,
            "email": actor.email,
            "name": actor.name,
            "role": actor.role.value,
            "workspace_id": actor.workspace_id,
            "group_ids": sorted(actor.group_ids),
            "contact_id": actor.contact_id,
            "is_operator": actor.is_operator,
        }
    )


@router.patch(
    "/me",
    response_model=Me,
    summary="Change your own name or email (an email change needs your password)",
    responses={403: {"description": "Re-authentication required"}},
)
async def update_me(body: MeUpdate, request: Request, actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    async with platform.db.transaction() as uow:
        if body.email is not None and service.normalise_email(str(body.email)) != actor.email:
            await _fresh(platform, request, uow, actor, body)
            await service.change_email(uow, actor, str(body.email))
        if body.name is not None:
            await service.check_identity_change(uow, actor)
            await uow.execute(users.update().where(users.c.id == actor.user_id).values(name=body.name))
        row = (
            await uow.execute(sa.select(users.c.email, users.c.name).where(users.c.id == actor.user_id))
        ).one()
    return JSON(
        {
            "id": actor.user_id,
            "email": row.email,
            "name": row.name,
            "role": actor.role.value,
            "workspace_id": actor.workspace_id,
            "group_ids": sorted(actor.group_ids),
            "contact_id": actor.contact_id,
            "is_operator": actor.is_operator,
        }
    )


@router.post(
    "/me/password",
    status_code=204,
    summary="Change your password (needs the current one); every session ends",
    responses={403: {"description": "Re-authentication required"}},
)
async def change_password(
    body: PasswordChange, request: Request, actor: CurrentPrincipal, platform: PlatformDep
) -> Response:
    async with platform.db.transaction() as uow:
        # The current password is asked for every time, however fresh the session.
        if not body.password:
            raise Invalid("password", "send your current password")
        await _fresh(platform, request, uow, actor, body)
        try:
            await service.set_password(uow, actor.user_id, body.new_password)
        except Invalid as exc:
            raise Invalid("new_password", exc.errors[0]["message"]) from None
        await audit.record_own(uow, "password.changed", actor)
    return Response(status_code=204)


@router.post(
    "/me/2fa",
    response_model=TotpStart,
    summary="Start two-factor set-up (2FA stays as it is until a code confirms the new secret)",
    responses={403: {"description": "Re-authentication required"}},
)
async def start_2fa(
    request: Request, actor: CurrentPrincipal, platform: PlatformDep, body: Reauth | None = None
) -> JSON:
    async with platform.db.transaction() as uow:
        await _fresh(platform, request, uow, actor, body)
        secret = await service.begin_totp(uow, actor.user_id)
    return JSON({"secret": secret, "otpauth_uri": security.totp_uri(secret, actor.email)})


@router.post(
    "/me/2fa/confirm", response_model=RecoveryCodes, summary="Confirm 2FA with a code; get recovery codes"
)
async def confirm_2fa(body: TotpConfirm, actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    async with platform.db.transaction() as uow:
        codes = await service.confirm_totp(uow, actor.user_id, body.code)
        await audit.record_own(uow, "2fa.enabled", actor)
    return JSON({"recovery_codes": codes})


@router.delete(
    "/me/2fa",
    status_code=204,
    summary="Turn two-factor authentication off (needs your password and a code)",
    responses={403: {"description": "Re-authentication required"}},
)
async def disable_2fa(
    request: Request, actor: CurrentPrincipal, platform: PlatformDep, body: Reauth | None = None
) -> Response:
    async with platform.db.transaction() as uow:
        await _fresh(platform, request, uow, actor, body)
        await service.disable_totp(uow, actor.user_id)
        await audit.record_own(uow, "2fa.disabled", actor)
    return Response(status_code=204)


# --- users ------------------------------------------------------------------------------------------


async def _groups_of(conn: AsyncConnection, ws: int, user_ids: list[int]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {u: [] for u in user_ids}
    if user_ids:
        rows = await conn.execute(
            sa.select(group_members.c.user_id, group_members.c.group_id)
            .join(groups, groups.c.id == group_members.c.group_id)
            .where(groups.c.workspace_id == ws, group_members.c.user_id.in_(user_ids))
            .order_by(group_members.c.group_id)
        )
        for row in rows:
            out[row.user_id].append(row.group_id)
    return out


_USER_COLS = (
    users.c.id,
    users.c.email,
    users.c.name,
    members.c.role,
    members.c.is_active,
    users.c.totp_enabled,
    members.c.contact_id,
    users.c.created_at,
)


async def _render_users(
    conn: AsyncConnection, ws: int, rows: Sequence[sa.Row[*tuple[Any, ...]]]
) -> list[dict[str, Any]]:
    gmap = await _groups_of(conn, ws, [r.id for r in rows])
    return [{**dict(r._mapping), "group_ids": gmap[r.id]} for r in rows]


@router.get("/users", response_model=UserPage, summary="Members of this workspace")
async def list_users(
    actor: CurrentPrincipal,
    platform: PlatformDep,
    role: Annotated[Role | None, Query()] = None,
    cursor: Annotated[str | None, Query(pattern=r"^\d{1,18}$")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> JSON:
    queries.require_staff(actor)
    stmt = (
        sa.select(*_USER_COLS)
        .join(members, members.c.user_id == users.c.id)
        .where(members.c.workspace_id == actor.workspace_id)
    )
    if role is not None:
        stmt = stmt.where(members.c.role == role.value)
    if cursor:
        stmt = stmt.where(users.c.id > int(cursor))
    async with platform.db.read() as conn:
        rows = (await conn.execute(stmt.order_by(users.c.id).limit(limit + 1))).all()
        items = await _render_users(conn, actor.workspace_id, rows[:limit])
    return JSON({"items": items, "next_cursor": str(rows[limit - 1].id) if len(rows) > limit else None})


async def _user_detail(conn: AsyncConnection, ws: int, user_id: IdPath) -> dict[str, Any]:
    rows = (
        await conn.execute(
            sa.select(*_USER_COLS)
            .join(members, members.c.user_id == users.c.id)
            .where(users.c.id == user_id, members.c.workspace_id == ws)
        )
    ).all()
    if not rows:
        raise NotFound(f"user {user_id} not found")
    return (await _render_users(conn, ws, rows))[0]


@router.post(
    "/users",
    status_code=201,
    response_model=UserRead,
    summary="Add a person (admins); someone who already has an account is invited instead",
    responses={202: {"model": Invited, "description": "The email has an account: an invitation was mailed"}},
)
async def create_user(body: UserCreate, actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    """A new email becomes a new account in this workspace, with `password` if given (the person must
    choose their own before joining another workspace). An email that already has an account is
    never changed (`password` and `name` are ignored): the person is mailed an invitation that they
    accept signed in as themselves, and the answer is 202."""
    queries.require_admin(actor)
    async with platform.db.transaction() as uow:
        added = await service.add_member(
            uow,
            actor,
            email=str(body.email),
            role=body.role,
            name=body.name,
            password=body.password,
            group_ids=list(body.group_ids),
            base_url=platform.settings.base_url,
        )
        if added.invitation_id is not None:
            return JSON(
                {
                    "status": "invited",
                    "user_id": added.user_id,
                    "email": service.normalise_email(str(body.email)),
                    "role": body.role.value,
                    "invitation_id": added.invitation_id,
                },
                status_code=202,
            )
        item = await _user_detail(uow.conn, actor.workspace_id, added.user_id)
    return JSON(item, status_code=201, headers={"Location": f"/api/v1/users/{added.user_id}"})


@router.get("/invitations", response_model=list[InvitationRead], summary="Open invitations (admins)")
async def list_invitations(actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    queries.require_admin(actor)
    async with platform.db.read() as conn:
        rows = await conn.execute(
            sa.select(
                invitations.c.id,
                invitations.c.user_id,
                users.c.email,
                invitations.c.role,
                invitations.c.group_ids,
                invitations.c.created_at,
                invitations.c.expires_at,
            )
            .join(users, users.c.id == invitations.c.user_id)
            .where(
                invitations.c.workspace_id == actor.workspace_id,
                invitations.c.accepted_at.is_(None),
                invitations.c.revoked_at.is_(None),
            )
            .order_by(invitations.c.id)
        )
        return JSON([dict(r) for r in rows.mappings()])


@router.delete("/invitations/{invitation_id}", status_code=204, summary="Withdraw an invitation (admins)")
async def revoke_invitation(
    invitation_id: IdPath, actor: CurrentPrincipal, platform: PlatformDep
) -> Response:
    async with platform.db.transaction() as uow:
        await service.revoke_invitation(uow, actor, invitation_id)
    return Response(status_code=204)


@router.get("/users/{user_id}", response_model=UserRead, summary="One member")
async def get_user(user_id: IdPath, actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    async with platform.db.read() as conn:
        await queries.access_user(conn, actor, user_id)
        return JSON(await _user_detail(conn, actor.workspace_id, user_id))


@router.patch("/users/{user_id}", response_model=UserRead, summary="Change a member (admins)")
async def update_user(
    user_id: IdPath, body: UserUpdate, actor: CurrentPrincipal, platform: PlatformDep
) -> JSON:
    """Role, groups and `is_active` are the person's membership in this workspace: deactivating ends
    their sessions and revokes their API tokens here, and nowhere else. `name` belongs to the person:
    it can be changed here only while they belong to this workspace alone (422 otherwise);
    `group_ids` replaces their groups."""
    async with platform.db.transaction() as uow:
        await service.do_update_member(
            uow,
            actor,
            user_id,
            name=body.name,
            role=body.role,
            is_active=body.is_active,
            group_ids=body.group_ids,
        )
        item = await _user_detail(uow.conn, actor.workspace_id, user_id)
    return JSON(item)


# --- groups -----------------------------------------------------------------------------------------


async def _group_detail(conn: AsyncConnection, row: Any) -> dict[str, Any]:
    ids = [
        r[0]
        for r in await conn.execute(
            sa.select(group_members.c.user_id)
            .where(group_members.c.group_id == row.id)
            .order_by(group_members.c.user_id)
        )
    ]
    return {"id": row.id, "name": row.name, "description": row.description, "member_ids": ids}


@router.get("/groups", response_model=list[GroupRead], summary="Groups (teams) of agents")
async def list_groups(actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    queries.require_staff(actor)
    async with platform.db.read() as conn:
        rows = (
            await conn.execute(
                sa.select(groups).where(groups.c.workspace_id == actor.workspace_id).order_by(groups.c.name)
            )
        ).all()
        return JSON([await _group_detail(conn, r) for r in rows])


@router.post("/groups", status_code=201, response_model=GroupRead, summary="Create a group (admins)")
async def create_group(body: GroupCreate, actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    queries.require_admin(actor)
    async with platform.db.transaction() as uow:
        gid = await service.create_group(uow, actor.workspace_id, body.name, body.description)
        await service.set_group_members(uow, actor.workspace_id, gid, body.member_ids)
        item = await _group_detail(uow.conn, await queries.access_group(uow.conn, actor, gid))
        await audit.record(
            uow,
            "group.created",
            workspace_id=actor.workspace_id,
            actor=actor,
            target_type="group",
            target_id=gid,
            detail={"member_ids": item["member_ids"]},
        )
    return JSON(item, status_code=201)


@router.get("/groups/{group_id}", response_model=GroupRead, summary="One group")
async def get_group(group_id: IdPath, actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    async with platform.db.read() as conn:
        return JSON(await _group_detail(conn, await queries.access_group(conn, actor, group_id)))


@router.patch(
    "/groups/{group_id}", response_model=GroupRead, summary="Rename a group or set its members (admins)"
)
async def update_group(
    group_id: IdPath, body: GroupUpdate, actor: CurrentPrincipal, platform: PlatformDep
) -> JSON:
    queries.require_admin(actor)
    async with platform.db.transaction() as uow:
        row = await queries.access_group(uow.conn, actor, group_id)
        changes = body.model_dump(exclude_unset=True, exclude={"member_ids"})
        if changes.get("name") and changes["name"] != row.name:
            dup = (
                await uow.execute(
                    sa.select(groups.c.id).where(
                        groups.c.workspace_id == actor.workspace_id, groups.c.name == changes["name"]
                    )
                )
            ).first()
            if dup:
                raise Invalid("name", "another group has that name")
        changes = {k: v for k, v in changes.items() if v is not None}
        if changes:
            await uow.execute(groups.update().where(groups.c.id == group_id).values(**changes))
        before = await _group_detail(uow.conn, row)
        if body.member_ids is not None:
            await service.set_group_members(uow, actor.workspace_id, group_id, body.member_ids)
        item = await _group_detail(uow.conn, await queries.access_group(uow.conn, actor, group_id))
        await audit.record(
            uow,
            "group.updated",
            workspace_id=actor.workspace_id,
            actor=actor,
            target_type="group",
            target_id=group_id,
            detail={
                "name": item["name"],
                "member_ids": {"from": before["member_ids"], "to": item["member_ids"]},
            },
        )
    return JSON(item)


@router.delete(
    "/groups/{group_id}", status_code=204, summary="Delete a group; its tickets lose their group (admins)"
)
async def delete_group(group_id: IdPath, actor: CurrentPrincipal, platform: PlatformDep) -> Response:
    queries.require_admin(actor)
    async with platform.db.transaction() as uow:
        await queries.access_group(uow.conn, actor, group_id)
        await uow.execute(groups.delete().where(groups.c.id == group_id))
        await audit.record(
            uow,
            "group.deleted",
            workspace_id=actor.workspace_id,
            actor=actor,
            target_type="group",
            target_id=group_id,
        )
    return Response(status_code=204)


# --- API tokens ---------------------------------------------------------------------------------------

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
        await _fresh(platform, request, uow, actor, body)
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
