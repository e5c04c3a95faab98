"""The search index (FTS5 rows or ``kb_search``, and the sentence vectors of ``kb_embeddings``) holds
each translation's published text, and only what changes that text rewrites a translation's rows:
saving a new version in the editor rewrites nothing (customers still read the published text), nor
does submitting for review or changing the article's visibility (which the index does not store:
customers stop seeing an internal article at once all the same); publishing one translation rewrites
that translation's rows and not its siblings'."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa

from helpline.domains.accounts.models import Role
from tests.integration.knowledge.conftest import anonymous, slug_of, statements

INDEX = re.compile(r"\bkb_(fts|search|embeddings)\b", re.IGNORECASE)


def _index_writes(seen: list[tuple[str, Any, bool]]) -> list[tuple[str, Any, bool]]:
    return [s for s in seen if INDEX.search(s[0]) and not s[0].lstrip().upper().startswith("SELECT")]


def _translations_written(writes: list[tuple[str, Any, bool]]) -> set[int]:
    """The translation of each row an index write touched: every one of these statements binds it
    first (DELETE … IN (ids), INSERT (rowid | translation_id, …))."""
    out: set[int] = set()
    for statement, params, many in writes:
        for row in params if many else [params]:
            values = list(row.values()) if isinstance(row, dict) else list(row)
            out.update(
                int(v) for v in (values if statement.lstrip().upper().startswith("DELETE") else values[:1])
            )
    return out


async def _vectors(ws: Any, tid: int) -> list[bytes]:
    async with ws.platform.db.read() as conn:
        rows = await conn.execute(
            sa.text("SELECT vector FROM kb_embeddings WHERE translation_id = :t ORDER BY chunk"), {"t": tid}
        )
        return [bytes(r[0]) for r in rows]


async def _found(ws: Any, slug: str, locale: str, q: str) -> str:
    async with anonymous(ws) as c:
        return (await c.get(f"/help/{slug}/{locale}/search", params={"q": q})).text


async def test_saving_one_translation_leaves_the_others_index_rows_alone(
    ws: Any, kbase: Any, console: Any
) -> None:
    slug = await slug_of(ws)
    async with ws.platform.db.transaction() as uow:
        await uow.execute(
            sa.text("UPDATE workspaces SET settings = :s WHERE id = :i"),
            {"s": '{"languages": ["en", "fr"]}', "i": ws.id},
        )
    aid = await kbase.article("Change your address", "Open your profile and edit the address.")
    await kbase.translate(aid, "fr", "Changer votre adresse", "Ouvrez votre profil.")
    async with ws.platform.db.read() as conn:
        tids = dict(
            (
                await conn.execute(
                    sa.text("SELECT locale, id FROM kb_translations WHERE article_id = :a"), {"a": aid}
                )
            ).all()
        )
    en, fr = int(tids["en"]), int(tids["fr"])
    en_vectors = await _vectors(ws, en)
    _, admin = await console(Role.admin)
    form = {"locale": "fr", "visibility": "public", "section_id": "", "tags": "", "description": ""}

    # The editor saves a new French version: nothing customers read changed, no index row is rewritten.
    with statements(ws) as seen:
        saved = await admin.post(
            f"/kb/articles/{aid}",
            {
                **form,
                "title": "Changer votre adresse",
                "body_md": "Ouvrez votre profil, puis Adresse postale.",
            },
        )
    assert saved.status_code == 303
    assert _index_writes(seen) == [], _index_writes(seen)
    assert "Ouvrez votre" in (before := await _found(ws, slug, "fr", "adresse")) and "puis" not in before

    # Submitting it for review rewrites nothing either; publishing it rewrites the French rows only.
    with statements(ws) as seen:
        await admin.post(f"/kb/articles/{aid}/state", {"locale": "fr", "state": "review"})
    assert _index_writes(seen) == []
    with statements(ws) as seen:
        published = await admin.post(f"/kb/articles/{aid}/state", {"locale": "fr", "state": "published"})
    assert published.status_code == 303
    writes = _index_writes(seen)
    assert writes and _translations_written(writes) == {fr}, writes
    assert "puis" in await _found(ws, slug, "fr", "adresse")
    assert "Change your address" in await _found(ws, slug, "en", "address")
    assert await _vectors(ws, en) == en_vectors

    # Visibility is not in the index: turning the article internal rewrites no row, and customers stop
    # finding it at once; turning it public again brings it back, still without a rewrite.
    for visibility, shown in (("internal", False), ("public", True)):
        with statements(ws) as seen:
            r = await admin.post(
                f"/kb/articles/{aid}",
                {
                    **form,
                    "locale": "en",
                    "visibility": visibility,
                    "title": "Change your address",
                    "body_md": "Open your profile and edit the address.",
                },
            )
        assert r.status_code == 303 and _index_writes(seen) == []
        assert ("Change your address" in await _found(ws, slug, "en", "address")) is shown
