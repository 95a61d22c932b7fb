"""add verification reports: the graduate's 核验报告 (VER-1..6), the school's 转递编号 (VER-7), every public
look-up (VER-8) and the rendered report PDFs (DOC-2)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 00:08:00
"""
import sqlalchemy as sa

from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'verification_report',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('graduate_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('code', sa.String(length=15), nullable=False),
        sa.Column('valid_until', sa.Date(), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('active_key', sa.String(length=30), nullable=True),
        sa.Column('closed_at', sa.DateTime(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['graduate_id'], ['graduate.id'],
                                name=op.f('fk_verification_report_graduate_id_graduate')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_verification_report')),
        sa.UniqueConstraint('code', name=op.f('uq_verification_report_code')),
        sa.UniqueConstraint('active_key', name=op.f('uq_verification_report_active_key')),
    )
    with op.batch_alter_table('verification_report', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_verification_report_graduate_id'), ['graduate_id'], unique=False)

    op.create_table(
        'transfer_code',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('graduate_id', sa.Integer(), nullable=False),
        sa.Column('code', sa.String(length=15), nullable=False),
        sa.Column('valid_until', sa.Date(), nullable=False),
        sa.Column('issued_by', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['graduate_id'], ['graduate.id'], name=op.f('fk_transfer_code_graduate_id_graduate')),
        sa.ForeignKeyConstraint(['issued_by'], ['account.id'], name=op.f('fk_transfer_code_issued_by_account')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_transfer_code')),
        sa.UniqueConstraint('graduate_id', name=op.f('uq_transfer_code_graduate_id')),
        sa.UniqueConstraint('code', name=op.f('uq_transfer_code_code')),
    )

    op.create_table(
        'verification_lookup',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('client', sa.String(length=64), nullable=False),
        sa.Column('code_digest', sa.String(length=64), nullable=False),
        sa.Column('report_id', sa.Integer(), nullable=True),
        sa.Column('transfer_code_id', sa.Integer(), nullable=True),
        sa.Column('via', sa.String(length=10), nullable=False),
        sa.Column('outcome', sa.String(length=10), nullable=False),
        sa.Column('reason', sa.String(length=20), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_verification_lookup')),
    )
    with op.batch_alter_table('verification_lookup', schema=None) as batch_op:
        batch_op.create_index('ix_verification_lookup_created_at', ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_verification_lookup_code_digest'), ['code_digest'], unique=False)
        batch_op.create_index(batch_op.f('ix_verification_lookup_report_id'), ['report_id'], unique=False)

    op.create_table(
        'verification_document',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('graduate_id', sa.Integer(), nullable=False),
        sa.Column('content_key', sa.String(length=64), nullable=False),
        sa.Column('pdf', sa.LargeBinary(), nullable=False),
        sa.Column('render_ms', sa.Integer(), nullable=False),
        sa.Column('rendered_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['graduate_id'], ['graduate.id'],
                                name=op.f('fk_verification_document_graduate_id_graduate')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_verification_document')),
        sa.UniqueConstraint('content_key', name=op.f('uq_verification_document_content_key')),
    )
    with op.batch_alter_table('verification_document', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_verification_document_graduate_id'), ['graduate_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('verification_document', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_verification_document_graduate_id'))
    op.drop_table('verification_document')
    with op.batch_alter_table('verification_lookup', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_verification_lookup_report_id'))
        batch_op.drop_index(batch_op.f('ix_verification_lookup_code_digest'))
        batch_op.drop_index('ix_verification_lookup_created_at')
    op.drop_table('verification_lookup')
    op.drop_table('transfer_code')
    with op.batch_alter_table('verification_report', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_verification_report_graduate_id'))
    op.drop_table('verification_report')
