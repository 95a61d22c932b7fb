"""Soak (issue 12 item 5): the mixed load of bench/load.py at half the measured peak for 30 minutes.

Usage: .venv/bin/python bench/soak.py [--minutes 30] [--rate R] [--expiring-per-minute 10]   (see bench/README.md)
Same stack as load.py (gunicorn, Celery worker + beat, private redis-server, sync receiver, scratch PostgreSQL
database `gradflow_bench_soak`, dropped at the end). Without --rate a short closed-loop run measures the peak first. Besides the load,
invitations whose answer deadline falls inside the soak are created beforehand (the service's own `now`, as in
bench/signing_cost.py), so the beat's timer job must expire them while the load runs. Prints: errors, RSS of every
process each minute, the end state of every instance (none stuck) and how late each due timer fired.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import time
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from time import perf_counter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

import psutil  # noqa: E402
from sqlalchemy import exists, func, select  # noqa: E402

from bench.load import (  # noqa: E402
    Client,
    CpuSampler,
    Flows,
    Results,
    Stack,
    Window,
    closed_loop,
    load_avg,
    machine,
    open_loop,
    outbox_backlog,
    outbox_table,
    pct,
    populate,
    print_kinds,
    print_windows,
    runtime_for,
    scratch_dir,
    table,
    timed_tx,
)
from bench.signing_cost import EXPIRED_LABEL, TERMS  # noqa: E402
from core.db import utcnow  # noqa: E402
from domain.accounts import actor_for  # noqa: E402
from domain.models import Account  # noqa: E402
from engine.models import AuditEvent, ProcessInstance, WorkItem  # noqa: E402
from processes.agreements import services as signing  # noqa: E402

log = logging.getLogger("bench.soak")
SOAK_DB = "gradflow_bench_soak"  # its own scratch database: a load.py run beside it never touches it


def expiring_invitations(url: str, var_dir: Path, graduate_ids: list[int], minutes: float, first_after: float,
                         ) -> dict[int, object]:
    """One invitation per graduate by `emp0`, answer deadlines spread evenly from `first_after` seconds from now to
    a minute before the soak ends: {instance id: deadline (naive UTC)}."""
    rt = runtime_for(url, var_dir)
    start, out = utcnow(), {}
    span = max(1.0, minutes * 60 - first_after - 60)
    try:
        with rt.Session() as s:
            hr = actor_for(s, s.scalar(select(Account).where(Account.username == "emp0")))
        for k, gid in enumerate(graduate_ids):
            deadline = start + timedelta(seconds=first_after + span * k / max(1, len(graduate_ids) - 1))
            _, inst = timed_tx(rt, lambda s, g=gid, d=deadline: signing.invite(
                s, rt.runner, hr, g, TERMS, 1, now=d.replace(tzinfo=None) - timedelta(days=1)))
            out[inst.id] = deadline
        return out
    finally:
        rt.db.dispose()


def rss_row(stack: Stack) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for name, procs in stack.groups().items():
        for p in procs:
            try:
                out[name] += p.memory_info().rss
            except psutil.Error:
                pass
    return dict(out)


def end_state(stack: Stack, expiring: dict[int, object], poll: int) -> tuple[list[tuple], dict]:
    """Per (process, status, label): count; stuck = running with no open work item and no pending timer, or an
    incident (last_error). Timers: when each expiring invitation's `timer` audit event was written."""
    rt = runtime_for(stack.url, stack.tmp / "check-var")
    try:
        with rt.Session() as s:
            open_item = exists().where(WorkItem.instance_id == ProcessInstance.id, WorkItem.state == "open")
            rows = s.execute(select(ProcessInstance.process_id, ProcessInstance.status, ProcessInstance.status_label,
                                    func.count()).group_by(ProcessInstance.process_id, ProcessInstance.status,
                                                           ProcessInstance.status_label)).all()
            stuck = s.scalar(select(func.count()).where(ProcessInstance.status == "running", ~open_item,
                                                         ProcessInstance.next_timer_at.is_(None)))
            incidents = s.scalar(select(func.count()).where(ProcessInstance.last_error.is_not(None)))
            fired = dict(s.execute(select(AuditEvent.instance_id, func.min(AuditEvent.created_at))
                                   .where(AuditEvent.action == "timer", AuditEvent.instance_id.in_(list(expiring)))
                                   .group_by(AuditEvent.instance_id)).all())
            labels = dict(s.execute(select(ProcessInstance.id, ProcessInstance.status_label)
                                    .where(ProcessInstance.id.in_(list(expiring)))).all())
    finally:
        rt.db.dispose()
    lags = [(fired[i] - d).total_seconds() for i, d in expiring.items() if i in fired]
    timers = {"due": len(expiring), "fired": len(fired), "lags": lags,
              "within": sum(1 for x in lags if x <= poll), "expired label": sum(
                  1 for i in expiring if labels.get(i) == EXPIRED_LABEL), "stuck": stuck, "incidents": incidents}
    return [tuple(r) for r in rows], timers


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--rate", type=float, default=0, help="offered steps/s (default: half the peak measured first)")
    ap.add_argument("--peak-steps", type=int, default=600, help="steps of the closed-loop peak measurement")
    ap.add_argument("--peak-users", type=int, default=8)
    ap.add_argument("--expiring-per-minute", type=float, default=10, help="due invitation timers per soak minute")
    ap.add_argument("--web-workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--worker-concurrency", type=int, default=2)
    ap.add_argument("--poll", type=int, default=15, help="GRADFLOW_TIMER_POLL_SECONDS (beat period)")
    ap.add_argument("--schools", type=int, default=4)
    ap.add_argument("--depts", type=int, default=3)
    ap.add_argument("--employers", type=int, default=60)
    ap.add_argument("--keep", action="store_true", help="keep the temp directory (process logs) and print it")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    t_start = perf_counter()
    print(f"{machine()}; {load_avg()}  (the machine is shared with other work: see the load averages)")
    n_expiring = max(1, round(args.expiring_per_minute * max(0.0, args.minutes - 2)))
    guess = args.rate or 40.0
    n_grads = int((guess * args.minutes * 60 + args.peak_steps) / 3.5 * 1.3) + 100
    with scratch_dir(args.keep) as tmp:
        stack = Stack(Path(tmp), web_workers=args.web_workers, threads=args.threads,
                      worker_concurrency=args.worker_concurrency, poll_seconds=args.poll, db=SOAK_DB)
        try:
            stack.prepare()
            world = populate(stack.url, schools=args.schools, depts=args.depts, filings=n_grads, signings=n_grads,
                             employers=args.employers, expiring=n_expiring)
            stack.start()
            flows = Flows(world)
            rate = args.rate
            if not rate:
                async def peak_run():
                    async with Client(stack.base) as client:
                        return await closed_loop(client, flows, args.peak_users, args.peak_steps)
                res, wall = asyncio.run(peak_run())
                rate = round(res.steps / wall / 2, 1)
                print(f"peak (closed loop, {args.peak_users} users, {res.steps} steps): {res.steps / wall:.1f} steps/s "
                      f"-> soak at {rate} steps/s  ({load_avg()})", flush=True)
            expiring = expiring_invitations(stack.url, stack.tmp / "soak-var", world.expiring, args.minutes, 60)
            print(f"{len(expiring)} invitations due during the soak; soak {args.minutes:g} min at {rate} steps/s "
                  f"offered  ({load_avg()})", flush=True)
            out = soak(stack, flows, rate, args.minutes, expiring, args.poll)
        finally:
            stack.stop()
    print(f"\nwall time {perf_counter() - t_start:.1f} s  ({load_avg()})")
    return out


def soak(stack: Stack, flows: Flows, rate: float, minutes: float, expiring: dict, poll: int) -> dict:
    minute_rows: list[tuple] = []
    res = Results()

    def tick(elapsed: float) -> None:
        rss = rss_row(stack)
        errors = sum(res.errors.values())
        minute_rows.append((f"{elapsed / 60:.0f}", res.steps, errors, *(f"{rss.get(p, 0) / 2**20:.0f}" for p in
                            ("web", "worker", "beat", "postgres", "sync receiver", "client")),
                            sum(outbox_backlog(stack.url).values()), " ".join(f"{x:.1f}" for x in os.getloadavg())))
        print(f"  minute {elapsed / 60:.0f}: {res.steps} steps, {errors} errors  ({load_avg()})", flush=True)

    async def go():
        async with Client(stack.base) as client:
            return await open_loop(client, flows, rate, minutes * 60, on_tick=tick, res=res)

    with CpuSampler(stack.groups, interval=2.0) as cpu:
        _, wall, shed = asyncio.run(go())
    w = Window(f"soak, {rate:g} steps/s offered", res, wall, cpu.seconds(), cpu.machine_busy(),
               outbox_backlog(stack.url))
    w.shed = shed
    tick(wall)
    # the last deadline is a minute before the end: give the timer job two periods to fire it
    time.sleep(2 * poll + 5)
    rows, timers = end_state(stack, expiring, poll)
    print_windows("Soak: mixed load, open loop", [w])
    print_kinds("Soak: per step kind", w)
    table(f"Soak: every minute, steps and errors so far, RSS (MiB, summed over each part's processes), outbox left, "
          f"load average  ({load_avg()})",
          ("minute", "steps", "errors", "web MiB", "worker MiB", "beat MiB", "postgres MiB", "sync MiB", "client MiB",
           "outbox left", "load 1/5/15"), minute_rows, left=0)
    if len(minute_rows) > 3:
        first, last = minute_rows[1], minute_rows[-1]  # after the first minute (warm-up)
        growth = [(p, f"{float(first[3 + i]):.0f}", f"{float(last[3 + i]):.0f}",
                   f"{float(last[3 + i]) - float(first[3 + i]):+.0f}")
                  for i, p in enumerate(("web", "worker", "beat", "postgres", "sync receiver", "client"))]
        table("Soak: RSS after minute 1 and at the end (MiB)", ("part", "minute 1", "end", "change"), growth, left=1)
    table(f"Soak: end state of every instance  ({load_avg()})", ("process", "status", "status label", "n"),
          sorted(rows), left=3)
    lags = timers["lags"]
    checks = [
        ("steps done / offered rate", f"{res.steps} / {rate:g} per s ({res.steps / wall:.1f}/s done)"),
        ("errors (non-2xx or no answer)", sum(res.errors.values())),
        ("flows started / done / failed", f"{res.flows['started']} / {res.flows['done']} / {res.flows['failed']}"),
        ("flows shed (more than 256 in flight)", shed),
        ("stuck instances (running, no open item, no timer)", timers["stuck"]),
        ("instances with an incident (last_error)", timers["incidents"]),
        ("due invitation timers / fired", f"{timers['due']} / {timers['fired']}"),
        ("expired with label " + EXPIRED_LABEL, timers["expired label"]),
        (f"fired within one timer period ({poll} s) of the deadline", f"{timers['within']} of {timers['due']}"),
        ("lateness p50 / p95 / max (s)", f"{statistics.median(lags):.1f} / {pct(lags, .95):.1f} / {max(lags):.1f}"
         if lags else "-"),
        ("outbox undelivered when the load stopped", sum(w.backlog.values())),
        (f"outbox undelivered {2 * poll + 5} s later", sum(outbox_backlog(stack.url).values())),
        ("outbox table", outbox_table(stack.url)),
    ]
    table(f"Soak: checks  ({load_avg()})", ("check", "value"), checks, left=2)
    ok = (not res.errors and not timers["stuck"] and not timers["incidents"] and timers["fired"] == timers["due"]
          and timers["within"] == timers["due"])
    print(f"\nSOAK {'OK' if ok else 'NOT OK'}")
    return {"window": w, "timers": timers, "rows": rows, "minutes": minute_rows, "ok": ok}


if __name__ == "__main__":
    main()
