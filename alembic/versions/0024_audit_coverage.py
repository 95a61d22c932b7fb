"""audit coverage (issue 12 must-hold 6): access_log.kind, and verification_lookup append-only

access_log now holds logins, logouts, public agreement checks and steps no other audit row records, beside the
refusals it held; `kind` tells them apart (existing rows are refusals). verification_lookup (VER-8: every public
look-up) gets the append-only triggers migration 0018 gave the other audit tables.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-02 20:05:00
"""
import sqlalchemy as sa

from alembic import op

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None

TABLE = 'verification_lookup'


def upgrade() -> None:
    with op.batch_alter_table('access_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=20), server_default='refusal', nullable=False))
    if op.get_bind().dialect.name == 'postgresql':  # gradflow_append_only() comes from 0018
        op.execute(f'CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE} '
                   'FOR EACH ROW EXECUTE FUNCTION gradflow_append_only()')
        op.execute(f'CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE} '
                   'FOR EACH STATEMENT EXECUTE FUNCTION gradflow_append_only()')
    else:
        for event in ('UPDATE', 'DELETE'):
            op.execute(f"CREATE TRIGGER {TABLE}_no_{event.lower()} BEFORE {event} ON {TABLE} "
                       "WHEN NOT EXISTS (SELECT 1 FROM audit_maintenance) "
                       f"BEGIN SELECT RAISE(ABORT, '{TABLE} is append-only: {event} refused'); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(f'DROP TRIGGER IF EXISTS {TABLE}_append_only ON {TABLE}')
        op.execute(f'DROP TRIGGER IF EXISTS {TABLE}_no_truncate ON {TABLE}')
    else:
        for event in ('update', 'delete'):
            op.execute(f'DROP TRIGGER IF EXISTS {TABLE}_no_{event}')
    with op.batch_alter_table('access_log', schema=None) as batch_op:
        batch_op.drop_column('kind')
