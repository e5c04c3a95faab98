"""Single sign-on routes a browser goes through: the sign-in buttons, ``/sso/<workspace>/<provider>/
login`` (to the identity provider), the OIDC ``callback`` and the SAML ``acs`` (back from it), and the
SAML service provider ``metadata``.

A successful answer opens a session in the provider's workspace only (``signin.open_session(...,
method="sso")``); a refused one shows a page saying why, records ``signin.failed`` and changes
nothing. See :mod:`helpline.domains.accounts.sso.service` for who gets in.
"""

from __future__ import annotations

import secrets
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from helpline.domains.accounts import signin
from helpline.domains.accounts.sso import flows, oidc, queries, saml, service
from helpline.domains.accounts.sso.service import Assertion, SignInRefused
from helpline.errors import NotFound
from helpline.web.deps import PlatformDep
from helpline.web.pages import safe_next
from helpline.web.templating import render

router = APIRouter(include_in_schema=False)


def _base(platform: Any) -> str:
    return str(platform.settings.base_url).rstrip("/")


async def _provider(
    platform: Any, workspace_slug: str, provider_slug: str, *, any_state: bool = False
) -> dict[str, Any]:
    if (
        not (0 < len(workspace_slug) <= 64 and 0 < len(provider_slug) <= 64)
        or "\x00" in workspace_slug + provider_slug
    ):
        raise NotFound("There is no such single sign-on here.")
    async with platform.db.read() as conn:
        return await queries.provider_for_sign_in(conn, workspace_slug, provider_slug, any_state=any_state)


def _refused(request: Request, provider: dict[str, Any], message: str, status: int) -> HTMLResponse:
    return render(
        request,
        "sso/refused.html",
        {
            "title": "You are not signed in",
            "message": message,
            "again": f"/login?workspace={provider['workspace_slug']}",
        },
        status=status,
    )


_EXPIRED = "This sign-in has expired, was used already, or was started in another browser. Start again."


@router.get("/sso/buttons")
async def buttons(
    request: Request, platform: PlatformDep, workspace: str = "", next: str = "/inbox"
) -> HTMLResponse:
    """The sign-in page's SSO buttons (an htmx fragment): the named workspace's, else the default's."""
    async with platform.db.read() as conn:
        found = await queries.enabled_providers(conn, workspace[:64].replace("\x00", "") or None)
    return render(request, "sso/_button_list.html", {"sso": found, "next": safe_next(next, "/inbox")})


@router.get("/sso")
async def choose(
    request: Request, platform: PlatformDep, workspace: str = "", next: str = "/inbox"
) -> HTMLResponse:
    """The same buttons as a page, for browsers without JavaScript."""
    async with platform.db.read() as conn:
        found = await queries.enabled_providers(conn, workspace[:64].replace("\x00", "") or None)
    return render(
        request,
        "sso/choose.html",
        {"title": "Single sign-on", "sso": found, "next": safe_next(next, "/inbox")},
    )


@router.get("/sso/{workspace_slug}/{provider_slug}/login")
async def login(
    workspace_slug: str, provider_slug: str, request: Request, platform: PlatformDep, next: str = "/inbox"
) -> Response:
    """Send the browser to the identity provider, remembering the flow server-side."""
    provider = await _provider(platform, workspace_slug, provider_slug)
    where = queries.urls(_base(platform), workspace_slug, provider_slug)
    browser = flows.browser_of(request)
    key = secrets.token_urlsafe(32)
    flow: dict[str, Any] = {
        "provider_id": provider["id"],
        "kind": provider["kind"],
        "next": safe_next(next, "/inbox"),
    }
    try:
        if provider["kind"] == "oidc":
            meta = await oidc.metadata(platform, provider)
            flow.update(nonce=secrets.token_urlsafe(32), verifier=secrets.token_urlsafe(64))
            url = oidc.authorization_url(
                meta,
                provider,
                redirect_uri=where["redirect_uri"],
                state=key,
                nonce=flow["nonce"],
                verifier=flow["verifier"],
            )
        else:
            flow["request_id"], url = await saml.authn_request(provider, where["acs_url"], key)
    except SignInRefused as exc:
        return _refused(request, provider, exc.message, 502)
    await flows.remember(platform.cache, key, browser, flow)
    response = RedirectResponse(url, status_code=303)
    return flows.bind(
        response,
        browser,
        secure=_base(platform).startswith("https://"),
        cross_site_post=provider["kind"] == "saml",
    )


async def _finish(
    request: Request, platform: Any, provider: dict[str, Any], assertion: Assertion, target: str
) -> Response:
    """Apply the linking rules and open the session, or show why not."""
    try:
        for attempt in (1, 2):
            try:
                async with platform.db.transaction() as uow:
                    user_id, detail = await service.sign_in(uow, provider, assertion)
                break
            except sa.exc.IntegrityError:
                # The same person's first sign-in in two tabs at once: the other one linked them.
                if attempt == 2:
                    raise SignInRefused(
                        "conflict", "Another sign-in of yours just happened. Try again.", status=409
                    ) from None
    except SignInRefused as exc:
        await service.record_refusal(platform, provider, exc.reason, assertion.email)
        return flows.unbind(_refused(request, provider, exc.message, exc.status))
    response = await signin.open_session(
        request, platform, user_id, int(provider["workspace_id"]), target, method="sso", detail=detail
    )
    return flows.unbind(response)


@router.get("/sso/{workspace_slug}/{provider_slug}/callback")
async def callback(
    workspace_slug: str,
    provider_slug: str,
    request: Request,
    platform: PlatformDep,
    state: str = "",
    code: str = "",
    error: str = "",
) -> Response:
    """OIDC: the provider's answer. The flow must be this browser's, unused and this provider's."""
    provider = await _provider(platform, workspace_slug, provider_slug)
    flow = await flows.take(platform.cache, state, request.cookies.get(flows.COOKIE))
    if flow is None or flow.get("provider_id") != provider["id"] or flow.get("kind") != "oidc":
        return _refused(request, provider, _EXPIRED, 400)
    try:
        if error:
            raise SignInRefused("idp_refused", "The identity provider did not sign you in.", status=400)
        if not code:
            raise SignInRefused("token_refused", "The identity provider sent no sign-in code.", status=400)
        meta = await oidc.metadata(platform, provider)
        redirect_uri = queries.urls(_base(platform), workspace_slug, provider_slug)["redirect_uri"]
        id_token = await oidc.exchange(
            platform, provider, meta, code=code, redirect_uri=redirect_uri, verifier=flow["verifier"]
        )
        claims = await oidc.verify_id_token(platform, provider, meta, id_token, nonce=flow["nonce"])
        assertion = oidc.assertion_of(claims, provider["group_claim"])
    except SignInRefused as exc:
        await service.record_refusal(platform, provider, exc.reason)
        return flows.unbind(_refused(request, provider, exc.message, exc.status))
    return await _finish(request, platform, provider, assertion, flow["next"])


@router.post("/sso/{workspace_slug}/{provider_slug}/acs")
async def acs(workspace_slug: str, provider_slug: str, request: Request, platform: PlatformDep) -> Response:
    """SAML: the assertion consumer service (HTTP-POST binding). No CSRF token: the identity
    provider's page posts here; the signature, ``InResponseTo`` and the browser binding stand in."""
    provider = await _provider(platform, workspace_slug, provider_slug)
    form = await request.form()
    saml_response, relay_state = form.get("SAMLResponse"), form.get("RelayState")
    if not isinstance(saml_response, str) or not isinstance(relay_state, str):
        return _refused(request, provider, _EXPIRED, 400)
    flow = await flows.take(platform.cache, relay_state, request.cookies.get(flows.COOKIE))
    if flow is None or flow.get("provider_id") != provider["id"] or flow.get("kind") != "saml":
        return _refused(request, provider, _EXPIRED, 400)
    acs_url = queries.urls(_base(platform), workspace_slug, provider_slug)["acs_url"]
    try:
        assertion = await saml.parse_response(provider, acs_url, saml_response, flow["request_id"])
    except SignInRefused as exc:
        await service.record_refusal(platform, provider, exc.reason)
        return flows.unbind(_refused(request, provider, exc.message, exc.status))
    return await _finish(request, platform, provider, assertion, flow["next"])


@router.get("/sso/{workspace_slug}/{provider_slug}/metadata")
async def metadata(workspace_slug: str, provider_slug: str, platform: PlatformDep) -> Response:
    """SAML: our service provider metadata for this provider (also while it is turned off, so the
    identity provider can be set up first)."""
    provider = await _provider(platform, workspace_slug, provider_slug, any_state=True)
    if provider["kind"] != "saml":
        raise NotFound("There is no such single sign-on here.")
    acs_url = queries.urls(_base(platform), workspace_slug, provider_slug)["acs_url"]
    xml = await saml.sp_metadata(provider, acs_url)
    return Response(xml, media_type="application/samlmetadata+xml")
