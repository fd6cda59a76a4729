"""Search: a full-text index over every lesson (SQLite FTS5 table, PostgreSQL tsvector + GIN),
the labels of each incident (filters and insights per label), and the index the learning log
pages newest-first by.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_BATCH = 500

# PostgreSQL keeps the document in a generated column: it is computed from the row by the
# database on every write, so it cannot drift from the lesson and needs no code or trigger; a
# title match weighs A, every section B. Kept in step with ``service.store.search``.
_PG_DOCUMENT = (
    "setweight(to_tsvector('english', coalesce(incident_title, '')), 'A') || "
    "setweight(to_tsvector('english', coalesce(what_happened, '') || ' ' || coalesce(what_we_expected, '') || ' ' "
    "|| coalesce(why_different, '') || ' ' || coalesce(what_we_learned, '') || ' ' "
    "|| coalesce(what_we_will_change, '') || ' ' || coalesce(other_sections::text, '')), 'B')"
)


def upgrade() -> None:
    op.create_table(
        "incident_labels",
        sa.Column("incident_ref", sa.String(300), primary_key=True),
        sa.Column("label", sa.String(200), primary_key=True),
    )
    op.create_index("ix_incident_labels_label", "incident_labels", ["label"])
    op.create_index("ix_lessons_captured_at", "lessons", ["captured_at", "id"])
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        op.execute(f"ALTER TABLE lessons ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ({_PG_DOCUMENT}) STORED")
        # the title alone, kept so that ranking title matches first parses no title at query time
        op.execute(
            "ALTER TABLE lessons ADD COLUMN title_vector tsvector GENERATED ALWAYS AS "
            "(to_tsvector('english', coalesce(incident_title, ''))) STORED"
        )
        # a lesson's vector is a few KB: kept in the row (compressed) rather than in the TOAST
        # table, a search that ranks thousands of matches reads a third as much (measured in
        # bench/web.py); rows written before this line get it by being written again
        op.execute("ALTER TABLE lessons ALTER COLUMN search_vector SET STORAGE MAIN")
        op.execute("UPDATE lessons SET incident_title = incident_title")
        op.execute("CREATE INDEX ix_lessons_search_vector ON lessons USING GIN (search_vector)")
        return
    # SQLite: an FTS5 table of its own (rowid = lessons.id), written by lessons.save in the
    # same transaction as the lesson; filled here for the lessons kept before this revision
    op.execute("CREATE VIRTUAL TABLE lessons_fts USING fts5(title, body, tokenize = 'porter unicode61')")
    table = sa.table(
        "lessons",
        sa.column("other_sections", sa.JSON),
        *(
            sa.column(name)
            for name in (
                "id",
                "incident_title",
                "what_happened",
                "what_we_expected",
                "why_different",
                "what_we_learned",
                "what_we_will_change",
            )
        ),
    )
    last = 0
    while True:
        rows = (
            connection.execute(sa.select(table).where(table.c.id > last).order_by(table.c.id).limit(_BATCH))
            .mappings()
            .all()
        )
        if not rows:
            return
        for row in rows:
            title, body = _document(dict(row))
            connection.execute(
                sa.text("INSERT INTO lessons_fts (rowid, title, body) VALUES (:id, :title, :body)"),
                {"id": row["id"], "title": title, "body": body},
            )
        last = rows[-1]["id"]


def _document(row: Mapping[str, Any]) -> tuple[str, str]:
    """The title and every section's text, as ``service.store.search.sqlite_document`` builds
    them (copied: a migration must not change when the code does)."""
    sections = ("what_happened", "what_we_expected", "why_different", "what_we_learned", "what_we_will_change")
    others = row.get("other_sections") or {}
    body = "\n\n".join(
        [*(str(row.get(name) or "") for name in sections), *(f"{key}\n{value}" for key, value in dict(others).items())]
    )
    return str(row.get("incident_title") or ""), body


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_lessons_search_vector")
        op.execute("ALTER TABLE lessons DROP COLUMN search_vector")
        op.execute("ALTER TABLE lessons DROP COLUMN title_vector")
    else:
        op.execute("DROP TABLE lessons_fts")
    op.drop_index("ix_lessons_captured_at", "lessons")
    op.drop_index("ix_incident_labels_label", "incident_labels")
    op.drop_table("incident_labels")
