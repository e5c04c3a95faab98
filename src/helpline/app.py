"""``create_app(settings)``: the ASGI application. The lifespan builds the Platform once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from helpline import __version__
from helpline.domains.accounts import jobs as _account_jobs  # registers job handlers
from helpline.domains.accounts import principal_cache
from helpline.domains.accounts.admin_views import router as admin_pages
from helpline.domains.accounts.api import router as accounts_router
from helpline.domains.accounts.audit_api import router as audit_router
from helpline.domains.accounts.invitation_views import router as invitation_pages
from helpline.domains.accounts.passkey_api import router as passkey_router
from helpline.domains.accounts.passkey_views import router as passkey_pages
from helpline.domains.accounts.sso.admin_views import router as sso_admin_pages
from helpline.domains.accounts.sso.api import router as sso_router
from helpline.domains.accounts.sso.views import router as sso_pages
from helpline.domains.accounts.views import router as accounts_pages
from helpline.domains.accounts.workspaces_api import router as workspaces_router
from helpline.domains.automation import time_rule_jobs as _time_rule_jobs  # the time rules' pass
from helpline.domains.automation.schedules_api import router as schedules_router
from helpline.domains.automation.schedules_views import router as schedule_pages
from helpline.domains.automation.sla import jobs as _sla_jobs  # the SLA engine and its jobs
from helpline.domains.automation.sla_api import router as sla_router
from helpline.domains.automation.sla_views import router as sla_pages
from helpline.domains.automation.time_rules_api import router as time_rules_router
from helpline.domains.automation.time_rules_views import router as time_rules_pages
from helpline.domains.automation.triggers_api import router as triggers_router
from helpline.domains.automation.views import router as canned_pages
from helpline.domains.channels import startup as channels  # their job handlers register along
from helpline.domains.customers import jobs as _customer_jobs  # registers job handlers
from helpline.domains.customers.api import router as customers_router
from helpline.domains.customers.views import router as customer_pages
from helpline.domains.knowledge.api import router as help_router
from helpline.domains.knowledge.helpcenter_views import router as help_pages
from helpline.domains.knowledge.views import router as kb_pages
from helpline.domains.portal.views import router as portal_pages
from helpline.domains.tickets import feed as _ticket_feed  # registers the events feed source
from helpline.domains.tickets import jobs as _ticket_jobs  # registers job handlers
from helpline.domains.tickets.admin_views import router as catalog_pages
from helpline.domains.tickets.api import router as tickets_router
from helpline.domains.tickets.catalog_api import router as catalog_router
from helpline.domains.tickets.compose_api import router as compose_router
from helpline.domains.tickets.compose_views import router as compose_pages
from helpline.domains.tickets.files_api import router as files_router
from helpline.domains.tickets.imports_api import router as imports_router
from helpline.domains.tickets.new_ticket_views import router as new_ticket_pages
from helpline.domains.tickets.relation_views import router as relation_pages
from helpline.domains.tickets.search_api import router as search_router
from helpline.domains.tickets.search_views import router as search_pages
from helpline.domains.tickets.ticket_views import router as ticket_pages
from helpline.domains.tickets.views import router as inbox_pages
from helpline.domains.tickets.workspace_views import router as workspace_pages
from helpline.domains.webhooks import jobs as _webhook_jobs  # the outbox consumer and delivery job
from helpline.domains.webhooks.api import router as webhooks_router
from helpline.domains.webhooks.views import router as webhook_pages
from helpline.platform.jobs import JobRunner
from helpline.platform.runtime import Platform, build_platform
from helpline.settings import Settings
from helpline.web import errors, openapi
from helpline.web.context import RequestContextMiddleware
from helpline.web.headers import SecurityHeadersMiddleware
from helpline.web.limits import BodyLimitMiddleware, QueryNulMiddleware
from helpline.web.metrics import router as metrics_router
from helpline.web.responses import JSON

_ = (_ticket_jobs, _ticket_feed, _account_jobs, _customer_jobs, _sla_jobs, _time_rule_jobs, _webhook_jobs)

API_PREFIX = "/api/v1"
STATIC = Path(__file__).parent / "static"


#: Routers of server-rendered pages (console, portal), in the order their paths are matched.
PAGE_ROUTERS = [
    accounts_pages,
    invitation_pages,
    passkey_pages,
    inbox_pages,
    search_pages,
    new_ticket_pages,  # /tickets/new, before /tickets/{ticket_id}
    ticket_pages,
    relation_pages,
    workspace_pages,
    compose_pages,
    portal_pages,
    customer_pages,
    admin_pages,
    sso_pages,
    sso_admin_pages,
    catalog_pages,
    canned_pages,
    schedule_pages,
    sla_pages,
    time_rules_pages,
    webhook_pages,
    *channels.page_routers(),  # each channel's pages, widgets and sockets (channels/startup.py)
    kb_pages,
    help_pages,
]


def create_app(settings: Settings | None = None, *, platform: Platform | None = None) -> FastAPI:
    """The application. Pass ``platform`` to share one already built (tests do); otherwise the
    lifespan builds it from ``settings`` and, in embedded mode, runs the job worker in-process."""
    settings = settings or (platform.settings if platform else Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = platform is None
        app.state.platform = platform or build_platform(settings)
        runner_task = None
        runner = None
        channels.install(app.state.platform)  # staff messages reach the ticket's channel
        principal_cache.install(app.state.platform)  # account changes reach caches and live connections
        running = channels.runtimes(app.state.platform) if own and settings.run_jobs_in_process else []
        if own and settings.run_jobs_in_process:
            runner = JobRunner(app.state.platform)
            runner_task = asyncio.create_task(runner.run_forever())
        for part in running:
            await part.start()  # e.g. email's SMTP receiver and IMAP fetchers (embedded mode)
        try:
            yield
        finally:
            for part in reversed(running):
                await part.stop()
            if runner is not None and runner_task is not None:
                runner.stop()
                with contextlib.suppress(asyncio.CancelledError):
                    await runner_task
            if own:
                await app.state.platform.close()

    app = FastAPI(
        title="Helpline API",
        version=__version__,
        description="Tickets, conversations, contacts and organizations. Authenticate with "
        "`Authorization: Bearer <token>` (create one with `helpline tokens create --email E`). "
        "Errors are RFC 9457 problem+json.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        default_response_class=JSON,
    )
    if platform is not None:
        app.state.platform = platform
        channels.install(platform)
        principal_cache.install(platform)
    errors.install(app)
    openapi.install(app)
    app.add_middleware(QueryNulMiddleware)
    app.add_middleware(RequestContextMiddleware)
    app.add_middleware(SecurityHeadersMiddleware, docs_path=f"{API_PREFIX}/docs")
    app.add_middleware(
        BodyLimitMiddleware,
        max_json=settings.max_json_bytes,
        max_other=settings.max_request_bytes,
        routes=channels.body_limits(settings, API_PREFIX),
    )

    api = APIRouter(prefix=API_PREFIX)
    for r in (
        tickets_router,
        search_router,
        compose_router,
        catalog_router,
        files_router,
        imports_router,
        customers_router,
        accounts_router,
        audit_router,
        workspaces_router,
        passkey_router,
        sso_router,
        *channels.api_routers(),
        help_router,
        schedules_router,
        sla_router,
        time_rules_router,
        triggers_router,
        webhooks_router,
    ):
        api.include_router(r)
    app.include_router(api)
    for pages in PAGE_ROUTERS:
        app.include_router(pages)
    app.include_router(metrics_router)  # /metrics: 404 unless HELPLINE_METRICS_TOKEN is set
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get(f"{API_PREFIX}/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=f"{API_PREFIX}/openapi.json",
            title="Helpline API",
            swagger_js_url="/static/vendor/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/vendor/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg",
        )

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
