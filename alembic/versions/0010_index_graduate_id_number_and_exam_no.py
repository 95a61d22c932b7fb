"""index graduate.id_number (the current-graduate look-up on every request) and (name, exam_no) (the
employer's look-up): both were sequential scans, 164 ms and 145 ms at 1 M graduates (issue 11)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 01:10:00
"""
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('graduate', schema=None) as batch_op:
        batch_op.create_index('ix_graduate_id_number', ['id_number'], unique=False)
        batch_op.create_index('ix_graduate_name_exam_no', ['name', 'exam_no'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('graduate', schema=None) as batch_op:
        batch_op.drop_index('ix_graduate_name_exam_no')
        batch_op.drop_index('ix_graduate_id_number')
