"""graduate import jobs and their errors (GRAD-1 bulk upload of basic information)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 13:30:00
"""
import sqlalchemy as sa

from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'graduate_import_job',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('school_id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=True),
        sa.Column('filename', sa.String(length=200), nullable=False),
        sa.Column('file_kind', sa.String(length=10), nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=True),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('total_rows', sa.Integer(), nullable=False),
        sa.Column('processed_rows', sa.Integer(), nullable=False),
        sa.Column('created_rows', sa.Integer(), nullable=False),
        sa.Column('updated_rows', sa.Integer(), nullable=False),
        sa.Column('unchanged_rows', sa.Integer(), nullable=False),
        sa.Column('revived_rows', sa.Integer(), nullable=False),
        sa.Column('error_rows', sa.Integer(), nullable=False),
        sa.Column('message', sa.String(length=500), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('started_at', sa.DateTime(), nullable=True),
        sa.Column('heartbeat_at', sa.DateTime(), nullable=True),
        sa.Column('finished_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['school_id'], ['school.id'], name=op.f('fk_graduate_import_job_school_id_school')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_graduate_import_job')),
    )
    with op.batch_alter_table('graduate_import_job', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_graduate_import_job_school_id'), ['school_id'], unique=False)
    op.create_table(
        'graduate_import_error',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('job_id', sa.Integer(), nullable=False),
        sa.Column('row', sa.Integer(), nullable=False),
        sa.Column('column', sa.String(length=30), nullable=False),
        sa.Column('value', sa.String(length=200), nullable=False),
        sa.Column('reason', sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(['job_id'], ['graduate_import_job.id'],
                                name=op.f('fk_graduate_import_error_job_id_graduate_import_job')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_graduate_import_error')),
    )
    with op.batch_alter_table('graduate_import_error', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_graduate_import_error_job_id'), ['job_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('graduate_import_error', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_graduate_import_error_job_id'))
    op.drop_table('graduate_import_error')
    with op.batch_alter_table('graduate_import_job', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_graduate_import_job_school_id'))
    op.drop_table('graduate_import_job')
