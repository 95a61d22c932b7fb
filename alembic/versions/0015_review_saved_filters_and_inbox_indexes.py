"""reviewer inbox: saved filters; inbox indexes per department and per school in created_at order (issue 10)

The old ix_work_item_inbox (role, state, school_id, department_id, created_at) served neither page's order:
a department's query skips school_id, and a school's has department_id between its scope and created_at,
so both sorted every open item of their scope for each page. Each now reads its page from its own index.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 17:00:00
"""
import sqlalchemy as sa

from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'review_saved_filter',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=50), nullable=False),
        sa.Column('query', sa.String(length=1000), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_review_saved_filter_account_id_account')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_review_saved_filter')),
        sa.UniqueConstraint('account_id', 'name', name=op.f('uq_review_saved_filter_account_id')),
    )
    with op.batch_alter_table('review_saved_filter', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_review_saved_filter_account_id'), ['account_id'], unique=False)
    with op.batch_alter_table('work_item', schema=None) as batch_op:
        batch_op.drop_index('ix_work_item_inbox')
        batch_op.create_index('ix_work_item_department', ['role', 'state', 'department_id', 'created_at', 'id'],
                              unique=False)
        batch_op.create_index('ix_work_item_school', ['role', 'state', 'school_id', 'created_at', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('work_item', schema=None) as batch_op:
        batch_op.drop_index('ix_work_item_school')
        batch_op.drop_index('ix_work_item_department')
        batch_op.create_index('ix_work_item_inbox', ['role', 'state', 'school_id', 'department_id', 'created_at'],
                              unique=False)
    with op.batch_alter_table('review_saved_filter', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_review_saved_filter_account_id'))
    op.drop_table('review_saved_filter')
