"""Cost of ONE STEP (one user-task completion = one transaction) of destination_filing.

Usage: .venv/bin/python bench/step_cost.py [--n 200] [--reps 50]   (tables: see bench/README.md)
Per backend (SQLite temp file; PostgreSQL scratch database, skipped if unreachable) N filings run
end to end through the bare domain/engine calls and through the real Flask API over loopback.
Inside the engine path the bare-engine share of each step is timed too: Runner.load, the run and engine
steps (minus the time in our service handlers) and dump_workflow. --cache-size 0 turns the runner's
in-process workflow cache off (every step deserializes its workflow, as before issue 11).
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
import zlib
from importlib.metadata import version
from pathlib import Path
from time import perf_counter

import requests
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from sqlalchemy import create_engine, make_url, select, text
from werkzeug.security import generate_password_hash
from werkzeug.serving import make_server

from core.config import Settings
from domain import seed
from domain.accounts import actor_for
from domain.models import Account, Graduate
from engine import runner as runner_module
from engine.models import ProcessInstance, WorkItem
from engine.serialization import FINISHED_LEVEL, RUNNING_LEVEL, dump_workflow, encode_state, load_workflow
from gradflow.cli import migrate
from gradflow.runtime import build_runtime
from processes.destination import services as filing
from processes.review import services as reviews

# PostgreSQL on this machine through its Unix socket when it has one, as production on one machine would
# connect (README: about 20 round trips a step, 10-17 % faster than over 127.0.0.1); GRADFLOW_TEST_PG_URL wins.
_SOCKET_DIR = "/var/run/postgresql"
PG_ADMIN = os.environ.get("GRADFLOW_TEST_PG_URL") or (
    f"postgresql+psycopg://postgres@/test?host={_SOCKET_DIR}" if os.path.exists(f"{_SOCKET_DIR}/.s.PGSQL.5432")
    else "postgresql+psycopg://postgres@127.0.0.1:5432/test")
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


def stored(rt, instance_id: int) -> tuple[str, int]:
    """The instance's state as JSON and the bytes its instance_state row stores."""
    with rt.Session() as s:
        inst = s.get(ProcessInstance, instance_id)
        return inst.serialized, inst.state.size


def step(rt, fn):  # one request-like transaction: begin (SQLite write lock), act, commit
    t0 = perf_counter()
    with rt.Session() as s:
        s.connection(execution_options={"sqlite_immediate": True})
        inst = fn(s)
        s.commit()
    return (perf_counter() - t0) * 1000, inst.id, (inst.serialized, inst.state.size)


class BareClock:
    """Accumulates, per step, the bare-engine time of the runner: load, run + engine steps minus the service
    handlers' own time (they write domain rows), and dump. Wraps the live runner's methods; restore() undoes."""

    def __init__(self, rt):
        self.rt, self.parts = rt, {"load": 0.0, "run": 0.0, "dump": 0.0}
        runner, ext = rt.runner, rt.runner.extensions
        self.saved = (runner.load, runner._run_engine, ext.handler, runner_module.dump_workflow)
        self.handlers = 0.0

        def timed(part, fn):
            def wrapper(*a, **kw):
                t0 = perf_counter()
                try:
                    return fn(*a, **kw)
                finally:
                    self.parts[part] += perf_counter() - t0
            return wrapper

        def handler(name):
            fn = self.saved[2](name)

            def run(*a, **kw):
                t0 = perf_counter()
                try:
                    return fn(*a, **kw)
                finally:
                    self.handlers += perf_counter() - t0
            return run

        runner.load = timed("load", self.saved[0])
        runner._run_engine = timed("run", self.saved[1])
        ext.handler = handler
        runner_module.dump_workflow = timed("dump", self.saved[3])

    def take(self) -> dict[str, float]:
        """ms per part since the last take (run without the handlers)."""
        out = {k: v * 1000 for k, v in self.parts.items()}
        out["run"] -= self.handlers * 1000
        out["bare"] = out["load"] + out["run"] + out["dump"]
        self.parts = dict.fromkeys(self.parts, 0.0)
        self.handlers = 0.0
        return out

    def restore(self) -> None:
        runner = self.rt.runner
        del runner.load, runner._run_engine, runner.extensions.handler  # back to the class attributes
        runner_module.dump_workflow = self.saved[3]


def run_engine(rt, users: list[str]) -> tuple[list[list[tuple[float, tuple[str, int]]]], list[list[dict]]]:
    """Per filing: [(ms, (JSON, stored bytes) after the step)] for submit, dept approve, school approve;
    and per filing the bare-engine parts of each step (BareClock)."""
    with rt.Session() as s:  # actors and work-item lookups stay outside the timed steps
        actor = {u: actor_for(s, s.scalar(select(Account).where(Account.username == u)))
                 for u in [*users, *(name for name, _ in REVIEWS)]}
    results, bare = [], []
    clock = BareClock(rt)
    try:
        for user in users:
            grad = actor[user]
            clock.take()
            ms, iid, ser = step(rt, lambda s: filing.start_filing(
                s, rt.runner, grad, s.get(Graduate, grad.graduate_id), CLEAN))
            row, parts = [(ms, ser)], [clock.take()]
            for name, role in REVIEWS:
                with rt.Session() as s:
                    wid = s.scalar(select(WorkItem.id).where(
                        WorkItem.instance_id == iid, WorkItem.state == "open", WorkItem.role == role))
                clock.take()
                ms, _, ser = step(rt, lambda s: reviews.review(s, rt.runner, actor[name], wid, "approve", ""))
                row.append((ms, ser))
                parts.append(clock.take())
            results.append(row)
            bare.append(parts)
    finally:
        clock.restore()
    return results, bare


def run_api(rt, users: list[str]) -> list[list[tuple[float, tuple[str, int]]]]:
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
    """Sizes and times of one instance's state: SpiffWorkflow's own JSON, ours, and ours compressed."""
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
        stored = encode_state(spec_less)
        rows.append((f"after {state}", len(full.encode()), len(compact.encode()), len(spec_less.encode()),
                     len(stored), len(encode_state(spec_less, finished=True)),
                     timed(lambda: ser.serialize_json(wf)), timed(lambda: dump_workflow(wf)),
                     timed(lambda: encode_state(spec_less)), timed(lambda: zlib.decompress(stored)),
                     timed(lambda: ser.deserialize_json(full)),
                     timed(lambda: load_workflow(spec_less, loaded.spec, loaded.subprocess_specs))))
    return rows


def scratch_url(name: str, admin: str | None = None) -> str:
    """The URL of database `name` on the admin URL's server (host, port or socket directory kept: a
    `?host=/var/run/postgresql` URL reaches it over the Unix socket)."""
    return make_url(admin or PG_ADMIN).set(database=name).render_as_string(hide_password=False)


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
    return scratch_url(PG_DB)


def bench_backend(name: str, url: str, tmp: Path, n: int, ser_reps: int = 0,
                  cache_size: int | None = None) -> tuple[dict, list, list, str]:
    per_path = WARMUP + n
    rt = setup(url, tmp / name, 2 * per_path)
    if cache_size is not None:
        rt.runner.cache.size = cache_size
    try:
        users = [f"g{i}" for i in range(2 * per_path)]
        engine, bare = run_engine(rt, users[:per_path])
        cache = f"{rt.runner.cache.hits} hits / {rt.runner.cache.misses} misses"
        out = {"engine": engine[WARMUP:], "API": run_api(rt, users[per_path:])[WARMUP:]}
        # Table 3 uses the three stored states of the last engine filing (no database involved).
        ser = serialization_rows(rt, [s for _, (s, _) in out["engine"][-1]], ser_reps) if ser_reps else []
        return out, ser, bare[WARMUP:], cache
    finally:
        rt.db.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="recorded filings per backend and path")
    ap.add_argument("--reps", type=int, default=50, help="repetitions per serialization measurement")
    ap.add_argument("--cache-size", type=int, default=None,
                    help="the runner's workflow cache size (0: off; default: the runner's own)")
    args = ap.parse_args()
    t_start = perf_counter()
    print(f"python {platform.python_version()}, SpiffWorkflow {version('SpiffWorkflow')}, SQLAlchemy "
          f"{version('sqlalchemy')}, cpus {len(os.sched_getaffinity(0))}, n={args.n} +{WARMUP} warm-up/path, "
          f"workflow cache {'default' if args.cache_size is None else args.cache_size}, "
          f"load average at start {os.getloadavg()}")
    results, bare, caches = {}, {}, {}
    with tempfile.TemporaryDirectory(prefix="gradflow_bench_") as tmp:
        tmp = Path(tmp)
        results["sqlite"], ser_rows, bare["sqlite"], caches["sqlite"] = bench_backend(
            "sqlite", f"sqlite:///{tmp}/bench.sqlite3", tmp, args.n, args.reps, args.cache_size)
        pg = pg_scratch_url()
        if pg:
            try:
                results["postgresql"], _, bare["postgresql"], caches["postgresql"] = bench_backend(
                    "postgresql", pg, tmp, args.n, cache_size=args.cache_size)
            finally:
                pg_admin(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')

    rows, med, all_steps = [], {}, STEPS + ("all steps",)
    for backend, paths in results.items():
        for path, filings in paths.items():
            for j, label in enumerate(all_steps):
                ms = [sum(t for t, _ in f) if j == 3 else f[j][0] for f in filings]
                med[backend, path, label] = m = statistics.median(ms)
                p95 = statistics.quantiles(ms, n=20, method="inclusive")[18]
                size = "-" if j == 3 else round(statistics.median(len(f[j][1][0].encode()) for f in filings))
                kept = "-" if j == 3 else round(statistics.median(f[j][1][1] for f in filings))
                rows.append((backend, path, label, len(ms), f"{m:.2f}", f"{p95:.2f}", size, kept))
    table("Table 1 - one step = one transaction; JSON B = the instance's state as JSON after the step,\n"
          "  stored B = what its instance_state row holds (zlib; level 9 once finished)",
          ("backend", "path", "step", "n", "median ms", "p95 ms", "JSON B", "stored B"), rows, left=3)
    brows = []
    for backend, filings in bare.items():
        for j, label in enumerate(all_steps):
            parts = [({k: sum(p[k] for p in f) for k in f[0]} if j == 3 else f[j]) for f in filings]
            med_parts = {k: statistics.median(p[k] for p in parts) for k in parts[0]}
            brows.append((backend, label, *(f"{med_parts[k]:.2f}" for k in ("load", "run", "dump", "bare")),
                          f"{med[backend, 'engine', label]:.2f}",
                          f"{med[backend, 'engine', label] / med_parts['bare']:.1f}x"))
    table("Table 1b - bare engine per step inside the engine path (medians, ms): load = Runner.load (the "
          "workflow cache, or\n  deserializing), run = task run + engine steps without our handlers, dump = "
          "dump_workflow; cache: " + "; ".join(f"{b} {c}" for b, c in caches.items()),
          ("backend", "step", "load", "run", "dump", "bare", "engine ms", "engine/bare"), brows, left=2)
    ratios = [(b, st, f"{med[b, 'engine', st]:.2f}", f"{med[b, 'API', st]:.2f}",
               f"{med[b, 'API', st] / med[b, 'engine', st]:.2f}x") for b in results for st in all_steps]
    table("Table 2 - API / engine, ratio of medians",
          ("backend", "step", "engine ms", "API ms", "API/engine"), ratios, left=2)
    table(f"Table 3 - serializing one instance, median of {args.reps}: full = SpiffWorkflow serialize_json/"
          "deserialize_json,\n  full cmp = same JSON re-encoded compact UTF-8, less = engine.serialization "
          f"(spec-less, cached spec),\n  zlib B = less compressed at level {RUNNING_LEVEL} (a step), "
          f"finished B = at level {FINISHED_LEVEL} (a finished instance)",
          ("state", "full B", "full cmp B", "less B", "zlib B", "finished B", "dump full", "dump less",
           "compress", "decompress", "load full", "load less"), ser_rows, left=1)
    print(f"\nwall time {perf_counter() - t_start:.1f} s, load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
