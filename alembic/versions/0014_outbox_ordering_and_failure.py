"""outbox: per-key delivery order, sequence and give-up time (PRV-3 data sync)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 13:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

MAX_ATTEMPTS = 8  # engine.outbox.MAX_ATTEMPTS at this revision


def upgrade() -> None:
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ordering_key', sa.String(length=60), nullable=True))
        batch_op.add_column(sa.Column('sequence', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('failed_at', sa.DateTime(), nullable=True))
        batch_op.create_index('ix_outbox_message_ordering_key_id', ['ordering_key', 'id'], unique=False)
    # rows the deliverer had already given up on (silently, before this revision) now say so
    op.execute(sa.text("UPDATE outbox_message SET failed_at = available_at "
                       "WHERE delivered_at IS NULL AND attempts >= :n").bindparams(n=MAX_ATTEMPTS))


def downgrade() -> None:
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_message_ordering_key_id')
        batch_op.drop_column('failed_at')
        batch_op.drop_column('sequence')
        batch_op.drop_column('ordering_key')
