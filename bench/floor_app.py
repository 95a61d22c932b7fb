"""The chosen stack with nothing of gradflow in it (issue 11: what does a request cost before any of our code runs?).

Served by gunicorn exactly as gradflow.wsgi:app is (bench/stack_floor.py starts it): Flask, SQLAlchemy 2 over
psycopg 3, the same pool (core.db.make_engine) and the same session factory, against one table shaped like
`audit_event`. Each endpoint parses a small JSON body and answers a small JSON document, like an API step:

- ``POST /noop``: no database at all;
- ``POST /core/<k>``: one transaction of `k` Core statements, cycling a primary-key SELECT, an INSERT ... RETURNING
  and a primary-key UPDATE (a step's mix of reads and writes);
- ``POST /orm/<k>``: the same `k` statements through the ORM as a step issues them (session.get of a row not in
  the session, session.add + flush, attribute set + flush), then commit.
"""
from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any, cast

from flask import Flask, abort, jsonify, request
from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Integer,
    String,
    Table,
    Text,
    bindparam,
    insert,
    select,
    update,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from core.db import make_engine, make_session_factory

ROWS = 10_000  # rows stack_floor.py seeds; the reads and updates pick among them


class Base(DeclarativeBase):
    pass


class FloorRow(Base):
    """As wide as an audit event: ids, a few short strings, two JSON documents, a timestamp."""
    __tablename__ = "floor_row"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    instance_id: Mapped[int] = mapped_column(Integer, index=True)
    actor_name: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(40))
    status_label: Mapped[str] = mapped_column(String(100), default="")
    reason: Mapped[str | None] = mapped_column(Text)
    data_before: Mapped[Any] = mapped_column(JSON, nullable=True)
    data_after: Mapped[Any] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)


_T = cast(Table, FloorRow.__table__)
_SELECT = select(_T).where(_T.c.id == bindparam("id"))
_INSERT = insert(_T).returning(_T.c.id)
_UPDATE = update(_T).where(_T.c.id == bindparam("rid")).values(status_label=bindparam("label"))
MAX_K = 64


def _row(n: int) -> dict[str, Any]:
    return {"instance_id": n, "actor_name": "测试学院审核员", "action": "complete", "status_label": "待学校审核",
            "reason": None, "data_before": None, "data_after": {"decision": "approve", "note": "bench"},
            "created_at": datetime.now(UTC).replace(tzinfo=None)}


class _Targets:
    """Rows the reads and updates pick, spread over the table (every worker thread shares one counter)."""

    def __init__(self) -> None:
        self._n = iter(range(1, 1 << 62))

    def __call__(self) -> int:
        return 1 + (next(self._n) * 7919) % ROWS


def core_statements(conn: Any, k: int, note: str, target: _Targets) -> list[int]:
    out = []
    for i in range(k):
        if i % 3 == 0:
            out.append(conn.execute(_SELECT, {"id": target()}).first()[0])
        elif i % 3 == 1:
            out.append(conn.execute(_INSERT, _row(i)).scalar_one())
        else:
            conn.execute(_UPDATE, {"rid": target(), "label": note})
    return out


def orm_statements(session: Session, k: int, note: str, target: _Targets) -> list[int | None]:
    out: list[int | None] = []
    held: list[FloorRow] = []  # keep the rows referenced: the identity map holds them weakly
    for i in range(k):
        if i % 3 == 0:
            row = session.get(FloorRow, target())
            out.append(row.id if row is not None else None)
            if row is not None:
                held.append(row)
        elif i % 3 == 1:
            new = FloorRow(**_row(i))
            session.add(new)
            session.flush()
            out.append(new.id)
            held.append(new)
        else:
            changed = held[-2] if len(held) > 1 else held[-1]
            changed.status_label = f"{note}{i}"
            session.flush()
    return out


def create_app() -> Flask:
    engine = make_engine(os.environ["DATABASE_URL"])
    sessions = make_session_factory(engine)
    app = Flask(__name__)
    target = _Targets()

    def body(k: int | None = None) -> dict[str, Any]:
        data = request.get_json(silent=True)
        if not isinstance(data, dict) or (k is not None and not 0 < k <= MAX_K):
            abort(400)
        return data

    @app.post("/noop")
    def noop():
        return jsonify({"ok": True, "echo": body()})

    @app.post("/core/<int:k>")
    def core(k: int):
        note = str(body(k).get("note", ""))
        with engine.begin() as conn:
            return jsonify({"ok": True, "ids": core_statements(conn, k, note, target)})

    @app.post("/orm/<int:k>")
    def orm(k: int):
        note = str(body(k).get("note", ""))
        with sessions() as session, session.begin():
            ids = orm_statements(session, k, note, target)
        return jsonify({"ok": True, "ids": ids})

    return app


app = create_app() if "DATABASE_URL" in os.environ else None
