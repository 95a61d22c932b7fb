"""What the chosen stack costs per request before any gradflow code runs (issue 11, target 1).

Usage: .venv/bin/python bench/stack_floor.py [--requests 3000] [--concurrency 16] [--k 8,16,32]

bench/floor_app.py (Flask + SQLAlchemy 2 + psycopg 3, core.db's pool and session factory, one table as wide as
an audit event) runs under gunicorn with the flags load.py gives gradflow (2 workers x 4 gthread threads), over a
scratch PostgreSQL database `gradflow_bench_floor` (reached as load.py reaches its own: the Unix socket when the
machine has one), dropped at the end. An aiohttp client runs each endpoint one request at a time (the unloaded
median) and then closed-loop at `--concurrency` (the peak). CPU per request is sampled from /proc for the gunicorn
tree, the database's backends and the whole machine. The issue's 350 steps/s on 2 cores leave 5.7 ms of CPU per
step for everything: web, worker and database.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path
from time import perf_counter

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from sqlalchemy import create_engine, insert, make_url  # noqa: E402

from bench.floor_app import ROWS, Base, FloorRow, _row  # noqa: E402
from bench.load import CpuSampler, load_avg, machine, pct, pg_backends  # noqa: E402
from bench.step_cost import pg_admin, scratch_url, table  # noqa: E402
from tests.fault_helpers import Process, free_port, http, wait_until  # noqa: E402

DB = "gradflow_bench_floor"
TARGET_RATE, CORES = 350, os.cpu_count() or 2


def where(url: str) -> str:
    parsed = make_url(url)
    socket_dir = parsed.query.get("host")
    return f"the Unix socket {socket_dir}" if socket_dir else f"TCP {parsed.host}:{parsed.port or 5432}"


def seed(url: str) -> None:
    eng = create_engine(url)
    Base.metadata.create_all(eng)
    with eng.begin() as conn:
        conn.execute(insert(FloorRow), [_row(n) for n in range(ROWS)])
        conn.exec_driver_sql("ANALYZE floor_row")
    eng.dispose()


def start_web(url: str, tmp: Path, workers: int, threads: int) -> tuple[Process, str]:
    port = free_port()
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    proc = Process([gunicorn, "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--threads", str(threads),
                    "--worker-class", "gthread", "--timeout", "120", "--graceful-timeout", "2",
                    "--no-control-socket", "bench.floor_app:app"], env, tmp / "gunicorn.log")
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: http("POST", base + "/noop", {"note": "x"})[0] == 200, 60, "floor app answering", 0.1)
    return proc, base


async def drive(base: str, path: str, requests: int, concurrency: int) -> tuple[list[float], float, int]:
    """`concurrency` clients, each sending one request after another until `requests` were sent."""
    ms: list[float] = []
    errors = [0]
    left = [requests]
    conn = aiohttp.TCPConnector(limit=0, keepalive_timeout=1.0)
    async with aiohttp.ClientSession(connector=conn) as session:
        async def client() -> None:
            while left[0] > 0:
                left[0] -= 1
                t0 = perf_counter()
                async with session.post(base + path, json={"note": "bench", "decision": "approve"}) as resp:
                    await resp.read()
                    if resp.status != 200:
                        errors[0] += 1
                        continue
                ms.append((perf_counter() - t0) * 1000)

        t0 = perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        return ms, perf_counter() - t0, errors[0]


def measure(base: str, path: str, requests: int, concurrency: int, groups) -> dict:
    asyncio.run(drive(base, path, max(20, requests // 20), concurrency))  # warm: pool, compiled cache, keep-alive
    with CpuSampler(groups, interval=0.25) as cpu:
        ms, wall, errors = asyncio.run(drive(base, path, requests, concurrency))
    done = max(1, len(ms))
    seconds = cpu.seconds()
    return {"rate": len(ms) / wall, "p50": pct(ms, 0.5), "p95": pct(ms, 0.95), "errors": errors,
            "web": seconds.get("web", 0.0) * 1000 / done, "pg": seconds.get("postgres", 0.0) * 1000 / done,
            "client": seconds.get("client", 0.0) * 1000 / done,
            "machine": cpu.machine_busy() * 1000 / done}


def main(argv: list[str] | None = None) -> list[tuple]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=3000, help="requests per endpoint at the peak concurrency")
    ap.add_argument("--unloaded", type=int, default=300, help="requests per endpoint one at a time")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--k", default="8,16,32", help="statements per transaction for the /core and /orm endpoints")
    ap.add_argument("--web-workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=4)
    args = ap.parse_args(argv)
    ks = [int(k) for k in args.k.split(",") if k]
    print(machine())
    url = scratch_url(DB)
    if pg_backends(DB):
        raise SystemExit(f"database {DB} is in use by another run")
    pg_admin(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)', f'CREATE DATABASE "{DB}"')
    try:
        seed(url)
        with tempfile.TemporaryDirectory(prefix="gradflow-floor-") as tmp:
            web, base = start_web(url, Path(tmp), args.web_workers, args.threads)
            try:
                import psutil

                def groups() -> dict:
                    root = psutil.Process(web.pid)
                    return {"web": [root, *root.children(recursive=True)], "postgres": pg_backends(DB),
                            "client": [psutil.Process()]}

                paths = ["/noop", *(f"/core/{k}" for k in ks), *(f"/orm/{k}" for k in ks)]
                rows = []
                for path in paths:
                    one = measure(base, path, args.unloaded, 1, groups)
                    peak = measure(base, path, args.requests, args.concurrency, groups)
                    k = 0 if path == "/noop" else int(path.rsplit("/", 1)[1])
                    rows.append((path, k, f"{one['p50']:.2f}", f"{one['web']:.2f}", f"{one['pg']:.2f}",
                                 f"{peak['rate']:.0f}", f"{peak['p50']:.1f}", f"{peak['p95']:.1f}",
                                 f"{peak['web']:.2f}", f"{peak['pg']:.2f}", f"{peak['client']:.2f}",
                                 f"{peak['machine']:.2f}", one["errors"] + peak["errors"]))
            finally:
                web.stop()
                log = Path(tmp) / "gunicorn.log"
                errors = [line for line in log.read_text(errors="replace").splitlines() if "Traceback" in line]
                if errors:
                    print(f"NOTE: gunicorn logged {len(errors)} tracebacks")
        table(f"The stack's floor: gunicorn {args.web_workers} workers x {args.threads} gthread threads, Flask, "
              f"SQLAlchemy 2, psycopg 3, PostgreSQL by {where(url)}  ({load_avg()})\n"
              f"  statements = SQL statements per request (BEGIN and COMMIT not counted); unloaded = one request "
              f"at a time; peak = closed loop at {args.concurrency}; CPU ms per request by part (machine = every "
              f"process on it, the client included)\n"
              f"  the issue's target leaves {CORES * 1000 / TARGET_RATE:.1f} ms of machine CPU per step "
              f"({TARGET_RATE}/s on {CORES} cores)",
              ("endpoint", "statements", "unloaded p50 ms", "web CPU", "PG CPU", "peak req/s", "p50 ms", "p95 ms",
               "web CPU", "PG CPU", "client CPU", "machine CPU", "errors"), rows, 1)
    finally:
        pg_admin(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
    return rows


if __name__ == "__main__":
    main()
