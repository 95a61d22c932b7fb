"""audit coverage (issue 12) (reserved)

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-02 20:05:00
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
