"""On PostgreSQL: statistics and a way in for the filters that compare without case, and the
lesson dates ``/insights`` joins on read from an index.

The label and service filters compare ``lower(label)`` and ``lower(service)``; an index on each
expression gives the planner its statistics (ANALYZE keeps them for an indexed expression) and
a way in.

Without them PostgreSQL guessed that 0.5 % of the labels are ``sev1`` where a quarter were, at
100,000 reviews, and read the whole label table for ``/lessons?label=sev1``'s count (95 ms; 21
ms with them), and for ``?q=deploy&service=checkout`` read every incident of the service before
the newest matches. SQLite has no statistics to use and looks an incident up by its ref, so it
gets none (docs/web.md, "Measured at 100,000 reviews").

Related lessons for a new review are those reviewed where its rule reviews (``lower(review_ref)
LIKE 'github:acme/postmortems#%'``): PostgreSQL guessed 0.5 % of the lessons for what was half of
them and read the whole table (300 ms at 90,000 lessons; 11 ms with the index, whose
``text_pattern_ops`` also serve the prefix for a place with few lessons).

``/insights`` joins each review of its view with its lesson's capture and close times:
``lessons (review_ref, captured_at, incident_closed_at)`` lets PostgreSQL read them from the
index (an index-only scan) instead of every wide lesson row, which halved the join of a
year's 100,000 reviews (1.1 – 1.8 s to 0.5 – 0.8 s under EXPLAIN ANALYZE, on a loaded machine).
SQLite's planner takes the unique ``review_ref`` index for that join and would not use it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_incidents_service_lower", "incidents", "lower(service)"),
    ("ix_incident_labels_label_lower", "incident_labels", "lower(label)"),
    ("ix_lessons_review_ref_lower", "lessons", "lower(review_ref) text_pattern_ops"),
)


COVERING = ("ix_lessons_review_dates", "lessons", ["review_ref", "captured_at", "incident_closed_at"])


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, table, expression in INDEXES:
        op.create_index(name, table, [sa.text(expression)])
    op.create_index(*COVERING)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index(COVERING[0], table_name=COVERING[1])
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
