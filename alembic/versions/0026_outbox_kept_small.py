"""outbox_message kept small: a partial index of the pending rows, and autovacuum that keeps up (issue 11)

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-03 06:30:00

The deliverer's query reads pending rows in id order. The full indexes on available_at and delivered_at covered
every row ever written; a partial index of the pending rows (delivered_at and failed_at null) holds only the
backlog, so it stays a few pages however many rows were delivered, and the retention purge reads a partial index
of the delivered ones. On PostgreSQL the table is vacuumed after 1 % of it changed (not the default 20 %).
Retention (engine/outbox.py): rows of an ordering key, which the
sync page shows, stay 30 days; every other delivered row (notifications, renders) one day.
"""
import sqlalchemy as sa

from alembic import op

revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None

PENDING = 'delivered_at IS NULL AND failed_at IS NULL'
DELIVERED = 'delivered_at IS NOT NULL'


def upgrade() -> None:
    op.drop_index('ix_outbox_message_available_at', table_name='outbox_message')
    op.drop_index('ix_outbox_message_delivered_at', table_name='outbox_message')
    op.create_index('ix_outbox_message_pending', 'outbox_message', ['id'],
                    postgresql_where=sa.text(PENDING), sqlite_where=sa.text(PENDING))
    # the retention purge (delivered_at < cutoff) reads the delivered rows only
    op.create_index('ix_outbox_message_delivered', 'outbox_message', ['delivered_at'],
                    postgresql_where=sa.text(DELIVERED), sqlite_where=sa.text(DELIVERED))
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(sa.text('ALTER TABLE outbox_message SET (autovacuum_vacuum_scale_factor = 0.01, '
                           'autovacuum_vacuum_threshold = 1000, autovacuum_analyze_scale_factor = 0.02)'))


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(sa.text('ALTER TABLE outbox_message RESET (autovacuum_vacuum_scale_factor, '
                           'autovacuum_vacuum_threshold, autovacuum_analyze_scale_factor)'))
    op.drop_index('ix_outbox_message_delivered', table_name='outbox_message')
    op.drop_index('ix_outbox_message_pending', table_name='outbox_message')
    op.create_index('ix_outbox_message_delivered_at', 'outbox_message', ['delivered_at'])
    op.create_index('ix_outbox_message_available_at', 'outbox_message', ['available_at'])
