"""Do the guessable look-ups take the same time whether what is guessed exists? (issue 8, VER-4, VER-8)

Times the employer's graduate look-up (name + 身份证号, name exists vs not) and the public verification
look-up (unknown code, right code with the wrong name, found) on SQLite and PostgreSQL, with 1,000
graduates in the table. Prints one table of medians and p95 in milliseconds.

Usage: .venv/bin/python bench/lookup_timing.py [--n 300]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, text  # noqa: E402

from bench.step_cost import PG_ADMIN, scratch_url  # noqa: E402
from core.config import Settings  # noqa: E402
from core.db import utcnow  # noqa: E402
from domain import seed  # noqa: E402
from domain.accounts import actor_for  # noqa: E402
from domain.graduate_info import register_info  # noqa: E402
from domain.models import Account, Confirmation  # noqa: E402
from gradflow.cli import migrate  # noqa: E402
from gradflow.runtime import build_runtime  # noqa: E402
from processes.agreements.services import find_graduate  # noqa: E402
from processes.verification import services as verification  # noqa: E402


def timed(fn, n: int) -> tuple[float, float]:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def run(url: str, n: int) -> list[tuple[str, float, float]]:
    migrate(url)
    rt = build_runtime(Settings(database_url=url, secret_key=uuid.uuid4().hex, var_dir=Path(tempfile.mkdtemp())))
    rt.deploy()
    with rt.Session() as s:
        school = seed.make_school(s, seed.make_province(s))
        dept = seed.make_department(s, school, "信息学院")
        grad = seed.make_graduate(s, school, dept, name="陈诚", username="g1")
        for i in range(1000):
            seed.make_graduate(s, school, dept, name=f"学生{i}")
        register_info(s, grad.id, "archive", {"archive_type": "托管单位接收", "archive_unit": "某人才中心"}, "school")
        s.add(Confirmation(graduate_id=grad.id, status="confirmed", confirmed_at=utcnow(), error_parts={},
                           changed_parts=[]))
        s.commit()
        actor = actor_for(s, s.query(Account).filter_by(username="g1").one())
        valid = min(verification.validity_limit(grad), date.today() + timedelta(days=60))
        code = verification.create_report(s, actor, "archive", valid).code
        s.commit()
        wrong_id = grad.id_number[:-2] + ("00" if grad.id_number[-2:] != "00" else "01")
        rows = []
        for label, fn in (
            ("graduate look-up, name exists", lambda: find_graduate(s, "陈诚", wrong_id, None)),
            ("graduate look-up, name missing", lambda: find_graduate(s, "无此人", wrong_id, None)),
            ("code look-up, unknown code", lambda: verification.lookup(s, "陈诚", verification.new_code(),
                                                                       client="b", via="page")),
            ("code look-up, wrong name", lambda: verification.lookup(s, "陈成", code, client="b", via="page")),
            ("code look-up, found", lambda: verification.lookup(s, "陈诚", code, client="b", via="page")),
        ):
            for _ in range(20):
                fn()
            rows.append((label, *timed(fn, n)))
        s.rollback()
    rt.db.dispose()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=300)
    args = parser.parse_args()
    results = {"sqlite": run(f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3", args.n)}
    name = f"bench_lookup_{uuid.uuid4().hex[:6]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        results["postgresql"] = run(scratch_url(name), args.n)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    print(f"look-up timing, n={args.n} per row, 1,001 graduates")
    print(f"{'backend':<11}| {'look-up':<32}| {'median ms':>9} | {'p95 ms':>7}")
    for backend, rows in results.items():
        for label, median, p95 in rows:
            print(f"{backend:<11}| {label:<32}| {median:9.3f} | {p95:7.3f}")


if __name__ == "__main__":
    main()
