"""Cost of the e-agreement PDF and of firing many due invitation timers (online_signing).

Usage: .venv/bin/python bench/signing_cost.py [--timers 10000] [--renders 30]   (tables: see bench/README.md)
Per backend (SQLite temp file; PostgreSQL scratch database, skipped if unreachable): two signed online
agreements (three_party, two_party) are built through the services and their PDF rendered; then
--timers invitations whose answer deadline passes seconds after creation are expired by
engine.timers.fire_due_timers (PostgreSQL: once with one worker, once with two worker threads), which
claims --batch due instances per transaction (each fired in its own savepoint; --batch 1: one instance per
transaction, as before issue 11).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from time import perf_counter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from sqlalchemy import func, select, update  # noqa: E402
from werkzeug.security import generate_password_hash  # noqa: E402

from bench.step_cost import PG_ADMIN, pg_admin, scratch_url, table  # noqa: E402
from core.config import Settings  # noqa: E402
from core.db import utcnow  # noqa: E402
from domain import seed  # noqa: E402
from domain.accounts import actor_for  # noqa: E402
from domain.models import Account, Agreement, Province  # noqa: E402
from engine.models import AuditEvent, ProcessInstance, WorkItem  # noqa: E402
from engine.timers import fire_due_timers  # noqa: E402
from gradflow.cli import migrate  # noqa: E402
from gradflow.runtime import build_runtime  # noqa: E402
from processes.agreements import services as signing  # noqa: E402
from processes.agreements.pdf import context, render_and_cache  # noqa: E402
from processes.review import services as reviews  # noqa: E402

PG_DB = "gradflow_bench2"
TERMS = {"job_category": "13", "job_category_name": "工程技术人员", "position": "软件工程师", "work_place": "厦门市",
         "salary_regular": 12000, "trial_months": 3, "salary_trial": 10000, "penalty": 5000,
         "archive_type": "签约单位接收", "hukou_type": "签约单位接收", "supplement": "包食宿"}  # tests/conftest.py
EXPIRED_LABEL = "签约邀请逾期未回应 签约失败"
BATCH = 500  # invitations per setup transaction
DUE_AFTER = 2.0  # seconds between creating an invitation and its answer deadline
FULL_N = 10_000  # the target size; a smaller --timers is extrapolated to it


# -- helpers --------------------------------------------------------------------------------
def stats(ms: list[float]) -> tuple[float, float, float, float]:
    p95 = statistics.quantiles(ms, n=20, method="inclusive")[18] if len(ms) > 1 else ms[0]
    return statistics.median(ms), p95, min(ms), max(ms)


def f2(x: float) -> str:
    return f"{x:.2f}"


def step(rt, fn):  # one request-like transaction
    with rt.Session() as s:
        s.connection(execution_options={"sqlite_immediate": True})
        out = fn(s)
        s.commit()
        return out


def actor(rt, username: str):
    with rt.Session() as s:
        return actor_for(s, s.scalar(select(Account).where(Account.username == username)))


class TimedRunner:
    """Wraps the runner's timer calls to record (start, end, instances) of each: a batch
    (`fire_timer_batch`) or, after a failed batch, one instance (`fire_timers`)."""

    def __init__(self, runner):
        self.runner, self.marks = runner, []

    def fire_timer_batch(self, session, instances):
        t0 = perf_counter()
        try:
            return self.runner.fire_timer_batch(session, instances)
        finally:
            self.marks.append((t0, perf_counter(), len(instances)))

    def fire_timers(self, session, instance):
        t0 = perf_counter()
        try:
            return self.runner.fire_timers(session, instance)
        finally:
            self.marks.append((t0, perf_counter(), 1))


# -- setup ----------------------------------------------------------------------------------
def setup(url: str, var_dir: Path, graduates: int):
    t0 = perf_counter()
    migrate(url)
    rt = build_runtime(Settings(database_url=url, secret_key=uuid.uuid4().hex, var_dir=var_dir))
    rt.deploy()
    cheap = generate_password_hash(seed.DEMO_PASSWORD, method="pbkdf2:sha256:1000")  # setup only
    with rt.Session() as s:
        school = seed.make_school(s, seed.make_province(s))  # three_party by default
        dept = seed.make_department(s, school, "信息学院")
        seed.make_account(s, "dept", "department", "院系审核员", school_id=school.id, department_id=dept.id)
        seed.make_account(s, "school", "school", "学校就业部门", school_id=school.id)
        seed.make_employer(s, "厦门星海科技有限公司", username="hr")
        ids = {}
        for i in range(graduates + 2):  # g0, g1 sign the PDF agreements; the rest get expiring invitations
            grad = seed.make_graduate(s, school, dept, name=f"毕业生{i}")
            s.add(Account(username=f"g{i}", role="graduate", display_name=grad.name, password_hash=cheap,
                          id_number=grad.id_number))
            ids[i] = grad.id
            if i % 1000 == 999:
                s.commit()
        s.commit()
    return rt, [ids[i] for i in range(2, graduates + 2)], perf_counter() - t0


def sign_agreement(rt, graduate_user: str, agreement_type: str) -> int:
    """Invite, accept, department and school approval: a signed online agreement, through the services."""
    with rt.Session() as s:
        s.execute(update(Province).values(agreement_type=agreement_type))  # MOD-3, copied at signing
        s.commit()
    hr, grad = actor(rt, "hr"), actor(rt, graduate_user)
    inst = step(rt, lambda s: signing.invite(s, rt.runner, hr, grad.graduate_id, TERMS, 7))
    step(rt, lambda s: signing.answer_invitation(s, rt.runner, grad, inst.id, "accept"))
    for user, role in (("dept", "Department"), ("school", "School")):
        reviewer = actor(rt, user)
        with rt.Session() as s:
            wid = s.scalar(select(WorkItem.id).where(WorkItem.instance_id == inst.id, WorkItem.state == "open",
                                                     WorkItem.role == role))
        step(rt, lambda s, r=reviewer, w=wid: reviews.review(s, rt.runner, r, w, "approve", ""))
    with rt.Session() as s:
        a = s.scalar(select(Agreement).where(Agreement.instance_id == inst.id))
        assert a.status == "signed" and a.agreement_type == agreement_type and len(a.agreement_no) == 19, a
        assert s.get(ProcessInstance, inst.id).status_label == "签约审核通过"
        return a.id


# -- table 1: the PDF -------------------------------------------------------------------------
def cold_render(ctx: dict, tmp: Path) -> dict:
    """First render in a fresh interpreter: imports xhtml2pdf/reportlab, loads and registers the font."""
    path = tmp / f"ctx_{ctx['agreement_type']}.json"
    path.write_text(json.dumps(ctx, ensure_ascii=False), encoding="utf-8")
    out = subprocess.run([sys.executable, __file__, "--_cold", str(path)], capture_output=True, text=True,
                         check=False, cwd=Path(__file__).resolve().parent.parent)
    if out.returncode:
        raise RuntimeError(f"the cold render failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _cold_main(path: str) -> None:
    ctx = json.loads(Path(path).read_text(encoding="utf-8"))
    from processes.agreements.documents import (
        render_agreement_pdf,  # already imported by domain.agreement_pdf above
    )

    t1 = perf_counter()
    loaded = "xhtml2pdf" in sys.modules
    pdf = render_agreement_pdf(ctx)
    t2 = perf_counter()
    render_agreement_pdf(ctx)
    t3 = perf_counter()
    print(json.dumps({"cold_ms": (t2 - t1) * 1000, "second_ms": (t3 - t2) * 1000,
                      "xhtml2pdf_preloaded": loaded, "bytes": len(pdf)}))


def pdf_bench(rt, agreements: dict[str, int], renders: int, tmp: Path | None) -> dict:
    """Per agreement type: cold (subprocess, only when tmp is given), N warm renders, the cache miss
    and N cache hits of render_and_cache (each in its own session, like a request or a task)."""
    from processes.agreements.documents import render_agreement_pdf

    out = {}
    for kind, agreement_id in agreements.items():
        with rt.Session() as s:
            ctx = context(s, s.get(Agreement, agreement_id))
        r = {"cold": cold_render(ctx, tmp) if tmp else None}
        if tmp:
            render_agreement_pdf(ctx)  # warm-up in this process (font registered, template compiled)
            times, sizes = [], set()
            for _ in range(renders):
                t0 = perf_counter()
                pdf = render_agreement_pdf(ctx)
                times.append((perf_counter() - t0) * 1000)
                sizes.add(len(pdf))
            r["render"], r["bytes"] = times, sorted(sizes)
        t0 = perf_counter()
        with rt.Session() as s:
            doc = render_and_cache(s, agreement_id)
            s.commit()
            r["miss_ms"], r["render_ms_stored"], key = (perf_counter() - t0) * 1000, doc.render_ms, doc.id
        hits = []
        for _ in range(renders):
            t0 = perf_counter()
            with rt.Session() as s:
                doc = render_and_cache(s, agreement_id)
                assert doc.id == key  # a hit: the same cached row
                s.commit()
            hits.append((perf_counter() - t0) * 1000)
        r["hit"] = hits
        out[kind] = r
    return out


# -- table 2: firing due timers ------------------------------------------------------------------
def create_invitations(rt, graduate_ids: list[int]) -> tuple[float, int]:
    """One expiring invitation per graduate, BATCH per transaction; deadline = creation + DUE_AFTER s."""
    hr = actor(rt, "hr")
    with rt.Session() as s:
        base = s.scalar(select(func.max(ProcessInstance.id))) or 0
    t0 = perf_counter()
    for i in range(0, len(graduate_ids), BATCH):
        with rt.Session() as s:
            s.connection(execution_options={"sqlite_immediate": True})
            for gid in graduate_ids[i:i + BATCH]:
                # like tests/processes/test_online_signing.py: invited "a day ago" with a one-day window
                now = datetime.now(UTC) - timedelta(days=1) + timedelta(seconds=DUE_AFTER)
                signing.invite(s, rt.runner, hr, gid, TERMS, 1, now=now)
            s.commit()
    return perf_counter() - t0, base


def fire(rt, url: str, workers: int, limit: int, batch: int) -> tuple[float, list[int], list[list]]:
    """One worker: in this process. More: that many worker processes (as `gradflow worker --queues timers
    --concurrency N` runs them), each with its own runtime, started together and sharing the due instances
    through FOR UPDATE SKIP LOCKED; the time is from their common start to the last one's end."""
    if workers == 1:
        runner = TimedRunner(rt.runner)
        t0 = perf_counter()
        count = fire_due_timers(rt.Session, runner, limit=limit, batch=batch)
        return perf_counter() - t0, [count], [runner.marks]
    import multiprocessing

    mp = multiprocessing.get_context("fork")
    rt.db.dispose()  # no pooled connection is shared with the children
    start, ready, out = mp.Event(), mp.Queue(), mp.Queue()
    procs = [mp.Process(target=_fire_worker, args=(url, limit, batch, start, ready, out)) for _ in range(workers)]
    [p.start() for p in procs]
    for _ in procs:
        ready.get(timeout=120)
    t0 = perf_counter()
    start.set()
    results = [out.get(timeout=1800) for _ in procs]
    [p.join() for p in procs]
    errors = [r for r in results if isinstance(r, str)]
    if errors:
        raise RuntimeError(errors[0])
    return max(end for _, end, _ in results) - t0, [n for n, _, _ in results], [m for _, _, m in results]


def _fire_worker(url: str, limit: int, batch: int, start, ready, out) -> None:
    try:
        rt = build_runtime(Settings(database_url=url, secret_key=uuid.uuid4().hex,
                                    var_dir=Path(tempfile.mkdtemp(prefix="gradflow_timer_worker_"))))
        with rt.Session() as s:  # a long-running worker has its specs parsed already
            rt.runner.registry.load(s, rt.runner.registry.latest_version_id(s, "online_signing"))
        runner = TimedRunner(rt.runner)
        ready.put(True)
        start.wait()
        count = fire_due_timers(rt.Session, runner, limit=limit, batch=batch)
        out.put((count, perf_counter(), runner.marks))
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        import traceback

        ready.put(False)
        out.put(f"{exc}\n{traceback.format_exc()}")


def verify(rt, base: int, n: int) -> dict:
    with rt.Session() as s:
        mine = (ProcessInstance.id > base) & (ProcessInstance.process_id == "online_signing")
        total = s.scalar(select(func.count()).select_from(ProcessInstance).where(mine))
        done = s.scalar(select(func.count()).select_from(ProcessInstance).where(
            mine, ProcessInstance.status == "completed", ProcessInstance.status_label == EXPIRED_LABEL))
        expired = s.scalar(select(func.count()).select_from(Agreement).where(
            Agreement.instance_id > base, Agreement.status == "expired"))
        per_instance = (select(AuditEvent.instance_id, func.count().label("c"))
                        .where(AuditEvent.action == "timer", AuditEvent.instance_id > base)
                        .group_by(AuditEvent.instance_id).subquery())
        events = s.scalar(select(func.coalesce(func.sum(per_instance.c.c), 0)))
        once = s.scalar(select(func.count()).select_from(per_instance).where(per_instance.c.c == 1))
        twice = s.scalar(select(func.count()).select_from(per_instance).where(per_instance.c.c > 1))
        open_items = s.scalar(select(func.count()).select_from(WorkItem).where(
            WorkItem.instance_id > base, WorkItem.state == "open"))
    ok = total == n and done == n and expired == n and events == n and once == n and twice == 0 and open_items == 0
    return {"instances": total, "completed+label": done, "agreements expired": expired, "timer events": events,
            "instances fired once": once, "fired twice": twice, "open work items": open_items, "ok": ok}


def timer_round(rt, url: str, graduate_ids: list[int], workers: int, batch: int) -> dict:
    setup_s, base = create_invitations(rt, graduate_ids)
    n = len(graduate_ids)
    with rt.Session() as s:
        last_due = s.scalar(select(func.max(ProcessInstance.next_timer_at)).where(ProcessInstance.id > base))
        assert s.scalar(select(func.count()).select_from(ProcessInstance).where(
            ProcessInstance.id > base, ProcessInstance.next_timer_at.is_not(None))) == n
    t_wait = perf_counter()
    while utcnow() <= last_due + timedelta(milliseconds=300):
        time.sleep(0.05)
    waited = perf_counter() - t_wait
    with rt.Session() as s:
        due = s.scalar(select(func.count()).select_from(ProcessInstance).where(
            ProcessInstance.status == "running", ProcessInstance.next_timer_at <= utcnow()))
    load = os.getloadavg()
    total_s, counts, marks = fire(rt, url, workers, limit=20_000, batch=batch)
    cycle, inner = [], []  # per batch: claim+fire+commit (start to start of the next), fire_timer_batch alone
    for worker in marks:
        cycle += [(b[0] - a[0]) * 1000 for a, b in zip(worker, worker[1:], strict=False)]
        inner += [(e - s0) * 1000 / k for s0, e, k in worker]
    return {"n": n, "setup_s": setup_s, "waited_s": waited, "due": due, "total_s": total_s, "counts": counts,
            "cycle": cycle, "inner": inner, "verify": verify(rt, base, n), "load": load}


# -- main ---------------------------------------------------------------------------------------
def pg_scratch_url() -> str | None:
    try:
        pg_admin(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)', f'CREATE DATABASE "{PG_DB}"')
    except Exception as exc:  # noqa: BLE001 - any failure means: skip PostgreSQL
        print(f"NOTE: PostgreSQL skipped ({PG_ADMIN.split('@')[-1]} unreachable: {str(exc).splitlines()[0]})")
        return None
    return scratch_url(PG_DB)


def bench_backend(name: str, url: str, tmp: Path, n: int, renders: int, worker_sets: tuple[int, ...],
                  full_pdf: bool, batch: int | None = None) -> dict:
    rt, grads, seed_s = setup(url, tmp / name, n)
    try:
        agreements = {kind: sign_agreement(rt, f"g{i}", kind) for i, kind in enumerate(("two_party", "three_party"))}
        pdf = pdf_bench(rt, agreements, renders, tmp if full_pdf else None)
        rounds = {}
        for workers in worker_sets:  # each round re-invites the same graduates (ONL-5: the last one expired)
            rounds[workers] = timer_round(rt, url, grads, workers, batch)
            print(f"  [{name}] {workers} worker(s): {n} timers fired in {rounds[workers]['total_s']:.1f} s",
                  file=sys.stderr, flush=True)
        return {"seed_s": seed_s, "pdf": pdf, "rounds": rounds}
    finally:
        rt.db.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--timers", type=int, default=FULL_N, help="expiring invitations per round")
    ap.add_argument("--renders", type=int, default=30, help="timed PDF renders / cache hits per agreement type")
    ap.add_argument("--batch", type=int, default=None,
                    help="due instances per timer transaction (default: engine.timers.BATCH, SQLITE_BATCH on SQLite)")
    ap.add_argument("--pg-workers", default="1,2",
                    help="PostgreSQL rounds: worker processes per round (1 = in the bench's process)")
    ap.add_argument("--no-sqlite", action="store_true", help="skip the SQLite backend (and its PDF table)")
    ap.add_argument("--_cold", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._cold:
        return _cold_main(args._cold)
    t_start = perf_counter()
    print(f"python {platform.python_version()}, SpiffWorkflow {version('SpiffWorkflow')}, SQLAlchemy "
          f"{version('sqlalchemy')}, xhtml2pdf {version('xhtml2pdf')}, reportlab {version('reportlab')}, "
          f"cpus {len(os.sched_getaffinity(0))}, timers={args.timers}, renders={args.renders}, batch={args.batch}, "
          f"load average {os.getloadavg()}", flush=True)
    results = {}
    with tempfile.TemporaryDirectory(prefix="gradflow_bench_") as tmp:
        tmp = Path(tmp)
        if not args.no_sqlite:
            results["sqlite"] = bench_backend("sqlite", f"sqlite:///{tmp}/bench.sqlite3", tmp, args.timers,
                                              args.renders, (1,), full_pdf=True, batch=args.batch)
        pg = pg_scratch_url()
        if pg:
            try:
                sets = tuple(int(w) for w in args.pg_workers.split(","))
                results["postgresql"] = bench_backend("postgresql", pg, tmp, args.timers, args.renders, sets,
                                                      full_pdf=args.no_sqlite, batch=args.batch)
            finally:
                pg_admin(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')

    pdf = results["sqlite" if "sqlite" in results else "postgresql"]["pdf"]
    rows = []
    for kind, r in pdf.items():
        med, p95, lo, hi = stats(r["render"])
        rows.append((kind, f"{r['cold']['cold_ms']:.0f}", f2(med), f2(p95), f2(lo), f2(hi),
                     *(f2(statistics.median(results[b]["pdf"][kind]["hit"])) if b in results else "-"
                       for b in ("sqlite", "postgresql")),
                     "/".join(str(b) for b in r["bytes"])))
    table(f"Table 1 - e-agreement PDF of one signed online agreement, ms; {args.renders} warm renders of "
          "render_agreement_pdf(ctx) after one warm-up;\n  cold = first render in a fresh interpreter "
          "(imports xhtml2pdf/reportlab, loads the font); hit = render_and_cache on a cache hit, own session",
          ("type", "cold", "median", "p95", "min", "max", "hit sqlite", "hit pg", "PDF bytes"), rows, left=1)
    extra = [(kind, "yes" if r["cold"]["xhtml2pdf_preloaded"] else "no", f"{r['cold']['second_ms']:.0f}",
              f"{r['miss_ms']:.0f}", str(r["render_ms_stored"])) for kind, r in pdf.items()]
    table("  detail, ms: xhtml2pdf imported before the cold render? | 2nd render in that interpreter | "
          "render_and_cache on a miss (sqlite, incl. commit) | render_ms it stored",
          ("type", "preloaded", "2nd render", "miss", "render_ms"), extra, left=1)

    rows, checks = [], []
    for backend, res in results.items():
        for workers, rd in res["rounds"].items():
            n = rd["n"]
            c_med, c_p95, _, c_max = stats(rd["cycle"])
            per_thread = "+".join(str(c) for c in rd["counts"])
            rows.append((backend, workers, n, f"{res['seed_s']:.1f}" if workers == 1 else "(reused)",
                         f"{rd['setup_s']:.1f}", f"{n / rd['setup_s']:.0f}", f"{rd['waited_s']:.1f}", rd["due"],
                         f"{rd['total_s']:.1f}", f"{n / rd['total_s']:.1f}", f2(c_med), f2(c_p95),
                         f2(statistics.median(rd["inner"])), per_thread,
                         "/".join(f"{x:.1f}" for x in rd["load"])))
            v = rd["verify"]
            checks.append((backend, workers, *(v[k] for k in ("instances", "completed+label", "agreements expired",
                                                             "timer events", "instances fired once",
                                                             "fired twice", "open work items")),
                           "OK" if v["ok"] else "FAILED"))
    from engine.timers import BATCH as TIMER_BATCH
    from engine.timers import SQLITE_BATCH

    per_tx = args.batch or f"{SQLITE_BATCH} (SQLite) / {TIMER_BATCH} (PostgreSQL)"
    table(f"Table 2 - firing due invitation timers: fire_due_timers(Session, runner, limit=20000, batch={args.batch}), "
          f"{per_tx} instance(s) per transaction;\n  workers: 1 = in this process, 2 = two worker processes; "
          f"seed = schema + graduates/accounts; setup = invitations, {BATCH} per transaction;\n  cycle = one "
          "batch: claim, fire, commit (start to next start, per worker); per timer = Runner.fire_timer_batch "
          "alone (load, refresh_timers,\n  engine steps, save, sync of work items, flush) / instances in the "
          "batch; load = load average when the round started",
          ("backend", "workers", "n", "seed s", "setup s", "inv/s", "wait s", "due", "fire s", "timers/s",
           "cycle med ms", "cycle p95 ms", "per timer med ms", "fired per worker", "load"), rows, left=1)
    table(f"Table 3 - after each round: instances completed with status_label \"{EXPIRED_LABEL}\", agreements "
          "expired,\n  audit events action='timer' (total, instances with exactly one, with more than one)",
          ("backend", "workers", "instances", "completed", "agr expired", "timer events", "fired once",
           "fired >1", "open items", "check"), checks, left=1)
    if args.timers < FULL_N:
        ext = [(b, w, f"{FULL_N * rd['setup_s'] / rd['n']:.0f}", f"{FULL_N * rd['total_s'] / rd['n']:.0f}")
               for b, res in results.items() for w, rd in res["rounds"].items()]
        table(f"EXTRAPOLATED (not measured): {FULL_N} timers at the rates measured with n={args.timers}",
              ("backend", "workers", "setup s", "fire s"), ext, left=1)
    print(f"\nwall time {perf_counter() - t_start:.1f} s, load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
