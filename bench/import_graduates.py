"""GRAD-1 bulk import: a 30,000-row .xlsx (and .csv) through the real job (processes.roster.importing.run_job),
on SQLite and PostgreSQL. Prints rows, seconds, peak memory (ru_maxrss of the process, which holds the file,
its parsed rows and the validated values),
and the same file imported again (every row unchanged, nothing created).

    .venv/bin/python bench/import_graduates.py [--rows 30000] [--pg postgresql+psycopg://postgres@/test?host=/var/run/postgresql]
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import uuid
from pathlib import Path
from time import perf_counter

from sqlalchemy import create_engine, func, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRADFLOW_PASSWORD_HASH", "pbkdf2:sha256:1")

from bench.step_cost import PG_ADMIN, scratch_url  # noqa: E402
from core.config import Settings  # noqa: E402
from domain import seed  # noqa: E402
from domain.accounts import actor_for  # noqa: E402
from domain.models import Account, Graduate  # noqa: E402
from gradflow.cli import migrate  # noqa: E402
from gradflow.runtime import build_runtime  # noqa: E402
from processes.roster import importing  # noqa: E402
from tests.roster_helpers import csv_bytes, good_row, xlsx_bytes  # noqa: E402

DEPARTMENTS = ("信息学院", "经济学院", "管理学院", "化学化工学院", "医学院")


def rows(n: int) -> list[dict[str, str]]:
    out = []
    for i in range(1, n + 1):
        row = good_row(i, 院系=DEPARTMENTS[i % len(DEPARTMENTS)])
        out.append(row)
    return out


def setup(url: str, var_dir: Path):
    migrate(url)
    rt = build_runtime(Settings(database_url=url, secret_key=uuid.uuid4().hex, var_dir=var_dir),
                       enqueue=lambda *_a: None)
    with rt.Session() as s:
        province = seed.make_province(s)
        school = seed.make_school(s, province)
        for name in DEPARTMENTS:
            seed.make_department(s, school, name)
        seed.make_account(s, "school", "school", "学校就业部门", school_id=school.id)
        s.commit()
    return rt


def run(rt, data: bytes, filename: str) -> tuple[float, float, dict]:
    with rt.Session() as s:
        account = s.scalar(select(Account).where(Account.username == "school"))
        job = importing.create_job(s, actor_for(s, account), filename, data)
        s.commit()
        job_id = job.id
    started = perf_counter()
    status = importing.run_job(rt.Session, job_id)
    seconds = perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # ru_maxrss is in KB on Linux
    with rt.Session() as s:
        result = importing.progress_json(s.get(importing.GraduateImportJob, job_id))
    assert status == "done", result
    return seconds, peak / 1024 / 1024, result


def bench(label: str, url: str, n: int, kind: str, table: list[list[str]]) -> None:
    """One fresh database: the file imported, then the same file again (every row unchanged)."""
    with tempfile.TemporaryDirectory() as tmp:
        rt = setup(url, Path(tmp))
        source = rows(n)
        data = xlsx_bytes(source) if kind == "xlsx" else csv_bytes(source)
        for attempt in ("first", "again"):
            seconds, peak, result = run(rt, data, f"bench.{kind}")
            table.append([label, kind, attempt, str(n), f"{seconds:.1f}", f"{n / seconds:,.0f}", f"{peak:.0f}",
                          str(result["created"]), str(result["unchanged"])])
            print("  ", table[-1], flush=True)
        with rt.Session() as s:
            assert s.scalar(select(func.count()).select_from(Graduate)) == n
        rt.db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=30_000)
    parser.add_argument("--pg", default=os.environ.get("GRADFLOW_BENCH_PG_URL", PG_ADMIN))
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    args = parser.parse_args()
    table: list[list[str]] = []
    for kind in ("xlsx", "csv"):
        if args.only != "postgresql":
            with tempfile.TemporaryDirectory() as tmp:
                bench("SQLite", f"sqlite:///{tmp}/bench.sqlite3", args.rows, kind, table)
        if args.only != "sqlite":
            admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
            name = f"gradflow_bench_{uuid.uuid4().hex[:6]}"
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            try:
                bench("PostgreSQL", scratch_url(name, args.pg), args.rows, kind, table)
            finally:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()
    head = ["database", "file", "run", "rows", "seconds", "rows/s", "peak RSS MB (getrusage)", "created", "unchanged"]
    widths = [max(len(head[i]), *(len(r[i]) for r in table)) for i in range(len(head))]
    print()
    print(" | ".join(h.ljust(w) for h, w in zip(head, widths)))
    print("-+-".join("-" * w for w in widths))
    for row in table:
        print(" | ".join(c.ljust(w) for c, w in zip(row, widths)))


if __name__ == "__main__":
    main()
