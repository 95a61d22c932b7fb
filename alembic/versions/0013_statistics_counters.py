"""statistics: each graduate's state per module and the counters the statistics pages read (PRV-2)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 13:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'graduate_stat',
        sa.Column('graduate_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('school_id', sa.Integer(), nullable=False),
        sa.Column('department_id', sa.Integer(), nullable=False),
        sa.Column('cohort', sa.Integer(), nullable=False),
        sa.Column('destination', sa.String(length=12), nullable=False),
        sa.Column('dest_category', sa.String(length=30), nullable=False),
        sa.Column('dest_type', sa.String(length=30), nullable=False),
        sa.Column('archive', sa.String(length=12), nullable=False),
        sa.Column('hukou', sa.String(length=12), nullable=False),
        sa.ForeignKeyConstraint(['graduate_id'], ['graduate.id'], name=op.f('fk_graduate_stat_graduate_id_graduate')),
        sa.PrimaryKeyConstraint('graduate_id', name=op.f('pk_graduate_stat')),
    )
    with op.batch_alter_table('graduate_stat', schema=None) as batch_op:
        batch_op.create_index('ix_graduate_stat_school_graduate', ['school_id', 'graduate_id'], unique=False)
        batch_op.create_index('ix_graduate_stat_school_archive', ['school_id', 'archive', 'graduate_id'], unique=False)
        batch_op.create_index('ix_graduate_stat_school_hukou', ['school_id', 'hukou', 'graduate_id'], unique=False)
    op.create_table(
        'stat_counter',
        sa.Column('school_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('department_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('cohort', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('module', sa.String(length=12), nullable=False),
        sa.Column('bucket', sa.String(length=40), nullable=False),
        sa.Column('n', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('school_id', 'department_id', 'cohort', 'module', 'bucket',
                                name=op.f('pk_stat_counter')),
    )
    # data: count the graduates a database already holds. The process areas (ROLE-2) are those of the
    # modules at this revision: archive_* -> archive, hukou_* -> hukou, every other process -> basic.
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT 1 FROM graduate LIMIT 1")).first() is None:
        return
    from sqlalchemy.orm import Session

    from domain.statistics import rebuild_statistics

    pids = [r[0] for r in bind.execute(sa.text("SELECT DISTINCT process_id FROM work_item"))]
    areas = {pid: 'archive' if pid.startswith('archive_') else 'hukou' if pid.startswith('hukou_') else 'basic'
             for pid in pids}
    session = Session(bind=bind)
    rebuild_statistics(session, areas)
    session.flush()


def downgrade() -> None:
    op.drop_table('stat_counter')
    with op.batch_alter_table('graduate_stat', schema=None) as batch_op:
        batch_op.drop_index('ix_graduate_stat_school_hukou')
        batch_op.drop_index('ix_graduate_stat_school_archive')
        batch_op.drop_index('ix_graduate_stat_school_graduate')
    op.drop_table('graduate_stat')
