"""The learning log sorted by incident date (``sort=incident``) reads an index in that order
instead of sorting every lesson for each page.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # newest first with unknown dates last: SQLite reads its NULLs-first index backwards that
    # way; PostgreSQL needs the order spelled out (its backward scan puts NULLs first)
    if op.get_bind().dialect.name == "postgresql":
        columns = [sa.text("incident_closed_at DESC NULLS LAST"), sa.text("id DESC")]
        op.create_index("ix_lessons_incident_closed_at", "lessons", columns)
    else:
        op.create_index("ix_lessons_incident_closed_at", "lessons", ["incident_closed_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_lessons_incident_closed_at", table_name="lessons")
