"""Steps per second through the HTTP API over the production stack (issue 11 targets 1 and 4).

Usage: .venv/bin/python bench/load.py [--steps 1000] [--sweep 1,4,8,16,32] [--rates auto] [--footprint 100000]
(tables: see bench/README.md, "load.py"). Real processes: gunicorn (gradflow.wsgi:app), a Celery worker and beat
over a private redis-server, the reference sync receiver, a scratch PostgreSQL database `gradflow_bench_load`
(real alembic migrations + `gradflow deploy`, dropped with FORCE at the end). An asyncio + aiohttp client drives
a fixed number of steps of the issue's mix: destination filings (submit, department and school approve) and
online signings (employer invitation, graduate answer, department and school approve).
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import os
import platform
import random
import secrets
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from time import perf_counter

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere
os.environ.setdefault("GRADFLOW_PASSWORD_HASH", "pbkdf2:sha256:1")  # this process's setup only, never the stack's

import aiohttp  # noqa: E402
import psutil  # noqa: E402
from sqlalchemy import func, insert, select, text  # noqa: E402

from bench.signing_cost import TERMS  # noqa: E402
from bench.step_cost import API_BODY, CLEAN, PG_ADMIN, pg_admin, scratch_url, table  # noqa: E402
from core.config import Settings  # noqa: E402
from core.db import utcnow  # noqa: E402
from domain import seed  # noqa: E402
from domain.accounts import actor_for, token_digest  # noqa: E402
from domain.models import Account, ApiToken, Graduate  # noqa: E402
from engine.models import OutboxMessage, WorkItem  # noqa: E402
from gradflow.runtime import build_runtime  # noqa: E402
from processes.agreements import services as signing  # noqa: E402
from processes.destination import services as filing  # noqa: E402
from processes.review import services as reviews  # noqa: E402
from tests.fault_helpers import PrivateRedis, Process, WebServer, gradflow_command, wait_until  # noqa: E402

PG_DB = "gradflow_bench_load"
API = "/api/v1"
INVITE = {k: v for k, v in TERMS.items() if k != "job_category_name"} | {"answer_days": 7,
                                                                          "report_deadline": "2026-07-15"}
FILING_KINDS = ("submit", "dept approve (filing)", "school approve (filing)")
SIGNING_KINDS = ("invite", "answer", "dept approve (signing)", "school approve (signing)")
KINDS = FILING_KINDS + SIGNING_KINDS
GRAD_SEQ = 500_000  # 身份证号 sequence of the bulk graduates, far from domain.seed's own counter
log = logging.getLogger("bench.load")


def load_avg() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def machine() -> str:
    """Machine, commit (and whether the tree is dirty) and date: the header of every run."""
    import subprocess

    ram = psutil.virtual_memory().total / 2**30
    git = lambda *a: subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True).stdout.strip()  # noqa: E731
    dirty = len(git("status", "--porcelain").splitlines())
    return (f"{platform.node()}: nproc {os.cpu_count()}, RAM {ram:.1f} GiB, python {platform.python_version()}; "
            f"commit {git('rev-parse', 'HEAD')[:12]}{f' + {dirty} uncommitted files' if dirty else ''}; "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


# -- the stack: real processes ---------------------------------------------------------------------
class Stack:
    """Scratch database, private Redis, gunicorn, Celery worker (+ one on the timers queue) + beat and the sync
    receiver, as production runs."""

    def __init__(self, tmp: Path, *, web_workers: int = 2, threads: int = 4, worker_concurrency: int = 2,
                 poll_seconds: int = 15, beat: bool = True, sync: bool = True, db: str = PG_DB,
                 url: str | None = None, extra_env: dict[str, str] | None = None):
        """`url`: an existing, migrated and deployed database (the tests'), neither created nor dropped here."""
        self.tmp, self.own_db = tmp, url is None
        self.url = url or scratch_url(db)
        self.db = self.url.rsplit("/", 1)[1].split("?")[0]
        self.web_workers, self.threads, self.worker_concurrency = web_workers, threads, worker_concurrency
        self.poll_seconds, self.with_beat, self.with_sync = poll_seconds, beat, sync
        self.extra_env = extra_env or {}
        self.var = tmp / "var"
        self.redis: PrivateRedis | None = None
        self.web: WebServer | None = None
        self.procs: dict[str, Process] = {}
        self.secret = "load-" + uuid.uuid4().hex

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in {"GRADFLOW_PASSWORD_HASH", "CELERY_EAGER"}}
        env.update({"GRADFLOW_MODE": "production", "DATABASE_URL": self.url, "SECRET_KEY": self.secret,
                    "CELERY_BROKER_URL": self.redis.url if self.redis else "", "GRADFLOW_VAR_DIR": str(self.var),
                    "GRADFLOW_TIMER_POLL_SECONDS": str(self.poll_seconds), "PYTHONPATH": str(ROOT),
                    "PYTHONUNBUFFERED": "1"})
        if self.with_sync:
            env["GRADFLOW_SYNC_URL"] = f"http://127.0.0.1:{self.sync_port}/changes"
        env.update(self.extra_env)
        return env

    def prepare(self) -> None:
        """Database (migrations + deploy, as `gradflow migrate` / `gradflow deploy` run them) and Redis."""
        import subprocess

        if self.own_db:
            if pg_backends(self.db):  # another run (load.py or soak.py) is using it: never drop it under that run
                raise RuntimeError(f"database {self.db} is in use by another run; wait for it or pass another name")
            pg_admin(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)', f'CREATE DATABASE "{self.db}"')
        self.var.mkdir(parents=True, exist_ok=True)
        self.redis = PrivateRedis(self.tmp)
        self.redis.start()
        self.redis.wait_ready()
        from tests.fault_helpers import free_port

        self.sync_port = free_port()
        for cmd in ("migrate", "deploy") if self.own_db else ():
            done = subprocess.run(gradflow_command(cmd), env=self.env(), cwd=ROOT, capture_output=True, text=True)
            if done.returncode:
                raise RuntimeError(f"gradflow {cmd} failed:\n{done.stdout}\n{done.stderr}")

    def start(self) -> None:
        env = self.env()
        if self.with_sync:
            self.procs["sync receiver"] = Process(gradflow_command("sync-receiver", "--port", str(self.sync_port),
                                                                   "--db", str(self.tmp / "sync.sqlite3")),
                                                  env, self.tmp / "sync.log")
        self.web = WebServer(env, self.tmp / "gunicorn.log", workers=self.web_workers, threads=self.threads)
        self.procs["web"] = self.web.process
        # as production runs it: the worker on the default and outbox queues, a small one on timers, and one on
        # documents (e-agreement renders, ~130 ms each) at a lower CPU priority, since here it shares the cores
        # with the web processes (production gives it nodes of its own)
        self.procs["worker"] = Process(gradflow_command("worker", "--concurrency", str(self.worker_concurrency),
                                                        "--queues", "celery,outbox"),
                                       env, self.tmp / "worker.log")
        self.procs["documents worker"] = Process(gradflow_command("worker", "--concurrency", "1", "--queues",
                                                                  "documents", "--name", "documents@%h",
                                                                  "--nice", "10"),
                                                 env, self.tmp / "documents-worker.log")
        if self.with_beat:
            self.procs["timer worker"] = Process(gradflow_command("worker", "--concurrency", "1", "--queues",
                                                                  "timers", "--name", "timers@%h"),
                                                 env, self.tmp / "timer-worker.log")
        if self.with_beat:
            self.procs["beat"] = Process(gradflow_command("beat"), env, self.tmp / "beat.log")
        self.web.wait_ready()
        wait_until(lambda: "ready" in (self.tmp / "worker.log").read_text(errors="replace"), 60, "celery worker")
        for name in ("timer worker", "documents worker"):
            if name in self.procs:
                log = self.tmp / f"{name.replace(' ', '-')}.log"
                wait_until(lambda log=log: "ready" in log.read_text(errors="replace"), 60, name)

    @property
    def base(self) -> str:
        assert self.web is not None
        return self.web.url + API

    def groups(self) -> dict[str, list[psutil.Process]]:
        """Process trees by part: web (gunicorn master + workers), worker, beat, sync receiver, PostgreSQL
        backends of the bench database, and this client process."""
        out: dict[str, list[psutil.Process]] = {}
        for name, proc in self.procs.items():
            try:
                root = psutil.Process(proc.pid)
                out[name] = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                out[name] = []
        # one part: every worker's tree (documents is in it: the renders are the worker's work, only later)
        out["worker"] = [*out.get("worker", []), *out.pop("timer worker", []), *out.pop("documents worker", [])]
        out["postgres"] = pg_backends(self.db)
        out["client"] = [psutil.Process()]
        return out

    def stop(self) -> None:
        for name in ("beat", "timer worker", "documents worker", "worker", "web", "sync receiver"):
            if name in self.procs:
                self.procs.pop(name).stop()
        if self.redis:
            self.redis.stop()
        if self.own_db:
            pg_admin(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)')


def pg_backends(db: str) -> list[psutil.Process]:
    """The server processes of one database: their title is 'postgres: user db host(port) state'."""
    out = []
    for p in psutil.process_iter(["cmdline"]):
        title = " ".join(p.info["cmdline"] or [])
        if title.startswith("postgres:") and f" {db} " in f" {title} ":
            out.append(p)
    return out


class CpuSampler:
    """CPU seconds (user + system) per process group over a window, sampled every `interval` s, so a process that
    ends inside the window still counts up to its last sample."""

    def __init__(self, groups: Callable[[], dict[str, list[psutil.Process]]], interval: float = 0.5):
        self.groups, self.interval = groups, interval
        self.first: dict[tuple[str, int], float] = {}
        self.last: dict[tuple[str, int], float] = {}
        self.rss: dict[tuple[str, int], int] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.machine0 = self.machine1 = None

    def _sample(self, baseline: bool) -> None:
        for name, procs in self.groups().items():
            for p in procs:
                try:
                    t = p.cpu_times()
                    rss = p.memory_info().rss
                except psutil.Error:
                    continue
                key, cpu = (name, p.pid), t.user + t.system
                self.first.setdefault(key, cpu if baseline else 0.0)
                self.last[key], self.rss[key] = cpu, rss

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample(False)

    def __enter__(self) -> CpuSampler:
        self.machine0 = psutil.cpu_times()
        self._sample(True)
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join()
        self._sample(False)
        self.machine1 = psutil.cpu_times()

    def seconds(self) -> dict[str, float]:
        out: dict[str, float] = defaultdict(float)
        for key, cpu in self.last.items():
            out[key[0]] += cpu - self.first.get(key, 0.0)
        return dict(out)

    def machine_busy(self) -> float:
        """CPU seconds the whole machine was busy (every process of every helper on it)."""
        a, b = self.machine0, self.machine1
        return (sum(b) - b.idle - b.iowait) - (sum(a) - a.idle - a.iowait)


# -- the data -------------------------------------------------------------------------------------
@dataclass
class Grad:
    token: str
    name: str
    id_number: str
    dept: str  # the department reviewer's token
    school: str  # the school reviewer's token


@dataclass
class World:
    filing: list[Grad]
    signing: list[Grad]
    employers: list[str]
    engine_users: list[str]  # usernames of graduates kept for the bare-engine run (school 0, department 0)
    readers: list[str] = field(default_factory=list)  # reviewer tokens (inbox reads)
    expiring: list[int] = field(default_factory=list)  # graduate ids kept for expiring invitations (soak)


def populate(url: str, *, schools: int, depts: int, filings: int, signings: int, employers: int,
             engine: int = 0, expiring: int = 0) -> World:
    """Schools, departments, one reviewer per department and school, employers and graduates with accounts and
    API tokens (bulk inserts; tokens issued directly, so no login or password hash is timed)."""
    rt = runtime_for(url)
    now, lifetime = utcnow(), timedelta(days=2)
    cheap = "pbkdf2:sha256:1$bench$" + "0" * 64  # never checked: every call uses a token
    try:
        with rt.Session() as s:
            province = seed.make_province(s)
            units, tokens = [], {}
            for i in range(schools):
                school = seed.make_school(s, province, code=f"9{i:04d}", name=f"压测大学{i}")
                sname = "school" if i == 0 else f"school{i}"
                seed.make_account(s, sname, "school", f"压测大学{i}就业部门", school_id=school.id)
                for j in range(depts):
                    dept = seed.make_department(s, school, f"学院{j}")
                    dname = "dept" if (i, j) == (0, 0) else f"dept{i}_{j}"
                    seed.make_account(s, dname, "department", f"学院{j}审核员", school_id=school.id,
                                      department_id=dept.id)
                    units.append((school, dept, dname, sname))
            emp_names = []
            for k in range(employers):
                seed.make_employer(s, f"压测科技{k}有限公司", username=f"emp{k}")
                emp_names.append(f"emp{k}")
            template = seed.make_graduate(s, units[0][0], units[0][1], name="模板")
            cols = {c.key: getattr(template, c.key) for c in Graduate.__table__.columns if c.key != "id"}
            total = filings + signings + engine + expiring
            grads, accounts = [], []
            for n in range(total):
                school, dept, dname, sname = units[0] if n >= filings + signings else units[n % len(units)]
                idn = seed.id_number(seq=GRAD_SEQ + n)
                grads.append({**cols, "school_id": school.id, "department_id": dept.id, "name": f"压测生{n}",
                              "id_number": idn, "exam_no": f"26{GRAD_SEQ + n:012d}", "student_no": f"B{n:09d}",
                              "email": f"b{n}@example.edu.cn", "phone": f"137{n:08d}"})
                accounts.append({"username": f"b{n}", "role": "graduate", "display_name": f"压测生{n}",
                                 "password_hash": cheap, "id_number": idn})
            gids = list(s.scalars(insert(Graduate).returning(Graduate.id, sort_by_parameter_order=True), grads))
            rows = s.execute(insert(Account).returning(Account.id, Account.username, sort_by_parameter_order=True),
                             accounts).all()
            for name in [*emp_names, *(u[2] for u in units), *(u[3] for u in units)]:
                rows.append(s.execute(select(Account.id, Account.username).where(Account.username == name)).one())
            token_rows = []
            for account_id, username in rows:
                if username not in tokens:
                    tokens[username] = secrets.token_urlsafe(32)
                    token_rows.append({"account_id": account_id, "token_hash": token_digest(tokens[username]),
                                       "label": "load", "created_at": now, "expires_at": now + lifetime})
            s.execute(insert(ApiToken), token_rows)
            s.commit()
        s_ = [Grad(tokens[a["username"]], g["name"], g["id_number"], tokens[units[n % len(units)][2]],
                   tokens[units[n % len(units)][3]]) for n, (g, a) in enumerate(zip(grads, accounts))]
        with rt.db.connect() as conn:  # fresh statistics after a bulk load (issue 11: bad plans before ANALYZE)
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
        return World(filing=s_[:filings], signing=s_[filings:filings + signings],
                     employers=[tokens[e] for e in emp_names],
                     engine_users=[a["username"] for a in accounts[filings + signings:filings + signings + engine]],
                     readers=[tokens[u[2]] for u in units] + [tokens[u[3]] for u in units],
                     expiring=gids[filings + signings + engine:])
    finally:
        rt.db.dispose()


def runtime_for(url: str, var_dir: Path | None = None):
    return build_runtime(Settings(database_url=url, secret_key=uuid.uuid4().hex,
                                  var_dir=var_dir or Path(tempfile.gettempdir()) / "gradflow_load_var"))


# -- the client ------------------------------------------------------------------------------------
class Failed(Exception):
    pass


@dataclass
class Results:
    ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    ends: list[float] = field(default_factory=list)  # perf_counter of each completed step
    errors: Counter = field(default_factory=Counter)  # (kind, status) -> n
    samples: dict[tuple[str, int], str] = field(default_factory=dict)  # one body per (kind, status)
    reads: int = 0
    flows: Counter = field(default_factory=Counter)  # started / done / failed
    instances: list[tuple[str, int]] = field(default_factory=list)  # (graduate token, instance id)

    @property
    def steps(self) -> int:
        return sum(len(v) for k, v in self.ms.items() if k in KINDS)


class Client:
    """aiohttp sessions bound to different 127.0.x.y source addresses: per-client rate limits (issue 8) count per
    address, as for a country's users; the load is never one client."""

    def __init__(self, base: str, sources: int = 64, timeout: float = 120):
        self.base, self.n = base, sources
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.sessions: list[aiohttp.ClientSession] = []
        self._next = itertools.count()

    async def __aenter__(self) -> Client:
        for k in range(self.n):
            # idle connections are dropped before gunicorn's keep-alive (2 s) closes them under a new request
            conn = aiohttp.TCPConnector(limit=0, keepalive_timeout=1.0,
                                        local_addr=(f"127.0.{1 + k // 250}.{1 + k % 250}", 0))
            self.sessions.append(aiohttp.ClientSession(connector=conn, timeout=self.timeout))
        return self

    async def __aexit__(self, *exc) -> None:
        for s in self.sessions:
            await s.close()

    def session(self) -> aiohttp.ClientSession:
        return self.sessions[next(self._next) % self.n]

    async def call(self, res: Results, kind: str, http: aiohttp.ClientSession, method: str, path: str, token: str,
                   body: dict | None = None) -> dict:
        t0 = perf_counter()
        try:
            async with http.request(method, self.base + path, json=body,
                                    headers={"Authorization": f"Bearer {token}"}) as resp:
                data = await resp.json(content_type=None)
                status = resp.status
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            res.errors[kind, 0] += 1
            res.samples.setdefault((kind, 0), f"{type(exc).__name__}: {exc}"[:200])
            raise Failed(kind) from exc
        t1 = perf_counter()
        if status >= 300:
            res.errors[kind, status] += 1
            res.samples.setdefault((kind, status), str(data)[:200])
            raise Failed(kind)
        res.ms[kind].append((t1 - t0) * 1000)
        if kind in KINDS:
            res.ends.append(t1)
        else:
            res.reads += 1
        return data

    async def review(self, res: Results, http, iid: int, token: str, kind: str) -> dict:
        """The reviewer opens the instance (a read, not a step) and approves its open item."""
        inst = await self.call(res, "read: instance", http, "GET", f"/instances/{iid}", token)
        wid = next(w["id"] for w in inst["work_items"] if w["state"] == "open")
        return await self.call(res, kind, http, "POST", f"/work-items/{wid}/complete", token, {"decision": "approve"})

    async def filing_flow(self, res: Results, g: Grad) -> None:
        http = self.session()
        out = await self.call(res, "submit", http, "POST", f"/processes/{filing.PROCESS_ID}/instances", g.token,
                              API_BODY)
        res.instances.append((g.token, out["id"]))
        await self.review(res, http, out["id"], g.dept, FILING_KINDS[1])
        await self.review(res, http, out["id"], g.school, FILING_KINDS[2])

    async def signing_flow(self, res: Results, g: Grad, employer: str) -> None:
        http = self.session()
        out = await self.call(res, "invite", http, "POST", "/invitations", employer,
                              {**INVITE, "name": g.name, "id_number": g.id_number})
        res.instances.append((g.token, out["id"]))
        await self.call(res, "answer", http, "POST", f"/instances/{out['id']}/answer", g.token, {"answer": "accept"})
        await self.review(res, http, out["id"], g.dept, SIGNING_KINDS[2])
        await self.review(res, http, out["id"], g.school, SIGNING_KINDS[3])


class Flows:
    """The mix, as an endless supply of flows: filings and signings alternate by `signing_share`, each graduate once."""

    def __init__(self, world: World, signing_share: float = 0.5, seed_: int = 7):
        self.filing, self.signing = iter(world.filing), iter(world.signing)
        self.employers = itertools.cycle(world.employers)
        self.rng, self.share = random.Random(seed_), signing_share

    @property
    def steps_per_flow(self) -> float:
        return self.share * len(SIGNING_KINDS) + (1 - self.share) * len(FILING_KINDS)

    def next(self, client: Client, res: Results):
        """(steps, coroutine) of the next flow; StopIteration when the graduates run out."""
        if self.rng.random() < self.share:
            return len(SIGNING_KINDS), client.signing_flow(res, next(self.signing), next(self.employers))
        return len(FILING_KINDS), client.filing_flow(res, next(self.filing))


async def run_flow(res: Results, coro) -> None:
    res.flows["started"] += 1
    try:
        await coro
        res.flows["done"] += 1
    except Failed:
        res.flows["failed"] += 1


async def closed_loop(client: Client, flows: Flows, concurrency: int, steps: int) -> tuple[Results, float]:
    """`concurrency` users, each running one flow after another until `steps` steps were started."""
    res, budget = Results(), [steps]

    async def user() -> None:
        while budget[0] > 0:
            try:
                n, coro = flows.next(client, res)
            except StopIteration:
                return
            budget[0] -= n
            await run_flow(res, coro)

    t0 = perf_counter()
    await asyncio.gather(*(user() for _ in range(concurrency)))
    return res, perf_counter() - t0


async def open_loop(client: Client, flows: Flows, rate: float, seconds: float, max_inflight: int = 256,
                    on_tick: Callable[[float], None] | None = None,
                    res: Results | None = None) -> tuple[Results, float, int]:
    """Flows arrive on a fixed schedule so that `rate` steps/s are offered whatever the answers take; steps of a
    flow follow each other at once. Returns (results, offered seconds, flows shed because max_inflight was hit)."""
    res, tasks, shed = res or Results(), set(), 0
    interval = flows.steps_per_flow / rate
    t0 = perf_counter()
    next_tick = 60.0
    for k in itertools.count():
        due = t0 + k * interval
        if due - t0 >= seconds:
            break
        delay = due - perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if on_tick and perf_counter() - t0 >= next_tick:
            on_tick(perf_counter() - t0)
            next_tick += 60.0
        if len(tasks) >= max_inflight:
            shed += 1
            continue
        try:
            _, coro = flows.next(client, res)
        except StopIteration:
            break
        task = asyncio.ensure_future(run_flow(res, coro))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    offered = perf_counter() - t0
    if tasks:
        await asyncio.gather(*tasks)
    return res, offered, shed


# -- measuring -------------------------------------------------------------------------------------
def outbox_backlog(url: str) -> dict[str, int]:
    from sqlalchemy import create_engine

    eng = create_engine(url)
    try:
        with eng.connect() as conn:
            rows = conn.execute(select(OutboxMessage.kind, func.count()).where(
                OutboxMessage.delivered_at.is_(None), OutboxMessage.failed_at.is_(None))
                .group_by(OutboxMessage.kind)).all()
        return {k: n for k, n in rows}
    finally:
        eng.dispose()


def outbox_table(url: str) -> str:
    """The outbox table as PostgreSQL sees it (live and dead rows, size on disk) and the approved e-agreements
    without a rendered document yet (issue 11: keep the table small; renders queued on `documents`)."""
    from sqlalchemy import create_engine, text

    eng = create_engine(url)
    try:
        with eng.connect() as conn:
            live, dead, size = conn.execute(text(
                "SELECT n_live_tup, n_dead_tup, pg_total_relation_size('outbox_message') FROM pg_stat_user_tables "
                "WHERE relname = 'outbox_message'")).one()
            unrendered = conn.execute(text(
                "SELECT count(*) FROM agreement a WHERE a.status IN ('agreement_approved', 'signed') AND a.kind = 'online' "
                "AND NOT EXISTS "
                "(SELECT 1 FROM agreement_document d WHERE d.agreement_id = a.id)")).scalar()
        return (f"outbox_message: {live:,} live / {dead:,} dead rows, {size / 2**20:.1f} MiB with indexes; "
                f"approved online agreements not rendered yet: {unrendered}")
    finally:
        eng.dispose()


def backlog_text(backlog: dict[str, int]) -> str:
    return f"{sum(backlog.values())} ({', '.join(f'{k} {n}' for k, n in sorted(backlog.items())) or '-'})"


@dataclass
class Window:
    label: str
    res: Results
    wall: float  # seconds from the first request to the last answer
    cpu: dict[str, float]
    machine_busy: float
    backlog: dict[str, int]
    offered: float | None = None  # open loop: the offered rate
    shed: int = 0

    @property
    def rate(self) -> float:
        return self.res.steps / self.wall if self.wall else 0.0

    def all_ms(self) -> list[float]:
        return [m for k in KINDS for m in self.res.ms.get(k, [])]


def measure(stack: Stack, label: str, coro_factory) -> Window:
    with CpuSampler(stack.groups) as cpu:
        out = asyncio.run(coro_factory())
    res, wall = out[0], out[1]
    w = Window(label, res, wall, cpu.seconds(), cpu.machine_busy(), outbox_backlog(stack.url))
    if len(out) == 3:
        w.shed = out[2]
    return w


PARTS = ("web", "worker", "beat", "postgres", "sync receiver", "client")


def print_windows(title: str, windows: list[Window]) -> None:
    rows = []
    for w in windows:
        ms, n = w.all_ms(), w.res.steps
        errors = sum(w.res.errors.values())
        per = [f"{w.cpu.get(p, 0.0) * 1000 / n:.1f}" if n else "-" for p in PARTS]
        rows.append((w.label, n, f"{w.rate:.1f}", f"{pct(ms, .5):.0f}", f"{pct(ms, .95):.0f}", f"{pct(ms, .99):.0f}",
                     errors, w.res.reads, *per, f"{w.machine_busy * 1000 / n:.1f}" if n else "-",
                     sum(w.backlog.values())))
    table(f"{title}  ({load_avg()})\n  CPU ms per completed step by part (web = gunicorn tree, worker = Celery "
          "worker tree, postgres = backends of the bench database); machine = every process on the machine",
          ("run", "steps", "steps/s", "p50 ms", "p95 ms", "p99 ms", "errors", "reads", *(f"{p} ms" for p in PARTS),
           "machine ms", "outbox left"), rows, left=1)


def print_kinds(title: str, w: Window) -> None:
    rows = []
    for kind in (*KINDS, "read: instance"):
        ms = w.res.ms.get(kind, [])
        errs = sum(n for (k, _), n in w.res.errors.items() if k == kind)
        if ms or errs:
            rows.append((kind, len(ms), f"{pct(ms, .5):.1f}", f"{pct(ms, .95):.1f}", f"{pct(ms, .99):.1f}",
                         f"{max(ms):.0f}" if ms else "-", errs))
    table(f"{title}  ({load_avg()})", ("step kind", "n", "p50 ms", "p95 ms", "p99 ms", "max ms", "errors"), rows,
          left=1)
    if w.res.errors:
        for (kind, status), n in sorted(w.res.errors.items()):
            print(f"  error {kind} HTTP {status} x{n}: {w.res.samples.get((kind, status), '')}")


# -- the bare engine: the same steps as domain calls in this process -------------------------------
def timed_tx(rt, fn) -> tuple[float, object]:
    """One request-like transaction around a domain call: begin, act, commit (as webapp.session.run_step)."""
    t0 = perf_counter()
    with rt.Session() as s:
        out = fn(s)
        s.commit()
    return (perf_counter() - t0) * 1000, out


def engine_steps(url: str, users: list[str], var_dir: Path) -> dict[str, list[float]]:
    """Half the users file a destination, half answer an invitation of `emp0`; reviewed by `dept` and `school`
    (school 0, department 0). Actor building and work-item look-ups stay outside the timing."""
    rt = runtime_for(url, var_dir)
    out: dict[str, list[float]] = defaultdict(list)
    try:
        with rt.Session() as s:
            actor = {u: actor_for(s, s.scalar(select(Account).where(Account.username == u)))
                     for u in [*users, "dept", "school", "emp0"]}

        def approve(iid: int, kinds: tuple[str, str]) -> None:
            for reviewer, role, kind in (("dept", "Department", kinds[0]), ("school", "School", kinds[1])):
                with rt.Session() as s:
                    wid = s.scalar(select(WorkItem.id).where(WorkItem.instance_id == iid, WorkItem.state == "open",
                                                             WorkItem.role == role))
                ms, _ = timed_tx(rt, lambda s, w=wid, r=reviewer: reviews.review(s, rt.runner, actor[r], w,
                                                                                  "approve", ""))
                out[kind].append(ms)

        for i, user in enumerate(users):
            grad = actor[user]
            if i % 2 == 0:
                ms, inst = timed_tx(rt, lambda s, a=grad: filing.start_filing(s, rt.runner, a,
                                                                              s.get(Graduate, a.graduate_id), CLEAN))
                out["submit"].append(ms)
                approve(inst.id, FILING_KINDS[1:])
            else:
                ms, inst = timed_tx(rt, lambda s, a=grad: signing.invite(s, rt.runner, actor["emp0"], a.graduate_id,
                                                                         TERMS, 7))
                out["invite"].append(ms)
                ms, _ = timed_tx(rt, lambda s, a=grad, i_=inst.id: signing.answer_invitation(s, rt.runner, a, i_,
                                                                                             "accept"))
                out["answer"].append(ms)
                approve(inst.id, SIGNING_KINDS[2:])
        return out
    finally:
        rt.db.dispose()


def print_ratio(unloaded: Window, engine: dict[str, list[float]], warm: int) -> None:
    rows = []
    for kind in KINDS:
        api, eng = unloaded.res.ms.get(kind, []), engine.get(kind, [])[warm:]
        if api and eng:
            a, e = statistics.median(api), statistics.median(eng)
            rows.append((kind, len(api), f"{a:.2f}", len(eng), f"{e:.2f}", f"{a / e:.2f}x"))
    all_api = unloaded.all_ms()
    all_eng = [m for k in KINDS for m in engine.get(k, [])[warm:]]
    if all_api and all_eng:
        a, e = statistics.median(all_api), statistics.median(all_eng)
        rows.append(("all steps", len(all_api), f"{a:.2f}", len(all_eng), f"{e:.2f}", f"{a / e:.2f}x"))
    table(f"One unloaded step (one client, one flow at a time) against the bare engine: the same domain call in "
          f"one transaction in this process, first {warm} of each kind not counted  ({load_avg()})",
          ("step kind", "API n", "API median ms", "engine n", "engine median ms", "API/engine"), rows, left=1)


# -- footprint ------------------------------------------------------------------------------------
async def read_mix(client: Client, world: World, instances: list[tuple[str, int]], total: int, concurrency: int,
                   every: int, on_mark: Callable[[int], None]) -> tuple[Results, float]:
    """`total` cheap reads: 6 of 10 GET /me, 3 GET /instances/<own>, 1 reviewer inbox page (with counts)."""
    res = Results()
    counter = itertools.count()
    tokens = [g.token for g in world.filing + world.signing]

    async def user() -> None:
        http = client.session()
        while (n := next(counter)) < total:
            pick = n % 10
            try:
                if pick < 6:
                    await client.call(res, "read: me", http, "GET", "/me", tokens[n % len(tokens)])
                elif pick < 9 and instances:
                    tok, iid = instances[n % len(instances)]
                    await client.call(res, "read: instance", http, "GET", f"/instances/{iid}", tok)
                else:
                    await client.call(res, "read: inbox", http, "GET", "/work-items", world.readers[n % len(world.readers)])
            except Failed:
                pass
            if n and n % every == 0:
                on_mark(n)

    t0 = perf_counter()
    await asyncio.gather(*(user() for _ in range(concurrency)))
    return res, perf_counter() - t0


def footprint(stack: Stack, world: World, instances: list[tuple[str, int]], total: int, concurrency: int = 8) -> None:
    every = max(1, total // 20)
    series: list[tuple[int, dict[int, int]]] = []

    def rss() -> dict[int, int]:
        assert stack.web is not None
        out = {}
        for pid in stack.web.worker_pids():
            try:
                out[pid] = psutil.Process(pid).memory_info().rss
            except psutil.Error:
                pass
        return out

    series.append((0, rss()))

    async def go():
        async with Client(stack.base) as client:
            return await read_mix(client, world, instances, total, concurrency, every,
                                  lambda n: series.append((n, rss())))

    with CpuSampler(stack.groups, interval=2.0) as cpu:
        res, wall = asyncio.run(go())
    series.append((total, rss()))
    pids = sorted({pid for _, r in series for pid in r})
    rows = [(n, *(f"{r[p] / 2**20:.1f}" if p in r else "-" for p in pids)) for n, r in series
            if n in (0, total) or n % (every * 2) == 0]
    errs = sum(res.errors.values())
    table(f"Footprint: RSS (MiB) of each gunicorn worker over {total:,} reads ({res.reads / wall:.0f} reads/s, "
          f"{errs} errors, concurrency {concurrency})  ({load_avg()})",
          ("requests", *(f"worker {p}" for p in pids)), rows, left=0)
    warm = [r for n, r in series if n >= total // 10]
    summary = []
    for p in pids:
        vals = [r[p] / 2**20 for r in warm if p in r]
        if vals:
            summary.append((f"worker {p}", f"{vals[0]:.1f}", f"{vals[-1]:.1f}", f"{max(vals):.1f}",
                            f"{vals[-1] - vals[0]:+.1f}",
                            f"{(vals[-1] - vals[0]) * 1024 / max(1, (total - total // 10) / 1000):.1f}"))
    table("Footprint summary after warm-up (the first 10 % of requests): MiB at warm-up end, at the end, max, growth, "
          "KiB per 1,000 requests", ("process", "warm MiB", "end MiB", "max MiB", "growth MiB", "KiB/1k req"),
          summary, left=1)
    spent = cpu.seconds()
    print("  CPU ms per read: " + ", ".join(f"{p} {spent.get(p, 0.0) * 1000 / max(1, res.reads):.2f}"
                                           for p in ("web", "postgres", "worker", "client"))
          + f", machine {cpu.machine_busy() * 1000 / max(1, res.reads):.2f}")
    for kind in ("read: me", "read: instance", "read: inbox"):
        ms = res.ms.get(kind, [])
        if ms:
            print(f"  {kind}: n {len(ms)}, p50 {pct(ms, .5):.1f} ms, p95 {pct(ms, .95):.1f} ms")


# -- main -----------------------------------------------------------------------------------------
def plan_graduates(args) -> int:
    """Flows needed by every run of this invocation, with room for rounding."""
    per_flow = 3.5
    total_steps = args.unloaded + args.warmup + args.steps * len(args.sweep)
    total_steps += sum(r * args.rate_seconds for r in (args.rate_list or [0])) * 1.1
    if args.rates == "auto":
        total_steps += 4 * 150 * args.rate_seconds  # unknown until measured: a generous bound
    return int(total_steps / per_flow) + 200


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1000, help="steps per closed-loop concurrency level")
    ap.add_argument("--sweep", default="1,4,8,16,32", help="closed-loop concurrency levels")
    ap.add_argument("--rates", default="auto", help="open-loop offered steps/s, e.g. 20,40,250; auto = a third, "
                                                    "0.6 and 0.8 of the saturation rate, and 250; none to skip")
    ap.add_argument("--rate-seconds", type=float, default=30, help="seconds each open-loop rate is offered")
    ap.add_argument("--unloaded", type=int, default=140, help="steps of the unloaded (one client) run")
    ap.add_argument("--warmup", type=int, default=70, help="steps run first and not recorded")
    ap.add_argument("--engine", type=int, default=60, help="flows of the bare-engine run (half filings)")
    ap.add_argument("--footprint", type=int, default=100_000, help="reads of the RSS run (0 skips it)")
    ap.add_argument("--web-workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=4, help="gthread threads per gunicorn worker")
    ap.add_argument("--worker-concurrency", type=int, default=2, help="Celery worker processes")
    ap.add_argument("--poll", type=int, default=15, help="GRADFLOW_TIMER_POLL_SECONDS (beat period)")
    ap.add_argument("--schools", type=int, default=4)
    ap.add_argument("--depts", type=int, default=3)
    ap.add_argument("--employers", type=int, default=60)
    ap.add_argument("--signing-share", type=float, default=0.5, help="share of flows that are online signings")
    ap.add_argument("--no-sync", action="store_true", help="no PRV-3 receiver (sync rows then wait in the outbox)")
    ap.add_argument("--render-on-download", action="store_true",
                    help="GRADFLOW_RENDER_ON_DOWNLOAD=1: e-agreements are rendered on first download, not at signing")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the temp directory (process logs) and print it")
    args = ap.parse_args(argv)
    args.sweep = [int(x) for x in args.sweep.split(",") if x.strip()]
    args.rate_list = [] if args.rates in ("auto", "none") else [float(x) for x in args.rates.split(",")]
    logging.basicConfig(level=logging.WARNING)
    t_start = perf_counter()
    print(f"{machine()}; {load_avg()}")
    print(f"stack: gunicorn {args.web_workers} workers x {args.threads} threads (gthread), Celery worker "
          f"concurrency {args.worker_concurrency} + beat every {args.poll} s, private redis-server, sync receiver "
          f"{'off' if args.no_sync else 'on'}, PostgreSQL {PG_ADMIN.split('@')[-1].rsplit('/', 1)[0]}/{PG_DB}"
          f"{', e-agreements rendered on first download' if args.render_on_download else ''}")
    out: dict = {}
    with scratch_dir(args.keep) as tmp:
        stack = Stack(Path(tmp), web_workers=args.web_workers, threads=args.threads,
                      worker_concurrency=args.worker_concurrency, poll_seconds=args.poll, sync=not args.no_sync,
                      extra_env={"GRADFLOW_RENDER_ON_DOWNLOAD": "1"} if args.render_on_download else None)
        try:
            t0 = perf_counter()
            stack.prepare()
            n_grads = plan_graduates(args)
            world = populate(stack.url, schools=args.schools, depts=args.depts, filings=n_grads, signings=n_grads,
                             employers=args.employers, engine=args.engine)
            stack.start()
            print(f"setup {perf_counter() - t0:.1f} s: {2 * n_grads:,} graduates with tokens, {args.employers} "
                  f"employers, {args.schools} schools x {args.depts} departments")
            out = run_all(stack, world, args)
        finally:
            stack.stop()
    print(f"\nwall time {perf_counter() - t_start:.1f} s  ({load_avg()})")
    return out


@contextlib.contextmanager
def scratch_dir(keep: bool) -> Iterator[str]:
    if keep:
        path = tempfile.mkdtemp(prefix="gradflow_load_")
        print(f"logs kept in {path}")
        yield path
    else:
        with tempfile.TemporaryDirectory(prefix="gradflow_load_") as tmp:
            yield tmp


def run_open(stack: Stack, flows: Flows, rates: list[float], seconds: float, quiet: bool) -> list[Window]:
    """One open-loop window per offered rate, then their tables."""
    def opened(rate: float):
        async def go():
            async with Client(stack.base) as client:
                return await open_loop(client, flows, rate, seconds)
        return go

    windows = []
    for rate in rates:
        w = measure(stack, f"open, {rate:g} steps/s offered", opened(rate))
        w.offered = rate
        windows.append(w)
        if not quiet:
            print(f"  {w.label}: {w.rate:.1f} steps/s done, p95 {pct(w.all_ms(), .95):.0f} ms, shed {w.shed} "
                  f"({load_avg()})", flush=True)
    if windows:
        print_windows("Open loop: flows arrive on a fixed schedule (offered rate); steps/s = done / wall", windows)
        rows = [(f"{w.offered:g}", f"{w.rate:.1f}", f"{pct(w.all_ms(), .5):.0f}", f"{pct(w.all_ms(), .95):.0f}",
                 f"{pct(w.all_ms(), .99):.0f}", w.shed, "yes" if w.rate >= 0.95 * (w.offered or 0) and not w.shed
                 else "no") for w in windows]
        table(f"Open loop summary ({load_avg()})", ("offered/s", "done/s", "p50 ms", "p95 ms", "p99 ms", "shed",
                                                    "sustained"), rows, left=0)
    return windows


def run_all(stack: Stack, world: World, args) -> dict:
    flows = Flows(world, args.signing_share)

    def closed(conc: int, steps: int):
        async def go():
            async with Client(stack.base) as client:
                return await closed_loop(client, flows, conc, steps)
        return go

    instances: list[tuple[str, int]] = []
    if args.warmup:
        instances += measure(stack, "warm-up", closed(4, args.warmup)).res.instances
    unloaded = measure(stack, "unloaded (1 client)", closed(1, args.unloaded)) if args.unloaded else None
    sweep = [unloaded] if unloaded else []
    if unloaded:
        instances += unloaded.res.instances
        print_kinds("Unloaded: one client, one flow at a time", unloaded)
    for conc in args.sweep:
        w = measure(stack, f"closed, {conc} users", closed(conc, args.steps))
        instances += w.res.instances
        sweep.append(w)
        if not args.quiet:
            print(f"  {w.label}: {w.rate:.1f} steps/s, p95 {pct(w.all_ms(), .95):.0f} ms ({load_avg()})", flush=True)
    peak = max(sweep, key=lambda w: w.rate) if sweep else None
    if peak:
        print_windows("Closed loop (saturation sweep): N users each run flows back to back", sweep)
        print_kinds(f"Per step kind at the peak ({peak.label})", peak)
    rates = args.rate_list
    if args.rates == "auto" and peak:
        rates = sorted({round(peak.rate / 3), round(peak.rate * 0.6), round(peak.rate * 0.8), 250})
    opened_windows = run_open(stack, flows, rates, args.rate_seconds, args.quiet)
    for w in opened_windows:
        instances += w.res.instances
    wait = 2 * args.poll + 5 if sweep or opened_windows else 0
    time.sleep(wait)
    print(f"\noutbox undelivered {wait} s after the last step: {backlog_text(outbox_backlog(stack.url))}")
    print(outbox_table(stack.url))
    engine = engine_steps(stack.url, world.engine_users, stack.tmp / "engine-var") if world.engine_users else {}
    if engine and unloaded:
        print_ratio(unloaded, engine, warm=3)
    if args.footprint:
        footprint(stack, world, instances, args.footprint)
    return {"unloaded": unloaded, "sweep": sweep, "open": opened_windows, "engine": engine,
            "peak": peak.rate if peak else None}


if __name__ == "__main__":
    main()
