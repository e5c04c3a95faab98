"""``GET /metrics``: Prometheus figures for operators, behind a bearer token (never public).

With ``HELPLINE_METRICS_TOKEN`` unset the route answers 404 like any unknown path; with it set, a
request without that exact token gets 401. The token is compared in constant time.
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response
from starlette.exceptions import HTTPException

from helpline.platform import metrics as figures
from helpline.web.deps import PlatformDep

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, platform: PlatformDep) -> Response:
    token = platform.settings.metrics_token
    if not token:
        raise HTTPException(404)
    given = request.headers.get("authorization", "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
        return Response(
            "a bearer token is required\n",
            status_code=401,
            media_type="text/plain",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    body = figures.render(await figures.collect(platform.db))
    return Response(body, media_type=figures.CONTENT_TYPE, headers={"Cache-Control": "no-store"})
