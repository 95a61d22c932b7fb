"""instance state in its own table, zlib-compressed (issue 11)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-02 20:05:00

process_instance.serialized (11.5-14 KB of JSON read by every list query) moves to instance_state:
zlib of the same JSON, level 9 for finished instances and 1 for the others (engine.serialization; the
levels are written out here so this migration keeps its meaning when that code changes). The backfill
runs both ways in batches of BATCH rows.
"""
import zlib

import sqlalchemy as sa

from alembic import op

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None

BATCH = 2000
FINISHED = ('completed', 'terminated')
instance = sa.table('process_instance', sa.column('id', sa.Integer), sa.column('status', sa.String),
                    sa.column('serialized', sa.Text), sa.column('updated_at', sa.DateTime))
state = sa.table('instance_state', sa.column('instance_id', sa.Integer), sa.column('data', sa.LargeBinary),
                 sa.column('size', sa.Integer), sa.column('updated_at', sa.DateTime))


def _batches(conn, query, key):
    """Rows of `query` in id order, BATCH at a time (keyset: no OFFSET scan, bounded memory)."""
    last = 0
    while True:
        rows = conn.execute(query.where(key > last).order_by(key).limit(BATCH)).all()
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def upgrade() -> None:
    op.create_table(
        'instance_state',
        sa.Column('instance_id', sa.Integer(), nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'],
                                name=op.f('fk_instance_state_instance_id_process_instance'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('instance_id', name=op.f('pk_instance_state')),
    )
    conn = op.get_bind()
    query = sa.select(instance.c.id, instance.c.status, instance.c.serialized, instance.c.updated_at)
    for rows in _batches(conn, query, instance.c.id):
        values = []
        for row in rows:
            data = zlib.compress((row.serialized or '{}').encode(), 9 if row.status in FINISHED else 1)
            values.append({'instance_id': row.id, 'data': data, 'size': len(data), 'updated_at': row.updated_at})
        conn.execute(state.insert(), values)
    with op.batch_alter_table('process_instance', schema=None) as batch_op:
        batch_op.drop_column('serialized')


def downgrade() -> None:
    with op.batch_alter_table('process_instance', schema=None) as batch_op:
        batch_op.add_column(sa.Column('serialized', sa.Text(), nullable=True))
    conn = op.get_bind()
    query = sa.select(state.c.instance_id, state.c.data)
    for rows in _batches(conn, query, state.c.instance_id):
        conn.execute(  # executemany of one UPDATE with bound parameters
            instance.update().where(instance.c.id == sa.bindparam('iid')).values(serialized=sa.bindparam('text')),
            [{'iid': row.instance_id, 'text': zlib.decompress(row.data).decode()} for row in rows])
    conn.execute(instance.update().where(instance.c.serialized.is_(None)).values(serialized='{}'))
    with op.batch_alter_table('process_instance', schema=None) as batch_op:
        batch_op.alter_column('serialized', existing_type=sa.Text(), nullable=False)
    op.drop_table('instance_state')
