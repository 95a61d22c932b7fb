"""SQL statements, pool checkouts and transactions on one engine, counted per step (issue 11).

Shared by `tests/test_sql_budget.py` (budgets) and `bench/step_profile.py` (the same counts with timings)."""
from __future__ import annotations

import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine


@dataclass
class Counts:
    statements: int = 0  # BEGIN is a transaction, not a statement
    checkouts: int = 0
    begins: int = 0
    commits: int = 0
    rollbacks: int = 0
    sql: list[str] = field(default_factory=list)
    cpu_ms: float = 0.0  # the step's thread CPU, when the caller measures it (bench/step_profile.py)


def _caller() -> str:
    """The project frames that issued a statement, innermost last (bench/step_profile.py --sql)."""
    frames = [f for f in traceback.extract_stack()[:-3]
              if "/site-packages/" not in f.filename and "sql_counter" not in f.filename
              and "step_profile" not in f.filename]
    return "  <- " + " < ".join(f"{Path(f.filename).stem}:{f.name}:{f.lineno}" for f in reversed(frames[-4:]))


class Counter:
    """Listens on `engine` while entered; `step()` counts what runs inside it."""

    def __init__(self, engine: Engine, keep_sql: bool = False):
        self.engine, self.keep_sql = engine, keep_sql
        self.now: Counts | None = None
        self._listeners = [(engine, "before_cursor_execute", self._statement),
                           (engine.pool, "checkout", self._checkout),
                           *((engine, name, self._tx(attr)) for name, attr in
                             (("begin", "begins"), ("commit", "commits"), ("rollback", "rollbacks")))]

    def _statement(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if self.now is not None and not statement.lstrip().upper().startswith("BEGIN"):
            self.now.statements += 1
            if self.keep_sql:
                self.now.sql.append(" ".join(statement.split())[:110] + _caller())

    def _checkout(self, dbapi_conn, record, proxy) -> None:
        if self.now is not None:
            self.now.checkouts += 1

    def _tx(self, attr: str):
        def listener(conn) -> None:
            if self.now is not None:
                setattr(self.now, attr, getattr(self.now, attr) + 1)
        return listener

    def __enter__(self) -> Counter:
        for target, name, fn in self._listeners:
            event.listen(target, name, fn)
        return self

    def __exit__(self, *exc) -> None:
        for target, name, fn in self._listeners:
            event.remove(target, name, fn)

    @contextmanager
    def step(self) -> Iterator[Counts]:
        self.now = counts = Counts()
        try:
            yield counts
        finally:
            self.now = None
