"""Cost of ONE STEP (one user-task completion = one transaction) of destination_filing.

Usage: .venv/bin/python bench/step_cost.py [--n 200] [--reps 50]   (tables: see bench/README.md)
Per backend (SQLite temp file; PostgreSQL scratch database, skipped if unreachable) N filings run
end to end through the bare domain/engine calls and through the real Flask API over loopback.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import tempfile
import threading
import timeit
import uuid
from importlib.metadata import version
from pathlib import Path
from time import perf_counter

import requests
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from sqlalchemy import create_engine, select, text
from werkzeug.security import generate_password_hash
from werkzeug.serving import make_server

from core.config import Settings
from domain import seed
from domain.accounts import actor_for
from domain.models import Account, Graduate
from engine.models import ProcessInstance, WorkItem
from engine.serialization import dump_workflow, load_workflow
from gradflow.cli import migrate
from gradflow.runtime import build_runtime
from processes.destination import services as filing
from processes.review import services as reviews

PG_ADMIN = os.environ.get("GRADFLOW_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PG_DB = "gradflow_bench"
STEPS = ("submit", "dept approve", "school approve")
REVIEWS = (("dept", "Department"), ("school", "School"))  # reviewer username, work-item role
# 求职中 needs no proof image (DST-1), so the timed steps measure the engine and the database, not Pillow
API_BODY = {"dest_type": "job_seeking", "note": "bench"}  # what DestinationForm turns into CLEAN
CLEAN = {"dest_type": "job_seeking", "fields": {"note": "bench"}, "attachment_ids": []}
WARMUP = 5  # filings per path run first and not recorded (spec parse, connection pool, caches)


def table(title: str, header: tuple, rows: list, left: int) -> None:  # first `left` columns left-aligned
    cells = [[str(c) for c in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    print(f"\n{title}")
    for row in cells:
        print(" | ".join(c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))


def setup(url: str, var_dir: Path, graduates: int):
    migrate(url)
    rt = build_runtime(Settings(database_url=url, secret_key=uuid.uuid4().hex, var_dir=var_dir))
    rt.deploy()
    # Setup only: a cheap hash keeps N token logins fast; the timed calls authenticate by token.
    cheap = generate_password_hash(seed.DEMO_PASSWORD, method="pbkdf2:sha256:1000")
    with rt.Session() as s:
        school = seed.make_school(s, seed.make_province(s))
        dept = seed.make_department(s, school, "信息学院")
        seed.make_account(s, "dept", "department", "院系审核员", school_id=school.id, department_id=dept.id)
        seed.make_account(s, "school", "school", "学校就业部门", school_id=school.id)
        for i in range(graduates):  # one graduate per filing: each may have only one open filing
            idn = seed.id_number(seq=i)  # unique 身份证号: the birth date moves on every 1000
            seed.make_graduate(s, school, dept, name=f"毕业生{i}", id_number=idn)
            s.add(Account(username=f"g{i}", role="graduate", display_name=f"毕业生{i}", password_hash=cheap,
                          id_number=idn))
        s.commit()
    return rt


def stored(rt, instance_id: int) -> str:
    with rt.Session() as s:
        return s.get(ProcessInstance, instance_id).serialized


def step(rt, fn):  # one request-like transaction: begin (SQLite write lock), act, commit
    t0 = perf_counter()
    with rt.Session() as s:
        s.connection(execution_options={"sqlite_immediate": True})
        inst = fn(s)
        s.commit()
    return (perf_counter() - t0) * 1000, inst.id, inst.serialized


def run_engine(rt, users: list[str]) -> list[list[tuple[float, str]]]:
    """Per filing: [(ms, serialized instance after the step)] for submit, dept approve, school approve."""
    with rt.Session() as s:  # actors and work-item lookups stay outside the timed steps
        actor = {u: actor_for(s, s.scalar(select(Account).where(Account.username == u)))
                 for u in [*users, *(name for name, _ in REVIEWS)]}
    results = []
    for user in users:
        grad = actor[user]
        ms, iid, ser = step(rt, lambda s: filing.start_filing(
            s, rt.runner, grad, s.get(Graduate, grad.graduate_id), CLEAN))
        row = [(ms, ser)]
        for name, role in REVIEWS:
            with rt.Session() as s:
                wid = s.scalar(select(WorkItem.id).where(
                    WorkItem.instance_id == iid, WorkItem.state == "open", WorkItem.role == role))
            ms, _, ser = step(rt, lambda s: reviews.review(s, rt.runner, actor[name], wid, "approve", ""))
            row.append((ms, ser))
        results.append(row)
    return results


def run_api(rt, users: list[str]) -> list[list[tuple[float, str]]]:
    """Same steps through the real app (werkzeug, threaded => HTTP/1.1 keep-alive) and `requests`."""
    from webapp import create_app

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no per-request access log
    server = make_server("127.0.0.1", 0, create_app(rt, TESTING=True, WTF_CSRF_ENABLED=False), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base, http = f"http://127.0.0.1:{server.server_port}/api/v1", requests.Session()

    def call(method: str, path: str, headers: dict, body: dict | None = None) -> tuple[float, dict]:
        t0 = perf_counter()
        r = http.request(method, base + path, json=body, headers=headers)
        ms = (perf_counter() - t0) * 1000
        if r.status_code >= 300:
            raise RuntimeError(f"{method} {path}: {r.status_code} {r.text[:300]}")
        return ms, r.json()

    def bearer(username: str) -> dict:
        _, out = call("POST", "/token", {}, {"username": username, "password": seed.DEMO_PASSWORD})
        return {"Authorization": f"Bearer {out['token']}"}

    try:
        reviewers = {name: bearer(name) for name, _ in REVIEWS}
        results = []
        for headers in [bearer(u) for u in users]:
            ms, out = call("POST", f"/processes/{filing.PROCESS_ID}/instances", headers, API_BODY)
            iid = out["id"]
            row = [(ms, stored(rt, iid))]
            for name, _ in REVIEWS:  # the reviewer's inbox lookup is not part of the step
                _, inbox = call("GET", "/work-items", reviewers[name])
                wid = next(i["id"] for i in inbox["items"] if i["instance_id"] == iid)
                ms, _ = call("POST", f"/work-items/{wid}/complete", reviewers[name], {"decision": "approve"})
                row.append((ms, stored(rt, iid)))
            results.append(row)
        return results
    finally:
        http.close()
        server.shutdown()
        server.server_close()


def serialization_rows(rt, texts: list[str], reps: int) -> list[tuple]:
    ser = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
    with rt.Session() as s:
        loaded = rt.registry.load(s, rt.registry.latest_version_id(s, filing.PROCESS_ID))

    def timed(fn) -> str:  # one call per sample; garbage collector left on, as in the steps
        return f"{statistics.median(timeit.Timer(fn, 'gc.enable()').repeat(reps, 1)) * 1000:.2f}ms"

    rows = []
    for state, spec_less in zip(STEPS, texts):
        wf = load_workflow(spec_less, loaded.spec, loaded.subprocess_specs)
        full = ser.serialize_json(wf)
        compact = json.dumps(json.loads(full), ensure_ascii=False, separators=(",", ":"))  # our encoding
        rows.append((f"after {state}", len(full.encode()), len(compact.encode()), len(spec_less.encode()),
                     timed(lambda: ser.serialize_json(wf)), timed(lambda: dump_workflow(wf)),
                     timed(lambda: ser.deserialize_json(full)),
                     timed(lambda: load_workflow(spec_less, loaded.spec, loaded.subprocess_specs))))
    return rows


def pg_admin(*statements: str) -> None:
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    with admin.connect() as conn:
        for sql in statements:
            conn.execute(text(sql))
    admin.dispose()


def pg_scratch_url() -> str | None:
    try:
        pg_admin(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)', f'CREATE DATABASE "{PG_DB}"')
    except Exception as exc:  # noqa: BLE001 - any failure means: skip PostgreSQL
        print(f"NOTE: PostgreSQL skipped ({PG_ADMIN.split('@')[-1]} unreachable: {str(exc).splitlines()[0]})")
        return None
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + PG_DB


def bench_backend(name: str, url: str, tmp: Path, n: int, ser_reps: int = 0) -> tuple[dict, list]:
    per_path = WARMUP + n
    rt = setup(url, tmp / name, 2 * per_path)
    try:
        users = [f"g{i}" for i in range(2 * per_path)]
        out = {"engine": run_engine(rt, users[:per_path])[WARMUP:],
               "API": run_api(rt, users[per_path:])[WARMUP:]}
        # Table 3 uses the three stored states of the last engine filing (no database involved).
        ser = serialization_rows(rt, [s for _, s in out["engine"][-1]], ser_reps) if ser_reps else []
        return out, ser
    finally:
        rt.db.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="recorded filings per backend and path")
    ap.add_argument("--reps", type=int, default=50, help="repetitions per serialization measurement")
    args = ap.parse_args()
    t_start = perf_counter()
    print(f"python {platform.python_version()}, SpiffWorkflow {version('SpiffWorkflow')}, SQLAlchemy "
          f"{version('sqlalchemy')}, cpus {len(os.sched_getaffinity(0))}, n={args.n} +{WARMUP} warm-up/path")
    results = {}
    with tempfile.TemporaryDirectory(prefix="gradflow_bench_") as tmp:
        tmp = Path(tmp)
        results["sqlite"], ser_rows = bench_backend("sqlite", f"sqlite:///{tmp}/bench.sqlite3", tmp, args.n,
                                                    args.reps)
        pg = pg_scratch_url()
        if pg:
            try:
                results["postgresql"], _ = bench_backend("postgresql", pg, tmp, args.n)
            finally:
                pg_admin(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')

    rows, med, all_steps = [], {}, STEPS + ("all steps",)
    for backend, paths in results.items():
        for path, filings in paths.items():
            for j, label in enumerate(all_steps):
                ms = [sum(t for t, _ in f) if j == 3 else f[j][0] for f in filings]
                med[backend, path, label] = m = statistics.median(ms)
                p95 = statistics.quantiles(ms, n=20, method="inclusive")[18]
                size = "-" if j == 3 else round(statistics.median(len(f[j][1].encode()) for f in filings))
                rows.append((backend, path, label, len(ms), f"{m:.2f}", f"{p95:.2f}", size))
    table("Table 1 - one step = one transaction; inst bytes = stored serialized instance after the step",
          ("backend", "path", "step", "n", "median ms", "p95 ms", "inst bytes"), rows, left=3)
    ratios = [(b, st, f"{med[b, 'engine', st]:.2f}", f"{med[b, 'API', st]:.2f}",
               f"{med[b, 'API', st] / med[b, 'engine', st]:.2f}x") for b in results for st in all_steps]
    table("Table 2 - API / engine, ratio of medians",
          ("backend", "step", "engine ms", "API ms", "API/engine"), ratios, left=2)
    table(f"Table 3 - serializing one instance, median of {args.reps}: full = SpiffWorkflow serialize_json/"
          "deserialize_json,\n  full cmp = same JSON re-encoded compact UTF-8, less = engine.serialization "
          "(spec-less, cached spec)",
          ("state", "full B", "full cmp B", "less B", "dump full", "dump less", "load full", "load less"),
          ser_rows, left=1)
    print(f"\nwall time {perf_counter() - t_start:.1f} s")


if __name__ == "__main__":
    main()
