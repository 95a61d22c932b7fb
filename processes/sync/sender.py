"""PRV-3 delivery: POST each sync row as JSON to GRADFLOW_SYNC_URL with `Idempotency-Key: <row id>`.

A 2xx answer is the acknowledgement; anything else (another status, a timeout, a refused connection) is a
failure the outbox retries with back-off, without giving up (engine.outbox.RemoteSender, max_attempts=None).
The key is the outbox row id, the same on every retry, so the receiver stores each change once.
"""
from __future__ import annotations

import threading
from typing import Any

import requests

from core.config import sync_timeout_seconds, sync_url
from engine.models import OutboxMessage
from engine.outbox import RemoteSender

_http_lock = threading.Lock()
_http_session: list[requests.Session] = []
POOL = 32  # kept-alive connections, shared by the outbox's sending threads


class SyncRejected(RuntimeError):
    """The receiver answered, but not with 2xx."""


def _http() -> requests.Session:
    """One session per process with a pool of kept-alive connections (the outbox sends from several threads)."""
    with _http_lock:
        if not _http_session:
            http = requests.Session()
            adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=POOL)
            http.mount("http://", adapter)
            http.mount("https://", adapter)
            _http_session.append(http)
        return _http_session[0]


def body(row: OutboxMessage) -> dict[str, Any]:
    return {"id": row.id, **row.payload}


def post(row: OutboxMessage) -> None:
    url = sync_url()
    if not url:
        raise SyncRejected("未配置 GRADFLOW_SYNC_URL（数据同步未启用）")
    resp = _http().post(url, json=body(row), timeout=sync_timeout_seconds(),
                        headers={"Idempotency-Key": str(row.id), "User-Agent": "gradflow-sync/1"})
    if not 200 <= resp.status_code < 300:
        raise SyncRejected(f"HTTP {resp.status_code}: {resp.text[:200]}")


SENDER = RemoteSender(post, timeout=sync_timeout_seconds, enabled=lambda: bool(sync_url()), max_attempts=None)
