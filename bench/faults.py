"""Faults at full length (issue 12 item 4): the Celery broker stopped for a minute, PostgreSQL down for a while,
both under steps through gunicorn. `make test` runs the same code with short outages (tests/test_faults.py).

Usage: .venv/bin/python bench/faults.py [--broker-outage 60] [--db-outage 10] [--items 30]

Everything runs against a private PostgreSQL cluster (initdb + pg_ctl on a free port) and a private
redis-server, never the machine's own services. Prints one table per fault, with the load average.
"""
from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.config import Settings  # noqa: E402
from gradflow.cli import migrate  # noqa: E402
from gradflow.runtime import build_runtime  # noqa: E402
from tests.fault_helpers import TEST_MODULE, PrivatePostgres, WebServer, app_env, bearer  # noqa: E402
from tests.test_faults import _seed_private, run_broker_outage, run_database_restart  # noqa: E402


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def table(title: str, rows: list[tuple[str, object]]) -> None:
    print(f"\n{title}  ({load()}; {platform.node()}, {os.cpu_count()} cores)")
    width = max(len(k) for k, _ in rows)
    print(f"| {'measure'.ljust(width)} | value |")
    print(f"|{'-' * (width + 2)}|-------|")
    for key, value in rows:
        print(f"| {key.ljust(width)} | {value} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker-outage", type=float, default=60.0, help="seconds the broker is stopped")
    parser.add_argument("--db-outage", type=float, default=10.0, help="seconds PostgreSQL is stopped")
    parser.add_argument("--items", type=int, default=30, help="approvals per fault")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="gradflow-faults-"))
    pg = PrivatePostgres()
    try:
        pg.init()
        pg.start()
        migrate(pg.url)
        rt = build_runtime(Settings(mode="embedded", database_url=pg.url, secret_key="b-" + uuid.uuid4().hex,
                                    extra_modules=(TEST_MODULE,), var_dir=work / "var"))
        rt.deploy()
        items = _seed_private(rt, 2 * args.items)
        headers = bearer(rt, "dept_info")

        report: dict = {}
        started = time.monotonic()
        (work / "broker").mkdir()
        run_broker_outage(rt, pg.url, rt.settings.var_dir, work / "broker", items[:args.items], headers,
                          args.broker_outage, report)
        table(f"Broker (private redis-server) stopped for {args.broker_outage:.0f} s; gunicorn + Celery worker + beat",
              [("approvals before / during / after the outage", f"{args.items // 3} / {report['during_steps']} / "
                f"{args.items - 2 * (args.items // 3)}"),
               ("all approvals accepted by the web side (HTTP 200)", "yes"),
               ("slowest approval while the broker was down (s)", f"{report['during_p_max']:.3f}"),
               ("broker down for (s)", f"{report['outage']:.1f}"),
               ("notifications written (outbox rows)", report["notifications"]),
               ("delivered exactly once (spool ids == outbox ids)", "yes"),
               ("all delivered, seconds after the broker came back", f"{report['resumed_after']:.1f}"),
               ("total run (s)", f"{time.monotonic() - started:.1f}")])

        server = WebServer(app_env(pg.url, rt.settings.var_dir), work / "gunicorn-db.log", workers=2, threads=4)
        try:
            server.wait_ready()
            run = run_database_restart(rt, pg, server, items[args.items:], headers, down_seconds=args.db_outage)
        finally:
            server.stop()
        answers = run["answers"]
        down = [a for a in answers if run["down_at"] <= a[0] <= run["up_at"]]
        times_503 = [a for a in answers if a[2] == 503]
        table(f"PostgreSQL (private cluster) stopped (-m fast) for {args.db_outage:.0f} s under 4 clients; "
              "gunicorn 2 workers",
              [("requests answered", len(answers)),
               ("answers while down: 503 / other", f"{sum(1 for a in down if a[2] == 503)} / "
                f"{sum(1 for a in down if a[2] != 503)}"),
               ("answers other than 200 or 503 (whole run)", sum(1 for a in answers if a[2] not in (200, 503))),
               ("503s with Retry-After: 30 and JSON", sum(1 for a in times_503 if a[3].get("Retry-After") == "30"
                                                          and a[3].get("Content-Type", "").startswith(
                                                              "application/json"))),
               ("first 200 after the start (s)", f"{run['first_ok_after_start']:.2f}"),
               ("approvals done in the end", f"{sum(1 for a in answers if a[1].startswith('step:') and a[2] == 200)}"
                f" of {len(items) - args.items}")])
    finally:
        pg.destroy()


if __name__ == "__main__":
    main()
