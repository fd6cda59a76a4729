"""The inbox: every delivery received, deduplicated by the tracker's delivery id.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("delivery_id", sa.String(200), nullable=False),
        sa.Column("event_name", sa.String(100), nullable=False),
        sa.Column("event_kind", sa.String(32), nullable=False),
        sa.Column("item_ref", sa.String(300)),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.Text()),
        sa.Column("last_error", sa.Text()),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("source", "delivery_id", name="uq_deliveries_source_delivery_id"),
    )
    op.create_index("ix_deliveries_status_received_at", "deliveries", ["status", "received_at"])
    op.create_index("ix_deliveries_item_ref", "deliveries", ["item_ref"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_item_ref", table_name="deliveries")
    op.drop_index("ix_deliveries_status_received_at", table_name="deliveries")
    op.drop_table("deliveries")
