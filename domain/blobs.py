"""File contents of rows (attachments, PDFs) through the storage port (core.storage, issue 11).

A row keeps `storage_key` (the sha256 of its bytes) and no bytes; rows written before migration 0019
still carry their bytes inline and are read from there until `gradflow storage move` moves them."""
from __future__ import annotations

import time

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from core.db import Base
from core.storage import BlobMissing, BlobStore

BLOBS = "blobs"  # the key of the store in Session.info (gradflow.runtime puts it there)

__all__ = ["BLOBS", "BlobMissing", "store_of", "put", "read", "move_inline", "sweep"]
SWEEP_MIN_AGE_SECONDS = 24 * 3600  # a file younger than this may belong to a transaction still running


def store_of(session: Session) -> BlobStore:
    store = session.info.get(BLOBS)
    if store is None:
        raise RuntimeError("this session has no blob store: make sessions with runtime.Session")
    return store


def put(session: Session, data: bytes) -> str:
    """Store the bytes now (before the row's commit; content addressed, so a rollback leaves a harmless orphan)."""
    return store_of(session).put(data)


def read(session: Session, key: str | None, inline: bytes | None = None) -> bytes:
    """The bytes of a row: from the store by key, or the inline bytes of a row from before the store."""
    if key:
        return store_of(session).get(key)
    if inline is None:
        raise BlobMissing("the row has neither a storage key nor inline bytes")
    return bytes(inline)


def _file_tables() -> list[tuple[Table, str]]:
    """Every table with a storage_key, and the column that held its bytes before the store."""
    found = []
    for table in Base.metadata.sorted_tables:
        if "storage_key" in table.c:
            inline = next((c.name for c in table.c if c.name in ("data", "pdf")), None)
            if inline:
                found.append((table, inline))
    return found


def move_inline(session: Session, batch: int = 200) -> int:
    """Put the inline bytes of older rows into the store, one committed batch at a time; returns rows moved."""
    moved = 0
    for table, inline in _file_tables():
        column = table.c[inline]
        while True:
            rows = session.execute(select(table.c.id, column).where(table.c.storage_key.is_(None),
                                                                     column.is_not(None)).limit(batch)).all()
            if not rows:
                break
            for row_id, data in rows:
                key = put(session, bytes(data))
                session.execute(update(table).where(table.c.id == row_id).values(storage_key=key, **{inline: None}))
            session.commit()
            moved += len(rows)
    return moved


def sweep(session: Session, *, min_age_seconds: float = SWEEP_MIN_AGE_SECONDS, dry_run: bool = False) -> list[str]:
    """Remove stored files no row names (left by a rolled-back upload), older than min_age_seconds."""
    used: set[str] = set()
    for table, _inline in _file_tables():
        used.update(k for k in session.scalars(select(table.c.storage_key).where(table.c.storage_key.is_not(None))))
    store = store_of(session)
    cutoff = time.time() - min_age_seconds
    orphans = [key for key, written in store.listing() if key not in used and written < cutoff]
    if not dry_run:
        for key in orphans:
            store.delete(key)
    return orphans
