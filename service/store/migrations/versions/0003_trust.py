"""Trust: the instance's generated marker key, and each delivery's body digest so that a body
replayed under a fresh delivery header is still a duplicate.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_BATCH = 500


def upgrade() -> None:
    op.create_table(
        "instance",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("body_digest", sa.String(80)))
    _fill_body_digests()
    op.create_index("uq_deliveries_source_body_digest", "deliveries", ["source", "body_digest"], unique=True)


def _fill_body_digests() -> None:
    """Deliveries recorded before this revision get their digest; an identical body recorded
    twice then (a replay that got through) keeps the digest on its first copy only."""
    connection = op.get_bind()
    table = sa.table(
        "deliveries",
        sa.column("id", sa.Integer),
        sa.column("source", sa.String),
        sa.column("body", sa.LargeBinary),
        sa.column("body_digest", sa.String),
    )
    seen: set[tuple[str, str]] = set()
    last = 0
    while True:
        rows = connection.execute(
            sa.select(table.c.id, table.c.source, table.c.body)
            .where(table.c.id > last)
            .order_by(table.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        for row in rows:
            digest = "sha256:" + hashlib.sha256(row.body or b"").hexdigest()
            if (row.source, digest) not in seen:
                seen.add((row.source, digest))
                connection.execute(sa.update(table).where(table.c.id == row.id).values(body_digest=digest))
        last = rows[-1].id


def downgrade() -> None:
    op.drop_index("uq_deliveries_source_body_digest", "deliveries")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("body_digest")
    op.drop_table("instance")
