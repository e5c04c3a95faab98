"""Privacy: erasing a contact (docs/customers.md, "Privacy: export and erase").

- ``messages.redacted_at``: when the message's text was replaced by the erasure marker.
- ``contacts.erased_at``: when the contact was erased (its name, identities and notes are gone).
- The ``messages_append_only`` guards (revision 0001) are replaced: they still refuse any change of a
  message's visibility and author, and now allow exactly one change of its text, a *redaction*:
  ``redacted_at`` goes from NULL to a time in the same UPDATE that sets the body to the fixed marker.
  Once redacted, nothing of it changes again (not its text, not ``redacted_at``).

Revision ID: 0037
Revises: 0036
Create Date: 2026-12-09
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import helpline.db.base

revision: str = "0037"
down_revision: str | None = "0036"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = helpline.db.base.UTCDateTime(timezone=True)

# Frozen copies (a migration never imports application code that may change later); the privacy
# module's MARKER and MARKER_HTML must stay equal to these, and its tests fail if they do not.
MARKER = "[erased at the customer's request]"
MARKER_HTML = f"<p>{MARKER}</p>"

_FIXED = ("public", "author_kind", "author_user_id", "author_contact_id")
_TEXT = ("body_text", "body_html")
_REFUSE_SQLITE = "SELECT RAISE(ABORT, 'messages are append-only');"


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _sqlite_trigger(redaction: bool) -> str:
    if not redaction:  # revision 0001's guard
        cols = ", ".join((*_TEXT, *_FIXED))
        return (
            f"CREATE TRIGGER messages_append_only BEFORE UPDATE OF {cols} ON messages "
            f"BEGIN {_REFUSE_SQLITE} END"
        )
    fixed = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in _FIXED)
    text_changed = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in (*_TEXT, "redacted_at"))
    not_a_redaction = (
        "OLD.redacted_at IS NOT NULL OR NEW.redacted_at IS NULL"
        f" OR NEW.body_text IS NOT {_lit(MARKER)} OR NEW.body_html IS NOT {_lit(MARKER_HTML)}"
    )
    cols = ", ".join((*_TEXT, *_FIXED, "redacted_at"))
    return (
        f"CREATE TRIGGER messages_append_only BEFORE UPDATE OF {cols} ON messages "
        f"WHEN {fixed} OR (({text_changed}) AND ({not_a_redaction})) "
        f"BEGIN {_REFUSE_SQLITE} END"
    )


def _pg_function(redaction: bool) -> str:
    fixed = " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in _FIXED)
    if not redaction:  # revision 0001's guard
        cond = " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in (*_TEXT, *_FIXED))
        body = f"IF {cond} THEN RAISE EXCEPTION 'messages are append-only'; END IF;"
    else:
        text_changed = " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in (*_TEXT, "redacted_at"))
        not_a_redaction = (
            "OLD.redacted_at IS NOT NULL OR NEW.redacted_at IS NULL"
            f" OR NEW.body_text IS DISTINCT FROM {_lit(MARKER)}"
            f" OR NEW.body_html IS DISTINCT FROM {_lit(MARKER_HTML)}"
        )
        body = (
            f"IF {fixed} THEN RAISE EXCEPTION 'messages are append-only'; END IF; "
            f"IF ({text_changed}) AND ({not_a_redaction}) THEN "
            "RAISE EXCEPTION 'messages are append-only'; END IF;"
        )
    return (
        "CREATE OR REPLACE FUNCTION messages_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"{body} RETURN NEW; END $$"
    )


def _guards(redaction: bool) -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS messages_append_only")
        op.execute(_sqlite_trigger(redaction))
    else:
        # The trigger (BEFORE UPDATE … FOR EACH ROW) stays; only the function it calls changes.
        op.execute(_pg_function(redaction))


def upgrade() -> None:
    op.add_column("messages", sa.Column("redacted_at", UTC, nullable=True))
    op.add_column("contacts", sa.Column("erased_at", UTC, nullable=True))
    _guards(redaction=True)


def downgrade() -> None:
    # The new SQLite trigger names redacted_at: it goes before the column can.
    _guards(redaction=False)
    op.drop_column("contacts", "erased_at")
    op.drop_column("messages", "redacted_at")
