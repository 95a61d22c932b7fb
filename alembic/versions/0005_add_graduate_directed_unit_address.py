"""add graduate.directed_unit_address: the 定向/委培 unit's address, uploaded by the school (GRAD-6)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 23:50:00
"""
import sqlalchemy as sa

from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('graduate', schema=None) as batch_op:
        batch_op.add_column(sa.Column('directed_unit_address', sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('graduate', schema=None) as batch_op:
        batch_op.drop_column('directed_unit_address')
