"""instance state in its own table (issue 11) (reserved)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-02 20:05:00
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
