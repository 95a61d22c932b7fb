"""indexes and partitions for national scale (issue 11) (reserved)

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-02 20:05:00
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
