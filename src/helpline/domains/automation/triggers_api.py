"""HTTP API of triggers (``/api/v1/triggers``). The rules are ``triggers.py``'s."""

from __future__ import annotations

from fastapi import APIRouter

from helpline.domains.automation import triggers
from helpline.domains.automation.rules_api import rule_routes

router = APIRouter(tags=["triggers"])
rule_routes(router, triggers.BOOK, "/triggers")
