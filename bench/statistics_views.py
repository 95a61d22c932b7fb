"""PRV-1 / PRV-2 at province scale: the province's 数据统计 page and a data view's first page (median, p95; target
p95 <= 100 ms), and an .xlsx export of 100,000 rows (seconds, peak memory), on PostgreSQL.

Bulk-loads graduates with COPY into the database `bench_stats` (dropped and created; never the tests' `test`),
with online/offline agreements for 30% of them (two thirds signed: effective destinations), other destinations
for 10% and archive info for 20%, then counts them once with `rebuild_statistics`. Ten schools of 20 院系 in one
province: at 1,000,000 graduates a school has 100,000 (the export is one school's 档案信息管理).

Usage: .venv/bin/python bench/statistics_views.py [--graduates 1000000] [--repeat 40]
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from bench.step_cost import PG_ADMIN, scratch_url  # noqa: E402
from core.config import Settings  # noqa: E402
from domain import seed  # noqa: E402
from domain.statistics import rebuild_statistics  # noqa: E402
from gradflow.cli import migrate  # noqa: E402
from gradflow.runtime import build_runtime  # noqa: E402

DB = "bench_stats"
SCHOOLS, DEPTS = 10, 20
TYPES = ["freelance", "labor_contract", "domestic_study", "job_seeking"]
CATEGORY = {"freelance": "other_employment", "labor_contract": "other_employment", "domestic_study": "further_study",
            "job_seeking": "unemployed"}


def fresh_database() -> str:
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{DB}"'))
    admin.dispose()
    return scratch_url(DB)


def copy(conn: psycopg.Connection, table: str, columns: list[str], rows) -> None:
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as cp:
        for row in rows:
            cp.write_row(row)


def load(url: str, n: int) -> tuple[dict, list[int]]:
    rt = build_runtime(Settings(database_url=url, secret_key=uuid.uuid4().hex, var_dir=Path(tempfile.mkdtemp())))
    with rt.Session() as s:
        province = seed.make_province(s)
        schools = [seed.make_school(s, province, code=f"10{i:03d}", name=f"福建第{i + 1}大学",
                                    open_modules=["destination", "archive", "hukou"]) for i in range(SCHOOLS)]
        depts = {sc.id: [seed.make_department(s, sc, f"第{j + 1}学院").id for j in range(DEPTS)] for sc in schools}
        seed.ensure_cohort(s, 2026)
        seed.make_account(s, "prov", "province", "福建省教育厅", province_id=province.id)
        s.execute(text("INSERT INTO process_version (process_id, content_hash, name, files, deployed_at) "
                       "VALUES ('online_signing', 'bench', 'bench', '{}', now())"))
        version_id = s.scalar(text("SELECT id FROM process_version WHERE content_hash = 'bench'"))
        s.commit()
        school_ids = [sc.id for sc in schools]
    raw = url.replace("postgresql+psycopg://", "postgresql://")
    now = "2026-05-20 08:00:00"
    t0 = time.perf_counter()
    with psycopg.connect(raw) as conn:
        def graduates():
            for i in range(1, n + 1):
                sc = school_ids[(i - 1) * SCHOOLS // n]
                dp = depts[sc][i % DEPTS]
                yield (i, sc, dp, 2026, f"26350{i:09d}", f"学生{i}", f"350203200{i:09d}", "本科", "男", "汉族",
                       "共青团员", "非定向", "350203", "福建省厦门市思明区", "202209", "202606", f"S{i:09d}",
                       "计算机科学与技术", "4", True, i % 3 != 0, now, now)
        copy(conn, "graduate", ["id", "school_id", "department_id", "cohort", "exam_no", "name", "id_number",
                                "education", "gender", "ethnicity", "political_status", "training_mode", "origin_code",
                                "origin_name", "enrolled_on", "graduates_on", "student_no", "major", "duration",
                                "archive_in_school", "hukou_in_school", "created_at", "updated_at"], graduates())
        signed = [i for i in range(1, n + 1) if i % 10 < 3]  # 30% signing; of them i % 10 in (0, 1) are signed
        dest = [i for i in range(1, n + 1) if i % 10 == 3]

        def instances():
            for k, i in enumerate(signed + dest, start=1):
                sc = school_ids[(i - 1) * SCHOOLS // n]
                is_dest = i % 10 == 3
                ok = i % 10 in (0, 1)
                label = "审核通过" if is_dest else ("签约审核通过" if ok else "等待院系审核")
                yield (k, "destination_filing" if is_dest else "online_signing", version_id, "", i, sc,
                       depts[sc][i % DEPTS], 2026, "completed" if ok or is_dest else "running", label, "",
                       f"学生{i}", f"S{i:09d}", 1, now, now)
        copy(conn, "process_instance", ["id", "process_id", "version_id", "title", "graduate_id", "school_id",
                                        "department_id", "cohort", "status", "status_label", "category",
                                        "subject_name", "subject_no", "version", "created_at",
                                        "updated_at"], instances())
        fields = json.dumps({"employer_name": "厦门星海科技有限公司", "position": "软件工程师"}, ensure_ascii=False)
        copy(conn, "agreement", ["id", "graduate_id", "instance_id", "kind", "cohort", "status", "fields",
                                 "attachment_ids", "agreement_no", "agreement_type", "created_at", "updated_at"],
             ((k, i, k, "online" if i % 2 else "offline", 2026, "signed" if i % 10 in (0, 1) else "accepted", fields,
               "[]", f"2026350{k:012d}" if i % 10 in (0, 1) else None, "three_party", now, now)
              for k, i in enumerate(signed, start=1)))
        base = len(signed)
        copy(conn, "destination_record", ["id", "graduate_id", "instance_id", "category", "dest_type", "fields",
                                          "attachment_ids", "status", "created_at", "updated_at"],
             ((k, i, base + k, CATEGORY[TYPES[i % 4]], TYPES[i % 4], '{"unit_name": "某单位"}', "[]", "effective", now,
               now) for k, i in enumerate(dest, start=1)))
        copy(conn, "effective_destination", ["graduate_id", "kind", "record_id", "since"],
             [(i, "agreement", k, now) for k, i in enumerate(signed, start=1) if i % 10 in (0, 1)]
             + [(i, "destination", k, now) for k, i in enumerate(dest, start=1)])
        archive = json.dumps({"archive_type": "托管单位接收", "archive_unit": "某人才中心", "division_name": "福建省厦门市思明区",
                              "archive_address": "湖滨南路1号"}, ensure_ascii=False)
        copy(conn, "registered_info", ["graduate_id", "kind", "fields", "source", "active", "created_at", "updated_at"],
             ((i, "archive", archive, "school", True, now, now) for i in range(1, n + 1) if i % 5 == 0))
        # pending signings wait for the department: an open review work item each
        copy(conn, "work_item", ["instance_id", "task_id", "task_name", "title", "role", "form_key", "status_label",
                                 "optional", "state", "graduate_id", "school_id", "department_id", "cohort",
                                 "subject_name", "subject_no", "category", "process_id", "created_at"],
             ((k, uuid.uuid4().hex, "review", "签约审核", "Department", "review", "等待院系审核", False, "open", i,
               school_ids[(i - 1) * SCHOOLS // n], depts[school_ids[(i - 1) * SCHOOLS // n]][i % DEPTS], 2026,
               f"学生{i}", f"S{i:09d}", "", "online_signing", now)
              for k, i in enumerate(signed, start=1) if i % 10 == 2))
        for table in ("graduate", "process_instance", "agreement", "destination_record", "registered_info", "work_item"):
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        conn.commit()
    loaded = time.perf_counter() - t0
    with psycopg.connect(raw, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    t1 = time.perf_counter()
    with rt.Session() as s:
        counted = rebuild_statistics(s)
        s.commit()
    rebuilt = time.perf_counter() - t1
    with psycopg.connect(raw, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE graduate_stat")
        conn.execute("VACUUM ANALYZE stat_counter")
    rt.db.dispose()
    return {"load_s": loaded, "rebuild_s": rebuilt, "counted": counted}, school_ids


def timed(client, url: str, repeat: int) -> tuple[float, float]:
    assert client.get(url).status_code == 200, url  # warm
    ms = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        resp = client.get(url)
        ms.append((time.perf_counter() - t0) * 1000)
        assert resp.status_code == 200, (url, resp.status_code)
    return statistics.median(ms), statistics.quantiles(ms, n=20, method="inclusive")[18]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--graduates", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=40)
    args = ap.parse_args()
    url = fresh_database()
    migrate(url)
    info, school_ids = load(url, args.graduates)
    from webapp import create_app

    rt = build_runtime(Settings(database_url=url, secret_key=uuid.uuid4().hex, var_dir=Path(tempfile.mkdtemp())))
    app = create_app(rt, TESTING=True, WTF_CSRF_ENABLED=False)
    client = app.test_client()
    assert client.post("/login", data={"username": "prov", "password": seed.DEMO_PASSWORD}).status_code in (302, 303)
    rows = []
    for name, url_ in (("province 数据统计 page (destination)", "/statistics?module=destination&cohort=2026"),
                       ("province 数据统计 API (archive)", "/api/v1/statistics?module=archive"),
                       ("在线签约管理 first page", "/data/signing"),
                       ("档案信息管理 first page", "/data/archive"),
                       ("档案信息管理 first page, one school, 已登记", f"/data/archive?school={school_ids[3]}&status=registered"),
                       ("在线签约管理 sorted by 姓名", "/data/signing?sort=name&order=asc")):
        med, p95 = timed(client, url_, args.repeat)
        rows.append((name, f"{med:.1f}", f"{p95:.1f}"))
    export_url = f"/data/archive/export.xlsx?school={school_ids[0]}"
    tracemalloc.start()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    resp = client.get(export_url)
    size = sum(len(chunk) for chunk in resp.response)
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"\nPostgreSQL, {args.graduates:,} graduates in {SCHOOLS} schools x {DEPTS} 院系; bulk load (COPY) "
          f"{info['load_s']:.1f} s; rebuild_statistics {info['rebuild_s']:.1f} s ({info['counted']:,} counted)\n")
    print(f"| {'request':<44} | median ms | p95 ms |")
    print(f"|{'-' * 46}|-----------|--------|")
    for name, med, p95 in rows:
        print(f"| {name:<44} | {med:>9} | {p95:>6} |")
    per_school = args.graduates // SCHOOLS
    print(f"\nexport {export_url}: {per_school:,} rows, {size / 1e6:.1f} MB .xlsx in {seconds:.1f} s; "
          f"peak Python heap {peak / 1e6:.1f} MB (tracemalloc), max RSS grew {(rss1 - rss0) / 1024:.0f} MB")


if __name__ == "__main__":
    main()
