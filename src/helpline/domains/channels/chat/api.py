"""HTTP routes of the chat channel.

- ``router`` (under ``/api/v1``): admins manage widgets.
- ``public``: what a host page talks to besides the socket: ``/widget.js``, the long-poll fallback
  (``/chat/poll`` for events, ``/chat/frame`` for the frames a socket would carry), file upload and
  download, the offline form, and the help centre's suggestions and answer bot for the widget
  (``/chat/help/*``, when the widget has ``answer_bot`` on). Every ``/chat/*`` route checks the
  widget's origin allow-list and answers CORS for that origin only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import orjson
import sqlalchemy as sa
from fastapi import APIRouter, Query, Request, Response, UploadFile
from fastapi.responses import FileResponse

from helpline.domains.channels.chat import queries, routing, service, widgets
from helpline.domains.channels.chat.common import as_dict, as_int, as_list, limit
from helpline.domains.channels.chat.streams import Collector
from helpline.domains.channels.chat.ws import client_ip, origin_allowed, visitor_enter, visitor_frame
from helpline.domains.knowledge import deflection
from helpline.domains.knowledge.deflection import AnswerIn, EventIn
from helpline.domains.tickets.models import Attachment, Message
from helpline.errors import Forbidden, Invalid, NotFound
from helpline.web.deps import CurrentPrincipal, PlatformDep
from helpline.web.downloads import stored_file
from helpline.web.types import IdPath

router = APIRouter(tags=["chat"])
public = APIRouter(include_in_schema=False)
WIDGET_JS = Path(__file__).resolve().parents[3] / "static" / "widget" / "widget.js"
POLL_WAIT = 25.0


def _widget_out(w: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "id",
        "key",
        "name",
        "allowed_origins",
        "theme",
        "greeting",
        "locale",
        "texts",
        "prechat_fields",
        "max_chats_per_agent",
        "schedule",
        "timezone",
        "group_id",
        "identity_secret",
        "enabled",
        "answer_bot",
    )
    return {k: w[k] for k in keys}


@router.get("/chat/widgets")
async def list_widgets(actor: CurrentPrincipal, platform: PlatformDep) -> list[dict[str, Any]]:
    async with platform.db.read() as conn:
        return [_widget_out(w) for w in await widgets.list_all(conn, actor)]


@router.post("/chat/widgets", status_code=201)
async def create_widget(
    data: widgets.WidgetWrite, actor: CurrentPrincipal, platform: PlatformDep
) -> dict[str, Any]:
    """A widget. The answer carries its ``key`` (for the embedding snippet) and its ``identity_secret``
    (for the host site's server, to sign signed-in users)."""
    async with platform.db.transaction() as uow:
        wid = await widgets.create(uow, actor, data)
    async with platform.db.read() as conn:
        return _widget_out(await widgets.get(conn, actor, wid))


@router.patch("/chat/widgets/{widget_id}")
async def update_widget(
    widget_id: IdPath, data: widgets.WidgetWrite, actor: CurrentPrincipal, platform: PlatformDep
) -> dict[str, Any]:
    async with platform.db.transaction() as uow:
        await widgets.update(uow, actor, widget_id, data)
    async with platform.db.read() as conn:
        return _widget_out(await widgets.get(conn, actor, widget_id))


@router.get("/chat/widgets/{widget_id}")
async def get_widget(widget_id: IdPath, actor: CurrentPrincipal, platform: PlatformDep) -> dict[str, Any]:
    async with platform.db.read() as conn:
        return _widget_out(await widgets.get(conn, actor, widget_id))


# --- what host pages use ---------------------------------------------------------------------------


@public.get("/widget.js")
async def widget_js() -> Response:
    return FileResponse(
        WIDGET_JS,
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=300", "Cross-Origin-Resource-Policy": "cross-origin"},
    )


async def _widget(request: Request, platform: Any, key: str) -> dict[str, Any]:
    async with platform.db.read() as conn:
        w = await queries.widget_by_key(conn, key)
    if not origin_allowed(w, request.headers.get("origin"), request.headers.get("host")):
        raise Forbidden("this page's origin may not use this chat widget")
    return w


def _cors(request: Request, response: Response) -> Response:
    origin = request.headers.get("origin")
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
    return response


def _json(request: Request, body: Any, status: int = 200) -> Response:
    return _cors(request, Response(orjson.dumps(body), status_code=status, media_type="application/json"))


@public.options("/chat/{rest:path}")
async def preflight(request: Request, platform: PlatformDep, widget: str = "") -> Response:
    await _widget(request, platform, widget)
    r = Response(status_code=204)
    r.headers.update(
        {
            "Access-Control-Allow-Methods": "GET, POST",
            "Access-Control-Max-Age": "600",
            "Access-Control-Allow-Headers": "content-type, x-chat-token",
        }
    )
    return _cors(request, r)


async def _visitor(
    request: Request, platform: Any, w: dict[str, Any], body: dict[str, Any]
) -> service.Visitor:
    user = as_dict(body.get("user"))
    return await service.resolve(
        platform, w, body.get("token"), user, origin=request.headers.get("origin", ""), ip=client_ip(request)
    )


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise Invalid("body", "a JSON object") from exc
    if not isinstance(body, dict):
        raise Invalid("body", "a JSON object")
    return body


@public.post("/chat/poll")
async def poll(request: Request, platform: PlatformDep, widget: Annotated[str, Query()] = "") -> Response:
    """The fallback for a client without WebSockets: ``{token, after, hello, queue}`` → ``{events}``.
    With ``hello`` true the first event is ``welcome``; then it waits up to 25 s for something new.
    ``queue`` (``[position, wait]``) is the place in the queue the client shows: a waiting visitor is
    told their place only when it differs (else every poll would answer at once)."""
    w = await _widget(request, platform, widget)
    body = await _body(request)
    v = await _visitor(request, platform, w, body)
    s = Collector(platform, v.workspace_id, staff=False)
    shown = as_list(body.get("queue"))
    if len(shown) == 2 and all(as_int(x, -1) >= 0 for x in shown):
        s.place = (int(shown[0]), int(shown[1]))
    after = as_int(body.get("after"))
    try:
        await visitor_enter(s, v, after, welcome=bool(body.get("hello")))
        wait = (
            min(POLL_WAIT, float(body.get("wait", POLL_WAIT)))
            if isinstance(body.get("wait"), int | float)
            else POLL_WAIT
        )
        events = await s.gather(max(0.0, wait))
    finally:
        s.close()
    return _json(request, {"events": events})


@public.post("/chat/frame")
async def frame(request: Request, platform: PlatformDep, widget: Annotated[str, Query()] = "") -> Response:
    """One frame as a socket would carry it (``{token, frame}``); the answer frame."""
    w = await _widget(request, platform, widget)
    body = await _body(request)
    v = await _visitor(request, platform, w, body)
    s = Collector(platform, v.workspace_id, staff=False)
    try:
        f = as_dict(body.get("frame"))
        answer = await visitor_frame(s, v, f)
    finally:
        s.close()
    return _json(request, answer or {"t": "ok"})


@public.post("/chat/upload")
async def upload(
    request: Request,
    platform: PlatformDep,
    file: UploadFile,
    token: Annotated[str, Query()] = "",
    widget: Annotated[str, Query()] = "",
) -> Response:
    w = await _widget(request, platform, widget)
    v = await service.resolve(
        platform, w, token, None, origin=request.headers.get("origin", ""), ip=client_ip(request)
    )
    data = await file.read(platform.settings.chat_max_upload_bytes + 1)
    stored = await service.store_upload(platform, v, file.filename or "file", file.content_type, data)
    return _json(request, stored, 201)


@public.get("/chat/files/{attachment_id}")
async def download(
    request: Request, attachment_id: IdPath, platform: PlatformDep, widget: Annotated[str, Query()] = ""
) -> Response:
    """A file of the visitor's own chat (public messages only), for the ``X-Chat-Token`` visitor."""
    w = await _widget(request, platform, widget)
    v = await service.resolve(platform, w, request.headers.get("x-chat-token"), None)
    if v.visitor_id is None:
        raise NotFound("no such file")
    from helpline.domains.channels.chat.models import ChatSession

    att, msg, ses = Attachment.__table__, Message.__table__, ChatSession.__table__
    async with platform.db.read() as conn:
        row = (
            await conn.execute(
                sa.select(att.c.filename, att.c.content_type, att.c.sha256)
                .join(msg, msg.c.id == att.c.message_id)
                .join(ses, ses.c.ticket_id == msg.c.ticket_id)
                .where(att.c.id == attachment_id, msg.c.public.is_(True), ses.c.visitor_id == v.visitor_id)
            )
        ).first()
    if row is None:
        raise NotFound("no such file")
    return _cors(request, await stored_file(platform, row.sha256, row.filename))


@public.post("/chat/offline")
async def offline(request: Request, platform: PlatformDep, widget: Annotated[str, Query()] = "") -> Response:
    """The offline form (``{fields: {email, name, …}, body}``): an email ticket."""
    w = await _widget(request, platform, widget)
    body = await _body(request)
    fields = service.check_fields(w, as_dict(body.get("fields")), need_email=True)
    await routing.offline(platform, w, fields, str(body.get("body") or ""), client_ip(request))
    return _json(request, {"t": "ok"}, 201)


# --- deflection: articles and the answer bot before a person is reached -----------------------------


async def _answering(request: Request, platform: Any, key: str) -> dict[str, Any]:
    w = await _widget(request, platform, key)
    if not w["answer_bot"]:
        raise NotFound("this widget does not suggest articles")
    # Searches cost more than a chat message: the same per-minute cap per address.
    await limit(
        platform,
        f"chat:help:{w['id']}:{client_ip(request)}",
        platform.settings.chat_messages_per_minute,
        60,
        "questions from this address",
    )
    return w


@public.get("/chat/help/suggest")
async def help_suggest(
    request: Request,
    platform: PlatformDep,
    widget: Annotated[str, Query()] = "",
    q: Annotated[str, Query(max_length=500)] = "",
    locale: Annotated[str, Query(max_length=16, pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")] = "en",
    visit: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """Public, published articles for what the visitor is typing in the pre-chat form."""
    w = await _answering(request, platform, widget)
    found = await deflection.suggest(
        platform, int(w["workspace_id"]), q, locale=locale, visit=visit, source="widget"
    )
    return _json(request, found)


@public.post("/chat/help/answer")
async def help_answer(
    request: Request, platform: PlatformDep, body: AnswerIn, widget: Annotated[str, Query()] = ""
) -> Response:
    """The answer bot on the visitor's first question (or a hand-over to a person)."""
    w = await _answering(request, platform, widget)
    found = await deflection.answer(
        platform, int(w["workspace_id"]), body.question, locale=body.locale, visit=body.visit, source="widget"
    )
    return _json(request, found)


@public.post("/chat/help/events")
async def help_event(
    request: Request, platform: PlatformDep, body: EventIn, widget: Annotated[str, Query()] = ""
) -> Response:
    """A deflection step in the widget: an article opened, "this solved my problem", a hand-over."""
    w = await _widget(request, platform, widget)
    await deflection.record(
        platform, int(w["workspace_id"]), body.visit, body.kind, "widget", body.article_id
    )
    return _cors(request, Response(status_code=204))
