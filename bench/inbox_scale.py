"""Issue 11 target 2: the reviewer's inbox and the graduate's 登记记录 at 10,000 and at 1,000,000 instances.

Seeds each size with bench/seed.py (300 schools in 31 provinces, a fifth of the instances waiting on an open work
item) into a scratch PostgreSQL database `gradflow_bench_inbox_<size>` (dropped with FORCE at the end unless
--keep), then times through the real Flask app (in-process test client, logged in as each role; Bearer token for
the API):
- a department reviewer's and a school reviewer's first inbox page (with its counts), and their 已审核 tab,
  for the largest 院系 and the largest school (the worst case, not the average one);
- GET /api/v1/work-items for both;
- a graduate's 登记记录 page (/graduate/destination) of one with two filings;
- the employer look-up by name + 考生号 and the current-graduate look-up by 身份证号 (the functions, each in a
  session, as every graduate request and the employer page call them).
Prints median / p95 per size and the 1M / 10k ratio of the p95, for the whole call and for the part of it
spent in the database driver's execute calls (the part that grows with the data; on a loaded machine the
rest is Python competing for a core), then EXPLAIN (ANALYZE, BUFFERS) of the slowest statements one request
of each page runs.

Usage: .venv/bin/python bench/inbox_scale.py [--sizes 10000,1000000] [--repeat 40] [--keep] [--reuse]
(--reuse: take an existing database of that name as it is, without seeding)
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("GRADFLOW_PASSWORD_HASH", "pbkdf2:sha256:1")  # setup only: every seeded account's hash

from sqlalchemy import create_engine, event, text  # noqa: E402

from bench import seed as generator  # noqa: E402
from bench.step_cost import PG_ADMIN, scratch_url  # noqa: E402
from core.config import Settings  # noqa: E402
from domain.accounts import current_graduate  # noqa: E402
from domain.models import Account, Graduate  # noqa: E402
from domain.seed import DEMO_PASSWORD  # noqa: E402
from gradflow.cli import migrate  # noqa: E402
from gradflow.runtime import build_runtime  # noqa: E402
from processes.agreements import services as signing  # noqa: E402

PG = PG_ADMIN


def database(name: str, reuse: bool) -> tuple[str, bool]:
    """The scratch database's URL, and whether it still needs seeding."""
    admin = create_engine(PG, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n").bindparams(n=name))
        if not (reuse and exists):
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return scratch_url(name, PG), not (reuse and exists)


def drop(name: str) -> None:
    admin = create_engine(PG, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def pick(rt) -> dict:
    """The accounts of the worst case: the 院系 and the school with the most open items; a graduate with two
    filings; a graduate to look up by name + 考生号."""
    with rt.db.connect() as conn:
        dept = conn.scalar(text("SELECT department_id FROM work_item WHERE state = 'open' AND role = 'Department' "
                                "GROUP BY department_id ORDER BY count(*) DESC LIMIT 1"))
        school = conn.scalar(text("SELECT school_id FROM work_item WHERE state = 'open' AND role = 'School' "
                                  "GROUP BY school_id ORDER BY count(*) DESC LIMIT 1"))
        grad = conn.scalar(text("SELECT graduate_id FROM process_instance GROUP BY graduate_id "
                                "HAVING count(*) > 1 ORDER BY graduate_id DESC LIMIT 1"))
        name, exam_no, id_number = conn.execute(text("SELECT name, exam_no, id_number FROM graduate WHERE id = :g")
                                                .bindparams(g=grad)).one()
        sizes = conn.execute(text(
            "SELECT (SELECT count(*) FROM work_item WHERE department_id = :d AND role = 'Department'),"
            " (SELECT count(*) FROM work_item WHERE school_id = :s AND role = 'School')")
            .bindparams(d=dept, s=school)).one()
    return {"dept": f"dept{dept}", "school": f"school{school}", "graduate": f"g{grad}", "name": name,
            "exam_no": exam_no, "id_number": id_number, "dept_items": sizes[0], "school_items": sizes[1]}


def login(app, username: str):
    client = app.test_client()
    resp = client.post("/login", data={"username": username, "password": DEMO_PASSWORD})
    assert resp.status_code in (302, 303), (username, resp.status_code)
    return client


class DbClock:
    """Wall time spent inside the database driver's execute calls (statement, round trip, rows), per request:
    the part of a page that grows with the data, apart from Python rendering it."""

    def __init__(self, engine) -> None:
        self.spent = 0.0
        event.listen(engine, "before_cursor_execute", self._start)
        event.listen(engine, "after_cursor_execute", self._stop)

    def _start(self, conn, cursor, statement, parameters, context, executemany) -> None:
        conn.info["h3_t0"] = time.perf_counter()

    def _stop(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self.spent += time.perf_counter() - conn.info.pop("h3_t0", time.perf_counter())


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def timed(fn, repeat: int, clock: DbClock) -> tuple[float, float, float, float]:
    """median and p95 of the whole call, then of its time in the database (ms)."""
    fn()  # warm: caches, the first plan
    ms, db = [], []
    for _ in range(repeat):
        clock.spent = 0.0
        t0 = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t0) * 1000)
        db.append(clock.spent * 1000)
    return statistics.median(ms), p95(ms), statistics.median(db), p95(db)


def get(client, url: str, headers: dict | None = None):
    def call():
        resp = client.get(url, headers=headers or {})
        assert resp.status_code == 200, (url, resp.status_code)
        return resp
    return call


class Statements:
    """The SQL statements the engine runs while recording (to explain them afterwards)."""

    def __init__(self, engine) -> None:
        self.engine, self.seen, self.on = engine, [], False
        event.listen(engine, "before_cursor_execute", self._note)

    def _note(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if self.on and statement.lstrip().upper().startswith("SELECT"):
            self.seen.append((statement, parameters))

    def record(self, fn) -> list[tuple[str, object]]:
        self.seen, self.on = [], True
        try:
            fn()
        finally:
            self.on = False
        return self.seen


def explain(engine, statement: str, parameters) -> tuple[float, int, int, str]:
    """Execution ms, shared buffers hit, read, and the plan's node lines in short."""
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        with raw.cursor() as cur:
            cur.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement, parameters)
            plan = cur.fetchone()[0][0]
        conn.rollback()
    nodes = []

    def walk(node, depth=0):
        label = node["Node Type"]
        if node.get("Index Name"):
            label += f" {node['Index Name']}"
        elif node.get("Relation Name"):
            label += f" {node['Relation Name']}"
        if node.get("Heap Fetches") is not None:
            label += f" (heap fetches {node['Heap Fetches']})"
        nodes.append("  " * depth + f"{label} rows={node.get('Actual Rows')}")
        for child in node.get("Plans", []):
            walk(child, depth + 1)

    walk(plan["Plan"])
    top = plan["Plan"]
    return (plan["Execution Time"], top.get("Shared Hit Blocks", 0), top.get("Shared Read Blocks", 0),
            "\n".join(nodes))


def measure(size: int, repeat: int, keep: bool, reuse: bool) -> tuple[dict, dict, list[str]]:
    name = f"gradflow_bench_inbox_{size}"
    url, fresh = database(name, reuse)
    info: dict = {"size": size}
    rt = None
    try:
        if fresh:
            migrate(url)
        rt = build_runtime(Settings(database_url=url, secret_key=uuid.uuid4().hex, var_dir=Path(tempfile.mkdtemp())))
        if fresh:
            rt.deploy()
            t0 = time.perf_counter()
            report = generator.build(rt, size, fast=True)
            info["seed_s"] = time.perf_counter() - t0
            info["report"] = report
        with rt.db.connect() as conn:
            info["instances"] = conn.scalar(text("SELECT count(*) FROM process_instance"))
            info["open"] = conn.scalar(text("SELECT count(*) FROM work_item WHERE state = 'open' AND NOT optional"))
            info["work_items"] = conn.scalar(text("SELECT count(*) FROM work_item"))
        who = pick(rt)
        info["who"] = who
        from webapp import create_app

        app = create_app(rt, TESTING=True, WTF_CSRF_ENABLED=False)
        dept, school, grad = login(app, who["dept"]), login(app, who["school"]), login(app, who["graduate"])
        api = app.test_client()
        tokens = {}
        for role in ("dept", "school"):
            body = api.post("/api/v1/token", json={"username": who[role], "password": DEMO_PASSWORD}).get_json()
            tokens[role] = {"Authorization": f"Bearer {body['token']}"}

        def lookup_employer():
            with rt.Session() as s:
                assert signing.find_graduate(s, who["name"], None, who["exam_no"]) is not None

        with rt.Session() as s:
            account = s.query(Account).filter(Account.username == who["graduate"]).one()
            s.expunge(account)

        def lookup_current():
            with rt.Session() as s:
                assert isinstance(current_graduate(s, account), Graduate)

        cases = {
            "院系 inbox, first page + counts": get(dept, "/review/inbox"),
            "院系 已审核 tab": get(dept, "/review/inbox?state=completed"),
            "学校 inbox, first page + counts": get(school, "/review/inbox"),
            "学校 已审核 tab": get(school, "/review/inbox?state=completed"),
            "API GET /work-items (院系)": get(api, "/api/v1/work-items", tokens["dept"]),
            "API GET /work-items (学校)": get(api, "/api/v1/work-items", tokens["school"]),
            "毕业生 登记记录 (/graduate/destination)": get(grad, "/graduate/destination"),
            "employer look-up name + 考生号": lookup_employer,
            "current-graduate look-up (身份证号)": lookup_current,
        }
        clock = DbClock(rt.db)
        results = {label: timed(fn, repeat, clock) for label, fn in cases.items()}
        recorder = Statements(rt.db)
        plans = []
        for label in ("院系 inbox, first page + counts", "学校 inbox, first page + counts", "学校 已审核 tab",
                      "毕业生 登记记录 (/graduate/destination)", "employer look-up name + 考生号",
                      "current-graduate look-up (身份证号)"):
            statements = recorder.record(cases[label])
            explained = sorted((explain(rt.db, sql, params) + (sql,) for sql, params in statements), reverse=True)
            total = sum(e[0] for e in explained)
            plans.append(f"\n### {size:,}: {label}: {len(statements)} SELECTs, {total:.2f} ms executing in all")
            for ms, hit, read, nodes, sql in explained[:3]:
                plans.append(f"- {ms:.2f} ms, buffers hit {hit} read {read}: {' '.join(sql.split())[:160]}")
                plans.extend("    " + line for line in nodes.splitlines())
        return info, results, plans
    finally:
        if rt is not None:
            rt.db.dispose()
        if not keep:
            drop(name)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,1000000")
    ap.add_argument("--repeat", type=int, default=40)
    ap.add_argument("--keep", action="store_true", help="keep the scratch databases")
    ap.add_argument("--reuse", action="store_true", help="use an existing database of that size as it is")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    runs = []
    for size in sizes:
        runs.append(measure(size, args.repeat, args.keep, args.reuse))
        print(f"measured {size:,} (load {os.getloadavg()})", file=sys.stderr, flush=True)
    print(f"\nload average {tuple(round(x, 2) for x in os.getloadavg())} (2 cores, shared machine)\n")
    for info, _, _ in runs:
        report = info.get("report")
        seeded = (f"seeded in {info['seed_s']:.0f} s ({json.dumps({k: round(v, 1) for k, v in report.seconds.items()})})"
                  if report else "reused")
        who = info["who"]
        print(f"- {info['size']:,}: {info['instances']:,} instances, {info['work_items']:,} work items, "
              f"{info['open']:,} open; worst 院系 has {who['dept_items']:,} items, worst school {who['school_items']:,}; "
              f"{seeded}")
    labels = list(runs[0][1])
    for title, at in (("whole request (ms)", 0), ("of it in the database: driver execute calls (ms)", 2)):
        head = " | ".join(f"{info['size']:,} med | {info['size']:,} p95" for info, _, _ in runs)
        print(f"\n{title}\n\n| request | {head} | p95 ratio |")
        print("|---|" + "---|---|" * len(runs) + "---|")
        for label in labels:
            cells = " | ".join(f"{r[label][at]:.1f} | {r[label][at + 1]:.1f}" for _, r, _ in runs)
            ratio = runs[-1][1][label][at + 1] / runs[0][1][label][at + 1] if len(runs) > 1 else 1.0
            print(f"| {label} | {cells} | {ratio:.2f} |")
    print("\n## EXPLAIN (ANALYZE, BUFFERS): the three slowest statements of one request each")
    for _, _, plans in runs:
        print("\n".join(plans))


if __name__ == "__main__":
    main()
