"""Each lesson keeps its incident's service, and the label and service filters read from an
index on both engines.

``lessons.service``: a search narrowed to a service read matches newest first and looked each
one's incident up to check its service, a lookup per match, most of them ruled out (one
service in eight: 4,000 lookups for 500 lessons). With the service on the lesson's own row the
check is a column read: ``q=deploy&service=checkout&from=…`` at 90,000 lessons went from 22 to 7
ms on PostgreSQL and 19 to 15 ms on SQLite (docs/web.md, "Cached figures, indexes and static
files"). It is copied from the incident here and kept in step by every write of either.

A filtered list counts its lessons. Checking each lesson's incident for the label (a lookup per
lesson) cost 51 ms for ``?label=sev1`` on SQLite at 90,000 lessons, and 23 ms for
``?source=jira&label=sev1``; reading the incidents that carry the label from ``(lower(label),
incident_ref)`` and counting their lessons costs 12 ms for either. A service's lessons are
counted from ``lower(lessons.service)``; /insights narrows incidents by ``(lower(service),
ref)``. On PostgreSQL these replace 0010's indexes on ``lower(label)`` and ``lower(service)``
alone: the same statistics, and the ref read from the index itself.

``reviews (status, due_on)``: the reviews open, and open past their due date, counted on every
``/metrics`` scrape (7 and 9 ms at 100,000 reviews on SQLite, reading every review) and looked
for by the daily reminder.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

INDEXES: tuple[tuple[str, str, list[str | sa.TextClause]], ...] = (
    ("ix_incident_labels_lower_label_ref", "incident_labels", [sa.text("lower(label)"), "incident_ref"]),
    ("ix_incidents_lower_service_ref", "incidents", [sa.text("lower(service)"), "ref"]),
    ("ix_lessons_service_lower", "lessons", [sa.text("lower(service)")]),
    ("ix_reviews_status_due_on", "reviews", ["status", "due_on"]),
)
REPLACED = (
    ("ix_incidents_service_lower", "incidents", "lower(service)"),
    ("ix_incident_labels_label_lower", "incident_labels", "lower(label)"),
)


def upgrade() -> None:
    with op.batch_alter_table("lessons") as batch:
        batch.add_column(sa.Column("service", sa.String(200), nullable=False, server_default=""))
    op.execute(
        "UPDATE lessons SET service = "
        "COALESCE((SELECT incidents.service FROM incidents WHERE incidents.ref = lessons.incident_ref), '')"
    )
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)
    if op.get_bind().dialect.name == "postgresql":
        for name, table, _ in REPLACED:
            op.drop_index(name, table_name=table)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, table, expression in REPLACED:
            op.create_index(name, table, [sa.text(expression)])
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    with op.batch_alter_table("lessons") as batch:
        batch.drop_column("service")
