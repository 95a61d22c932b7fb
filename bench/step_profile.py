"""What one API step costs the web process (issue 11, "What the profile already shows"): per step kind of the
issue's mix, SQL statements, connection checkouts, transactions (commits / rollbacks) and median ms.

Usage: .venv/bin/python bench/step_profile.py [--n 40] [--backends sqlite,postgresql] [--profile KIND]
The real app runs in this process (Flask test client, Bearer tokens, production-like settings: no TESTING);
counts come from SQLAlchemy events on the runtime's engine (`before_cursor_execute`, pool `checkout`,
connection `begin` / `commit` / `rollback`); BEGIN itself is not counted as a statement. The mix: destination
submit, department approve, school approve (of the filing), employer invitation and the graduate's answer.
The reviewer's look-up of the work item (GET /instances/<id>) is a read, outside the counted step.
`--profile answer` prints a pyinstrument profile of that kind's steps (PostgreSQL when it runs).
The world is bench/load.py's `populate` (bulk graduates, tokens issued directly), on a SQLite temp file and a
scratch PostgreSQL database `gradflow_bench_profile` (dropped at the end; skipped if PostgreSQL is unreachable).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import uuid
from collections import defaultdict
from pathlib import Path
from time import perf_counter, thread_time

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from bench.load import INVITE, machine, populate  # noqa: E402
from bench.step_cost import API_BODY, pg_admin, scratch_url, table  # noqa: E402
from core.config import Settings  # noqa: E402
from gradflow.cli import migrate  # noqa: E402
from gradflow.runtime import build_runtime  # noqa: E402
from processes.destination import services as filing  # noqa: E402
from tests.sql_counter import Counter, Counts  # noqa: E402

PG_DB = "gradflow_bench_profile"
KINDS = ("destination submit", "department approve", "school approve", "invitation", "answer")
READ = "instance read"  # the reviewer's GET /instances/<id> before each approval: a page read, not a step
ROWS = (*KINDS, READ)
WARMUP = 3  # flows of each kind run first and not recorded (spec parse, pool, caches)


def setup(url: str, var_dir: Path, n: int):
    migrate(url)
    rt = build_runtime(Settings(database_url=url, secret_key=uuid.uuid4().hex, var_dir=var_dir),
                       enqueue=lambda *a: None)
    rt.deploy()
    rt.db.dispose()
    world = populate(url, schools=1, depts=2, filings=n + WARMUP, signings=n + WARMUP, employers=2)
    rt = build_runtime(Settings(database_url=url, secret_key=uuid.uuid4().hex, var_dir=var_dir),
                       enqueue=lambda *a: None)
    return rt, world


def run(rt, world, profile_kind: str | None = None, keep_sql: bool = False, cprofile: bool = False):
    """Per kind: the Counts and ms of every recorded step (and the pyinstrument profile of `profile_kind`)."""
    from webapp import create_app

    app = create_app(rt)
    client = app.test_client()
    counter = Counter(rt.db, keep_sql)
    out: dict[str, list[tuple[Counts, float]]] = defaultdict(list)
    profiler = None
    if profile_kind:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005)
    cprof = None
    if cprofile:
        import cProfile

        cprof = cProfile.Profile()

    def call(kind: str | None, method: str, path: str, token: str, body: dict | None, recorded: bool) -> dict:
        headers = {"Authorization": f"Bearer {token}"}
        profiling = profiler is not None and recorded and kind == profile_kind
        with counter.step() as counts:
            if profiling:
                profiler.start()
            if cprof is not None and recorded and kind in KINDS:
                cprof.enable()
            t0, c0 = perf_counter(), thread_time()
            resp = client.open(f"/api/v1{path}", method=method, json=body, headers=headers)
            ms = (perf_counter() - t0) * 1000
            counts.cpu_ms = (thread_time() - c0) * 1000
            if cprof is not None:
                cprof.disable()
            if profiling:
                profiler.stop()
        if resp.status_code >= 300:
            raise RuntimeError(f"{kind}: {method} {path} {resp.status_code} {resp.get_data(as_text=True)[:300]}")
        if kind and recorded:
            out[kind].append((counts, ms))
        return resp.get_json()

    def review(iid: int, token: str, kind: str, recorded: bool) -> None:
        inst = call(READ, "GET", f"/instances/{iid}", token, None, recorded)
        wid = next(w["id"] for w in inst["work_items"] if w["state"] == "open")
        call(kind, "POST", f"/work-items/{wid}/complete", token, {"decision": "approve"}, recorded)

    with counter:
        for i, (g_file, g_sign) in enumerate(zip(world.filing, world.signing)):
            recorded = i >= WARMUP
            inst = call(KINDS[0], "POST", f"/processes/{filing.PROCESS_ID}/instances", g_file.token, API_BODY,
                        recorded)
            review(inst["id"], g_file.dept, KINDS[1], recorded)
            review(inst["id"], g_file.school, KINDS[2], recorded)
            employer = world.employers[i % len(world.employers)]
            inv = call(KINDS[3], "POST", "/invitations", employer,
                       {**INVITE, "name": g_sign.name, "id_number": g_sign.id_number}, recorded)
            call(KINDS[4], "POST", f"/instances/{inv['id']}/answer", g_sign.token, {"answer": "accept"}, recorded)
    return out, (profiler, cprof)


def by_package(cprof, steps: int) -> list[tuple]:
    """Own time (tottime) per top-level package over the recorded steps, ms per step."""
    import pstats

    stats = pstats.Stats(cprof)
    totals: dict[str, float] = defaultdict(float)
    calls: dict[str, int] = defaultdict(int)
    for (filename, _line, func), (_cc, nc, tt, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        if filename.startswith("~") or filename == "<built-in>":
            name = f"builtin {func}" if func.startswith("<") else "builtin"
            for pkg in ("psycopg", "sqlite3", "json", "zlib", "compile", "method 'execute"):
                if pkg in func:
                    name = f"builtin {pkg}"
            totals[name] += tt
            calls[name] += nc
            continue
        path = filename.replace("\\", "/")
        if "/site-packages/" in path:
            name = path.split("/site-packages/", 1)[1].split("/", 1)[0]
        elif str(ROOT) in path:
            name = "gradflow " + path.split(str(ROOT) + "/", 1)[1].split("/", 1)[0]
        else:
            name = "stdlib " + path.rsplit("/", 1)[-1]
        totals[name] += tt
        calls[name] += nc
    total = sum(totals.values())
    rows = [(name, f"{ms * 1000 / steps:.2f}", f"{ms / total * 100:.1f}", f"{calls[name] / steps:.0f}")
            for name, ms in sorted(totals.items(), key=lambda kv: -kv[1])[:25]]
    rows.append(("all", f"{total * 1000 / steps:.2f}", "100.0", f"{sum(calls.values()) / steps:.0f}"))
    return rows


def rows_for(backend: str, out: dict[str, list[tuple[Counts, float]]]) -> list[tuple]:
    rows = []
    for kind in ROWS:
        samples = out[kind]
        med = lambda attr: statistics.median(getattr(c, attr) for c, _ in samples)  # noqa: E731
        stmts = [c.statements for c, _ in samples]
        rows.append((backend, kind, len(samples), f"{statistics.mean(stmts):.1f}", f"{min(stmts)}-{max(stmts)}",
                     f"{med('checkouts'):g}", f"{med('begins'):g}", f"{med('commits'):g}", f"{med('rollbacks'):g}",
                     f"{statistics.median(ms for _, ms in samples):.2f}",
                     f"{statistics.median(c.cpu_ms for c, _ in samples):.2f}"))
    return rows


def pg_scratch() -> str | None:
    try:
        pg_admin(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)', f'CREATE DATABASE "{PG_DB}"')
    except Exception as exc:  # noqa: BLE001 - any failure means: skip PostgreSQL
        print(f"NOTE: PostgreSQL skipped: {str(exc).splitlines()[0]}")
        return None
    return scratch_url(PG_DB)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=40, help="recorded flows per kind and backend")
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--profile", choices=KINDS, default=None, help="print a pyinstrument profile of this kind")
    ap.add_argument("--cprofile", action="store_true",
                    help="cProfile every recorded step: own time per package, ms per step, and the top functions")
    ap.add_argument("--sql", choices=ROWS, default=None, help="print the statements of one step of this kind")
    args = ap.parse_args()
    print(machine())
    print(f"load average at start {os.getloadavg()}")
    rows, profiles = [], {}
    with tempfile.TemporaryDirectory(prefix="gradflow_profile_") as tmp:
        for backend in args.backends.split(","):
            url = f"sqlite:///{tmp}/profile.sqlite3" if backend == "sqlite" else pg_scratch()
            if url is None:
                continue
            try:
                rt, world = setup(url, Path(tmp) / backend, args.n)
                out, (profiler, cprof) = run(rt, world, args.profile, keep_sql=bool(args.sql),
                                             cprofile=args.cprofile)
                rt.db.dispose()
                rows += rows_for(backend, out)
                if profiler is not None:
                    profiles[backend] = profiler
                if cprof is not None:
                    import pstats

                    steps = sum(len(out[k]) for k in KINDS)
                    table(f"cProfile, {backend}: own time per package over {steps} steps of the mix (ms per step, "
                          "cProfile's overhead included;\n  calls: Python and built-in function calls, which do not "
                          "depend on the machine's speed)",
                          ("package", "ms/step", "%", "calls/step"), by_package(cprof, steps), left=1)
                    st = pstats.Stats(cprof).sort_stats(os.environ.get("PROFILE_SORT", "tottime"))
                    st.print_stats(os.environ.get("PROFILE_FILTER", ""), 40)
                    if os.environ.get("PROFILE_CALLERS"):
                        st.print_callers(os.environ["PROFILE_CALLERS"])
                    if os.environ.get("PROFILE_CALLEES"):
                        st.print_callees(os.environ["PROFILE_CALLEES"])
                if args.sql:
                    print(f"\n{backend}: the statements of one '{args.sql}' step")
                    for line in out[args.sql][-1][0].sql:
                        print("  ", line)
            finally:
                if backend == "postgresql":
                    pg_admin(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
    table("Per API step (web process, in-process app): SQL = statements without BEGIN (mean, min-max); "
          "checkouts = pool checkouts;\n  begins / commits / rollbacks = transactions (medians); "
          "CPU ms = median thread CPU of the request in this process (the database's own CPU not included)",
          ("backend", "step", "n", "SQL", "SQL range", "checkouts", "begins", "commits", "rollbacks", "median ms",
           "CPU ms"),
          rows, left=2)
    for backend, profiler in profiles.items():
        print(f"\npyinstrument, {backend}, {args.profile}:")
        print(profiler.output_text(unicode=True, color=False, show_all=bool(os.environ.get("PROFILE_ALL"))))
    print(f"load average at end {os.getloadavg()}")


if __name__ == "__main__":
    main()
