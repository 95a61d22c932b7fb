"""64-bit ids on the append-only tables: work items, audit, outbox, messages, access log (issue 11)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-02 18:30:00

PostgreSQL only: the columns and their sequences become bigint. SQLite's INTEGER PRIMARY KEY is
already 64-bit, so nothing changes there.
"""
import sqlalchemy as sa
from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

COLUMNS = [('work_item', 'id'), ('audit_event', 'id'), ('outbox_message', 'id'), ('message', 'id'),
           ('access_log', 'id'), ('assist_link', 'work_item_id')]


def _retype(to: str) -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    for table, column in COLUMNS:
        op.execute(sa.text(f'ALTER TABLE {table} ALTER COLUMN {column} TYPE {to}'))
        if column == 'id':
            op.execute(sa.text(f"ALTER SEQUENCE IF EXISTS {table}_id_seq AS {to}"))


def upgrade() -> None:
    # the audit tables refuse UPDATE through their triggers (0018); a type change is DDL, not an UPDATE
    _retype('bigint')


def downgrade() -> None:
    _retype('integer')
