"""admin: reassign an open work item to one account (work_item.assignee_id)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 17:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("work_item") as batch:
        batch.add_column(sa.Column("assignee_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("work_item") as batch:
        batch.drop_column("assignee_id")
