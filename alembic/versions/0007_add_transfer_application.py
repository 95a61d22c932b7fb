"""add transfer_application: archive and hukou registration / change applications (ARC-5, ARC-6, HUK-1)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 00:07:00
"""
import sqlalchemy as sa

from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'transfer_application',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('graduate_id', sa.Integer(), nullable=False),
        sa.Column('instance_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('action', sa.String(length=20), nullable=False),
        sa.Column('fields', sa.JSON(), nullable=False),
        sa.Column('attachment_ids', sa.JSON(), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('reason', sa.String(length=200), nullable=True),
        sa.Column('decided_at', sa.DateTime(), nullable=True),
        sa.Column('open_key', sa.String(length=30), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['graduate_id'], ['graduate.id'],
                                name=op.f('fk_transfer_application_graduate_id_graduate')),
        sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'],
                                name=op.f('fk_transfer_application_instance_id_process_instance')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_transfer_application')),
        sa.UniqueConstraint('instance_id', name=op.f('uq_transfer_application_instance_id')),
        sa.UniqueConstraint('open_key', name=op.f('uq_transfer_application_open_key')),
    )
    with op.batch_alter_table('transfer_application', schema=None) as batch_op:
        batch_op.create_index('ix_transfer_application_graduate_kind', ['graduate_id', 'kind'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('transfer_application', schema=None) as batch_op:
        batch_op.drop_index('ix_transfer_application_graduate_kind')
    op.drop_table('transfer_application')
