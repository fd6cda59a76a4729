"""The review loop: incidents, reviews, the learning log, links between items, and what was
written to trackers; deliveries learn which job is in charge and when it retries.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("job_id", sa.String(100)))
        batch.add_column(sa.Column("retry_at", _TZ))
    op.create_index("ix_deliveries_status_updated_at", "deliveries", ["status", "updated_at"])
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("ref", sa.String(300), nullable=False, unique=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("priority", sa.String(100), nullable=False),
        sa.Column("urgency", sa.String(50), nullable=False),
        sa.Column("service", sa.String(200), nullable=False),
        sa.Column("responders", sa.JSON(), nullable=False),
        sa.Column("opened_at", _TZ),
        sa.Column("closed_at", _TZ),
        sa.Column("recorded_at", _TZ, nullable=False),
    )
    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("incident_ref", sa.String(300), nullable=False, unique=True),
        sa.Column("ref", sa.String(300), nullable=False, unique=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("template", sa.Text()),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("due_on", sa.Date()),
        sa.Column("opened_at", _TZ, nullable=False),
        sa.Column("closed_at", _TZ),
        sa.Column("reminded_on", sa.Date()),
    )
    op.create_table(
        "lessons",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("review_ref", sa.String(300), nullable=False, unique=True),
        sa.Column("incident_ref", sa.String(300), nullable=False),
        sa.Column("incident_title", sa.Text(), nullable=False),
        sa.Column("incident_url", sa.Text(), nullable=False),
        sa.Column("priority", sa.String(100), nullable=False),
        sa.Column("review_url", sa.Text(), nullable=False),
        sa.Column("what_happened", sa.Text(), nullable=False),
        sa.Column("what_we_expected", sa.Text(), nullable=False),
        sa.Column("why_different", sa.Text(), nullable=False),
        sa.Column("what_we_learned", sa.Text(), nullable=False),
        sa.Column("what_we_will_change", sa.Text(), nullable=False),
        sa.Column("other_sections", sa.JSON(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("incident_closed_at", _TZ),
        sa.Column("captured_at", _TZ, nullable=False),
        sa.Column("updated_at", _TZ, nullable=False),
        sa.Column("seconds_to_lesson", sa.Integer()),
    )
    op.create_table(
        "links",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("a_ref", sa.String(300), nullable=False),
        sa.Column("b_ref", sa.String(300), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.UniqueConstraint("a_ref", "b_ref", name="uq_links_pair"),
    )
    op.create_index("ix_links_b_ref", "links", ["b_ref"])
    op.create_table(
        "effects",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("item_ref", sa.String(300), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("comment_id", sa.String(100), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("updated_at", _TZ, nullable=False),
        sa.UniqueConstraint("item_ref", "kind", "key", name="uq_effects_item_kind_key"),
    )


def downgrade() -> None:
    for table in ("effects", "links", "lessons", "reviews", "incidents"):
        op.drop_table(table)
    op.drop_index("ix_deliveries_status_updated_at", table_name="deliveries")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("retry_at")
        batch.drop_column("job_id")
