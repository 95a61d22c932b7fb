"""attachment.used_at: uploads that no form ever took up can be swept (issue 12)

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-02 20:30:00

Rows that exist before this migration count as used (their forms were submitted under the old code,
which did not record it): the sweep must never remove an image a record may show.
"""
import sqlalchemy as sa

from alembic import op

revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('attachment') as batch:
        batch.add_column(sa.Column('used_at', sa.DateTime(), nullable=True))
    op.execute(sa.text('UPDATE attachment SET used_at = created_at'))
    op.create_index('ix_attachment_unused', 'attachment', ['used_at', 'created_at'])


def downgrade() -> None:
    op.drop_index('ix_attachment_unused', table_name='attachment')
    with op.batch_alter_table('attachment') as batch:
        batch.drop_column('used_at')
