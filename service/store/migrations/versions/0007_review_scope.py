"""Reviews remember the rule that selected their incident (its scope is computed from it) and the
header lessonloop wrote in them (never read back as lesson text, recipients or follow-ups).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reviews") as batch:
        batch.add_column(sa.Column("rule", sa.String(200)))
        batch.add_column(sa.Column("header", sa.Text()))


def downgrade() -> None:
    with op.batch_alter_table("reviews") as batch:
        batch.drop_column("header")
        batch.drop_column("rule")
