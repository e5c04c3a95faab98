"""What a parsed message becomes on the ticket: its parts stored, and its body as text and safe HTML."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from helpline.domains.channels.email import images, quotes
from helpline.domains.channels.email.parse import ParsedMail
from helpline.domains.tickets import content

if TYPE_CHECKING:
    from helpline.platform.runtime import Platform

_CID_SRC = re.compile(r'src\s*=\s*(["\']?)cid:([^"\'\s>]+)\1', re.I)


async def store_parts(platform: Platform, mail: ParsedMail) -> list[dict[str, Any]]:
    out = []
    for part in mail.parts:
        digest = await platform.storage.put(part.data)
        out.append(
            {
                "filename": part.filename,
                "content_type": part.content_type,
                "size": len(part.data),
                "sha256": digest,
                "content_id": part.content_id,
                "inline": part.inline,
            }
        )
    return out


def render(mail: ParsedMail, files: list[dict[str, Any]]) -> tuple[str, str]:
    """(text, safe html): inline ``cid:`` images point at their stored file, remote images are
    blocked (kept as ``data-remote-src``, see ``images``), and the quoted history and signature are
    folded into a collapsed ``<details>`` (see ``quotes``; not for a forward). The text is complete."""
    by_cid = {f["content_id"]: f["sha256"] for f in files if f["content_id"]}
    fold = not quotes.is_forward(mail.subject)
    if mail.html:

        def cid(m: re.Match[str]) -> str:
            sha = by_cid.get(m.group(2))
            return f'src="/api/v1/email/inline/{sha}"' if sha else 'src=""'

        raw = _CID_SRC.sub(cid, mail.html)
        safe = images.block(content.sanitize_html(quotes.fold_html(raw) if fold else raw))
        text = mail.text or content.html_to_text(quotes.without_summaries(safe))
    else:
        text = mail.text
        safe = "" if not text else quotes.text_to_html(text) if fold else content.text_to_html(text)
    if not text.strip() and not safe.strip():
        text, safe = "(no text)", "<p>(no text)</p>"
    return text[:1_000_000], safe
