"""files behind a storage port: attachment and PDF rows keep a storage key, not their bytes (issue 11)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02 18:20:00

Rows written before this revision keep their inline bytes and are still read from there;
`gradflow storage move` puts them into the blob store and empties the column.
"""
import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None

TABLES = {'attachment': 'data', 'agreement_document': 'pdf', 'verification_document': 'pdf'}


def upgrade() -> None:
    for table, column in TABLES.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('storage_key', sa.String(length=64), nullable=True))
            batch_op.alter_column(column, existing_type=sa.LargeBinary(), nullable=True)


def downgrade() -> None:
    for table, column in TABLES.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(column, existing_type=sa.LargeBinary(), nullable=False)
            batch_op.drop_column('storage_key')
