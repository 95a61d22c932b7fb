"""`gradflow sync-receiver`: a small stand-in for the employment management system (就业管理系统), for tests and demos.

POST (any path) with a JSON body and an `Idempotency-Key` header: stored once per key in a SQLite file; a key
seen before answers 200 again and counts as a duplicate. `--fail-first N` answers the first N POSTs with 503;
`--delay S` waits S seconds after storing, before answering (a slow system; an acknowledgement the sender may
never see). GET /stats: {"received", "unique", "duplicates", "failed"}; GET /changes: what was stored, in
arrival order.
"""
from __future__ import annotations

import json
import sqlite3
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS change (n INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT UNIQUE NOT NULL,
                                   body TEXT NOT NULL, received_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS request (n INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT, outcome TEXT NOT NULL,
                                    at REAL NOT NULL);
"""


class Store:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")  # a test and demo stand-in: durable enough, and fast
        self.conn.executescript(SCHEMA)
        self.lock = threading.Lock()

    def log(self, key: str | None, outcome: str) -> None:
        with self.lock:
            self.conn.execute("INSERT INTO request (key, outcome, at) VALUES (?, ?, ?)", (key, outcome, time.time()))

    def store(self, key: str, body: str) -> bool:
        """True when the key is new (stored), False for a duplicate."""
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                cur = self.conn.execute("INSERT OR IGNORE INTO change (key, body, received_at) VALUES (?, ?, ?)",
                                        (key, body, time.time()))
                new = cur.rowcount == 1
                self.conn.execute("INSERT INTO request (key, outcome, at) VALUES (?, ?, ?)",
                                  (key, "stored" if new else "duplicate", time.time()))
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            return new

    def stats(self) -> dict[str, int]:
        with self.lock:
            counts = dict(self.conn.execute("SELECT outcome, count(*) FROM request GROUP BY outcome").fetchall())
            unique = self.conn.execute("SELECT count(*) FROM change").fetchone()[0]
        stored, duplicates = counts.get("stored", 0), counts.get("duplicate", 0)
        return {"received": stored + duplicates, "unique": unique, "duplicates": duplicates,
                "failed": counts.get("failed", 0), "bad": counts.get("bad", 0)}

    def changes(self) -> list[dict[str, Any]]:
        with self.lock:
            rows = self.conn.execute("SELECT key, body FROM change ORDER BY n").fetchall()
        return [{"key": key, "body": json.loads(body)} for key, body in rows]


class Receiver(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # senders open several connections at once

    def __init__(self, address: tuple[str, int], store: Store, fail_first: int = 0, delay: float = 0.0):
        super().__init__(address, Handler)
        self.store = store
        self.fail_left = fail_first
        self.delay = delay
        self.fail_lock = threading.Lock()

    def should_fail(self) -> bool:
        with self.fail_lock:
            if self.fail_left > 0:
                self.fail_left -= 1
                return True
            return False


class Handler(BaseHTTPRequestHandler):
    server: Receiver
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # keep-alive without the 40 ms delayed-ACK stall per answer
    wbufsize = -1  # headers and body leave in one write (flushed after each request)

    def _answer(self, status: int, data: dict[str, Any] | list[Any]) -> None:
        raw = json.dumps(data, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path.rstrip("/") == "/stats":
            self._answer(200, self.server.store.stats())
        elif self.path.rstrip("/") == "/changes":
            self._answer(200, self.server.store.changes())
        else:
            self._answer(404, {"error": "not found"})

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        key = (self.headers.get("Idempotency-Key") or "").strip()
        store = self.server.store
        if self.server.should_fail():
            store.log(key or None, "failed")
            self._answer(503, {"error": "failing on purpose (--fail-first)"})
            return
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            body = None
        if not key or not isinstance(body, dict):
            store.log(key or None, "bad")
            self._answer(400, {"error": "an Idempotency-Key header and a JSON object body are required"})
            return
        new = store.store(key, json.dumps(body, ensure_ascii=False, sort_keys=True))
        if self.server.delay:
            time.sleep(self.server.delay)
        self._answer(200, {"status": "stored" if new else "duplicate", "key": key})

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        sys.stderr.write("sync-receiver: " + (format % args) + "\n")


def serve(host: str, port: int, db: Path, fail_first: int = 0, delay: float = 0.0) -> None:
    server = Receiver((host, port), Store(db), fail_first=fail_first, delay=delay)
    bound_port = server.server_address[1]
    print(f"sync-receiver listening on http://{host}:{bound_port}/ store={db}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
