"""cohorts as records (GRAD-4) and on instances, work items and agreements; ROLE-2 permissions per
account; an audited log of setting changes (issue 9)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 13:24:53
"""
import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'cohort',
        sa.Column('year', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('name', sa.String(length=20), nullable=False),
        sa.Column('starts_on', sa.Date(), nullable=False),
        sa.Column('ends_on', sa.Date(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('year', name=op.f('pk_cohort')),
    )
    op.create_table(
        'setting_change',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=True),
        sa.Column('actor_name', sa.String(length=100), nullable=False),
        sa.Column('action', sa.String(length=50), nullable=False),
        sa.Column('target', sa.String(length=20), nullable=False),
        sa.Column('target_id', sa.Integer(), nullable=False),
        sa.Column('before', sa.JSON(), nullable=True),
        sa.Column('after', sa.JSON(), nullable=True),
        sa.Column('reason', sa.String(length=200), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_setting_change')),
    )
    with op.batch_alter_table('setting_change', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_setting_change_created_at'), ['created_at'], unique=False)
        batch_op.create_index('ix_setting_change_target', ['target', 'target_id'], unique=False)

    # every cohort year the graduates already carry becomes a record (season: September before to December)
    op.execute(
        "INSERT INTO cohort (year, name, starts_on, ends_on, created_at, updated_at) "
        "SELECT DISTINCT cohort, CAST(cohort AS VARCHAR(4)) || '届', "
        "CAST(CAST(cohort - 1 AS VARCHAR(4)) || '-09-01' AS DATE), CAST(CAST(cohort AS VARCHAR(4)) || '-12-31' AS DATE), "
        "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP FROM graduate"
    )
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('module_permissions', sa.JSON(), server_default='{}', nullable=False))
    with op.batch_alter_table('agreement', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cohort', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_agreement_cohort'), ['cohort'], unique=False)
    with op.batch_alter_table('graduate', schema=None) as batch_op:
        batch_op.create_foreign_key(batch_op.f('fk_graduate_cohort_cohort'), 'cohort', ['cohort'], ['year'])
    with op.batch_alter_table('process_instance', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cohort', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_process_instance_cohort'), ['cohort'], unique=False)
    with op.batch_alter_table('work_item', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cohort', sa.Integer(), nullable=True))
    op.execute("UPDATE process_instance SET cohort = (SELECT g.cohort FROM graduate g "
               "WHERE g.id = process_instance.graduate_id) WHERE graduate_id IS NOT NULL")
    op.execute("UPDATE work_item SET cohort = (SELECT i.cohort FROM process_instance i "
               "WHERE i.id = work_item.instance_id)")
    op.execute("UPDATE agreement SET cohort = (SELECT g.cohort FROM graduate g WHERE g.id = agreement.graduate_id)")


def downgrade() -> None:
    with op.batch_alter_table('work_item', schema=None) as batch_op:
        batch_op.drop_column('cohort')
    with op.batch_alter_table('process_instance', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_process_instance_cohort'))
        batch_op.drop_column('cohort')
    with op.batch_alter_table('graduate', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_graduate_cohort_cohort'), type_='foreignkey')
    with op.batch_alter_table('agreement', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agreement_cohort'))
        batch_op.drop_column('cohort')
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.drop_column('module_permissions')
    with op.batch_alter_table('setting_change', schema=None) as batch_op:
        batch_op.drop_index('ix_setting_change_target')
        batch_op.drop_index(batch_op.f('ix_setting_change_created_at'))
    op.drop_table('setting_change')
    op.drop_table('cohort')
