"""Follow-ups: each item of a lesson's "What we'll change", the task that tracks it, its state.

Revision ID: 0005
Revises: 0003
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0003"
branch_labels = None
depends_on = None

_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "followups",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("review_ref", sa.String(300), nullable=False),
        sa.Column("item_key", sa.String(300), nullable=False),
        sa.Column("ref", sa.String(300)),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("due_on", sa.Date()),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("state_at", _TZ),
        sa.Column("done_at", _TZ),
        sa.Column("checked_on", sa.Date()),
        sa.UniqueConstraint("review_ref", "item_key", name="uq_followups_review_item"),
    )
    op.create_index("ix_followups_ref", "followups", ["ref"])


def downgrade() -> None:
    op.drop_index("ix_followups_ref", "followups")
    op.drop_table("followups")
