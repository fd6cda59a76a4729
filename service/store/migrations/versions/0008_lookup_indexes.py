"""An index for every lookup the learning log makes: a lesson by its incident's ref (its page,
its API object, refs typed in the search box), the reviews and follow-ups of a window by date
(stats, /insights), where a lesson was posted (its effects by kind and lesson), and the log's
services (the filter's suggestions).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_lessons_incident_ref", "lessons", ["incident_ref"]),
    ("ix_reviews_opened_at", "reviews", ["opened_at"]),
    ("ix_followups_created_at", "followups", ["created_at"]),
    ("ix_effects_kind_key", "effects", ["kind", "key"]),
    ("ix_incidents_service", "incidents", ["service"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
