"""add confirmation: a graduate's 去向登记确认 state (CNF), which verification reports depend on (VER-6)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 00:05:00
"""
import sqlalchemy as sa

from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'confirmation',
        sa.Column('graduate_id', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('confirmed_at', sa.DateTime(), nullable=True),
        sa.Column('error_parts', sa.JSON(), nullable=False),
        sa.Column('error_mobile', sa.String(length=20), nullable=True),
        sa.Column('changed_parts', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['graduate_id'], ['graduate.id'], name=op.f('fk_confirmation_graduate_id_graduate')),
        sa.PrimaryKeyConstraint('graduate_id', name=op.f('pk_confirmation')),
    )


def downgrade() -> None:
    op.drop_table('confirmation')
