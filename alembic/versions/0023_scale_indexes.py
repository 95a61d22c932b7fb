"""inbox indexes for a national season; cohort on audit events (issue 11)

- The inbox indexes per 院系 and per school carry (PostgreSQL INCLUDE) every other column the inbox's counts
  filter or group by (optional, assignee_id, process_id, department_id), so a count is an index-only scan of
  the scope's own entries instead of a heap visit per item.
- The 已审核 tab reads a scope's decided items newest first from an index in that order (role, scope, state,
  completed_at, id), instead of sorting every decided item of the scope for each page. Not a partial index
  (WHERE state = 'completed'): a generic plan of the parameterised query could not use it.
- audit_event gets the cohort (届) of its instance, backfilled, so every table of a season carries its
  partition key (docs/PARTITIONING.md). The backfill goes through audit_maintenance, the append-only
  triggers' (0018) one door.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-02 20:05:00
"""
import sqlalchemy as sa

from alembic import op

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None

INCLUDE = ['optional', 'assignee_id', 'process_id']  # the school's also groups by department_id


def _inbox_indexes(include: bool) -> None:
    op.drop_index('ix_work_item_department', table_name='work_item')
    op.drop_index('ix_work_item_school', table_name='work_item')
    op.create_index('ix_work_item_department', 'work_item', ['role', 'state', 'department_id', 'created_at', 'id'],
                    unique=False, **({'postgresql_include': INCLUDE} if include else {}))
    op.create_index('ix_work_item_school', 'work_item', ['role', 'state', 'school_id', 'created_at', 'id'],
                    unique=False, **({'postgresql_include': [*INCLUDE, 'department_id']} if include else {}))


def upgrade() -> None:
    _inbox_indexes(True)
    # state after the scope: whatever state a page asks for, its rows come in completed_at order
    op.create_index('ix_work_item_department_done', 'work_item',
                    ['role', 'department_id', 'state', 'completed_at', 'id'], unique=False)
    op.create_index('ix_work_item_school_done', 'work_item', ['role', 'school_id', 'state', 'completed_at', 'id'],
                    unique=False)
    # not batch mode: on SQLite a rebuilt table would lose its append-only triggers
    op.add_column('audit_event', sa.Column('cohort', sa.Integer(), nullable=True))
    op.execute("INSERT INTO audit_maintenance (id, reason) VALUES (23, 'migration 0023: backfill cohort')")
    op.execute('UPDATE audit_event SET cohort = (SELECT cohort FROM process_instance '
               'WHERE process_instance.id = audit_event.instance_id)')
    op.execute('DELETE FROM audit_maintenance WHERE id = 23')


def downgrade() -> None:
    with op.batch_alter_table('audit_event', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('cohort')
    op.drop_index('ix_work_item_school_done', table_name='work_item')
    op.drop_index('ix_work_item_department_done', table_name='work_item')
    _inbox_indexes(False)
