"""How fast does the outbox deliver data-sync rows (PRV-3) to the real `gradflow sync-receiver`?

Moved out of tests/test_sync.py (it was `test_delivery_rate`, a measurement inside the timed suite): N graduates
each change their archive details M times, then `deliver_pending` sends every row; the table gives the rows,
the seconds and the rows a second, on SQLite and PostgreSQL, with the load average. The test that stays,
tests/test_sync.py::test_many_changes_of_many_graduates_arrive_once_each_in_order, proves the same rule
(each change once, in order per graduate) on fewer rows.

Usage: .venv/bin/python bench/sync_delivery.py [--graduates 20] [--changes 5] [--backends sqlite,postgresql]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine  # noqa: E402

from core.config import Settings  # noqa: E402
from domain import seed  # noqa: E402
from domain.graduate_info import register_info  # noqa: E402
from engine import outbox  # noqa: E402
from gradflow.cli import migrate  # noqa: E402
from gradflow.runtime import build_runtime  # noqa: E402
from tests.conftest import PG_ADMIN_URL, _drop_pg, _pg_database_url  # noqa: E402
from tests.test_sync import Receiver  # noqa: E402


def measure(url: str, graduates: int, changes: int, work: Path) -> tuple[int, float]:
    migrate(url)
    rt = build_runtime(Settings(database_url=url, secret_key=uuid.uuid4().hex, var_dir=work / "var"))
    rt.deploy()
    receiver = Receiver(work)
    os.environ["GRADFLOW_SYNC_URL"] = receiver.url + "changes"
    os.environ["GRADFLOW_SYNC_TIMEOUT_SECONDS"] = "5"
    try:
        with rt.Session() as s:
            school = seed.make_school(s, seed.make_province(s))
            dept = seed.make_department(s, school, "信息学院")
            grads = [seed.make_graduate(s, school, dept, username=f"g{i}") for i in range(graduates)]
            s.commit()
            for g in grads:
                for n in range(changes):
                    register_info(s, g.id, "archive", {"archive_type": "转回生源地", "n": n}, "school")
                    s.commit()
        total = graduates * changes
        started = time.perf_counter()
        delivered = 0
        while delivered < total:
            got = outbox.deliver_pending(rt.Session, rt.extensions.senders)
            if not got:
                raise SystemExit(f"delivery stalled after {delivered} of {total}: {receiver.stats()}")
            delivered += got
        elapsed = time.perf_counter() - started
        unique = receiver.stats()["unique"]
        if unique != total:
            raise SystemExit(f"the receiver stored {unique} of {total} changes")
        return total, elapsed
    finally:
        receiver.stop()
        rt.db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graduates", type=int, default=20)
    parser.add_argument("--changes", type=int, default=5, help="archive changes per graduate")
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    rows = []
    for name in args.backends.split(","):
        work = Path(tempfile.mkdtemp(prefix="gradflow-sync-bench-"))
        if name == "postgresql":
            admin = create_engine(PG_ADMIN_URL)
            try:
                admin.connect().close()
            except Exception as exc:  # noqa: BLE001 - a missing server is reported, not raised
                print(f"postgresql: skipped ({exc.__class__.__name__})")
                continue
            finally:
                admin.dispose()
            db = f"gradflow_bench_sync_{uuid.uuid4().hex[:8]}"
            try:
                rows.append((name, *measure(_pg_database_url(db), args.graduates, args.changes, work)))
            finally:
                _drop_pg(db)
        else:
            rows.append((name, *measure(f"sqlite:///{work / 'bench.sqlite3'}", args.graduates, args.changes, work)))
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nsync delivery, {args.graduates} graduates x {args.changes} changes (load average {load}; "
          f"{os.cpu_count()} cores)")
    print("| backend | rows | seconds | rows/s |")
    print("|---------|-----:|--------:|-------:|")
    for name, total, elapsed in rows:
        print(f"| {name} | {total} | {elapsed:.2f} | {total / elapsed:.0f} |")


if __name__ == "__main__":
    main()
