"""Revision 0001, what autogenerate cannot write: full-text search (FTS5 / tsvector + GIN) and the
triggers that keep messages append-only."""

from __future__ import annotations

from alembic import op

# Message content is append-only: these guards refuse to change what was said (moving a message to
# another ticket on merge is allowed) and refuse to delete a message outside a ticket's deletion.
_GUARDED = ("body_text", "body_html", "public", "author_kind", "author_user_id", "author_contact_id")


def create_search_and_guards() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE ticket_fts USING fts5("
            "public_text, private_text, tokenize = 'porter unicode61 remove_diacritics 2')"
        )
        cols = ", ".join(_GUARDED)
        op.execute(
            f"CREATE TRIGGER messages_append_only BEFORE UPDATE OF {cols} ON messages "
            "BEGIN SELECT RAISE(ABORT, 'messages are append-only'); END"
        )
    else:
        op.execute(
            "CREATE TABLE ticket_search ("
            " ticket_id BIGINT PRIMARY KEY REFERENCES tickets(id) ON DELETE CASCADE,"
            " workspace_id BIGINT NOT NULL,"
            " doc_public tsvector NOT NULL,"
            " doc_all tsvector NOT NULL)"
        )
        op.execute("CREATE INDEX ix_ticket_search_public ON ticket_search USING gin (doc_public)")
        op.execute("CREATE INDEX ix_ticket_search_all ON ticket_search USING gin (doc_all)")
        cond = " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in _GUARDED)
        op.execute(
            "CREATE FUNCTION messages_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF {cond} THEN RAISE EXCEPTION 'messages are append-only'; END IF; RETURN NEW; END $$"
        )
        op.execute(
            "CREATE TRIGGER messages_append_only BEFORE UPDATE ON messages "
            "FOR EACH ROW EXECUTE FUNCTION messages_append_only()"
        )


def drop_search_and_guards() -> None:
    bind = op.get_bind()
    op.execute(
        "DROP TRIGGER IF EXISTS messages_append_only"
        + ("" if bind.dialect.name == "sqlite" else " ON messages")
    )
    if bind.dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS ticket_fts")
    else:
        op.execute("DROP FUNCTION IF EXISTS messages_append_only()")
        op.execute("DROP TABLE IF EXISTS ticket_search")
