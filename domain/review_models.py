"""The reviewer inbox's saved filters (issue 10): per account, named, a filter's query string."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, utcnow


class SavedFilter(Base):
    """One named inbox filter of one reviewer account. It holds only the query string: applying it runs the
    inbox's own query under the access policy's filter, so a saved filter never widens the scope (ROLE-1)."""

    __tablename__ = "review_saved_filter"
    __table_args__ = (UniqueConstraint("account_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    name: Mapped[str] = mapped_column(String(50))
    query: Mapped[str] = mapped_column(String(1000), default="")  # url-encoded inbox arguments, page excluded
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
